"""The data report's pixel measures, its MNIST-variant sets, and the published files beside a
regenerated set (--against=original) on fixture zips; small sets, no network."""

import json

import numpy as np
import pytest

from helpers import run_cli, shapes
from sdae.data import api, fidelity, idx
from sdae.data import regenerate as regen
from test_data_original import shrink, write_mnist_fixture, write_zip


def _halves(left, right):
  img = np.full((28, 28), right, np.float32)
  img[:, :14] = left
  return img.reshape(784)


def test_pixel_measures_on_known_images():
  # Per image: pixel std 0, 0, 0.5, 0.05, 0.25; ink (> 0.5) 0, 1, 0.5, 0, 0.5.
  x = np.stack([_halves(0, 0), _halves(1, 1), _halves(1, 0), _halves(0.35, 0.25),
                _halves(0.65, 0.15)])
  m = fidelity.pixel_measures(x)
  hist = m["all/pixel_histogram"]
  assert list(hist) == ["0-0.1", "0.1-0.2", "0.2-0.3", "0.3-0.4", "0.4-0.5", "0.5-0.6",
                        "0.6-0.7", "0.7-0.8", "0.8-0.9", "0.9-1"]
  assert sum(hist.values()) == pytest.approx(1)
  # 3920 pixels: 1176 zeros, 1176 ones (the last bin is closed), 392 each at 0.15 ... 0.65.
  assert hist["0-0.1"] == hist["0.9-1"] == pytest.approx(0.3)
  for b in ("0.1-0.2", "0.2-0.3", "0.3-0.4", "0.6-0.7"):
    assert hist[b] == pytest.approx(0.1)
  assert hist["0.4-0.5"] == hist["0.8-0.9"] == 0
  assert m["all/pixel_zero"] == pytest.approx(0.3)
  assert m["all/pixel_zero_or_one"] == pytest.approx(0.6)
  assert m["all/ink"] == pytest.approx(0.4)
  assert m["all/pixel_mean"] == pytest.approx(0.44)
  # Sorted stds 0, 0, 0.05, 0.25, 0.5: the 90% point is 0.25 + 0.6 * 0.25.
  assert m["all/image_std_q10"] == pytest.approx(0, abs=1e-6)
  assert m["all/image_std_q50"] == pytest.approx(0.05, abs=1e-6)
  assert m["all/image_std_q90"] == pytest.approx(0.4, abs=1e-6)
  # The mean image's parts: a one-pixel frame and a centre dot.
  frame = np.ones((28, 28), np.float32)
  frame[1:-1, 1:-1] = 0
  dot = np.zeros((28, 28), np.float32)
  dot[13:15, 13:15] = 1
  m = fidelity.pixel_measures(np.stack([frame, dot]).reshape(2, 784))
  assert (m["all/mean_image_centre"], m["all/mean_image_edges"],
          m["all/mean_image_corners"]) == (0.5, 0.5, 0.5)
  m = fidelity.pixel_measures(frame.reshape(1, 784))
  assert (m["all/mean_image_centre"], m["all/mean_image_edges"]) == (0, 1)


def test_report_marks_derived_figures_and_shows_a_variant_alone():
  x = np.stack([_halves(1, 0), _halves(0, 0)])
  table, rows = fidelity.report("rectangles", fidelity.pixel_measures(x), label="ours")
  by = {r["measure"]: r for r in rows}
  assert by["all/pixel_zero_or_one"]["published"] == 1.0 and "published_derived" not in \
      by["all/pixel_zero_or_one"]
  assert by["all/ink"]["published"] == pytest.approx(59 / 784) and \
      by["all/ink"]["published_derived"]
  assert by["all/image_std_q50"]["published"] is None  # never a made-up figure
  assert "| all/ink | 0.0753 † | 0.25 |" in table and "† Not a figure of the facts" in table
  assert "| rectangles: pixel value | 0-0.1 |" in table
  # No published figure of an MNIST variant: ours alone, or beside another copy.
  table, rows = fidelity.report("mnist_bg_img", fidelity.pixel_measures(x), label="ours")
  assert table.splitlines()[0] == "| mnist_bg_img: measure | ours |"
  assert all(r["published"] is None for r in rows)
  m = fidelity.pixel_measures(x)
  table, rows = fidelity.report("mnist_bg_img", m, "ours", against=dict(m, **{"all/ink": 0.5}))
  assert table.splitlines()[0] == "| mnist_bg_img: measure | original | ours | ours - original |"
  assert "| all/ink | 0.5 | 0.25 | -0.25 |" in table and "| ours - original | +0.000 |" in table


def _pool(n=600):
  """A fake MNIST pool for the variants: ``shapes`` as uint8 digits, labels 0..9."""
  x, _ = shapes(n, 3)
  y = np.random.default_rng(0).integers(0, 10, n).astype(np.int32)
  return (x * 255).astype(np.uint8).reshape(n, 28, 28), y


def test_bg_img_version_4_has_more_contrast_per_image_than_version_3():
  # Version 4 discards background patches of pixel std < 0.15 (version 3: < 0.05).
  pool = _pool()
  m = {v: fidelity.measure("mnist_bg_img", regen.regenerate(
      "bg-img", 0, sizes=(400, 0, 0), mnist=lambda: pool, version=v), n=400) for v in (3, 4)}
  assert m[4]["all/image_std_q50"] > m[3]["all/image_std_q50"] + 0.02
  assert m[4]["all/image_std_q10"] > m[3]["all/image_std_q10"]
  assert "all/label_1_fraction_train" not in m[4]  # a 10-class set


