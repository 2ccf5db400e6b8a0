"""experiments.fetch_data: files in --data_dir are checked (MNIST by the MD5 of the decompressed
content, the zips by size and sha256), a bad file is one line, and with no network a missing file
fails within seconds in one line naming it and its URL. No test touches the network."""

import gzip
import os
import pathlib
import socket
import time

import pytest

from experiments import fetch_data
from helpers import run_cli
from sdae.data import idx, published, registry

MNIST_DIR = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
HAVE_MNIST = (MNIST_DIR / "train-images-idx3-ubyte.gz").exists()
needs_mnist = pytest.mark.skipif(not HAVE_MNIST, reason="no MNIST in ../shared/data/mnist")


@pytest.fixture
def offline(monkeypatch):
  """Every name lookup fails, as on a machine with no network."""
  def no_dns(*args, **kwargs):
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known (simulated)")
  monkeypatch.setattr(socket, "getaddrinfo", no_dns)


def _one_line(capsys):
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith("error: "), err
  return err[0]


def test_published_files_name_their_urls_and_checksums():
  mnist = published.files("mnist")
  assert [f.name for f in mnist] == list(idx.MNIST_FILES)
  assert all(f.md5_decompressed == idx.MNIST_FILES[f.name] for f in mnist)
  assert mnist[0].urls[0].startswith("https://storage.googleapis.com/cvdf-datasets/mnist/")
  (rect,) = published.files("rect")
  assert rect.urls == (registry.LISA_URL + "rectangles.zip",)
  assert (rect.size, rect.sha256[:12]) == (2740555, "729521227845")
  assert published.files("tzanetakis") == []


@needs_mnist
def test_mnist_files_in_data_dir_are_checked_not_downloaded(tmp_path, capsys, offline):
  for name in idx.MNIST_FILES:
    (tmp_path / name).symlink_to(MNIST_DIR / name)
  assert run_cli(fetch_data, ["--datasets=mnist", f"--data_dir={tmp_path}"]) == 0
  out = capsys.readouterr().out.splitlines()
  assert len(out) == 5 and out[-1].startswith(f"4 files checked in {tmp_path}"), out
  for name, md5 in idx.MNIST_FILES.items():
    assert any(f"{name} present, MD5 of the decompressed content {md5} as published" in l
               for l in out), (name, out)


@needs_mnist
def test_a_changed_mnist_file_is_one_line(tmp_path, capsys, offline):
  for name in idx.MNIST_FILES:
    (tmp_path / name).symlink_to(MNIST_DIR / name)
  bad = tmp_path / "t10k-labels-idx1-ubyte.gz"
  raw = gzip.open(bad).read()
  bad.unlink()
  with gzip.open(bad, "wb") as g:  # one label changed
    g.write(raw[:-1] + bytes([(raw[-1] + 1) % 10]))
  assert run_cli(fetch_data, ["--datasets=mnist", f"--data_dir={tmp_path}"]) == 2
  line = _one_line(capsys)
  assert "t10k-labels-idx1-ubyte.gz: MD5 of the decompressed content" in line
  assert idx.MNIST_FILES["t10k-labels-idx1-ubyte.gz"] in line


def test_a_wrong_zip_is_one_line_naming_size_or_sha256(tmp_path, capsys, offline):
  (tmp_path / "rectangles.zip").write_bytes(b"PK not the published zip")
  assert run_cli(fetch_data, ["--datasets=rect", f"--data_dir={tmp_path}"]) == 2
  assert "is 24 bytes, the published rectangles.zip is 2740555" in _one_line(capsys)
  # Right size, wrong content: the sha256 decides.
  (tmp_path / "rectangles.zip").write_bytes(b"\0" * 2740555)
  assert run_cli(fetch_data, ["--datasets=rect", f"--data_dir={tmp_path}"]) == 2
  assert "expected 72952122784584f7" in _one_line(capsys)


def test_offline_fails_in_seconds_in_one_line_naming_every_missing_file(tmp_path, capsys,
                                                                        offline):
  t0 = time.monotonic()
  status = run_cli(fetch_data, ["--datasets=mnist,rect", f"--data_dir={tmp_path / 'd'}"])
  assert status == 2 and time.monotonic() - t0 < 10
  line = _one_line(capsys)
  assert "no network" in line and "cannot download 5 files" in line, line
  for name in (*idx.MNIST_FILES, "rectangles.zip"):
    assert name in line, (name, line)
  assert registry.LISA_URL + "rectangles.zip" in line
  assert not (tmp_path / "d").exists()  # nothing created


def test_required_flags_and_unknown_dataset(tmp_path, capsys):
  assert run_cli(fetch_data, [f"--data_dir={tmp_path}"]) == 2
  assert "--datasets is required" in _one_line(capsys)
  assert run_cli(fetch_data, ["--datasets=rectangle", f"--data_dir={tmp_path}"]) == 2
  assert "unknown dataset 'rectangle'" in _one_line(capsys)


@pytest.mark.slow
def test_download_through_tfds_from_a_local_server(tmp_path, monkeypatch):
  # The download path itself (TFDS's download manager), served from this machine: a file that
  # matches its checksum lands in --data_dir; one that does not is removed, in one line.
  pytest.importorskip("tensorflow_datasets")
  import functools
  import hashlib
  import http.server
  import threading
  served = tmp_path / "served"
  served.mkdir()
  raw = os.urandom(5000)
  (served / "rectangles.zip").write_bytes(raw)
  server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(
      http.server.SimpleHTTPRequestHandler, directory=str(served)))
  threading.Thread(target=server.serve_forever, daemon=True).start()
  try:
    url = f"http://127.0.0.1:{server.server_address[1]}/rectangles.zip"
    good = published.PublishedFile("rectangles", "rectangles.zip", (url,), size=len(raw),
                                   sha256=hashlib.sha256(raw).hexdigest())
    monkeypatch.setattr(published, "files", lambda name: [good])
    lines = []
    paths = published.fetch_into(["rect"], str(tmp_path / "d"), report=lines.append)
    assert paths == [str(tmp_path / "d" / "rectangles.zip")]
    assert (tmp_path / "d" / "rectangles.zip").read_bytes() == raw
    assert lines == [f"rectangles: rectangles.zip downloaded, 5000 bytes, sha256 "
                     f"{good.sha256} as published"]
    bad = published.PublishedFile("rectangles", "rectangles.zip", (url,), size=len(raw),
                                  sha256="0" * 64)
    monkeypatch.setattr(published, "files", lambda name: [bad])
    with pytest.raises(published.DataError, match="expected 0000") as e:
      published.fetch_into(["rect"], str(tmp_path / "e"), report=lines.append)
    assert "\n" not in str(e.value)
    assert os.listdir(tmp_path / "e") == []  # the bad download is not left for the loaders
  finally:
    server.shutdown()
