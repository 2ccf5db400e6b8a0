"""Regenerated sets: procedures, statistics, determinism (small sizes, no network)."""

import numpy as np
import pytest
from scipy.spatial import ConvexHull, QhullError

from sdae import data
from sdae.data import regenerate as regen
from sdae.data.regenerate import convex, images, mnist_variants, rectangles, shape_stats


def fake_mnist(n=600, seed=0):
  """A synthetic 'MNIST' pool: a bright vertical bar (top-heavy) per image, labels 0..9."""
  rng = np.random.default_rng(seed)
  x = np.zeros((n, 28, 28), np.uint8)
  x[:, 4:20, 12:16] = 255
  x[:, 4:8, 8:20] = 200  # a bar across the top: an orientation marker
  y = rng.integers(0, 10, n).astype(np.int32)
  return lambda: (x, y)


# ---- rectangles -----------------------------------------------------------------------

def _check_outline(img):
  """(height, width) of the single outline in img, asserting it is exactly one outline."""
  rows, cols = np.nonzero(img)
  t, b, l, r = rows.min(), rows.max(), cols.min(), cols.max()
  h, w = b - t + 1, r - l + 1
  expect = np.zeros_like(img, bool)
  expect[t, l:r + 1] = expect[b, l:r + 1] = True
  expect[t:b + 1, l] = expect[t:b + 1, r] = True
  np.testing.assert_array_equal(img.astype(bool), expect)
  return h, w


def test_rectangles_outlines_match_labels():
  out = regen.regenerate("rect", 0, sizes=(300, 50, 400))
  assert [len(out[s][0]) for s in ("train", "valid", "test")] == [300, 50, 400]
  x = np.concatenate([out[s][0] for s in out])
  y = np.concatenate([out[s][1] for s in out])
  assert x.dtype == np.float32 and set(np.unique(x)) <= {0.0, 1.0}
  hs, ws = [], []
  for img, label in zip(x.reshape(-1, 28, 28), y):
    h, w = _check_outline(img)
    assert label == (1 if h > w else 0)
    assert abs(h - w) >= 3 and 4 <= h <= 28 and 4 <= w <= 28
    hs.append(h), ws.append(w)
  assert 0.42 < y.mean() < 0.58                 # balanced classes
  assert min(hs) <= 6 and max(hs) >= 26          # sizes spread over 4..28
  assert 50 < x.sum(1).mean() < 70               # about 59 pixels on (dataset-facts.md)


def test_rectangles_placement_uniform_where_it_fits():
  rng = np.random.default_rng(0)
  top, left, h, w = rectangles.sample_boxes(rng, 5000)
  assert (top + h <= 28).all() and (left + w <= 28).all() and top.min() == 0
  assert top.max() == 24 and left.max() == 24


def test_rectangles_images_labels_and_range():
  x, y = rectangles.generate_images(np.random.default_rng(1), 400)
  assert x.shape == (400, 784) and x.min() >= 0 and x.max() <= 1
  assert 0.4 < y.mean() < 0.6


