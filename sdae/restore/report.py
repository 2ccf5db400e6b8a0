"""What a denoising run reports: how well a fixed reference classifier reads the clean, corrupted
and restored test digits, the mean-image PSNR baseline, ``restored.npz``, and ``denoise.png``
(rows clean / corrupted / restored, titled with the corruption, PSNR and accuracy).
"""

from __future__ import annotations

import jax
import numpy as np

from sdae.io import files as fileio
from sdae.restore.config import SUPERRES_FACTOR, DenoiseConfig
from sdae.restore.evaluate import mse, psnr_from_mse

RESTORED_FILE = "restored.npz"
N_SHOWN = 36


def mean_image_metrics(x_train, clean) -> dict:
  """The "mean image" baseline: every test image restored as the per-pixel mean of the training
  images. A restoration that does not beat its PSNR has learnt the average digit, not the digit.
  ``x_train`` [n, d] or [n, s, s]; ``clean`` [m, s, s]."""
  mean = np.asarray(x_train, np.float32).reshape(len(x_train), *clean.shape[1:]).mean(axis=0)
  m = float(mse(np.broadcast_to(mean, clean.shape), clean))
  return {"mse_mean_image": m, "psnr_mean_image_db": float(psnr_from_mse(m))}


def accuracy_metrics(classifier, images: dict, labels) -> dict:
  """``accuracy_clean`` / ``accuracy_corrupted`` / ``accuracy_restored`` (fractions in [0, 1])
  of the reference classifier on ``images["clean" | "corrupted" | "restored"]``; None for all
  three when there are no labels or no classifier."""
  keys = ("clean", "corrupted", "restored")
  if classifier is None or labels is None:
    return {f"accuracy_{k}": None for k in keys}
  return {f"accuracy_{k}": classifier.accuracy(images[k], labels) for k in keys}


def write_restored(path: str, images: dict, labels) -> None:
  """``restored.npz``: ``restored`` and ``corrupted`` float32 [n, side, side] (what the model
  restored and what it was given, as a viewer sees it) and ``labels`` int32 [n] (-1 where the
  data has none), in test-set order; written atomically."""
  n = len(images["restored"])
  labels = (np.full(n, -1, np.int32) if labels is None
            else np.asarray(labels, np.int32).reshape(n))
  arrays = {"restored": np.asarray(images["restored"], np.float32),
            "corrupted": np.asarray(images["corrupted"], np.float32), "labels": labels}
  fileio.atomic_write(path, lambda f: np.savez(f, **arrays))


def corruption_text(config: DenoiseConfig) -> str:
  """What corrupts the inputs: ``'gaussian σ=0.5'``, ``'block 10x10 px, 0.357 of the side'``,
  ``'2x average pool (14x14 input)'``."""
  from sdae import viz  # pylint: disable=g-import-not-at-top
  c = config.resolved()
  if c.mode == "superres":
    side = c.side // SUPERRES_FACTOR
    return f"{SUPERRES_FACTOR}x average pool ({side}x{side} input)"
  if c.corruption == "block":  # the pixels it covers, as sdae.corruption.block counts them
    k = int(np.sum(np.abs(np.arange(c.side) - (c.side - 1) / 2) < 0.5 * c.level * c.side))
    return f"block {k}x{k} px, {c.level:.3g} of the side"
  return viz.level_text(c.corruption, c.level)


def figure_title(config: DenoiseConfig, metrics: dict, dataset: str = "") -> str:
  """The title of ``denoise.png``: data, corruption, mode, model; PSNR of the corrupted and the
  restored test images (and the bilinear and mean-image baselines); the reference classifier's
  accuracy on clean, corrupted and restored images where ``metrics`` has them
  (``accuracy_clean`` etc., fractions or percents)."""
  c = config.resolved()
  head = (f"{dataset + ': ' if dataset else ''}{corruption_text(c)}, {c.mode} targets, "
          f"{c.model} model")
  psnr = (f"PSNR on {metrics.get('n_test', '?')} test images: corrupted "
          f"{metrics['psnr_corrupted_db']:.2f} dB, restored {metrics['psnr_restored_db']:.2f} dB")
  if metrics.get("psnr_baseline_db") is not None:
    psnr += f", {metrics.get('baseline') or 'baseline'} {metrics['psnr_baseline_db']:.2f} dB"
  if metrics.get("psnr_mean_image_db") is not None:
    psnr += f", mean image {metrics['psnr_mean_image_db']:.2f} dB"
  lines = [head, psnr]
  acc = [(k[len("accuracy_"):], float(metrics[k])) for k in
         ("accuracy_clean", "accuracy_corrupted", "accuracy_restored")
         if metrics.get(k) is not None]
  if acc:
    lines.append("reference classifier's accuracy: " + ", ".join(
        f"{name} {v * 100 if v <= 1 else v:.1f}%" for name, v in acc))
  return "\n".join(lines)


def save_figure(config: DenoiseConfig, images: dict, metrics: dict, path: str,
                dataset: str = "", n: int = N_SHOWN) -> list[str]:
  """``denoise.png`` (and its PDF): the first ``n`` test images in bands of 12, rows clean /
  corrupted / restored, titled by ``figure_title``; returns the paths written."""
  from sdae import viz  # pylint: disable=g-import-not-at-top
  rows = [("clean", images["clean"][:n]),
          (f"corrupted\n({corruption_text(config)})", images["corrupted"][:n]),
          ("restored", images["restored"][:n])]
  return viz.save_rows(rows, path, figure_title(config, metrics, dataset), cols=12)


def header(c: DenoiseConfig, dataset: str, data_source: str, n_train: int, n_test: int,
           workdir: str, preset: str | None = None) -> dict[str, str]:
  """The lines that open a run's progress display."""
  hidden = ",".join(map(str, c.hidden))
  return {
      "dataset": f"{dataset}, {data_source} data",
      "examples": f"train {n_train}, test {n_test}",
      "model": f"{c.model} denoiser ({'channels' if c.model == 'conv' else 'hidden'} {hidden}), "
               f"{c.output} output, {c.loss} loss, Adam lr {c.lr:g}"
               + (", GroupNorm" if c.norm == "group" else ""),
      "corruption": f"{corruption_text(c)}, {c.mode} targets",
      "training": f"{c.epochs} epochs, minibatch {c.batch_size}, {c.schedule} learning rate, "
                  f"seed {c.seed}" + (f" (preset {preset})" if preset else ""),
      "device": f"{jax.devices()[0].platform} ({jax.device_count()} device"
                f"{'s' * (jax.device_count() > 1)})",
      "workdir": workdir,
  }
