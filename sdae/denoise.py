"""Denoising autoencoders as image restorers: dense and convolutional models, Noise2Noise,
super-resolution, PSNR; saving a trained denoiser and applying it to new images.

Everything here is a pure function of explicit arguments (parameters, optimizer state, PRNG key,
data, level), so it composes with ``jax.jit``, ``jax.vmap`` and ``jax.lax.scan``:

* ``DenseDenoiser`` / ``ConvDenoiser`` are Flax Linen modules; ``model.apply({"params": p}, x)``
  maps images ``[n, h, w]`` to restored images ``[n, H, W]`` in [0, 1] (``logits=True`` returns
  the pre-activation output, which the cross-entropy loss takes).
* ``make_pair_fn`` turns a mode into ``(key, x_clean, level) -> (model input, target)``:
  ``clean`` (corrupted input, clean target), ``noise2noise`` (corrupted input, independently
  corrupted target; only for zero-mean additive noise, i.e. ``gaussian``) and ``superres``
  (2x average pool as the corruption, the clean 28x28 image as the target).
* ``fit`` trains any such model: a pure jitted epoch that shuffles on device and runs
  ``jax.lax.scan`` over minibatches, with keys ``fold_in(fold_in(key, epoch), step)``.
* ``evaluate`` computes MSE and PSNR of the corrupted input, the restored output and (for
  super-resolution) the bilinear baseline on a test set.
* ``save_denoiser`` / ``load_denoiser`` store params (flax msgpack) plus a JSON model config, so
  a trained denoiser can be applied later (``restore_images``, ``read_images``).

Conventions. Images are float32 in [0, 1] with ink = 1 (MNIST: white digit on black). MSE is
the mean over pixels and images; PSNR is ``10 log10(1 / MSE)`` of that dataset-level MSE (peak
1), on images clipped to [0, 1]. For super-resolution the "corrupted" figures compare the 14x14
input replicated to 28x28 (nearest neighbour) with the original.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from typing import Any, Callable, Sequence

import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax

from sdae import corruption as corruption_lib
from sdae import fileio
from sdae import model as model_lib

Array = jax.Array

MODELS = ("dense", "conv")
MODES = ("clean", "noise2noise", "superres")
LOSSES = ("squared", "cross_entropy", "l1")
OUTPUTS = ("sigmoid", "identity")
# Noise2Noise needs E[target | x] = x: zero-mean additive noise only.
NOISE2NOISE_CORRUPTIONS = ("gaussian",)
SUPERRES_FACTOR = 2

# Course defaults (Fleuret 7.3) and a usual Gaussian level.
DEFAULT_LEVELS = {"erasure": 0.9, "blur": 4.0, "block": 10 / 28, "gaussian": 0.5,
                  "masking": 0.5, "salt_pepper": 0.5, "none": 0.0}

CONFIG_FILE = "denoiser.json"
PARAMS_FILE = "denoiser.msgpack"


# ----------------------------------------------------------------------------------------------
# Models.


class DenseDenoiser(nn.Module):
  """MLP ``in_side^2 -> hidden... -> out_side^2``, ReLU hidden units, sigmoid/identity output.

  ``hidden=(10,)`` is the course's 784-10-784 denoiser.
  """

  hidden: Sequence[int] = (512,)
  out_side: int = 28
  output: str = "sigmoid"

  @nn.compact
  def __call__(self, x: Array, *, logits: bool = False) -> Array:
    n = x.shape[0]
    h = x.reshape(n, -1)
    for width in self.hidden:
      h = nn.relu(nn.Dense(width)(h))
    z = nn.Dense(self.out_side * self.out_side)(h).reshape(n, self.out_side, self.out_side)
    return z if logits else _activate(z, self.output)


class ConvDenoiser(nn.Module):
  """Convolutional autoencoder: ``len(channels)`` VALID convolutions (some strided), then the
  mirrored transposed convolutions back to one channel, ReLU between, sigmoid/identity output.

  The course's 5+5 model (Fleuret 7.3) is ``kernels=(5, 5, 4, 3, 4)``: 28 -> 24 -> 20 -> 9 -> 4
  -> 1 pixels, narrowing to ``channels[-1] = 8`` channels (an 8-number code), and back. The
  default ends with a 1x1 convolution instead (28 -> 24 -> 20 -> 9 -> 4 -> 4: a 4x4x8 code),
  which trains in a few hundred steps; the 1x1-pixel code collapsed to a constant black output
  in the same budget (notes/denoise.md). ``upsample > 1`` first replicates each
  input pixel (nearest neighbour), so a 14x14 input feeds the same 28x28 network
  (super-resolution). Inputs are shifted by ``-center`` (0.5: pixels in [-0.5, 0.5]) so that
  a mostly white input (erasure 0.9) does not saturate the first layers.
  """

  channels: Sequence[int] = (16, 16, 16, 16, 8)
  kernels: Sequence[int] = (5, 5, 4, 3, 1)
  strides: Sequence[int] = (1, 1, 2, 2, 1)
  upsample: int = 1
  output: str = "sigmoid"
  center: float = 0.5

  @nn.compact
  def __call__(self, x: Array, *, logits: bool = False) -> Array:
    x = x - self.center
    if self.upsample > 1:
      x = jnp.repeat(jnp.repeat(x, self.upsample, axis=-2), self.upsample, axis=-1)
    h = x[..., None]  # NHWC
    for c, k, s in zip(self.channels, self.kernels, self.strides):
      h = nn.relu(nn.Conv(c, (k, k), strides=(s, s), padding="VALID")(h))
    # Decoder: mirror of the encoder; layer i undoes encoder layer n-1-i.
    outs = list(self.channels[:-1])[::-1] + [1]
    for i, (c, k, s) in enumerate(zip(outs, self.kernels[::-1], self.strides[::-1])):
      h = nn.ConvTranspose(c, (k, k), strides=(s, s), padding="VALID")(h)
      if i < len(outs) - 1:
        h = nn.relu(h)
    z = h[..., 0]
    return z if logits else _activate(z, self.output)


def _activate(z: Array, output: str) -> Array:
  return jax.nn.sigmoid(z) if output == "sigmoid" else z


def conv_output_side(side: int, kernels: Sequence[int], strides: Sequence[int]) -> tuple[int, int]:
  """(bottleneck side, decoded side) of ``ConvDenoiser`` on ``side x side`` input."""
  s = side
  for k, st in zip(kernels, strides):
    if s < k:
      return 0, 0
    s = (s - k) // st + 1
  bottleneck = s
  for k, st in zip(kernels[::-1], strides[::-1]):
    s = s * st + max(k - st, 0)
  return bottleneck, s


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Everything needed to rebuild a trained denoiser (saved beside its params)."""

  model: str = "conv"  # dense | conv
  hidden: tuple[int, ...] = (16, 16, 16, 16, 8)  # dense: hidden widths; conv: channels
  kernels: tuple[int, ...] = (5, 5, 4, 3, 1)  # conv only
  strides: tuple[int, ...] = (1, 1, 2, 2, 1)  # conv only
  in_side: int = 28  # side of the images the model takes (14 for super-resolution)
  out_side: int = 28
  output: str = "sigmoid"
  center: float = 0.5  # conv only: inputs are shifted by -center

  def build(self) -> nn.Module:
    if self.model == "dense":
      return DenseDenoiser(hidden=tuple(self.hidden), out_side=self.out_side, output=self.output)
    return ConvDenoiser(channels=tuple(self.hidden), kernels=tuple(self.kernels),
                        strides=tuple(self.strides), upsample=self.out_side // self.in_side,
                        output=self.output, center=self.center)

  def to_dict(self) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

  @classmethod
  def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
    fields = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in fields})


