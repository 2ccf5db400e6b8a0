"""Registry, from_arrays, tzanetakis, import weight, and the preview entry point."""

import os
import subprocess
import sys

import numpy as np
import pytest

from sdae import data


def test_names_aliases_and_specs():
  assert data.resolve_name("rect") == data.resolve_name("Rectangles") == "rectangles"
  assert data.resolve_name("MNIST") == "mnist"
  assert data.resolve_name("bg-img-rot") == "mnist_bg_img_rot"
  assert data.resolve_name("BASIC") == "mnist_basic"
  sizes = {n: (s.n_train, s.n_valid, s.n_test) for n, s in data.DATASETS.items()}
  assert sizes["mnist"] == (50000, 10000, 10000)
  assert sizes["rectangles"] == (1000, 200, 50000)
  assert sizes["convex"] == (6000, 2000, 50000)
  assert all(sizes[n] == (10000, 2000, 50000) for n in
             ("mnist_basic", "mnist_rot", "mnist_bg_rand", "mnist_bg_img", "mnist_bg_img_rot",
              "rectangles_images"))
  assert data.DATASETS["mnist"].sources == ("original",)
  assert issubclass(data.DataError, ValueError)
  with pytest.raises(data.DataError, match="accepted names"):
    data.resolve_name("svhn")


def test_import_is_light():
  code = ("import sys, sdae.data; bad = [m for m in sys.modules if m.split('.')[0] in "
          "('jax', 'tensorflow_datasets', 'tensorflow')]; print(bad); sys.exit(bool(bad))")
  r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                     check=False)
  assert r.returncode == 0, r.stdout + r.stderr


def test_from_arrays_validates():
  rng = np.random.default_rng(0)
  out = data.from_arrays(rng.random((5, 28, 28)), [0, 1, 2, 3, 4], rng.random((2, 784)),
                         np.array([1, 1]), rng.random((3, 784)), np.array([0, 0, 1]))
  assert out["train"][0].shape == (5, 784) and out["train"][0].dtype == np.float32
  assert out["valid"][1].dtype == np.int32
  with pytest.raises(data.DataError, match="x_valid has 10 features"):
    data.from_arrays(np.zeros((2, 4)), [0, 1], np.zeros((1, 10)), [0], np.zeros((1, 4)), [0])
  with pytest.raises(data.DataError, match="y_test"):
    data.from_arrays(np.zeros((2, 4)), [0, 1], np.zeros((1, 4)), [0], np.zeros((1, 4)), [-1])
  with pytest.raises(data.DataError, match="finite"):
    data.from_arrays(np.full((2, 4), np.nan), [0, 1], np.zeros((1, 4)), [0],
                     np.zeros((1, 4)), [0])


def test_tzanetakis_missing_and_npz(tmp_path):
  with pytest.raises(data.DataError) as e:
    data.load("tzanetakis", data_dir=str(tmp_path))
  assert "tzanetakis.npz" in str(e.value) and "\n" not in str(e.value)
  rng = np.random.default_rng(0)
  x = rng.normal(size=(200, 592)).astype(np.float32)
  y = np.repeat(np.arange(10), 20)
  np.savez(tmp_path / "tzanetakis.npz", x=x, y=y)
  out = data.load("tzanetakis", data_dir=str(tmp_path))
  assert [len(out[s][1]) for s in ("train", "valid", "test")] == [120, 40, 40]
  assert all((np.bincount(out[s][1], minlength=10) == k).all()
             for s, k in (("train", 12), ("valid", 4), ("test", 4)))   # stratified
  assert out["train"][0].shape[1] == 592
  again = data.load("tzanetakis", data_dir=str(tmp_path), seed=0)
  np.testing.assert_array_equal(again["test"][0], out["test"][0])
  other = data.load("tzanetakis", data_dir=str(tmp_path), seed=1)
  assert not np.array_equal(other["test"][0], out["test"][0])
  # A split given in the file is used as is.
  split = np.array([0] * 100 + [1] * 50 + [2] * 50)
  np.savez(tmp_path / "tzanetakis.npz", x=x, y=y, split=split)
  out = data.load("tzanetakis", data_dir=str(tmp_path))
  np.testing.assert_array_equal(out["valid"][0], x[100:150])


def test_tzanetakis_amat(tmp_path):
  v = np.concatenate([np.random.default_rng(0).normal(size=(50, 7)),
                      np.arange(50)[:, None] % 10], 1)
  np.savetxt(tmp_path / "tzanetakis.amat", v)
  out = data.load("tzanetakis", data_dir=str(tmp_path))
  assert sum(len(out[s][1]) for s in out) == 50 and out["train"][0].shape[1] == 7


def test_preview_main_writes_png(tmp_path):
  from absl import flags  # pylint: disable=import-outside-toplevel
  from PIL import Image  # pylint: disable=import-outside-toplevel
  from experiments import preview  # pylint: disable=import-outside-toplevel
  out = tmp_path / "rect.png"
  flags.FLAGS(["preview", "--dataset=rect", "--n=10", "--data_source=regenerated",
               f"--cache_dir={tmp_path / 'cache'}", f"--out={out}"])
  try:
    preview.main(["preview"])
  finally:
    flags.FLAGS.unparse_flags()
  with Image.open(out) as im:  # 10 examples: 4 columns, 3 rows of labelled tiles
    assert im.size[0] > 300 and im.size[1] > 300
  assert (tmp_path / "rect.pdf").exists()
  # Bad input: one line, non-zero status, no PNG.
  assert preview.preview("rect", str(tmp_path / "p.png"), n=4, source="regenerated",
                         cache_dir=str(tmp_path / "cache")).endswith("p.png")
  with pytest.raises(data.DataError):
    preview.preview("nope", str(tmp_path / "q.png"))
  assert not os.path.exists(tmp_path / "q.png")
