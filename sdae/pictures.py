"""A run's pictures: first-layer filters and reconstructions (``sdae.viz`` draws them)."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from sdae import pretrain as pt


def write_pictures(workdir: str, first_layer, objective: pt.LayerObjective | None,
                   x: np.ndarray, level: float, many: bool,
                   dataset: str | None = None, member: int = 0) -> list[str]:
  """filters.png (first-layer filters) and, for a pretrained first layer, reconstructions.png
  (rows: clean, corrupted for a dA, reconstructed), each with its PDF; returns the paths
  written, reconstructions first (none when the inputs are not square images). ``objective`` None: no pretraining, the
  filters are the fine-tuned first layer's. With ``many``, of member ``member``."""
  from sdae import viz
  if many:
    first_layer = jax.tree.map(lambda a: a[member], first_layer)
  if viz.square_side(x.shape[1]) is None:
    return []
  kernel = np.asarray(first_layer["kernel"])
  if objective is None:
    what, shown_level = "no pretraining (fine-tuned weights)", None
  elif objective.name == "rbm":
    what, shown_level = f"RBM, CD-{objective.cd_steps}", None
  else:
    what, shown_level = objective.corruption, level
  written = viz.save_filters(kernel, os.path.join(workdir, "filters.png"), corruption=what,
                             level=shown_level, dataset=dataset)
  if objective is None:
    return written
  key = pt.derive_key(0, pt.EVAL)
  seen, rebuilt = objective.reconstruct(first_layer, key, jnp.asarray(x), jnp.float32(level))
  label = viz.level_text(what, shown_level)
  rows = [("clean", x)]
  if objective.name == "denoising":
    rows.append((f"corrupted\n({label})", np.asarray(seen)))
  rows.append(("reconstructed", np.asarray(rebuilt)))
  title = (f"{dataset + ': ' if dataset else ''}layer 1 reconstructions of test images "
           f"({kernel.shape[1]} units, {label})")
  # Reconstructions first: they show what the layer learnt at a glance (the gaps of a masked
  # image filled in), where first-layer filters of a small set can look like noise.
  return viz.save_rows(rows, os.path.join(workdir, "reconstructions.png"), title) + written
