"""SVM_rbf, the first column of Vincent et al. (2010), Table 3: an RBF-kernel SVM on raw pixels;
and the linear SVM of its Table 5 (``SVMGrid(kernel="linear")``), on pixels or on learnt codes.

The protocol of Larochelle et al. (2007), whose baselines the table reprints: libsvm's C-SVC
(scikit-learn's ``SVC``, one-vs-one for several classes) with kernel ``exp(-gamma |x - x'|^2)``;
C and gamma chosen on validation error over a log grid (ties broken by the larger mean
validation margin, never by grid order); the chosen pair retrained on train + validation; the
test error of that model on the whole test set, with the table's 95% interval.

Prediction is ``predict``, not libsvm's: the fitted model's decision values are its kernel rows
against the support vectors, a product of two matrices, which numpy computes in float64 in
seconds where libsvm's one-example-at-a-time loop takes about 12 ms per example against 4000
support vectors (10 minutes for a 50000-example test set on 2 cores; BUILD_NOTES.md). The
votes, and so the predictions, are libsvm's (tested against ``SVC.predict``).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import os
import time
from typing import Any, Sequence

import numpy as np

from sdae.finetune import ci95_pct
from sdae.io import files as fileio

log = logging.getLogger("sdae")


KERNELS = ("rbf", "linear")


@dataclasses.dataclass(frozen=True)
class SVMGrid:
  """Candidate (C, gamma) pairs: every combination. ``gammas`` are multiples of the data's own
  scale ``1 / (n_features * var(x_train))`` (scikit-learn's ``gamma="scale"``), so one grid
  suits inputs of any width and contrast.

  ``kernel="linear"``: a linear SVM (liblinear's one-vs-rest ``LinearSVC``; the paper's Table 5
  does not say which linear solver it used), searched over C alone; ``gamma_factors`` must then
  be ``(0.0,)``, the one gamma of its points."""

  Cs: tuple[float, ...]
  gamma_factors: tuple[float, ...] = (0.0,)
  retrain_on_valid: bool = True  # the 2007 protocol; False saves the second fit
  kernel: str = "rbf"
  # Steps an axis may grow past each edge when the pick sits on it (0: the grid as given).
  grow: int = 0

  def __post_init__(self):
    if self.kernel not in KERNELS:
      raise ValueError(f"SVM kernel {self.kernel!r} is unknown; accepted: {', '.join(KERNELS)}")
    if self.kernel == "linear" and tuple(self.gamma_factors) != (0.0,):
      raise ValueError("a linear SVM has no gamma; accepted: gamma_factors=(0.0,)")

  def points(self) -> list[tuple[float, float]]:
    return [(float(c), float(g)) for c in self.Cs for g in self.gamma_factors]


def gamma_scale(x: np.ndarray) -> float:
  """``1 / (n_features * var(x))``, scikit-learn's ``gamma="scale"``."""
  var = float(np.var(x, dtype=np.float64))
  return 1.0 / (x.shape[1] * var) if var > 0 else 1.0


def decision_values(model, x: np.ndarray, chunk: int = 4096) -> np.ndarray:
  """One-vs-one decision values [n, n_pairs] of a fitted RBF ``SVC`` (binary: [n, 1]).

  Pair p = (i, j), i < j in ``model.classes_`` order (libsvm's), is positive for class i and
  negative for class j, as libsvm votes; for two classes scikit-learn flips the sign of its
  public coefficients so that positive means ``classes_[1]``, and this function undoes that so
  that both cases read alike.
  """
  sv = np.asarray(model.support_vectors_, np.float64)
  coef = np.asarray(model.dual_coef_, np.float64)
  intercept = np.asarray(model.intercept_, np.float64)
  n_sv = np.asarray(model.n_support_)
  starts = np.concatenate([[0], np.cumsum(n_sv)])
  n_classes = len(n_sv)
  gamma = float(model._gamma)  # pylint: disable=protected-access  (the gamma actually used)
  sv_sq = np.einsum("ij,ij->i", sv, sv)
  out = []
  for lo in range(0, x.shape[0], chunk):
    xb = np.asarray(x[lo:lo + chunk], np.float64)
    sq = np.einsum("ij,ij->i", xb, xb)[:, None] + sv_sq[None, :] - 2.0 * (xb @ sv.T)
    k = np.exp(-gamma * np.maximum(sq, 0.0))  # [b, n_sv]
    cols = []
    if n_classes == 2:
      cols.append(-(k @ coef[0] + intercept[0]))
    else:
      p = 0
      for i in range(n_classes):
        si = slice(starts[i], starts[i + 1])
        for j in range(i + 1, n_classes):
          sj = slice(starts[j], starts[j + 1])
          cols.append(k[:, si] @ coef[j - 1, si] + k[:, sj] @ coef[i, sj] + intercept[p])
          p += 1
    out.append(np.stack(cols, axis=1))
  return np.concatenate(out, 0)


def votes(decisions: np.ndarray, n_classes: int) -> np.ndarray:
  """One-vs-one votes [n, n_classes] from ``decision_values`` (libsvm: > 0 votes for i)."""
  v = np.zeros((decisions.shape[0], n_classes), np.int64)
  p = 0
  for i in range(n_classes):
    for j in range(i + 1, n_classes):
      pos = decisions[:, p] > 0
      v[:, i] += pos
      v[:, j] += ~pos
      p += 1
  return v


def _is_linear(model) -> bool:
  return not hasattr(model, "support_vectors_")


def _linear_scores(model, x: np.ndarray) -> np.ndarray:
  """One-vs-rest scores [n, n_classes] of a fitted ``LinearSVC`` (two classes: [-s, s])."""
  s = np.asarray(model.decision_function(np.asarray(x, np.float64)), np.float64)
  return np.stack([-s, s], axis=1) if s.ndim == 1 else s


def predict(model, x: np.ndarray) -> np.ndarray:
  """Labels [n] of ``x`` [n, d]: the class with the most votes, the first of equal ones (as
  libsvm); for a linear SVM, the class of the highest one-vs-rest score."""
  classes = np.asarray(model.classes_)
  if _is_linear(model):
    return classes[np.argmax(_linear_scores(model, x), axis=1)]
  return classes[np.argmax(votes(decision_values(model, x), len(classes)), axis=1)]


def mean_margin(model, x: np.ndarray, y: np.ndarray) -> float:
  """Mean over examples of the signed margin of the true class: for each pair that involves it,
  its decision value signed towards it, averaged over those pairs (a finer validation measure
  than the error, to break ties: larger is better)."""
  classes = list(np.asarray(model.classes_))
  n_classes = len(classes)
  idx = np.asarray([classes.index(t) for t in y])
  if _is_linear(model):  # the true class's score above the best other class's
    scores = _linear_scores(model, x)
    true = scores[np.arange(len(y)), idx]
    scores[np.arange(len(y)), idx] = -np.inf
    return float(np.mean(true - scores.max(axis=1)))
  d = decision_values(model, x)
  total = np.zeros(len(y))
  p = 0
  for i in range(n_classes):
    for j in range(i + 1, n_classes):
      total += np.where(idx == i, d[:, p], 0.0) - np.where(idx == j, d[:, p], 0.0)
      p += 1
  return float(np.mean(total / (n_classes - 1)))


def default_workers() -> int:
  """Grid points fitted at once: one per CPU core this process may use."""
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:  # not on Linux
    return os.cpu_count() or 1


def fit(x: np.ndarray, y: np.ndarray, C: float, gamma: float, cache_mb: int = 1000,
        kernel: str = "rbf"):
  """A fitted scikit-learn ``SVC(kernel="rbf", C, gamma)`` (libsvm) on float64 copies; with
  ``kernel="linear"`` a ``LinearSVC(C)`` (liblinear, squared hinge, one-vs-rest; ``gamma``
  unused)."""
  x, y = np.asarray(x, np.float64), np.asarray(y)
  if kernel == "linear":
    from sklearn.svm import LinearSVC  # pylint: disable=g-import-not-at-top
    # A fixed seed: liblinear's dual solver shuffles, and the default draws from numpy's
    # global generator (a rerun, or a thread fitting beside it, would change the order).
    return LinearSVC(C=C, dual="auto", max_iter=5000, random_state=0).fit(x, y)
  from sklearn.svm import SVC  # pylint: disable=g-import-not-at-top
  return SVC(C=C, gamma=gamma, kernel="rbf", cache_size=cache_mb).fit(x, y)


def _n_support(model) -> int:
  return 0 if _is_linear(model) else int(model.support_vectors_.shape[0])


def _write_json(path: str, obj: Any) -> None:
  from sdae import checkpoint as ckpt_lib  # pylint: disable=g-import-not-at-top
  ckpt_lib.write_json_atomic(path, obj)


def select_and_test(splits: dict, grid: SVMGrid, workdir: str | None = None,
                    record: dict[str, Any] | None = None,
                    workers: int | None = None) -> dict[str, Any]:
  """Runs the protocol (module docstring) and returns the chosen model's figures.

  ``splits`` as ``sdae.data.load`` returns them; a split with no validation rows is refused
  (``ValueError``, one line). With ``workdir``, every finished grid point is written to
  ``workdir/svm_grid.json`` as soon as it is done and read back on a rerun, and the outcome
  to ``workdir/results.json`` (with ``record``'s fields, e.g. the data source). ``workers``
  grid points are fitted at once (default: one per CPU core this process may use); the
  outcome does not depend on it.

  Returns ``{"valid_error_pct", "valid_margin", "test_error_pct", "test_ci95_pct", "chosen":
  {"C", "gamma", "gamma_factor"}, "grid": [...], "n_support", "workers", "seconds": {"fits",
  "predict", "final_fit", "test_predict", "total"}}``; ``fits`` and ``predict`` sum each point's
  own seconds, so with several workers they exceed the wall time the grid took.
  """
  x_tr, y_tr = (np.asarray(a) for a in splits["train"])
  x_va, y_va = (np.asarray(a) for a in splits["valid"])
  x_te, y_te = (np.asarray(a) for a in splits["test"])
  if len(y_va) == 0:
    raise ValueError("svm_rbf needs a validation split to choose C and gamma, and this "
                     "dataset has none; accepted: data with train, valid and test rows")
  t_start = time.monotonic()
  n_workers = default_workers() if workers is None else int(workers)
  scale = gamma_scale(x_tr) if grid.kernel == "rbf" else 0.0
  x_fit = np.asarray(x_tr, np.float64)  # one float64 copy for every fit, not one per thread
  grid_path = None if workdir is None else os.path.join(workdir, "svm_grid.json")
  done: dict[tuple[float, float], dict[str, Any]] = {}
  if grid_path:
    for r in fileio.read_json(grid_path, if_damaged="fitting its grid points again") or []:
      done[(float(r["C"]), float(r["gamma_factor"]))] = r
  rows: list[dict[str, Any]] = []
  timing = {"fits": 0.0, "predict": 0.0}
  kept = None  # (row, model) of the best point fitted in this process: reused when not retraining

  def fit_point(point: tuple[float, float]) -> tuple[dict[str, Any], Any]:
    C, factor = point
    t0 = time.monotonic()
    model = fit(x_fit, y_tr, C, factor * scale, kernel=grid.kernel)
    t1 = time.monotonic()
    pred = predict(model, x_va)
    return {"C": C, "gamma_factor": factor, "gamma": factor * scale,
            "valid_error_pct": round(100.0 * float(np.mean(pred != y_va)), 4),
            "valid_margin": round(mean_margin(model, x_va, y_va), 6),
            "n_support": _n_support(model),
            "fit_seconds": round(t1 - t0, 2),
            "predict_seconds": round(time.monotonic() - t1, 2)}, (
                None if grid.retrain_on_valid else model)  # models kept only when reused

  def evaluate(points: list[tuple[float, float]]) -> None:
    nonlocal kept
    todo = [p for p in points if p not in done]
    # libsvm and liblinear release the GIL while they fit, so threads fit several points at
    # once; results are taken (and written) in grid order, so the outcome is the serial one.
    pool = concurrent.futures.ThreadPoolExecutor(max(1, min(n_workers, len(todo) or 1)))
    try:
      fitted = pool.map(fit_point, todo)
      for k, point in enumerate(points):
        if point in done:
          rows.append(done[point])
          continue
        row, model = next(fitted)
        timing["fits"] += row["fit_seconds"]
        timing["predict"] += row["predict_seconds"]
        rows.append(row)
        if not grid.retrain_on_valid and (kept is None or _rank(row) < _rank(kept[0])):
          kept = (row, model)
        del model
        log.info("svm_%s %d/%d: C=%g gamma=%.4g (%gx scale): valid error %.2f%% (%d SVs, fit "
                 "%.0fs)", grid.kernel, k + 1, len(points), row["C"], row["gamma"],
                 row["gamma_factor"], row["valid_error_pct"], row["n_support"],
                 row["fit_seconds"])
        if grid_path:
          _write_json(grid_path, rows)
    finally:  # an interrupted grid waits for the fits already running, and starts no more
      pool.shutdown(wait=True, cancel_futures=True)

  evaluate(grid.points())
  # An edge pick means the best point may lie beyond the grid: the axis grows one log step
  # past that edge (a whole row or column of new points), up to ``grid.grow`` steps each way.
  grown = {"C": [0, 0], "gamma_factor": [0, 0]}
  while True:
    more = _beyond_edge(rows, min(rows, key=_rank), grid, grown)
    if not more:
      break
    log.info("svm_%s: the pick is on the edge of its grid; %d more points", grid.kernel,
             len(more))
    evaluate(more)
  fit_s, pred_s = timing["fits"], timing["predict"]
  best = min(rows, key=_rank)
  t0 = time.monotonic()
  if grid.retrain_on_valid:
    model = fit(np.concatenate([x_tr, x_va]), np.concatenate([y_tr, y_va]), best["C"],
                best["gamma"], kernel=grid.kernel)
  elif kept is not None and kept[0] is best:
    model = kept[1]  # libsvm is deterministic: a second fit on the same rows is the same model
  else:  # chosen among points read back from a previous run
    model = fit(x_tr, y_tr, best["C"], best["gamma"], kernel=grid.kernel)
  t1 = time.monotonic()
  test_err = float(np.mean(predict(model, x_te) != y_te))
  t2 = time.monotonic()
  out = {"valid_error_pct": best["valid_error_pct"], "valid_margin": best["valid_margin"],
         "test_error_pct": round(100.0 * test_err, 4),
         "test_ci95_pct": round(ci95_pct(test_err, len(y_te)), 4),
         "n_test": int(len(y_te)),
         "chosen": {"C": best["C"], "gamma": best["gamma"], "gamma_factor": best["gamma_factor"],
                    "retrained_on_valid": grid.retrain_on_valid, "kernel": grid.kernel},
         "grid": rows, "grow": grid.grow, "n_support": _n_support(model), "workers": n_workers,
         "seconds": {"fits": round(fit_s, 2), "predict": round(pred_s, 2),
                     "final_fit": round(t1 - t0, 2), "test_predict": round(t2 - t1, 2),
                     "total": round(time.monotonic() - t_start, 2)}}
  out.update(record or {})
  if workdir:
    _write_json(os.path.join(workdir, "results.json"), out)
  return out


def _beyond_edge(rows, best, grid: SVMGrid, grown) -> list[tuple[float, float]]:
  """The next points past the grid's edge where ``best`` sits on it (``grid.grow`` steps at
  most per side of each axis; none for an axis of one value); [] when ``best`` is interior."""
  axes = {"C": sorted({float(r["C"]) for r in rows}),
          "gamma_factor": sorted({float(r["gamma_factor"]) for r in rows})}
  for name in ("C", "gamma_factor"):
    vals = axes[name]
    if len(vals) < 2 or (name == "gamma_factor" and grid.kernel == "linear"):
      continue
    other = "gamma_factor" if name == "C" else "C"
    for side, (edge, inner) in enumerate(((vals[0], vals[1]), (vals[-1], vals[-2]))):
      if float(best[name]) != edge or grown[name][side] >= grid.grow:
        continue
      grown[name][side] += 1
      # One more step of the axis' own log spacing (12 digits: 1e-4, not 1.0000000000000003e-4).
      new = float(f"{edge * (edge / inner):.12g}")
      return [(new, o) if name == "C" else (o, new) for o in axes[other]]
  return []


def _rank(row: dict[str, Any]) -> tuple[float, float]:
  """Validation error, then the larger mean margin: the selection order of grid points."""
  return (row["valid_error_pct"], -row["valid_margin"])


def finished(workdir: str, grid: SVMGrid) -> dict[str, Any] | None:
  """The outcome a previous run wrote in ``workdir`` for this grid, else None."""
  res = fileio.read_json(os.path.join(workdir, "results.json"),
                         if_damaged="choosing C and gamma again from the grid's results")
  if not isinstance(res, dict):
    return None
  got = {(float(r["C"]), float(r["gamma_factor"])) for r in res.get("grid", [])}
  # The points given, and for a growing grid whatever it grew to (recorded as "grow").
  same_points = (set(grid.points()) <= got if grid.grow else got == set(grid.points()))
  if not same_points or res.get("grow", 0) != grid.grow or res["chosen"].get(
      "retrained_on_valid") != grid.retrain_on_valid or res["chosen"].get(
          "kernel", "rbf") != grid.kernel:
    return None
  return res


def summarize_grid(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
  return [{k: r[k] for k in ("C", "gamma_factor", "valid_error_pct", "valid_margin")}
          for r in rows]
