"""Every training flag with a constraint refuses a bad value: exit 2, one stderr line naming the
flag and its value, no workdir. In-process (fast); tests/test_bad_input.py runs the classes of bad
input end to end as subprocesses."""

import pytest

from experiments import _train_flags
from experiments import train as entry
from helpers import run_cli

# A bad value for each training flag (``_train_flags.SCALARS`` and the list flags).
BAD = {
    "pretraining": "boltzmann", "cd_steps": "0", "corruption": "smudge", "level": "1.5",
    "emphasis": "half",
    "init": "xavier",
    "pretrain_epochs": "-1", "finetune_epochs": "0", "batch_size": "0",
    "finetune_batch_size": "-1", "pretrain_lr": "0", "finetune_lr": "-0.1", "seed": "-1",
    "optimizer": "lbfgs", "activation": "softplus", "loss": "hinge", "patience": "0",
    "precision": "float16", "n_train": "-5", "data_source": "web", "data_dir": "{tmp}/missing",
    "data_version": "99",
    "checkpoint_every_secs": "-1", "keep_checkpoints": "-1", "member_loop": "pmap",
    "hidden": "8,0", "layer_levels": "0.1,0.2,0.3",
}
# Flags that take any value of their type.
FREE = {"tied", "cache_dir"}


def test_image_corruption_of_codes_that_are_not_square_is_refused(tmp_path, capsys):
  # Layer 2 of 784-8-8 would blur 8 codes: refused before anything is read, not a traceback
  # in its first epoch. With the upper layers at level 0, or square codes, it is accepted.
  argv = ["--dataset=rect", f"--workdir={tmp_path / 'w'}", "--corruption=blur", "--level=1"]
  assert run_cli(entry, argv + ["--hidden=8,8"]) == 2
  assert "layer 2 reads the 8 codes of layer 1" in capsys.readouterr().err
  from sdae import config as C
  from sdae.configs import sda
  C.validate(sda.for_dataset("rect").replace(corruption="blur", level=1.0, hidden=(16, 8)))
  C.validate(sda.for_dataset("rect").replace(corruption="blur", hidden=(8, 8),
                                             layer_levels=(1.0, 0.0)))


def test_every_training_flag_has_a_bad_value_here():
  # Fails when a flag is added to the training flags without a case above.
  assert set(_train_flags.SCALARS) | {"hidden", "layer_levels"} == set(BAD) | FREE


@pytest.mark.parametrize("flag", sorted(BAD))
def test_bad_value_is_one_line_naming_the_flag(flag, tmp_path, capsys):
  value = BAD[flag].replace("{tmp}", str(tmp_path))
  workdir = tmp_path / "work"
  argv = ["--dataset=rect", f"--workdir={workdir}", "--hidden=8,8", f"--{flag}={value}"]
  assert run_cli(entry, argv) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith("error: "), err
  assert f"--{flag}" in err[0], err[0]
  if flag not in ("hidden", "layer_levels"):  # those name the layer size or the count
    assert value in err[0], err[0]
  assert not workdir.exists()


@pytest.mark.parametrize("argv, says", [
    (["--dataset=rect", "--data_version=99"], "accepted: 3"),
    (["--dataset=rect", "--data_version=3", "--data_source=original"], "--data_source=original"),
    (["--dataset=mnist", "--data_version=3"], "mnist has no regenerated source"),
])
def test_data_version_refused_in_one_line(argv, says, tmp_path, capsys):
  # A version the set does not have, or one with data that have no versions: exit 2, one line
  # naming the value and what is accepted, nothing written.
  workdir = tmp_path / "work"
  assert run_cli(entry, argv + [f"--workdir={workdir}", "--hidden=8,8"]) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith("error: ") and "--data_version=" in err[0], err
  assert says in err[0], err[0]
  assert not workdir.exists()


@pytest.mark.parametrize("module, argv", [
    ("preview", ["--dataset=convex", "--data_version=99"]),
    ("data_report", ["--datasets=convex", "--data_version=99"]),
    ("denoise", ["--dataset=mnist_basic", "--corruption=masking", "--level=0.25",
                 "--data_version=99"]),
    ("filters", ["--figure=natural", "--data_version=99"]),
    ("filters", ["--figure=mnist", "--data_version=1"]),
])
def test_data_version_on_every_entry_point(module, argv, tmp_path):
  # Each entry point that loads a regenerated set takes --data_version and refuses one the set
  # does not have (or data without versions) before loading anything: exit 2, one line.
  import pathlib
  import subprocess
  import sys
  out = tmp_path / "out"
  cmd = [sys.executable, "-m", f"experiments.{module}", *argv,
         f"--out={out}.png" if module == "preview" else f"--workdir={out}"]
  r = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                     cwd=pathlib.Path(__file__).resolve().parents[1],
                     env=dict(__import__("os").environ, SDAE_CACHE_DIR=str(tmp_path / "c")))
  lines = r.stderr.strip().splitlines()
  assert r.returncode == 2, r.stderr
  assert len(lines) == 1 and "--data_version=" in lines[0], lines
