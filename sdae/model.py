"""Denoising autoencoder layer, stacked classifier and their losses (Flax Linen, pure).

Linen is used because a Linen module holds no state: ``module.apply({"params": p}, x)`` is a
pure function of plain dict pytrees, which is exactly what ``jax.vmap`` over a sweep, donation,
sharding and Orbax want, with no split/merge bookkeeping (see BUILD_NOTES.md).

Shapes: inputs ``x`` are ``[batch, n_in]``; a dA layer has ``kernel [n_in, n_hidden]``,
``bias [n_hidden]``, ``bias_visible [n_in]`` and, when untied, ``kernel_decoder
[n_hidden, n_in]``. The classifier's ``encoder_k`` layers use the same ``kernel``/``bias`` names,
so pretrained dA parameters drop into it unchanged (``stack_params``).
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

Array = jax.Array
Params = dict[str, Any]

ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "linear": lambda x: x,
}
LOSSES = ("cross_entropy", "squared")


def uniform_init(n_in: int, n_out: int, activation: str, scheme: str = "glorot") -> Callable:
  """A uniform weight initialiser ``U(-bound, bound)`` (``sdae.config.INITS``).

  ``"glorot"``, the Theano tutorials' and Glorot & Bengio (2010)'s: sigmoid U(+-4 sqrt(6 /
  (n_in + n_out))); tanh and linear U(+-sqrt(6 / (n_in + n_out))); relu U(+-sqrt(6 / n_in))
  (He, uniform). ``"fan_in"``: U(+-1 / sqrt(n_in)) for every activation, the smaller default
  of pre-2010 neural-network libraries (for 784 -> 1000 sigmoid units, 0.036 against 0.23).
  """
  if scheme == "fan_in":
    bound = 1.0 / math.sqrt(n_in)
  elif scheme != "glorot":
    from sdae.config import INITS  # pylint: disable=g-import-not-at-top
    raise ValueError(f"init {scheme!r} is unknown; accepted: {', '.join(INITS)}")
  elif activation == "sigmoid":
    bound = 4.0 * math.sqrt(6.0 / (n_in + n_out))
  elif activation == "relu":
    bound = math.sqrt(6.0 / n_in)
  else:
    bound = math.sqrt(6.0 / (n_in + n_out))

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


def matmul(a: Array, b: Array, compute_dtype: Any = None) -> Array:
  """``a @ b``; with ``compute_dtype`` (e.g. bfloat16) the operands are cast to it and the
  product accumulates and returns float32 (mixed precision: only the product is lowered)."""
  if compute_dtype is None:
    return a @ b
  return jnp.matmul(a.astype(compute_dtype), b.astype(compute_dtype),
                    preferred_element_type=jnp.float32)


class DenoisingAutoencoder(nn.Module):
  """One dA layer: ``y = s(x~ W + b)``, ``z = s'(y W' + b')`` with ``W' = W^T`` when tied.

  ``__call__`` returns the decoder *logits* (pre-activation) so that the cross-entropy can be
  computed stably from them; ``reconstruct`` applies the decoder activation.
  """

  n_in: int
  n_hidden: int
  tied: bool = True
  activation: str = "sigmoid"  # encoder units
  decoder: str = "sigmoid"  # reconstruction units: sigmoid for [0, 1] inputs, linear otherwise
  dtype: Any = jnp.float32  # parameter dtype (float32); products may be lower via `compute_dtype`
  compute_dtype: Any = None  # e.g. jnp.bfloat16 for mixed-precision products
  init_scheme: str = "glorot"  # uniform_init's scheme

  def setup(self):
    init = uniform_init(self.n_in, self.n_hidden, self.activation, self.init_scheme)
    self.kernel = self.param("kernel", init, (self.n_in, self.n_hidden), self.dtype)
    self.bias = self.param("bias", nn.initializers.zeros, (self.n_hidden,), self.dtype)
    self.bias_visible = self.param("bias_visible", nn.initializers.zeros, (self.n_in,), self.dtype)
    if not self.tied:
      dec_init = uniform_init(self.n_hidden, self.n_in, self.activation, self.init_scheme)
      self.kernel_decoder = self.param("kernel_decoder", dec_init, (self.n_hidden, self.n_in),
                                       self.dtype)

  def _dot(self, a: Array, b: Array) -> Array:
    return matmul(a, b, self.compute_dtype)

  def encode(self, x: Array) -> Array:
    """Code ``[batch, n_hidden]`` of inputs ``[batch, n_in]``."""
    return ACTIVATIONS[self.activation](self._dot(x, self.kernel) + self.bias)

  def decode_logits(self, y: Array) -> Array:
    """Decoder pre-activation ``[batch, n_in]`` of codes ``[batch, n_hidden]``."""
    w = self.kernel.T if self.tied else self.kernel_decoder
    return self._dot(y, w) + self.bias_visible

  def reconstruct(self, x: Array) -> Array:
    return ACTIVATIONS[self.decoder](self.decode_logits(self.encode(x)))

  def __call__(self, x: Array) -> Array:
    return self.decode_logits(self.encode(x))


class Dense(nn.Module):
  """``x @ kernel + bias`` with float32 parameters, ``[batch, n_in] -> [batch, n_out]``.

  With ``compute_dtype`` (e.g. bfloat16) only the product's operands are cast; it accumulates
  and returns float32, and the bias and everything after it stay float32. (``nn.Dense(dtype=
  bfloat16)`` would also round its output and the bias to bfloat16.) Parameter names and
  initialisation are ``nn.Dense``'s, so checkpoints and pretrained layers fit either.
  """

  features: int
  kernel_init: Callable = nn.initializers.lecun_normal()
  compute_dtype: Any = None

  @nn.compact
  def __call__(self, x: Array) -> Array:
    kernel = self.param("kernel", self.kernel_init, (x.shape[-1], self.features), jnp.float32)
    bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
    return matmul(x, kernel, self.compute_dtype) + bias


class SdAClassifier(nn.Module):
  """Stacked encoders under a softmax layer; returns class logits ``[batch, n_classes]``.

  The softmax (``head``) layer is initialised to zero, as in the Theano SdA tutorial.
  ``compute_dtype``: the matrix products' operand dtype (``Dense``); float32 elsewhere.
  """

  hidden: Sequence[int]
  n_classes: int
  activation: str = "sigmoid"
  compute_dtype: Any = None
  init_scheme: str = "glorot"  # the encoders' uniform_init scheme (unpretrained layers)

  @nn.compact
  def __call__(self, x: Array) -> Array:
    act = ACTIVATIONS[self.activation]
    n_in = x.shape[-1]
    for k, h in enumerate(self.hidden):
      x = act(Dense(h, uniform_init(n_in, h, self.activation, self.init_scheme),
                    self.compute_dtype,
                    name=f"encoder_{k}")(x))
      n_in = h
    return Dense(self.n_classes, nn.initializers.zeros, self.compute_dtype, name="head")(x)


def stack_params(da_params: Sequence[Params], head: Params) -> Params:
  """Classifier parameters from pretrained dA layers (encoders only) and a head."""
  out = {f"encoder_{k}": {"kernel": p["kernel"], "bias": p["bias"]} for k, p in enumerate(da_params)}
  out["head"] = head
  return out


def sigmoid_cross_entropy(logits: Array, targets: Array) -> Array:
  """Elementwise ``-t log s(z) - (1 - t) log(1 - s(z))`` from the logits ``z``, same shape.

  Written as ``max(z, 0) - t z + log1p(exp(-|z|))``: exact algebra, finite for any ``z`` (never
  ``log(sigmoid)``), one exponential per element, and its autodiff gradient is ``s(z) - t``
  built from that same exponential. ``optax.sigmoid_binary_cross_entropy`` computes two
  ``log_sigmoid`` (each a guarded ``logaddexp``): its value and gradient over a [128, 784]
  minibatch took 0.61 ms against 0.20 here on the 2-core CPU, 12% of the whole dA step
  (notes/perf.md, "The reconstruction loss"). Equal to optax's to float32 rounding.
  """
  # Both branches chosen by one predicate, so that autodiff's derivative at z = 0 is
  # 1 - 1/2 - t = s(0) - t (``maximum`` and ``abs`` give 0 there, a wrong -t).
  positive = logits >= 0
  relu = jnp.where(positive, logits, jnp.zeros_like(logits))
  minus_abs = jnp.where(positive, -logits, logits)
  return relu - targets * logits + jnp.log1p(jnp.exp(minus_abs))


def _elementwise_loss(logits: Array, x: Array, loss: str, decoder: str) -> Array:
  """Each component's reconstruction loss, ``[batch, n_in]``."""
  if loss == "cross_entropy":
    return sigmoid_cross_entropy(logits, x)
  if loss == "squared":
    return jnp.square(ACTIVATIONS[decoder](logits) - x)
  raise ValueError(f"unknown loss {loss!r}; accepted: {', '.join(LOSSES)}")