def default_hidden(model: str) -> tuple[int, ...]:
  """Conv: the course's 5+5 stack at width 16 (the course's width 32 costs 4x on a CPU)."""
  return (16, 16, 16, 16, 8) if model == "conv" else (512,)


# ----------------------------------------------------------------------------------------------
# Training configuration and validation at the boundary.


@dataclasses.dataclass(frozen=True)
class DenoiseConfig:
  """A denoising run: what corrupts, what the model is, how it trains."""

  mode: str = "clean"  # clean | noise2noise | superres
  corruption: str | None = "gaussian"  # None for superres
  level: float | None = None  # None: DEFAULT_LEVELS[corruption]
  model: str = "conv"
  hidden: tuple[int, ...] | None = None  # None: default_hidden(model)
  kernels: tuple[int, ...] = (5, 5, 4, 3, 1)
  strides: tuple[int, ...] = (1, 1, 2, 2, 1)
  loss: str = "cross_entropy"
  output: str = "sigmoid"
  epochs: int = 5
  batch_size: int = 64
  lr: float = 1e-3
  seed: int = 0
  side: int = 28

  def resolved(self) -> "DenoiseConfig":
    """Fills the defaults that depend on other fields."""
    c = self
    if c.mode == "superres":
      c = dataclasses.replace(c, corruption=None, level=None)
    elif c.level is None and c.corruption in DEFAULT_LEVELS:
      c = dataclasses.replace(c, level=DEFAULT_LEVELS[c.corruption])
    if c.hidden is None:
      c = dataclasses.replace(c, hidden=default_hidden(c.model))
    return c

  def model_config(self) -> ModelConfig:
    c = self.resolved()
    in_side = c.side // SUPERRES_FACTOR if c.mode == "superres" else c.side
    return ModelConfig(model=c.model, hidden=tuple(c.hidden), kernels=tuple(c.kernels),
                       strides=tuple(c.strides), in_side=in_side, out_side=c.side,
                       output=c.output)

  def to_dict(self) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v
            for k, v in dataclasses.asdict(self.resolved()).items()}


