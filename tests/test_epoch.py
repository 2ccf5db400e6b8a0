"""The epoch primitive: which rows and keys each step gets, and the trainers built on it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sdae import epoch as epoch_lib
from sdae import finetune as ft
from sdae import pretrain as pt


def _recording_step(carry, batch, key):
  """Counts steps in the carry and returns what it was given: its rows and its key's bits."""
  rows, labels = batch
  return carry + 1, (rows, labels, jax.random.key_data(key))


@pytest.mark.parametrize("loop", epoch_lib.LOOPS)
def test_each_step_gets_its_permuted_rows_and_its_own_key(loop):
  n, b = 23, 5  # 4 minibatches; the last 3 examples of the permutation sit this epoch out
  data = (jnp.arange(n, dtype=jnp.int32) * 10, jnp.arange(n, dtype=jnp.int32) % 7)
  shuffle, noise = jax.random.key(3), jax.random.key(4)
  batches = epoch_lib.shuffled_batches(shuffle, n, b)
  perm = np.asarray(jax.random.permutation(shuffle, n))
  np.testing.assert_array_equal(batches, perm[:20].reshape(4, 5))
  run = (jax.jit(epoch_lib.run, static_argnums=0) if loop == "scan"
         else lambda *a: epoch_lib.run(*a, loop="step"))
  count, (rows, labels, keys) = run(_recording_step, jnp.int32(0), data, batches, noise)
  assert int(count) == 4
  np.testing.assert_array_equal(rows, perm[:20].reshape(4, 5) * 10)
  np.testing.assert_array_equal(labels, perm[:20].reshape(4, 5) % 7)
  for i in range(4):  # step i draws from fold_in(noise, i): no two steps share noise
    np.testing.assert_array_equal(keys[i], jax.random.key_data(jax.random.fold_in(noise, i)))
  assert len({tuple(np.asarray(k).ravel()) for k in keys}) == 4


def test_no_noise_key_gives_steps_none():
  seen = []

  def step(carry, x, key):
    seen.append(key)
    return carry, jnp.sum(x)

  _, losses = epoch_lib.run(step, 0.0, jnp.ones((6, 2)), jnp.arange(6).reshape(3, 2))
  assert seen == [None] and losses.shape == (3,)
  with pytest.raises(ValueError, match="loop"):
    epoch_lib.run(step, 0.0, jnp.ones((6, 2)), jnp.arange(6).reshape(3, 2), loop="while")


def test_pretrain_epoch_is_the_python_loop_of_its_steps(key):
  # The compiled epoch against the same steps written out by hand: the permutation, the take
  # order and the per-step keys must all match for the parameters to agree.
  spec = pt.layer_specs(12, (6,))[0]
  tx = pt.make_optimizer("sgd")
  x = jax.random.uniform(key, (27, 12), jnp.float32)
  seed, layer, epoch, level = jnp.int32(3), jnp.int32(1), jnp.int32(2), jnp.float32(0.3)
  p0 = pt.init_layer(spec, seed, 1)
  s0 = pt.init_opt_state(tx, p0, 0.1)
  shuffle, noise = jax.random.split(pt.derive_key(seed, pt.PRETRAIN, layer, epoch))
  perm = np.asarray(jax.random.permutation(shuffle, 27))
  step = jax.jit(lambda p, s, k, xb: spec.step(p, s, tx, k, xb, level))
  p, s, want = p0, s0, []
  for i in range(27 // 5):
    p, s, loss = step(p, s, jax.random.fold_in(noise, i), x[perm[i * 5:(i + 1) * 5]])
    want.append(float(loss))
  got_p, _, got = pt.compiled_pretrain_epoch(spec, tx, 5)(
      jax.tree.map(jnp.copy, p0), jax.tree.map(jnp.copy, s0), x, seed, layer, epoch, level)
  np.testing.assert_allclose(got, want, rtol=1e-6)
  np.testing.assert_allclose(got_p["kernel"], p["kernel"], rtol=1e-6, atol=1e-7)
  # Another epoch (another permutation and other keys) ends elsewhere.
  other_p, _, _ = pt.compiled_pretrain_epoch(spec, tx, 5)(
      jax.tree.map(jnp.copy, p0), jax.tree.map(jnp.copy, s0), x, seed, layer, epoch + 1, level)
  assert np.abs(np.asarray(other_p["kernel"]) - np.asarray(p["kernel"])).max() > 1e-4


def test_finetune_epoch_is_the_python_loop_of_its_steps(key):
  module = ft.classifier((6,), 3)
  tx = pt.make_optimizer("sgd")
  x = jax.random.uniform(key, (22, 12), jnp.float32)
  y = (jnp.arange(22) % 3).astype(jnp.int32)
  p0 = ft.init_classifier(module, jnp.int32(2), 12)
  s0 = pt.init_opt_state(tx, p0, 0.1)
  perm = np.asarray(jax.random.permutation(pt.derive_key(jnp.int32(2), pt.FINETUNE, 1), 22))

  @jax.jit
  def step(p, s, xb, yb):
    loss, g = jax.value_and_grad(
        lambda q: ft.model_lib.classification_loss(module.apply({"params": q}, xb), yb))(p)
    u, s = tx.update(g, s, p)
    return jax.tree.map(jnp.add, p, u), s, loss

  p, s, want = p0, s0, []
  for i in range(22 // 4):
    idx = perm[i * 4:(i + 1) * 4]
    p, s, loss = step(p, s, x[idx], y[idx])
    want.append(float(loss))
  got_p, _, got = ft.compiled_finetune_epoch(module, tx, 4)(
      jax.tree.map(jnp.copy, p0), jax.tree.map(jnp.copy, s0), x, y, jnp.int32(2), jnp.int32(1))
  np.testing.assert_allclose(got, want, rtol=1e-6)
  for a, b in zip(jax.tree.leaves(got_p), jax.tree.leaves(p)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_step_loop_equals_scan_for_a_training_step(key):
  spec = pt.layer_specs(10, (4,))[0]
  tx = pt.make_optimizer("sgd")
  x = jax.random.uniform(key, (20, 10), jnp.float32)

  def step(carry, xb, k):
    p, s, loss = spec.step(*carry, tx, k, xb, jnp.float32(0.25))
    return (p, s), loss

  def fresh():
    p = pt.init_layer(spec, jnp.int32(0), 0)
    return p, pt.init_opt_state(tx, p, 0.1)

  batches = epoch_lib.shuffled_batches(jax.random.key(1), 20, 4)
  scan = jax.jit(lambda c: epoch_lib.run(step, c, x, batches, jax.random.key(2)))(fresh())
  steps = epoch_lib.run(step, fresh(), x, batches, jax.random.key(2), loop="step")
  np.testing.assert_allclose(steps[1], scan[1], rtol=1e-6)
  np.testing.assert_allclose(steps[0][0]["kernel"], scan[0][0]["kernel"], rtol=1e-6, atol=1e-7)
