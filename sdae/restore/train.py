"""Training a denoiser: corruption pairs per mode, losses, and ``fit``, the training loop.

``make_pair_fn`` turns a mode into ``(key, x_clean, level) -> (model input, target)``: ``clean``
(corrupted input, clean target), ``noise2noise`` (corrupted input, independently corrupted
target; zero-mean additive noise only) and ``superres`` (2x average pool as the corruption, the
clean 28x28 image as the target). ``fit`` trains any model with Adam: pure jitted epochs that
shuffle on device, minibatch keys ``fold_in(fold_in(key, epoch), step)``.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from sdae import corruption as corruption_lib
from sdae import epoch as epoch_lib
from sdae import model as model_lib
from sdae.restore.config import MODES, LOSSES, SUPERRES_FACTOR, DenoiseConfig, validate
from sdae.restore.models import _activate

Array = jax.Array

def downsample(x: Array, factor: int = SUPERRES_FACTOR) -> Array:
  """Average pool by ``factor`` over the last two axes: ``[..., h, w] -> [..., h/f, w/f]``."""
  *lead, h, w = x.shape
  return x.reshape(*lead, h // factor, factor, w // factor, factor).mean(axis=(-3, -1))


def upsample_nearest(x: Array, factor: int = SUPERRES_FACTOR) -> Array:
  return jnp.repeat(jnp.repeat(x, factor, axis=-2), factor, axis=-1)


def upsample_bilinear(x: Array, factor: int = SUPERRES_FACTOR) -> Array:
  """The super-resolution baseline: bilinear interpolation (half-pixel centres)."""
  *lead, h, w = x.shape
  return jax.image.resize(x, (*lead, h * factor, w * factor), "bilinear")


PairFn = Callable[[Array, Array, Array], tuple[Array, Array]]


def make_pair_fn(mode: str, corruption: str | None) -> PairFn:
  """``(key, x_clean, level) -> (model input, target)`` for a mode; pure and jittable."""
  if mode == "superres":
    return lambda key, x, level: (downsample(x), x)
  corrupt = corruption_lib.get(corruption)
  if mode == "clean":
    return lambda key, x, level: (corrupt(key, x, level), x)
  if mode == "noise2noise":
    def pair(key, x, level):
      k_in, k_target = jax.random.split(key)
      return corrupt(k_in, x, level), corrupt(k_target, x, level)
    return pair
  raise ValueError(f"unknown mode {mode!r}; accepted: {', '.join(MODES)}")


def loss_fn(name: str, z: Array, target: Array, output: str = "sigmoid") -> Array:
  """Mean per-pixel loss of pre-activation ``z`` against ``target``.

  ``squared``: (s(z) - t)^2; ``l1``: |s(z) - t| (its minimiser is the median: the
  median-seeking Noise2Noise variant); ``cross_entropy``: sigmoid cross-entropy from logits
  (linear in the target, so its minimiser is still E[t] when targets are noisy).
  """
  if name == "cross_entropy":
    return jnp.mean(model_lib.sigmoid_cross_entropy(z, target))
  y = _activate(z, output)
  if name == "squared":
    return jnp.mean(jnp.square(y - target))
  if name == "l1":
    return jnp.mean(jnp.abs(y - target))
  raise ValueError(f"unknown loss {name!r}; accepted: {', '.join(LOSSES)}")


def _epoch_fn(model: nn.Module, pair_fn: PairFn, loss: Callable[[Array, Array], Array],
              tx: optax.GradientTransformation, n: int, batch_size: int, k_perm: Array,
              k_noise: Array, loop: str, level: Array) -> Callable:
  """``(params, opt_state, x_all, epoch) -> (params, opt_state, mean loss)``: one epoch of
  ``n // batch_size`` minibatches on ``sdae.epoch.run``, scanned in one jitted call
  (``loop="scan"``) or one jitted step each (``"step"``).

  Minibatches are blocks of the permutation ``fold_in(k_perm, epoch)``; minibatch i's noise key
  is ``fold_in(fold_in(k_noise, epoch), i)``. ``level`` is fixed for the whole training run.
  """

  def step_loss(p, x, key):
    inp, target = pair_fn(key, x, level)
    z = model.apply({"params": p}, inp, logits=True)
    return loss(z, target)

  def step(carry, x, key):
    params, opt_state = carry
    value, grads = jax.value_and_grad(step_loss)(params, x, key)
    with jax.numpy_dtype_promotion("standard"):  # optax's bias correction mixes dtypes
      updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), value

  @jax.jit
  def keys(epoch):
    return (epoch_lib.shuffled_batches(jax.random.fold_in(k_perm, epoch), n, batch_size),
            jax.random.fold_in(k_noise, epoch))

  def train_epoch(params, opt_state, x_all, epoch):
    batches, k_epoch = keys(epoch)
    (params, opt_state), values = epoch_lib.run(step, (params, opt_state), x_all, batches,
                                                k_epoch, loop=loop)
    return params, opt_state, jnp.mean(values)

  return jax.jit(train_epoch) if loop == "scan" else train_epoch


@dataclasses.dataclass(frozen=True)
class TrainResult:
  params: Any
  losses: np.ndarray  # mean training loss per epoch
  seconds: float


def fit(model: nn.Module, x_train, pair_fn: PairFn, loss: Callable[[Array, Array], Array],
        *, key: Array, epochs: int, batch_size: int, lr, level=0.0,
        params=None, loop: str = "auto",
        log: Callable[[str], None] | None = None, progress=None) -> TrainResult:
  """Trains ``model`` (pre-activation output ``model.apply(v, x, logits=True)``) with Adam.

  ``pair_fn(key, x, level) -> (input, target)`` makes each minibatch; ``loss(z, target)``
  scores it. One epoch is one jitted call: an on-device permutation from
  ``fold_in(k_perm, epoch)``, then ``lax.scan`` over ``n // batch_size`` minibatches whose keys
  are ``fold_in(fold_in(k_noise, epoch), step)`` (the tail of a permutation is dropped): the
  package's one epoch primitive, ``sdae.epoch.run``.

  ``loop``: ``"scan"`` (one jitted call per epoch), ``"step"`` (one jitted call per minibatch,
  the same pure step, keys and batches: identical results up to float reassociation) or
  ``"auto"``: ``"step"`` for models with convolutions on CPU, else ``"scan"``. Why: XLA:CPU runs
  convolutions inside a while loop (a rolled ``lax.scan``) about 5x slower than the same step
  at top level (measured: 7.3 s vs 1.4 s per step of the 16-channel conv model, batch 64), and
  unrolling the scan makes compilation grow with the number of steps.

  ``lr`` is a float or an optax schedule (``step -> rate``, e.g. ``cosine_lr``).
  ``log`` gets one line per epoch; ``progress`` (an ``sdae.io.progress.Progress``) shows the epochs
  as one phase, with an ETA from the epochs after the first (which includes compilation).
  """
  x_train = jnp.asarray(x_train, jnp.float32)
  n = x_train.shape[0]
  batch_size = min(batch_size, n)
  steps = n // batch_size
  k_init, k_perm, k_noise = jax.random.split(key, 3)
  if params is None:
    params = model.init(k_init, pair_fn(k_init, x_train[:1], level)[0], logits=True)["params"]
  tx = optax.adam(lr)
  opt_state = tx.init(params)
  if loop == "auto":
    has_conv = any("Conv" in k for k in _flat_keys(params))
    loop = "step" if has_conv and jax.default_backend() == "cpu" else "scan"
  if loop not in ("scan", "step"):
    raise ValueError(f"loop={loop!r}; accepted: auto, scan, step")
  level = jnp.asarray(level, jnp.float32)
  train_epoch = _epoch_fn(model, pair_fn, loss, tx, n, batch_size, k_perm, k_noise, loop, level)
  losses = []
  start = time.perf_counter()
  for epoch in range(epochs):
    t0 = time.perf_counter()
    params, opt_state, value = train_epoch(params, opt_state, x_train, epoch)
    losses.append(float(value))  # waits for the epoch: dt is its time
    dt = time.perf_counter() - t0
    if progress is not None:
      progress.epoch("train denoiser", epoch + 1, epochs, seconds=dt,
                     examples_per_s=steps * batch_size / dt, loss=losses[-1])
    if log:
      log(f"epoch {epoch + 1}/{epochs}: train loss {losses[-1]:.5f} ({dt:.1f} s this epoch, "
          f"{time.perf_counter() - start:.1f} s since the start)")
  if progress is not None:
    progress.end_phase()
  return TrainResult(params=params, losses=np.asarray(losses),
                     seconds=time.perf_counter() - start)


def _flat_keys(tree) -> list[str]:
  return ["/".join(str(getattr(k, "key", k)) for k in path)
          for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]


def cosine_lr(peak: float, total_steps: int) -> optax.Schedule:
  """Learning rate ``peak`` decayed to 0 along a half cosine over ``total_steps`` Adam steps:
  large steps early, small ones to settle at the end of a fixed training length."""
  return optax.cosine_decay_schedule(peak, max(int(total_steps), 1))


def train_denoiser(config: DenoiseConfig, x_train, *, log=None,
                   progress=None) -> tuple[nn.Module, TrainResult]:
  """Trains the denoiser a (validated) config describes on clean images ``x_train``."""
  c = validate(config)
  mc = c.model_config()
  model = mc.build()
  x = np.asarray(x_train, np.float32).reshape(-1, c.side, c.side)
  lr = c.lr
  if c.schedule == "cosine":
    lr = cosine_lr(c.lr, len(x) // min(c.batch_size, len(x)) * c.epochs)
  result = fit(model, x, make_pair_fn(c.mode, c.corruption),
               lambda z, t: loss_fn(c.loss, z, t, c.output),
               key=jax.random.key(c.seed), epochs=c.epochs, batch_size=c.batch_size, lr=lr,
               level=c.level or 0.0, log=log, progress=progress)
  return model, result
