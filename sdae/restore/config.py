"""What a denoising run is (``DenoiseConfig``) and its validation at the boundary.

``validate`` checks a config before anything is compiled and raises ValueError with one line
naming the flag, the value seen and what is accepted; it returns the config with the defaults
that depend on other fields filled in (``resolved``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import numpy as np

from sdae import corruption as corruption_lib
from sdae.configs import denoise as denoise_configs
from sdae.restore.models import MODELS, NORMS, OUTPUTS, ModelConfig, conv_output_side
from sdae.restore.models import default_hidden

MODES = ("clean", "noise2noise", "superres")
LOSSES = ("squared", "cross_entropy", "l1")
SCHEDULES = ("constant", "cosine")
# Noise2Noise needs E[target | x] = x: zero-mean additive noise only.
NOISE2NOISE_CORRUPTIONS = ("gaussian",)
SUPERRES_FACTOR = 2

@dataclasses.dataclass(frozen=True)
class DenoiseConfig:
  """A denoising run: what corrupts, what the model is, how it trains."""

  mode: str = "clean"  # clean | noise2noise | superres
  corruption: str | None = "gaussian"  # None for superres
  level: float | None = None  # None: sdae.configs.denoise.DEFAULT_LEVELS[corruption]
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
  norm: str = "none"  # conv only: none | group
  schedule: str = "constant"  # learning rate: constant | cosine (decays to 0 over the run)

  def resolved(self) -> "DenoiseConfig":
    """Fills the defaults that depend on other fields."""
    c = self
    if c.mode == "superres":
      c = dataclasses.replace(c, corruption=None, level=None)
    elif c.level is None and c.corruption in denoise_configs.DEFAULT_LEVELS:
      c = dataclasses.replace(c, level=denoise_configs.DEFAULT_LEVELS[c.corruption])
    if c.hidden is None:
      c = dataclasses.replace(c, hidden=default_hidden(c.model))
    return c

  def model_config(self) -> ModelConfig:
    c = self.resolved()
    in_side = c.side // SUPERRES_FACTOR if c.mode == "superres" else c.side
    return ModelConfig(model=c.model, hidden=tuple(c.hidden), kernels=tuple(c.kernels),
                       strides=tuple(c.strides), in_side=in_side, out_side=c.side,
                       output=c.output, norm=c.norm)

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
  _choices("norm", config.norm, NORMS)
  _choices("schedule", config.schedule, SCHEDULES)
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
