"""Property-based tests (hypothesis) of the corruptions and the losses.

Random shapes (a few sizes, so that each jitted function compiles a handful of times), levels
anywhere in their accepted range (ends included) and random values, including the extremes:
outputs stay in range and finite, masking never increases a pixel, salt-and-pepper only writes
extremes, the cross-entropy is finite (with a finite gradient) for targets and predictions at 0
and 1, the squared loss is non-negative.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from sdae import corruption as C
from sdae import model as M

SETTINGS = settings(max_examples=20, deadline=None, derandomize=True)

# (batch, features): features are square (4x4, 8x8) so that the image corruptions apply.
SHAPES = st.sampled_from([(1, 16), (3, 16), (2, 64)])
PIXELS = st.floats(0.0, 1.0, width=32)
# Values at the ends of [0, 1] are common in images (white, black); weight them in.
PIXEL_VALUES = st.one_of(st.just(0.0), st.just(1.0), PIXELS)
UNIT_LEVEL = st.one_of(st.just(0.0), st.just(1.0), st.floats(0.0, 1.0, width=32))
STD_LEVEL = st.one_of(st.just(0.0), st.floats(0.0, 50.0, width=32))


@st.composite
def images(draw, elements=PIXEL_VALUES):
  shape = draw(SHAPES)
  return draw(hnp.arrays(np.float32, shape, elements=elements))


@functools.cache
def _jitted(name):
  # level is a traced argument: one compilation per shape, whatever the level.
  return jax.jit(C.get(name).fn)


def corrupt(name, seed, x, level):
  out = _jitted(name)(jax.random.key(seed), jnp.asarray(x), jnp.float32(level))
  assert out.shape == x.shape and out.dtype == jnp.float32
  return np.asarray(out)


SEEDS = st.integers(0, 2**31 - 1)


@SETTINGS
@given(x=images(), level=UNIT_LEVEL, seed=SEEDS)
def test_masking_in_range_never_increases_only_zeroes(x, level, seed):
  out = corrupt("masking", seed, x, level)
  assert np.all(np.isfinite(out))
  assert np.all(out <= x)  # never increases a pixel
  assert np.all((out == x) | (out == 0))
  assert np.all((0 <= out) & (out <= 1))
  if level == 0:
    np.testing.assert_array_equal(out, x)
  if level == 1:
    assert not out.any()


@SETTINGS
@given(x=images(), level=UNIT_LEVEL, seed=SEEDS)
def test_salt_pepper_writes_only_extremes(x, level, seed):
  out = corrupt("salt_pepper", seed, x, level)
  assert np.all(np.isfinite(out))
  changed = out != x
  assert np.all((out[changed] == 0) | (out[changed] == 1))
  assert np.all((0 <= out) & (out <= 1))
  if level == 0:
    np.testing.assert_array_equal(out, x)
  if level == 1:
    assert np.all((out == 0) | (out == 1))


@SETTINGS
@given(x=images(), level=UNIT_LEVEL, seed=SEEDS)
def test_erasure_only_erases_ink(x, level, seed):
  out = corrupt("erasure", seed, x, level)
  assert np.all(out <= x)  # never adds ink: pixels go to the background 0
  assert np.all((out == x) | (out == 0))
  assert np.all((0 <= out) & (out <= 1))
  if level == 0:
    np.testing.assert_array_equal(out, x)


@SETTINGS
@given(x=images(), level=UNIT_LEVEL)
def test_block_only_blanks_a_centred_square(x, level):
  out = corrupt("block", 0, x, level)
  covered = corrupt("block", 0, np.ones_like(x), level) == 0
  np.testing.assert_array_equal(out, np.where(covered, np.float32(0), x))
  side = int(round(np.sqrt(x.shape[1])))
  square = covered.reshape(-1, side, side)
  assert (square == square[0]).all()  # the same square on every image
  if square[0].any():  # a full square, centred
    rows, cols = np.nonzero(square[0])
    lo, hi = rows.min(), rows.max()
    assert lo + hi == side - 1 and (cols.min(), cols.max()) == (lo, hi)
    assert square[0][lo:hi + 1, lo:hi + 1].all() and square[0].sum() == (hi - lo + 1) ** 2
  if level == 0:
    np.testing.assert_array_equal(out, x)


@SETTINGS
@given(x=images(), level=STD_LEVEL)
def test_blur_is_finite_and_stays_within_the_image_range(x, level):
  out = corrupt("blur", 0, x, level)
  assert np.all(np.isfinite(out))
  lo, hi = x.min(axis=1, keepdims=True), x.max(axis=1, keepdims=True)
  tol = 1e-5
  assert np.all(out >= lo - tol) and np.all(out <= hi + tol)
  if level == 0:
    np.testing.assert_allclose(out, x, atol=1e-6)


@SETTINGS
@given(x=images(), level=STD_LEVEL, seed=SEEDS)
def test_gaussian_is_finite_and_zero_level_is_identity(x, level, seed):
  out = corrupt("gaussian", seed, x, level)
  assert np.all(np.isfinite(out))
  if level == 0:
    np.testing.assert_array_equal(out, x)


@SETTINGS
@given(name=st.sampled_from(["masking", "salt_pepper", "erasure", "block", "blur", "gaussian"]),
       x=images(elements=st.floats(-1e3, 1e3, width=32)), level=UNIT_LEVEL, seed=SEEDS)
def test_no_nan_for_any_finite_input(name, x, level, seed):
  """Values outside [0, 1] (e.g. codes of a tanh layer) never produce NaN or Inf."""
  assert np.all(np.isfinite(corrupt(name, seed, x, level)))


# --- losses ----------------------------------------------------------------------------------

LARGE = [-1e30, -1e6, -100.0, -30.0, 0.0, 30.0, 100.0, 1e6, 1e30]
LOGITS = st.one_of(st.sampled_from(LARGE), st.floats(-1e4, 1e4, width=32))
TARGETS = st.one_of(st.just(0.0), st.just(1.0), PIXELS)


@st.composite
def logits_and_targets(draw, targets=TARGETS):
  shape = draw(SHAPES)
  logits = draw(hnp.arrays(np.float32, shape, elements=LOGITS))
  x = draw(hnp.arrays(np.float32, shape, elements=targets))
  return logits, x


@functools.cache
def _loss_and_grad(loss, decoder):
  return jax.jit(jax.value_and_grad(
      lambda z, x: M.reconstruction_loss(z, x, loss, decoder)))


@SETTINGS
@given(data=logits_and_targets())
def test_cross_entropy_finite_nonnegative_with_finite_gradient(data):
  logits, x = data
  value, grad = _loss_and_grad("cross_entropy", "sigmoid")(jnp.asarray(logits), jnp.asarray(x))
  assert np.isfinite(float(value)) and float(value) >= 0
  assert np.all(np.isfinite(np.asarray(grad)))


@SETTINGS
@given(data=logits_and_targets(targets=st.sampled_from([0.0, 1.0])))
def test_cross_entropy_at_saturated_predictions(data):
  """Predictions at exactly 0 and 1 (|logits| large): right ones cost ~0, wrong ones are finite."""
  logits, x = data
  saturated = np.where(np.abs(logits) >= 100, logits, np.float32(1e6))
  right = np.where(x == 1, np.abs(saturated), -np.abs(saturated)).astype(np.float32)
  wrong = -right
  f = _loss_and_grad("cross_entropy", "sigmoid")
  v_right, g_right = f(jnp.asarray(right), jnp.asarray(x))
  v_wrong, g_wrong = f(jnp.asarray(wrong), jnp.asarray(x))
  assert 0 <= float(v_right) < 1e-30 * x.shape[1] + 1e-6
  assert np.isfinite(float(v_wrong)) and float(v_wrong) > 0
  assert np.all(np.isfinite(np.asarray(g_right))) and np.all(np.isfinite(np.asarray(g_wrong)))


@SETTINGS
@given(data=logits_and_targets(targets=st.floats(-10.0, 10.0, width=32)),
       decoder=st.sampled_from(["sigmoid", "linear", "tanh"]))
def test_squared_loss_nonnegative_and_finite(data, decoder):
  logits, x = data
  logits = np.clip(logits, -1e4, 1e4)  # a linear decoder squares them: keep within float32
  value, grad = _loss_and_grad("squared", decoder)(jnp.asarray(logits), jnp.asarray(x))
  assert np.isfinite(float(value)) and float(value) >= 0
  assert np.all(np.isfinite(np.asarray(grad)))


@SETTINGS
@given(shape=SHAPES, data=st.data())
def test_classification_loss_finite_for_large_logits(shape, data):
  n, k = shape[0], 10
  logits = data.draw(hnp.arrays(np.float32, (n, k), elements=LOGITS))
  labels = data.draw(hnp.arrays(np.int32, (n,), elements=st.integers(0, k - 1)))
  value = M.classification_loss(jnp.asarray(logits), jnp.asarray(labels))
  assert np.isfinite(float(value)) and float(value) >= 0
