"""Greedy layer-wise pretraining of denoising autoencoders: pure epochs as ``lax.scan``.

Layer k is a dA trained to reconstruct the *clean* codes of layers 1..k-1 (computed once per
layer, not once per epoch) from a corrupted copy of them. One epoch is one compiled program: a
``lax.scan`` over minibatches with the data already on the device, so even minibatch 1 (the
paper's pure SGD) is not dominated by Python dispatch.

Hyperparameters a sweep varies are traced arguments: the corruption ``level``, the loss's
``emphasis`` (``Emphasis``: alpha and beta, ``sdae.emphasis``), the integer ``seed`` and the
learning rate (held in the optimizer state by ``optax.inject_hyperparams``), so ``jax.vmap`` over
them trains many models in one XLA program and one compilation serves them all.

Randomness is derived, never stored: the key of epoch e of layer k of the model with seed s is
``fold_in(fold_in(fold_in(key(s), PRETRAIN), k), e)``; it is split once into a shuffling key and
a noise key, and minibatch i draws its corruption from ``fold_in(noise_key, i)``. A resumed run
therefore equals an uninterrupted one bit for bit.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, ClassVar, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import optax

from sdae import config as config_lib
from sdae import corruption as corruption_lib
from sdae import emphasis as emphasis_lib
from sdae import epoch as epoch_lib
from sdae import sharding
from sdae import model as model_lib
from sdae import objectives as objectives_lib
from sdae import tied as tied_lib

Array = jax.Array

# Stream identifiers for key derivation (fold_in constants).
INIT, PRETRAIN, FINETUNE, EVAL = 0, 1, 2, 3


class Emphasis(NamedTuple):
  """The traced weights of the emphasised denoising loss (``sdae.emphasis``): ``alpha`` on the
  components the corruption touched, ``beta`` on the others. float32 scalars for one model,
  ``[M]`` each over a sweep's members. A pytree, so it is vmapped, sharded and jitted like the
  level. Only objectives that declare it are given it (``traced_args``)."""

  alpha: Array
  beta: Array


def emphasis_of(name: str) -> Emphasis:
  """The ``Emphasis`` of a named emphasis (none, double, full) as float32 scalars."""
  alpha, beta = emphasis_lib.weights(name)
  return Emphasis(jnp.float32(alpha), jnp.float32(beta))


def derive_key(seed: Array, *path: int | Array) -> Array:
  """``fold_in(...fold_in(key(seed), path[0])..., path[-1])``; ``seed`` may be traced."""
  key = jax.random.key(seed)
  for p in path:
    key = jax.random.fold_in(key, p)
  return key


class LayerObjective(Protocol):
  """What the greedy driver and the pictures need of a layer's pretraining objective.

  A frozen (hashable) dataclass that fixes the compiled program's shapes; its methods are pure
  functions of their arguments. ``LayerSpec`` (the denoising autoencoder) and
  ``sdae.rbm.RBMSpec`` (the RBM of a deep belief network) implement it. Its static properties
  (whether it takes the traced corruption ``level`` and ``emphasis``, the activations it accepts,
  the run header's words) are its entry ``sdae.objectives.OBJECTIVES[name]``: an objective is
  given ``level`` only where the entry says ``uses_corruption``, and ``emphasis`` only where it
  says ``takes_emphasis`` (``traced_args``).
  """

  name: ClassVar[str]  # its key in sdae.objectives.OBJECTIVES
  n_in: int
  n_hidden: int

  def init(self, key: Array) -> Any:
    """Fresh layer parameters (with ``kernel [n_in, n_hidden]`` and ``bias [n_hidden]``, the
    encoder the classifier takes over)."""

  def step(self, params, opt_state, tx: optax.GradientTransformation, key: Array, x: Array,
           **traced: Any) -> tuple[Any, Any, Array]:
    """One update on the minibatch ``x`` [B, n_in]: (params, opt_state, loss). ``traced``: the
    keywords its registry entry declares (``traced_args``): ``level`` (scalar) with
    ``uses_corruption``, ``emphasis`` (``Emphasis`` of scalars, or None: the unweighted loss)
    with ``takes_emphasis``."""

  def encode(self, params, x: Array) -> Array:
    """Clean codes [B, n_hidden] of ``x`` [B, n_in]: the next layer's training input."""

  def reconstruct(self, params, key: Array, x: Array, **traced: Any) -> tuple[Array, Array]:
    """(the input the layer sees, its reconstruction), both [B, n_in], for the pictures;
    ``level=`` with ``uses_corruption``."""

  def describe(self) -> str:
    """What trains the layer, in a figure's title: a dA's corruption (``"masking"``; the picture
    adds the level, ``"masking 25%"``), an RBM's ``"RBM, CD-1"``."""


def traced_args(spec: LayerObjective, level: Array, emphasis: Emphasis | None) -> dict[str, Any]:
  """The traced hyperparameters ``spec`` takes (``sdae.objectives``), as ``step``'s keywords."""
  entry = objectives_lib.get(spec.name)
  out = {}
  if entry.uses_corruption:
    out["level"] = level
  if entry.takes_emphasis:
    out["emphasis"] = emphasis
  return out


@dataclasses.dataclass(frozen=True)
class LayerSpec:
  """One denoising-autoencoder layer as a layer objective (``LayerObjective``): the static
  description that fixes the compiled program's shapes."""

  name: ClassVar[str] = "denoising"

  n_in: int
  n_hidden: int
  corruption: str = "masking"
  tied: bool = True
  activation: str = "sigmoid"
  loss: str = "cross_entropy"
  decoder: str = "sigmoid"
  compute_dtype: Any = None
  # The corruption's static options as (name, value) pairs, e.g. (("low", -1.0), ("high", 1.0))
  # for salt-and-pepper on real-valued inputs (its default min/max are MNIST's 0 and 1).
  corruption_args: tuple[tuple[str, Any], ...] = ()
  init_scheme: str = "glorot"  # initial weights (sdae.model.uniform_init)

  def corrupt(self, key: Array, x: Array, level: Array) -> Array:
    """``x`` [B, n_in] corrupted by the spec's corruption at ``level`` (may be traced)."""
    return corruption_lib.get(self.corruption)(key, x, level, **dict(self.corruption_args))

  def corrupt_touched(self, key: Array, x: Array, level: Array) -> tuple[Array, Array]:
    """(``corrupt``'s x~ [B, n_in], bit for bit; bool [B, n_in]: the components it chose)."""
    return corruption_lib.get(self.corruption).touched(key, x, level,
                                                       **dict(self.corruption_args))

  def module(self) -> model_lib.DenoisingAutoencoder:
    return model_lib.DenoisingAutoencoder(
        n_in=self.n_in, n_hidden=self.n_hidden, tied=self.tied, activation=self.activation,
        decoder=self.decoder, compute_dtype=self.compute_dtype, init_scheme=self.init_scheme)

  def init(self, key: Array):
    return self.module().init(key, jnp.zeros((1, self.n_in), jnp.float32))["params"]

  def step(self, params, opt_state, tx: optax.GradientTransformation, key: Array, x: Array,
           level: Array, emphasis: Emphasis | None = None):
    return da_step(params, opt_state, self, tx, key, x, level, emphasis)

  def encode(self, params, x: Array) -> Array:
    return self.module().apply({"params": params}, x, method="encode")

  def reconstruct(self, params, key: Array, x: Array, level: Array) -> tuple[Array, Array]:
    """(the corrupted ``x``, its reconstruction): what the dA learns to undo."""
    x_tilde = self.corrupt(key, x, level)
    return x_tilde, self.module().apply({"params": params}, x_tilde, method="reconstruct")

  def describe(self) -> str:
    """The corruption's name (the pictures add its level)."""
    return self.corruption


def layer_specs(n_in: int, hidden: tuple[int, ...], corruption: str = "masking", tied: bool = True,
                activation: str = "sigmoid", loss: str = "auto",
                compute_dtype: Any = None, init: str = "glorot") -> list[LayerSpec]:
  """Specs for a stack ``n_in -> hidden[0] -> ... -> hidden[-1]``.

  ``loss='auto'`` picks cross-entropy with a sigmoid decoder for inputs in [0, 1] (pixels, sigmoid
  codes) and squared error with an affine decoder otherwise.
  """
  specs, prev_act, width = [], None, n_in
  for h in hidden:
    if loss == "auto":
      lo, dec = model_lib.default_loss(prev_act)
    else:
      lo, dec = loss, ("sigmoid" if loss == "cross_entropy" else "linear")
    specs.append(LayerSpec(width, h, corruption, tied, activation, lo, dec, compute_dtype,
                           init_scheme=init))
    prev_act, width = activation, h
  return specs


def denoising_layers(n_in: int, hidden: tuple[int, ...], config: Any,
                     compute_dtype: Any = None) -> list[LayerSpec]:
  """A dA per layer (``layer_specs``) from a ``TrainConfig``; level 0 makes it a plain
  autoencoder. The ``layers`` of ``sdae.objectives.OBJECTIVES["denoising"]``."""
  return list(layer_specs(n_in, hidden, config.corruption, config.tied, config.activation,
                          config.loss, compute_dtype, config.init))


def objectives_of(config: Any, n_in: int, compute_dtype: Any = None) -> list[LayerObjective]:
  """The greedy driver's layer objectives for ``config`` (a ``TrainConfig``: its
  ``pretraining``, and the fields that objective reads) on inputs of width ``n_in``: one per
  pretrained layer, none for ``pretraining="none"``. ``ValueError`` for an unknown name."""
  build = objectives_lib.get(config.pretraining).builder()
  return [] if build is None else list(build(n_in, tuple(config.hidden), config, compute_dtype))


def layer_objectives(pretraining: str, n_in: int, hidden: tuple[int, ...], *,
                     compute_dtype: Any = None, **settings: Any) -> list[LayerObjective]:
  """The greedy driver's layer objectives for a stack ``n_in -> hidden[0] -> ... -> hidden[-1]``.

  ``settings``: ``TrainConfig`` fields (``corruption``, ``tied``, ``activation``, ``loss``,
  ``cd_steps``, ...), the config's defaults elsewhere. ``denoising``: a dA per layer
  (``layer_specs``); ``rbm``: a Bernoulli RBM per layer trained by CD-``cd_steps`` (a deep belief
  network); ``none``: no layer is pretrained (``sdae.objectives`` lists them).
  """
  objectives_lib.get(pretraining)  # an unknown name: ValueError naming the accepted ones
  config = config_lib.TrainConfig(pretraining=pretraining, hidden=tuple(hidden), **settings)
  return objectives_of(config, n_in, compute_dtype)


def make_optimizer(name: str = "sgd", momentum: float = 0.9,
                   weight_decay: bool = False) -> optax.GradientTransformation:
  """An optax optimizer whose learning rate lives in its state (traced, sweepable).

  ``sgd`` is plain SGD, as in the paper; ``momentum`` and ``adam`` are offered for convenience.
  With ``weight_decay``, L2 weight decay of the weight matrices (``kernel``, ``kernel_decoder``;
  never the biases) is added to the gradient before the optimizer sees it: ``g + lambda W``, the
  gradient of ``loss + lambda / 2 * sum(W^2)``. ``lambda`` lives in the state beside the learning
  rate (``init_opt_state(..., weight_decay=lambda)``), so it is traced too and models that differ
  only in their decay share one compiled program. At ``lambda = 0`` the update equals the
  undecayed optimizer's to the last bit (``g + 0 * W == g``).
  The same arguments give the same object: the compiled epochs are cached on it
  (``compiled_pretrain_epoch``), so a fresh optimizer per run would compile every run again.
  """
  return _optimizer(name, float(momentum) if name == "momentum" else None, bool(weight_decay))


def _weight_matrices(params):
  """The decayed leaves: a dA's ``kernel`` and ``kernel_decoder`` (biases are not decayed)."""
  return jax.tree_util.tree_map_with_path(
      lambda path, _: getattr(path[-1], "key", None) in ("kernel", "kernel_decoder"), params)


def _base(name: str, learning_rate, momentum: float | None) -> optax.GradientTransformation:
  if name == "sgd":
    return optax.sgd(learning_rate)
  if name == "momentum":
    return optax.sgd(learning_rate, momentum=momentum)
  if name == "adam":
    return optax.adam(learning_rate)
  raise ValueError(f"unknown optimizer {name!r}; accepted: sgd, momentum, adam")


@functools.cache
def _optimizer(name: str, momentum: float | None,
               weight_decay: bool = False) -> optax.GradientTransformation:
  _base(name, 0.0, momentum)  # checks the name
  if not weight_decay:
    if name == "sgd":
      return optax.inject_hyperparams(optax.sgd)(learning_rate=0.0)
    if name == "momentum":
      return optax.inject_hyperparams(optax.sgd)(learning_rate=0.0, momentum=momentum)
    return optax.inject_hyperparams(optax.adam)(learning_rate=0.0)

  def decayed(learning_rate, weight_decay):
    return optax.chain(optax.add_decayed_weights(weight_decay, mask=_weight_matrices),
                       _base(name, learning_rate, momentum))

  return optax.inject_hyperparams(decayed)(learning_rate=0.0, weight_decay=0.0)


def init_opt_state(tx: optax.GradientTransformation, params, learning_rate, weight_decay=None):
  """Optimizer state with the (possibly traced) learning rate written into it, and the L2
  weight decay for an optimizer made with ``weight_decay=True`` (``make_optimizer``)."""
  state = tx.init(params)
  state.hyperparams["learning_rate"] = jnp.asarray(learning_rate, jnp.float32)
  if weight_decay is not None:
    if "weight_decay" not in state.hyperparams:
      raise ValueError("weight_decay given to an optimizer without it; make it with "
                       "make_optimizer(..., weight_decay=True)")
    state.hyperparams["weight_decay"] = jnp.asarray(weight_decay, jnp.float32)
  return state


def init_layer(spec: LayerObjective, seed: Array, layer: int | Array):
  """Fresh parameters of layer ``layer`` for the model with integer ``seed``."""
  return spec.init(derive_key(seed, INIT, layer))


def da_logits(params, spec: LayerSpec, x_tilde: Array) -> Array:
  """Decoder logits of the dA ``spec``: the module's ``__call__`` (untied), or for tied weights
  ``sdae.tied.tied_logits`` (the same function with its weight gradient as one product)."""
  if not spec.tied:
    return spec.module().apply({"params": params}, x_tilde)
  return tied_lib.tied_logits(params["kernel"], params["bias"], params["bias_visible"], x_tilde,
                              spec.activation, spec.compute_dtype)


def emphasis_weights(touched: Array, emphasis: Emphasis, dtype) -> Array:
  """Per-component weights ``alpha * touched + beta * (1 - touched)``, of ``touched``'s shape,
  written as a select: the same values (exact, as touched is 0 or 1) with no arithmetic."""
  alpha, beta = emphasis
  return jnp.where(touched, jnp.asarray(alpha, dtype), jnp.asarray(beta, dtype))


def da_loss(params, spec: LayerSpec, key: Array, x: Array, level: Array,
            emphasis: Emphasis | None = None) -> Array:
  """Reconstruction loss (scalar) of the clean ``x`` [batch, n_in] from its corrupted copy.

  ``emphasis`` (``Emphasis`` of scalars, may be traced): each component's loss weighted by
  alpha where the corruption touched it, beta elsewhere (``sdae.emphasis``); None is the
  unweighted loss, and alpha = beta = 1 equals it bit for bit in value, and in gradient for
  cross-entropy (squared error: to float32 rounding; ``sdae.model.reconstruction_loss``). The weights
  act on the loss of the logits, so the tied dA's hand-written backward pass (``sdae.tied``)
  receives the weighted cotangent and needs no change.
  """
  if emphasis is None:
    x_tilde, weights = spec.corrupt(key, x, level), None
  else:
    x_tilde, touched = spec.corrupt_touched(key, x, level)
    weights = emphasis_weights(touched, emphasis, x.dtype)
  logits = da_logits(params, spec, x_tilde)
  return model_lib.reconstruction_loss(logits, x, spec.loss, spec.decoder, weights)


def da_step(params, opt_state, spec: LayerSpec, tx: optax.GradientTransformation, key: Array,
            x: Array, level: Array, emphasis: Emphasis | None = None):
  """One SGD step on a minibatch ``x`` [batch, n_in]; returns (params, opt_state, loss).
  ``emphasis``: as ``da_loss``."""
  loss, grads = jax.value_and_grad(da_loss)(params, spec, key, x, level, emphasis)
  updates, opt_state = tx.update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state, loss


def pretrain_epoch(params, opt_state, x: Array, seed: Array, layer: Array, epoch: Array,
                   level: Array, emphasis: Emphasis | None = None, *, spec: LayerObjective,
                   tx: optax.GradientTransformation, batch_size: int, batch_sharding: Any = None):
  """One epoch of layer training (``spec.step`` per minibatch) over ``x`` [n, n_in] (on device);
  returns (params, opt_state, per-minibatch losses [n // batch_size]).

  ``level`` (scalar) and ``emphasis`` (``Emphasis`` of scalars; None: the unweighted loss) are
  traced: models that differ in them share the compiled epoch. The objective is given those its
  registry entry declares (``traced_args``).

  An ``sdae.epoch.run`` with the epoch's shuffling and noise keys; ``batch_sharding`` as there
  (each minibatch split over a mesh's devices: data parallelism).
  """
  shuffle_key, noise_key = jax.random.split(derive_key(seed, PRETRAIN, layer, epoch))
  traced = traced_args(spec, level, emphasis)  # what the objective takes of level and emphasis

  def step(carry, xb, key):
    p, s, loss = spec.step(*carry, tx, key, xb, **traced)
    return (p, s), loss

  (params, opt_state), losses = epoch_lib.run(
      step, (params, opt_state), x, epoch_lib.shuffled_batches(shuffle_key, x.shape[0], batch_size),
      noise_key, batch_sharding=batch_sharding)
  return params, opt_state, losses


@sharding.cache_by_loop
def compiled_pretrain_epoch(spec: LayerObjective, tx: optax.GradientTransformation, batch_size: int,
                            members: bool = False, shared_data: bool = True, *,
                            loop: str | None = None, mesh: Any = None) -> Callable:
  """Jitted ``pretrain_epoch`` over a leading member axis when ``members``, with donation.

  With ``members``, params, opt_state, seed, level and emphasis (alpha [M], beta [M]; or None)
  carry a leading axis of size M; ``x`` is shared by all members (``shared_data``, the first
  layer) or has its own leading axis (codes). The compiled function takes ``(params, opt_state,
  x, seed, layer, epoch, level[, emphasis])``; emphasis left out is None (the unweighted loss).
  ``loop`` says how the members of one device run (``sdae.sharding.over_members``): ``"vmap"``
  (batched products), ``"map"`` (one member's whole epoch after another, its weights staying in
  cache; bit-identical to single-model training) or None for the backend's faster one.
  ``mesh`` (a ``jax.sharding.Mesh``): with members, the member axis is split over the mesh's
  first axis (``shard_map``; each device trains its M / n_devices members); without members, or
  for the one member of a data mesh (``sdae.sharding.is_data_mesh``), the minibatch is split over
  it (data parallelism; see ``sdae.sharding``). One member runs the single model's own program
  (``sdae.sharding.one_member``).
  """
  fn = functools.partial(pretrain_epoch, spec=spec, tx=tx, batch_size=batch_size,
                         batch_sharding=sharding.minibatch_sharding(mesh, members))
  if members:
    in_axes = (0, 0, None if shared_data else 0, 0, None, None, 0, 0)
    over = sharding.over_members(fn, in_axes, loop, mesh)

    # vmap and lax.map need every mapped argument given: an emphasis left out is passed as None
    # (no leaves, so nothing is mapped), and the program keeps its name for the compile logs.
    def fn(params, opt_state, x, seed, layer, epoch, level, emphasis=None):
      return over(params, opt_state, x, seed, layer, epoch, level, emphasis)

    fn.__name__ = fn.__qualname__ = "pretrain_epoch"
  return epoch_lib.jit_epoch(fn)


@sharding.cache_by_loop
def compiled_encode(spec: LayerObjective, members: bool = False, shared_data: bool = True,
                    chunk: int = 5000, *, loop: str | None = None, mesh: Any = None) -> Callable:
  """Jitted clean encoding ``[n, n_in] -> [n, n_hidden]`` in chunks (bounded memory).

  With ``members``, ``params`` carry a leading member axis and so do the codes (and ``x`` unless
  ``shared_data``); members run as ``sdae.sharding.over_members`` runs them (``loop``, ``mesh``),
  so on CPU each member's codes are computed exactly as for that model trained alone.
  """

  def encode(params, x):
    n = x.shape[0]
    n_full = (n // chunk) * chunk
    parts = []
    if n_full:
      xs = x[:n_full].reshape(n // chunk, chunk, x.shape[1])
      parts.append(jax.lax.map(
          lambda xb: spec.encode(params, xb), xs
      ).reshape(n_full, spec.n_hidden))
    if n > n_full:
      parts.append(spec.encode(params, x[n_full:]))
    return jnp.concatenate(parts, 0) if len(parts) > 1 else parts[0]

  if members:
    encode = sharding.over_members(encode, (0, None if shared_data else 0), loop, mesh)
  return jax.jit(encode)
