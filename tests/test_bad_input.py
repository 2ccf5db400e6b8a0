"""Bad input: a non-zero exit, ONE line on stderr naming the value, and no output in the workdir.

Every case runs the real entry point (``python -m experiments.train``, a few
``experiments.sweep`` and ``experiments.reproduce_table``) as a subprocess, all of
them concurrently from one module fixture. Flag and configuration errors are caught before any
data is read or anything compiled; data errors (missing, corrupt or unparsable files, a batch
larger than the data) before the workdir is created.
"""

from __future__ import annotations

import concurrent.futures
import gzip
import os
import pathlib
import struct
import subprocess
import sys
import zipfile

import pytest

# Slow: a subprocess per case (python -m pytest -m 'not slow' skips them).
pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parents[1]

# (id, flags after --workdir, substrings the one stderr line must contain)
CASES = [
    ("unknown_dataset", ["--dataset=nope"], ["'nope'", "mnist"]),
    ("unknown_corruption", ["--dataset=rect", "--corruption=smudge"], ["'smudge'", "masking"]),
    ("level_above_range", ["--dataset=rect", "--level=1.5"], ["1.5", "masking", "[0, 1]"]),
    ("level_below_range", ["--dataset=rect", "--corruption=gaussian", "--level=-0.5"],
     ["-0.5", "gaussian"]),
    ("layer_level_out_of_range", ["--dataset=rect", "--hidden=8,8", "--layer_levels=0.1,2"],
     ["2", "[0, 1]"]),
    ("layer_levels_count", ["--dataset=rect", "--hidden=8,8", "--layer_levels=0.1,0.2,0.3"],
     ["--layer_levels", "3"]),
    ("hidden_zero", ["--dataset=rect", "--hidden=0"], ["--hidden", "0", "positive"]),
    ("hidden_negative", ["--dataset=rect", "--hidden=10,-3"], ["--hidden", "-3", "positive"]),
    ("pretrain_epochs_negative", ["--dataset=rect", "--pretrain_epochs=-1"],
     ["--pretrain_epochs=-1"]),
    ("finetune_epochs_zero", ["--dataset=rect", "--finetune_epochs=0"], ["--finetune_epochs=0"]),
    ("batch_size_zero", ["--dataset=rect", "--batch_size=0"], ["--batch_size=0"]),
    ("finetune_batch_size_negative", ["--dataset=rect", "--finetune_batch_size=-2"],
     ["--finetune_batch_size=-2"]),
    ("lr_negative", ["--dataset=rect", "--pretrain_lr=-0.1"], ["--pretrain_lr=-0.1"]),
    ("hidden_malformed", ["--dataset=rect", "--hidden=10,a"], ["--hidden=10,a"]),
    ("layer_levels_malformed", ["--dataset=rect", "--layer_levels=0.1,x"],
     ["--layer_levels=0.1,x"]),
    ("level_malformed", ["--dataset=rect", "--level=abc"], ["--level", "abc"]),
    ("int_flag_malformed", ["--dataset=rect", "--batch_size=1.5"], ["--batch_size", "1.5"]),
    ("unknown_flag", ["--dataset=rect", "--hiden=10"], ["hiden"]),
    ("positional_argument", ["--dataset=rect", "extra"], ["extra"]),
    ("missing_dataset", [], ["--dataset"]),
    ("unknown_data_source", ["--dataset=rect", "--data_source=web"], ["'web'", "original"]),
    ("unknown_optimizer", ["--dataset=rect", "--optimizer=lbfgs"], ["'lbfgs'", "sgd"]),
    ("natural_patches_has_no_classes", ["--dataset=natural"], ["natural_patches", "filters"]),
    ("filters_unknown_figure", ["experiments.filters", "--figure=fig9"], ["'fig9'", "natural"]),
    ("filters_negative_decay", ["experiments.filters", "--figure=natural", "--decays=0,-1e-3"],
     ["-0.001", ">= 0"]),
    ("filters_patch_larger_than_images", ["experiments.filters", "--figure=natural",
                                          "--patch_size=1000"], ["--patch_size=1000", "2 to"]),
    ("unknown_member_loop", ["experiments.sweep", "--dataset=rect", "--levels=0,0.1",
                             "--member_loop=pmap"], ["--member_loop='pmap'", "vmap, map"]),
    # Environment ("ENV:NAME=VALUE" items are set in the process's environment, not passed).
    ("cpu_devices_zero", ["experiments.sweep", "--dataset=rect", "--levels=0,0.1",
                          "--cpu_devices=0"], ["--cpu_devices=0", "positive integer"]),
    ("distributed_env_incomplete", ["ENV:SDAE_NUM_PROCESSES=2", "experiments.sweep",
                                    "--dataset=rect", "--levels=0,0.1"],
     ["SDAE_NUM_PROCESSES=2 is set but --coordinator (or SDAE_COORDINATOR) is not"]),
    ("distributed_flags_incomplete", ["experiments.sweep", "--dataset=rect", "--levels=0,0.1",
                                      "--coordinator=localhost:1", "--num_processes=2"],
     ["--coordinator=localhost:1 needs --num_processes and --process_id (or SDAE_PROCESS_ID)"]),
    # Data errors: found when the data is read, before the workdir is created.
    ("batch_larger_than_data", ["--dataset=rect", "--data_source=regenerated", "--n_train=100",
                                "--batch_size=200", "--hidden=8"],
     ["--batch_size=200", "100"]),
    ("finetune_batch_larger_than_data", ["--dataset=rect", "--data_source=regenerated",
                                         "--n_train=100", "--finetune_batch_size=101",
                                         "--hidden=8"],
     ["--finetune_batch_size=101", "100"]),
    ("data_dir_missing", ["--dataset=mnist", "--data_dir={tmp}/nonexistent"],
     ["{tmp}/nonexistent"]),
    # A set that could be regenerated without it: a mistyped folder is still refused.
    ("data_dir_missing_regenerable", ["--dataset=rect", "--data_dir={tmp}/nonexistent"],
     ["--data_dir={tmp}/nonexistent", "not a folder"]),
    ("data_dir_without_files", ["--dataset=mnist", "--data_source=original",
                                "--data_dir={tmp}/empty"],
     ["train-images-idx3-ubyte.gz", "{tmp}/empty"]),
    ("mnist_file_fails_checksum", ["--dataset=mnist", "--data_dir={tmp}/bad_md5"],
     ["{tmp}/bad_md5/train-images-idx3-ubyte.gz", "MD5"]),
    ("mnist_file_not_gzip", ["--dataset=mnist", "--data_dir={tmp}/not_gzip"],
     ["{tmp}/not_gzip/train-images-idx3-ubyte.gz", "gzip"]),
    # Not an IDX file at all: the MD5 of the content is checked first, and catches it.
    ("mnist_file_not_idx", ["--dataset=mnist", "--data_dir={tmp}/not_idx"],
     ["{tmp}/not_idx/train-images-idx3-ubyte.gz", "MD5"]),
    ("zip_fails_checksum", ["--dataset=rect", "--data_source=original",
                            "--data_dir={tmp}/bad_zip"],
     ["{tmp}/bad_zip/rectangles.zip", "bytes"]),
    # convex.zip has no published checksum: only its parse can catch a bad file.
    ("zip_corrupt", ["--dataset=convex", "--data_source=original", "--data_dir={tmp}/junk_zip"],
     ["{tmp}/junk_zip/convex.zip", "corrupt"]),
    ("amat_does_not_parse", ["--dataset=convex", "--data_source=original",
                             "--data_dir={tmp}/bad_amat"],
     ["convex_train.amat", "line 2", "785"]),
    # The other entry points share the boundary (a module name first).
    ("sweep_levels_malformed", ["experiments.sweep", "--dataset=rect", "--levels=0,abc"],
     ["--levels=0,abc"]),
    ("sweep_level_out_of_range", ["experiments.sweep", "--dataset=rect", "--levels=0,1.5"],
     ["1.5", "[0, 1]"]),
    ("sweep_seeds_zero", ["experiments.sweep", "--dataset=rect", "--levels=0.1", "--seeds=0"],
     ["--seeds=0"]),
    ("sweep_batch_size_negative", ["experiments.sweep", "--dataset=rect", "--levels=0.1",
                                   "--batch_size=-5"], ["--batch_size=-5"]),
    ("table_unknown_dataset", ["experiments.reproduce_table", "--datasets=rect,nope"],
     ["'nope'", "rect"]),
    ("table_unknown_budget", ["experiments.reproduce_table", "--datasets=rect", "--budget=huge"],
     ["'huge'", "quick"]),
    ("table_batch_larger_than_a_set", ["experiments.reproduce_table",
                                       "--datasets=convex,rect", "--batch_size=1500"],
     ["--batch_size=1500", "rectangles", "1000"]),
    # An output folder that cannot be one (a later --workdir overrides the harness's).
    ("workdir_is_a_file", ["--dataset=rect", "--workdir={tmp}/a_file"],
     ["--workdir={tmp}/a_file", "not a folder"]),
    ("sweep_workdir_under_a_file", ["experiments.sweep", "--dataset=rect", "--levels=0.1",
                                    "--workdir={tmp}/a_file/run"],
     ["--workdir={tmp}/a_file/run", "{tmp}/a_file is a file"]),
    ("table_workdir_is_a_file", ["experiments.reproduce_table", "--datasets=rect",
                                 "--workdir={tmp}/a_file"], ["--workdir={tmp}/a_file"]),
]

MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def _make_data_dirs(tmp: pathlib.Path) -> None:
  (tmp / "empty").mkdir()
  (tmp / "a_file").write_text("not a folder\n")
  # A well-formed IDX file (magic 2051, 2 images of 28x28) whose content is not MNIST's.
  idx = struct.pack(">BBBBIII", 0, 0, 8, 3, 2, 28, 28) + bytes(2 * 28 * 28)
  for name, payload, compress in (("bad_md5", idx, True),
                                  ("not_gzip", b"<html>404 Not Found</html>\n", False),
                                  ("not_idx", b"\x89PNG\r\n\x1a\n" + bytes(100), True)):
    d = tmp / name
    d.mkdir()
    for f in MNIST_FILES:
      with open(d / f, "wb") as out:
        out.write(gzip.compress(payload) if compress else payload)
  (tmp / "junk_zip").mkdir()
  (tmp / "junk_zip" / "convex.zip").write_bytes(b"PK\x03\x04" + bytes(64))
  (tmp / "bad_amat").mkdir()
  row = " ".join(["0.5"] * 784) + " 1\n"
  with zipfile.ZipFile(tmp / "bad_amat" / "convex.zip", "w") as z:
    z.writestr("convex_train.amat", row + "0.5 0.5 1\n" + row)
    z.writestr("convex_test.amat", row * 3)
  (tmp / "bad_zip").mkdir()
  (tmp / "bad_zip" / "rectangles.zip").write_bytes(b"PK\x03\x04 truncated download")


