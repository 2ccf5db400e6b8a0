"""The paper's single-layer filter figures (Vincent et al. 2010, Figures 5-8), trained and measured.

A figure is a list of ``Condition`` s (a corruption kind, its level and an L2 weight decay), each
one tied-weight dA layer with sigmoid hidden units, trained by SGD from the same initialisation
and the same minibatch order (one seed), so that the panels differ only by their condition:

* ``natural``: 12x12 whitened natural-image patches (``sdae.data.load("natural_patches")``),
  200 hidden units, affine decoder and squared error; plain autoencoders (level 0) at each weight
  decay of ``FigureConfig.decays`` (``ae_decay_<d>``), Gaussian noise sigma 0.5, salt-and-pepper
  10% (to the data's ``SALT_PEPPER_QUANTILE`` quantiles: the "minimum and maximum" of real-valued
  inputs) and zero-masking 55%;
* ``mnist``: MNIST digits, cross-entropy with a sigmoid decoder, zero-masking 0%, 25%, 50%.

Each figure's settings (``FigureConfig``, ``Condition``, ``natural_config``, ``mnist_config``,
``SALT_PEPPER_QUANTILE``, ``validate``) are in ``sdae.configs.filters``; this module trains,
measures and writes them.

Conditions of one corruption kind differ only in traced numbers (level, decay), so they train
as members of one compiled program (``sdae.pretrain.compiled_pretrain_epoch(members=True)``):
the plain autoencoders and the Gaussian dA are one program, salt-and-pepper and masking one each.

``run`` returns, per condition, its filters ``[n_hidden, h, w]`` (each hidden unit's input
weights), its settings, the final epoch's mean training loss, the clean reconstruction error on
the validation patches, and the shape measures of ``sdae.reproduce.gabor.summarize``.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from sdae import model as model_lib
from sdae import pretrain as pt
from sdae.configs import filters as filter_configs
from sdae.reproduce import gabor

log = logging.getLogger("sdae")


def load_data(config: filter_configs.FigureConfig, data_dir: str | None = None,
              cache_dir: str | None = None, with_version: bool = False) -> tuple:
  """(train [n, h*w], valid [m, h*w], (h, w), source) for the figure (float32); with
  ``with_version``, the regenerated data version read (None for original data) too."""
  from sdae import data as data_lib  # pylint: disable=g-import-not-at-top
  if config.figure == "mnist":
    splits = data_lib.load("mnist", data_dir=data_dir, cache_dir=cache_dir)
    shape = (28, 28)
  elif config.patch_size == 12:
    splits = data_lib.load("natural_patches", data_dir=data_dir, cache_dir=cache_dir,
                           seed=config.seed, data_version=config.data_version)
    shape = (12, 12)
  else:
    splits = _natural_of_size(config.patch_size, data_dir, config.seed, config.data_version)
    shape = (config.patch_size, config.patch_size)
  x, xv = splits["train"][0], splits["valid"][0]
  if config.n_train is not None:
    x = x[:config.n_train]
    xv = xv[:max(1, config.n_train // 10)]
  out = (x, xv, shape, getattr(splits, "source", "regenerated"))
  return out if not with_version else out + (getattr(splits, "data_version", None),)


def _natural_of_size(size: int, data_dir: str | None, seed: int,
                     data_version: int | None = None):
  """Patches of another side, cut from the registered set's images (not cached)."""
  from sdae import data as data_lib  # pylint: disable=g-import-not-at-top
  from sdae.data import fetch, registry  # pylint: disable=g-import-not-at-top
  from sdae.data.regenerate import natural, resolve_version, rng_for  # pylint: disable=g-import-not-at-top
  data_lib.check_data_dir(data_dir)
  path = fetch.local_path(natural.MAT_FILE, data_dir)
  if path and data_version is not None:
    raise data_lib.DataError(f"data_version={data_version} selects the regenerated patches' "
                             f"generator, and {natural.MAT_FILE} in {data_dir} is read instead; "
                             "accepted: no data_version with the original images")
  images = natural.read_mat(path) if path else natural.photographs()
  natural.check_patch(images, size)
  spec = registry.DATASETS["natural_patches"]
  out = data_lib.Splits(natural.splits(rng_for("natural_patches", seed), images,
                                       (spec.n_train, spec.n_valid, spec.n_test), size),
                        "original" if path else "regenerated",
                        None if path else resolve_version("natural_patches", data_version))
  return out


def _groups(conditions: Sequence[filter_configs.Condition]) -> dict[str, list[int]]:
  out: dict[str, list[int]] = {}
  for i, c in enumerate(conditions):
    out.setdefault(c.corruption, []).append(i)
  return out


