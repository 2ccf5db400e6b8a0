"""Pictures a researcher looks at: filter tiles, image rows, error-versus-level plots.

Every figure is a matplotlib ``Figure`` built without pyplot (no global backend state, no
display needed: the Agg canvas renders PNG, the PDF backend the vector copy), with a title and
labels that say what is shown. ``save_figure`` writes it as ``NAME.png`` and, beside it,
``NAME.pdf`` for papers. matplotlib is imported inside the functions, so ``import sdae`` stays
light. All functions take host numpy arrays; writes are atomic (temporary file, then rename), so a
killed run never leaves half a picture.

``save_gray`` (Pillow) writes one image at its own pixel size, for restored images that are data
rather than figures.
"""

from __future__ import annotations

import math
import os
from typing import Mapping, Sequence

import numpy as np

from sdae.io import files as fileio

# What the level of each corruption is, for axis labels (see sdae.corruption).
LEVEL_MEANING = {
    "masking": "fraction of inputs set to 0",
    "salt_pepper": "fraction of inputs set to 0 or 1",
    "gaussian": "standard deviation of the added noise",
    "erasure": "probability that a pixel is erased",
    "blur": "standard deviation of the blur (pixels)",
    "block": "side of the blanked square / image side",
    "none": "level (unused)",
}


def level_text(corruption: str | None, level: float | None) -> str:
  """``('masking', 0.3)`` -> ``'masking 30%'``; ``('gaussian', 0.5)`` -> ``'gaussian σ=0.5'``."""
  if corruption is None or corruption == "none":
    return "no corruption"
  if level is None:
    return corruption
  level = float(level)
  if corruption in ("masking", "salt_pepper", "erasure"):
    return f"{corruption.replace('_', '-')} {100 * level:.3g}%"
  if corruption in ("gaussian", "blur"):
    return f"{corruption} σ={level:g}" + (" px" if corruption == "blur" else "")
  if corruption == "block":
    return f"block {level:.3g} of the side"
  return f"{corruption} {level:g}"


# --- arrays ------------------------------------------------------------------------------------


def scale_to_unit(x: np.ndarray, eps: float = 1e-8) -> np.ndarray:
  """Rescales each row of ``x`` [n, d] to [0, 1] (as the Theano tutorial's tile_raster_images)."""
  x = np.asarray(x, np.float64)
  lo = x.min(axis=-1, keepdims=True)
  hi = x.max(axis=-1, keepdims=True)
  return (x - lo) / (hi - lo + eps)


def square_side(d: int) -> int | None:
  """The side of a d-pixel square image, or None when d is not a square."""
  side = math.isqrt(int(d))
  return side if side * side == d else None


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
      side = square_side(images.shape[1])
      if side is None:
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


# --- writing -----------------------------------------------------------------------------------


def _atomic(path: str, write) -> None:
  # Through a temporary file and a rename, with the umask's mode: pictures are for sharing.
  fileio.atomic_write(path, write)


def vector_path(path: str) -> str:
  """The PDF written beside a PNG: ``a/filters.png`` -> ``a/filters.pdf``."""
  return os.path.splitext(path)[0] + ".pdf"


def save_figure(fig, path: str, dpi: int = 150, vector: bool = True) -> list[str]:
  """Writes ``fig`` as the PNG ``path`` and (``vector``) the PDF beside it; returns the paths."""
  written = []
  targets = [(path, "png")] + ([(vector_path(path), "pdf")] if vector else [])
  for p, fmt in targets:
    _atomic(p, lambda f, fmt=fmt: fig.savefig(f, format=fmt, dpi=dpi, bbox_inches="tight"))
    written.append(p)
  return written


