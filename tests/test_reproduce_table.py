"""experiments.reproduce_table in-process on a tiny configuration: unavailable rows, resume after
an interruption to the same table, bad input."""

import json

import numpy as np
import pytest

from sdae import data
from sdae import experiment as E
import helpers
from helpers import count_epochs, run_cli, toy_splits


@pytest.fixture
def toy_data(monkeypatch):
  """rect and convex load a toy problem; tzanetakis goes to the real loader (no files here)."""
  real = E.load_data
  # Tagged as sdae.data.load tags what it reads (source and data version): the results record
  # the tags.
  from sdae.data import regenerate
  fake = lambda c: data.Splits(toy_splits(seed=len(c.dataset)), "regenerated",
                               regenerate.resolve_version(c.dataset, c.data_version))
  monkeypatch.setattr(E, "load_data", lambda c: real(c) if c.dataset == "tzanetakis"
                      else (fake(c), "regenerated"))


def run_main(argv):
  from experiments import reproduce_table as entry
  return helpers.run_main(entry, argv)


def table(workdir):
  with open(workdir / "table.json") as f:
    rows = json.load(f)["rows"]
  timing = ("seconds", "training_seconds")
  return [{k: v for k, v in r.items() if k not in timing} for r in rows]


ARGS = ["--datasets=rect,tzanetakis,convex", "--budget=test", "--methods=sda3"]


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_same_table(tmp_path, toy_data, monkeypatch):
  ref = tmp_path / "ref"
  run_main(ARGS + [f"--workdir={ref}"])
  rows = table(ref)
  assert [r["dataset"] for r in rows] == ["rectangles", "tzanetakis", "convex"]
  assert [r["verdict"] != "unavailable" for r in rows] == [True, False, True]
  assert "tzanetakis" in rows[1]["note"] and "--data_dir" in rows[1]["note"]
  assert rows[0]["chosen"]["level"] in (0.1, 0.3) and rows[0]["data_source"] == "regenerated"
  assert rows[0]["valid_error_pct"] == min(g["valid_error_pct"] for g in rows[0]["grid"])
  assert (ref / "table.md").exists()
  assert (ref / "rectangles" / "sda3" / "hidden=16x8" / "metrics.jsonl").exists()

  # Killed in the middle of convex's pretraining (rect takes 2x2 + 3 = 7 epochs).
  cut = tmp_path / "cut"
  count_epochs(monkeypatch, stop_after=10)
  with pytest.raises(KeyboardInterrupt):
    run_main(ARGS + [f"--workdir={cut}"])
  partial = table(cut)
  assert [r["dataset"] for r in partial] == ["rectangles", "tzanetakis"]
  assert not (cut / "convex" / "sda3" / "hidden=16x8" / "results.json").exists()

  calls = count_epochs(monkeypatch)
  run_main(ARGS + [f"--workdir={cut}"])
  assert 0 < calls["n"] < 7  # rect read back, convex resumed from its checkpoint
  assert table(cut) == rows

  calls = count_epochs(monkeypatch)
  run_main(ARGS + [f"--workdir={cut}"])  # all finished: nothing trains
  assert calls["n"] == 0 and table(cut) == rows

  # The same workdir where the original files would now be read: refused, not mixed.
  from sdae.reproduce import table as table_lib
  monkeypatch.setattr(table_lib, "_source_to_use", lambda config: "original")
  with pytest.raises(E.RunError, match="used regenerated data and this run would use original"):
    run_main(ARGS + [f"--workdir={cut}"])


def test_diverged_models_are_never_chosen_and_the_row_says_so(tmp_path, toy_data, monkeypatch):
  real = E.train_and_evaluate

  def first_member_diverges(*args, **kwargs):  # as the driver reports a diverged member
    res = real(*args, **kwargs)
    res["members"][0].update(diverged=True, valid_error_pct=None, test_error_pct=None,
                             test_ci95_pct=None)
    return res

  monkeypatch.setattr(E, "train_and_evaluate", first_member_diverges)
  run_main(["--datasets=rect", "--budget=test", "--methods=sda3", f"--workdir={tmp_path}"])
  row = table(tmp_path)[0]
  assert row["n_models"] == 2 and row["n_diverged"] == 1
  assert row["chosen"]["level"] == 0.3  # the grid's first point (level 0.1) diverged
  assert "1 of 2 models diverged" in row["note"]
  md = (tmp_path / "table.md").read_text()
  assert "1 of 2 models diverged" in md
  # A smoke budget says so in the heading: its verdicts are not a comparison with the paper.
  assert md.startswith("# Table 3, budget test: a smoke run, not expected to match the paper\n"
                       "\nThe quick budget is a smoke run"), md[:300]


