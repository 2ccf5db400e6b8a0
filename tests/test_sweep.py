"""sdae.sweep and experiments.sweep: grids, model selection, and the vmapped sweep equal to the
same models trained one by one (through the entry point, in-process)."""

import json
import math

import numpy as np
import pytest

from sdae import data
from sdae import experiment as E
from sdae import sweep as S
from helpers import run_cli, run_main, toy_splits

# The toy problem of the entry-point test: classes that overlap (signal 0.12 on noise 0.4), so
# the four models make different, nonzero errors (measured: test 9.5, 40, 11, 47.5%) and "the
# same numbers" says something; on the separable default every model scores 0%.
SWEEP_SIGNAL = 0.12


@pytest.fixture
def toy_data(monkeypatch):
  """Every dataset load returns the overlapping toy problem (named like a regenerated set)."""
  monkeypatch.setattr(E, "load_data", lambda config: (
      data.Splits(toy_splits(signal=SWEEP_SIGNAL), "regenerated"), "regenerated"))




TINY_FLAGS = ["--dataset=rect", "--hidden=16,8", "--pretrain_epochs=2", "--finetune_epochs=3",
              "--patience=3", "--batch_size=10"]


def test_grid_order_and_members():
  pts = S.grid([0.0, 0.3], 2, pretrain_lrs=[0.01, 0.05])
  assert [(p.pretrain_lr, p.level, p.seed) for p in pts] == [
      (0.01, 0.0, 0), (0.01, 0.0, 1), (0.01, 0.3, 0), (0.01, 0.3, 1),
      (0.05, 0.0, 0), (0.05, 0.0, 1), (0.05, 0.3, 0), (0.05, 0.3, 1)]
  from sdae import config as C
  cfg = C.TrainConfig(hidden=(16, 8, 4), finetune_lr=0.2)
  m = S.members_of(cfg, pts[:3])
  assert list(m.seeds) == [0, 1, 0]
  assert [list(l) for l in m.levels] == [[0.0] * 3, [0.0] * 3, [0.3] * 3]
  assert list(m.pretrain_lr) == [0.01] * 3 and list(m.finetune_lr) == [0.2] * 3
  with pytest.raises(C.ConfigError, match="twice"):
    S.validate_points(cfg, S.grid([0.1, 0.1], 1))
  with pytest.raises(C.ConfigError, match="out of range"):
    S.validate_points(cfg, S.grid([0.1, 1.5], 1))


def test_select_picks_lowest_validation_error_ties_to_first():
  rows = [{"level": 0.0, "valid_error_pct": 3.0, "test_error_pct": 1.0},
          {"level": 0.1, "valid_error_pct": 2.0, "test_error_pct": 9.0},
          {"level": 0.25, "valid_error_pct": 2.0, "test_error_pct": 0.5},  # tie: later loses
          {"level": 0.4, "valid_error_pct": float("nan"), "test_error_pct": 0.1}]
  best = S.select(rows)
  assert best["level"] == 0.1  # never chosen on test error
  assert S.select(rows[2:])["level"] == 0.25
  with pytest.raises(ValueError):
    S.select(rows[3:])


def test_select_breaks_validation_ties_on_cross_entropy_not_order():
  """The rect row's case: two levels with the same validation errors; the lower mean
  validation cross-entropy wins, whichever comes first, and the test error plays no part."""
  rows = [{"level": 0.4, "valid_error_pct": 1.5, "valid_xent": 0.061, "test_error_pct": 1.0},
          {"level": 0.6, "valid_error_pct": 1.5, "valid_xent": 0.048, "test_error_pct": 9.0},
          {"level": 0.1, "valid_error_pct": 2.0, "valid_xent": 0.010, "test_error_pct": 0.5}]
  assert S.select(rows)["level"] == 0.6
  assert S.select(rows[::-1])["level"] == 0.6
  # A row without the finer measure (an older results file) loses a tie to one with it.
  rows[1] = dict(rows[1], valid_xent=None)
  assert S.select(rows)["level"] == 0.4


def test_summary_over_seeds():
  rows = [{"level": 0.1, "seed": s, "valid_error_pct": v, "test_error_pct": t,
           "test_ci95_pct": 0.3} for s, v, t in ((0, 2.0, 3.0), (1, 4.0, 5.0))]
  rows.append({"level": 0.0, "seed": 0, "valid_error_pct": 1.0, "test_error_pct": 2.0,
               "test_ci95_pct": 0.2})
  s = S.summarize(rows)
  assert s["levels"] == [0.0, 0.1]
  assert s["test"][0] == [2.0, 4.0]
  assert s["test"][1][0] == 0.2  # one seed: the model's binomial interval
  assert s["test"][1][1] == pytest.approx(12.706 * math.sqrt(2.0) / math.sqrt(2.0), rel=1e-3)


