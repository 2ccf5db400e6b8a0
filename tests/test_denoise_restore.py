"""Restorations a classifier reads: the reference classifier (trained once, cached), the
accuracies and mean-image baseline in denoise.json, restored.npz, the presets and their flags.
Labelled synthetic shapes (4 classes), tiny dense models: seconds per test."""

import json
import os

import numpy as np
import pytest

from experiments import _cli
from experiments import denoise as denoise_main
from sdae.configs import denoise as denoise_configs
from sdae.restore import reference_classifier as rc
from sdae.restore.config import DenoiseConfig, validate
from sdae.restore.evaluate import eval_key, evaluate
from sdae.restore.models import conv_output_side, default_hidden
from sdae.restore.report import accuracy_metrics, mean_image_metrics
from sdae.restore.run import reference_classifier
from sdae.restore.train import train_denoiser
from tests.helpers import fake_labelled_mnist
from tests.helpers import shapes


@pytest.fixture
def cache(tmp_path, monkeypatch):
  monkeypatch.setenv("SDAE_CACHE_DIR", str(tmp_path / "cache"))
  return tmp_path / "cache"


def test_reference_classifier_is_trained_once_and_cached(cache):
  x, y = shapes(512, 0)
  a = rc.get(x, y)
  files = os.listdir(cache / rc.CACHE_SUBDIR)
  assert files == [a.key + ".msgpack"]
  b = rc.get(x, y)  # read back, not retrained: the same predictions
  x_test, y_test = shapes(200, 1)
  np.testing.assert_array_equal(a.predict(x_test), b.predict(x_test))
  assert a.accuracy(x_test, y_test) > 0.95
  # Other training data (or config) trains its own.
  c = rc.get(x[:400], y[:400])
  assert c.key != a.key and len(os.listdir(cache / rc.CACHE_SUBDIR)) == 2


def test_training_improves_the_classifiers_accuracy_on_restored_images(cache):
  """Blur hides which shape it is from a classifier trained on clean shapes; a short training
  run restores them. An identity restorer scores the corrupted accuracy, so this can fail."""
  x, y = shapes(1024, 0)
  x_test, y_test = shapes(200, 1)
  clf = rc.get(x, y)
  cfg = validate(DenoiseConfig(
      corruption="blur", level=3.0, model="dense", hidden=(128,), epochs=8, batch_size=32,
      lr=3e-3))
  model, result = train_denoiser(cfg, x)
  m = evaluate(model, result.params, cfg, x_test, eval_key(0))
  acc = accuracy_metrics(clf, m["images"], y_test)
  assert acc["accuracy_clean"] > 0.95
  assert acc["accuracy_corrupted"] < 0.7, acc
  assert acc["accuracy_restored"] > acc["accuracy_corrupted"] + 0.25, acc
  mean = mean_image_metrics(x, m["images"]["clean"])
  assert m["psnr_restored_db"] > mean["psnr_mean_image_db"]


@pytest.fixture
def labelled(monkeypatch, tmp_path):
  return fake_labelled_mnist(monkeypatch, tmp_path / "cache", n_test=40)


def test_run_writes_accuracies_and_restored_npz(labelled, tmp_path):
  workdir = tmp_path / "w"
  denoise_main.main_args(["--dataset=mnist", "--corruption=block", "--hidden=64",
                          "--epochs=2", "--batch_size=32", "--test_size=30",
                          f"--workdir={workdir}"])
  r = json.loads((workdir / "denoise.json").read_text())
  for k in ("accuracy_clean", "accuracy_corrupted", "accuracy_restored"):
    assert 0.0 <= r[k] <= 1.0, k
  assert r["psnr_mean_image_db"] > 0 and r["preset"] == "block"
  assert r["reference_classifier"]["n_train"] == 320  # train + valid, clean
  assert r["config"]["model"] == "dense" and r["config"]["schedule"] == "cosine"  # the preset
  assert r["config"]["hidden"] == [64] and r["config"]["epochs"] == 2  # flags override it
  with np.load(workdir / "restored.npz") as z:
    assert sorted(z.files) == ["corrupted", "labels", "restored"]
    restored, corrupted, labels = z["restored"], z["corrupted"], z["labels"]
  assert restored.shape == corrupted.shape == (30, 28, 28)
  assert restored.dtype == corrupted.dtype == np.float32 and labels.dtype == np.int32
  np.testing.assert_array_equal(labels, labelled["test"][1][:30])  # test-set order
  clean = labelled["test"][0][:30].reshape(30, 28, 28)
  np.testing.assert_array_equal(corrupted[:, 9:19, 9:19], 0.0)  # the block is background
  np.testing.assert_array_equal(corrupted[:, :9], clean[:, :9])
  # The restored images are the model's: the classifier's accuracy on them is the json's.
  clf = reference_classifier(labelled)
  assert clf.accuracy(restored, labels) == pytest.approx(r["accuracy_restored"])
  assert not [f for f in os.listdir(workdir) if f.startswith(".")]


def test_presets_fill_unset_flags_only():
  def apply(preset, given):
    return DenoiseConfig(**denoise_configs.settings(preset, given))

  p = denoise_configs.preset_for("clean", "erasure")
  assert p.name == "erasure" and denoise_configs.preset_for("superres", None).name == "superres"
  assert denoise_configs.preset_for("clean", "masking") is None
  c = apply(p, {})
  assert (c.corruption, c.level, c.model) == ("erasure", 0.9, "dense")
  c = apply(p, {"epochs": 1, "level": 0.5})
  assert (c.epochs, c.level, c.hidden) == (1, 0.5, p.fields["hidden"])
  conv = validate(apply(p, {"model": "conv"}))  # not dense widths
  assert conv.hidden == default_hidden("conv")
  course = validate(apply(denoise_configs.get("course"), {"corruption": "blur"}))
  assert course.level == 4.0 and course.kernels == (5, 5, 4, 3, 4) and course.norm == "group"
  assert conv_output_side(28, course.kernels, course.strides) == (1, 28)  # 8 numbers


def test_unknown_preset_is_one_line(labelled, tmp_path):
  with pytest.raises(_cli.UsageError, match="--preset='fast' is not accepted; accepted: "
                     "erasure, blur") as e:
    denoise_main.main_args(["--dataset=mnist", "--corruption=erasure", "--preset=fast",
                            f"--workdir={tmp_path / 'w'}"])
  assert "\n" not in str(e.value)
  assert not (tmp_path / "w").exists()
