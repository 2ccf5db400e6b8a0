"""sdae.viz and the figures built on it: every figure says what it shows (titles with the layer,
unit count and corruption level, labelled rows, readable ticks, a legend that says what the error
bars are) and is written as a PNG with a PDF beside it."""

import os
import re

import numpy as np
import pytest

from sdae import viz


def _kernel(n_in=784, n_hidden=500, seed=0):
  return np.random.default_rng(seed).normal(size=(n_in, n_hidden)).astype(np.float32)


def test_filters_figure_says_layer_units_and_level():
  fig = viz.filters_figure(_kernel(), corruption="masking", level=0.3, dataset="mnist")
  (title,) = [ax.get_title() for ax in fig.axes]
  assert "layer 1" in title and "units 1-100 of 500" in title and "masking 30%" in title
  assert "mnist" in title
  assert "black (lowest) to white (highest)" in " ".join(viz.figure_texts(fig))


def test_filters_by_level_one_titled_panel_per_level_lowest_first():
  panels = [(0.0, _kernel(seed=0)), (0.3, _kernel(seed=1)), (0.5, _kernel(seed=2))]
  fig = viz.filters_by_level_figure(panels, corruption="masking", dataset="mnist")
  titles = [ax.get_title() for ax in fig.axes]
  assert len(titles) == 3
  assert [t.splitlines()[0] for t in titles] == ["masking 0%", "masking 30%", "masking 50%"]
  assert all("of 500" in t for t in titles)
  assert "mnist" in fig.get_suptitle()


def test_sweep_filters_not_written_for_non_images(tmp_path):
  from sdae import sweep as S
  assert S.save_filters_by_level([(0.0, _kernel(n_in=7))], str(tmp_path / "f.png")) == []
  assert not os.listdir(tmp_path)


def test_rows_figure_labels_each_row():
  x = np.random.default_rng(0).random((36, 784))
  fig = viz.rows_figure([("clean", x), ("corrupted\n(masking 25%)", x), ("restored", x)],
                        title="t", cols=12)
  labels = [ax.get_ylabel() for ax in fig.axes]
  assert labels == ["clean", "corrupted\n(masking 25%)", "restored"] * 3  # 3 bands of 12
  assert fig.axes[0].get_title() == "t"


def test_sweep_plot_ticks_are_the_levels_and_legend_says_what_bars_are():
  from sdae import sweep as S
  rows = [{"level": l, "seed": s, "valid_error_pct": 5 + l + s, "test_error_pct": 6 + l - s,
           "test_ci95_pct": 0.4} for l in (0.0, 0.1, 0.25, 0.4) for s in (0, 1)]
  fig = S.plot_figure(rows, dataset="mnist_basic", corruption="masking")
  (ax,) = fig.axes
  assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "0.1", "0.25", "0.4"]
  assert "mnist_basic" in ax.get_title() and "masking" in ax.get_xlabel()
  legend = [t.get_text() for t in ax.get_legend().get_texts()]
  assert len(legend) == 2 and all("95% interval" in t and "2 seeds" in t for t in legend)
  assert any(line.get_visible() for line in ax.get_xgridlines())
  one_seed = S.plot_figure([r for r in rows if r["seed"] == 0])
  legend = [t.get_text() for t in one_seed.axes[0].get_legend().get_texts()]
  assert any("binomial" in t for t in legend)


def test_save_figure_writes_png_and_pdf_atomically(tmp_path):
  from PIL import Image
  path = str(tmp_path / "filters.png")
  written = viz.save_filters(_kernel(), path, corruption="masking", level=0.25)
  assert written == [path, str(tmp_path / "filters.pdf")]
  with Image.open(path) as im:
    assert im.width > 400 and im.height > 400
    assert np.asarray(im.convert("L")).std() > 10  # not blank
  pdf = (tmp_path / "filters.pdf").read_bytes()
  assert pdf[:4] == b"%PDF" and len(pdf) > 5000
  assert sorted(os.listdir(tmp_path)) == ["filters.pdf", "filters.png"]  # no temporaries
  umask = os.umask(0)
  os.umask(umask)
  assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_level_text():
  assert viz.level_text("masking", 0.25) == "masking 25%"
  assert viz.level_text("salt_pepper", 0.1) == "salt-pepper 10%"
  assert viz.level_text("gaussian", 0.5) == "gaussian σ=0.5"
  assert viz.level_text("none", 0.0) == "no corruption"


