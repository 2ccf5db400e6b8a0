"""A trained denoiser on disk, and applied to the user's own images.

``save_denoiser`` / ``load_denoiser`` store params (flax msgpack) plus a JSON model config, so
a trained denoiser can be applied later: ``restore_images`` reads the user's PNGs or ``.npy``
arrays (``read_images``: every input checked before anything is written) and writes the
restored images under the same names. Every file is written atomically.
"""

from __future__ import annotations

import io
import json
import os
from typing import Any

import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

from sdae.io import files as fileio
from sdae.restore.evaluate import predict
from sdae.restore.models import ModelConfig

CONFIG_FILE = "denoiser.json"
PARAMS_FILE = "denoiser.msgpack"


def save_denoiser(workdir: str, model_config: ModelConfig, params,
                  extra: dict | None = None) -> None:
  """Writes ``workdir/denoiser.msgpack`` (params) and ``workdir/denoiser.json`` (model config
  plus ``extra``, e.g. the corruption it was trained for). Params first, so a config file
  always points at complete params."""
  params = jax.device_get(params)
  fileio.write_bytes(os.path.join(workdir, PARAMS_FILE), flax.serialization.to_bytes(params))
  fileio.write_json(os.path.join(workdir, CONFIG_FILE),
                    {"model": model_config.to_dict(), **(extra or {})}, sort_keys=True)


def load_denoiser(workdir: str) -> tuple[ModelConfig, nn.Module, Any, dict]:
  """(model config, module, params, saved JSON) of a denoiser saved by ``save_denoiser``.

  Raises FileNotFoundError (naming the file and how to make it) or ValueError (corrupt files).
  """
  cfg_path = os.path.join(workdir, CONFIG_FILE)
  par_path = os.path.join(workdir, PARAMS_FILE)
  for p in (cfg_path, par_path):
    if not os.path.isfile(p):
      raise FileNotFoundError(
          f"--workdir={workdir}: no trained denoiser ({p} is missing); train one first with "
          f"python -m experiments.denoise --dataset=mnist --corruption=... --workdir={workdir}")
  try:
    with open(cfg_path) as f:
      saved = json.load(f)
    mc = ModelConfig.from_dict(saved["model"])
  except (ValueError, KeyError, TypeError) as e:
    raise ValueError(f"{cfg_path}: not a denoiser config ({e})") from None
  model = mc.build()
  abstract = jax.eval_shape(lambda: model.init(
      jax.random.key(0), jnp.zeros((1, mc.in_side, mc.in_side), jnp.float32), logits=True))
  template = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), abstract["params"])
  try:
    with open(par_path, "rb") as f:
      params = flax.serialization.from_bytes(template, f.read())
  except Exception as e:  # msgpack raises several types on corrupt input.
    raise ValueError(f"{par_path}: cannot restore params for {mc.model} model ({e})") from None
  return mc, model, params, saved


IMAGE_SUFFIXES = (".png",)


def read_images(path: str, side: int) -> tuple[np.ndarray, list[str], str]:
  """Reads the user's images for a model that takes ``side x side`` inputs.

  ``path`` is a ``.npy`` array ``[n, side, side]``, ``[n, side*side]`` or ``[n, side, side, 1]``
  (float in [0, 1], or uint8 scaled by 1/255), a single ``.png``, or a folder of ``.png`` files.
  PNGs must be single-channel grayscale (8 or 16 bit), ``side x side``; RGB/RGBA/palette images
  are rejected rather than silently converted. Returns (images [n, side, side] float32 in
  [0, 1], names, kind) where kind is ``"npy"``, ``"npy_flat"`` or ``"png"``.
  Raises ValueError / FileNotFoundError with one-line messages naming the file.
  """
  if not os.path.exists(path):
    raise FileNotFoundError(f"--input={path}: no such file or folder")
  if os.path.isdir(path):
    names = sorted(f for f in os.listdir(path) if f.lower().endswith(IMAGE_SUFFIXES))
    if not names:
      raise ValueError(f"--input={path}: folder holds no .png files; accepted: a folder of "
                       "grayscale .png images, one .png, or a .npy array")
    images = np.stack([_read_png(os.path.join(path, f), side) for f in names])
    return images, names, "png"
  if path.lower().endswith(".npy"):
    try:
      a = np.load(path, allow_pickle=False)
    except Exception as e:
      raise ValueError(f"--input={path}: cannot read as a .npy array ({e})") from None
    return _check_array(a, path, side)
  if path.lower().endswith(IMAGE_SUFFIXES):
    return _read_png(path, side)[None], [os.path.basename(path)], "png"
  raise ValueError(f"--input={path}: unsupported file; accepted: a folder of .png, a .png, "
                   "or a .npy array")


