"""experiments.denoise end to end, in process (synthetic data in place of sdae.data.load):
training writes denoise.json + denoise.png + the denoiser; --apply round-trips the user's
images (PNG folder, .npy) and rejects wrong sizes and channel counts with one-line messages;
one subprocess checks the error path (exit status, one stderr line, no outputs)."""

import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from experiments import _cli
from experiments import denoise as denoise_main
from sdae.restore.apply import restore_images
from tests.helpers import fake_labelled_mnist
from tests.test_denoise import bars

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def fake_data(monkeypatch, tmp_path):
  """Labelled synthetic shapes in place of MNIST; the reference classifier's cache in tmp."""
  return fake_labelled_mnist(monkeypatch, tmp_path / "cache", n_test=48)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """A tiny dense denoiser trained through the entry point (shared by the --apply tests)."""
  from sdae import data
  mp = pytest.MonkeyPatch()
  splits = data.Splits({"train": (bars(256, 0), None), "test": (bars(48, 1), None)}, "original")
  mp.setattr(data, "load", lambda name, **kw: splits)
  mp.setattr(_cli, "setup_jax", lambda *a, **k: None)
  workdir = str(tmp_path_factory.mktemp("dn"))
  try:
    denoise_main.main_args(["--dataset=mnist", "--corruption=gaussian", "--level=0.3",
                            "--model=dense", "--hidden=64", "--epochs=8", "--batch_size=16",
                            "--loss=squared", "--lr_schedule=constant",
                            "--lr=0.003", f"--workdir={workdir}"])
  finally:
    mp.undo()
  return workdir


def test_train_writes_results_and_figure(trained):
  with open(os.path.join(trained, "denoise.json")) as f:
    r = json.load(f)
  for k in ("psnr_corrupted_db", "psnr_restored_db", "mse_corrupted", "mse_restored",
            "psnr_baseline_db", "config", "seconds", "data_source", "n_test"):
    assert k in r, k
  assert r["psnr_baseline_db"] is None and r["n_test"] == 48
  assert r["data_source"] == "original" and r["config"]["corruption"] == "gaussian"
  assert r["mse_restored"] < r["mse_corrupted"]
  png = Image.open(os.path.join(trained, "denoise.png"))
  # 36 digits in 3 bands of (original, corrupted, restored) x 12 columns: wider than tall.
  assert png.size[0] > png.size[1] > 400
  with open(os.path.join(trained, "denoise.pdf"), "rb") as f:
    assert f.read(4) == b"%PDF"
  assert not [f for f in os.listdir(trained) if "tmp" in f]


def test_superres_through_entry_point(fake_data, tmp_path, capsys, caplog):
  caplog.set_level(logging.INFO, logger="sdae")  # progress on, as the entry points set it
  denoise_main.main_args(["--dataset=mnist", "--mode=superres", "--model=dense", "--hidden=32",
                          "--epochs=2", "--test_size=20", f"--workdir={tmp_path}"])
  # The reference classifier is not cached yet: a line says it trains, and one when it is done.
  err = capsys.readouterr().err
  assert "reference classifier: training it once" in err, err
  assert "reference classifier trained in" in err, err
  r = json.loads((tmp_path / "denoise.json").read_text())
  assert r["psnr_baseline_db"] is not None and r["n_test"] == 20
  assert r["config"]["corruption"] is None and r["model"]["in_side"] == 14


def test_apply_round_trips_png_folder(trained, tmp_path):
  src = tmp_path / "in"
  src.mkdir()
  noisy = np.clip(bars(3, 5).reshape(3, 28, 28)
                  + 0.3 * np.random.default_rng(0).normal(size=(3, 28, 28)), 0, 1)
  names = ["a.png", "b.png", "c.png"]
  for name, img in zip(names, noisy):
    Image.fromarray((img * 255).round().astype(np.uint8), mode="L").save(src / name)
  out = tmp_path / "out"
  denoise_main.main_args(["--apply", f"--workdir={trained}", f"--input={src}", f"--output={out}"])
  assert sorted(os.listdir(out)) == names
  clean = bars(3, 5).reshape(3, 28, 28)
  for name, c, n in zip(names, clean, noisy):
    img = Image.open(out / name)
    assert img.mode == "L" and img.size == (28, 28)
    restored = np.asarray(img, np.float32) / 255
    assert np.mean((restored - c) ** 2) < np.mean((n - c) ** 2)