def test_denoise_figure_title_has_level_psnr_and_optional_accuracy(tmp_path):
  from sdae.restore.config import DenoiseConfig
  from sdae.restore.report import figure_title, save_figure
  c = DenoiseConfig(corruption="erasure", level=0.9, model="dense")
  m = {"psnr_corrupted_db": 9.5, "psnr_restored_db": 17.25, "n_test": 100}
  title = figure_title(c, m, "mnist")
  assert "erasure 90%" in title and "9.50 dB" in title and "17.25 dB" in title
  assert "accuracy" not in title
  title = figure_title(c, {**m, "accuracy_clean": 0.99, "accuracy_restored": 0.9},
                       "mnist")
  assert "accuracy: clean 99.0%, restored 90.0%" in title
  sr = DenoiseConfig(mode="superres", model="dense")
  title = figure_title(sr, {**m, "psnr_baseline_db": 15.0, "baseline": "bilinear"})
  assert "2x average pool" in title and "bilinear 15.00 dB" in title
  x = np.random.default_rng(0).random((36, 28, 28))
  images = {"clean": x, "corrupted": x, "restored": x}
  path = str(tmp_path / "denoise.png")
  assert save_figure(c, images, m, path, "mnist") == [path, str(tmp_path / "denoise.pdf")]


def test_toy2d_figure_has_title_axes_and_legend():
  from sdae.restore import toy2d
  c = toy2d.Toy2dConfig()
  pts = toy2d.sample("spiral", 50, 0)
  fig = toy2d.figure(c, pts, pts, pts * 0.9,
                     metrics={"mean_distance_noisy": 0.08, "mean_distance_denoised": 0.04})
  texts = viz.figure_texts(fig)
  assert any("σ=0.1" in t and "0.080 -> denoised 0.040" in t for t in texts)
  assert "x₁" in texts and "x₂" in texts
  assert any("training points" in t for t in texts) and any("φ(x)" in t for t in texts)


def test_preview_help_names_the_file_it_writes_and_labels_say_what_they_mean():
  from experiments import preview
  from sdae import data
  doc = preview.__doc__
  dataset = re.search(r"--dataset=([a-z]\w*)", doc).group(1)
  out = re.search(r"--out=(\S+?_[a-z]\w*\.png)\]", doc).group(1)
  assert preview.default_out(data.resolve_name(dataset)) == out
  from absl import flags
  assert out in flags.FLAGS[preview._OUT.name].help  # pylint: disable=protected-access
  assert preview.label_legend("rectangles") == "label 0 = wide, 1 = tall"
  assert preview.label_legend("convex") == "label 0 = non-convex, 1 = convex"
  assert preview.label_legend("mnist_rot") == "label = the digit"
  x = np.random.default_rng(0).random((5, 784))
  fig = preview.preview_figure("rectangles", x, np.array([0, 1, 1, 0, 1]), "train", "original")
  assert "label 0 = wide, 1 = tall" in fig.get_suptitle()
  assert [ax.get_xlabel() for ax in fig.axes[:5]] == ["0 wide", "1 tall", "1 tall", "0 wide",
                                                      "1 tall"]


def test_preview_default_out_is_written(tmp_path, monkeypatch):
  from experiments import preview
  monkeypatch.chdir(tmp_path)
  path = preview.preview("rect", n=4, source="regenerated", cache_dir=str(tmp_path / "cache"))
  # Into runs/ (created), as the README's runs, not the current folder itself (the repository).
  assert path == os.path.join("runs", "preview_rectangles.png")
  assert (tmp_path / "runs" / "preview_rectangles.png").exists()
  assert (tmp_path / "runs" / "preview_rectangles.pdf").exists()


def test_import_sdae_does_not_import_matplotlib():
  import subprocess
  import sys
  code = ("import sys, sdae, sdae.viz, sdae.io.progress; "
          "sys.exit('matplotlib' in sys.modules)")
  r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
  assert r.returncode == 0, r.stderr


PROBE = """
import sys
from absl import app
from experiments import _cli

def main(_):
  if sys.argv[-1] == "quiet":
    _cli.quiet_libraries()  # as setup_jax and preview do
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  plt.figure()

app.run(main)
"""


@pytest.mark.slow
def test_matplotlib_font_cache_message_is_silenced(tmp_path):
  # absl shows every logger's INFO records; matplotlib logs "generated new fontManager" at INFO
  # on a machine without its font cache (a fresh MPLCONFIGDIR here).
  import subprocess
  import sys
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  err = {}
  for mode in ("loud", "quiet"):
    env = dict(os.environ, MPLCONFIGDIR=str(tmp_path / mode), PYTHONPATH=root)
    proc = subprocess.run([sys.executable, "-c", PROBE, mode], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-1000:]
    err[mode] = proc.stderr
  assert "generated new fontManager" in err["loud"]  # the message exists without the fix
  assert "fontManager" not in err["quiet"], err["quiet"]
