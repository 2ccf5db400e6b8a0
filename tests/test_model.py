"""dA layer, losses and the stacked classifier."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sdae import model as M
from sdae import pretrain as pt


def test_init_range_and_shapes():
  spec = pt.layer_specs(20, (30,))[0]
  p = pt.init_layer(spec, 0, 0)
  bound = 4 * np.sqrt(6 / 50)
  assert p["kernel"].shape == (20, 30) and p["bias"].shape == (30,)
  assert p["bias_visible"].shape == (20,)
  assert float(jnp.max(jnp.abs(p["kernel"]))) <= bound
  assert float(jnp.max(jnp.abs(p["kernel"]))) > 0.9 * bound  # really uses the range
  assert "kernel_decoder" not in p


@pytest.mark.parametrize("init, bound", [("glorot", 4 * np.sqrt(6 / 250)),
                                         ("fan_in", 1 / np.sqrt(100))])
def test_init_schemes_draw_from_their_range(init, bound):
  """Both the dA layers (from a config, as the driver builds them) and an unpretrained
  classifier's encoders draw U(-bound, bound): the bound holds and the range is used; the
  default config keeps the glorot draws bit for bit."""
  from sdae import config as C  # pylint: disable=g-import-not-at-top
  cfg = C.validate(C.TrainConfig(dataset="toy", hidden=(150, 40), init=init))
  (first, _) = pt.objectives_of(cfg, 100)
  w = np.asarray(pt.init_layer(first, 0, 0)["kernel"])
  enc = np.asarray(M.SdAClassifier((150, 40), 3, init_scheme=init).init(
      jax.random.key(0), jnp.zeros((1, 100)))["params"]["encoder_0"]["kernel"])
  for k in (w, enc):
    assert k.shape == (100, 150)
    assert 0.97 * bound < np.abs(k).max() <= bound
    assert abs(k.std() - bound / np.sqrt(3)) < 0.02 * bound  # uniform: std = bound / sqrt(3)
  if init == "glorot":
    default = pt.init_layer(pt.objectives_of(C.TrainConfig(dataset="toy", hidden=(150, 40)),
                                             100)[0], 0, 0)["kernel"]
    np.testing.assert_array_equal(np.asarray(default), w)


def test_tied_weights_really_shared():
  """The decoder uses W^T: changing the single kernel changes the decoding, and the gradient of
  the one kernel collects both the encoder's and the decoder's contribution."""
  module = M.DenoisingAutoencoder(n_in=6, n_hidden=4)
  p = module.init(jax.random.key(1), jnp.zeros((1, 6)))["params"]
  y = jnp.ones((1, 4)) * 0.5
  z = module.apply({"params": p}, y, method="decode_logits")
  np.testing.assert_allclose(np.asarray(z), np.asarray(y @ p["kernel"].T + p["bias_visible"]),
                             rtol=1e-6)
  x = jax.random.uniform(jax.random.key(2), (5, 6))
  loss = lambda w: M.reconstruction_loss(
      module.apply({"params": {**p, "kernel": w}}, x), x, "cross_entropy")

  def manual(w_enc, w_dec):
    h = jax.nn.sigmoid(x @ w_enc + p["bias"])
    return M.reconstruction_loss(h @ w_dec.T + p["bias_visible"], x, "cross_entropy")

  g = jax.grad(loss)(p["kernel"])
  ge, gd = jax.grad(manual, argnums=(0, 1))(p["kernel"], p["kernel"])
  np.testing.assert_allclose(np.asarray(g), np.asarray(ge + gd), rtol=1e-5, atol=1e-6)


def test_untied_decoder_is_its_own_kernel():
  """Untied: the decoder is y @ W' + b' with W' its own [n_hidden, n_in] parameter, not W^T;
  the encoder's kernel gets no gradient from the decoder."""
  spec = pt.layer_specs(8, (3,), tied=False)[0]
  p = pt.init_layer(spec, 0, 0)
  module = spec.module()
  assert p["kernel_decoder"].shape == (3, 8)
  assert not np.allclose(np.asarray(p["kernel_decoder"]), np.asarray(p["kernel"]).T)
  x = jax.random.uniform(jax.random.key(2), (5, 8))
  h = jax.nn.sigmoid(x @ p["kernel"] + p["bias"])
  np.testing.assert_allclose(np.asarray(module.apply({"params": p}, x)),
                             np.asarray(h @ p["kernel_decoder"] + p["bias_visible"]), rtol=1e-5,
                             atol=1e-6)

  def manual(w_enc):
    hh = jax.nn.sigmoid(x @ w_enc + p["bias"])
    return M.reconstruction_loss(hh @ p["kernel_decoder"] + p["bias_visible"], x, "cross_entropy")

  g = jax.grad(lambda q: M.reconstruction_loss(module.apply({"params": q}, x), x,
                                               "cross_entropy"))(p)
  np.testing.assert_allclose(np.asarray(g["kernel"]), np.asarray(jax.grad(manual)(p["kernel"])),
                             rtol=1e-5, atol=1e-6)


