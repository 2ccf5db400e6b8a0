"""Corruption processes q(x~ | x), by name, as pure functions ``(key, x, level) -> x~``.

Each also reports which components it touched (``Corruption.touched``, ``corrupt_touched``:
``(key, x, level) -> (x~, touched)``, ``touched`` bool of x's shape, from the same draws, so x~
is the same array bit for bit): the set J(x~) of Vincent et al. (2010, sec. 4.3) that the
emphasised loss weights by alpha, the rest by beta (``sdae.emphasis``). ``touches`` says what
a corruption can touch: ``"some"`` components (masking, salt_pepper, erasure, block: emphasis
is meaningful), ``"all"`` (gaussian, blur change every component) or ``"none"`` (identity).

Every corruption takes a PRNG key, a batch ``x`` of shape ``[..., d]`` (flattened images,
``d = side * side`` for the image corruptions) or ``[..., side, side]``, and a ``level`` that may be
a traced array: ``jax.vmap`` over levels compiles once. The output has the shape and dtype of ``x``.

Where and how often noise is drawn (peers differ on this silently, and it changes results):
in ``sdae.pretrain`` the corruption is applied to the *input of the layer being trained* (for
layer k > 1, the clean code of layers 1..k-1), and a fresh draw is made for every minibatch from
``fold_in(fold_in(fold_in(seed_key, layer), epoch), step)``. Nothing is corrupted during
fine-tuning or evaluation. Each pixel of each example is corrupted independently.

| name          | level                                               | range   |
| ------------- | --------------------------------------------------- | ------- |
| masking       | fraction of inputs set to 0                         | [0, 1]  |
| gaussian      | std of additive isotropic (or per-feature) noise    | >= 0    |
| salt_pepper   | fraction of inputs set to min or max (1/2 each)     | [0, 1]  |
| erasure       | probability that a pixel is set to the background   | [0, 1]  |
| blur          | std in pixels of a Gaussian blur                    | >= 0    |
| block         | side of a centered background square / image side   | [0, 1]  |

Range checks happen at the boundary (``validate``), never inside jitted code.

``erasure`` and ``block`` follow the course (Fleuret, 7.3), which draws MNIST dark ink on white
paper: its "white" is the paper, so erasure removes ink and the block is a patch of paper that
cuts the stroke. Both set pixels to the background, ``fill`` (default 0.0: MNIST's scale, ink 1
on background 0); images drawn the other way round pass ``fill=1.0``.

The Bernoulli draws of masking, salt-and-pepper and erasure come from ``bernoulli`` below
(Threefry-2x32, two words per hash, 24-bit thresholds), not ``jax.random.bernoulli``: the same
role and resolution at a tenth of the cost on CPU, where ``jax.random`` made the masking noise
13% of a minibatch-128 dA step (notes/perf.md, "Masking noise" and
"Threefry as one fused loop").
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import jax
import jax.numpy as jnp
from sdae import levels as levels_lib

Array = jax.Array
CorruptFn = Callable[[Array, Array, Array], Array]
# (key, x, level) -> (x~, touched): touched is bool of x's shape.
TouchedFn = Callable[[Array, Array, Array], tuple[Array, Array]]

# Blur at sigma == 0 must be the identity; a floor keeps exp(-d^2 / 2 sigma^2) finite.
_MIN_SIGMA = 1e-3


_THRESHOLD_BITS = 24  # a float32 probability has a 24-bit significand: no resolution is lost

# Threefry-2x32 with 20 rounds (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
# SC 2011): the rotation constants of its two alternating groups of 4 rounds, and the key-schedule
# parity constant.
_THREEFRY_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_THREEFRY_PARITY = 0x1BD11BDA


def _rotate_left(x: Array, r: int) -> Array:
  return (x << jnp.uint32(r)) | (x >> jnp.uint32(32 - r))


def threefry_rounds(k0: Array, k1: Array, x0: Array, x1: Array) -> tuple[Array, Array]:
  """Threefry-2x32 (20 rounds) of the uint32 word pairs ``(x0, x1)`` under the key ``(k0, k1)``."""
  k2 = k0 ^ k1 ^ jnp.uint32(_THREEFRY_PARITY)
  schedule = (k0, k1, k2)
  x0, x1 = x0 + k0, x1 + k1
  for i in range(5):  # 5 groups of 4 rounds, each followed by a key injection
    for r in _THREEFRY_ROTATIONS[i % 2]:
      x0 = x0 + x1
      x1 = _rotate_left(x1, r) ^ x0
    x0 = x0 + schedule[(i + 1) % 3]
    x1 = x1 + schedule[(i + 2) % 3] + jnp.uint32(i + 1)
  return x0, x1


def counter_words(key: Array, shape: tuple[int, ...]) -> Array:
  """uint32 words of ``shape``: ``jax.extend.random.threefry_2x32(key, iota(n + n % 2))[:n]``
  (``n`` = the element count, row-major), bit for bit (tested), for a uint32 ``key`` [2].

  That function hashes the pairs (counter ``i``, counter ``i + m``), ``m = ceil(n / 2)``, and
  concatenates the first words of all pairs with the second words. Here each element works out
  its own pair and keeps the word it needs: one elementwise expression, which XLA fuses into the
  loop that consumes the words. JAX's own lowering on CPU is a rolled ``while`` loop over the
  rounds that writes both halves to memory, and the concatenated form fused into its consumer
  branches per element and does not vectorise: a [128, 784] mask costs 0.08 ms this way against
  0.41 and 0.83 (notes/perf.md, "Threefry as one fused loop").
  """
  n = math.prod(shape)
  m = (n + 1) // 2
  j = jax.lax.iota(jnp.uint32, n)
  first = j < m
  i = jnp.where(first, j, j - jnp.uint32(m))  # the pair's first counter
  x0, x1 = threefry_rounds(key[0], key[1], i, i + jnp.uint32(m))
  return jnp.where(first, x0, x1).reshape(shape)


def bernoulli(key: Array, p, shape: tuple[int, ...]) -> Array:
  """Booleans of ``shape``, each True with probability ``p`` (a scalar or broadcastable array).

  Element ``i`` (row-major) reads word ``i`` of ``counter_words`` (Threefry-2x32 of counter
  pairs under ``key``, two words per hash); it is True when the word's top 24 bits are below
  ``round(p * 2**24)``, so ``P(True) = round(p * 2**24) / 2**24`` exactly, and ``p`` = 0 and 1
  give all False and all True. ``jax.random.bernoulli`` has the same resolution (a 23-bit
  uniform) but its partitionable Threefry spends a whole hash per word, in a rolled loop on CPU:
  ten times the cost of this on the 2-core box (notes/perf.md).
  Deterministic in ``key``; ``jax.vmap`` over keys gives each key's own draws (XLA's
  ``rng_bit_generator`` does not: its batching rule draws every member from the first key).
  """
  data = jax.random.key_data(key).reshape(-1).astype(jnp.uint32)
  words = counter_words(data[:2], shape)
  scale = float(1 << _THRESHOLD_BITS)
  threshold = jnp.round(jnp.clip(jnp.asarray(p, jnp.float32), 0.0, 1.0) * scale).astype(jnp.uint32)
  return (words >> (32 - _THRESHOLD_BITS)) < threshold


def masking_touched(key: Array, x: Array, level) -> tuple[Array, Array]:
  """``masking`` and its mask: (x~, the dropped components), both of x's shape."""
  dropped = bernoulli(key, level, x.shape)
  return jnp.where(dropped, jnp.zeros_like(x), x), dropped


