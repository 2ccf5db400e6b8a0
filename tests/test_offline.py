"""No network: a download that cannot happen fails within seconds, in one line naming every file
needed and --data_dir, and leaves nothing behind.

Offline is simulated without touching the network: the name lookup is made to fail, or to answer
with a closed port on this machine (a refused connection). The end-to-end test runs
``python -m experiments.train --dataset=mnist`` with a ``sitecustomize`` that does the same.
"""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import sys
import time

import pytest

from sdae import data
from sdae.data import fetch, idx

ROOT = pathlib.Path(__file__).resolve().parents[1]
MNIST = list(idx.MNIST_FILES)

# Installed in the subprocess through PYTHONPATH: every name lookup fails (dns), or resolves to
# 127.0.0.1 port 1, where nothing listens (refused).
SITECUSTOMIZE = {
    "dns": """
import socket
def _offline(*args, **kwargs):
  raise socket.gaierror(socket.EAI_NONAME, "Name or service not known (simulated)")
socket.getaddrinfo = _offline
""",
    "refused": """
import socket
def _closed_port(host, port, *args, **kwargs):
  return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 1))]
socket.getaddrinfo = _closed_port
""",
}


def _no_dns(monkeypatch):
  def offline(*args, **kwargs):
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
  monkeypatch.setattr(socket, "getaddrinfo", offline)


def test_refused_connection_is_found_at_once():
  t0 = time.monotonic()
  why = fetch.unreachable(["http://127.0.0.1:1/file.gz"])
  assert time.monotonic() - t0 < 3
  assert why is not None and "127.0.0.1:1" in why and "no network" in why


def test_failed_name_lookup_is_found_at_once(monkeypatch):
  _no_dns(monkeypatch)
  t0 = time.monotonic()
  why = fetch.unreachable([idx.MNIST_URLS[0] + MNIST[0], idx.MNIST_URLS[1] + MNIST[0]])
  assert time.monotonic() - t0 < 3
  assert "name lookup of storage.googleapis.com failed" in why


def test_one_reachable_host_is_enough(monkeypatch):
  """A listening socket on this machine stands for a reachable host."""
  with socket.socket() as server:
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    assert fetch.unreachable(["http://127.0.0.1:1/a", f"http://127.0.0.1:{port}/a"]) is None


def test_offline_mnist_names_every_file_and_leaves_nothing(tmp_path, monkeypatch):
  _no_dns(monkeypatch)
  cache_dir = tmp_path / "cache"
  with pytest.raises(data.DataError) as e:
    data.load("mnist", cache_dir=str(cache_dir))
  msg = str(e.value)
  assert "\n" not in msg and "--data_dir=FOLDER" in msg and "no network" in msg
  for f in MNIST:
    assert f in msg
  assert not cache_dir.exists()  # no downloads folder, no temporary files


def test_data_dir_missing_some_files_names_them_all(tmp_path):
  (tmp_path / MNIST[1]).write_bytes(b"")
  with pytest.raises(data.DataError) as e:
    fetch.locate_all(MNIST, {f: [idx.MNIST_URLS[0] + f] for f in MNIST}, str(tmp_path))
  msg = str(e.value)
  assert f"not found in --data_dir={tmp_path}" in msg
  assert [f for f in MNIST if f in msg] == [MNIST[0], MNIST[2], MNIST[3]]


@pytest.mark.slow
@pytest.mark.parametrize("how", sorted(SITECUSTOMIZE))
def test_train_offline_fails_in_seconds_in_one_line(tmp_path, how):
  """`python -m experiments.train --dataset=mnist` with no files and no network."""
  (tmp_path / "site").mkdir()
  (tmp_path / "site" / "sitecustomize.py").write_text(SITECUSTOMIZE[how])
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             PYTHONPATH=os.pathsep.join([str(tmp_path / "site"), str(ROOT)]))
  cache_dir, work = tmp_path / "cache", tmp_path / "work"
  t0 = time.monotonic()
  proc = subprocess.run([sys.executable, "-m", "experiments.train", "--dataset=mnist",
                         f"--workdir={work}", f"--cache_dir={cache_dir}"], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=300)
  seconds = time.monotonic() - t0
  assert proc.returncode == 2, proc.stderr[-3000:]
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: cannot download"), proc.stderr
  assert "--data_dir" in lines[0] and "no network" in lines[0]
  for f in MNIST:
    assert f in lines[0]
  # Python and JAX start-up included, on a loaded machine; TFDS's retries took minutes.
  assert seconds < 60, seconds
  assert not work.exists()
  assert not cache_dir.exists() or not [p for p in cache_dir.rglob("*") if p.is_file()]