@pytest.mark.slow
def test_sweep_entry_point_equals_models_trained_one_by_one(tmp_path, toy_data):
  """Through the entry point, against --one_by_one: the CPU's members loop (lax.map) to the last
  bit; vmapped members (the accelerators' loop, batched products, forced here) to within float
  reassociation. Outputs; resume."""
  from experiments import sweep as entry
  argv = TINY_FLAGS + ["--levels=0,0.3", "--seeds=2"]
  run_main(entry, argv + [f"--workdir={tmp_path / 'together'}", "--member_loop=vmap"])
  run_main(entry, argv + [f"--workdir={tmp_path / 'mapped'}", "--member_loop=map"])
  run_main(entry, argv + [f"--workdir={tmp_path / 'alone'}", "--one_by_one"])
  rows = {}
  for mode in ("together", "mapped", "alone"):
    d = tmp_path / mode
    for name in ("sweep.json", "sweep.png", "sweep.pdf", "filters.png", "filters.pdf",
                 "sweep_run.json"):
      assert (d / name).exists(), (mode, name)
    with open(d / "sweep.json") as f:
      rows[mode] = json.load(f)
  assert [(r["level"], r["seed"]) for r in rows["together"]] == [
      (0.0, 0), (0.0, 1), (0.3, 0), (0.3, 1)]
  # The models differ (levels and seeds), so equal rows are no accident of a solved problem.
  assert len({r["test_error_pct"] for r in rows["alone"]}) == 4, rows["alone"]
  kernels = {"together": S.first_layer_kernels(str(tmp_path / "together" / "members")),
             "mapped": S.first_layer_kernels(str(tmp_path / "mapped" / "members")),
             "alone": np.stack([S.first_layer_kernels(str(d)) for d in
                                sorted((tmp_path / "alone" / "one_by_one").iterdir())])}
  assert kernels["alone"].shape == (4, 36, 16)  # per model: [n_in, n_hidden]
  # lax.map runs each member through the per-model programs: bit for bit the models alone.
  assert rows["mapped"] == rows["alone"]
  assert np.array_equal(kernels["mapped"], kernels["alone"])
  # vmap batches the products over members, and XLA may sum them in another order: the last
  # bits of the parameters may differ (0 measured on this CPU), far less than the distance
  # between any two members' filters (at least 0.25); a last-bit change can flip an example
  # near the boundary, so the errors agree to within one example of each split.
  splits = toy_splits(signal=SWEEP_SIGNAL)
  one_example = {k: 100.0 / len(splits[k][1]) for k in ("valid", "test")}
  np.testing.assert_allclose(kernels["together"], kernels["alone"], rtol=0, atol=1e-4)
  for i in range(4):
    for j in range(i):
      assert np.abs(kernels["alone"][i] - kernels["alone"][j]).max() > 0.1, (i, j)
  for a, b in zip(rows["together"], rows["alone"]):
    assert (a["level"], a["seed"]) == (b["level"], b["seed"])
    for k in ("valid", "test"):
      assert abs(a[f"{k}_error_pct"] - b[f"{k}_error_pct"]) <= one_example[k] + 1e-6, (k, a, b)
  # The first-layer filters differ between levels: one panel per level, side by side.
  from PIL import Image
  img = Image.open(tmp_path / "together" / "filters.png")
  assert img.width > 1.5 * img.height
  with open(tmp_path / "together" / "sweep_run.json") as f:
    run = json.load(f)
  assert run["mode"] == "members" and run["n_models"] == 4 and run["filter_levels"] == [0.0, 0.3]
  with open(tmp_path / "together" / "members" / "config.json") as f:
    assert json.load(f)["member_loop"] == "vmap"  # the loops the comparisons are about
  with open(tmp_path / "mapped" / "members" / "config.json") as f:
    assert json.load(f)["member_loop"] == "map"

  # Rerun on the finished workdir: restored from its checkpoint, the same numbers.
  run_main(entry, argv + [f"--workdir={tmp_path / 'together'}", "--member_loop=vmap"])
  with open(tmp_path / "together" / "sweep.json") as f:
    assert json.load(f) == rows["together"]
  assert np.array_equal(S.first_layer_kernels(str(tmp_path / "together" / "members")),
                        kernels["together"])


@pytest.mark.parametrize("argv, match", [
    (["--levels=0,abc"], "--levels=0,abc is malformed"),
    (["--levels=0,1.5"], "--levels=0,1.5"),
    (["--levels=0.1", "--seeds=0"], "--seeds=0"),
    (["--levels=0.1,0.1"], "repeats"),
    (["--levels=0.1", "--dataset=nope"], "unknown dataset 'nope'"),
])
def test_bad_input_one_line_no_output(tmp_path, monkeypatch, capsys, argv, match):
  from experiments import sweep as entry
  wd = tmp_path / "wd"
  status = run_cli(entry, TINY_FLAGS + [f"--workdir={wd}"] + argv)
  err = capsys.readouterr().err.strip()
  assert status == 2
  assert len(err.splitlines()) == 1 and match in err, err
  assert not wd.exists()


def test_entry_points_import_together():
  """Each entry point defines its flags privately when imported: no clash in one process."""
  import importlib
  mods = [importlib.import_module(f"experiments.{m}")
          for m in ("train", "sweep", "reproduce_table", "preview", "fetch_data")]
  assert mods[0].FLAGS is not mods[1].FLAGS
  assert "data_dir" in mods[4].FLAGS and mods[4].FLAGS is not mods[0].FLAGS
  assert "levels" in mods[1].FLAGS and "datasets" not in mods[1].FLAGS