def _choices(name: str, value, accepted: Sequence[str]) -> None:
  if value not in accepted:
    raise ValueError(f"--{name}={value!r} is not accepted; accepted: {', '.join(accepted)}")


def validate(config: DenoiseConfig) -> DenoiseConfig:
  """Checks a config at the boundary (before any compilation); returns it resolved.

  Raises ValueError with a one-line message naming the flag, the value and what is accepted.
  """
  _choices("mode", config.mode, MODES)
  _choices("model", config.model, MODELS)
  _choices("loss", config.loss, LOSSES)
  _choices("output", config.output, OUTPUTS)
  if config.mode != "superres":
    if not config.corruption:
      raise ValueError(f"--corruption is required for --mode={config.mode}; accepted: "
                       f"{', '.join(corruption_lib.names())}")
    if config.corruption not in corruption_lib.CORRUPTIONS:
      raise ValueError(f"--corruption={config.corruption!r} is not accepted; accepted: "
                       f"{', '.join(corruption_lib.names())}")
    if config.level is not None:
      try:
        corruption_lib.validate(config.corruption, config.level)
      except ValueError as e:
        raise ValueError(f"--level={config.level:g}: {e}") from None
  if config.mode == "noise2noise" and config.corruption not in NOISE2NOISE_CORRUPTIONS:
    raise ValueError(
        f"--corruption={config.corruption!r} cannot be used with --mode=noise2noise (needs "
        f"zero-mean additive noise so that E[target] is the clean image); accepted: "
        f"{', '.join(NOISE2NOISE_CORRUPTIONS)}")
  for name in ("epochs", "batch_size"):
    v = getattr(config, name)
    if not isinstance(v, (int, np.integer)) or v <= 0:
      raise ValueError(f"--{name}={v} is not accepted; accepted: a positive integer")
  if not (math.isfinite(config.lr) and config.lr > 0):
    raise ValueError(f"--lr={config.lr} is not accepted; accepted: a positive finite number")
  if config.loss == "cross_entropy" and config.output != "sigmoid":
    raise ValueError("--loss=cross_entropy needs --output=sigmoid (it is computed from logits)")
  c = config.resolved()
  if c.level is None and c.mode != "superres":
    raise ValueError(f"--level is required for --corruption={c.corruption!r}")
  if not c.hidden or any(int(h) <= 0 for h in c.hidden):
    raise ValueError(f"--hidden={','.join(map(str, c.hidden or ()))} is not accepted; "
                     "accepted: comma-separated positive integers")
  if c.model == "conv":
    if not (len(c.hidden) == len(c.kernels) == len(c.strides)):
      raise ValueError(
          f"--hidden={','.join(map(str, c.hidden))} has {len(c.hidden)} conv layers but "
          f"kernels={list(c.kernels)} and strides={list(c.strides)} have {len(c.kernels)} and "
          f"{len(c.strides)}; accepted: three lists of equal length")
    if any(k <= 0 for k in c.kernels) or any(s <= 0 for s in c.strides):
      raise ValueError(f"conv kernels {list(c.kernels)} and strides {list(c.strides)} must be "
                       "positive")
    _, decoded = conv_output_side(c.side, c.kernels, c.strides)
    if decoded != c.side:
      raise ValueError(
          f"conv kernels={list(c.kernels)}, strides={list(c.strides)} decode {c.side}x{c.side} "
          f"images to {decoded}x{decoded}; accepted: a stack that returns to {c.side}x{c.side} "
          "(e.g. kernels 5,5,4,3,1 strides 1,1,2,2,1)")
  return c