def test_every_model_diverged_is_a_row_with_a_note(tmp_path, toy_data):
  # ReLU units, squared error and a huge step: both grid points' losses overflow.
  run_main(["--datasets=rect,convex", "--budget=test", "--activation=relu", "--loss=squared",
            "--pretrain_lr=1000", "--methods=sda3", f"--workdir={tmp_path}"])
  rows = table(tmp_path)
  assert [r["dataset"] for r in rows] == ["rectangles", "convex"]  # the table went on
  for r in rows:
    assert r["test_error_pct"] is None and r["n_diverged"] == r["n_models"] == 2
    assert "2 of 2 models diverged" in r["note"] and "lower learning rates" in r["note"]


@pytest.mark.parametrize("argv, match", [
    (["--datasets=rect,nope"], "unknown dataset 'nope'"),
    (["--datasets=rect", "--budget=huge"], "--budget='huge' is unknown"),
    (["--datasets=rect", "--level=0.1"], "--level does not apply"),
    (["--datasets=rect", "--pretrain_epochs=-1"], "--pretrain_epochs=-1"),
    (["--budget=quick"], "--datasets is required"),
    (["--datasets=rect", "--methods=sda3,svm"], "--methods has 'svm'; accepted: svm_rbf"),
    (["--datasets=rect", "--prune=mean"], "--prune='mean' is invalid; accepted: none, median"),
])
def test_bad_input_one_line_no_output(tmp_path, monkeypatch, capsys, argv, match):
  wd = tmp_path / "wd"
  from experiments import reproduce_table as entry
  status = run_cli(entry, argv + [f"--workdir={wd}"])
  err = capsys.readouterr().err.strip()
  assert status == 2
  assert len(err.splitlines()) == 1 and match in err, err
  assert not wd.exists()


@pytest.mark.slow
def test_command_line_bad_input_subprocess(tmp_path):
  """The real program (absl app.run through experiments._cli): one line, exit 2, no output."""
  import pathlib
  import subprocess
  import sys
  root = pathlib.Path(__file__).resolve().parents[1]
  wd = tmp_path / "wd"
  p = subprocess.run([sys.executable, "-m", "experiments.reproduce_table", "--datasets=rect,nope",
                      f"--workdir={wd}"], cwd=root, capture_output=True, text=True, timeout=120)
  assert p.returncode == 2
  assert p.stderr.strip().startswith("error: unknown dataset 'nope'")
  assert len(p.stderr.strip().splitlines()) == 1 and not wd.exists()


ALL_COLUMNS = ["--datasets=rect", "--budget=test", "--pretrain_epochs=6", "--finetune_epochs=12",
               "--patience=12", "--methods=sda3,svm_rbf,dbn3,sae3,dbn1,mlp3"]


