"""sdae.reproduce.svm: libsvm's predictions from matrix products, the selection protocol, resume."""

import json

import numpy as np
import pytest

from sdae.reproduce import svm
from helpers import toy_splits


def _blob_splits(n_classes):
  """400 / 100 / 100 examples of ``_blobs``."""
  x, y = _blobs(600, n_classes)
  return {"train": (x[:400], y[:400]), "valid": (x[400:500], y[400:500]),
          "test": (x[500:], y[500:])}


def _blobs(n, n_classes, d=12, seed=0):
  rng = np.random.default_rng(seed)
  y = rng.integers(0, n_classes, n)
  x = rng.random((n, d)) * 0.8
  x[np.arange(n), y] += 0.6  # class k lights feature k
  return x.astype(np.float32), y.astype(np.int32)


@pytest.mark.parametrize("n_classes", [2, 3, 10])
def test_predict_equals_libsvm(n_classes):
  x, y = _blobs(500, n_classes)
  model = svm.fit(x[:300], y[:300], C=3.0, gamma=0.2)
  ours, theirs = svm.predict(model, x[300:]), model.predict(np.asarray(x[300:], np.float64))
  np.testing.assert_array_equal(ours, theirs)
  assert 0 < np.mean(ours != y[300:]) < 0.5  # a real task: neither trivial nor chance
  # Decision values: scikit-learn's own, pair by pair (its sign convention is libsvm's for
  # several classes and flipped for two).
  d = svm.decision_values(model, x[300:])
  sk = model.decision_function(np.asarray(x[300:], np.float64)) if n_classes == 2 else None
  if n_classes == 2:
    np.testing.assert_allclose(d[:, 0], -sk, rtol=1e-6, atol=1e-9)
  else:
    model.decision_function_shape = "ovo"
    np.testing.assert_allclose(d, model.decision_function(np.asarray(x[300:], np.float64)),
                               rtol=1e-6, atol=1e-9)


def test_margin_prefers_the_better_separating_model():
  x, y = _blobs(400, 3)
  good = svm.fit(x[:300], y[:300], C=10.0, gamma=0.2)
  weak = svm.fit(x[:300], y[:300], C=0.01, gamma=0.2)
  assert svm.mean_margin(good, x[300:], y[300:]) > svm.mean_margin(weak, x[300:], y[300:])


def test_select_and_test_protocol_and_resume(tmp_path, monkeypatch):
  splits = toy_splits()
  grid = svm.SVMGrid((0.1, 10.0), (1.0, 4.0))
  res = svm.select_and_test(splits, grid, str(tmp_path))
  assert len(res["grid"]) == 4
  best = min(res["grid"], key=lambda r: (r["valid_error_pct"], -r["valid_margin"]))
  assert res["chosen"]["C"] == best["C"] and res["chosen"]["gamma_factor"] == best["gamma_factor"]
  assert res["valid_error_pct"] == best["valid_error_pct"]
  assert res["test_error_pct"] < 10 and res["chosen"]["retrained_on_valid"]
  saved = json.loads((tmp_path / "svm_grid.json").read_text())
  assert [(r["C"], r["gamma_factor"]) for r in saved] == grid.points()
  assert svm.finished(str(tmp_path), grid)["test_error_pct"] == res["test_error_pct"]
  assert svm.finished(str(tmp_path), svm.SVMGrid((1.0,), (1.0,))) is None
  # A rerun fits only the final model: every grid point is read back.
  fits = []
  real = svm.fit
  monkeypatch.setattr(svm, "fit", lambda *a, **k: (fits.append(a[2:]), real(*a, **k))[1])
  again = svm.select_and_test(splits, grid, str(tmp_path))
  assert len(fits) == 1 and again["test_error_pct"] == res["test_error_pct"]


def test_no_validation_split_is_refused():
  s = toy_splits()
  s["valid"] = (s["valid"][0][:0], s["valid"][1][:0])
  with pytest.raises(ValueError, match="needs a validation split"):
    svm.select_and_test(s, svm.SVMGrid((1.0,), (1.0,)))


def test_without_retraining_the_chosen_fit_is_reused(tmp_path, monkeypatch):
  """MNIST's cpu budget keeps the model fitted on the training split: one fit per grid point,
  none after, and the same test error as a fresh fit of the chosen pair."""
  splits = toy_splits()
  grid = svm.SVMGrid((0.1, 10.0), (1.0,), retrain_on_valid=False)
  fits = []
  real = svm.fit
  monkeypatch.setattr(svm, "fit", lambda *a, **k: (fits.append(a[2:]), real(*a, **k))[1])
  res = svm.select_and_test(splits, grid, str(tmp_path))
  assert len(fits) == 2 and not res["chosen"]["retrained_on_valid"]
  x_tr, y_tr = splits["train"]
  x_te, y_te = splits["test"]
  fresh = real(np.asarray(x_tr), np.asarray(y_tr), res["chosen"]["C"], res["chosen"]["gamma"])
  assert res["test_error_pct"] == round(100.0 * float(np.mean(svm.predict(fresh, x_te) != y_te)), 4)
  # Resumed with every point read back, the chosen pair is fitted once more.
  fits.clear()
  again = svm.select_and_test(splits, grid, str(tmp_path))
  assert len(fits) == 1 and again["test_error_pct"] == res["test_error_pct"]


