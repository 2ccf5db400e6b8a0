"""experiments.reproduce_table in-process on a tiny configuration: unavailable rows, resume after
an interruption to the same table, bad input."""

import json

import numpy as np
import pytest

from sdae import data
from sdae import experiment as E
from helpers import count_epochs, run_cli, toy_splits


@pytest.fixture
def toy_data(monkeypatch):
  """rect and convex load a toy problem; tzanetakis goes to the real loader (no files here)."""
  real = E.load_data
  # Tagged as sdae.data.load tags what it reads: the results record the tag.
  fake = lambda c: data.Splits(toy_splits(seed=len(c.dataset)), "regenerated")
  monkeypatch.setattr(E, "load_data", lambda c: real(c) if c.dataset == "tzanetakis"
                      else (fake(c), "regenerated"))


def run_main(argv):
  from experiments import reproduce_table as entry
  entry.FLAGS.unparse_flags()
  try:
    entry.FLAGS(["prog"] + argv)
    return entry.main(["prog"])
  finally:
    entry.FLAGS.unparse_flags()


def table(workdir):
  with open(workdir / "table.json") as f:
    rows = json.load(f)["rows"]
  timing = ("seconds", "training_seconds")
  return [{k: v for k, v in r.items() if k not in timing} for r in rows]


ARGS = ["--datasets=rect,tzanetakis,convex", "--budget=test"]


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_same_table(tmp_path, toy_data, monkeypatch):
  ref = tmp_path / "ref"
  run_main(ARGS + [f"--workdir={ref}"])
  rows = table(ref)
  assert [r["dataset"] for r in rows] == ["rectangles", "tzanetakis", "convex"]
  assert [r["verdict"] != "unavailable" for r in rows] == [True, False, True]
  assert "tzanetakis" in rows[1]["note"] and "--data_dir" in rows[1]["note"]
  assert rows[0]["chosen"]["level"] in (0.0, 0.3) and rows[0]["data_source"] == "regenerated"
  assert rows[0]["valid_error_pct"] == min(g["valid_error_pct"] for g in rows[0]["grid"])
  assert (ref / "table.md").exists()
  assert (ref / "rectangles" / "hidden=16x8" / "metrics.jsonl").exists()

  # Killed in the middle of convex's pretraining (rect takes 2x2 + 3 = 7 epochs).
  cut = tmp_path / "cut"
  count_epochs(monkeypatch, stop_after=10)
  with pytest.raises(KeyboardInterrupt):
    run_main(ARGS + [f"--workdir={cut}"])
  partial = table(cut)
  assert [r["dataset"] for r in partial] == ["rectangles", "tzanetakis"]
  assert not (cut / "convex" / "hidden=16x8" / "results.json").exists()

  calls = count_epochs(monkeypatch)
  run_main(ARGS + [f"--workdir={cut}"])
  assert 0 < calls["n"] < 7  # rect read back, convex resumed from its checkpoint
  assert table(cut) == rows

  calls = count_epochs(monkeypatch)
  run_main(ARGS + [f"--workdir={cut}"])  # all finished: nothing trains
  assert calls["n"] == 0 and table(cut) == rows

  # The same workdir where the original files would now be read: refused, not mixed.
  from sdae import table as table_lib
  monkeypatch.setattr(table_lib, "_source_to_use", lambda config: "original")
  with pytest.raises(E.RunError, match="used regenerated data and this run would use original"):
    run_main(ARGS + [f"--workdir={cut}"])


@pytest.mark.parametrize("argv, match", [
    (["--datasets=rect,nope"], "unknown dataset 'nope'"),
    (["--datasets=rect", "--budget=huge"], "--budget='huge' is unknown"),
    (["--datasets=rect", "--level=0.1"], "--level does not apply"),
    (["--datasets=rect", "--pretrain_epochs=-1"], "--pretrain_epochs=-1"),
    (["--budget=quick"], "--datasets is required"),
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
