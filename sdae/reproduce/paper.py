"""Vincent et al. (2010), Table 3, as printed: five methods, ten datasets, test error (%) with
95% half-widths (../shared/reference/vincent2010-table3.md), and the verdict of a result
against it.

Methods, in the paper's column order: ``svm_rbf`` (RBF-kernel SVM on raw pixels), ``dbn1`` (a
one-layer deep belief network), ``sae3`` (three stacked autoencoders, no corruption), ``dbn3``
(a three-layer DBN), ``sda3`` (three stacked denoising autoencoders; the paper gives the noise
level it chose on validation). ``mlp3`` (the same deep network with no pretraining) is ours, a
baseline the paper discusses (its Fig. 10) but does not tabulate.

Verdicts: with the paper's error ``p`` and half-width ``c``, ours ``e`` is ``better`` when
``e < p - c``, ``within`` when ``p - c <= e <= p + c`` and ``worse`` when ``e > p + c``; the
bounds are inclusive up to 1e-9 (so 1.87 against 1.99 +- 0.12 is within, whatever the float
rounding of 1.99 - 0.12). ``unavailable``: no result (no data here, or no paper figure).
"""

from __future__ import annotations

import dataclasses
import math

METHODS = ("svm_rbf", "dbn1", "sae3", "dbn3", "sda3")
EXTRA_METHODS = ("mlp3",)
TITLES = {"svm_rbf": "SVM_rbf", "dbn1": "DBN-1", "sae3": "SAE-3", "dbn3": "DBN-3",
          "sda3": "SdA-3", "mlp3": "MLP-3"}
VERDICTS = ("better", "within", "worse", "unavailable")
_EPS = 1e-9


@dataclasses.dataclass(frozen=True)
class Cell:
  error_pct: float
  ci95_pct: float


@dataclasses.dataclass(frozen=True)
class PaperRow:
  """One dataset's row; ``level`` is SdA-3's chosen noise level (masking fraction for the
  images, Gaussian standard deviation for tzanetakis)."""

  dataset: str   # canonical name (sdae.data)
  alias: str     # the paper's row name
  cells: dict[str, Cell]
  level: float
  corruption: str = "masking"

  # The SdA-3 column's figures, the fields most code reads.
  @property
  def error_pct(self) -> float:
    return self.cells["sda3"].error_pct

  @property
  def ci95_pct(self) -> float:
    return self.cells["sda3"].ci95_pct


def _row(dataset, alias, figures, level, corruption="masking") -> PaperRow:
  cells = {m: Cell(e, c) for m, (e, c) in zip(METHODS, figures)}
  return PaperRow(dataset, alias, cells, level, corruption)


#: Table 3 in the paper's row order: (error, half-width) per method in ``METHODS`` order.
TABLE3: dict[str, PaperRow] = {r.dataset: r for r in [
    _row("mnist", "MNIST", [(1.40, .23), (1.21, .21), (1.40, .23), (1.24, .22), (1.28, .22)],
         0.25),
    _row("mnist_basic", "basic",
         [(3.03, .15), (3.94, .17), (3.46, .16), (3.11, .15), (2.84, .15)], 0.10),
    _row("mnist_rot", "rot",
         [(11.11, .28), (14.69, .31), (10.30, .27), (10.30, .27), (9.53, .26)], 0.25),
    _row("mnist_bg_rand", "bg-rand",
         [(14.58, .31), (9.80, .26), (11.28, .28), (6.73, .22), (10.30, .27)], 0.40),
    _row("mnist_bg_img", "bg-img",
         [(22.61, .37), (16.15, .32), (23.00, .37), (16.31, .32), (16.68, .33)], 0.25),
    _row("mnist_bg_img_rot", "bg-img-rot",
         [(55.18, .44), (52.21, .44), (51.93, .44), (47.39, .44), (43.76, .43)], 0.25),
    _row("rectangles", "rect", [(2.15, .13), (4.71, .19), (2.41, .13), (2.60, .14), (1.99, .12)],
         0.10),
    _row("rectangles_images", "rect-img",
         [(24.04, .37), (23.69, .37), (24.05, .37), (22.50, .37), (21.59, .36)], 0.25),
    _row("convex", "convex",
         [(19.13, .34), (19.92, .35), (18.41, .34), (18.63, .34), (19.06, .34)], 0.10),
    _row("tzanetakis", "tzanetakis",
         [(14.41, 2.18), (18.07, 1.31), (16.15, 1.95), (18.38, 1.64), (16.02, 1.04)], 0.05,
         "gaussian"),
]}


def cell(dataset: str, method: str) -> Cell | None:
  """The paper's figure for (dataset, method); None where it has none (``mlp3``)."""
  return TABLE3[dataset].cells.get(method)


def verdict(ours_pct: float | None, paper_pct: float | None, paper_ci95_pct: float | None) -> str:
  """``better`` / ``within`` / ``worse`` than the paper's interval; ``unavailable`` when either
  side is missing."""
  if ours_pct is None or paper_pct is None or paper_ci95_pct is None:
    return "unavailable"
  lo, hi = paper_pct - paper_ci95_pct, paper_pct + paper_ci95_pct
  if ours_pct < lo - _EPS:
    return "better"
  if ours_pct > hi + _EPS:
    return "worse"
  return "within"


def difference(a_pct: float | None, a_ci: float | None, b_pct: float | None,
               b_ci: float | None) -> tuple[float, float] | None:
  """``a - b`` (points) and its 95% half-width ``sqrt(ci_a^2 + ci_b^2)`` (independent test
  errors on the same test set size: conservative, as the errors of two models on one test set
  are positively correlated); None when either side is missing."""
  if None in (a_pct, a_ci, b_pct, b_ci):
    return None
  return a_pct - b_pct, math.sqrt(a_ci ** 2 + b_ci ** 2)
