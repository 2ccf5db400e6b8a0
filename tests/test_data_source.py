"""Which data a run reads, and that it says so: the default source never depends on the cache, a
rerun resumes on the source its workdir recorded, and results record the source actually read.

The end-to-end test runs ``python -m experiments.train`` as a user would, in one cache folder that
also holds a prepared copy of the original rectangles (as a run with --data_dir leaves it).
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from sdae import config as C
from sdae import data
from sdae import experiment as E
from sdae.configs import sda
from sdae.data import cache

ROOT = pathlib.Path(__file__).resolve().parents[1]
# The tiny stand-in for the original rectangles: 50 test examples where the real set has 50000,
# so n_test tells which data a run read.
N_FAKE = {"train": 100, "valid": 50, "test": 50}


def put_fake_original(cache_dir) -> None:
  """A prepared 'original' rectangles entry in the cache, as a run with --data_dir leaves one."""
  rng = np.random.default_rng(0)
  splits = {s: ((rng.random((n, 784)) > 0.5).astype(np.float32),
                (np.arange(n) % 2).astype(np.int32)) for s, n in N_FAKE.items()}
  cache.save("rectangles-original", splits, {"source": "original", "fingerprint": None},
             str(cache_dir))


def test_default_source_ignores_the_cache(tmp_path):
  """With the original rectangles cached, the default is still regenerated (as the README's
  snippet says), and the splits say so; asked for, the original comes from the cache."""
  put_fake_original(tmp_path)
  assert data.pick_source("rect", cache_dir=str(tmp_path)) == "regenerated"
  splits = data.load("rect", cache_dir=str(tmp_path))
  assert splits.source == "regenerated" and len(splits["test"][1]) == 50000
  original = data.load("rect", source="original", cache_dir=str(tmp_path))
  assert original.source == "original" and len(original["test"][1]) == N_FAKE["test"]


def test_default_source_is_original_when_data_dir_holds_the_files(tmp_path):
  (tmp_path / "rectangles.zip").write_bytes(b"")  # presence decides; its content is checked on read
  assert data.pick_source("rect", data_dir=str(tmp_path)) == "original"
  assert data.pick_source("rect", data_dir=str(tmp_path), source="regenerated") == "regenerated"
  assert data.pick_source("convex", data_dir=str(tmp_path)) == "regenerated"  # no convex.zip
  assert data.pick_source("mnist") == "original"  # its only source


def test_missing_data_dir_is_refused(tmp_path):
  """A --data_dir that is not a folder is an error, not silently regenerated data."""
  missing = str(tmp_path / "nonexistent")
  with pytest.raises(data.DataError, match="--data_dir=.*nonexistent does not exist"):
    data.load("rect", data_dir=missing, cache_dir=str(tmp_path / "cache"))
  assert not (tmp_path / "cache").exists()
  with pytest.raises(C.ConfigError, match="--data_dir=.*nonexistent is not a folder"):
    C.validate(sda.for_dataset("rect").replace(data_dir=missing))
  (tmp_path / "a_file").write_text("")
  with pytest.raises(data.DataError, match="is not a folder"):
    data.pick_source("rect", data_dir=str(tmp_path / "a_file"))


def test_workdir_recorded_source_is_reused(tmp_path):
  cfg = sda.for_dataset("rect")
  assert E.with_recorded_source(cfg, str(tmp_path)) is cfg  # nothing recorded
  (tmp_path / "config.json").write_text(json.dumps(
      {"dataset": "rectangles", "data_source": None, "data_source_used": "original"}))
  assert E.with_recorded_source(cfg, str(tmp_path)).data_source == "original"
  # Not when a source is asked for, when starting over, or for another dataset.
  assert E.with_recorded_source(cfg.replace(data_source="regenerated"),
                                str(tmp_path)).data_source == "regenerated"
  assert E.with_recorded_source(cfg, str(tmp_path), overwrite=True).data_source is None
  assert E.with_recorded_source(sda.for_dataset("convex"), str(tmp_path)).data_source is None


# --- end to end: python -m experiments.train ----------------------------------------------------

TINY = ["--dataset=rect", "--hidden=8", "--pretrain_epochs=1", "--finetune_epochs=1",
        "--batch_size=50"]


def _train(workdir, cache_dir, *extra):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  env.pop("SDAE_FAULT_AT", None)
  return subprocess.run([sys.executable, "-m", "experiments.train", *TINY, f"--workdir={workdir}",
                         f"--cache_dir={cache_dir}", *extra], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=600)


def _ok(proc):
  assert proc.returncode == 0, proc.stderr[-3000:]


def _results(workdir):
  with open(workdir / "results.json") as f:
    return json.load(f)


@pytest.mark.slow
def test_reruns_resume_whatever_the_cache_holds(tmp_path):
  """The issue's sequence: with the original rectangles in the shared cache, the README's
  command (no --data_dir) trains on regenerated data, and rerunning it, or naming that source,
  resumes; a workdir trained on the original resumes on it without being told."""
  cache_dir, work = tmp_path / "cache", tmp_path / "rect"
  put_fake_original(cache_dir)

  _ok(_train(work, cache_dir))
  first = _results(work)
  assert first["data_source"] == first["config"]["data_source"] == "regenerated"
  assert first["n_test"] == 50000
  for extra in ((), ("--data_source=regenerated",)):
    proc = _train(work, cache_dir, *extra)
    _ok(proc)
    assert "resumed from checkpoint" in proc.stderr
    assert _results(work)["test_error_pct"] == first["test_error_pct"]
  # Another source in the same workdir is another run: refused, one line.
  proc = _train(work, cache_dir, "--data_source=original")
  assert proc.returncode == 1
  assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
  assert "data_source_used: 'regenerated' -> 'original'" in proc.stderr

  # A run on the original (asked for; read from the cache) is resumed on it without the flag.
  other = tmp_path / "rect_original"
  _ok(_train(other, cache_dir, "--data_source=original"))
  assert _results(other)["data_source"] == "original"
  assert _results(other)["n_test"] == N_FAKE["test"]
  proc = _train(other, cache_dir)
  _ok(proc)
  assert "trained on original data: resuming on it" in proc.stderr
  assert _results(other)["data_source"] == "original"