def test_rectangles_images_v4_boxes_keep_the_documented_limits():
  # Version 4 (rectangles.py docstring; the leads of dataset-facts.md): area in [196, 588],
  # sides >= 10, |h - w| >= 4 (the leads' ~5, calibrated), labels tall = 1. Version 3 breaks
  # the area and side limits (sides down to 4) and the gap (3).
  n = 3000
  x, y = rectangles.generate_images(regen.rng_for("rectangles_images", 0), n, version=4)
  top, left, h, w = rectangles.boxes_of(regen.rng_for("rectangles_images", 0), n, version=4)
  a = h * w
  assert a.min() >= rectangles.V4_MIN_AREA == 196 and a.max() <= rectangles.V4_MAX_AREA == 588
  assert np.minimum(h, w).min() >= rectangles.V4_MIN_SIDE == 10
  assert np.maximum(h, w).max() <= 28 and np.abs(h - w).min() >= rectangles.V4_MIN_GAP == 4
  assert (top + h <= 28).all() and (left + w <= 28).all() and top.min() == left.min() == 0
  np.testing.assert_array_equal(y, (h > w).astype(np.int32))
  assert 0.46 < y.mean() < 0.54                                 # balanced classes
  assert a.min() < 230 and a.max() > 540 and 320 < a.mean() < 380  # the range is used
  assert x.shape == (n, 784) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
  # The rectangle is one patch and the rest a patch of another photograph, and the boxes
  # replayed from the seed are the images' own: the draws that follow the boxes rebuild x.
  rng = regen.rng_for("rectangles_images", 0)
  rectangles.boxes_of(rng, n, version=4)
  fg, fg_src = images.sample_patches(rng, n)
  bg, bg_src = images.sample_patches(rng, n, exclude=fg_src)
  inside, _ = rectangles.box_masks(top, left, h, w)
  assert (fg_src != bg_src).all()
  np.testing.assert_array_equal(x.reshape(n, 28, 28), np.where(inside, fg, bg))
  _, _, h3, w3 = rectangles.boxes_of(regen.rng_for("rectangles_images", 0), n, version=3)
  assert np.minimum(h3, w3).min() < 10 and (h3 * w3).min() < 196 and np.abs(h3 - w3).min() == 3


def test_rectangles_images_version_3_is_kept_byte_for_byte():
  # The sha256 of a small version-3 set, computed before version 4 existed (commit fbaa956).
  import hashlib
  out = regen.regenerate("rect-img", 0, sizes=(20, 10, 10), version=3)
  digest = hashlib.sha256(b"".join(out[s][0].tobytes() + out[s][1].tobytes()
                                   for s in ("train", "valid", "test"))).hexdigest()
  assert digest == "a4b930d2e59c9cb680d848e64e32ed84440b10d305ba59b7955a4b654a9eaf85"


def test_rectangles_images_versions_differ_and_v4_is_the_deterministic_default():
  assert regen.accepted("rect-img") == (3, 4) and regen.newest("rect-img") == 4
  kw = dict(sizes=(60, 20, 20))
  v3 = regen.regenerate("rect-img", 5, version=3, **kw)
  a, b = regen.regenerate("rect-img", 5, version=4, **kw), regen.regenerate("rect-img", 5, **kw)
  c = regen.regenerate("rect-img", 6, version=4, **kw)
  for s in a:
    assert a[s][0].tobytes() == b[s][0].tobytes() and a[s][1].tobytes() == b[s][1].tobytes()
  assert any(a[s][0].tobytes() != v3[s][0].tobytes() for s in a)
  assert any(a[s][0].tobytes() != c[s][0].tobytes() for s in a)


# ---- convex ---------------------------------------------------------------------------

_CENTRES = np.stack(np.meshgrid(np.arange(28), np.arange(28), indexing="ij"), -1) \
    .reshape(-1, 2).astype(float)


def black_inside_hull(img):
  """True if a black pixel centre lies in the convex hull of the white pixel centres."""
  white = img.reshape(-1).astype(bool)
  pts = _CENTRES[white]
  try:
    eq = ConvexHull(pts).equations
    inside = (_CENTRES @ eq[:, :2].T + eq[:, 2]).max(1) <= 1e-9
  except QhullError:  # collinear: the segment between the extreme points
    d = pts.max(0) - pts.min(0) if (np.ptp(pts[:, 0]) == 0 or np.ptp(pts[:, 1]) == 0) \
        else pts[np.argmax(pts[:, 0])] - pts[np.argmin(pts[:, 0])]
    p0 = pts[np.argmin(pts @ d)]
    rel = _CENTRES - p0
    cross = rel[:, 0] * d[1] - rel[:, 1] * d[0]
    t = rel @ d / (d @ d)
    inside = (np.abs(cross) < 1e-9) & (t >= -1e-9) & (t <= 1 + 1e-9)
  return bool(np.any(inside & ~white))


