"""The tied-weight dA's hand-written backward pass (``sdae.tied``)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sdae import model as M
from sdae import pretrain as pt
from sdae import tied


@pytest.mark.parametrize("batch", [1, 5, 20, 40])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_tied_logits_hand_written_gradient_equals_autodiff(batch, activation):
  """``sdae.tied``'s backward pass (one stacked product for 2..32 rows, two products otherwise)
  gives autodiff's gradient of the module, in float64 to rounding, for every input."""
  with jax.enable_x64(True):
    module = M.DenoisingAutoencoder(n_in=7, n_hidden=6, activation=activation,
                                    dtype=jnp.float64)
    p = module.init(jax.random.key(3), jnp.zeros((1, 7), jnp.float64))["params"]
    p = {**p, "bias": p["bias"] + 0.1, "bias_visible": p["bias_visible"] - 0.2}
    x = jax.random.uniform(jax.random.key(batch), (batch, 7), jnp.float64)
    target = jax.random.uniform(jax.random.key(99), (batch, 7), jnp.float64)

    def reference(params, xt):
      return M.reconstruction_loss(module.apply({"params": params}, xt), target, "cross_entropy")

    def ours(params, xt):
      logits = tied.tied_logits(params["kernel"], params["bias"], params["bias_visible"], xt,
                                activation)
      return M.reconstruction_loss(logits, target, "cross_entropy")

    np.testing.assert_allclose(float(ours(p, x)), float(reference(p, x)), rtol=1e-12)
    g_ref = jax.grad(reference, argnums=(0, 1))(p, x)
    g_ours = jax.grad(ours, argnums=(0, 1))(p, x)
    for a, b in zip(jax.tree.leaves(g_ours), jax.tree.leaves(g_ref)):
      assert a.dtype == b.dtype == jnp.float64
      np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-13)


def test_tied_weight_gradient_is_one_stacked_product_for_small_minibatches():
  """At 20 rows the kernel's gradient is one product contracting 40 rows; at 40 rows (above
  ``CONCAT_MAX_BATCH``) it is autodiff's two products over 40."""
  spec = pt.layer_specs(12, (8,))[0]
  p = pt.init_layer(spec, 0, 0)

  def backward_program(batch):
    x = jnp.zeros((batch, 12), jnp.float32)
    grad = jax.grad(lambda params: pt.da_loss(params, spec, jax.random.key(0), x, 0.25))
    return str(jax.make_jaxpr(grad)(p))

  small, big = backward_program(20), backward_program(40)
  assert "f32[40,12]" in small and "concatenate" in small
  assert "concatenate" not in big and "f32[80,12]" not in big


@pytest.mark.slow
def test_vmapped_over_members_equals_each_member():
  """The sweep on accelerators vmaps the step over members: the batched custom VJP (stacked
  product included) gives each member's own gradient."""
  spec = pt.layer_specs(12, (8,))[0]
  params = jax.tree.map(lambda *a: jnp.stack(a), *[pt.init_layer(spec, s, 0) for s in range(3)])
  x = jax.random.uniform(jax.random.key(5), (20, 12))
  levels = jnp.array([0.0, 0.25, 0.5], jnp.float32)

  def grad(p, level):
    return jax.grad(pt.da_loss)(p, spec, jax.random.key(7), x, level)

  batched = jax.vmap(grad)(params, levels)
  for m in range(3):
    single = grad(jax.tree.map(lambda a: a[m], params), levels[m])
    for a, b in zip(jax.tree.leaves(batched), jax.tree.leaves(single)):
      np.testing.assert_allclose(np.asarray(a[m]), np.asarray(b), rtol=1e-5, atol=1e-6)
