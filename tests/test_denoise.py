"""sdae.restore: each restoration mode learns, Noise2Noise agrees with clean targets, PSNR,
models' shapes, validation at the boundary, save/load. Synthetic 28x28 images (bars), tiny
dense models: no dataset files, seconds per test."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sdae.restore.config import DenoiseConfig, validate
from sdae.restore.evaluate import eval_key, evaluate, mse, psnr, psnr_from_mse
from sdae.restore.models import ConvDenoiser, DenseDenoiser, conv_output_side
from sdae.restore.train import (downsample, fit, loss_fn, make_pair_fn, train_denoiser,
                                upsample_bilinear, upsample_nearest)


def bars(n: int, seed: int = 0, side: int = 28) -> np.ndarray:
  """[n, side*side] images: one horizontal and one vertical bar, 3 pixels wide, ink = 1."""
  rng = np.random.default_rng(seed)
  x = np.zeros((n, side, side), np.float32)
  rows = rng.integers(4, side - 7, n)
  cols = rng.integers(4, side - 7, n)
  for i in range(n):
    x[i, rows[i]:rows[i] + 3, 3:side - 3] = 1.0
    x[i, 3:side - 3, cols[i]:cols[i] + 3] = 1.0
  return x.reshape(n, side * side)


def _train_eval(config, n_train=1024, n_test=200):
  c = validate(config)
  model, result = train_denoiser(c, bars(n_train, 0))
  return evaluate(model, result.params, c, bars(n_test, 1), eval_key(0))


def test_psnr_matches_hand_computation():
  a = np.array([[0.0, 0.5], [1.0, 0.25]], np.float32)
  b = np.array([[0.1, 0.5], [0.8, 0.25]], np.float32)
  m = (0.1**2 + 0.2**2) / 4  # 0.0125
  assert float(mse(a, b)) == pytest.approx(m, rel=1e-6)
  assert float(psnr(a, b)) == pytest.approx(10 * math.log10(1 / m), rel=1e-5)
  assert float(psnr_from_mse(0.01)) == pytest.approx(20.0, rel=1e-6)
  # Values outside [0, 1] are clipped before scoring (PSNR on [0, 1] images).
  assert float(mse(np.array([1.7]), np.array([1.0]))) == 0.0


@pytest.mark.parametrize("corruption,level", [("erasure", 0.5), ("blur", 2.0),
                                              ("block", 0.357), ("gaussian", 0.4)])
def test_clean_mode_restores(corruption, level):
  cfg = DenoiseConfig(loss="squared", mode="clean", corruption=corruption, level=level,
                      model="dense", hidden=(128,), epochs=8, batch_size=32, lr=3e-3)
  r = _train_eval(cfg)
  assert r["mse_restored"] < 0.6 * r["mse_corrupted"], r
  assert r["psnr_restored_db"] > r["psnr_corrupted_db"] + 2.0
  assert r["psnr_baseline_db"] is None


def test_noise2noise_restores():
  cfg = DenoiseConfig(loss="squared", mode="noise2noise", corruption="gaussian", level=0.4,
                      model="dense", hidden=(128,), epochs=8, batch_size=32, lr=3e-3)
  r = _train_eval(cfg)
  assert r["mse_restored"] < 0.5 * r["mse_corrupted"], r


def test_superres_restores_and_beats_nearest():
  cfg = DenoiseConfig(loss="squared", mode="superres", model="dense", hidden=(128,),
                      epochs=8,
                      batch_size=32, lr=3e-3)
  r = _train_eval(cfg)
  assert r["baseline"] == "bilinear" and r["psnr_baseline_db"] is not None
  assert r["mse_restored"] < 0.6 * r["mse_corrupted"], r
  assert r["images"]["corrupted"].shape == (200, 28, 28)


def test_l1_and_cross_entropy_losses_train():
  for loss in ("l1", "cross_entropy"):
    cfg = DenoiseConfig(mode="noise2noise", corruption="gaussian", level=0.3,
                        model="dense", hidden=(64,), epochs=6, batch_size=16, lr=1e-2,
                        loss=loss)
    r = _train_eval(cfg, n_train=512, n_test=100)
    assert r["mse_restored"] < 0.75 * r["mse_corrupted"], (loss, r)


@pytest.mark.slow
def test_noise2noise_agrees_with_clean_targets_on_linear_denoiser():
  """Zero-mean noise: E[noisy target | input] = clean target, so both trainings reach the
  same minimiser; for a linear (identity-output) denoiser the restored MSEs agree closely."""
  results = {}
  for mode in ("clean", "noise2noise"):
    cfg = DenoiseConfig(loss="squared", mode=mode, corruption="gaussian", level=0.3,
                        model="dense", hidden=(32,), output="identity", epochs=15,
                        batch_size=64,
                        lr=3e-3)
    results[mode] = _train_eval(cfg, n_train=2048, n_test=300)["mse_restored"]
  assert results["noise2noise"] == pytest.approx(results["clean"], rel=0.15), results


def test_squared_loss_minimiser_is_noise2noise_invariant():
  """Exact check of the Noise2Noise argument: the best constant under squared loss against
  noisy targets is the clean mean (up to sampling error)."""
  key = jax.random.key(0)
  clean = jnp.full((20000,), 0.3)
  noisy = make_pair_fn("noise2noise", "gaussian")(key, clean, 0.5)[1]
  assert float(jnp.mean(noisy)) == pytest.approx(0.3, abs=0.01)


def test_conv_model_shapes_and_superres_input():
  """Shapes only (jax.eval_shape: nothing is compiled)."""
  x = jax.ShapeDtypeStruct((2, 28, 28), jnp.float32)
  conv = ConvDenoiser(channels=(4, 4, 4, 4, 2))
  p = jax.eval_shape(conv.init, jax.random.key(0), x)["params"]
  assert jax.eval_shape(lambda p, x: conv.apply({"params": p}, x), p, x).shape == (2, 28, 28)
  assert len(p) == 10  # 5 convolutions + 5 transposed convolutions
  assert p["Conv_4"]["kernel"].shape == (1, 1, 4, 2)  # narrowing to channels[-1]
  sr = DenoiseConfig(loss="squared", mode="superres", model="conv", hidden=(4, 4, 4, 4, 2))
  model = sr.model_config().build()
  lo = jax.ShapeDtypeStruct((2, 14, 14), jnp.float32)
  p = jax.eval_shape(model.init, jax.random.key(0), lo)["params"]
  assert jax.eval_shape(lambda p, x: model.apply({"params": p}, x), p, lo).shape == (2, 28, 28)
  assert conv_output_side(28, (5, 5, 4, 3, 4), (1, 1, 2, 2, 1)) == (1, 28)  # course
  assert conv_output_side(28, (5, 5, 4, 3, 1), (1, 1, 2, 2, 1)) == (4, 28)  # default


@pytest.mark.slow
def test_conv_model_trains():
  """A shallow stack (configurable depth: 2 + 2 layers) trains in seconds."""
  cfg = DenoiseConfig(loss="squared", mode="clean", corruption="gaussian", level=0.4,
                      model="conv",
                      hidden=(8, 8), kernels=(3, 4), strides=(1, 2), epochs=4,
                      batch_size=16, lr=1e-2)
  r = _train_eval(cfg, n_train=384, n_test=64)
  assert 0.0 <= r["images"]["restored"].min() and r["images"]["restored"].max() <= 1.0
  assert r["mse_restored"] < 0.6 * r["mse_corrupted"], r


def test_downsample_and_bilinear_baseline():
  x = jnp.arange(16, dtype=jnp.float32).reshape(1, 4, 4)
  lo = downsample(x)
  np.testing.assert_allclose(lo[0], [[2.5, 4.5], [10.5, 12.5]])
  assert upsample_bilinear(lo).shape == (1, 4, 4)
  np.testing.assert_allclose(upsample_nearest(lo)[0, :2, :2], 2.5)


def test_fit_is_deterministic_and_keys_derived():
  cfg = DenoiseConfig(loss="squared", mode="clean", corruption="erasure", level=0.5,
                      model="dense",
                      hidden=(16,), epochs=2, batch_size=32)
  x = bars(128)
  _, a = train_denoiser(cfg, x)
  _, b = train_denoiser(cfg, x)
  np.testing.assert_array_equal(a.losses, b.losses)


@pytest.mark.parametrize("kwargs,match", [
    (dict(mode="noise2noise", corruption="erasure"), "noise2noise"),
    (dict(mode="noise2noise", corruption="blur"), "accepted: gaussian"),
    (dict(corruption="erasure", level=1.5), "--level=1.5"),
    (dict(corruption="gaussian", level=-0.1), "--level"),
    (dict(corruption="nope"), "--corruption='nope'"),
    (dict(corruption=None), "--corruption is required"),
    (dict(model="rnn"), "--model='rnn'"),
    (dict(mode="deblur"), "--mode='deblur'"),
    (dict(loss="hinge"), "--loss='hinge'"),
    (dict(epochs=0), "--epochs=0"),
    (dict(batch_size=-4), "--batch_size=-4"),
    (dict(lr=0.0), "--lr=0.0"),
    (dict(model="conv", hidden=(8, 8, 8)), "conv layers"),
    (dict(model="conv", kernels=(3, 3, 3, 3, 3)), "decode 28x28"),
    (dict(loss="cross_entropy", output="identity"), "cross_entropy"),
])
def test_validate_rejects_bad_config(kwargs, match):
  base = dict(corruption="gaussian")
  with pytest.raises(ValueError, match=match) as e:
    validate(DenoiseConfig(**{**base, **kwargs}))
  assert "\n" not in str(e.value)


def test_validate_fills_defaults():
  c = validate(DenoiseConfig(corruption="block"))
  assert c.level == pytest.approx(10 / 28)
  assert validate(DenoiseConfig(corruption="erasure")).level == 0.9
  assert validate(DenoiseConfig(corruption="blur")).level == 4.0
  sr = validate(DenoiseConfig(loss="squared", mode="superres", corruption=None))
  assert sr.corruption is None and sr.model_config().in_side == 14


def test_scan_and_step_loops_agree():
  """The per-step loop (XLA:CPU conv workaround) trains exactly the scanned epochs' steps."""
  model = DenseDenoiser(hidden=(16,))
  pair = make_pair_fn("clean", "gaussian")
  loss = lambda z, t: loss_fn("squared", z, t)
  runs = [fit(model, bars(96).reshape(96, 28, 28), pair, loss, key=jax.random.key(3),
              epochs=2, batch_size=32, lr=1e-2, level=0.3, loop=loop)
          for loop in ("scan", "step")]
  np.testing.assert_allclose(runs[0].losses, runs[1].losses, rtol=1e-4)
  for a, b in zip(jax.tree.leaves(runs[0].params), jax.tree.leaves(runs[1].params)):
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)
