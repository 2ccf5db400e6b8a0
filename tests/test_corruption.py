"""Statistics of every corruption, vmap over levels, boundary validation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sdae import corruption as C


def _images(key, n=64, side=28):
  """Random [n, side*side] images in [0, 1] with a black border of 6 pixels (digit-like)."""
  img = jax.random.uniform(key, (n, side, side))
  border = jnp.zeros((side, side)).at[6:-6, 6:-6].set(1.0)
  return (img * border).reshape(n, side * side)


def test_masking_fraction_and_never_increases(key):
  x = jnp.full((200, 784), 0.7)
  for level in (0.0, 0.1, 0.25, 0.5, 0.9):
    y = C.masking(key, x, level)
    frac = float(jnp.mean(y == 0))
    assert abs(frac - level) < 0.01, (level, frac)
    assert bool(jnp.all(y <= x))
    assert bool(jnp.all((y == 0) | (y == x)))


def test_gaussian_std_and_heteroscedastic(key):
  x = jnp.zeros((400, 784))
  y = C.gaussian(key, x, 0.3)
  assert abs(float(jnp.std(y)) - 0.3) < 0.005
  assert abs(float(jnp.mean(y))) < 0.005
  sigma = jnp.linspace(0.0, 1.0, 784)
  y = C.gaussian(key, x, sigma)
  per_feature = np.asarray(jnp.std(y, axis=0))
  np.testing.assert_allclose(per_feature[::50], np.asarray(sigma)[::50], atol=0.12)
  assert float(jnp.max(jnp.abs(y[:, 0]))) == 0.0  # zero std: untouched


def test_salt_pepper_only_extremes(key):
  x = jnp.full((200, 784), 0.5)
  y = C.salt_pepper(key, x, 0.3)
  changed = y != x
  assert abs(float(changed.mean()) - 0.3) < 0.01
  vals = np.unique(np.asarray(y[changed]))
  assert set(vals.tolist()) <= {0.0, 1.0}
  assert abs(float((y == 1.0).mean()) - 0.15) < 0.01


def test_erasure_sets_the_background(key):
  x = jnp.ones((200, 784))  # all ink
  y = C.erasure(key, x, 0.9)
  assert abs(float(jnp.mean(y == 0.0)) - 0.9) < 0.01  # a tenth of the stroke is left
  assert set(np.unique(np.asarray(y)).tolist()) <= {0.0, 1.0}
  # Never adds ink: a blank image stays blank, and a grey image only loses pixels.
  assert float(jnp.abs(C.erasure(key, jnp.zeros((4, 784)), 0.9)).max()) == 0.0
  g = C.erasure(key, jnp.full((4, 784), 0.3), 0.5)
  assert set(np.unique(np.asarray(g)).tolist()) == {0.0, float(np.float32(0.3))}
  # Other conventions (dark ink on white paper) pass the background value.
  w = C.erasure(key, jnp.zeros((200, 784)), 0.9, fill=1.0)
  assert abs(float(jnp.mean(w == 1.0)) - 0.9) < 0.01


def test_blur_preserves_mean_and_smooths(key):
  x = _images(key)
  for sigma in (0.5, 1.0, 2.0):
    y = C.blur(key, x, sigma)
    np.testing.assert_allclose(np.asarray(y.mean(axis=1)), np.asarray(x.mean(axis=1)), rtol=0.02)
    assert float(jnp.var(y)) < float(jnp.var(x))
  np.testing.assert_allclose(np.asarray(C.blur(key, x, 0.0)), np.asarray(x), atol=1e-6)
  const = jnp.full((2, 784), 0.4)
  np.testing.assert_allclose(np.asarray(C.blur(key, const, 4.0)), 0.4, atol=1e-5)


def test_block_zeroes_the_centre_square(key):
  x = jnp.ones((3, 784))
  y = C.block(key, x, 10 / 28).reshape(3, 28, 28)
  assert int((y[0] == 0).sum()) == 100
  assert float(y[0, 9:19, 9:19].max()) == 0.0  # the central 10x10 is background
  assert float(jnp.delete(y[0].reshape(-1), (9 + np.arange(10)[:, None]) * 28
                          + 9 + np.arange(10)).min()) == 1.0  # the rest is untouched
  assert int(C.block(key, x, 0.0).sum()) == 3 * 784
  assert int(C.block(key, x, 1.0)[0].sum()) == 0
  # Other conventions pass the background value.
  assert int(C.block(key, jnp.zeros((1, 784)), 10 / 28, fill=1.0).sum()) == 100
  # Image-shaped input [n, side, side] works too.
  assert C.block(key, jnp.zeros((2, 28, 28)), 0.5).shape == (2, 28, 28)


@pytest.mark.parametrize("name", ["masking", "gaussian", "salt_pepper", "erasure", "blur", "block"])
def test_vmap_over_levels_equals_per_level(name, key):
  x = _images(key, n=8)
  levels = jnp.array([0.0, 0.1, 0.25, 0.4])
  fn = C.get(name)
  batched = jax.jit(jax.vmap(lambda l: fn(key, x, l)))(levels)
  for i, l in enumerate(levels):
    np.testing.assert_allclose(np.asarray(batched[i]), np.asarray(fn(key, x, l)), atol=1e-6)


@pytest.mark.parametrize("name", ["masking", "gaussian", "salt_pepper", "erasure", "blur", "block"])
def test_shape_dtype_preserved(name, key):
  x = _images(key, n=4)
  y = C.get(name)(key, x, jnp.float32(0.3))
  assert y.shape == x.shape and y.dtype == x.dtype


def test_validate_rejects_bad_names_and_levels():
  with pytest.raises(ValueError, match="unknown corruption 'masked'.*masking"):
    C.validate("masked", 0.1)
  with pytest.raises(ValueError, match="1.5 out of range for 'masking'"):
    C.validate("masking", 1.5)
  with pytest.raises(ValueError, match="out of range"):
    C.validate("gaussian", [0.1, -0.2])
  with pytest.raises(ValueError, match="not finite"):
    C.validate("blur", float("nan"))
  assert C.validate("gaussian", 3.0).name == "gaussian"
  assert C.validate("masking", [0, 0.1, 1]).name == "masking"


@pytest.mark.parametrize("name", ["masking", "gaussian", "salt_pepper", "erasure"])
def test_vmap_over_keys_equals_per_key(name):
  """A sweep's members draw their noise under ``jax.vmap`` over keys: each must get exactly the
  draws it gets alone (XLA's rng_bit_generator, for one, draws every member from the first key)."""
  keys = jax.random.split(jax.random.key(3), 4)
  x = jnp.full((6, 50), 0.5)
  fn = C.get(name)
  batched = jax.jit(jax.vmap(lambda k: fn(k, x, 0.3)))(keys)
  for i in range(4):  # the same draws; Gaussian values to float rounding (erf_inv, vectorised)
    np.testing.assert_allclose(np.asarray(batched[i]), np.asarray(fn(keys[i], x, 0.3)),
                               rtol=0, atol=1e-6 if name == "gaussian" else 0)
  assert not np.array_equal(np.asarray(batched[0]), np.asarray(batched[1]))


def test_bernoulli_extremes_statistics_and_determinism():
  key = jax.random.key(11)
  assert not bool(C.bernoulli(key, 0.0, (333, 7)).any())
  assert bool(C.bernoulli(key, 1.0, (333, 7)).all())
  n = 400_000  # P(True) = round(p 2^24) / 2^24; 5 standard deviations of the mean
  for i, p in enumerate((0.1, 0.25, 0.5, 0.9)):
    frac = float(C.bernoulli(jax.random.fold_in(key, i), p, (n,)).mean())
    assert abs(frac - p) < 5 * (p * (1 - p) / n) ** 0.5, (p, frac)
  a = np.asarray(C.bernoulli(key, 0.5, (1001,)))  # an odd count too
  np.testing.assert_array_equal(a, np.asarray(C.bernoulli(key, 0.5, (1001,))))
  # Neighbouring words, and the two words of one hash (positions i and i + n/2), independent.
  b = np.asarray(C.bernoulli(key, 0.5, (n,))).astype(np.float64)
  assert abs(np.corrcoef(b[:-1], b[1:])[0, 1]) < 0.01
  assert abs(np.corrcoef(b[:n // 2], b[n // 2:])[0, 1]) < 0.01


@pytest.mark.parametrize("shape", [(1,), (2,), (11,), (3, 7), (128, 784)])
def test_counter_words_equal_jax_threefry(shape):
  """The fused Threefry words (fast on CPU) are JAX's own bit for bit, jitted or not, so the masks
  did not change when they replaced ``jax.extend.random.threefry_2x32`` over ``iota``."""
  from jax.extend.random import threefry_2x32 as reference
  n = int(np.prod(shape))
  for seed in (0, 7, 2**31 - 1):
    key = jax.random.key_data(jax.random.key(seed)).reshape(-1).astype(jnp.uint32)
    expected = np.asarray(reference(key, jnp.arange(n + n % 2, dtype=jnp.uint32))[:n])
    expected = expected.reshape(shape)
    np.testing.assert_array_equal(np.asarray(C.counter_words(key, shape)), expected)
    np.testing.assert_array_equal(
        np.asarray(jax.jit(C.counter_words, static_argnums=1)(key, shape)), expected)


def test_threefry_known_answers():
  """Random123's known-answer vectors for threefry2x32_20 (key and counter all 0s, all 1s)."""
  zero, ones = jnp.uint32(0), jnp.uint32(0xFFFFFFFF)
  np.testing.assert_array_equal(np.asarray(C.threefry_rounds(zero, zero, zero, zero)),
                                np.array([0x6B200159, 0x99BA4EFE], np.uint32))
  np.testing.assert_array_equal(np.asarray(C.threefry_rounds(ones, ones, ones, ones)),
                                np.array([0x1CB996FC, 0xBB002BE7], np.uint32))