def reconstruction_loss(logits: Array, x: Array, loss: str, decoder: str = "sigmoid",
                        weights: Array | None = None) -> Array:
  """Mean over the batch of the per-example reconstruction loss, summed over features.

  ``logits`` and ``x`` are ``[batch, n_in]``; returns a scalar.
  ``cross_entropy``: ``-sum x log z + (1 - x) log(1 - z)`` with ``z = sigmoid(logits)``,
  computed from the logits (never ``log(sigmoid)``), for targets in [0, 1].
  ``squared``: ``sum (s'(logits) - x)^2`` with ``s'`` the decoder activation.
  ``weights`` (``[batch, n_in]``, may be traced; not differentiated): each component's loss is
  multiplied by its weight before the sum (emphasis, ``sdae.emphasis``: alpha on the corrupted
  components, beta on the others). At weights of 1 the value is the unweighted loss's bit for
  bit, and so is the gradient for cross-entropy; for squared error the gradient may differ by
  an ulp (``_weighted_loss``), which is why the driver trains runs with no emphasis without
  weights.
  """
  if weights is not None:
    return _weighted_loss(logits, x, weights, loss, decoder)
  return _elementwise_loss(logits, x, loss, decoder).sum(axis=-1).mean()


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def _weighted_loss(logits: Array, x: Array, weights: Array, loss: str, decoder: str) -> Array:
  """``sum(weights * l(logits, x), -1).mean()``, whose gradient is the unweighted loss's gradient
  times ``weights``.

  Why a custom VJP: autodiff of the weighted sum puts ``weights`` between the constant cotangent
  ``1 / batch`` and the loss's derivative, and XLA then simplifies that chain differently (it
  folds and factors products by a constant, ``a c - b c -> (a - b) c``, only when ``c`` is
  one): at weights of 1 the cross-entropy's gradient moved by an ulp. Here the unweighted loss
  is differentiated as it always was and each component of its gradient multiplied by its
  weight, exact at 1: the cross-entropy's gradient is then the unweighted one's bit for bit
  (tests/test_emphasis.py, over several shapes). Squared error's can still move by an ulp, as
  XLA also takes the constant out of the batch sums that follow (the visible bias's gradient).
  The forward sum is the unweighted one's reduction over the same values.
  """
  return (_elementwise_loss(logits, x, loss, decoder) * weights).sum(axis=-1).mean()