def masking(key: Array, x: Array, level) -> Array:
  """Masking noise (Vincent 2008): each input is set to 0 with probability ``level``."""
  return masking_touched(key, x, level)[0]  # the unused mask is dead code to XLA


def gaussian(key: Array, x: Array, level) -> Array:
  """Additive Gaussian noise: ``x + level * N(0, 1)``, not clipped.

  ``level`` is a scalar standard deviation, or an array of shape ``[d]`` (broadcast over the
  last axis) for heteroscedastic, per-feature noise.
  """
  noise = jax.random.normal(key, x.shape, x.dtype)
  return x + jnp.asarray(level, x.dtype) * noise


def gaussian_touched(key: Array, x: Array, level) -> tuple[Array, Array]:
  """``gaussian`` and its mask: every component is changed (all True, even at level 0)."""
  return gaussian(key, x, level), jnp.ones(x.shape, bool)


def salt_pepper_touched(key: Array, x: Array, level, low: float = 0.0,
                        high: float = 1.0) -> tuple[Array, Array]:
  """``salt_pepper`` and its mask: (x~, the hit components). A hit counts as touched even where
  the value drawn equals the input's (a 0 pixel set to 0), as the paper's J(x~) is the set the
  noise chose."""
  k_hit, k_val = jax.random.split(key)
  hit = bernoulli(k_hit, level, x.shape)
  salt = bernoulli(k_val, 0.5, x.shape)
  value = jnp.where(salt, jnp.asarray(high, x.dtype), jnp.asarray(low, x.dtype))
  return jnp.where(hit, value, x), hit