def test_cross_entropy_from_logits_matches_naive_and_stays_finite():
  rng = np.random.default_rng(0)
  logits = jnp.asarray(rng.normal(size=(7, 9)) * 3, jnp.float32)
  x = jnp.asarray(rng.random((7, 9)), jnp.float32)
  z = jax.nn.sigmoid(logits)
  naive = -(x * jnp.log(z) + (1 - x) * jnp.log(1 - z)).sum(-1).mean()
  np.testing.assert_allclose(float(M.reconstruction_loss(logits, x, "cross_entropy")),
                             float(naive), rtol=1e-5)
  # Saturated logits with targets at 0 and 1: the naive form gives inf/nan, ours stays finite.
  big = jnp.array([[100.0, -100.0, 100.0, -100.0]])
  t = jnp.array([[0.0, 1.0, 1.0, 0.0]])
  ours = float(M.reconstruction_loss(big, t, "cross_entropy"))
  assert np.isfinite(ours) and abs(ours - 200.0) < 1e-3
  zb = jax.nn.sigmoid(big)
  assert not np.isfinite(float(-(t * jnp.log(zb) + (1 - t) * jnp.log(1 - zb)).sum()))


def test_sigmoid_cross_entropy_equals_optax_value_and_gradient():
  """Our one-exponential form against optax's two ``log_sigmoid``, in float64 to rounding,
  over logits from -40 to 40 (both saturated tails) and targets in [0, 1]."""
  import optax
  with jax.enable_x64(True):
    z = jnp.linspace(-40.0, 40.0, 161, dtype=jnp.float64)[:, None] * jnp.ones((1, 5))
    t = jnp.linspace(0.0, 1.0, 5, dtype=jnp.float64)[None, :] * jnp.ones((161, 1))
    ours = lambda z: M.sigmoid_cross_entropy(z, t).sum()
    ref = lambda z: optax.sigmoid_binary_cross_entropy(z, t).sum()
    np.testing.assert_allclose(np.asarray(M.sigmoid_cross_entropy(z, t)),
                               np.asarray(optax.sigmoid_binary_cross_entropy(z, t)),
                               rtol=1e-12, atol=1e-14)
    g = jax.grad(ours)(z)
    np.testing.assert_allclose(np.asarray(g), np.asarray(jax.grad(ref)(z)), rtol=1e-10,
                               atol=1e-15)
    np.testing.assert_allclose(np.asarray(g), np.asarray(jax.nn.sigmoid(z) - t), rtol=1e-10,
                               atol=1e-15)
  assert M.sigmoid_cross_entropy(jnp.float32(2.0), jnp.float32(1.0)).dtype == jnp.float32


def test_squared_loss_uses_decoder_activation():
  logits = jnp.array([[0.0, 2.0]])
  x = jnp.array([[0.5, 1.0]])
  assert float(M.reconstruction_loss(logits, x, "squared", "linear")) == pytest.approx(1.25)
  s = float(jax.nn.sigmoid(2.0))
  assert float(M.reconstruction_loss(logits, x, "squared", "sigmoid")) == pytest.approx(
      (1 - s) ** 2, rel=1e-5)


