"""Original-source readers on fixtures the tests write (zips and IDX files), errors, MNIST."""

import dataclasses
import gzip
import hashlib
import io
import os
import pathlib
import shutil
import zipfile

import numpy as np
import pytest

from sdae import data
from sdae.data import idx, registry

# ../shared/data/mnist relative to the repository root, where this machine has it; a clone
# without it skips the tests that read real MNIST.
MNIST_DIR = str(pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist")
HAVE_MNIST = os.path.isfile(os.path.join(MNIST_DIR, "train-images-idx3-ubyte.gz"))


def marker_image():
  """An asymmetric 28x28 pattern: a bright top row and a dimmer left column."""
  img = np.zeros((28, 28), np.float32)
  img[0, :] = 1.0
  img[:, 0] = 0.5
  img[0, 0] = 1.0
  return img


def amat_text(x, y, fmt="%.6e"):
  buf = io.BytesIO()
  np.savetxt(buf, np.concatenate([x.reshape(len(x), -1), y[:, None]], 1), fmt=fmt)
  return buf.getvalue()


def shrink(monkeypatch, name, n_train, n_valid, n_test):
  spec = registry.DATASETS[name]
  monkeypatch.setitem(registry.DATASETS, name, dataclasses.replace(
      spec, n_train=n_train, n_valid=n_valid, n_test=n_test))


def write_zip(folder, name, n_trainvalid, n_test, n_classes=2, subfolder="", seed=0,
              train_text=None, test_text=None):
  """Writes <folder>/<zip> with the published inner names; images are the marker stored
  the way the published file stores them (column-major for the transposed variants)."""
  spec = registry.DATASETS[name]
  rng = np.random.default_rng(seed)
  img = marker_image()
  stored = img.T if spec.zip.transposed else img
  def block(n):
    x = np.repeat(stored.reshape(1, 784), n, 0) * rng.uniform(0.5, 1, (n, 1))
    return x, rng.integers(0, n_classes, n).astype(float)
  train_text = train_text if train_text is not None else amat_text(*block(n_trainvalid))
  test_text = test_text if test_text is not None else amat_text(*block(n_test))
  path = os.path.join(folder, spec.zip.name)
  with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
    zf.writestr(subfolder + spec.zip.train_member, train_text)
    zf.writestr(subfolder + spec.zip.test_member, test_text)
  return path


def no_cache_entry(cache):
  return not os.path.isdir(cache) or os.listdir(cache) == []


@pytest.mark.parametrize("name", ["mnist_basic", "mnist_rot", "mnist_bg_rand", "mnist_bg_img",
                                  "mnist_bg_img_rot", "rectangles_images", "convex"])
def test_zip_fixture_parses_upright_with_splits(tmp_path, monkeypatch, name):
  shrink(monkeypatch, name, 6, 3, 5)
  d, cache = tmp_path / "data", tmp_path / "cache"
  d.mkdir()
  n_classes = registry.DATASETS[name].n_classes
  write_zip(str(d), name, 9, 5, n_classes, subfolder="sub/" if name == "convex" else "")
  assert data.pick_source(name, data_dir=str(d), cache_dir=str(cache)) == "original"
  out = data.load(name, data_dir=str(d), cache_dir=str(cache))
  assert [len(out[s][0]) for s in ("train", "valid", "test")] == [6, 3, 5]
  for x, y in out.values():
    assert x.dtype == np.float32 and y.dtype == np.int32 and x.shape[1] == 784
    imgs = x.reshape(-1, 28, 28)
    # Upright whatever the storage order: the bright bar is the top row.
    np.testing.assert_allclose(imgs / imgs[:, :1, :1], marker_image()[None].repeat(len(x), 0),
                               atol=1e-5)
  assert sorted(os.listdir(d)) == [registry.DATASETS[name].zip.name]   # nothing written there
  # Prepared arrays are cached; with the files still at hand the cache is reused.
  assert os.listdir(cache) == [f"{name}-original.npz"]
  again = data.load(name, data_dir=str(d), cache_dir=str(cache))
  np.testing.assert_array_equal(again["test"][0], out["test"][0])
  assert out.source == again.source == "original"
  # Without data_dir the default is regenerated, however the cache was filled: the same call
  # reads the same data on every machine. Asked for, the original is read from the cache.
  assert data.pick_source(name, cache_dir=str(cache)) == "regenerated"
  cached = data.load(name, source="original", cache_dir=str(cache))
  assert cached.source == "original"
  np.testing.assert_array_equal(cached["test"][0], out["test"][0])


def test_validation_rows_are_the_last_of_the_train_file(tmp_path, monkeypatch):
  shrink(monkeypatch, "convex", 4, 2, 3)
  x = np.zeros((6, 784))
  x[:, 0] = np.arange(6) / 10
  y = np.array([0, 1, 0, 1, 1, 0.0])
  write_zip(str(tmp_path), "convex", 6, 3, train_text=amat_text(x, y))
  out = data.load("convex", data_dir=str(tmp_path), cache_dir=str(tmp_path / "c"))
  np.testing.assert_allclose(out["train"][0][:, 0], [0, .1, .2, .3], atol=1e-6)
  np.testing.assert_allclose(out["valid"][0][:, 0], [.4, .5], atol=1e-6)
  np.testing.assert_array_equal(out["valid"][1], [1, 0])


# ---- errors ---------------------------------------------------------------------------

def _assert_one_line_error(exc, *needles):
  msg = str(exc.value)
  assert "\n" not in msg
  for n in needles:
    assert n in msg, msg


def test_missing_file(tmp_path):
  cache = tmp_path / "cache"
  with pytest.raises(data.DataError) as e:
    data.load("convex", source="original", data_dir=str(tmp_path), cache_dir=str(cache))
  _assert_one_line_error(e, "convex.zip", str(tmp_path), "download")
  assert no_cache_entry(cache)


def test_wrong_checksum_rectangles(tmp_path, monkeypatch):
  shrink(monkeypatch, "rectangles", 4, 2, 3)
  write_zip(str(tmp_path), "rectangles", 6, 3)
  cache = tmp_path / "cache"
  with pytest.raises(data.DataError) as e:
    data.load("rect", data_dir=str(tmp_path), cache_dir=str(cache))
  _assert_one_line_error(e, "rectangles.zip", "2740555")
  assert no_cache_entry(cache)
  # Right size, wrong content: the sha256 catches it.
  path = tmp_path / "rectangles.zip"
  path.write_bytes(b"\0" * 2740555)
  with pytest.raises(data.DataError) as e:
    data.load("rect", data_dir=str(tmp_path), cache_dir=str(cache))
  _assert_one_line_error(e, "rectangles.zip", "sha256")
  assert no_cache_entry(cache)


def test_truncated_zip(tmp_path, monkeypatch):
  shrink(monkeypatch, "convex", 4, 2, 3)
  path = write_zip(str(tmp_path), "convex", 6, 3)
  raw = open(path, "rb").read()
  cache = tmp_path / "cache"
  for cut in (len(raw) // 2, len(raw) - 30):
    with open(path, "wb") as f:
      f.write(raw[:cut])
    with pytest.raises(data.DataError) as e:
      data.load("convex", data_dir=str(tmp_path), cache_dir=str(cache))
    _assert_one_line_error(e, "convex.zip", "again")
    assert no_cache_entry(cache)


def _good_lines(n, value=0.5, label=1):
  return [" ".join(["%e" % value] * 784 + ["%e" % label]) for _ in range(n)]


@pytest.mark.parametrize("bad,needle", [
    (" ".join(["0.5"] * 783 + ["1"]), "784 values"),         # a column short
    (" ".join(["0.5"] * 784 + ["1", "1"]), "786 values"),    # a column too many
    (" ".join(["0.5"] * 783 + ["abc", "1"]), "non-numeric"),
    (" ".join(["0.5"] * 783 + ["1.5", "1"]), "outside [0, 1]"),
    (" ".join(["0.5"] * 784 + ["2"]), "label 2"),
])
def test_malformed_line(tmp_path, monkeypatch, bad, needle):
  shrink(monkeypatch, "convex", 4, 2, 3)
  lines = _good_lines(6)
  lines[3] = bad
  write_zip(str(tmp_path), "convex", 6, 3, train_text="\n".join(lines).encode() + b"\n")
  cache = tmp_path / "cache"
  with pytest.raises(data.DataError) as e:
    data.load("convex", data_dir=str(tmp_path), cache_dir=str(cache))
  _assert_one_line_error(e, "convex.zip", "convex_train.amat", "line 4", needle)
  assert no_cache_entry(cache)


def test_wrong_row_count(tmp_path, monkeypatch):
  shrink(monkeypatch, "convex", 4, 2, 3)
  write_zip(str(tmp_path), "convex", 5, 3)
  with pytest.raises(data.DataError) as e:
    data.load("convex", data_dir=str(tmp_path), cache_dir=str(tmp_path / "c"))
  _assert_one_line_error(e, "convex_train.amat", "5 examples, expected 6")


def test_zip_without_amat_members(tmp_path):
  with zipfile.ZipFile(tmp_path / "convex.zip", "w") as zf:
    zf.writestr("readme.txt", "nothing")
  with pytest.raises(data.DataError) as e:
    data.load("convex", data_dir=str(tmp_path), cache_dir=str(tmp_path / "c"))
  _assert_one_line_error(e, "convex.zip", "train.amat")


def test_unknown_name_and_source():
  with pytest.raises(data.DataError) as e:
    data.load("cifar")
  _assert_one_line_error(e, "cifar", "rectangles (rect)")
  with pytest.raises(data.DataError) as e:
    data.pick_source("mnist", "regenerated")
  _assert_one_line_error(e, "mnist", "original")
  with pytest.raises(data.DataError):
    data.pick_source("rect", "downloaded")


# ---- IDX / MNIST ----------------------------------------------------------------------

def idx_bytes(arr, code=0x08):
  head = bytes([0, 0, code, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
  return head + arr.astype(np.uint8).tobytes()


def write_mnist_fixture(folder, n_train=12, n_test=5):
  rng = np.random.default_rng(0)
  arrays = {
      "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28)),
      "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train),
      "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28)),
      "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test),
  }
  md5 = {}
  for f, a in arrays.items():
    raw = idx_bytes(a)
    md5[f] = hashlib.md5(raw).hexdigest()
    with gzip.open(os.path.join(folder, f), "wb") as g:
      g.write(raw)
  return arrays, md5


def test_idx_fixture_through_load(tmp_path, monkeypatch):
  arrays, md5 = write_mnist_fixture(str(tmp_path))
  monkeypatch.setattr(idx, "MNIST_FILES", md5)
  shrink(monkeypatch, "mnist", 8, 4, 5)
  out = data.load("MNIST", data_dir=str(tmp_path), cache_dir=str(tmp_path / "c"))
  xtr = arrays["train-images-idx3-ubyte.gz"].reshape(12, 784) / 255
  np.testing.assert_allclose(out["train"][0], xtr[:8], atol=1e-7)
  np.testing.assert_allclose(out["valid"][0], xtr[8:], atol=1e-7)
  np.testing.assert_array_equal(out["test"][1], arrays["t10k-labels-idx1-ubyte.gz"])


def test_idx_md5_mismatch_and_bad_files(tmp_path, monkeypatch):
  _, md5 = write_mnist_fixture(str(tmp_path))
  bad = dict(md5, **{"train-labels-idx1-ubyte.gz": "0" * 32})
  monkeypatch.setattr(idx, "MNIST_FILES", bad)
  shrink(monkeypatch, "mnist", 8, 4, 5)
  cache = tmp_path / "c"
  with pytest.raises(data.DataError) as e:
    data.load("mnist", data_dir=str(tmp_path), cache_dir=str(cache))
  _assert_one_line_error(e, "train-labels-idx1-ubyte.gz", "MD5")
  assert no_cache_entry(cache)
  with pytest.raises(data.DataError) as e:
    idx.parse_idx(b"\0\0\x08\x01\0\0\0\x05abc", "f.idx")
  _assert_one_line_error(e, "f.idx", "promises 13")
  (tmp_path / "x.gz").write_bytes(b"not gzip")
  with pytest.raises(data.DataError) as e:
    idx.read_gz(str(tmp_path / "x.gz"))
  _assert_one_line_error(e, "x.gz", "gzip")


@pytest.mark.skipif(not HAVE_MNIST, reason="no MNIST IDX files in ../shared/data/mnist")
def test_real_mnist(tmp_path):
  out = data.load("mnist", data_dir=MNIST_DIR, cache_dir=str(tmp_path))
  assert [out[s][0].shape for s in ("train", "valid", "test")] == \
      [(50000, 784), (10000, 784), (10000, 784)]
  assert all(out[s][0].dtype == np.float32 and out[s][1].dtype == np.int32 for s in out)
  assert out["train"][0].max() == 1.0 and out["train"][0].min() == 0.0
  raw = idx.parse_idx(gzip.open(os.path.join(MNIST_DIR, "train-images-idx3-ubyte.gz")).read())
  np.testing.assert_array_equal(out["valid"][0][-1], raw[-1].reshape(784) / np.float32(255))
  assert out["train"][1][:5].tolist() == [5, 0, 4, 1, 9]   # the famous first labels
  # The MD5 check is on: a copy of a file with one byte changed is refused.
  d = tmp_path / "copy"
  shutil.copytree(MNIST_DIR, d)
  lab = gzip.open(d / "t10k-labels-idx1-ubyte.gz").read()
  os.chmod(d / "t10k-labels-idx1-ubyte.gz", 0o644)
  with gzip.open(d / "t10k-labels-idx1-ubyte.gz", "wb") as g:
    g.write(lab[:-1] + bytes([(lab[-1] + 1) % 10]))
  with pytest.raises(data.DataError, match="MD5"):
    data.load("mnist", data_dir=str(d), cache_dir=str(tmp_path / "c2"))


# ---- TFDS builder ---------------------------------------------------------------------

def test_tfds_builder_from_manual_dir(tmp_path, monkeypatch):
  tfds = pytest.importorskip("tensorflow_datasets")
  from sdae.data import tfds_builders  # pylint: disable=import-outside-toplevel
  shrink(monkeypatch, "mnist_rot", 4, 2, 3)
  manual = tmp_path / "manual"
  manual.mkdir()
  write_zip(str(manual), "mnist_rot", 6, 3, n_classes=10)
  b = tfds_builders.SdaeVincent2010(config="mnist_rot", data_dir=str(tmp_path / "tfds"),
                                    file_format="array_record")
  b.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=str(manual)))
  ds = b.as_data_source()
  assert {k: len(v) for k, v in ds.items()} == {"train": 4, "valid": 2, "test": 3}
  ex = ds["test"][0]
  img = np.asarray(ex["image"]).reshape(28, 28)
  np.testing.assert_allclose(img / img[0, 0], marker_image(), atol=1e-5)   # upright
  assert 0 <= int(ex["label"]) < 10
