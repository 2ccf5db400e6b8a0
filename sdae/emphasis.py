"""Emphasis of the denoising loss (Vincent et al. 2010, sec. 4.3 and Table 4), with no JAX import.

The emphasised reconstruction loss weights each component's loss by ``alpha`` where the
corruption chose the component (the set J(x~), ``sdae.corruption.corrupt_touched``) and by
``beta`` elsewhere:

    L(x, z) = alpha * sum_{j in J(x~)} l(x_j, z_j) + beta * sum_{j not in J(x~)} l(x_j, z_j)

summed over components and averaged over the batch, as the unweighted loss (no renormalisation,
as the paper writes it: "full" emphasis at masking 0.25 sums about a quarter of the terms).

| name     | alpha | beta | meaning                                           |
| -------- | ----- | ---- | ------------------------------------------------- |
| none     | 1     | 1    | the plain denoising loss (the default)            |
| double   | 1     | 0.5  | corrupted components count twice the others       |
| full     | 1     | 0    | only the corrupted components are reconstructed   |

alpha and beta are traced per model (``sdae.run_state.Members.alpha`` / ``beta``), so models
that differ only in emphasis share one compiled program. Emphasis needs a corruption that
touches *some* components (``sdae.levels.TOUCHES``: masking, salt_pepper, erasure, block):
gaussian and blur change every component, ``none`` no component, and an RBM has no denoising
loss. Checked at the boundary (``sdae.config.validate``).
"""

from __future__ import annotations

import math

# name -> (alpha, beta)
EMPHASES: dict[str, tuple[float, float]] = {
    "none": (1.0, 1.0),
    "double": (1.0, 0.5),
    "full": (1.0, 0.0),
}


def names() -> list[str]:
  """The emphasis names, in the order of the table above."""
  return list(EMPHASES)


def check_name(name: str) -> str:
  """``name`` when it is an emphasis; ValueError naming the accepted ones otherwise."""
  if name not in EMPHASES:
    raise ValueError(f"unknown emphasis {name!r}; accepted: {', '.join(names())} "
                     "(alpha 1; beta 1, 0.5, 0)")
  return name


def weights(name: str) -> tuple[float, float]:
  """``(alpha, beta)`` of the emphasis ``name``."""
  return EMPHASES[check_name(name)]


def check_weights(alpha: float, beta: float) -> tuple[float, float]:
  """``(alpha, beta)`` as floats when both are finite and >= 0; ValueError (one line) otherwise."""
  out = []
  for what, v in (("alpha", alpha), ("beta", beta)):
    try:
      f = None if isinstance(v, bool) else float(v)
    except (TypeError, ValueError):
      f = None
    if f is None or not math.isfinite(f) or f < 0:
      raise ValueError(f"emphasis {what}={v!r} is invalid; accepted: a finite number >= 0")
    out.append(f)
  return out[0], out[1]