@pytest.mark.slow
def test_every_column_through_the_entry_point(tmp_path, toy_data, monkeypatch):
  """DBN-1, DBN-3, SAE-3, SdA-3, MLP-3 and the SVM on a toy problem: five paper columns and
  the bonus one, each the grid point its selection rule picks from its own grid (validation
  error, ties to the larger mean margin for the SVM, to the lower validation cross-entropy for
  the networks), each row the chosen model's own figures."""
  from sdae import sweep as sweep_lib
  wd = tmp_path / "t"
  run_main(ALL_COLUMNS + [f"--workdir={wd}"])
  rows = table(wd)
  assert [r["method"] for r in rows] == ["svm_rbf", "dbn1", "sae3", "dbn3", "sda3", "mlp3"]
  for r in rows:
    assert r["test_error_pct"] < 20, r  # chance is 50%
    assert r["valid_error_pct"] == min(g["valid_error_pct"] for g in r["grid"]), r
  # The SVM's pick: lowest validation error, then the larger mean margin (every point of this
  # toy set's grid is at 0% on validation, so the margin decides).
  best = min(rows[0]["grid"], key=lambda g: (g["valid_error_pct"], -g["valid_margin"]))
  assert (rows[0]["chosen"]["C"], rows[0]["chosen"]["gamma_factor"]) == (
      best["C"], best["gamma_factor"]), rows[0]
  # Each network's pick, by sdae.sweep.select's rule written out: lowest validation error,
  # then the lower validation cross-entropy, then the first.
  for r in rows[1:]:
    valid = [g for g in r["grid"] if not g["diverged"]]
    best = min(valid, key=lambda g: (g["valid_error_pct"], g["valid_xent"]))
    assert {k: r["chosen"][k] for k in ("group", "level", "seed", "pretrain_lr", "finetune_lr",
                                        "valid_xent")} == {
        k: best[k] for k in ("group", "level", "seed", "pretrain_lr", "finetune_lr",
                             "valid_xent")}, (r["method"], r["grid"])
    assert r["test_error_pct"] == best["test_error_pct"]
  assert rows[0]["chosen"].keys() >= {"C", "gamma"} and rows[0]["n_models"] >= 2
  # The SVM row is libsvm's model at the chosen pair, refitted on train + valid: recomputed here.
  from sklearn.svm import SVC
  sp = toy_splits(seed=len("rectangles"))
  model = SVC(C=rows[0]["chosen"]["C"], gamma=rows[0]["chosen"]["gamma"]).fit(
      np.concatenate([sp["train"][0], sp["valid"][0]]).astype(np.float64),
      np.concatenate([sp["train"][1], sp["valid"][1]]))
  wrong = np.mean(model.predict(sp["test"][0].astype(np.float64)) != sp["test"][1])
  assert rows[0]["test_error_pct"] == pytest.approx(100 * wrong, abs=1e-9)
  # Each network row is its chosen member's own figures, as its group recorded them.
  for r in rows[1:]:
    group = json.loads((wd / "rectangles" / r["method"] / r["chosen"]["group"] /
                        "results.json").read_text())
    picked = [m for m in group["members"] if m["levels"][0] == r["chosen"]["level"]
              and m["seed"] == r["chosen"]["seed"]
              and m["finetune_lr"] == pytest.approx(r["chosen"]["finetune_lr"])
              and m["pretrain_lr"] == pytest.approx(r["chosen"]["pretrain_lr"])]
    assert len(picked) == 1, (r["method"], r["chosen"])
    assert r["test_error_pct"] == pytest.approx(picked[0]["test_error_pct"], abs=1e-4)
  assert rows[1]["chosen"]["hidden"] == [16] and rows[1]["chosen"]["pretraining"] == "rbm"
  assert rows[3]["chosen"]["pretraining"] == "rbm" and rows[2]["chosen"]["level"] == 0.0
  assert rows[5]["chosen"]["pretraining"] == "none" and rows[5]["verdict"] == "unavailable"
  assert (wd / "rectangles" / "svm_rbf" / "svm_grid.json").exists()
  assert (wd / "rectangles" / "dbn3" / "hidden=16x8" / "filters.png").exists()
  md = (wd / "table.md").read_text()
  assert "| dataset | SVM_rbf | DBN-1 | SAE-3 | DBN-3 | SdA-3 | MLP-3 | data |" in md
  # A rerun reads every finished grid back, the SVM's too.
  from sdae.reproduce import svm
  calls = count_epochs(monkeypatch)
  monkeypatch.setattr(svm, "fit", lambda *a, **k: pytest.fail("the SVM was fitted again"))
  run_main(ALL_COLUMNS + [f"--workdir={wd}"])
  assert table(wd) == rows and calls["n"] == 0


def test_no_validation_split_is_one_line(tmp_path, monkeypatch, capsys):
  from experiments import reproduce_table as entry
  def no_valid(c):
    s = toy_splits()
    return dict(s, valid=(s["valid"][0][:0], s["valid"][1][:0])), "regenerated"
  monkeypatch.setattr(E, "load_data", no_valid)
  status = run_cli(entry, ["--datasets=convex", "--budget=test", "--methods=svm_rbf",
                           f"--workdir={tmp_path / 'wd'}"])
  err = capsys.readouterr().err.strip()
  assert status == 2 and len(err.splitlines()) == 1, err
  assert "convex has no validation split" in err


