"""Denoiser models: ``DenseDenoiser`` (an MLP) and ``ConvDenoiser`` (convolutions down to a
code, transposed convolutions back), and ``ModelConfig``, everything needed to rebuild one.

Both map images ``[n, h, w]`` to restored images ``[n, H, W]`` in [0, 1] (``logits=True``:
the pre-activation output, which the cross-entropy loss takes). Pure Flax Linen modules with no
mutable state: ``model.apply({"params": p}, x)``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array

MODELS = ("dense", "conv")
OUTPUTS = ("sigmoid", "identity")
NORMS = ("none", "group")

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
  -> 1 pixels, narrowing to ``channels[-1] = 8`` channels (an 8-number code), and back. Without
  normalization that stack collapsed to a constant output when tried; ``norm="group"`` (a
  one-group GroupNorm after every hidden layer but the code, per image, no batch statistics)
  makes it train (the ``course`` preset, ``sdae.configs.denoise``). The default ends with a 1x1
  convolution instead (28 -> 24 -> 20 -> 9 -> 4 -> 4: a 4x4x8 code). ``upsample > 1`` first
  replicates each input pixel (nearest neighbour), so a 14x14 input feeds the same 28x28
  network (super-resolution). Inputs are shifted by ``-center`` (0.5: pixels in [-0.5, 0.5])
  so that the first layers see centred values, whether the input is mostly background
  (erasure 0.9) or mostly grey (blur).
  """

  channels: Sequence[int] = (16, 16, 16, 16, 8)
  kernels: Sequence[int] = (5, 5, 4, 3, 1)
  strides: Sequence[int] = (1, 1, 2, 2, 1)
  upsample: int = 1
  output: str = "sigmoid"
  center: float = 0.5
  norm: str = "none"  # none | group

  def _norm(self, h: Array) -> Array:
    # One group: each image's feature map is normalized over all its pixels and channels
    # (no batch statistics, so training and inference are the same pure function).
    return nn.GroupNorm(num_groups=1)(h) if self.norm == "group" else h

  @nn.compact
  def __call__(self, x: Array, *, logits: bool = False) -> Array:
    x = x - self.center
    if self.upsample > 1:
      x = jnp.repeat(jnp.repeat(x, self.upsample, axis=-2), self.upsample, axis=-1)
    h = x[..., None]  # NHWC
    last = len(self.channels) - 1
    for i, (c, k, s) in enumerate(zip(self.channels, self.kernels, self.strides)):
      h = nn.Conv(c, (k, k), strides=(s, s), padding="VALID")(h)
      h = nn.relu(h if i == last else self._norm(h))  # the code itself is not normalized
    # Decoder: mirror of the encoder; layer i undoes encoder layer n-1-i.
    outs = list(self.channels[:-1])[::-1] + [1]
    for i, (c, k, s) in enumerate(zip(outs, self.kernels[::-1], self.strides[::-1])):
      h = nn.ConvTranspose(c, (k, k), strides=(s, s), padding="VALID")(h)
      if i < len(outs) - 1:
        h = nn.relu(self._norm(h))
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
  norm: str = "none"  # conv only: none | group (GroupNorm after each hidden layer)

  def build(self) -> nn.Module:
    if self.model == "dense":
      return DenseDenoiser(hidden=tuple(self.hidden), out_side=self.out_side, output=self.output)
    return ConvDenoiser(channels=tuple(self.hidden), kernels=tuple(self.kernels),
                        strides=tuple(self.strides), upsample=self.out_side // self.in_side,
                        output=self.output, center=self.center, norm=self.norm)

  def to_dict(self) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

  @classmethod
  def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
    fields = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in fields})


def default_hidden(model: str) -> tuple[int, ...]:
  """Conv: the course's 5+5 stack at width 16 (the course's width 32 costs 4x on a CPU)."""
  return (16, 16, 16, 16, 8) if model == "conv" else (512,)
