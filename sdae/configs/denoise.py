"""Denoising runs (``experiments.denoise``): every default beyond ``sdae.restore.config``'s
field defaults, top to bottom.

- ``DEFAULT_LEVELS``: the level of each corruption when ``--level`` is not given (and no preset
  gives one): ``DenoiseConfig.resolved`` reads it.
- ``PRESETS``: named runs, the model and training length that meet each corruption's documented
  accuracy on restored digits (the reference classifier's, ``sdae.restore.reference_classifier``).
  ``python -m experiments.denoise --dataset=mnist --corruption=erasure --workdir=DIR`` with no
  model or training flag uses the corruption's preset (``preset_for``); ``--preset=NAME`` picks
  one by name (``get``), and any flag given explicitly overrides the preset's value for it
  (``settings``: the ``DenoiseConfig`` fields of a preset and the flags given). Figures measured
  on the 10000 MNIST test digits are in notes/denoise.md.

Plain data and lookups: no JAX (``sdae.restore.config`` imports this module, not the reverse).
"""

from __future__ import annotations

import dataclasses
from typing import Any

# Course defaults (Fleuret 7.3) and a usual Gaussian level.
DEFAULT_LEVELS = {"erasure": 0.9, "blur": 4.0, "block": 10 / 28, "gaussian": 0.5,
                  "masking": 0.5, "salt_pepper": 0.5, "none": 0.0}


@dataclasses.dataclass(frozen=True)
class Preset:
  """A named run: ``fields`` are ``DenoiseConfig`` fields (mode, corruption, level, model...)."""

  name: str
  doc: str
  fields: dict[str, Any]


_DENSE = dict(model="dense", hidden=(1024, 1024), loss="cross_entropy", batch_size=64,
                      lr=1e-3, schedule="cosine")

PRESETS: dict[str, Preset] = {p.name: p for p in (
    # Erasure 0.9 does not overfit: the figure grows with training, and minibatch 128 at 2e-3
    # trains the most per second on the CPU (notes/denoise.md).
    Preset("erasure", "erasure 0.9 (a tenth of the stroke left as dots): dense 784-1024-1024-784, "
           "minibatch 128, Adam 2e-3",
           dict(mode="clean", corruption="erasure", level=0.9, epochs=56,
                **{**_DENSE, "batch_size": 128, "lr": 2e-3})),
    Preset("blur", "Gaussian blur of 4 pixels: dense 784-1024-1024-784",
           dict(mode="clean", corruption="blur", level=4.0, epochs=30, **_DENSE)),
    Preset("block", "the course's 10x10 block (10/28 of the side): dense 784-1024-1024-784",
           dict(mode="clean", corruption="block", level=10 / 28, epochs=15, **_DENSE)),
    Preset("gaussian", "additive Gaussian noise, sigma 0.5: dense 784-1024-1024-784",
           dict(mode="clean", corruption="gaussian", level=0.5, epochs=10, **_DENSE)),
    Preset("noise2noise", "Gaussian sigma 0.5 with noisy targets: dense 784-1024-1024-784, "
           "squared loss (its minimiser is E[target] = the clean image)",
           dict(mode="noise2noise", corruption="gaussian", level=0.5, epochs=10,
                **{**_DENSE, "loss": "squared"})),
    Preset("superres", "2x super-resolution, 14x14 -> 28x28: dense 196-1024-1024-784",
           dict(mode="superres", corruption=None, level=None, epochs=10, **_DENSE)),
    Preset("course", "the course's convolutional autoencoder (Fleuret 7.3): five convolutions "
           "(kernels 5,5,4,3,4; 16 channels, the course's 32 cost 5x on a CPU) narrowing to an "
           "8-number code and five transposed convolutions back, with GroupNorm and a cosine "
           "learning rate; blur 4 unless --corruption says otherwise",
           dict(mode="clean", corruption="blur", level=4.0, model="conv",
                hidden=(16, 16, 16, 16, 8), kernels=(5, 5, 4, 3, 4), strides=(1, 1, 2, 2, 1),
                norm="group", loss="cross_entropy", epochs=2, batch_size=64, lr=2e-3,
                schedule="cosine")),
)}

# Fields that describe the model's architecture: a preset's values for them only apply to its
# own model (``--model=conv`` under a dense preset takes the conv defaults instead).
ARCH_FIELDS = ("hidden", "kernels", "strides", "norm")


def names() -> list[str]:
  return list(PRESETS)


def get(name: str) -> Preset:
  """The preset called ``name``; ValueError (one line, the accepted names) otherwise."""
  if name not in PRESETS:
    raise ValueError(f"--preset={name!r} is not accepted; accepted: {', '.join(PRESETS)}")
  return PRESETS[name]


def preset_for(mode: str, corruption: str | None) -> Preset | None:
  """The preset a run without ``--preset`` uses: by mode for noise2noise and superres, else by
  corruption (None for corruptions without one: library defaults)."""
  if mode in ("noise2noise", "superres"):
    return PRESETS[mode]
  return PRESETS.get(corruption) if corruption in PRESETS and corruption != "course" else None


def settings(preset: Preset | None, given: dict[str, Any]) -> dict[str, Any]:
  """The ``DenoiseConfig`` fields of ``preset`` overridden by those the user ``given``
  explicitly (``DenoiseConfig(**settings(preset, given))`` is the run).

  A preset's architecture (``ARCH_FIELDS``) is dropped when ``given`` names another model, so
  ``--model=conv`` under a dense preset gets the conv defaults, not dense widths.
  """
  fields = dict(preset.fields) if preset else {}
  if "model" in given and fields.get("model") not in (None, given["model"]):
    for k in ARCH_FIELDS:
      fields.pop(k, None)
  if "corruption" in given and preset and given["corruption"] != fields.get("corruption"):
    fields.pop("level", None)  # the level of another corruption means something else
  return {**fields, **given}
