"""``--help`` of the training entry points lists their flags (not only absl's), with examples a
user can run."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("module, own", [("experiments.train", "data_parallel"),
                                         ("experiments.sweep", "levels"),
                                         ("experiments.reproduce_table", "datasets")])
def test_help_lists_the_main_flags(module, own):
  proc = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, env=dict(os.environ),
                        capture_output=True, text=True, timeout=120)
  shown = proc.stdout
  assert "Try --helpfull" in shown and proc.stderr == "", proc.stderr  # (absl exits with 1)
  for name in ("dataset", "workdir", "level", "hidden", "data_source", "data_dir", "cache_dir",
               "keep_checkpoints", "overwrite", own):
    assert re.search(rf"^  --(\[no\])?{name}:", shown, re.M), (name, shown)
  assert "--logtostderr" not in shown  # absl's own stay under --helpfull
  assert "../shared" not in shown  # examples use folders a user has or names a placeholder


# Entry point -> the flags its usage line must name (the required ones).
USAGE = {"train": ("--dataset", "--workdir"), "sweep": ("--dataset", "--levels", "--workdir"),
         "reproduce_table": ("--datasets", "--workdir"), "denoise": ("--dataset", "--workdir"),
         "reproduce": ("--experiment", "--workdir"),
         "toy2d": ("--workdir",), "preview": ("--dataset",), "bench": (),
         "accelerator_check": ("--data_dir", "--workdir"),
         "fetch_data": ("--datasets", "--data_dir")}


@pytest.mark.slow
@pytest.mark.parametrize("module", sorted(USAGE))
def test_help_leads_with_usage_and_an_example(module):
  proc = subprocess.run([sys.executable, "-m", f"experiments.{module}", "--help"], cwd=ROOT,
                        env=dict(os.environ), capture_output=True, text=True, timeout=120)
  lines = proc.stdout.splitlines()
  assert lines[0].startswith(f"usage: python -m experiments.{module} "), lines[:3]
  for flag in USAGE[module]:
    assert f"{flag}=" in lines[0], (flag, lines[0])
  assert lines[2].startswith(f"example: python -m experiments.{module}"), lines[:4]
  # The flags come before a screenful of prose (bench's FLOP accounting is in docs/bench.md).
  if module == "bench":
    assert lines.index("flags:") < 20, lines[:25]
  for l in lines:  # no example whose line breaks were swallowed into a run of spaces
    assert not re.search(r"\S {3,}[^\s#]", l), l
  assert "../shared" not in proc.stdout and "DESIGN.md" not in proc.stdout
  if module in ("reproduce_table", "reproduce"):  # they take --datasets, and refuse --dataset
    assert "--dataset: Required" not in proc.stdout