# ----------------------------------------------------------------------------------------------
# Corruption pairs, losses, metrics.


def downsample(x: Array, factor: int = SUPERRES_FACTOR) -> Array:
  """Average pool by ``factor`` over the last two axes: ``[..., h, w] -> [..., h/f, w/f]``."""
  *lead, h, w = x.shape
  return x.reshape(*lead, h // factor, factor, w // factor, factor).mean(axis=(-3, -1))


def upsample_nearest(x: Array, factor: int = SUPERRES_FACTOR) -> Array:
  return jnp.repeat(jnp.repeat(x, factor, axis=-2), factor, axis=-1)


def upsample_bilinear(x: Array, factor: int = SUPERRES_FACTOR) -> Array:
  """The super-resolution baseline: bilinear interpolation (half-pixel centres)."""
  *lead, h, w = x.shape
  return jax.image.resize(x, (*lead, h * factor, w * factor), "bilinear")


PairFn = Callable[[Array, Array, Array], tuple[Array, Array]]


def make_pair_fn(mode: str, corruption: str | None) -> PairFn:
  """``(key, x_clean, level) -> (model input, target)`` for a mode; pure and jittable."""
  if mode == "superres":
    return lambda key, x, level: (downsample(x), x)
  corrupt = corruption_lib.get(corruption)
  if mode == "clean":
    return lambda key, x, level: (corrupt(key, x, level), x)
  if mode == "noise2noise":
    def pair(key, x, level):
      k_in, k_target = jax.random.split(key)
      return corrupt(k_in, x, level), corrupt(k_target, x, level)
    return pair
  raise ValueError(f"unknown mode {mode!r}; accepted: {', '.join(MODES)}")


def loss_fn(name: str, z: Array, target: Array, output: str = "sigmoid") -> Array:
  """Mean per-pixel loss of pre-activation ``z`` against ``target``.

  ``squared``: (s(z) - t)^2; ``l1``: |s(z) - t| (its minimiser is the median: the
  median-seeking Noise2Noise variant); ``cross_entropy``: sigmoid cross-entropy from logits
  (linear in the target, so its minimiser is still E[t] when targets are noisy).
  """
  if name == "cross_entropy":
    return jnp.mean(model_lib.sigmoid_cross_entropy(z, target))
  y = _activate(z, output)
  if name == "squared":
    return jnp.mean(jnp.square(y - target))
  if name == "l1":
    return jnp.mean(jnp.abs(y - target))
  raise ValueError(f"unknown loss {name!r}; accepted: {', '.join(LOSSES)}")


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


# ----------------------------------------------------------------------------------------------
# Training: a pure jitted epoch, lax.scan over minibatches, data on device.


@dataclasses.dataclass(frozen=True)
class TrainResult:
  params: Any
  losses: np.ndarray  # mean training loss per epoch
  seconds: float


def fit(model: nn.Module, x_train, pair_fn: PairFn, loss: Callable[[Array, Array], Array],
        *, key: Array, epochs: int, batch_size: int, lr: float, level=0.0,
        params=None, loop: str = "auto",
        log: Callable[[str], None] | None = None, progress=None) -> TrainResult:
  """Trains ``model`` (pre-activation output ``model.apply(v, x, logits=True)``) with Adam.

  ``pair_fn(key, x, level) -> (input, target)`` makes each minibatch; ``loss(z, target)``
  scores it. One epoch is one jitted call: an on-device permutation from
  ``fold_in(k_perm, epoch)``, then ``lax.scan`` over ``n // batch_size`` minibatches whose keys
  are ``fold_in(fold_in(k_noise, epoch), step)`` (the tail of a permutation is dropped).
  ``level`` is a traced argument: changing it does not recompile.

  ``loop``: ``"scan"`` (one jitted call per epoch), ``"step"`` (one jitted call per minibatch,
  the same pure step, keys and batches: identical results up to float reassociation) or
  ``"auto"``: ``"step"`` for models with convolutions on CPU, else ``"scan"``. Why: XLA:CPU runs
  convolutions inside a while loop (a rolled ``lax.scan``) about 5x slower than the same step
  at top level (measured: 7.3 s vs 1.4 s per step of the 16-channel conv model, batch 64), and
  unrolling the scan makes compilation grow with the number of steps.

  ``log`` gets one line per epoch; ``progress`` (an ``sdae.progress.Progress``) shows the epochs
  as one phase, with an ETA from the epochs after the first (which includes compilation).
  """
  x_train = jnp.asarray(x_train, jnp.float32)
  n = x_train.shape[0]
  batch_size = min(batch_size, n)
  steps = n // batch_size
  k_init, k_perm, k_noise = jax.random.split(key, 3)
  if params is None:
    params = model.init(k_init, pair_fn(k_init, x_train[:1], level)[0], logits=True)["params"]
  tx = optax.adam(lr)
  opt_state = tx.init(params)

  def step_loss(p, x, key, level):
    inp, target = pair_fn(key, x, level)
    z = model.apply({"params": p}, inp, logits=True)
    return loss(z, target)

  def body(carry, inputs, level, k_epoch):
    params, opt_state = carry
    i, x = inputs
    value, grads = jax.value_and_grad(step_loss)(params, x, jax.random.fold_in(k_epoch, i),
                                                 level)
    with jax.numpy_dtype_promotion("standard"):  # optax's bias correction mixes dtypes
      updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), value

  @jax.jit
  def epoch_batches(x_all, epoch):
    perm = jax.random.permutation(jax.random.fold_in(k_perm, epoch), n)[:steps * batch_size]
    return x_all[perm].reshape(steps, batch_size, *x_all.shape[1:])

  @jax.jit
  def train_epoch_scan(params, opt_state, x_all, epoch, level):
    batches = epoch_batches(x_all, epoch)
    k_epoch = jax.random.fold_in(k_noise, epoch)
    (params, opt_state), values = jax.lax.scan(
        lambda c, inp: body(c, inp, level, k_epoch), (params, opt_state),
        (jnp.arange(steps), batches))
    return params, opt_state, jnp.mean(values)

  @jax.jit
  def train_step(params, opt_state, i, x, level, epoch):
    return body((params, opt_state), (i, x), level, jax.random.fold_in(k_noise, epoch))

  def train_epoch_steps(params, opt_state, x_all, epoch, level):
    batches = epoch_batches(x_all, epoch)
    values = []
    for i in range(steps):
      (params, opt_state), v = train_step(params, opt_state, jnp.int32(i), batches[i], level,
                                          epoch)
      values.append(v)
    return params, opt_state, jnp.mean(jnp.stack(values))

  if loop == "auto":
    has_conv = any("Conv" in k for k in _flat_keys(params))
    loop = "step" if has_conv and jax.default_backend() == "cpu" else "scan"
  if loop not in ("scan", "step"):
    raise ValueError(f"loop={loop!r}; accepted: auto, scan, step")
  train_epoch = train_epoch_scan if loop == "scan" else train_epoch_steps

  level = jnp.asarray(level, jnp.float32)
  losses = []
  start = time.perf_counter()
  for epoch in range(epochs):
    t0 = time.perf_counter()
    params, opt_state, value = train_epoch(params, opt_state, x_train, epoch, level)
    losses.append(float(value))  # waits for the epoch: dt is its time
    dt = time.perf_counter() - t0
    if progress is not None:
      progress.epoch("train denoiser", epoch + 1, epochs, seconds=dt,
                     examples_per_s=steps * batch_size / dt, loss=losses[-1])
    if log:
      log(f"epoch {epoch + 1}/{epochs}: train loss {losses[-1]:.5f} ({dt:.1f} s this epoch, "
          f"{time.perf_counter() - start:.1f} s since the start)")
  if progress is not None:
    progress.end_phase()
  return TrainResult(params=params, losses=np.asarray(losses),
                     seconds=time.perf_counter() - start)