@pytest.mark.parametrize("version", regen.accepted("convex"))
def test_convex_labels_are_right_by_hull_test(version):
  out = regen.regenerate("convex", 0, sizes=(120, 40, 80), version=version)
  for s, (x, y) in out.items():
    assert abs((y == 1).sum() - (y == 0).sum()) <= 1, s     # balanced per split
    assert set(np.unique(x)) <= {0.0, 1.0}
  x = np.concatenate([out[s][0] for s in out])
  y = np.concatenate([out[s][1] for s in out])
  for img, label in zip(x.reshape(-1, 28, 28), y):
    assert black_inside_hull(img) == (label == 0)
  area = x.sum(1)
  least = convex.MIN_CONVEX if version == 3 else convex.MIN_CONVEX_V4
  assert area[y == 1].min() >= least
  assert area[y == 0].min() >= least    # non-convex areas follow the convex ones


def test_midpoint_witness_on_known_shapes():
  square = np.zeros((28, 28), bool)
  square[5:15, 5:15] = True
  two_blobs = np.zeros((28, 28), bool)
  two_blobs[2:6, 2:6] = two_blobs[20:24, 20:24] = True
  ell = np.zeros((28, 28), bool)
  ell[2:20, 2:5] = ell[17:20, 2:20] = True
  got = convex.has_midpoint_witness(np.stack([square, two_blobs, ell]))
  np.testing.assert_array_equal(got, [False, True, True])


def test_halfplane_sets_are_convex_and_big_enough():
  rng = np.random.default_rng(3)
  sets = convex.unpack(convex.sample_halfplane_sets(rng, 300, convex.P_CONVEX, 19))
  assert (sets.sum(1) >= 19).all()
  assert not convex.has_midpoint_witness(sets.reshape(-1, 28, 28)).any()
  assert 200 < sets.sum(1).mean() < 420     # dataset-facts.md: mean 299 for convex


def test_components_keep_min_pixels_and_are_convex():
  rng = np.random.default_rng(4)
  comps = convex.unpack(convex.sample_components(rng, 400))
  assert (comps.sum(1) >= convex.MIN_COMPONENT).all()
  assert not convex.has_midpoint_witness(comps.reshape(-1, 28, 28)).any()


@pytest.mark.parametrize("version", regen.accepted("convex"))
def test_convex_class_areas_are_balanced(version):
  # dataset-facts.md: originals mean 304 / 299, median 251 / 249 (non-convex / convex).
  # Before the area calibration (full set): mean 359 / 306, median 324 / 243; on this sample
  # 361 / 311 and 325 / 249, failing the mean, median and range checks below. Version 4
  # without its larger small-area budget: non-convex 10 % quantile 48 against 30, failing.
  out = regen.regenerate("convex", 0, sizes=(2000, 0, 2000), version=version)
  x = np.concatenate([out[s][0] for s in out])
  y = np.concatenate([out[s][1] for s in out])
  a0, a1 = x[y == 0].sum(1), x[y == 1].sum(1)
  assert len(a0) == len(a1) == 2000
  assert abs(a0.mean() / a1.mean() - 1) < 0.03
  assert abs(np.median(a0) / np.median(a1) - 1) < 0.05
  for a in (a0, a1):
    assert 270 < a.mean() < 340 and 210 < np.median(a) < 290
  # Whole distributions close: quartiles and deciles within 10 % (+5 px).
  q = [10, 25, 75, 90]
  np.testing.assert_allclose(np.percentile(a0, q), np.percentile(a1, q), rtol=0.1, atol=5)
  assert a0.min() >= convex.MIN_CONVEX and a0.max() <= 783


# Published convex set, 3000 test images (dataset-facts.md): components (8-connected) and
# solidity (white pixels / pixels of their convex hull image), per class.
ORIGINAL_NONCONVEX = {"components": {1: 0.414, 2: 0.424, 3: 0.138, 4: 0.024, "5+": 0.0},
                      "solidity_q": {10: 0.32, 25: 0.48, 50: 0.72, 75: 0.90, 90: 0.96},
                      "solidity_above_0.9": 0.237}