def _weighted_loss_fwd(logits, x, weights, loss, decoder):
  return _weighted_loss(logits, x, weights, loss, decoder), (logits, x, weights)


def _weighted_loss_bwd(loss, decoder, residuals, g):
  logits, x, weights = residuals
  _, vjp = jax.vjp(lambda z, t: _elementwise_loss(z, t, loss, decoder).sum(axis=-1).mean(),
                   logits, x)
  d_logits, d_x = vjp(g)
  # The weights are data (which components the corruption chose): not differentiated.
  return d_logits * weights, d_x * weights, jnp.zeros_like(weights)


_weighted_loss.defvjp(_weighted_loss_fwd, _weighted_loss_bwd)


def classification_loss(logits: Array, labels: Array) -> Array:
  """Mean softmax cross-entropy (negative log-likelihood) of integer labels."""
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def default_loss(activation_of_input: str | None) -> tuple[str, str]:
  """(loss, decoder) for a layer whose input comes from ``activation_of_input`` units.

  Inputs in [0, 1] (pixels, or sigmoid codes) get cross-entropy with a sigmoid decoder; others
  (tanh, relu, linear codes) squared error with an affine decoder (Vincent et al. 2010, 4.2).
  """
  if activation_of_input in (None, "sigmoid"):
    return "cross_entropy", "sigmoid"
  return "squared", "linear"