def _run_case(tmp: pathlib.Path, cache: pathlib.Path, case) -> tuple:
  name, args, _ = case
  env = dict(os.environ)
  env.update(a[len("ENV:"):].split("=", 1) for a in args if a.startswith("ENV:"))
  args = [a for a in args if not a.startswith("ENV:")]
  module = "experiments.train"
  if args and args[0].startswith("experiments."):
    module, args = args[0], args[1:]
  workdir = tmp / "work" / name
  argv = [a.replace("{tmp}", str(tmp)) for a in args]
  cmd = [sys.executable, "-m", module, f"--workdir={workdir}",
         f"--cache_dir={cache}", *argv]
  proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  return proc, workdir


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
  """Every case run once, four at a time: {id: (CompletedProcess, workdir)}."""
  tmp = tmp_path_factory.mktemp("bad_input")
  _make_data_dirs(tmp)
  cache = tmp_path_factory.getbasetemp() / "sdae_cache"  # shared with other modules
  cache.mkdir(exist_ok=True)
  (tmp / "work").mkdir()
  with concurrent.futures.ThreadPoolExecutor(4) as pool:
    runs = dict(zip([c[0] for c in CASES],
                    pool.map(lambda c: _run_case(tmp, cache, c), CASES)))
  return tmp, runs


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_clean_line(case, outcomes):
  tmp, runs = outcomes
  name, _, expected = case
  proc, workdir = runs[name]
  assert proc.returncode not in (0, None) and proc.returncode > 0, (proc.returncode, proc.stderr)
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1, proc.stderr
  line = lines[0]
  assert line.startswith("error: "), line
  assert "Traceback" not in proc.stderr
  for s in expected:
    assert s.replace("{tmp}", str(tmp)) in line, line
  assert "accepted" in line or "expected" in line or "download" in line or "Unknown" in line \
      or "unexpected" in line or "could not convert" in line or "required" in line, line
  # No partial output: the workdir was never created (so nothing half-written in it).
  assert not workdir.exists(), sorted(p.name for p in workdir.rglob("*"))
  assert proc.stdout == "", proc.stdout