ORIGINAL_CONVEX_SOLIDITY_Q = {10: 0.89, 25: 0.93, 50: 0.96, 75: 0.98, 90: 0.99}


def test_shape_statistics_on_known_shapes():
  square = np.zeros((28, 28), np.float32)
  square[5:15, 5:15] = 1
  two_blobs = np.zeros((28, 28), np.float32)
  two_blobs[2:6, 2:6] = two_blobs[20:24, 20:24] = 1
  diagonal_pair = np.zeros((28, 28), np.float32)
  diagonal_pair[3, 3] = diagonal_pair[4, 4] = 1          # 8-connected: one component
  comps, solid, areas = shape_stats.image_shapes(np.stack([square, two_blobs, diagonal_pair]))
  np.testing.assert_array_equal(comps, [1, 2, 1])
  np.testing.assert_array_equal(areas, [100, 32, 2])
  assert solid[0] == 1.0 and 0.1 < solid[1] < 0.5
  st = shape_stats.shape_statistics(np.stack([square, two_blobs, square]), np.array([1, 0, 1]))
  assert st[1]["components"][1] == 1.0 and st[0]["components"][2] == 1.0
  assert st[1]["solidity_above_0.9"] == 1.0 and st[0]["area_mean"] == 32


@pytest.mark.parametrize("version", regen.accepted("convex"))
def test_nonconvex_shapes_match_the_original(version):
  # 2000 non-convex images. Tolerances: 0.07 on each solidity quantile and 0.045 on their
  # mean, 3.5 points on the fractions of 1, 2 and 3 components (version 4: 7 points, its
  # measured gap: 47.7 % one component and 8.5 % three against 41.4 and 13.8, notes/data.md),
  # 5 points above 0.9 (version 4: 6). Components scattered over the image independently of each other
  # (random half-plane sides) give, on this sample, solidity 0.22/0.36/0.59/0.84/0.95 (mean
  # error 0.084), 37 % one component and 18 % above 0.9: they fail.
  # Version 6 is selected to the published figures: 4.5 points on the piece counts (this
  # sample's noise is +-1.1 points a standard error; seeds 0-3 give one piece 39.5-43.6 %),
  # 3 above 0.9 and 0.04 on each solidity quantile. Version 4 fails them (one piece 47.7 %,
  # three 8.5 %, above 0.9 18.3 % on this sample).
  x, y = regen.regenerate("convex", 0, sizes=(4000, 0, 0), version=version)["train"]
  tol_components = {3: 0.035, 4: 0.07}.get(version, 0.045)
  tol_quantile = 0.04 if version >= 6 else 0.07
  got = shape_stats.shape_statistics(np.concatenate([x[y == 0], x[y == 1]]),
                                     np.r_[np.zeros((y == 0).sum(), int),
                                           np.ones((y == 1).sum(), int)])
  nc, want = got[0], ORIGINAL_NONCONVEX
  assert nc["n"] == 2000
  err = [abs(nc["solidity_q"][q] - v) for q, v in want["solidity_q"].items()]
  assert max(err) < tol_quantile and np.mean(err) < 0.045, nc["solidity_q"]
  for k in (1, 2, 3):
    assert abs(nc["components"][k] - want["components"][k]) < tol_components, \
        (k, nc["components"])
  assert abs(nc["components"][4] - want["components"][4]) < (
      0.015 if version >= 6 else 0.02), nc["components"]
  assert nc["components"]["5+"] <= 0.01, nc["components"]
  # Version 4: 6 points (18.3 % on this sample against 23.7; the full report: 19.2 %).
  assert abs(nc["solidity_above_0.9"] - want["solidity_above_0.9"]) < (
      {3: 0.05, 4: 0.06}.get(version, 0.03)), nc
  # The convex class: one component, the original's solidity quantiles.
  cv = got[1]
  assert cv["components"][1] >= 0.99
  for q, v in ORIGINAL_CONVEX_SOLIDITY_Q.items():
    assert abs(cv["solidity_q"][q] - v) <= 0.02, (q, cv["solidity_q"])