def _check_array(a: np.ndarray, path: str, side: int) -> tuple[np.ndarray, list[str], str]:
  expected = (f"accepted: [n, {side}, {side}], [n, {side * side}] or [n, {side}, {side}, 1] "
              "with values in [0, 1]")
  if a.dtype == np.uint8:
    a = a.astype(np.float32) / 255.0
  elif not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
    raise ValueError(f"--input={path}: dtype {a.dtype} is not numeric; {expected}")
  kind = "npy"
  if a.ndim == 4:
    if a.shape[-1] != 1:
      raise ValueError(f"--input={path}: images have {a.shape[-1]} channels (shape "
                       f"{list(a.shape)}); the denoiser takes 1 channel; {expected}")
    a = a[..., 0]
  if a.ndim == 2 and a.shape[1] == side * side:
    kind, a = "npy_flat", a.reshape(-1, side, side)
  if a.ndim != 3 or a.shape[1:] != (side, side):
    raise ValueError(f"--input={path}: shape {list(a.shape)} does not fit this denoiser's "
                     f"{side}x{side} images; {expected}")
  a = a.astype(np.float32)
  if not np.all(np.isfinite(a)):
    raise ValueError(f"--input={path}: array holds NaN or inf values; {expected}")
  return a, [os.path.splitext(os.path.basename(path))[0]], kind


def _read_png(path: str, side: int) -> np.ndarray:
  from PIL import Image, UnidentifiedImageError
  try:
    with Image.open(path) as img:
      mode, size = img.mode, img.size
      if mode not in ("L", "I;16", "I;16B", "I;16L", "I", "1"):
        bands = len(img.getbands())
        raise ValueError(
            f"--input={path}: image mode {mode} has {bands} channel{'s' * (bands > 1)}; "
            "accepted: 1-channel grayscale PNGs (convert first, e.g. "
            "PIL Image.convert('L'))")
      if size != (side, side):
        raise ValueError(f"--input={path}: image is {size[0]}x{size[1]} pixels; this denoiser "
                         f"takes {side}x{side}")
      a = np.asarray(img)
  except (UnidentifiedImageError, OSError) as e:
    raise ValueError(f"--input={path}: cannot read as a PNG ({e})") from None
  if mode == "1":
    return a.astype(np.float32)
  peak = 255.0 if a.dtype == np.uint8 else 65535.0
  return a.astype(np.float32) / peak


def restore_images(workdir: str, input_path: str, output_dir: str) -> list[str]:
  """Applies the denoiser saved in ``workdir`` to ``input_path``; writes results under
  ``output_dir`` with the input's names (PNGs as 8-bit grayscale at the model's output size,
  a .npy as a .npy of the same layout). All inputs are checked before anything is written.
  Returns the written paths."""
  from sdae import viz
  mc, model, params, _ = load_denoiser(workdir)
  images, names, kind = read_images(input_path, mc.in_side)
  restored = np.clip(predict(model, params, images), 0.0, 1.0)
  os.makedirs(output_dir, exist_ok=True)
  written = []
  if kind == "png":
    for name, img in zip(names, restored):
      out = os.path.join(output_dir, name)
      viz.save_gray(img, out, scale=1)
      written.append(out)
  else:
    arr = restored.reshape(len(restored), -1) if kind == "npy_flat" else restored
    out = os.path.join(output_dir, names[0] + ".npy")
    buf = npy_bytes(arr.astype(np.float32))
    fileio.write_bytes(out, buf)
    written.append(out)
  return written


def npy_bytes(a: np.ndarray) -> bytes:
  """The bytes of ``a`` as a ``.npy`` file."""
  f = io.BytesIO()
  np.save(f, a, allow_pickle=False)
  return f.getvalue()