def save_gray(array: np.ndarray, path: str, scale: int = 2) -> None:
  """Saves a [H, W] array with values in [0, 1] as an 8-bit grayscale PNG, upscaled ``scale``x."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  a = np.clip(np.asarray(array, np.float64), 0.0, 1.0)
  img = Image.fromarray(np.round(a * 255).astype(np.uint8), mode="L")
  if scale != 1:
    img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
  _atomic(path, lambda f: img.save(f, format="PNG"))


def _figure(width: float, height: float):
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  return Figure(figsize=(width, height), layout="constrained")


def _show(ax, image: np.ndarray, vmin: float = 0.0, vmax: float = 1.0) -> None:
  ax.imshow(image, cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
  ax.set_xticks([])
  ax.set_yticks([])


# --- filters -----------------------------------------------------------------------------------


def filters_panel(ax, kernel: np.ndarray, n: int = 100) -> int:
  """Draws the first ``n`` filters of a first-layer kernel [d_in, d_hidden] on ``ax``, each tile
  rescaled to [0, 1] on its own (as the Theano tutorial's tile_raster_images); returns how many
  were drawn."""
  filters = np.asarray(kernel).T[:n]
  _show(ax, tile_images(scale_to_unit(filters), fill=0.0))
  return len(filters)


FILTERS_CAPTION = ("each tile: one hidden unit's input weights, scaled per tile from black "
                   "(lowest) to white (highest)")


def filters_title(kernel: np.ndarray, shown: int, corruption: str | None = None,
                  level: float | None = None, layer: int = 1) -> str:
  total = np.asarray(kernel).shape[1]
  what = f"layer {layer} filters: units 1-{shown} of {total}"
  return what + (f", {level_text(corruption, level)}" if corruption else "")


def filters_figure(kernel: np.ndarray, n: int = 100, *, corruption: str | None = None,
                   level: float | None = None, layer: int = 1, dataset: str | None = None):
  """The first ``n`` filters of a first-layer kernel [d_in, d_hidden] (square images only)."""
  fig = _figure(6.0, 6.4)
  ax = fig.add_subplot()
  shown = filters_panel(ax, kernel, n)
  ax.set_title((f"{dataset}: " if dataset else "")
               + filters_title(kernel, shown, corruption, level, layer))
  ax.set_xlabel(FILTERS_CAPTION, fontsize=8)
  return fig


def save_filters(kernel: np.ndarray, path: str, n: int = 100, **kw) -> list[str]:
  """``filters_figure`` written as ``path`` (PNG) and its PDF; ``kw`` as ``filters_figure``."""
  return save_figure(filters_figure(kernel, n, **kw), path)


def filters_by_level_figure(panels: Sequence[tuple[float, np.ndarray]], n: int = 100, *,
                            corruption: str = "masking", dataset: str | None = None):
  """One panel per (level, kernel [d_in, d_hidden]), left to right, each titled with its level."""
  k = len(panels)
  fig = _figure(4.2 * k, 4.8)
  for i, (level, kernel) in enumerate(panels):
    ax = fig.add_subplot(1, k, i + 1)
    shown = filters_panel(ax, kernel, n)
    ax.set_title(f"{level_text(corruption, level)}\nunits 1-{shown} of "
                 f"{np.asarray(kernel).shape[1]}")
  fig.suptitle(f"{dataset + ': ' if dataset else ''}layer 1 filters by corruption level")
  fig.supxlabel(FILTERS_CAPTION, fontsize=8)
  return fig


# --- image rows (reconstructions, restorations) -------------------------------------------------


def rows_figure(rows: Sequence[tuple[str, np.ndarray]], title: str, cols: int = 12,
                image_shape: tuple[int, int] | None = None):
  """Labelled rows of images: ``rows`` = [(label, images [n, d] or [n, h, w] in [0, 1]), ...].

  Examples go in bands of ``cols``: band b holds examples b*cols .. b*cols+cols-1, one row per
  entry of ``rows`` (e.g. clean / corrupted / restored), each row labelled on its left.
  """
  n = min(len(r) for _, r in rows)
  first = np.asarray(rows[0][1])
  if image_shape is None:
    image_shape = first.shape[1:] if first.ndim == 3 else (square_side(first.shape[1]),) * 2
  cols = max(1, min(cols, n))
  bands = max(1, math.ceil(n / cols))
  h, w = image_shape
  fig = _figure(1.6 + 0.55 * cols * w / h, 0.45 + 0.62 * bands * len(rows))
  axes = fig.subplots(bands * len(rows), 1, squeeze=False)[:, 0]
  for b in range(bands):
    for j, (label, images) in enumerate(rows):
      chunk = np.clip(np.asarray(images[b * cols:min((b + 1) * cols, n)], np.float64), 0, 1)
      ax = axes[b * len(rows) + j]
      _show(ax, tile_images(chunk.reshape(len(chunk), h, w), grid=(1, cols), fill=0.5))
      ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
  axes[0].set_title(title, fontsize=10)
  return fig


def save_rows(rows: Sequence[tuple[str, np.ndarray]], path: str, title: str, cols: int = 12,
              image_shape: tuple[int, int] | None = None) -> list[str]:
  """``rows_figure`` written as ``path`` (PNG) and its PDF."""
  return save_figure(rows_figure(rows, title, cols, image_shape), path)


# --- plots -------------------------------------------------------------------------------------


def error_vs_level_figure(levels: Sequence[float],
                          series: Mapping[str, tuple[Sequence[float], Sequence[float]]], *,
                          title: str, xlabel: str = "corruption level",
                          ylabel: str = "error (%)", note: str | None = None):
  """Error against level, one line per series with error bars.

  ``series`` maps a legend label (which should say what the bars are) to (values, half-widths of
  their interval), one per level. The x ticks are the levels themselves; ``note`` goes under
  the plot.
  """
  levels = [float(l) for l in levels]
  fig = _figure(6.4, 4.4)
  ax = fig.add_subplot()
  markers = "os^Dv<>"
  for i, (label, (values, half)) in enumerate(series.items()):
    half = np.asarray(half, np.float64)
    ax.errorbar(levels, values, yerr=half if np.any(half > 0) else None, marker=markers[i % 7],
                capsize=4, linewidth=1.5, label=label)
  ax.set_xticks(levels, [f"{l:g}" for l in levels])
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  ax.set_title(title)
  ax.grid(True, alpha=0.35)
  ax.legend(fontsize=8)
  if note:
    fig.text(0.01, -0.02, note, fontsize=7.5, va="top", ha="left", wrap=True)
  return fig


def examples_figure(x: np.ndarray, y: np.ndarray, *, title: str,
                    label_names: Mapping[int, str] | None = None, image_shape=None):
  """Examples ``x`` [n, d] as a grid of tiles, each with its label (``label_names`` says what
  the label means, e.g. ``{0: 'wide', 1: 'tall'}``) written under it."""
  x = np.asarray(x, np.float64)
  n = len(x)
  if image_shape is None:
    image_shape = (square_side(x.shape[1]),) * 2
  cols = max(1, math.ceil(math.sqrt(n)))
  rows = max(1, math.ceil(n / cols))
  fig = _figure(0.75 * cols + 0.4, 0.9 * rows + 0.6)
  axes = fig.subplots(rows, cols, squeeze=False)
  for i, ax in enumerate(axes.flat):
    ax.axis("off")
    if i >= n:
      continue
    _show(ax, np.clip(x[i].reshape(image_shape), 0, 1))
    ax.axis("on")
    for s in ax.spines.values():
      s.set_visible(False)
    label = int(y[i])
    name = (label_names or {}).get(label)
    ax.set_xlabel(f"{label}" + (f" {name}" if name else ""), fontsize=7, labelpad=1)
  fig.suptitle(title, fontsize=10)
  return fig


def arrow_field_figure(points: np.ndarray, grid: np.ndarray, mapped: np.ndarray, *, title: str,
                       extent: float = 1.3):
  """2-D denoising: clean training points and arrows from grid points x to phi(x)."""
  fig = _figure(6.0, 6.2)
  ax = fig.add_subplot()
  ax.scatter(points[:, 0], points[:, 1], s=3, c="0.6", label="training points (clean curve)")
  d = np.asarray(mapped) - np.asarray(grid)
  ax.quiver(grid[:, 0], grid[:, 1], d[:, 0], d[:, 1], angles="xy", scale_units="xy", scale=1,
            color="C0", width=0.003, label="x → φ(x), the trained denoiser")
  ax.set_xlim(-extent, extent)
  ax.set_ylim(-extent, extent)
  ax.set_aspect("equal")
  ax.set_xlabel("x₁")
  ax.set_ylabel("x₂")
  ax.set_title(title)
  ax.grid(True, alpha=0.3)
  ax.legend(loc="lower right", fontsize=8)
  return fig


def figure_texts(fig) -> list[str]:
  """Every title, axis label, legend entry and text of ``fig`` (for tests and checks)."""
  out: list[str] = [fig.get_suptitle(), fig.get_supxlabel()] + [t.get_text() for t in fig.texts]
  for ax in fig.axes:
    out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
    out += [t.get_text() for t in ax.get_xticklabels()]
    legend = ax.get_legend()
    if legend is not None:
      out += [t.get_text() for t in legend.get_texts()]
  return [t for t in out if t]