def test_entry_point_reports_an_mnist_variant_with_ours_alone(tmp_path, monkeypatch):
  from experiments import data_report as entry
  shrink(monkeypatch, "mnist_bg_img", 200, 50, 10)
  pool = _pool()
  monkeypatch.setattr(api, "_mnist_pool", lambda data_dir, cache_dir: pool)
  work = tmp_path / "r"
  argv = ["--datasets=bg-img", f"--workdir={work}", "--n=250", "--data_version=4",
          f"--cache_dir={tmp_path / 'c'}"]
  assert run_cli(entry, argv) == 0
  out = json.loads((work / "data_report_mnist_bg_img.json").read_text())
  assert (out["data_source"], out["data_version"], out["n_measured"]) == ("regenerated", 4, 250)
  assert all(r["published"] is None for r in out["rows"]) and "against" not in out
  md = (work / "data_report_mnist_bg_img.md").read_text()
  assert "No statistic of this set's published files is known" in md
  assert "ours alone" in md and "SVM_rbf column" in md and "below 0.15" in md
  assert "| mnist_bg_img: measure | regenerated v4 |" in md
  # Ten classes: a row of examples each, and every class mean in the last row.
  assert (work / "preview_mnist_bg_img.png").stat().st_size > 5000


def test_entry_point_sets_the_published_files_beside_the_regenerated_set(tmp_path, monkeypatch,
                                                                          capsys):
  from experiments import data_report as entry
  shrink(monkeypatch, "convex", 40, 20, 10)
  d = tmp_path / "data"
  d.mkdir()
  write_zip(str(d), "convex", 60, 10)  # the marker image (55 pixels on) at 0.5-1 of its values
  work = tmp_path / "r"
  argv = ["--datasets=convex", "--against=original", f"--data_dir={d}", f"--workdir={work}",
          f"--cache_dir={tmp_path / 'c'}", "--n=60"]
  assert run_cli(entry, argv) == 0
  out = json.loads((work / "data_report_convex.json").read_text())
  assert out["against"] == "original" and out["data_source"] == "regenerated"
  assert out["n_measured"] == out["against_n_measured"] == 60
  theirs, ours = out["against_measures"], out["measures"]
  assert theirs["all/pixel_zero"] == pytest.approx(729 / 784)
  assert theirs["all/pixel_zero_or_one"] == pytest.approx(729 / 784)
  assert ours["all/pixel_zero_or_one"] == 1.0
  by = {r["measure"]: r for r in out["rows"]}
  assert by["all/pixel_zero_or_one"]["ours_minus_against"] == pytest.approx(55 / 784)
  assert by["all/pixel_zero_or_one"]["published"] == 1.0
  md = (work / "data_report_convex.md").read_text()
  assert ("| convex: measure | published | original | regenerated v6 | "
          "regenerated v6 - original |") in md
  assert "| regenerated v6 - original |" in md  # the histograms' difference row
  assert "| convex: measure | published | original |" in capsys.readouterr().out
  assert (work / "preview_convex_original.png").stat().st_size > 5000
  assert sorted(p.name for p in d.iterdir()) == ["convex.zip"]  # nothing written there


def test_entry_point_measures_the_published_mnist(tmp_path, monkeypatch):
  from experiments import data_report as entry
  _, md5 = write_mnist_fixture(str(tmp_path))
  monkeypatch.setattr(idx, "MNIST_FILES", md5)
  shrink(monkeypatch, "mnist", 8, 4, 5)
  work = tmp_path / "r"
  argv = ["--datasets=mnist", "--data_source=original", f"--data_dir={tmp_path}",
          f"--workdir={work}", f"--cache_dir={tmp_path / 'c'}"]
  assert run_cli(entry, argv) == 0
  out = json.loads((work / "data_report_mnist.json").read_text())
  assert (out["data_source"], out["data_version"], out["n_measured"]) == ("original", None, 12)
  assert "the published MNIST files" in (work / "data_report_mnist.md").read_text()


@pytest.mark.parametrize("extra,needles", [
    (["--against=original", "--data_dir={d}"], ["convex.zip not found", "--against=original"]),
    (["--against=original", "--data_source=original", "--data_dir={d}"],
     ["--against=original", "--data_source=original"]),
    (["--datasets=bg-img", "--against=original", "--data_dir={d}"],
     ["mnist_background_images.zip", "train-images-idx3-ubyte.gz"]),
    (["--datasets=mnist", "--data_version=3"], ["'mnist'", "--data_source=original"]),
])
def test_entry_point_errors_are_one_line_before_anything_is_written(tmp_path, capsys, extra,
                                                                     needles):
  from experiments import data_report as entry
  d = tmp_path / "empty"
  d.mkdir()
  argv = ["--datasets=convex", f"--workdir={tmp_path / 'r'}"] + [
      a.format(d=d) for a in extra]
  assert run_cli(entry, argv) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1, err
  for needle in needles:
    assert needle in err[0], err[0]
  assert not (tmp_path / "r").exists()
