"""Scoring a denoiser: MSE and PSNR, restored images in jitted chunks, and ``evaluate`` on a test
set (corrupted input, restored output, and for super-resolution the bilinear baseline).

Conventions. Images are float32 in [0, 1] with ink = 1 (MNIST: white digit on black). MSE is
the mean over pixels and images; PSNR is ``10 log10(1 / MSE)`` of that dataset-level MSE (peak
1), on images clipped to [0, 1]. For super-resolution the "corrupted" figures compare the 14x14
input replicated to 28x28 (nearest neighbour) with the original.
"""

from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from sdae.restore.config import DenoiseConfig
from sdae.restore.train import make_pair_fn, upsample_bilinear, upsample_nearest

Array = jax.Array


def mse(a, b) -> Array:
  """Mean squared error over all pixels of images in [0, 1] (both clipped to [0, 1])."""
  a = jnp.clip(jnp.asarray(a, jnp.float32), 0.0, 1.0)
  b = jnp.clip(jnp.asarray(b, jnp.float32), 0.0, 1.0)
  return jnp.mean(jnp.square(a - b))


def psnr_from_mse(m, peak: float = 1.0):
  """Peak signal-to-noise ratio in dB: ``10 log10(peak^2 / mse)``."""
  return 10.0 * jnp.log10(peak * peak / jnp.asarray(m, jnp.float32))


def psnr(a, b, peak: float = 1.0) -> Array:
  return psnr_from_mse(mse(a, b), peak)


def predict(model: nn.Module, params, x, batch_size: int = 500) -> np.ndarray:
  """Restored images for inputs ``x`` [n, h, w], in jitted chunks (last chunk padded)."""
  x = np.asarray(x, np.float32)
  n = x.shape[0]
  apply = _jitted_apply(model)
  outs = []
  for start in range(0, n, batch_size):
    chunk = x[start:start + batch_size]
    pad = batch_size - len(chunk) if n > batch_size else 0
    if pad:
      chunk = np.concatenate([chunk, np.zeros((pad,) + chunk.shape[1:], chunk.dtype)])
    out = np.asarray(apply(params, chunk))
    outs.append(out[:len(out) - pad] if pad else out)
  return np.concatenate(outs) if outs else np.zeros((0,), np.float32)


_APPLY_CACHE: dict[nn.Module, Callable] = {}


def _jitted_apply(model: nn.Module) -> Callable:
  if model not in _APPLY_CACHE:
    _APPLY_CACHE[model] = jax.jit(lambda p, x: model.apply({"params": p}, x))
  return _APPLY_CACHE[model]


def as_images(x, side: int) -> np.ndarray:
  """``[n, side*side]`` or ``[n, side, side]`` -> float32 ``[n, side, side]``."""
  x = np.asarray(x, np.float32)
  return x.reshape(x.shape[0], side, side)


def evaluate(model: nn.Module, params, config: DenoiseConfig, x_test, key: Array) -> dict:
  """MSE/PSNR on the test set of the corrupted input, the restored output and the baseline.

  Returns the figures plus the arrays ``clean``, ``corrupted`` (what a viewer sees: for
  super-resolution the 14x14 input replicated to 28x28) and ``restored`` under ``"images"``.
  """
  c = config.resolved()
  clean = as_images(x_test, c.side)
  pair = make_pair_fn(c.mode, c.corruption)
  level = jnp.asarray(c.level or 0.0, jnp.float32)
  inputs = np.asarray(jax.jit(lambda k, x: pair(k, x, level)[0])(key, clean))
  restored = predict(model, params, inputs)
  if c.mode == "superres":
    shown = np.asarray(upsample_nearest(inputs))
    baseline = np.asarray(upsample_bilinear(inputs))
  else:
    shown, baseline = inputs, None
  m_cor, m_res = float(mse(shown, clean)), float(mse(restored, clean))
  out = {
      "mse_corrupted": m_cor,
      "mse_restored": m_res,
      "psnr_corrupted_db": float(psnr_from_mse(m_cor)),
      "psnr_restored_db": float(psnr_from_mse(m_res)),
      "mse_baseline": None,
      "psnr_baseline_db": None,
      "baseline": None,
      "n_test": int(clean.shape[0]),
  }
  if baseline is not None:
    m_base = float(mse(baseline, clean))
    out.update(mse_baseline=m_base, psnr_baseline_db=float(psnr_from_mse(m_base)),
               baseline="bilinear")
  out["psnr_gain_db"] = out["psnr_restored_db"] - out["psnr_corrupted_db"]
  out["images"] = {"clean": clean, "corrupted": np.clip(shown, 0, 1), "restored": restored}
  return out


def eval_key(seed: int) -> Array:
  """The key of the test-set corruption: fixed per seed and distinct from training keys."""
  return jax.random.fold_in(jax.random.key(seed), 2**31 - 1)
