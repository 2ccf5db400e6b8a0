"""Corruption names and the accepted range of their levels, with no JAX import.

Validation happens at the boundary (flags, public API) before anything heavy is imported or
compiled, so this table lives apart from the JAX functions in ``sdae.corruption``.
"""

from __future__ import annotations

import math

import numpy as np

# name -> (lowest level, highest level (inf: unbounded), what the level means)
RANGES: dict[str, tuple[float, float, str]] = {
    "masking": (0.0, 1.0, "fraction of inputs set to 0"),
    "gaussian": (0.0, math.inf, "std of additive Gaussian noise"),
    "salt_pepper": (0.0, 1.0, "fraction of inputs set to min or max"),
    "erasure": (0.0, 1.0, "probability a pixel is set to the background (0)"),
    "blur": (0.0, math.inf, "Gaussian blur std in pixels"),
    "block": (0.0, 1.0, "side of centered background square / image side"),
    "none": (-math.inf, math.inf, "no corruption"),
}

# What each corruption can change, for emphasis (Vincent et al. 2010, sec. 4.3: the loss on the
# components the noise chose weighted by alpha, the rest by beta): "some" components (emphasis
# is meaningful), "all" of them (gaussian, blur: every component moves, nothing to tell apart)
# or "none" (identity).
TOUCHES: dict[str, str] = {
    "masking": "some", "salt_pepper": "some", "erasure": "some", "block": "some",
    "gaussian": "all", "blur": "all", "none": "none",
}

# Corruptions that only make sense on square images (flattened or not).
IMAGE_ONLY = frozenset({"blur", "block"})


def names() -> list[str]:
  return sorted(RANGES)


def check_name(name: str) -> str:
  if name not in RANGES:
    raise ValueError(f"unknown corruption {name!r}; accepted: {', '.join(names())}")
  return name


def validate(name: str, level) -> str:
  """Checks ``name`` and every value of ``level`` (scalar, list or array); returns ``name``.

  Raises ValueError with a one-line message naming the bad value and the accepted range.
  """
  low, high, doc = RANGES[check_name(name)]
  values = np.asarray(level, dtype=np.float64).reshape(-1)
  for v in values:
    if not np.isfinite(v) and name != "none":
      raise ValueError(f"corruption level {v} for {name!r} is not finite")
    if not low <= v <= high:
      hi = "inf)" if math.isinf(high) else f"{high:g}]"
      raise ValueError(
          f"corruption level {v:g} out of range for {name!r} ({doc}); accepted: [{low:g}, {hi}")
  return name