def _flat_keys(tree) -> list[str]:
  return ["/".join(str(getattr(k, "key", k)) for k in path)
          for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]


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


def train_denoiser(config: DenoiseConfig, x_train, *, log=None,
                   progress=None) -> tuple[nn.Module, TrainResult]:
  """Trains the denoiser a (validated) config describes on clean images ``x_train``."""
  c = validate(config)
  mc = c.model_config()
  model = mc.build()
  x = as_images(x_train, c.side)
  result = fit(model, x, make_pair_fn(c.mode, c.corruption),
               lambda z, t: loss_fn(c.loss, z, t, c.output),
               key=jax.random.key(c.seed), epochs=c.epochs, batch_size=c.batch_size, lr=c.lr,
               level=c.level or 0.0, log=log, progress=progress)
  return model, result


def eval_key(seed: int) -> Array:
  """The key of the test-set corruption: fixed per seed and distinct from training keys."""
  return jax.random.fold_in(jax.random.key(seed), 2**31 - 1)


# ----------------------------------------------------------------------------------------------
# Saving, loading and applying a trained denoiser.


def atomic_write_bytes(path: str, data: bytes) -> None:
  fileio.write_bytes(path, data)


def atomic_write_json(path: str, obj) -> None:
  atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def save_denoiser(workdir: str, model_config: ModelConfig, params,
                  extra: dict | None = None) -> None:
  """Writes ``workdir/denoiser.msgpack`` (params) and ``workdir/denoiser.json`` (model config
  plus ``extra``, e.g. the corruption it was trained for). Params first, so a config file
  always points at complete params."""
  params = jax.device_get(params)
  atomic_write_bytes(os.path.join(workdir, PARAMS_FILE), flax.serialization.to_bytes(params))
  atomic_write_json(os.path.join(workdir, CONFIG_FILE),
                    {"model": model_config.to_dict(), **(extra or {})})


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
    buf = _npy_bytes(arr.astype(np.float32))
    atomic_write_bytes(out, buf)
    written.append(out)
  return written