def test_hull_pixels_equal_scikit_image():
  # The vectorised convex hull image (version 6 measures every candidate union's solidity
  # with it) against scikit-image's, on unions, convex sets, scattered pixels and edge cases.
  from skimage.morphology import convex_hull_image
  rng = np.random.default_rng(11)
  shapes = convex.unpack(np.concatenate([
      convex.draw_unions(rng, 300, anchor=(2.0, 26.0)),
      convex.sample_cut_sets(rng, 100, min_pixels=20, max_redraws=0, jitter=3.0)]))
  scattered = rng.random((200, 784)) < rng.choice([0.003, 0.02, 0.2], (200, 1))
  edge = np.zeros((6, 28, 28), bool)
  edge[0, 5, 5] = edge[2, 3, :] = edge[3, 0, 0] = edge[3, 27, 27] = edge[4, :, 27] = True
  edge[1] = True
  edge[5, 0, 27] = edge[5, 27, 0] = edge[5, 13, 13] = True
  imgs = np.concatenate([shapes.reshape(-1, 28, 28), scattered.reshape(-1, 28, 28), edge])
  imgs = imgs[imgs.any((1, 2))].astype(bool)
  want = [convex_hull_image(img).sum() for img in imgs]
  np.testing.assert_array_equal(convex.hull_pixels(imgs, chunk=128), want)
  np.testing.assert_array_equal(convex.hull_pixels(np.zeros((2, 28, 28), bool)), [0, 0])


def test_pieces_and_solidity_measure_as_the_fidelity_report():
  from sdae.data import fidelity
  rng = np.random.default_rng(12)
  unions = convex.draw_unions(rng, 400, anchor=(2.0, 26.0))
  x = convex.unpack(unions).astype(np.float32)
  k, sol = convex.pieces(unions), convex.solidity(unions)
  m = fidelity.shape_measures(x, np.zeros(len(x), int))
  for n in (1, 2, 3):
    assert (k == n).mean() == pytest.approx(m[f"0/components_{n}"])
  assert (sol > 0.9).mean() == pytest.approx(m["0/solidity_above_0.9"])
  assert np.percentile(sol, 50) == pytest.approx(m["0/solidity_q50"])
  two = np.zeros((3, 28, 28), bool)
  two[0, 2:6, 2:6] = two[0, 20:24, 20:24] = two[1, 3, 3] = two[1, 4, 4] = True
  np.testing.assert_array_equal(convex.pieces(convex.pack(two.reshape(3, -1))), [2, 1, 0])


def test_shape_filter_keeps_unions_by_their_weights():
  # Weights that refuse every union of one piece and keep every other: only unions of two or
  # more pieces survive; a scale that clips keeps everything.
  rng = np.random.default_rng(13)
  unions = convex.draw_unions(rng, 2000, anchor=(2.0, 26.0))
  k = convex.pieces(unions)
  keep = convex.shape_filter((0.0, 1.0, 1.0, 1.0), (1.0,) * 6, scale=1.0)(rng, unions)
  np.testing.assert_array_equal(keep, k >= 2)
  assert convex.shape_filter(scale=1e6)(rng, unions).all()
  # Halving the weights of the nearly convex unions halves their share of the kept ones.
  sol_bin = np.searchsorted(convex.SOLIDITY_EDGES, convex.solidity(unions), side="right")
  kept = convex.shape_filter((1.0,) * 4, (1.0,) * 4 + (0.5, 0.5), scale=1.0)(rng, unions)
  near = sol_bin >= 4
  assert abs(kept[near].mean() - 0.5) < 0.08 and kept[~near].all()


def test_draw_unions_respect_max_area_and_are_nonconvex():
  rng = np.random.default_rng(6)
  small = convex.draw_unions(rng, 3000, max_area=60)
  a = convex.area(small)
  assert len(small) > 50 and a.max() <= 60 and a.min() >= convex.MIN_COMPONENT
  assert convex.has_midpoint_witness(convex.unpack(small).reshape(-1, 28, 28)).all()
  full = convex.draw_unions(np.random.default_rng(6), 500)
  assert convex.area(full).max() <= 783 and len(full) > 350   # most unions are non-convex


