"""Every entry point answers the same bad input alike: a file where a folder is expected, and an
unknown dataset name, are one `error:` line on stderr naming the flag or value, exit status 2,
nothing on stdout and nothing written. Each runs as a subprocess (as a user types it), and fails
at flag validation, before JAX compiles anything (about a second each)."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Entry point -> its arguments with FILE where a folder goes (the folder flag it names).
FILE_AS_FOLDER = {
    "train": (["--dataset=rect", "--workdir=FILE"], "--workdir"),
    "sweep": (["--dataset=rect", "--levels=0,0.1", "--workdir=FILE"], "--workdir"),
    "reproduce_table": (["--datasets=rect", "--workdir=FILE"], "--workdir"),
    "reproduce": (["--experiment=masking_curve", "--workdir=FILE"], "--workdir"),
    "denoise": (["--dataset=mnist", "--corruption=erasure", "--workdir=FILE"], "--workdir"),
    "toy2d": (["--workdir=FILE"], "--workdir"),
    "accelerator_check": (["--data_dir=DIR", "--workdir=FILE"], "--workdir"),
    "preview": (["--dataset=rect", "--out=FILE/preview.png"], "--out"),
    "fetch_data": (["--datasets=rect", "--data_dir=FILE"], "--data_dir"),
}
# Entry point -> its arguments with an unknown dataset (or, without datasets, unknown name).
UNKNOWN_NAME = {
    "train": ["--dataset=rectangle", "--workdir=DIR/w"],
    "sweep": ["--dataset=rectangle", "--levels=0,0.1", "--workdir=DIR/w"],
    "reproduce_table": ["--datasets=rect,rectangle", "--workdir=DIR/w"],
    "reproduce": ["--experiment=depth_width", "--datasets=rect,rectangle", "--workdir=DIR/w"],
    "denoise": ["--dataset=rectangle", "--corruption=erasure", "--workdir=DIR/w"],
    "preview": ["--dataset=rectangle", "--out=DIR/w/p.png"],
    "fetch_data": ["--datasets=rectangle", "--data_dir=DIR/w"],
    "toy2d": ["--shape=rectangle", "--workdir=DIR/w"],  # its only name flag
    "bench": ["--names=rectangle"],
}


def _run(module, args, tmp_path):
  afile = tmp_path / "a_file"
  afile.write_text("not a folder")
  args = [a.replace("FILE", str(afile)).replace("DIR", str(tmp_path)) for a in args]
  proc = subprocess.run([sys.executable, "-m", f"experiments.{module}", *args], cwd=tmp_path,
                        env=dict(os.environ, PYTHONPATH=str(ROOT), SDAE_CACHE_DIR=str(
                            tmp_path / "cache")), capture_output=True, text=True, timeout=120)
  err = proc.stderr.strip().splitlines()
  assert proc.returncode == 2, (module, proc.returncode, proc.stderr[-2000:])
  assert len(err) == 1 and err[0].startswith("error: "), (module, err)
  assert proc.stdout == "", (module, proc.stdout)
  assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"], list(tmp_path.iterdir())
  return err[0]


@pytest.mark.slow
@pytest.mark.parametrize("module", sorted(FILE_AS_FOLDER))
def test_a_file_as_folder_is_one_line(module, tmp_path):
  args, flag = FILE_AS_FOLDER[module]
  line = _run(module, args, tmp_path)
  assert f"{flag}=" in line and "not a folder" in line, line


@pytest.mark.slow
@pytest.mark.parametrize("module", sorted(UNKNOWN_NAME))
def test_an_unknown_name_is_one_line(module, tmp_path):
  line = _run(module, UNKNOWN_NAME[module], tmp_path)
  assert "'rectangle'" in line and "accepted" in line, line
  if module not in ("toy2d", "bench"):
    assert "rectangles (rect)" in line, line  # the accepted names, with their aliases
