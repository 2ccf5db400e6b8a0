"""Fault injection: a run SIGKILLed anywhere resumes to exactly the uninterrupted result, and
so does one that was preempted (SIGTERM, SIGINT), launched twice, or met torn files or a full disk.

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
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

# Slow: each case starts and kills training subprocesses (`-m "not slow"` skips them).
pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Wall-clock fields (at any depth, and when results.json was written), and the run's history of
# interruptions (where this process resumed, what it found damaged): not expected to repeat.
TIMING = frozenset({"seconds", "checkpoint_seconds", "training_seconds", "examples_per_s",
                    "created", "resumed_from", "skipped_checkpoints"})

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
  meta = {k: v for k, v in meta.items() if k not in TIMING}
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


# --- Faults a shared cluster produces (preemption, duplicate launches, torn files, full disks).
# Each fault: its exit status, no traceback, at most two lines on stderr besides the progress
# lines (which start with a clock time), the fault named in them; then the run goes on and ends
# equal to the fault-free run.

_PROGRESS = re.compile(r"^\d\d:\d\d:\d\d ")


def _fault_lines(proc: subprocess.CompletedProcess) -> list[str]:
  """stderr without the progress lines; asserts no traceback and at most two lines."""
  assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
  lines = [l for l in proc.stderr.splitlines() if l.strip() and not _PROGRESS.match(l)]
  assert len(lines) <= 2, proc.stderr[-3000:]
  return lines


def _exits(proc: subprocess.CompletedProcess, status: int, *words: str) -> str:
  """Asserts ``proc`` exited with ``status`` and one error line holding ``words``; returns it."""
  assert proc.returncode == status, (proc.returncode, proc.stderr[-3000:])
  lines = _fault_lines(proc)
  assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-3000:]
  for w in words:
    assert w in lines[0], (w, lines[0])
  return lines[0]


def _tear_newest_checkpoint(ck_dir: pathlib.Path) -> int:
  """Truncates the largest file of the newest checkpoint to half (a full disk's or an
  interrupted copy's leftover); returns its step."""
  step = max(int(p.name) for p in ck_dir.iterdir() if p.name.isdigit())
  victim = max((p for p in (ck_dir / str(step)).rglob("*") if p.is_file()),
               key=lambda p: p.stat().st_size)
  with open(victim, "r+b") as f:
    f.truncate(victim.stat().st_size // 2)
  return step


def _start_held(module: str, args: list[str], fault: str, release: pathlib.Path):
  """Starts ``module`` held at ``fault`` (action ``hold``); returns the process once it holds."""
  env = dict(os.environ, SDAE_FAULT_HOLD=str(release))
  env.setdefault("JAX_PLATFORMS", "cpu")
  proc = subprocess.Popen(command(module, args, fault), cwd=ROOT, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
  ready = pathlib.Path(str(release) + ".ready")
  for _ in range(6000):
    if ready.exists() or proc.poll() is not None:
      break
    time.sleep(0.05)
  assert ready.exists(), proc.communicate()[1][-3000:]
  return proc


def _second_launch_refused(module: str, args: list[str], release: pathlib.Path) -> str:
  """Holds a run of ``module`` at its first fine-tuning epoch, checks that the same command
  launched again exits 2 in one line, releases the first and returns its stderr (it must end
  well)."""
  first = _start_held(module, args, "finetune_epoch_end:1=hold", release)
  try:
    _exits(_run(module, args), 2, "is in use by pid")
  finally:
    release.write_text("")
    _, err = first.communicate(timeout=600)
  assert first.returncode == 0, err[-3000:]
  return err


def test_train_survives_preemption_damage_and_full_disks(reference, cache_dir, tmp_path):
  args = TRAIN + [f"--cache_dir={cache_dir}", f"--workdir={tmp_path}"]
  ck = tmp_path / "checkpoints"
  # SIGTERM mid-pretraining: the epoch ends, a checkpoint is written, status 143.
  line = _exits(_run("experiments.train", args, "epoch_end:2=term"), 143,
                "interrupted by SIGTERM at pretraining layer 1/2 epoch 2/3", "checkpoint saved",
                "rerun the same command")
  assert 2 in {int(p.name) for p in ck.iterdir() if p.name.isdigit()}, line
  # The newest checkpoint torn: moved aside, the run resumes from the one before; then SIGINT
  # during fine-tuning (130).
  torn = _tear_newest_checkpoint(ck)
  proc = _run("experiments.train", args, "finetune_epoch_end:1=int")
  assert proc.returncode == 130, proc.stderr[-3000:]
  warned = [l for l in proc.stderr.splitlines() if "cannot be read" in l]
  assert len(warned) == 1 and f"corrupt-{torn}" in warned[0], proc.stderr[-3000:]
  assert (ck / f"corrupt-{torn}").is_dir()
  _exits(proc, 130, "interrupted by SIGINT at fine-tuning epoch 1/4")
  # A damaged config.json: one line naming it (2); restored by hand, the run goes on.
  config = (tmp_path / "config.json").read_bytes()
  (tmp_path / "config.json").write_bytes(config[:len(config) // 2])
  _exits(_run("experiments.train", args), 2, f"{tmp_path}/config.json is damaged", "--overwrite")
  (tmp_path / "config.json").write_bytes(config)
  # Disk full while writing a checkpoint: one line (1); the previous checkpoint stays intact.
  def checkpoints():
    return sorted(p.name for p in ck.iterdir() if "tmp" not in p.name)
  before = checkpoints()
  _exits(_run("experiments.train", args, "checkpoint_write:1=full"), 1, "cannot write checkpoint",
         "File too large", "is intact")
  assert checkpoints() == before
  # Torn bytes at the end of metrics.jsonl, then a full disk while writing results.json.
  with open(tmp_path / "metrics.jsonl", "ab") as f:
    f.write(b'{"phase": "fine\xff\xfe')
  _exits(_run("experiments.train", args, "results_write:1=full"), 1, "results.json")
  assert not (tmp_path / "results.json").exists()
  assert not list(tmp_path.glob(".results.json*")), "temporary file left"
  _ok(_run("experiments.train", args))
  assert not list(ck.glob("*tmp*")), "a failed write's temporary folder is left"
  assert_same_run(reference, tmp_path)
  with open(tmp_path / "results.json") as f:
    results = json.load(f)
  assert results["resumed_from"]["phase"] == "finetune"
  assert [s["step"] for s in results["skipped_checkpoints"]] == [torn]


def test_train_second_launch_on_a_busy_workdir_exits_and_the_first_is_untouched(
    reference, cache_dir, tmp_path):
  work, release = tmp_path / "work", tmp_path / "release"
  args = TRAIN + [f"--cache_dir={cache_dir}", f"--workdir={work}"]
  first = _start_held("experiments.train", args, "epoch_end:4=hold", release)
  try:
    line = _exits(_run("experiments.train", args), 2, f"--workdir={work} is in use by pid "
                  f"{first.pid} on host {socket.gethostname()}")
    assert "another --workdir" in line
  finally:
    release.write_text("")
    _, err = first.communicate(timeout=600)
  assert first.returncode == 0, err[-3000:]
  assert_same_run(reference, work)


def test_sweep_preempted_torn_and_launched_twice_equals_uninterrupted(cache_dir, tmp_path):
  ref, cut, release = tmp_path / "ref", tmp_path / "cut", tmp_path / "release"
  _ok(_run("experiments.sweep", SWEEP + [f"--cache_dir={cache_dir}", f"--workdir={ref}"]))
  args = SWEEP + [f"--cache_dir={cache_dir}", f"--workdir={cut}"]
  _exits(_run("experiments.sweep", args, "epoch_end:1=term"), 143,
         "interrupted by SIGTERM at pretraining layer 1/2 epoch 1/2")
  # Its only checkpoint torn: moved aside, and the sweep starts over.
  torn = _tear_newest_checkpoint(cut / "members" / "checkpoints")
  err = _second_launch_refused("experiments.sweep", args, release)
  assert f"corrupt-{torn}" in err
  assert_same_run(ref, cut, SWEEP_FILES)


def test_reproduce_table_preempted_damaged_and_launched_twice_equals_uninterrupted(
    cache_dir, tmp_path):
  ref, cut, release = tmp_path / "ref", tmp_path / "cut", tmp_path / "release"
  _ok(_run("experiments.reproduce_table",
           TABLE + [f"--cache_dir={cache_dir}", f"--workdir={ref}"]))
  args = TABLE + [f"--cache_dir={cache_dir}", f"--workdir={cut}"]
  # SIGTERM at the first layer boundary of rect's DBN-3.
  _exits(_run("experiments.reproduce_table", args, "layer_end:1=term"), 143,
         "interrupted by SIGTERM at the end of pretraining layer 1/2")
  _second_launch_refused("experiments.reproduce_table", args, release)
  # A finished group's results.json damaged: one warning line, recomputed from its checkpoint.
  group = sorted(cut.rglob("results.json"))[0]
  group.write_text('{"members": [')
  proc = _run("experiments.reproduce_table", args)
  _ok(proc)
  warned = [l for l in proc.stderr.splitlines() if "is damaged" in l]
  assert len(warned) == 1 and str(group) in warned[0], proc.stderr[-3000:]
  assert_same_run(ref, cut, ("table.json",))
