"""Denoising autoencoders as image restorers: a whole run (``run``: train, score, write).

The run is built from the package's other modules, each imported from where it is defined:

* ``sdae.restore.models``: ``DenseDenoiser``, ``ConvDenoiser``, ``ModelConfig``.
* ``sdae.restore.config``: ``DenoiseConfig`` and ``validate`` (at the boundary).
* ``sdae.configs.denoise``: the named presets (per corruption, noise2noise, superres, course)
  and each corruption's default level.
* ``sdae.restore.train``: pairs per mode (``make_pair_fn``), losses, ``fit``, ``train_denoiser``.
* ``sdae.restore.evaluate``: MSE/PSNR, ``predict``, ``evaluate``.
* ``sdae.restore.report``: reference-classifier accuracies, mean-image baseline,
  ``restored.npz``, ``denoise.png``.
* ``sdae.restore.apply``: ``save_denoiser`` / ``load_denoiser``, ``restore_images`` (``--apply``).

Everything is a pure function of explicit arguments (parameters, optimizer state, PRNG key,
data, level), so it composes with ``jax.jit``, ``jax.vmap`` and ``jax.lax.scan``. Images are
float32 in [0, 1] with ink = 1 (MNIST: white digit on black).
"""

from __future__ import annotations

import os
import time
from typing import Callable

import jax
import numpy as np

from sdae.io import files as fileio
from sdae.restore.apply import CONFIG_FILE, PARAMS_FILE, save_denoiser
from sdae.restore.config import DenoiseConfig, validate
from sdae.restore.evaluate import eval_key, evaluate
from sdae.restore.report import (RESTORED_FILE, accuracy_metrics, header, mean_image_metrics,
                                 save_figure, write_restored)
from sdae.restore.train import train_denoiser

RESULTS_FILE = "denoise.json"
FIGURE_FILE = "denoise.png"


def check_splits(splits: dict, side: int, dataset: str = "dataset") -> None:
  """ValueError unless train and test hold [n > 0, side * side] images."""
  for name in ("train", "test"):
    shape = np.shape(splits[name][0])
    if len(shape) != 2 or shape[1] != side * side or shape[0] == 0:
      raise ValueError(f"--dataset={dataset}: {name} images have shape {list(shape)}; "
                       f"accepted: datasets of {side}x{side} images ([n, {side * side}])")


def reference_classifier(splits: dict, *, cache_dir: str | None = None, log=None,
                         announce=None):
  """The fixed reference classifier of a dataset: trained (once, then cached) on all its clean
  labelled training images (``train`` and ``valid``, whatever ``--train_size`` the denoiser
  uses), or None when the data has no labels."""
  from sdae.restore import reference_classifier as rc  # pylint: disable=g-import-not-at-top
  parts = [splits[s] for s in ("train", "valid") if s in splits and splits[s][1] is not None]
  if not parts or splits["test"][1] is None:
    return None
  x = np.concatenate([np.asarray(p[0], np.float32) for p in parts])
  y = np.concatenate([np.asarray(p[1], np.int32) for p in parts])
  return rc.get(x, y, cache_dir=cache_dir, log=log, announce=announce)


def _score(model, params, c: DenoiseConfig, x_train, x_test, y_test, classifier) -> tuple:
  """(metrics, images): ``evaluate``'s figures plus the mean-image baseline and the reference
  classifier's accuracies on the clean, corrupted and restored test images."""
  metrics = evaluate(model, params, c, x_test, eval_key(c.seed))
  images = metrics.pop("images")
  metrics.update(mean_image_metrics(x_train, images["clean"]))
  metrics.update(accuracy_metrics(classifier, images, y_test))
  return metrics, images


def _sizes(splits: dict, train_size: int, test_size: int) -> tuple:
  x_train = np.asarray(splits["train"][0], np.float32)
  x_test = np.asarray(splits["test"][0], np.float32)
  y_test = splits["test"][1]
  n_test = test_size or len(x_test)
  y_test = None if y_test is None else np.asarray(y_test, np.int32)[:n_test]
  return x_train[:train_size or len(x_train)], x_test[:n_test], y_test