def test_dA_gradient_against_finite_differences():
  """Gradient of the (deterministic, level 0) dA loss against central differences in float64."""
  with jax.enable_x64(True):
    module = M.DenoisingAutoencoder(n_in=5, n_hidden=3, dtype=jnp.float64)
    p = module.init(jax.random.key(3), jnp.zeros((1, 5), jnp.float64))["params"]
    x = jax.random.uniform(jax.random.key(4), (4, 5), jnp.float64)

    def loss(params):
      return M.reconstruction_loss(module.apply({"params": params}, x), x, "cross_entropy")

    g = jax.grad(loss)(p)
    eps = 1e-6
    for name in ("kernel", "bias", "bias_visible"):
      flat = np.asarray(p[name]).reshape(-1)
      for i in range(0, flat.size, max(1, flat.size // 5)):
        d = np.zeros_like(flat)
        d[i] = eps
        plus = {**p, name: jnp.asarray((flat + d).reshape(p[name].shape))}
        minus = {**p, name: jnp.asarray((flat - d).reshape(p[name].shape))}
        fd = (float(loss(plus)) - float(loss(minus))) / (2 * eps)
        np.testing.assert_allclose(float(np.asarray(g[name]).reshape(-1)[i]), fd, rtol=1e-5,
                                   atol=1e-8)


def test_classifier_head_zero_and_stack_params():
  module = M.SdAClassifier((6, 4), 3)
  p = module.init(jax.random.key(0), jnp.zeros((1, 5)))["params"]
  assert float(jnp.abs(p["head"]["kernel"]).max()) == 0.0
  specs = pt.layer_specs(5, (6, 4))
  layers = [pt.init_layer(s, 0, k) for k, s in enumerate(specs)]
  stacked = M.stack_params(layers, p["head"])
  assert jax.tree.structure(stacked) == jax.tree.structure(p)
  x = jax.random.uniform(jax.random.key(3), (2, 5))
  head = {"kernel": jax.random.normal(jax.random.key(4), (4, 3)), "bias": jnp.arange(3.0)}
  out = module.apply({"params": M.stack_params(layers, head)}, x)
  # The pretrained encoders in order (their kernels and biases, sigmoid), then the head.
  h = x
  for layer in layers:
    h = jax.nn.sigmoid(h @ layer["kernel"] + layer["bias"])
  np.testing.assert_allclose(np.asarray(out), np.asarray(h @ head["kernel"] + head["bias"]),
                             rtol=1e-5, atol=1e-6)


def test_classifier_bfloat16_rounds_only_the_products_operands():
  """compute_dtype=bfloat16: bf16 operands, float32 accumulation, bias and activations."""
  module16 = M.SdAClassifier((64, 32), 10, compute_dtype=jnp.bfloat16)
  module32 = M.SdAClassifier((64, 32), 10)
  x = jax.random.uniform(jax.random.key(0), (8, 50))
  p = module32.init(jax.random.key(1), x)["params"]
  p = jax.tree.map(lambda a: a + 0.1 * jax.random.normal(jax.random.key(2), a.shape), p)
  assert jax.tree.structure(module16.init(jax.random.key(1), x)["params"]) == \
      jax.tree.structure(p)
  jaxpr = jax.make_jaxpr(lambda q: module16.apply({"params": q}, x))(p).jaxpr
  dots = [e for e in jaxpr.eqns if e.primitive.name == "dot_general"]
  assert len(dots) == 3
  for e in dots:
    assert [v.aval.dtype for v in e.invars] == [jnp.bfloat16] * 2
    assert e.outvars[0].aval.dtype == jnp.float32
  # Nothing else computes in bfloat16 (only the casts into the products produce it).
  produced16 = {e.primitive.name for e in jaxpr.eqns
                if any(v.aval.dtype == jnp.bfloat16 for v in e.outvars)}
  assert produced16 == {"convert_element_type"}, produced16
  out16 = module16.apply({"params": p}, x)
  out32 = module32.apply({"params": p}, x)
  assert out16.dtype == jnp.float32
  err = float(jnp.abs(out16 - out32).max())
  assert 0 < err < 0.05 * float(jnp.abs(out32).max()), err  # bf16 keeps 8 bits of mantissa


def test_loss_auto_rule():
  specs = pt.layer_specs(10, (5, 5), activation="tanh")
  assert (specs[0].loss, specs[0].decoder) == ("cross_entropy", "sigmoid")
  assert (specs[1].loss, specs[1].decoder) == ("squared", "linear")
