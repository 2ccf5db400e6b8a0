"""What a run leaves in its workdir: results.json's fields, files readable as the umask says,
and how many checkpoints."""

from __future__ import annotations

import json
import os
import re
import stat

import pytest

from sdae import config as C
from sdae import data
from sdae import experiment as E
from sdae.io import files as fileio
from sdae.io import results as R
from helpers import toy_splits

TINY = C.TrainConfig(dataset="toy", hidden=(16, 8), pretrain_epochs=2, finetune_epochs=3,
                     batch_size=10, level=0.2, patience=6, checkpoint_every_secs=0.0)


@pytest.fixture
def umask():
  """Sets the process's umask for one test (restored after)."""
  old = os.umask(0o022)
  yield lambda mask: os.umask(mask)
  os.umask(old)


def _mode(path) -> int:
  return stat.S_IMODE(os.stat(path).st_mode)


def test_workdir_files_follow_the_umask_and_results_explain_themselves(tmp_path, umask):
  umask(0o027)  # group may read, others nothing: what mkstemp's 0600 broke
  work = tmp_path / "run"
  r = E.train_and_evaluate(TINY, str(work), splits=data.Splits(toy_splits(), "regenerated"))
  for name in ("results.json", "config.json", "filters.png", "reconstructions.png",
               "metrics.jsonl"):
    assert _mode(work / name) == 0o640, name
  with open(work / "results.json") as f:
    saved = json.load(f)
  assert saved == r
  # The headline first, then the sizes, then the settings and the provenance.
  assert list(saved)[:11] == ["dataset", "data_source", "data_version", "test_error_pct",
                              "test_ci95_pct", "valid_error_pct", "n_train", "n_valid", "n_test",
                              "finetune_best_epoch", "finetune_epochs_run"]
  assert (saved["n_train"], saved["n_valid"], saved["n_test"]) == (300, 100, 200)
  assert 1 <= saved["finetune_best_epoch"] <= saved["finetune_epochs_run"] <= 3
  assert "best_epoch" not in saved
  # Each setting once, resolved: the source read, no 0 sentinels.
  config = saved["config"]
  assert "data_source_used" not in config and config["data_source"] == "regenerated"
  assert "data_version_used" not in config and config["data_version"] is None  # untagged
  assert config["n_train"] == 300 and config["finetune_batch_size"] == 10
  assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", saved["created"])
  assert saved["sdae_version"] == __import__("sdae").__version__
  assert saved["git_commit"] is None or re.fullmatch(r"[0-9a-f]{40}(\+dirty)?",
                                                     saved["git_commit"])
  assert set(saved) >= {"seconds", "device", "config", "checkpoint_seconds"}
  # config.json keeps the run's identity as asked (sentinels and all), for resuming.
  with open(work / "config.json") as f:
    identity = json.load(f)
  assert identity["n_train"] == 0 and identity["data_source_used"] == "regenerated"
  # Two checkpoints kept by default (the older one survives damage to the newer).
  assert len([p for p in os.listdir(work / "checkpoints") if p.isdigit()]) == 2
  assert saved["resumed_from"] is None and saved["skipped_checkpoints"] == []


def test_keep_checkpoints_zero_removes_them_after_the_results(tmp_path):
  work = tmp_path / "run"
  E.train_and_evaluate(TINY.replace(keep_checkpoints=0), str(work), splits=toy_splits(),
                       write_images=False)
  assert (work / "results.json").exists()
  assert not (work / "checkpoints").exists()
  with pytest.raises(C.ConfigError, match="keep_checkpoints=-1"):
    C.validate(TINY.replace(keep_checkpoints=-1))


def test_complete_resolves_sentinels_without_touching_the_input():
  raw = {"device": "cpu", "dataset": "rectangles", "data_source": "original", "n_test": 5,
         "config": {"n_train": 0, "finetune_batch_size": 0, "data_source": None,
                    "data_source_used": "original", "batch_size": 20},
         "seconds": {}, "finetune_epochs_run": 4, "test_error_pct": 1.0, "best_epoch": 3}
  out = R.complete(raw, n_train=7, n_valid=2, finetune_batch_size=20)
  assert raw["config"]["n_train"] == 0 and "best_epoch" in raw
  assert out["config"] == {"n_train": 7, "finetune_batch_size": 20, "data_source": "original",
                           "batch_size": 20}
  assert out["finetune_best_epoch"] == 3 and (out["n_train"], out["n_valid"]) == (7, 2)
  assert list(out)[:3] == ["dataset", "data_source", "test_error_pct"]


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077], ids=["022", "002", "077"])
def test_atomic_writes_keep_the_umask_mode(tmp_path, umask, mask):
  umask(mask)
  from sdae import viz
  import numpy as np
  fileio.write_json(tmp_path / "a.json", {"x": 1})
  fileio.write_json(str(tmp_path / "denoise.json"), {"x": 1}, sort_keys=True)
  fileio.write_bytes(str(tmp_path / "denoiser.msgpack"), b"\0")
  viz.save_gray(np.zeros((4, 4)), str(tmp_path / "g.png"))
  data.cache.save("k", {s: (np.zeros((1, 2), np.float32), np.zeros(1, np.int32))
                        for s in ("train", "valid", "test")}, {}, str(tmp_path / "c"))
  for path in ("a.json", "denoise.json", "denoiser.msgpack", "g.png", "c/k.npz"):
    assert _mode(tmp_path / path) == 0o666 & ~mask, path
  assert sorted(os.listdir(tmp_path)) == ["a.json", "c", "denoise.json", "denoiser.msgpack",
                                          "g.png"]  # no temporary files left


def test_failed_write_leaves_the_old_file(tmp_path):
  path = tmp_path / "r.json"
  fileio.write_json(path, {"v": 1})

  def boom(f):
    f.write(b"half")
    raise RuntimeError("disk full")

  with pytest.raises(RuntimeError):
    fileio.atomic_write(str(path), boom)
  assert json.loads(path.read_text()) == {"v": 1}
  assert os.listdir(tmp_path) == ["r.json"]