@pytest.mark.parametrize("n_classes", [2, 3])
def test_linear_svm_predictions_margin_and_protocol(n_classes, tmp_path):
  x, y = _blobs(600, n_classes)
  model = svm.fit(x[:400], y[:400], C=1.0, gamma=0.0, kernel="linear")
  np.testing.assert_array_equal(svm.predict(model, x[400:]),
                                model.predict(np.asarray(x[400:], np.float64)))
  weak = svm.fit(x[:400], y[:400], C=1e-4, gamma=0.0, kernel="linear")
  assert svm.mean_margin(model, x[400:], y[400:]) > svm.mean_margin(weak, x[400:], y[400:])
  splits = {"train": (x[:400], y[:400]), "valid": (x[400:500], y[400:500]),
            "test": (x[500:], y[500:])}
  grid = svm.SVMGrid((1e-3, 1.0), kernel="linear")
  res = svm.select_and_test(splits, grid, str(tmp_path))
  assert res["chosen"]["kernel"] == "linear" and res["n_support"] == 0
  assert res["test_error_pct"] < 100 * (1 - 1 / n_classes) / 2  # well below chance
  assert svm.finished(str(tmp_path), grid) is not None
  # An RBF grid of the same points is another search: not read back as this one.
  assert svm.finished(str(tmp_path), svm.SVMGrid((1e-3, 1.0), (0.0,))) is None


def test_a_linear_grid_has_no_gamma():
  with pytest.raises(ValueError, match="linear SVM has no gamma"):
    svm.SVMGrid((1.0,), (1.0,), kernel="linear")
  with pytest.raises(ValueError, match="accepted: rbf, linear"):
    svm.SVMGrid((1.0,), kernel="poly")


def test_a_pick_on_the_grids_edge_grows_the_axis(tmp_path, monkeypatch):
  splits = _blob_splits(3)
  # C far too small: the largest C of the grid is best, so C grows by its own step (x10).
  grid = svm.SVMGrid((1e-6, 1e-5), (1.0,), grow=2)
  res = svm.select_and_test(splits, grid, str(tmp_path))
  assert [r["C"] for r in res["grid"]] == [1e-6, 1e-5, 1e-4, 1e-3]  # two steps past the edge
  assert res["grow"] == 2 and res["chosen"]["C"] == 1e-3  # still rising: stops at its limit
  # Without growth the same grid stops at its edge; the grown result is not read back for it.
  assert svm.finished(str(tmp_path), svm.SVMGrid((1e-6, 1e-5), (1.0,))) is None
  assert svm.finished(str(tmp_path), grid)["test_error_pct"] == res["test_error_pct"]
  # A rerun reads every point back, the grown ones too: only the final model is fitted.
  fits = []
  real = svm.fit
  monkeypatch.setattr(svm, "fit", lambda *a, **k: fits.append(a[2]) or real(*a, **k))
  again = svm.select_and_test(splits, grid, str(tmp_path))
  assert len(fits) == 1 and again["test_error_pct"] == res["test_error_pct"]


def test_an_interior_pick_does_not_grow(tmp_path):
  splits = _blob_splits(3)
  res = svm.select_and_test(splits, svm.SVMGrid((1e-2, 1.0, 100.0), (1.0,), grow=3))
  assert len(res["grid"]) == 3 and res["chosen"]["C"] == 1.0
  # gamma 0.01 wins at the grid's low edge: one more column (1e-4) makes it interior.
  res = svm.select_and_test(splits, svm.SVMGrid((1e-3, 1.0, 1e3), (0.01, 1.0, 100.0), grow=3))
  assert sorted({r["gamma_factor"] for r in res["grid"]}) == [1e-4, 0.01, 1.0, 100.0]
  assert len(res["grid"]) == 12 and res["chosen"]["gamma_factor"] == 0.01


@pytest.mark.parametrize("kernel, gammas", [("rbf", (0.5, 1.0, 2.0)), ("linear", (0.0,))])
def test_grid_fitted_by_several_threads_equals_the_serial_one(tmp_path, kernel, gammas):
  """Points are fitted at once but taken in grid order: every row, the pick and the test error
  are the serial run's (timings aside), and the grid file is written in grid order."""
  splits = _blob_splits(10)
  grid = svm.SVMGrid((0.01, 0.1, 1.0), gammas, kernel=kernel, grow=1)
  strip = lambda res: [{k: v for k, v in r.items() if not k.endswith("_seconds")}
                       for r in res["grid"]]
  serial = svm.select_and_test(splits, grid, str(tmp_path / "serial"), workers=1)
  threads = svm.select_and_test(splits, grid, str(tmp_path / "threads"), workers=3)
  assert (serial["workers"], threads["workers"]) == (1, 3)
  assert strip(threads) == strip(serial)
  assert len(serial["grid"]) > len(grid.points())  # the edge pick grew the grid: both paths ran
  for key in ("test_error_pct", "valid_error_pct", "chosen", "n_support"):
    assert threads[key] == serial[key], key
  saved = json.loads((tmp_path / "threads" / "svm_grid.json").read_text())
  assert [(r["C"], r["gamma_factor"]) for r in saved] == [(r["C"], r["gamma_factor"])
                                                          for r in serial["grid"]]


def test_two_workers_fit_two_points_at_once(monkeypatch):
  """Each fit waits at a barrier for a second one: a serial grid would break the barrier."""
  import threading  # pylint: disable=g-import-not-at-top
  barrier = threading.Barrier(2, timeout=20)
  real = svm.fit

  def fit(*a, **k):
    barrier.wait()
    return real(*a, **k)

  monkeypatch.setattr(svm, "fit", fit)
  grid = svm.SVMGrid((0.1, 1.0), (1.0,), retrain_on_valid=False)
  res = svm.select_and_test(_blob_splits(3), grid, workers=2)
  assert len(res["grid"]) == 2 and res["test_error_pct"] < 50
