"""sdae.restore.toy2d / experiments.toy2d: the 2-D field is written as a PNG (and PDF) and points
back to the data (mean distance to the curve decreases after phi)."""

import json

import numpy as np
import pytest
from PIL import Image

from experiments import _cli
from experiments import toy2d as toy2d_main
from sdae.restore import toy2d


def test_distance_to_curve():
  pts = toy2d.curve("circle", np.array([0.0, 0.25]))
  np.testing.assert_allclose(toy2d.distance_to_curve("circle", pts), 0.0, atol=1e-3)
  assert toy2d.distance_to_curve("circle", np.zeros((1, 2)))[0] == pytest.approx(0.8, abs=1e-6)


def test_entry_point_writes_png_and_field_points_to_data(tmp_path):
  toy2d_main.main_args([f"--workdir={tmp_path}", "--epochs=40", "--n_points=1000",
                        "--batch_size=50"])
  img = Image.open(tmp_path / "toy2d.png")
  arr = np.asarray(img.convert("L"))
  assert min(img.size) > 400 and (arr < 200).mean() > 0.01  # something drawn
  assert (tmp_path / "toy2d.pdf").read_bytes()[:4] == b"%PDF"
  r = json.loads((tmp_path / "toy2d.json").read_text())
  assert r["mean_distance_denoised"] < 0.85 * r["mean_distance_noisy"], r


def test_phi_moves_noisy_points_towards_circle():
  c = toy2d.Toy2dConfig(shape="circle", n_points=1000, epochs=40, batch_size=50)
  model, params, _, losses = toy2d.train(c)
  assert losses[-1] < losses[0]
  r = toy2d.evaluate(c, model, params, n=500)
  assert r["mean_distance_denoised"] < 0.85 * r["mean_distance_noisy"], r


def test_bad_flag_is_one_line_usage_error(tmp_path):
  with pytest.raises(_cli.UsageError, match="--shape='moon'"):
    toy2d_main.main_args([f"--workdir={tmp_path}", "--shape=moon"])
  with pytest.raises(_cli.UsageError, match="--sigma=0"):
    toy2d_main.main_args([f"--workdir={tmp_path}", "--sigma=0"])


@pytest.mark.slow
def test_command_line_prints_no_backend_noise(tmp_path):
  """As a program it prints its one result line; JAX's INFO lines (e.g. "Unable to initialize
  backend 'tpu'") are kept quiet as in the other entry points."""
  import os
  import pathlib
  import subprocess
  import sys
  root = pathlib.Path(__file__).resolve().parents[1]
  env = dict(os.environ)
  env.pop("JAX_PLATFORMS", None)  # let JAX look for accelerators, as a user's run does
  proc = subprocess.run([sys.executable, "-m", "experiments.toy2d", f"--workdir={tmp_path}",
                         "--epochs=2", "--n_points=200"], cwd=root, env=env,
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stderr == "", proc.stderr
  assert proc.stdout.startswith("mean distance to the curve") and (tmp_path / "toy2d.png").exists()