@pytest.mark.parametrize("flat", [False, True])
def test_apply_round_trips_npy(trained, tmp_path, flat):
  x = bars(4, 7)
  arr = x if flat else x.reshape(4, 28, 28)
  np.save(tmp_path / "digits.npy", arr)
  out = tmp_path / "out"
  written = restore_images(trained, str(tmp_path / "digits.npy"), str(out))
  assert written == [str(out / "digits.npy")]
  y = np.load(out / "digits.npy")
  assert y.shape == arr.shape and y.dtype == np.float32
  assert 0.0 <= y.min() and y.max() <= 1.0


def _bad_png(path, mode, size):
  Image.new(mode, size).save(path)


@pytest.mark.parametrize("make,match", [
    (lambda p: _bad_png(p / "x.png", "L", (32, 32)), "32x32 pixels; this denoiser takes 28x28"),
    (lambda p: _bad_png(p / "x.png", "RGB", (28, 28)), "3 channels"),
    (lambda p: _bad_png(p / "x.png", "RGBA", (28, 28)), "4 channels"),
    (lambda p: np.save(p / "x.npy", np.zeros((2, 28, 28, 3), np.float32)), "3 channels"),
    (lambda p: np.save(p / "x.npy", np.zeros((2, 32, 32), np.float32)), r"shape \[2, 32, 32\]"),
    (lambda p: np.save(p / "x.npy", np.zeros((2, 100), np.float32)), r"shape \[2, 100\]"),
])
def test_apply_rejects_wrong_size_or_channels(trained, tmp_path, make, match):
  src = tmp_path / "in"
  src.mkdir()
  make(src)
  target = src if any(f.endswith(".png") for f in os.listdir(src)) else src / "x.npy"
  out = tmp_path / "out"
  with pytest.raises(_cli.UsageError, match=match) as e:
    denoise_main.main_args(["--apply", f"--workdir={trained}", f"--input={target}",
                            f"--output={out}"])
  assert "\n" not in str(e.value) and "--input=" in str(e.value)
  assert not out.exists()  # nothing written


def test_apply_without_trained_model(tmp_path):
  with pytest.raises(_cli.UsageError, match="no trained denoiser"):
    denoise_main.main_args(["--apply", f"--workdir={tmp_path}", f"--input={tmp_path}",
                            f"--output={tmp_path / 'o'}"])


def test_bad_flags_raise_one_line_before_training(fake_data, tmp_path):
  for args, match in [(["--corruption=erasure", "--mode=noise2noise"], "noise2noise"),
                      (["--corruption=erasure", "--level=2"], "--level=2"),
                      (["--corruption=gaussian", "--model=mlp"], "--model='mlp'"),
                      (["--corruption=gaussian", "--epochs=-1"], "--epochs=-1"),
                      (["--corruption=gaussian", "--hidden=a,b"], "--hidden=a,b")]:
    with pytest.raises(_cli.UsageError, match=match):
      denoise_main.main_args(["--dataset=mnist", f"--workdir={tmp_path / 'w'}", *args])
  assert not (tmp_path / "w").exists()


@pytest.mark.slow
def test_error_path_in_subprocess(tmp_path):
  """The real program: exit status 2, one stderr line naming the flag, no traceback, no files."""
  workdir = tmp_path / "w"
  proc = subprocess.run(
      [sys.executable, "-m", "experiments.denoise", "--dataset=mnist", "--corruption=block",
       "--mode=noise2noise", f"--workdir={workdir}"],
      cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert proc.returncode == 2, proc.stderr
  lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
  assert len(lines) == 1, proc.stderr
  assert "--corruption='block'" in lines[0] and "accepted: gaussian" in lines[0]
  assert "Traceback" not in proc.stderr
  assert not workdir.exists()