def _npy_bytes(a: np.ndarray) -> bytes:
  import io
  f = io.BytesIO()
  np.save(f, a, allow_pickle=False)
  return f.getvalue()


# ----------------------------------------------------------------------------------------------
# A whole run: train on clean images, evaluate on the test set, write results and the figure.

RESULTS_FILE = "denoise.json"
FIGURE_FILE = "denoise.png"
N_SHOWN = 36


def check_splits(splits: dict, side: int, dataset: str = "dataset") -> None:
  """ValueError unless train and test hold [n > 0, side * side] images."""
  for name in ("train", "test"):
    shape = np.shape(splits[name][0])
    if len(shape) != 2 or shape[1] != side * side or shape[0] == 0:
      raise ValueError(f"--dataset={dataset}: {name} images have shape {list(shape)}; "
                       f"accepted: datasets of {side}x{side} images ([n, {side * side}])")


def run(config: DenoiseConfig, splits: dict, workdir: str, *, data_source: str = "unknown",
        dataset: str = "unknown", train_size: int = 0, test_size: int = 0,
        log: Callable[[str], None] | None = None, progress=None) -> dict:
  """Trains a denoiser on ``splits["train"][0]``, evaluates it on ``splits["test"][0]``.

  Writes (each atomically) ``workdir/denoiser.msgpack`` + ``denoiser.json`` (the trained model,
  for ``restore_images``), ``workdir/denoise.png`` (rows original / corrupted / restored for the
  first 36 test images, in bands of 12) and last ``workdir/denoise.json`` (the figures of
  ``evaluate``, the resolved config, timings). ``train_size`` / ``test_size`` > 0 keep the
  first examples only. ``progress`` (an ``sdae.progress.Progress``) gets a header, the training
  epochs and a closing summary. Returns the results dict.
  """
  c = validate(config)
  start = time.perf_counter()
  x_train = np.asarray(splits["train"][0], np.float32)
  x_test = np.asarray(splits["test"][0], np.float32)
  if train_size:
    x_train = x_train[:train_size]
  if test_size:
    x_test = x_test[:test_size]
  check_splits(splits, c.side, dataset)
  if progress is not None:
    progress.header(_header(c, dataset, data_source, len(x_train), len(x_test), workdir))
  model, result = train_denoiser(c, x_train, log=log, progress=progress)
  t_train = time.perf_counter() - start
  metrics = evaluate(model, result.params, c, x_test, eval_key(c.seed))
  images = metrics.pop("images")
  t_total = time.perf_counter() - start
  mc = c.model_config()
  save_denoiser(workdir, mc, result.params,
                {"mode": c.mode, "corruption": c.corruption, "level": c.level,
                 "dataset": dataset})
  pictures = save_figure(c, images, metrics, os.path.join(workdir, FIGURE_FILE), dataset)
  results = {
      **metrics,
      "dataset": dataset,
      "data_source": data_source,
      "n_train": int(len(x_train)),
      "config": {**c.to_dict(), "train_size": int(train_size), "test_size": int(test_size)},
      "model": mc.to_dict(),
      "n_params": int(sum(np.size(p) for p in jax.tree.leaves(result.params))),
      "train_loss": [float(v) for v in result.losses],
      "seconds": {"train": round(t_train, 3), "total": round(t_total, 3)},
      "device": jax.devices()[0].platform,
  }
  atomic_write_json(os.path.join(workdir, RESULTS_FILE), results)
  if progress is not None:
    from sdae.progress import format_seconds  # pylint: disable=g-import-not-at-top
    progress.summary(
        f"done in {format_seconds(t_total)}: PSNR {results['psnr_corrupted_db']:.2f} dB corrupted -> "
        f"{results['psnr_restored_db']:.2f} dB restored ({results['n_test']} test images)",
        {"results": [os.path.join(workdir, RESULTS_FILE)], "pictures": pictures,
         "denoiser": [os.path.join(workdir, PARAMS_FILE), os.path.join(workdir, CONFIG_FILE)]})
  return results


