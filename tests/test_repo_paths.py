"""The repository names no folder of a particular machine: commands in the README, docs, notes,
BUILD_NOTES and code use ../shared/... (relative to the repository root) or a placeholder, so
they read the same in every clone."""

import os
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
TEXT = {".py", ".md", ".toml", ".txt", ".cfg", ".sh", ".yaml", ".yml", ""}
SKIP = {"runs", "__pycache__", "node_modules"}
# A machine's folders: the developers' checkouts and home folders (/tmp/... placeholders for a
# run's workdir are fine). Built from pieces so that this file does not match itself.
_TOPS = ["wo" + "rk", "ho" + "me", "Us" + "ers", "ro" + "ot"]
MACHINE = re.compile("(?<![\\w.])/(" + "|".join(_TOPS) + r")/\w")


def _files():
  for folder, dirs, names in os.walk(ROOT):
    dirs[:] = [d for d in dirs if d not in SKIP and not d.endswith(".egg-info")
               and (not d.startswith(".") or d == ".ci")]  # .git, .venv, caches: not ours
    for name in names:
      path = pathlib.Path(folder) / name
      if path.suffix in TEXT and name != ".git":  # a worktree's .git file names its checkout
        yield path, path.relative_to(ROOT)


def test_no_absolute_path_of_a_machine():
  found = []
  for path, rel in _files():
    for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
      if MACHINE.search(line):
        found.append(f"{rel}:{n}: {line.strip()[:120]}")
  assert not found, "\n".join(found)


def test_the_pattern_finds_what_it_must():
  assert MACHINE.search("--data_dir=/" + "work/shared/data/mnist")
  assert MACHINE.search("cd /" + "home/me/sdae")
  assert not MACHINE.search("--data_dir=../shared/data/mnist --workdir=/tmp/runs/x")