def salt_pepper(key: Array, x: Array, level, low: float = 0.0, high: float = 1.0) -> Array:
  """Salt-and-pepper noise: a fraction ``level`` of inputs set to ``low`` or ``high`` (1/2 each)."""
  return salt_pepper_touched(key, x, level, low, high)[0]


def erasure_touched(key: Array, x: Array, level, fill: float = 0.0) -> tuple[Array, Array]:
  """``erasure`` and its mask: (x~, the erased components)."""
  hit = bernoulli(key, level, x.shape)
  return jnp.where(hit, jnp.asarray(fill, x.dtype), x), hit


def erasure(key: Array, x: Array, level, fill: float = 0.0) -> Array:
  """Pixel erasure (Fleuret, 7.3): each pixel is set to the background ``fill`` with
  probability ``level`` (at 0.9 a tenth of the stroke is left, as scattered dots)."""
  return erasure_touched(key, x, level, fill)[0]


def _as_images(x: Array) -> tuple[Array, Callable[[Array], Array]]:
  """Views ``x`` as ``[..., side, side]`` images; returns the view and the inverse reshape.

  ``x`` with ``ndim >= 3`` and equal last two axes is taken as images already; anything else as
  flattened images ``[..., d]`` with ``d`` a perfect square (a single image is ``[1, side, side]``).
  """
  if x.ndim >= 3 and x.shape[-1] == x.shape[-2]:
    return x, lambda y: y
  d = x.shape[-1]
  side = math.isqrt(d)
  if side * side != d:
    raise ValueError(f"image corruption needs square images; got a last axis of {d} features")
  shape = x.shape
  return x.reshape(*shape[:-1], side, side), lambda y: y.reshape(shape)


def _blur_matrix(side: int, sigma: Array, dtype) -> Array:
  """Row-normalised 1-D Gaussian blur matrix ``[side, side]`` for a (traced) ``sigma``.

  Rows are normalised over the in-frame pixels, so a constant image stays constant and the
  image mean is preserved up to the mass that a digit spreads past the border.
  """
  sigma = jnp.maximum(jnp.asarray(sigma, dtype), _MIN_SIGMA)
  pos = jnp.arange(side, dtype=dtype)
  d2 = (pos[:, None] - pos[None, :]) ** 2
  w = jnp.exp(-d2 / (2.0 * sigma * sigma))
  return w / jnp.sum(w, axis=1, keepdims=True)


def blur(key: Array, x: Array, level) -> Array:
  """Gaussian blur of standard deviation ``level`` pixels (deterministic; ``key`` unused).

  Separable: ``B @ img @ B^T`` with a full-width kernel, so ``level`` can be traced.
  """
  del key
  img, back = _as_images(x)
  b = _blur_matrix(img.shape[-1], level, x.dtype)
  out = jnp.einsum("ij,...jk,lk->...il", b, img, b)
  return back(out)


def blur_touched(key: Array, x: Array, level) -> tuple[Array, Array]:
  """``blur`` and its mask: every component is changed (all True, even at level 0)."""
  return blur(key, x, level), jnp.ones(x.shape, bool)