def corruption_text(config: DenoiseConfig) -> str:
  """What corrupts the inputs: ``'gaussian σ=0.5'``, ``'2x average pool (14x14 input)'``."""
  from sdae import viz  # pylint: disable=g-import-not-at-top
  c = config.resolved()
  if c.mode == "superres":
    side = c.side // SUPERRES_FACTOR
    return f"{SUPERRES_FACTOR}x average pool ({side}x{side} input)"
  return viz.level_text(c.corruption, c.level)


def figure_title(config: DenoiseConfig, metrics: dict, dataset: str = "") -> str:
  """The title of ``denoise.png``: data, corruption, mode, model; PSNR of the corrupted and the
  restored test images (and the bilinear baseline); classifier accuracies on clean, corrupted and
  restored images where ``metrics`` has them (``accuracy_clean`` etc., fractions or percents)."""
  c = config.resolved()
  head = (f"{dataset + ': ' if dataset else ''}{corruption_text(c)}, {c.mode} targets, "
          f"{c.model} model")
  psnr = (f"PSNR on {metrics.get('n_test', '?')} test images: corrupted "
          f"{metrics['psnr_corrupted_db']:.2f} dB, restored {metrics['psnr_restored_db']:.2f} dB")
  if metrics.get("psnr_baseline_db") is not None:
    psnr += f", {metrics.get('baseline') or 'baseline'} {metrics['psnr_baseline_db']:.2f} dB"
  lines = [head, psnr]
  acc = [(k[len("accuracy_"):], float(metrics[k])) for k in
         ("accuracy_clean", "accuracy_corrupted", "accuracy_restored")
         if metrics.get(k) is not None]
  if acc:
    lines.append("classifier accuracy: " + ", ".join(
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


def _header(c: DenoiseConfig, dataset: str, data_source: str, n_train: int, n_test: int,
            workdir: str) -> dict[str, str]:
  hidden = ",".join(map(str, c.hidden))
  return {
      "dataset": f"{dataset}, {data_source} data",
      "examples": f"train {n_train}, test {n_test}",
      "model": f"{c.model} denoiser ({'channels' if c.model == 'conv' else 'hidden'} {hidden}), "
               f"{c.output} output, {c.loss} loss, Adam lr {c.lr:g}",
      "corruption": f"{corruption_text(c)}, {c.mode} targets",
      "training": f"{c.epochs} epochs, minibatch {c.batch_size}, seed {c.seed}",
      "device": f"{jax.devices()[0].platform} ({jax.device_count()} device"
                f"{'s' * (jax.device_count() > 1)})",
      "workdir": workdir,
  }
