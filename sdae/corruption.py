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

# Blur at sigma == 0 must be the identity; a floor keeps exp(-d^2 / 2 sigma^2) finite.
_MIN_SIGMA = 1e-3


def masking(key: Array, x: Array, level) -> Array:
  """Masking noise (Vincent 2008): each input is set to 0 with probability ``level``."""
  keep = jax.random.bernoulli(key, 1.0 - jnp.asarray(level, x.dtype), x.shape)
  return jnp.where(keep, x, jnp.zeros_like(x))


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
  hit = jax.random.bernoulli(k_hit, jnp.asarray(level, x.dtype), x.shape)
  salt = jax.random.bernoulli(k_val, 0.5, x.shape)
  value = jnp.where(salt, jnp.asarray(high, x.dtype), jnp.asarray(low, x.dtype))
  return jnp.where(hit, value, x)


def erasure(key: Array, x: Array, level) -> Array:
  """Pixel erasure (Fleuret, 7.3): each pixel is set to white (1) with probability ``level``."""
  hit = jax.random.bernoulli(key, jnp.asarray(level, x.dtype), x.shape)
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
