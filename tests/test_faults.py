"""Fault injection: a run SIGKILLed anywhere resumes to exactly the uninterrupted result.

Each test starts an entry point (``python -m experiments.train``) as a subprocess on a tiny
configuration, has it SIGKILL itself at a named point (through ``tests/faults.py``, which runs the
entry point with a kill hook as ``train_and_evaluate``'s ``on_event``: no cleanup runs, as on a
preempted machine), reruns the same command in the same workdir, and checks that results.json
and metrics.jsonl (timing fields aside) and every array of the final checkpoint are bitwise equal
to those of an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys

import numpy as np
import pytest

# Slow: each case starts and kills training subprocesses (`-m "not slow"` skips them).
pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Wall-clock fields (at any depth, and when results.json was written), not expected to repeat.
TIMING = frozenset({"seconds", "checkpoint_seconds", "training_seconds", "examples_per_s",
                    "created"})

# rectangles (regenerated: no files needed), SdA-2 of 16-8 units. Checkpoints every epoch, so
# with 3 pretraining epochs per layer and 4 fine-tuning epochs the saves are, in order:
# 1-2 layer 1 epochs 1-2, 3 layer boundary, 4-5 layer 2 epochs 1-2, 6 layer boundary,
# 7-10 fine-tuning epochs 1-4 (10 is also the final one).
TRAIN = ["--dataset=rectangles", "--hidden=16,8", "--pretrain_epochs=3", "--finetune_epochs=4",
         "--batch_size=50", "--checkpoint_every_secs=0"]


def command(module: str, args: list[str], fault: str | None = None) -> list[str]:
  """``python -m module args``, or through ``tests/faults.py`` armed with ``fault``."""
  if fault:
    return [sys.executable, str(ROOT / "tests" / "faults.py"), fault, module, *args]
  return [sys.executable, "-m", module, *args]


def _run(module: str, args: list[str], fault: str | None = None,
         timeout: float = 600) -> subprocess.CompletedProcess:
  env = dict(os.environ)
  env.setdefault("JAX_PLATFORMS", "cpu")
  return subprocess.run(command(module, args, fault), cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=timeout)


def _ok(proc: subprocess.CompletedProcess) -> None:
  assert proc.returncode == 0, proc.stderr[-3000:]


def _killed(proc: subprocess.CompletedProcess) -> None:
  assert proc.returncode == -signal.SIGKILL, (
      f"expected SIGKILL, got status {proc.returncode}: {proc.stderr[-3000:]}")


def _strip_timing(obj):
  if isinstance(obj, dict):
    return {k: _strip_timing(v) for k, v in obj.items() if k not in TIMING}
  if isinstance(obj, list):
    return [_strip_timing(v) for v in obj]
  return obj


def _results(workdir: pathlib.Path, name: str = "results.json"):
  with open(workdir / name) as f:
    return _strip_timing(json.load(f))


def final_arrays(checkpoint_dir: pathlib.Path) -> tuple[dict, dict]:
  """(arrays, meta) of the latest checkpoint in ``checkpoint_dir``."""
  from sdae import checkpoint as ck
  c = ck.Checkpointer(str(checkpoint_dir))
  try:
    arrays, meta = c.restore_latest()
  finally:
    c.close()
  meta = {k: v for k, v in meta.items() if k != "seconds"}
  return ck.named_leaves(arrays), meta


def _metrics(path: pathlib.Path) -> list:
  return [_strip_timing(json.loads(line)) for line in path.read_text().splitlines()]


def assert_same_run(a: pathlib.Path, b: pathlib.Path,
                    results: tuple[str, ...] = ("results.json",)) -> None:
  """Same results files and metrics.jsonl files (timing aside: every epoch once, in order)
  and bitwise-same arrays in every final checkpoint."""
  for name in results:
    assert _results(a, name) == _results(b, name), name
  logs = sorted(p.relative_to(a) for p in a.rglob("metrics.jsonl"))
  assert logs and logs == sorted(p.relative_to(b) for p in b.rglob("metrics.jsonl"))
  for log in logs:
    assert _metrics(a / log) == _metrics(b / log), log
  ck_dirs = sorted(p.relative_to(a) for p in a.rglob("checkpoints") if p.is_dir())
  assert ck_dirs == sorted(p.relative_to(b) for p in b.rglob("checkpoints") if p.is_dir())
  assert ck_dirs
  for ck_dir in ck_dirs:
    pa, ma = final_arrays(a / ck_dir)
    pb, mb = final_arrays(b / ck_dir)
    assert ma == mb, ck_dir
    assert ma["phase"] == "finetune", ck_dir
    assert pa.keys() == pb.keys(), ck_dir
    for k in pa:
      assert pa[k].dtype == pb[k].dtype and pa[k].shape == pb[k].shape, (ck_dir, k)
      np.testing.assert_array_equal(pa[k], pb[k], err_msg=f"{ck_dir}: {k}")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
  """One dataset cache for the module: rectangles' 50000 test examples are generated once."""
  return str(tmp_path_factory.mktemp("sdae_cache"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory, cache_dir):
  """The uninterrupted run."""
  workdir = tmp_path_factory.mktemp("reference")
  _ok(_run("experiments.train", TRAIN + [f"--cache_dir={cache_dir}", f"--workdir={workdir}"]))
  assert (workdir / "results.json").exists()
  return workdir


@pytest.mark.parametrize("fault", [
    "epoch_end:2",           # mid-pretraining (layer 1 epoch 2 done, its checkpoint not written)
    "layer_end:1",           # between layers (boundary checkpoint written, layer 2 not begun)
    "epoch_end:5",           # mid-pretraining of layer 2
    "finetune_epoch_end:2",  # mid-fine-tuning
    "checkpoint_write:3",    # during the layer-boundary checkpoint write (before its commit)
    "checkpoint_write:10",   # during the final checkpoint write
    "results_write:1",       # all checkpoints written, results.json not yet
])
def test_train_killed_then_resumed_equals_uninterrupted(fault, reference, cache_dir, tmp_path):
  args = TRAIN + [f"--cache_dir={cache_dir}", f"--workdir={tmp_path}"]
  _killed(_run("experiments.train", args, fault))
  assert not (tmp_path / "results.json").exists()
  _ok(_run("experiments.train", args))
  assert not list((tmp_path / "checkpoints").glob("*tmp*")), "uncommitted checkpoint left"
  assert_same_run(reference, tmp_path)


def test_train_killed_repeatedly_equals_uninterrupted(reference, cache_dir, tmp_path):
  """Four kills in a row in one workdir (counts restart with each process)."""
  args = TRAIN + [f"--cache_dir={cache_dir}", f"--workdir={tmp_path}"]
  for fault in ("epoch_end:1", "checkpoint_write:2", "layer_end:1", "finetune_epoch_end:1"):
    _killed(_run("experiments.train", args, fault))
    assert not (tmp_path / "results.json").exists()
  _ok(_run("experiments.train", args))
  assert_same_run(reference, tmp_path)


# --- sweep: 2 levels x 2 seeds trained together (members); saves per process: 1 layer 1 epoch 1,
# 2 boundary, 3 layer 2 epoch 1, 4 boundary, 5-7 fine-tuning epochs 1-3.
SWEEP = ["--dataset=rectangles", "--hidden=16,8", "--pretrain_epochs=2", "--finetune_epochs=3",
         "--batch_size=50", "--checkpoint_every_secs=0", "--levels=0,0.25", "--seeds=2"]
SWEEP_FILES = ("sweep.json", "members/results.json")


def test_sweep_killed_repeatedly_equals_uninterrupted(cache_dir, tmp_path):
  ref, cut = tmp_path / "ref", tmp_path / "cut"
  _ok(_run("experiments.sweep", SWEEP + [f"--cache_dir={cache_dir}", f"--workdir={ref}"]))
  args = SWEEP + [f"--cache_dir={cache_dir}", f"--workdir={cut}"]
  # mid-pretraining of layer 2; then during a checkpoint write (first save after the resume);
  # then mid-fine-tuning.
  for fault in ("epoch_end:3", "checkpoint_write:1", "finetune_epoch_end:2"):
    _killed(_run("experiments.sweep", args, fault))
    assert not (cut / "sweep.json").exists()
  _ok(_run("experiments.sweep", args))
  assert_same_run(ref, cut, SWEEP_FILES)


# --- reproduce_table: two datasets, two columns each (DBN-3 then SdA-3), each a group of 2 grid
# points (budget "test": 16-8 units, 2 + 3 epochs), all trained one after the other in one
# process.
TABLE = ["--datasets=rect,convex", "--budget=test", "--methods=dbn3,sda3"]


def test_reproduce_table_killed_repeatedly_equals_uninterrupted(cache_dir, tmp_path):
  ref, cut = tmp_path / "ref", tmp_path / "cut"
  _ok(_run("experiments.reproduce_table",
           TABLE + [f"--cache_dir={cache_dir}", f"--workdir={ref}"]))
  args = TABLE + [f"--cache_dir={cache_dir}", f"--workdir={cut}"]
  # Between the layers of rect's SdA-3 (its DBN-3 done); then just before a results.json.
  for fault in ("layer_end:3", "results_write:1"):
    _killed(_run("experiments.reproduce_table", args, fault))
  _ok(_run("experiments.reproduce_table", args))
  assert_same_run(ref, cut, ("table.json",))
