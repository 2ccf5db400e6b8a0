"""Corruption processes q(x~ | x), by name, as pure functions ``(key, x, level) -> x~``.

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
| erasure       | probability that a pixel is set to white (1)        | [0, 1]  |
| blur          | std in pixels of a Gaussian blur                    | >= 0    |
| block         | side of a centered white square / image side        | [0, 1]  |

Range checks happen at the boundary (``validate``), never inside jitted code.

The Bernoulli draws of masking, salt-and-pepper and erasure come from ``bernoulli`` below
(Threefry-2x32, two words per hash, 24-bit thresholds), not ``jax.random.bernoulli``: the same
role and resolution at half the cost on CPU, where ``jax.random`` made the masking noise 13% of
a minibatch-128 dA step (notes/perf.md, "Masking noise, one CPU device per core, ...").
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import jax
from jax.extend.random import threefry_2x32
import jax.numpy as jnp
from sdae import levels as levels_lib

Array = jax.Array
CorruptFn = Callable[[Array, Array, Array], Array]

# Blur at sigma == 0 must be the identity; a floor keeps exp(-d^2 / 2 sigma^2) finite.
_MIN_SIGMA = 1e-3


_THRESHOLD_BITS = 24  # a float32 probability has a 24-bit significand: no resolution is lost


def bernoulli(key: Array, p, shape: tuple[int, ...]) -> Array:
  """Booleans of ``shape``, each True with probability ``p`` (a scalar or broadcastable array).

  Word ``i`` (row-major) is the Threefry-2x32 hash of counter ``i`` under ``key``, two words per
  hash (``jax.extend.random.threefry_2x32`` over ``iota``); it is True when its top 24 bits are
  below ``round(p * 2**24)``, so ``P(True) = round(p * 2**24) / 2**24`` exactly, and ``p`` = 0 and
  1 give all False and all True. ``jax.random.bernoulli`` has the same resolution (a 23-bit
  uniform) but its partitionable Threefry spends a whole hash per word: this costs half (a
  [128, 784] mask: 0.33 ms instead of 0.65 on the 2-core box, notes/perf.md). Deterministic in
  ``key``; ``jax.vmap`` over keys gives each key's own draws (XLA's ``rng_bit_generator``,
  cheaper still on CPU, does not: its batching rule draws every member from the first key).
  """
  n = math.prod(shape)
  data = jax.random.key_data(key).reshape(-1).astype(jnp.uint32)
  words = threefry_2x32(data[:2], jax.lax.iota(jnp.uint32, n + n % 2))[:n].reshape(shape)
  scale = float(1 << _THRESHOLD_BITS)
  threshold = jnp.round(jnp.clip(jnp.asarray(p, jnp.float32), 0.0, 1.0) * scale).astype(jnp.uint32)
  return (words >> (32 - _THRESHOLD_BITS)) < threshold


def masking(key: Array, x: Array, level) -> Array:
  """Masking noise (Vincent 2008): each input is set to 0 with probability ``level``."""
  dropped = bernoulli(key, level, x.shape)
  return jnp.where(dropped, jnp.zeros_like(x), x)


def gaussian(key: Array, x: Array, level) -> Array:
  """Additive Gaussian noise: ``x + level * N(0, 1)``, not clipped.

  ``level`` is a scalar standard deviation, or an array of shape ``[d]`` (broadcast over the
  last axis) for heteroscedastic, per-feature noise.
  """
  noise = jax.random.normal(key, x.shape, x.dtype)
  return x + jnp.asarray(level, x.dtype) * noise


def salt_pepper(key: Array, x: Array, level, low: float = 0.0, high: float = 1.0) -> Array:
  """Salt-and-pepper noise: a fraction ``level`` of inputs set to ``low`` or ``high`` (1/2 each)."""
  k_hit, k_val = jax.random.split(key)
  hit = bernoulli(k_hit, level, x.shape)
  salt = bernoulli(k_val, 0.5, x.shape)
  value = jnp.where(salt, jnp.asarray(high, x.dtype), jnp.asarray(low, x.dtype))
  return jnp.where(hit, value, x)


def erasure(key: Array, x: Array, level) -> Array:
  """Pixel erasure (Fleuret, 7.3): each pixel is set to white (1) with probability ``level``."""
  hit = bernoulli(key, level, x.shape)
  return jnp.where(hit, jnp.ones_like(x), x)


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


def block(key: Array, x: Array, level) -> Array:
  """Centered white square of side ``level * side`` pixels (deterministic; ``key`` unused).

  A pixel (i, j) is covered when both |i - c| and |j - c| are below half the square's side,
  with c the image centre, so ``level = 10/28`` covers exactly the central 10x10 pixels.
  """
  del key
  img, back = _as_images(x)
  side = img.shape[-1]
  half = 0.5 * jnp.asarray(level, x.dtype) * side
  centre = (side - 1) / 2.0
  dist = jnp.abs(jnp.arange(side, dtype=x.dtype) - centre)
  inside = dist < half
  covered = inside[:, None] & inside[None, :]
  return back(jnp.where(covered, jnp.ones_like(img), img))


def identity(key: Array, x: Array, level) -> Array:
  """No corruption (``level`` ignored): the plain autoencoder (SAE) baseline."""
  del key, level
  return x


@dataclasses.dataclass(frozen=True)
class Corruption:
  """A named corruption and the range of its level."""

  name: str
  fn: CorruptFn
  low: float
  high: float  # math.inf for unbounded
  doc: str

  def __call__(self, key: Array, x: Array, level) -> Array:
    return self.fn(key, x, level)


_FUNCTIONS: dict[str, CorruptFn] = {
    "masking": masking, "gaussian": gaussian, "salt_pepper": salt_pepper, "erasure": erasure,
    "blur": blur, "block": block, "none": identity,
}
CORRUPTIONS: dict[str, Corruption] = {
    name: Corruption(name, _FUNCTIONS[name], *levels_lib.RANGES[name])
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