# ---- MNIST variants -------------------------------------------------------------------

def test_angle_sampler_covers_the_circle():
  a = mnist_variants.sample_angles(np.random.default_rng(0), 12000)
  assert a.min() >= 0 and a.max() < 2 * np.pi
  counts = np.histogram(a, bins=12, range=(0, 2 * np.pi))[0]
  assert counts.min() > 0.8 * 1000 and counts.max() < 1.2 * 1000


def test_rotation_by_known_angles():
  img = np.zeros((2, 28, 28), np.float32)
  img[:, 3, 5:20] = 1.0       # asymmetric: a top bar and a left stem
  img[:, 3:18, 5] = 0.6
  np.testing.assert_allclose(mnist_variants.rotate(img, np.array([np.pi / 2, np.pi])),
                             np.stack([np.rot90(img[0]), np.rot90(img[1], 2)]), atol=1e-5)
  np.testing.assert_allclose(mnist_variants.rotate(img[:1], np.zeros(1)), img[:1], atol=1e-6)
  # 45 degrees keeps the mass roughly (bilinear) and moves it off the grid lines.
  r = mnist_variants.rotate(img[:1], np.array([np.pi / 4]))
  assert abs(r.sum() - img[0].sum()) / img[0].sum() < 0.1
  assert r.min() >= 0 and r.max() <= 1


@pytest.mark.parametrize("name", ["mnist_basic", "mnist_rot", "mnist_bg_rand", "mnist_bg_img",
                                  "mnist_bg_img_rot"])
def test_mnist_variants_shapes_range_labels(name):
  out = regen.regenerate(name, 0, sizes=(200, 50, 100), mnist=fake_mnist())
  for s, n in (("train", 200), ("valid", 50), ("test", 100)):
    x, y = out[s]
    assert x.shape == (n, 784) and x.dtype == np.float32 and y.dtype == np.int32
    assert x.min() >= 0 and x.max() <= 1 and 0 <= y.min() and y.max() <= 9
  x = out["train"][0].reshape(-1, 28, 28)
  digit = fake_mnist()()[0][0] == 255
  if name == "mnist_basic":
    assert (x == x[0]).all() and x[0, 4:8, 8:20].min() > 0.7   # upright, untouched
  if name in ("mnist_bg_rand", "mnist_bg_img"):
    assert (x[:, digit] == 1).all()                            # digit on top (max rule)
    assert x[:, ~digit].std() > 0.05                           # a background shows
  if name == "mnist_bg_rand":
    assert abs(x[:, :2, :].mean() - 0.5) < 0.05                # uniform in [0, 1]
  if name in ("mnist_rot", "mnist_bg_img_rot"):
    assert not np.allclose(x[0], x[1])                         # different angles


def test_background_patches_are_varied_photographs():
  assert len(images.PHOTOS) == 20
  p, src = images.sample_patches(np.random.default_rng(0), 500)
  assert p.shape == (500, 28, 28) and p.min() >= 0 and p.max() <= 1
  assert (p.reshape(500, -1).std(1) >= images.MIN_STD).all()
  assert len(np.unique(src)) >= 12
  q, src2 = images.sample_patches(np.random.default_rng(0), 500, exclude=src)
  assert (src2 != src).all()