def _spec(config: filter_configs.FigureConfig, n_in: int, corruption: str,
          x: np.ndarray) -> pt.LayerSpec:
  loss, decoder = config.loss
  args: tuple = ()
  if corruption == "salt_pepper" and config.figure == "natural":
    q = filter_configs.SALT_PEPPER_QUANTILE
    lo, hi = np.quantile(x, [q, 1 - q])
    args = (("low", float(lo)), ("high", float(hi)))
  return pt.LayerSpec(n_in, config.n_hidden, corruption, True, "sigmoid", loss, decoder,
                      corruption_args=args)


def train_group(config: filter_configs.FigureConfig, spec: pt.LayerSpec,
                conditions: Sequence[filter_configs.Condition], x: np.ndarray,
                x_valid: np.ndarray) -> list[dict[str, Any]]:
  """Trains ``conditions`` (one corruption kind) as members of one program; per member:
  ``kernel`` [n_in, n_hidden], ``train_loss`` (last epoch's mean), ``valid_error`` (clean
  reconstruction, mean per example) and ``seconds``."""
  m = len(conditions)
  decayed = any(c.weight_decay for c in conditions)
  tx = pt.make_optimizer("sgd", weight_decay=decayed)
  seeds = jnp.full((m,), config.seed, jnp.int32)
  levels = jnp.asarray([c.level for c in conditions], jnp.float32)
  params = jax.vmap(lambda s: pt.init_layer(spec, s, 0))(seeds)
  lr = jnp.asarray([c.learning_rate or config.learning_rate for c in conditions], jnp.float32)
  if decayed:
    wd = jnp.asarray([c.weight_decay for c in conditions], jnp.float32)
    opt = jax.vmap(lambda p, a, d: pt.init_opt_state(tx, p, a, d))(params, lr, wd)
  else:
    opt = jax.vmap(lambda p, a: pt.init_opt_state(tx, p, a))(params, lr)
  epoch_fn = pt.compiled_pretrain_epoch(spec, tx, config.batch_size, members=True)
  xd = jnp.asarray(x)
  t0 = time.perf_counter()
  losses = None
  for e in range(config.epochs):
    params, opt, losses = epoch_fn(params, opt, xd, seeds, jnp.int32(0), jnp.int32(e), levels)
    if e == 0 or (e + 1) % max(1, config.epochs // 5) == 0:
      log.info("%s: epoch %d/%d, mean loss %s", spec.corruption, e + 1, config.epochs,
               np.round(np.asarray(losses).mean(-1), 4).tolist())
  seconds = time.perf_counter() - t0
  train_loss = np.asarray(losses).mean(-1)
  loss, decoder = config.loss
  xv = jnp.asarray(x_valid)

  def valid_error(p):
    logits = spec.module().apply({"params": p}, xv)
    return model_lib.reconstruction_loss(logits, xv, loss, decoder)

  errs = np.asarray(jax.jit(jax.vmap(valid_error))(params))
  kernels = np.asarray(params["kernel"])
  return [{"kernel": kernels[i], "train_loss": float(train_loss[i]),
           "valid_error": float(errs[i]), "seconds": seconds / m} for i in range(m)]


def run(config: filter_configs.FigureConfig, x: np.ndarray, x_valid: np.ndarray,
        shape: tuple[int, int]) -> dict[str, dict[str, Any]]:
  """Trains and measures every condition of ``config`` on ``x`` [n, h*w] (``shape`` (h, w)).

  Returns ``{key: {"filters": float32 [n_hidden, h, w], "settings": {...},
  "train_loss", "valid_reconstruction_error", "train_seconds", "measures": {...}}}`` in the
  figure's order (``measures``: ``sdae.reproduce.gabor.summarize``; absent when ``config.measure``
  is off).
  """
  filter_configs.validate(config)
  conditions = config.conditions()
  out: dict[str, dict[str, Any]] = {}
  for corruption, idx in _groups(conditions).items():
    spec = _spec(config, x.shape[1], corruption, x)
    group = [conditions[i] for i in idx]
    for c, r in zip(group, train_group(config, spec, group, x, x_valid)):
      filters = np.ascontiguousarray(r["kernel"].T.reshape(config.n_hidden, *shape),
                                     dtype=np.float32)
      settings = {"corruption": "none" if c.level == 0 else c.corruption, "level": c.level,
                  "weight_decay": c.weight_decay, "n_hidden": config.n_hidden,
                  "epochs": config.epochs, "batch_size": config.batch_size,
                  "learning_rate": c.learning_rate or config.learning_rate, "loss": spec.loss,
                  "decoder": spec.decoder, "encoder": spec.activation, "tied": spec.tied,
                  "seed": config.seed, "n_train": int(x.shape[0])}
      if spec.corruption_args and c.level:
        settings["corruption_values"] = dict(spec.corruption_args)
      out[c.key] = {"filters": filters, "settings": settings,
                    "train_loss": r["train_loss"],
                    "valid_reconstruction_error": r["valid_error"],
                    "train_seconds": r["seconds"]}
  for c in conditions:
    if config.measure:
      t0 = time.perf_counter()
      out[c.key]["measures"] = gabor.summarize(out[c.key]["filters"][:config.measure_units])
      log.info("%s: measured in %.1f s", c.key, time.perf_counter() - t0)
  return {c.key: out[c.key] for c in conditions}


def figure(results: dict[str, dict[str, Any]], title: str, n: int = 100):
  """One titled panel per condition: its first ``n`` filters, each scaled to its own range."""
  from sdae import viz  # pylint: disable=g-import-not-at-top
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  k = len(results)
  cols = min(k, 4)
  rows = math.ceil(k / cols)
  fig = Figure(figsize=(3.3 * cols, 3.8 * rows), layout="constrained")
  for i, (key, r) in enumerate(results.items()):
    ax = fig.add_subplot(rows, cols, i + 1)
    filt = r["filters"][:n]
    ax.imshow(viz.tile_images(viz.scale_to_unit(filt.reshape(len(filt), -1)),
                              image_shape=filt.shape[1:]),
              cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    text = key
    m = r.get("measures")
    if m:
      text += (f"\nGabor {m['gabor']:.0%} (like {m['gabor_like']:.0%}, oriented "
               f"{m['oriented']:.0%}, local {m['local']:.0%})")
    ax.set_title(text, fontsize=8)
  fig.suptitle(title)
  fig.supxlabel(viz.FILTERS_CAPTION, fontsize=8)
  return fig


def summary_lines(results: dict[str, dict[str, Any]]) -> list[str]:
  """One printed line per condition: errors and the shape measures."""
  lines = []
  for key, r in results.items():
    m = r.get("measures") or {}
    line = (f"{key}: valid reconstruction error {r['valid_reconstruction_error']:.4g}, "
            f"train loss {r['train_loss']:.4g}")
    if m:
      line += (f"; gabor-like {m['gabor_like']:.2f}, oriented {m['oriented']:.2f}, local "
               f"{m['local']:.2f}, all three {m['gabor']:.2f}, orientations "
               f"{m['orientations_covered']}/{m['orientation_bins']}")
    lines.append(line)
  return lines


def write_outputs(workdir: str, config: filter_configs.FigureConfig,
                  results: dict[str, dict[str, Any]], source: str, seconds: float | None = None,
                  data_version: int | None = None) -> list[str]:
  """Writes ``workdir/filters.npz`` (each key: float32 [n_hidden, h, w]), ``filters.png`` (+
  ``.pdf``, one titled panel per key) and ``filters.json`` (each key's settings, errors and
  measures, plus the figure's data source and wall time), each atomically; returns the paths."""
  import io  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  from sdae import viz  # pylint: disable=g-import-not-at-top
  from sdae.io import files as fileio  # pylint: disable=g-import-not-at-top
  os.makedirs(workdir, exist_ok=True)
  npz = os.path.join(workdir, "filters.npz")
  buf = io.BytesIO()
  np.savez(buf, **{k: r["filters"] for k, r in results.items()})
  fileio.write_bytes(npz, buf.getvalue())
  data = "MNIST digits" if config.figure == "mnist" else (
      f"{config.patch_size}x{config.patch_size} whitened natural-image patches ({source})")
  png = os.path.join(workdir, "filters.png")
  written = [npz] + viz.save_figure(
      figure(results, f"{data}: {config.n_hidden} hidden units, first 100 shown"), png)
  if data_version is None and config.figure == "natural" and source == "regenerated":
    from sdae.data.regenerate import version  # pylint: disable=g-import-not-at-top
    data_version = version("natural_patches", config.data_version)
  doc = {"figure": config.figure, "data_source": source, "wall_seconds": seconds,
         "data_version": data_version if source == "regenerated" else None,
         "thresholds": {"r2_min": gabor.R2_MIN, "oriented_min": gabor.ORIENTED_MIN,
                        "local_area_of_patch": gabor.LOCAL_AREA_OF_PATCH,
                        "bin_min_fraction": gabor.BIN_MIN_FRACTION},
         "conditions": {k: {"settings": r["settings"], "shape": list(r["filters"].shape),
                            "train_loss": r["train_loss"],
                            "valid_reconstruction_error": r["valid_reconstruction_error"],
                            "train_seconds": r["train_seconds"],
                            "measures": r.get("measures")}
                        for k, r in results.items()}}
  js = os.path.join(workdir, "filters.json")
  fileio.write_json(js, doc)
  return written + [js]
