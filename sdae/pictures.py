"""A run's pictures: first-layer filters and reconstructions (``sdae.viz`` draws them)."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from sdae import objectives as objectives_lib
from sdae import pretrain as pt


def write_pictures(workdir: str, first_layer, objective: pt.LayerObjective | None,
                   x: np.ndarray, level: float, many: bool,
                   dataset: str | None = None, member: int = 0) -> list[str]:
  """filters.png (first-layer filters) and, for a pretrained first layer, reconstructions.png
  (rows: clean, corrupted for an objective that corrupts its input, reconstructed), each with its
  PDF; returns the paths written, reconstructions first (none when the inputs are not square
  images). The titles say what trained the layer (``objective.describe()``, with the level for
  an objective that corrupts its input). ``objective`` None: no pretraining, the filters are the
  fine-tuned first layer's. With ``many``, of member ``member``."""
  from sdae import viz
  if many:
    first_layer = jax.tree.map(lambda a: a[member], first_layer)
  if viz.square_side(x.shape[1]) is None:
    return []
  kernel = np.asarray(first_layer["kernel"])
  # Whether the objective trains on corrupted inputs (sdae.objectives): then the pictures show
  # the corruption's level and the corrupted input.
  corrupts = objective is not None and objectives_lib.get(objective.name).uses_corruption
  what = "no pretraining (fine-tuned weights)" if objective is None else objective.describe()
  shown_level = level if corrupts else None
  written = viz.save_filters(kernel, os.path.join(workdir, "filters.png"), corruption=what,
                             level=shown_level, dataset=dataset)
  if objective is None:
    return written
  key = pt.derive_key(0, pt.EVAL)
  traced = {"level": jnp.float32(level)} if corrupts else {}
  seen, rebuilt = objective.reconstruct(first_layer, key, jnp.asarray(x), **traced)
  label = viz.level_text(what, shown_level)
  rows = [("clean", x)]
  if corrupts:
    rows.append((f"corrupted\n({label})", np.asarray(seen)))
  rows.append(("reconstructed", np.asarray(rebuilt)))
  title = (f"{dataset + ': ' if dataset else ''}layer 1 reconstructions of test images "
           f"({kernel.shape[1]} units, {label})")
  # Reconstructions first: they show what the layer learnt at a glance (the gaps of a masked
  # image filled in), where first-layer filters of a small set can look like noise.
  return viz.save_rows(rows, os.path.join(workdir, "reconstructions.png"), title) + written
