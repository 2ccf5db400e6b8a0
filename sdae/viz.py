"""Pictures a researcher looks at: filter tiles, reconstruction grids, error-versus-level plots.

Images are written with Pillow (no matplotlib needed). All functions take host numpy arrays;
writes are atomic (temporary file, then rename), so a killed run never leaves half a PNG.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from sdae import fileio


def scale_to_unit(x: np.ndarray, eps: float = 1e-8) -> np.ndarray:
  """Rescales each row of ``x`` [n, d] to [0, 1] (as the Theano tutorial's tile_raster_images)."""
  x = np.asarray(x, np.float64)
  lo = x.min(axis=-1, keepdims=True)
  hi = x.max(axis=-1, keepdims=True)
  return (x - lo) / (hi - lo + eps)


def tile_images(images: np.ndarray, image_shape: tuple[int, int] | None = None,
                grid: tuple[int, int] | None = None, spacing: int = 1,
                fill: float = 0.0) -> np.ndarray:
  """Tiles ``images`` [n, h*w] or [n, h, w] (values in [0, 1]) into one [H, W] array.

  ``grid`` is (rows, cols); by default as square as possible. Unused cells and the ``spacing``
  pixels between tiles take the value ``fill``.
  """
  images = np.asarray(images, np.float64)
  n = images.shape[0]
  if image_shape is None:
    if images.ndim == 3:
      image_shape = images.shape[1:]
    else:
      side = math.isqrt(images.shape[1])
      if side * side != images.shape[1]:
        raise ValueError(f"cannot infer a square image shape from {images.shape[1]} features")
      image_shape = (side, side)
  h, w = image_shape
  images = images.reshape(n, h, w)
  if grid is None:
    cols = max(1, math.ceil(math.sqrt(n)))
    grid = (max(1, math.ceil(n / cols)), cols)
  rows, cols = grid
  out = np.full((rows * (h + spacing) - spacing, cols * (w + spacing) - spacing), fill)
  for i in range(min(n, rows * cols)):
    r, c = divmod(i, cols)
    out[r * (h + spacing):r * (h + spacing) + h, c * (w + spacing):c * (w + spacing) + w] = images[i]
  return out


def _atomic_save(img, path: str) -> None:
  fileio.atomic_write(path, lambda f: img.save(f, format="PNG"))


def save_gray(array: np.ndarray, path: str, scale: int = 2) -> None:
  """Saves a [H, W] array with values in [0, 1] as an 8-bit grayscale PNG, upscaled ``scale``x."""
  from PIL import Image  # Pillow only when a picture is written.
  a = np.clip(np.asarray(array, np.float64), 0.0, 1.0)
  img = Image.fromarray(np.round(a * 255).astype(np.uint8), mode="L")
  if scale != 1:
    img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
  _atomic_save(img, path)


def save_filters(kernel: np.ndarray, path: str, n: int = 100,
                 image_shape: tuple[int, int] | None = None) -> None:
  """Tiles the first ``n`` filters of a first-layer kernel [d_in, d_hidden], each rescaled to [0, 1]."""
  filters = np.asarray(kernel).T[:n]
  save_gray(tile_images(scale_to_unit(filters), image_shape), path)


def save_rows(rows: Sequence[np.ndarray], path: str, image_shape: tuple[int, int] | None = None,
              scale: int = 2) -> None:
  """Saves image rows (e.g. clean / corrupted / reconstructed), each [n, d] in [0, 1], one row each."""
  n = min(len(r) for r in rows)
  stacked = np.concatenate([np.clip(np.asarray(r[:n], np.float64), 0, 1) for r in rows], 0)
  save_gray(tile_images(stacked, image_shape, grid=(len(rows), n), spacing=1, fill=0.5), path,
            scale=scale)


def save_blocks(blocks: Sequence[np.ndarray], path: str, image_shape=None, cols: int = 12,
                scale: int = 2) -> None:
  """Groups of rows: for each block of ``cols`` examples, one row per array (e.g. 36 digits as
  three bands of original / corrupted / restored), as in Fleuret's course figures."""
  n = min(len(b) for b in blocks)
  bands = []
  for start in range(0, n, cols):
    for b in blocks:
      chunk = np.asarray(b[start:start + cols], np.float64)
      if len(chunk) < cols:
        pad = np.zeros((cols - len(chunk),) + chunk.shape[1:])
        chunk = np.concatenate([chunk, pad])
      bands.append(chunk)
  stacked = np.clip(np.concatenate(bands, 0), 0, 1)
  save_gray(tile_images(stacked, image_shape, grid=(len(bands), cols), spacing=1, fill=0.5), path,
            scale=scale)


def save_side_by_side(panels: Sequence[np.ndarray], path: str, gap: int = 6,
                      scale: int = 2) -> None:
  """Puts [H, W] panels in [0, 1] side by side (e.g. filters at several noise levels)."""
  h = max(p.shape[0] for p in panels)
  parts = []
  for p in panels:
    pad = np.full((h, p.shape[1]), 1.0)
    pad[:p.shape[0]] = p
    parts.extend([pad, np.ones((h, gap))])
  save_gray(np.concatenate(parts[:-1], axis=1), path, scale=scale)


def plot_error_vs_level(levels: Sequence[float], series: dict[str, tuple[Sequence[float], Sequence[float]]],
                        path: str, xlabel: str = "corruption level",
                        ylabel: str = "error (%)", title: str = "") -> None:
  """Line plot of error against level with 95% interval bars, drawn with Pillow.

  ``series`` maps a label to (means, half-widths of the 95% interval), one value per level.
  """
  from PIL import Image, ImageDraw
  width, height, margin = 640, 420, 60
  img = Image.new("RGB", (width, height), "white")
  draw = ImageDraw.Draw(img)
  levels = list(map(float, levels))
  all_lo = [m - c for ms, cs in series.values() for m, c in zip(ms, cs)]
  all_hi = [m + c for ms, cs in series.values() for m, c in zip(ms, cs)]
  y_lo, y_hi = min(all_lo + [0.0]), max(all_hi + [1e-6])
  y_hi += 0.05 * (y_hi - y_lo) + 1e-6
  x_lo, x_hi = min(levels), max(levels)
  if x_hi == x_lo:
    x_lo, x_hi = x_lo - 0.5, x_hi + 0.5

  def px(x, y):
    return (margin + (x - x_lo) / (x_hi - x_lo) * (width - 2 * margin),
            height - margin - (y - y_lo) / (y_hi - y_lo) * (height - 2 * margin))

  draw.line([px(x_lo, y_lo), px(x_hi, y_lo)], fill="black")
  draw.line([px(x_lo, y_lo), px(x_lo, y_hi)], fill="black")
  for i in range(6):
    yv = y_lo + i * (y_hi - y_lo) / 5
    x0, y0 = px(x_lo, yv)
    draw.text((5, y0 - 6), f"{yv:.2f}", fill="black")
    draw.line([(x0 - 4, y0), (x0, y0)], fill="black")
  for lv in levels:
    x0, y0 = px(lv, y_lo)
    draw.text((x0 - 10, y0 + 8), f"{lv:g}", fill="black")
  draw.text((width / 2 - 40, height - 25), xlabel, fill="black")
  draw.text((5, 10), ylabel + (f"   {title}" if title else ""), fill="black")
  colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
  for k, (label, (means, cis)) in enumerate(series.items()):
    color = colors[k % len(colors)]
    pts = [px(lv, m) for lv, m in zip(levels, means)]
    if len(pts) > 1:
      draw.line(pts, fill=color, width=2)
    for lv, m, c in zip(levels, means, cis):
      (xa, ya), (_, yb) = px(lv, m - c), px(lv, m + c)
      draw.line([(xa, ya), (xa, yb)], fill=color)
      draw.line([(xa - 4, ya), (xa + 4, ya)], fill=color)
      draw.line([(xa - 4, yb), (xa + 4, yb)], fill=color)
      draw.ellipse([xa - 3, px(lv, m)[1] - 3, xa + 3, px(lv, m)[1] + 3], fill=color)
    draw.text((width - margin - 150, margin + 15 * k), label, fill=color)
  _atomic_save(img, path)