def run(config: DenoiseConfig, splits: dict, workdir: str, *, data_source: str = "unknown",
        data_version: int | None = None,
        dataset: str = "unknown", train_size: int = 0, test_size: int = 0, preset=None,
        classifier="auto", log: Callable[[str], None] | None = None, progress=None) -> dict:
  """Trains a denoiser on ``splits["train"][0]``, evaluates it on ``splits["test"]``.

  Writes (each atomically) ``workdir/denoiser.msgpack`` + ``denoiser.json`` (the trained model,
  for ``restore_images``), ``workdir/restored.npz`` (``write_restored``), ``workdir/denoise.png``
  (rows clean / corrupted / restored for the first 36 test images, in bands of 12) and last
  ``workdir/denoise.json`` (the figures of ``evaluate``, ``psnr_mean_image_db``, the reference
  classifier's ``accuracy_clean`` / ``accuracy_corrupted`` / ``accuracy_restored`` in [0, 1],
  the resolved config, timings). ``train_size`` / ``test_size`` > 0 keep the first examples
  only. ``classifier``: ``"auto"`` (``reference_classifier(splits)``), a trained one, or None.
  ``progress`` (an ``sdae.io.progress.Progress``) gets a header, the training epochs and a closing
  summary. Returns the results dict.
  """
  c = validate(config)
  start = time.perf_counter()
  check_splits(splits, c.side, dataset)
  x_train, x_test, y_test = _sizes(splits, train_size, test_size)
  if progress is not None:
    progress.header(header(c, dataset, data_source, len(x_train), len(x_test), workdir, preset))
  model, result = train_denoiser(c, x_train, log=log, progress=progress)
  t_train = time.perf_counter() - start
  if classifier == "auto":
    classifier = reference_classifier(
        splits, log=log, announce=progress.message if progress is not None else None)
  metrics, images = _score(model, result.params, c, x_train, x_test, y_test, classifier)
  t_total = time.perf_counter() - start
  mc = c.model_config()
  save_denoiser(workdir, mc, result.params,
                {"mode": c.mode, "corruption": c.corruption, "level": c.level,
                 "dataset": dataset})
  write_restored(os.path.join(workdir, RESTORED_FILE), images, y_test)
  pictures = save_figure(c, images, metrics, os.path.join(workdir, FIGURE_FILE), dataset)
  results = {
      **metrics, "dataset": dataset, "data_source": data_source,
      "data_version": data_version, "preset": preset,
      "n_train": int(len(x_train)),
      "config": {**c.to_dict(), "train_size": int(train_size), "test_size": int(test_size)},
      "model": mc.to_dict(),
      "n_params": int(sum(np.size(p) for p in jax.tree.leaves(result.params))),
      "reference_classifier": None if classifier is None else classifier.describe(),
      "train_loss": [float(v) for v in result.losses],
      "seconds": {"train": round(t_train, 3), "total": round(t_total, 3)},
      "device": jax.devices()[0].platform,
  }
  fileio.write_json(os.path.join(workdir, RESULTS_FILE), results, sort_keys=True)
  if progress is not None:
    _summary(progress, results, workdir, pictures, t_total)
  return results


def summary_line(r: dict) -> str:
  """One line: PSNR corrupted -> restored (mean image), accuracy corrupted -> restored."""
  line = (f"PSNR corrupted {r['psnr_corrupted_db']:.2f} dB -> restored "
          f"{r['psnr_restored_db']:.2f} dB (mean image {r['psnr_mean_image_db']:.2f} dB")
  if r.get("psnr_baseline_db") is not None:
    line += f", bilinear {r['psnr_baseline_db']:.2f} dB"
  line += ")"
  if r.get("accuracy_restored") is not None:
    line += (f"; reference classifier's accuracy clean {100 * r['accuracy_clean']:.2f}%, "
             f"corrupted {100 * r['accuracy_corrupted']:.2f}%, restored "
             f"{100 * r['accuracy_restored']:.2f}%")
  return line + f" ({r['n_test']} test images)"


def _summary(progress, results: dict, workdir: str, pictures: list, t_total: float) -> None:
  from sdae.io.progress import format_seconds  # pylint: disable=g-import-not-at-top
  progress.summary(
      f"done in {format_seconds(t_total)}: {summary_line(results)}",
      {"results": [os.path.join(workdir, RESULTS_FILE), os.path.join(workdir, RESTORED_FILE)],
       "pictures": pictures,
       "denoiser": [os.path.join(workdir, PARAMS_FILE), os.path.join(workdir, CONFIG_FILE)]})
