"""The filter figures: affine decoder and weight decay of the dA objective, whitened natural
patches, the Gabor measures and a tiny end-to-end run (``sdae.reproduce.filters``)."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sdae import data
from sdae import pretrain as pt
from sdae.configs import filters as filter_configs
from sdae.data import registry
from sdae.data.regenerate import natural
from sdae.reproduce import filters
from sdae.reproduce import gabor


def _one_over_f_image(rng, n=128):
  """A random-phase image whose amplitude spectrum falls as 1/f (as natural images')."""
  fy = np.fft.fftfreq(n)[:, None]
  fx = np.fft.fftfreq(n)[None, :]
  f = np.hypot(fx, fy)
  f[0, 0] = 1.0
  spec = (1.0 / f) * np.exp(2j * np.pi * rng.random((n, n)))
  spec[0, 0] = 0.0
  return np.real(np.fft.ifft2(spec))


def _patches(n=400, size=12, seed=0):
  rng = np.random.default_rng(seed)
  images = [natural.normalise(natural.whiten(_one_over_f_image(rng, 64))) for _ in range(2)]
  return natural.sample(rng, images, n, size)[0]


# --- the objective: affine decoder, squared error, weight decay ---------------------------------


def test_tied_affine_decoder_squared_error_gradient_equals_reference():
  """The tied dA's hand-written backward pass with an affine decoder and squared error equals
  jax.grad of the loss written out by hand, and central differences, in float64."""
  with jax.enable_x64(True):
    spec = pt.LayerSpec(7, 5, "gaussian", True, "sigmoid", "squared", "linear")
    p = jax.tree.map(lambda a: a.astype(jnp.float64), pt.init_layer(spec, 0, 0))
    p = {**p, "bias": p["bias"] + 0.1, "bias_visible": p["bias_visible"] - 0.2}
    x = jax.random.normal(jax.random.key(1), (6, 7), jnp.float64)

    def reference(params):
      h = jax.nn.sigmoid(x @ params["kernel"] + params["bias"])
      z = h @ params["kernel"].T + params["bias_visible"]
      return jnp.mean(jnp.sum((z - x) ** 2, axis=1))

    ours = lambda params: pt.da_loss(params, spec, jax.random.key(0), x, jnp.float64(0.0))
    np.testing.assert_allclose(float(ours(p)), float(reference(p)), rtol=1e-12)
    g, g_ref = jax.grad(ours)(p), jax.grad(reference)(p)
    for name in p:
      np.testing.assert_allclose(np.asarray(g[name]), np.asarray(g_ref[name]), rtol=1e-10,
                                 atol=1e-12)
    eps = 1e-6
    for i in (0, 11, 34):
      d = np.zeros(35)
      d[i] = eps
      plus = {**p, "kernel": p["kernel"] + d.reshape(7, 5)}
      minus = {**p, "kernel": p["kernel"] - d.reshape(7, 5)}
      fd = (float(ours(plus)) - float(ours(minus))) / (2 * eps)
      np.testing.assert_allclose(float(np.asarray(g["kernel"]).reshape(-1)[i]), fd, rtol=1e-6)


def test_weight_decay_step_is_sgd_on_the_penalised_loss():
  """One decayed SGD step = SGD on ``loss + decay / 2 * sum(W^2)``, biases not decayed; the
  decay is traced state (one compiled step serves every value)."""
  spec = pt.LayerSpec(12, 6, "gaussian", True, "sigmoid", "squared", "linear")
  p = pt.init_layer(spec, 0, 0)
  x = jax.random.normal(jax.random.key(2), (8, 12), jnp.float32)
  key, lr, decay = jax.random.key(3), 0.05, 0.3
  tx = pt.make_optimizer("sgd", weight_decay=True)
  step = jax.jit(lambda p, s: pt.da_step(p, s, spec, tx, key, x, jnp.float32(0.0)))
  new, state, _ = step(p, pt.init_opt_state(tx, p, lr, decay))
  assert float(state.hyperparams["weight_decay"]) == pytest.approx(decay)

  def penalised(params):
    return (pt.da_loss(params, spec, key, x, jnp.float32(0.0))
            + decay / 2 * jnp.sum(params["kernel"] ** 2))

  g = jax.grad(penalised)(p)
  for name in p:
    np.testing.assert_allclose(np.asarray(new[name]), np.asarray(p[name] - lr * g[name]),
                               rtol=1e-5, atol=1e-6)
  new2, _, _ = step(p, pt.init_opt_state(tx, p, lr, 0.0))  # same program, another decay
  assert step._cache_size() == 1  # pylint: disable=protected-access
  assert not np.allclose(np.asarray(new2["kernel"]), np.asarray(new["kernel"]))
  with pytest.raises(ValueError, match="weight_decay=True"):
    pt.init_opt_state(pt.make_optimizer("sgd"), p, lr, decay)


def test_decay_zero_is_bit_identical_to_no_decay():
  spec = pt.LayerSpec(144, 10, "gaussian", True, "sigmoid", "squared", "linear")
  x = jnp.asarray(_patches(200))
  out = []
  for decayed in (False, True):
    tx = pt.make_optimizer("sgd", weight_decay=decayed)
    p = pt.init_layer(spec, 0, 0)
    s = pt.init_opt_state(tx, p, 0.01, 0.0) if decayed else pt.init_opt_state(tx, p, 0.01)
    fn = pt.compiled_pretrain_epoch(spec, tx, 20)
    for e in range(2):
      p, s, losses = fn(p, s, x, jnp.int32(0), jnp.int32(0), jnp.int32(e), jnp.float32(0.5))
    out.append((p, losses))
  for a, b in zip(jax.tree.leaves(out[0]), jax.tree.leaves(out[1])):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_affine_decoder_loss_falls_and_decay_shrinks_weights():
  """Members of one program: the plain autoencoder's squared error falls on whitened patches,
  and weight decay leaves smaller weights than none."""
  x = _patches(400)
  config = filter_configs.natural_config(n_hidden=16, epochs=6, decays=(0.0, 1.0), measure=False)
  conds = config.conditions()[:2]
  spec = filters._spec(config, 144, "gaussian", x)  # pylint: disable=protected-access
  first = filters.train_group(config.replace(epochs=1), spec, conds, x, x[:40])
  last = filters.train_group(config, spec, conds, x, x[:40])
  assert last[0]["train_loss"] < 0.8 * first[0]["train_loss"]
  assert last[0]["valid_error"] < first[0]["valid_error"]
  norm = [float(np.linalg.norm(r["kernel"])) for r in last]
  assert norm[1] < 0.8 * norm[0]


def test_salt_and_pepper_values_are_the_specs():
  spec = pt.LayerSpec(4, 2, "salt_pepper", corruption_args=(("low", -2.0), ("high", 3.0)))
  x = jnp.zeros((50, 4), jnp.float32)
  out = np.asarray(spec.corrupt(jax.random.key(0), x, jnp.float32(0.5)))
  assert set(np.unique(out)) == {-2.0, 0.0, 3.0}


# --- data ----------------------------------------------------------------------------------------


def _radial_slope(image):
  """Log-log slope of the radially averaged amplitude spectrum over 0.04-0.2 cycles/pixel."""
  n = image.shape[0]
  amp = np.abs(np.fft.fft2(image - image.mean()))
  f = np.hypot(np.fft.fftfreq(n)[:, None], np.fft.fftfreq(n)[None, :])
  bins = np.linspace(0.04, 0.2, 9)
  idx = np.digitize(f, bins)
  mid = [f[idx == k].mean() for k in range(1, len(bins))]
  mean = [amp[idx == k].mean() for k in range(1, len(bins))]
  return np.polyfit(np.log(mid), np.log(mean), 1)[0]


def test_whitening_flattens_a_one_over_f_spectrum():
  img = _one_over_f_image(np.random.default_rng(0), 256)
  assert _radial_slope(img) == pytest.approx(-1.0, abs=0.1)
  assert abs(_radial_slope(natural.whiten(img))) < 0.15
  # The filter keeps its zero phase: a real, even response.
  w = natural.whitening_filter((16, 16))
  np.testing.assert_allclose(w, w[::-1, ::-1][np.r_[-1, 0:15]][:, np.r_[-1, 0:15]])


def test_natural_patches_load_from_photographs_and_from_images_mat(tmp_path, monkeypatch):
  monkeypatch.setitem(registry.DATASETS, "natural_patches", registry.DatasetSpec(
      **{**registry.DATASETS["natural_patches"].__dict__, "n_train": 300, "n_valid": 20,
         "n_test": 20}))
  cache = tmp_path / "cache"
  s = data.load("natural", cache_dir=str(cache))
  assert s.source == "regenerated"
  x = s["train"][0]
  assert x.shape == (300, 144) and x.dtype == np.float32
  assert 0.03 < x.var() < 0.3 and abs(x.mean()) < 0.05
  np.testing.assert_array_equal(x, data.load("natural_patches", cache_dir=str(tmp_path / "c2"))
                                ["train"][0])  # fixed seed: the same patches
  assert "natural_patches-regenerated-v1-seed0.npz" in {p.name for p in cache.iterdir()}

  import scipy.io
  rng = np.random.default_rng(1)
  mat = np.stack([natural.whiten(_one_over_f_image(rng, 40)) * 5 for _ in range(3)], axis=-1)
  folder = tmp_path / "olshausen"
  folder.mkdir()
  scipy.io.savemat(folder / "IMAGES.mat", {"IMAGES": mat})
  s = data.load("natural_patches", data_dir=str(folder), cache_dir=str(cache))
  assert s.source == "original"
  x, y = s["train"]
  assert x.shape == (300, 144) and set(np.unique(y)) <= {0, 1, 2}
  assert 0.05 < x.var() < 0.2  # each image normalised to variance 0.1, whatever its scale
  # Every patch is a window of one of the (normalised) images.
  img = natural.normalise(mat[:, :, y[0]])
  windows = np.lib.stride_tricks.sliding_window_view(img, (12, 12)).reshape(-1, 144)
  assert np.min(np.abs(windows - x[0]).max(axis=1)) < 1e-6

  scipy.io.savemat(folder / "IMAGES.mat", {"IMAGES": mat[:10, :10]})
  with pytest.raises(data.DataError, match="--patch_size=12 does not fit"):
    data.load("natural_patches", data_dir=str(folder), cache_dir=str(tmp_path / "c3"))


# --- measures ------------------------------------------------------------------------------------


@pytest.mark.parametrize("theta_deg", [0, 30, 60, 90, 135])
def test_gabor_fit_recovers_orientation(theta_deg):
  p = np.array([1.0, 5.5, 6.2, 1.6, 2.2, math.radians(theta_deg), 0.2, 0.4, 0.0])
  filt = gabor.gabor(p, (12, 12)) + np.random.default_rng(0).normal(0, 0.03, (12, 12))
  m = gabor.classify(filt)
  assert m["gabor_like"] and m["oriented"] and m["local"], m
  assert m["r2"] > 0.95
  diff = abs((m["angle_deg"] - theta_deg + 90) % 180 - 90)
  assert diff < 8, m


def test_gabor_measures_reject_noise_and_blobs_and_gratings():
  rng = np.random.default_rng(0)
  noise = gabor.summarize(rng.normal(size=(20, 12, 12)))
  assert noise["gabor_like"] <= 0.05 and noise["oriented"] <= 0.05 and noise["gabor"] == 0
  blob = gabor.classify(gabor.gabor(np.array([1, 6, 6, 2, 2, 0, 0, 0, 0.0]), (12, 12)))
  assert blob["gabor_like"] and not blob["oriented"]
  grating = gabor.classify(gabor.gabor(np.array([1, 6, 6, 30, 30, 0.5, 0.25, 0, 0.0]),
                                       (12, 12)))
  assert grating["oriented"] and not grating["local"]


def test_orientation_coverage_counts_bins():
  filts = [gabor.gabor(np.array([1, 5.5, 5.5, 1.6, 2.2, math.radians(a), 0.2, 0, 0.0]), (12, 12))
           for a in (0, 0, 45, 45, 90, 90)]
  m = gabor.summarize(np.stack(filts))
  assert m["orientations_covered"] == 3 and m["gabor"] == 1.0


# --- end to end ------------------------------------------------------------------------------------


def test_tiny_figure_writes_its_files(tmp_path):
  x = _patches(300)
  config = filter_configs.natural_config(n_hidden=6, epochs=2, decays=(0.0, 1e-3))
  results = filters.run(config, x, x[:30], (12, 12))
  assert list(results) == ["ae_decay_0", "ae_decay_0.001", "gaussian_0.5", "salt_pepper_0.1",
                           "masking_0.55"]
  written = filters.write_outputs(str(tmp_path), config, results, "regenerated", 1.0)
  assert {p.rsplit("/", 1)[1] for p in written} == {"filters.npz", "filters.png", "filters.pdf",
                                                     "filters.json"}
  with np.load(tmp_path / "filters.npz") as z:
    assert sorted(z.files) == sorted(results)
    for k in z.files:
      assert z[k].shape == (6, 12, 12) and z[k].dtype == np.float32
  doc = json.loads((tmp_path / "filters.json").read_text())
  assert doc["data_version"] == 1  # natural_patches' own generator version
  c = doc["conditions"]["gaussian_0.5"]
  assert c["settings"]["level"] == 0.5 and c["settings"]["loss"] == "squared"
  assert c["shape"] == [6, 12, 12] and 0 <= c["measures"]["gabor"] <= 1
  assert doc["conditions"]["ae_decay_0.001"]["settings"]["weight_decay"] == 0.001
  assert doc["conditions"]["masking_0.55"]["settings"]["learning_rate"] == 0.03
  sp = doc["conditions"]["salt_pepper_0.1"]["settings"]["corruption_values"]
  assert sp["low"] < 0 < sp["high"]


def test_bad_settings_are_refused():
  with pytest.raises(ValueError, match="accepted: natural, mnist"):
    filter_configs.validate(filter_configs.FigureConfig(figure="fig9"))
  with pytest.raises(ValueError, match=">= 0"):
    filter_configs.validate(filter_configs.natural_config(decays=(0.0, -1e-3)))
  with pytest.raises(data.DataError, match="--patch_size=600"):
    natural.check_patch([np.zeros((300, 451))], 600)