def test_bg_img_version_4_discards_low_contrast_backgrounds():
  # The calibrated threshold is the only change: v4's backgrounds (pixels off the fake digit's
  # bars, where max() shows the patch) are hardly ever of low contrast, while v3's often are; the
  # digit pool and its order are the same, so the labels are too.
  assert mnist_variants.BACKGROUND_MIN_STD[4] > mnist_variants.BACKGROUND_MIN_STD[3]
  kw = dict(sizes=(300, 20, 20), mnist=fake_mnist())
  v3, v4 = (regen.regenerate("bg-img", 0, version=v, **kw) for v in (3, 4))
  np.testing.assert_array_equal(v3["train"][1], v4["train"][1])
  assert regen.newest("bg-img") == regen.newest("bg-img-rot") == 4
  digit = (fake_mnist()()[0][0] > 0).ravel()
  std = {v: s["train"][0][:, ~digit].std(1) for v, s in ((3, v3), (4, v4))}
  assert (std[3] < 0.12).mean() > 0.2 and (std[4] < 0.12).mean() < 0.02
  p, _ = images.sample_patches(np.random.default_rng(0), 300, min_std=0.15)
  assert (p.reshape(300, -1).std(1) >= 0.15).all()


# ---- determinism and the load() path --------------------------------------------------

@pytest.mark.parametrize("name,mnist", [("rect", None), ("convex", None),
                                        ("rect-img", None), ("rot", fake_mnist())])
def test_same_seed_same_bytes_other_seed_differs(name, mnist):
  kw = dict(sizes=(30, 10, 20), mnist=mnist)
  a, b = regen.regenerate(name, 7, **kw), regen.regenerate(name, 7, **kw)
  c = regen.regenerate(name, 8, **kw)
  for s in a:
    assert a[s][0].tobytes() == b[s][0].tobytes() and a[s][1].tobytes() == b[s][1].tobytes()
  assert any(a[s][0].tobytes() != c[s][0].tobytes() for s in a)


def test_load_regenerated_is_cached(tmp_path):
  cache = tmp_path / "cache"
  assert data.pick_source("rect", cache_dir=str(cache)) == "regenerated"
  first = data.load("RECT", cache_dir=str(cache))
  assert sorted(p.name for p in cache.iterdir()) == ["rectangles-regenerated-v3-seed0.npz"]
  assert first.data_version == regen.newest("rect") == 3
  again = data.load("rectangles", source="regenerated", cache_dir=str(cache))
  for s in ("train", "valid", "test"):
    np.testing.assert_array_equal(first[s][0], again[s][0])
    np.testing.assert_array_equal(first[s][1], again[s][1])
    assert again[s][0].dtype == np.float32 and again[s][1].dtype == np.int32
  assert [len(first[s][0]) for s in ("train", "valid", "test")] == [1000, 200, 50000]


# ---- data versions ----------------------------------------------------------------------

def test_every_generated_set_has_versions_newest_last():
  assert set(regen.VERSIONS) == set(regen.GENERATED)
  for name, versions in regen.VERSIONS.items():
    assert list(versions) == sorted(set(versions)) and regen.newest(name) == versions[-1]
    assert regen.resolve_version(name) == versions[-1]
  assert regen.accepted("mnist") == ()


def test_unknown_data_version_is_one_line_naming_it_and_the_accepted():
  ok = ", ".join(map(str, regen.accepted("rect")))
  for bad in (99, 0, "x", 3.5):
    with pytest.raises(data.DataError) as e:
      regen.regenerate("rect", 0, sizes=(4, 2, 2), version=bad)
    msg = str(e.value)
    assert "\n" not in msg and repr(bad) in msg and f"accepted: {ok}" in msg, msg


def test_load_takes_the_data_version_into_its_cache_key(tmp_path):
  cache = tmp_path / "cache"
  v = regen.newest("rect")
  got = data.load("rect", data_version=v, cache_dir=str(cache))
  assert got.source == "regenerated" and got.data_version == v
  assert sorted(p.name for p in cache.iterdir()) == [f"rectangles-regenerated-v{v}-seed0.npz"]
  assert data.load("rect", cache_dir=str(cache)).data_version == v  # None: the newest
  with pytest.raises(data.DataError, match="accepted: "):
    data.load("rect", data_version=99, cache_dir=str(cache))
  assert len(list(cache.iterdir())) == 1  # nothing built for a refused version


