"""Rectangles: one-pixel-wide white outlines (label 1 tall, 0 wide), and their image version.

Height and width (outer extent) are each uniform in 4..28, pairs with |h - w| < 3 are
redrawn (so no near-squares and no ties), and the rectangle is placed uniformly among the
positions where it fits. ``rectangles_images`` fills the same kind of rectangle with one
natural-image patch over a background patch from a different photograph.
"""

from __future__ import annotations

import numpy as np

from sdae.data.regenerate import images

MIN_SIDE, MAX_SIDE, MIN_GAP = 4, 28, 3


def sample_boxes(rng: np.random.Generator, n: int):
  """``(top, left, height, width)`` int arrays of n rectangles."""
  h = np.empty(0, np.int64)
  w = np.empty(0, np.int64)
  while len(h) < n:
    m = 2 * (n - len(h)) + 16
    hh = rng.integers(MIN_SIDE, MAX_SIDE + 1, m)
    ww = rng.integers(MIN_SIDE, MAX_SIDE + 1, m)
    ok = np.abs(hh - ww) >= MIN_GAP
    h = np.concatenate([h, hh[ok]])[:n]
    w = np.concatenate([w, ww[ok]])[:n]
  top = rng.integers(0, 28 - h + 1)
  left = rng.integers(0, 28 - w + 1)
  return top, left, h, w


def box_masks(top, left, h, w):
  """``(inside, outline)`` bool [n, 28, 28] masks."""
  r = np.arange(28)[None, :, None]
  c = np.arange(28)[None, None, :]
  t, l = top[:, None, None], left[:, None, None]
  b, rr = t + h[:, None, None] - 1, l + w[:, None, None] - 1
  inside = (r >= t) & (r <= b) & (c >= l) & (c <= rr)
  edge = (r == t) | (r == b) | (c == l) | (c == rr)
  return inside, inside & edge


def generate(rng: np.random.Generator, n: int):
  top, left, h, w = sample_boxes(rng, n)
  _, outline = box_masks(top, left, h, w)
  return outline.reshape(n, 784).astype(np.float32), (h > w).astype(np.int32)


def generate_images(rng: np.random.Generator, n: int):
  top, left, h, w = sample_boxes(rng, n)
  inside, _ = box_masks(top, left, h, w)
  fg, fg_src = images.sample_patches(rng, n)
  bg, _ = images.sample_patches(rng, n, exclude=fg_src)
  x = np.where(inside, fg, bg)
  return x.reshape(n, 784).astype(np.float32), (h > w).astype(np.int32)