def test_print_grid_lists_what_would_train_and_trains_nothing(tmp_path, capsys):
  wd = tmp_path / "t"
  run_main(["--datasets=rect", "--budget=cpu", "--methods=svm_rbf,sae3,sda3", "--print_grid",
            f"--workdir={wd}"])
  out = capsys.readouterr().out
  assert not wd.exists()
  lines = out.splitlines()
  # rect's small training split searches the wide SVM grid: 7 C x 15 gamma factors (half
  # octaves).
  assert lines[0].startswith("rectangles svm_rbf: 105 fits: C {0.1, 1, 10, 100, 1000, 10000, "
                             "100000} x gamma {0.0625, 0.0883883, "), lines[0]
  # rect is small: SAE-3 also tries 500 units a layer and 3x the fine-tuning rate, and SAE-3
  # and SdA-3 each group at both initialisations.
  # ... and each network column grows past an edge pick, up to four steps; the SdA-3, whose grid
  # keeps the fine-tuning rate at one value, probes it (SAE-3 searches it).
  grows = ", then up to 4 steps past an edge pick (one model per edge axis a step)"
  assert "rectangles sae3: 24 models in 8 groups" + grows in lines
  assert ("rectangles sda3: 8 models in 2 groups" + grows + "; finetune_lr probed at the pick's "
          "/2 and x2 once it sits on no edge") in lines
  assert sum(l.startswith("  hidden=") and ",init=fan_in:" in l and "fan_in init" in l
             for l in lines) == 4 + 1
  assert any(l.startswith("  hidden=500x500x500,pretrain_epochs=5:")
             and "2 points: level {0} x seed {0} x pretrain_lr {0.1} x finetune_lr {0.1, 0.3}"
             in l for l in lines), out
  assert any(l.startswith("  hidden=1000x1000x1000: denoising pretraining (masking), 30 epochs")
             and "level {0.1, 0.25, 0.4, 0.6}" in l for l in lines), out
  assert lines[-1] == f"{105 + 24 + 8} trials in all"
  # The networks' work, summed by sdae.cost over the groups printed above (tests/test_cost.py).
  assert lines[-2].startswith("network work: at most ") and lines[-2].split()[5] == "TFLOP"


@pytest.mark.slow
def test_rows_count_trials_and_name_edge_picks(tmp_path, toy_data):
  wd = tmp_path / "t"
  run_main(["--datasets=rect", "--budget=test", "--methods=svm_rbf,sda3", f"--workdir={wd}"])
  svm_row, sda_row = table(wd)
  assert svm_row["trials"] == len(svm_row["grid"]) == 2
  # The test budget's SVM grid is C {1, 10} x gamma {1}: any C chosen is on its axis' edge.
  assert svm_row["on_edge"] == ["C"]
  assert sda_row["trials"] == sda_row["n_models"] == len(sda_row["grid"])
  levels = sorted({g["level"] for g in sda_row["grid"]})
  assert ("level" in sda_row["on_edge"]) == (sda_row["chosen"]["level"] in (levels[0],
                                                                            levels[-1]))
  assert svm_row["data_version"] == sda_row["data_version"] == __import__(
      "sdae.data.regenerate", fromlist=["newest"]).newest("rectangles")


def test_rows_record_the_data_version_and_refuse_another_on_rerun(tmp_path, toy_data):
  # --data_version reaches the row (table.json's data_version); a finished row read back on
  # another version is refused, not mixed; with no --data_version a rerun reads the version
  # its finished grids used.
  wd = tmp_path / "t"
  args = ["--datasets=convex", "--budget=test", "--methods=svm_rbf", f"--workdir={wd}"]
  run_main(args + ["--data_version=3"])
  assert table(wd)[0]["data_version"] == 3
  assert "regenerated v3" in (wd / "table.md").read_text()
  with pytest.raises(E.RunError, match="data version 3 and this run would use 4"):
    run_main(args + ["--data_version=4"])
  run_main(args)  # no --data_version: the finished row's version, 3
  assert table(wd)[0]["data_version"] == 3