def block_touched(key: Array, x: Array, level, fill: float = 0.0) -> tuple[Array, Array]:
  """``block`` and its mask: (x~, the covered pixels, broadcast to x's shape)."""
  del key
  img, back = _as_images(x)
  side = img.shape[-1]
  half = 0.5 * jnp.asarray(level, x.dtype) * side
  centre = (side - 1) / 2.0
  dist = jnp.abs(jnp.arange(side, dtype=x.dtype) - centre)
  inside = dist < half
  covered = inside[:, None] & inside[None, :]
  out = back(jnp.where(covered, jnp.asarray(fill, img.dtype), img))
  return out, back(jnp.broadcast_to(covered, img.shape))


def block(key: Array, x: Array, level, fill: float = 0.0) -> Array:
  """Centered square of background ``fill`` of side ``level * side`` pixels, cutting the
  stroke (Fleuret, 7.3; deterministic, ``key`` unused).

  A pixel (i, j) is covered when both |i - c| and |j - c| are below half the square's side,
  with c the image centre, so ``level = 10/28`` covers exactly the central 10x10 pixels.
  """
  return block_touched(key, x, level, fill)[0]


def identity(key: Array, x: Array, level) -> Array:
  """No corruption (``level`` ignored): the plain autoencoder (SAE) baseline."""
  del key, level
  return x


def identity_touched(key: Array, x: Array, level) -> tuple[Array, Array]:
  """``identity`` and its mask: nothing is touched (all False)."""
  return identity(key, x, level), jnp.zeros(x.shape, bool)


@dataclasses.dataclass(frozen=True)
class Corruption:
  """A named corruption and the range of its level."""

  name: str
  fn: CorruptFn
  low: float
  high: float  # math.inf for unbounded
  doc: str
  touched_fn: TouchedFn | None = None
  touches: str = "some"  # "some" | "all" | "none": what the corruption can change (levels.TOUCHES)

  def __call__(self, key: Array, x: Array, level, **kwargs) -> Array:
    """``kwargs``: the function's static options (e.g. salt-and-pepper's ``low``/``high``)."""
    return self.fn(key, x, level, **kwargs)

  def touched(self, key: Array, x: Array, level, **kwargs) -> tuple[Array, Array]:
    """``(x~, touched)``: x~ equal bit for bit to ``self(key, x, level, **kwargs)`` (the same
    draws) and ``touched`` bool of x's shape, True where the corruption chose the component."""
    return self.touched_fn(key, x, level, **kwargs)


_FUNCTIONS: dict[str, CorruptFn] = {
    "masking": masking, "gaussian": gaussian, "salt_pepper": salt_pepper, "erasure": erasure,
    "blur": blur, "block": block, "none": identity,
}
_TOUCHED: dict[str, TouchedFn] = {
    "masking": masking_touched, "gaussian": gaussian_touched,
    "salt_pepper": salt_pepper_touched, "erasure": erasure_touched, "blur": blur_touched,
    "block": block_touched, "none": identity_touched,
}
CORRUPTIONS: dict[str, Corruption] = {
    name: Corruption(name, _FUNCTIONS[name], *levels_lib.RANGES[name], touched_fn=_TOUCHED[name],
                     touches=levels_lib.TOUCHES[name])
    for name in levels_lib.names()
}
IMAGE_ONLY = levels_lib.IMAGE_ONLY


def names() -> list[str]:
  return levels_lib.names()


def get(name: str) -> Corruption:
  """The corruption called ``name``; ValueError naming the accepted names otherwise."""
  return CORRUPTIONS[levels_lib.check_name(name)]


def validate(name: str, level) -> Corruption:
  """Checks ``name`` and every value of ``level`` (scalar, list or array) at the boundary.

  Returns the corruption. Raises ValueError with a one-line message naming the bad value and the
  accepted range. Call this before any compilation, never inside jitted code.
  """
  return get(levels_lib.validate(name, level))


def corrupt(name: str, key: Array, x: Array, level) -> Array:
  """Convenience: ``get(name)(key, x, level)`` (no range check; see ``validate``)."""
  return get(name)(key, x, level)


def corrupt_touched(name: str, key: Array, x: Array, level) -> tuple[Array, Array]:
  """``(x~, touched)``: ``corrupt``'s x~ (the same draws, bit for bit) and the bool mask [x's
  shape] of the components the corruption chose (``Corruption.touched``)."""
  return get(name).touched(key, x, level)