def test_data_version_with_original_data_is_refused_not_ignored(tmp_path):
  # The published files have no versions: a data_version with them is a one-line error.
  with pytest.raises(data.DataError, match="no data_version, or source='regenerated'"):
    data.load("rect", source="original", data_version=3, cache_dir=str(tmp_path))
  with pytest.raises(data.DataError, match="mnist has no regenerated source"):
    data.load("mnist", data_version=3, cache_dir=str(tmp_path))


# The sha256 of small sets, computed by each version's generator when it was made (3: commit
# 41a4db6, before version 4 existed; 4: a13af2d; 6: b77ca54): a table measured on a version
# reads the same data whatever version comes next (--data_version=N).
CONVEX_PINS = [
    (3, 0, (20, 10, 10), "6fc87f46124a8823975a96e3c0c4b134e04fd6072b515c8599870e77cb92b757"),
    (4, 0, (20, 10, 10), "5a576ba4836e85ab0833eca0beb9ca72e88b40b3e8bb0878d3173df7d301e25d"),
    (4, 1, (300, 100, 100), "de11826247ccbe1798a7af2662f563f905709aff9f78363da1b2be3752a5cfb1"),
    (6, 0, (20, 10, 10), "204263304122c9854dadddb2fa24d64a969579aa40c6e8d1e076b2e32da51ff4"),
    (6, 1, (300, 100, 100), "776b6e27cf2d868af1e17855a7b948c8e9ededb23537890b584647dc1e9673d2"),
]


@pytest.mark.parametrize("version,seed,sizes,want", CONVEX_PINS)
def test_convex_versions_are_kept_byte_for_byte(version, seed, sizes, want):
  import hashlib
  out = regen.regenerate("convex", seed, sizes=sizes, version=version)
  digest = hashlib.sha256(b"".join(out[s][0].tobytes() + out[s][1].tobytes()
                                   for s in ("train", "valid", "test"))).hexdigest()
  assert digest == want


def test_convex_versions_differ_and_each_is_deterministic():
  a = regen.regenerate("convex", 0, sizes=(60, 20, 20), version=3)
  b = regen.regenerate("convex", 0, sizes=(60, 20, 20), version=6)
  again = regen.regenerate("convex", 0, sizes=(60, 20, 20))  # None: the newest, 6
  assert regen.newest("convex") == 6
  v4 = regen.regenerate("convex", 0, sizes=(60, 20, 20), version=4)
  assert any(a[s][0].tobytes() != b[s][0].tobytes() for s in a)
  assert any(v4[s][0].tobytes() != b[s][0].tobytes() for s in a)
  for s in b:
    assert b[s][0].tobytes() == again[s][0].tobytes() and b[s][1].tobytes() == again[s][1].tobytes()


@pytest.mark.parametrize("version", [4, 6])  # version 6 draws version 4's convex class
def test_convex_matches_the_published_position_and_area_facts(version):
  # dataset-facts.md, convex class of the published files (version 3 on this sample in
  # brackets, each outside these bounds): touching no border 15.9 % (1.4), no white corner 44 %
  # (13), 10 % area quantile 29 (43), exactly 20 pixels 1.7 % (0.7), full white 0.22 %
  # (2.6), triangles 5 % (25), centroid to centre 6.4 px (8.6), minimum 20; non-convex class
  # touching no border 11.7 % (4.5).
  from sdae.data import fidelity
  out = regen.regenerate("convex", 0, sizes=(6000, 0, 0), version=version)["train"]
  m = fidelity.shape_measures(*out)
  assert 0.13 < m["1/no_border"] < 0.23 and 0.39 < m["1/no_white_corner"] < 0.50
  assert 26 <= m["1/area_q10"] <= 33 and 0.005 < m["1/exactly_20"] < 0.03
  assert m["1/full_white"] < 0.006 and m["1/triangles"] < 0.10
  assert 5.4 < m["1/centroid_offset_median"] < 7.4 and m["1/area_min"] == 20
  assert 0.08 < m["0/no_border"] < 0.16
  assert m["1/mean_image_centre"] > m["1/mean_image_edges"] > m["1/mean_image_corners"]
