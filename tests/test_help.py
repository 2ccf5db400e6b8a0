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
