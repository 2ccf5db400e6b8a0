"""Emphasis of the denoising loss (Vincent et al. 2010, sec. 4.3): the corruptions' touched masks,
the weighted loss (alpha = beta = 1 is today's loss bit for bit), its gradients, one compiled
program for members of different emphasis, each member equal to its model trained alone, and the
boundary's one-line errors."""

import json

import jax
import jax.numpy as jnp
import jax.monitoring
import numpy as np
import pytest

from sdae import config as C
from sdae import corruption
from sdae import data
from sdae import emphasis as emphasis_lib
from sdae import experiment as E
from sdae import model as M
from sdae import pretrain as pt
from sdae import sweep as S
from helpers import run_cli, toy_splits

X = jax.random.uniform(jax.random.key(0), (200, 784), jnp.float32)


# --- touched masks --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["masking", "salt_pepper", "erasure"])
@pytest.mark.parametrize("level", [0.0, 0.3, 0.75, 1.0])
def test_random_masks_come_from_corrupts_draws_and_cover_the_level(name, level):
  key = jax.random.key(11)
  plain = corruption.corrupt(name, key, X, level)
  x_tilde, touched = corruption.corrupt_touched(name, key, X, level)
  assert touched.dtype == jnp.bool_ and touched.shape == X.shape
  np.testing.assert_array_equal(np.asarray(x_tilde), np.asarray(plain))
  t = np.asarray(touched)
  assert abs(t.mean() - level) < 0.01, t.mean()
  # Outside the mask, nothing changed; inside, the value is the corruption's.
  np.testing.assert_array_equal(np.asarray(x_tilde)[~t], np.asarray(X)[~t])
  if name in ("masking", "erasure"):
    assert (np.asarray(x_tilde)[t] == 0).all()
  if name == "salt_pepper":
    assert np.isin(np.asarray(x_tilde)[t], [0.0, 1.0]).all()


def test_masks_under_jit_and_vmap_over_levels_match_corrupt():
  """Traced levels (a sweep's): the masks and x~ of each level equal ``corrupt``'s."""
  levels = jnp.asarray([0.1, 0.5], jnp.float32)
  key = jax.random.key(3)
  for name in ("masking", "salt_pepper", "erasure", "block"):
    c = corruption.get(name)
    xs, ts = jax.jit(jax.vmap(lambda l, c=c: c.touched(key, X[:8], l)))(levels)
    plain = jax.jit(jax.vmap(lambda l, c=c: c(key, X[:8], l)))(levels)
    np.testing.assert_array_equal(np.asarray(xs), np.asarray(plain))
    for i, level in enumerate([0.1, 0.5]):
      x1, t1 = c.touched(key, X[:8], jnp.float32(level))
      np.testing.assert_array_equal(np.asarray(ts[i]), np.asarray(t1))
      np.testing.assert_array_equal(np.asarray(xs[i]), np.asarray(x1))


def test_deterministic_masks_block_all_and_none():
  key = jax.random.key(0)
  x = X[:4]
  _, covered = corruption.corrupt_touched("block", key, x, 10 / 28)
  img = np.asarray(covered).reshape(4, 28, 28)
  assert img.sum(axis=(1, 2)).tolist() == [100] * 4  # the central 10x10 pixels
  assert img[:, 9:19, 9:19].all()
  # Images given as [..., side, side] keep their shape.
  _, covered2 = corruption.corrupt_touched("block", key, x.reshape(4, 28, 28), 10 / 28)
  np.testing.assert_array_equal(np.asarray(covered2), img)
  for name, value in (("gaussian", True), ("blur", True), ("none", False)):
    x_tilde, t = corruption.corrupt_touched(name, key, x, 0.5)
    np.testing.assert_array_equal(np.asarray(x_tilde),
                                  np.asarray(corruption.corrupt(name, key, x, 0.5)))
    assert t.shape == x.shape and (np.asarray(t) == value).all()
  assert {n: corruption.get(n).touches for n in corruption.names()} == {
      "block": "some", "blur": "all", "erasure": "some", "gaussian": "all", "masking": "some",
      "none": "none", "salt_pepper": "some"}


# --- the weighted loss ----------------------------------------------------------------------


def _spec(tied=True, loss="cross_entropy", n_in=24, n_hidden=10):
  decoder = "sigmoid" if loss == "cross_entropy" else "linear"
  return pt.LayerSpec(n_in, n_hidden, "masking", tied, "sigmoid", loss, decoder)


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("loss", ["cross_entropy", "squared"])
@pytest.mark.parametrize("batch, n_in, n_hidden", [(20, 24, 10), (5, 7, 5), (1, 12, 6),
                                                   (40, 64, 32)])
def test_unit_weights_are_todays_loss_bit_for_bit(tied, loss, batch, n_in, n_hidden):
  """alpha = beta = 1 against no emphasis: the loss bit for bit; the gradient bit for bit for
  cross-entropy, and for squared error to float32 rounding (XLA takes the batch mean's constant
  out of the visible bias's sum only without weights; the driver trains runs with no emphasis
  unweighted, so their numbers never move)."""
  spec = _spec(tied, loss, n_in, n_hidden)
  p = pt.init_layer(spec, 0, 0)
  x = jax.random.uniform(jax.random.key(1), (batch, n_in), jnp.float32)
  key = jax.random.key(2)
  today = jax.jit(jax.value_and_grad(lambda q: pt.da_loss(q, spec, key, x, 0.25)))
  ones = jax.jit(jax.value_and_grad(
      lambda q: pt.da_loss(q, spec, key, x, 0.25, pt.emphasis_of("none"))))
  (la, ga), (lb, gb) = today(p), ones(p)
  assert np.asarray(la).tobytes() == np.asarray(lb).tobytes()
  for a, b in zip(jax.tree.leaves(ga), jax.tree.leaves(gb)):
    if loss == "cross_entropy":
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    else:
      np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
  logits = pt.da_logits(p, spec, x)
  assert (np.asarray(M.reconstruction_loss(logits, x, loss, spec.decoder)).tobytes()
          == np.asarray(M.reconstruction_loss(logits, x, loss, spec.decoder,
                                              jnp.ones_like(x))).tobytes())


def test_unit_weights_train_todays_epoch_to_rounding():
  """A whole compiled epoch (tied, minibatch 20: the stacked-product backward pass) with
  alpha = beta = 1 against the unweighted one: the same to float32 rounding (XLA folds the
  batch mean's constant into the SGD update differently around the weights), which is why the
  driver trains runs with no emphasis without weights: their numbers never move."""
  spec = pt.layer_specs(64, (32,))[0]
  tx = pt.make_optimizer("sgd")
  x = jax.random.uniform(jax.random.key(4), (100, 64), jnp.float32)
  f = pt.compiled_pretrain_epoch(spec, tx, 20)
  outs = []
  for extra in ((), (pt.emphasis_of("none"),)):
    q = pt.init_layer(spec, jnp.int32(0), 0)
    outs.append(f(q, pt.init_opt_state(tx, q, 0.1), x, jnp.int32(0), jnp.int32(0),
                  jnp.int32(0), jnp.float32(0.3), *extra))
  for a, b in zip(jax.tree.leaves(outs[0]), jax.tree.leaves(outs[1])):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)


def test_driver_trains_runs_without_emphasis_unweighted(monkeypatch):
  """No model emphasised: the epochs get no emphasis (today's program and numbers); one
  emphasised member: every member gets its (alpha, beta)."""
  seen = []
  real = pt.compiled_pretrain_epoch

  def spy(*a, **k):
    f = real(*a, **k)
    return lambda *args: (seen.append(args[7] if len(args) > 7 else "absent"), f(*args))[1]

  monkeypatch.setattr(pt, "compiled_pretrain_epoch", spy)
  cfg = C.TrainConfig(dataset="toy", hidden=(8,), pretrain_epochs=1, finetune_epochs=1,
                      patience=1, batch_size=10)
  E.train_and_evaluate(cfg, None, splits=toy_splits())
  assert seen == [None]
  seen.clear()
  E.train_and_evaluate(cfg, None, splits=toy_splits(),
                       members=S.members_of(cfg, S.grid([0.2], 1, emphases=["none", "full"])))
  assert np.asarray(seen[0].beta).tolist() == [1.0, 0.0]


def _hand_loss(p, x, x_tilde, touched, alpha, beta):
  """The emphasised cross-entropy of a tied sigmoid dA, in float64 numpy."""
  w = np.asarray(p["kernel"], np.float64)
  h = 1 / (1 + np.exp(-(x_tilde @ w + np.asarray(p["bias"], np.float64))))
  z = 1 / (1 + np.exp(-(h @ w.T + np.asarray(p["bias_visible"], np.float64))))
  per = -(x * np.log(z) + (1 - x) * np.log(1 - z))
  weights = np.where(touched, alpha, beta)
  return (per * weights).sum(-1).mean()


@pytest.mark.parametrize("name, alpha, beta", [("full", 1.0, 0.0), ("double", 1.0, 0.5)])
def test_emphasis_on_masking_equals_a_hand_computed_loss(name, alpha, beta):
  spec = pt.LayerSpec(6, 4, "masking")
  p = pt.init_layer(spec, 0, 0)
  p = {**p, "bias": p["bias"] + 0.1, "bias_visible": p["bias_visible"] - 0.2}
  x = jax.random.uniform(jax.random.key(5), (3, 6), jnp.float32)
  key = jax.random.key(6)
  x_tilde, touched = spec.corrupt_touched(key, x, 0.5)
  t = np.asarray(touched)
  assert 0 < t.sum() < t.size  # some dropped, some kept: the weights matter
  ours = float(pt.da_loss(p, spec, key, x, jnp.float32(0.5), pt.emphasis_of(name)))
  want = _hand_loss(p, np.asarray(x, np.float64), np.asarray(x_tilde, np.float64), t, alpha,
                    beta)
  assert ours == pytest.approx(want, rel=1e-5)
  if name == "full":  # only the dropped components count
    kept_only = _hand_loss(p, np.asarray(x, np.float64), np.asarray(x_tilde, np.float64), t,
                           0.0, 1.0)
    everything = _hand_loss(p, np.asarray(x, np.float64), np.asarray(x_tilde, np.float64), t,
                            1.0, 1.0)
    assert want == pytest.approx(everything - kept_only, rel=1e-9)


@pytest.mark.parametrize("tied", [True, False])
def test_emphasised_gradient_equals_finite_differences(tied):
  """Central differences in float64 of the emphasised loss (double emphasis, masking 0.4): the
  tied dA's hand-written backward pass receives the weighted cotangent and stays right."""
  with jax.enable_x64(True):
    spec = pt.LayerSpec(7, 5, "masking", tied)
    p = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), pt.init_layer(spec, 0, 0))
    x = jax.random.uniform(jax.random.key(8), (5, 7), jnp.float64)
    key = jax.random.key(9)
    emph = pt.Emphasis(jnp.float64(1.0), jnp.float64(0.5))

    def loss(q):
      return pt.da_loss(q, spec, key, x, jnp.float32(0.4), emph)

    grads = jax.grad(loss)(p)
    eps = 1e-6
    for name in p:
      flat = np.asarray(p[name]).reshape(-1)
      g = np.asarray(grads[name]).reshape(-1)
      for i in range(0, flat.size, max(1, flat.size // 6)):  # a few entries of each leaf
        up, down = flat.copy(), flat.copy()
        up[i] += eps
        down[i] -= eps
        f_up = float(loss({**p, name: jnp.asarray(up.reshape(p[name].shape))}))
        f_down = float(loss({**p, name: jnp.asarray(down.reshape(p[name].shape))}))
        assert g[i] == pytest.approx((f_up - f_down) / (2 * eps), rel=1e-6, abs=1e-9), (name, i)


def test_tied_emphasised_gradient_equals_autodiff_reference():
  """float32, minibatch 20 (the stacked product): the custom VJP against autodiff of the
  untied module with its decoder set to the kernel's transpose."""
  spec = pt.LayerSpec(24, 10, "masking", True)
  p = pt.init_layer(spec, 0, 0)
  x = jax.random.uniform(jax.random.key(10), (20, 24), jnp.float32)
  key = jax.random.key(11)
  emph = pt.emphasis_of("full")
  module = M.DenoisingAutoencoder(24, 10, tied=False)
  x_tilde, touched = spec.corrupt_touched(key, x, 0.3)
  weights = pt.emphasis_weights(touched, emph, x.dtype)

  def reference(q):
    untied = {**q, "kernel_decoder": q["kernel"].T}
    return M.reconstruction_loss(module.apply({"params": untied}, x_tilde), x, "cross_entropy",
                                 "sigmoid", weights)

  ours = jax.grad(lambda q: pt.da_loss(q, spec, key, x, jnp.float32(0.3), emph))(p)
  ref = jax.grad(reference)(p)
  for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(ref)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


# --- members: one program, each member as alone ----------------------------------------------

_LOWERED = "/jax/core/compile/jaxpr_to_mlir_module_duration"
EMPHASES = ("none", "double", "full")


def _members_epoch(spec, tx, x, names, loop="map"):
  seeds = jnp.arange(len(names), dtype=jnp.int32)
  p = jax.vmap(lambda s: pt.init_layer(spec, s, 0))(seeds)
  s = jax.vmap(lambda q: pt.init_opt_state(tx, q, 0.1))(p)
  weights = [emphasis_lib.weights(n) for n in names]
  emph = pt.Emphasis(jnp.asarray([a for a, _ in weights], jnp.float32),
                     jnp.asarray([b for _, b in weights], jnp.float32))
  levels = jnp.full((len(names),), 0.3, jnp.float32)
  f = pt.compiled_pretrain_epoch(spec, tx, 10, True, True, loop=loop)
  return f(p, s, x, seeds, jnp.int32(0), jnp.int32(0), levels, emph)


def test_members_of_different_emphasis_compile_once_and_equal_each_model_alone():
  spec = pt.layer_specs(30, (12,))[0]
  tx = pt.make_optimizer("sgd")
  x = jax.random.uniform(jax.random.key(12), (60, 30), jnp.float32)
  lowered = {"n": 0}

  def listen(event, duration, **kwargs):
    del duration, kwargs
    lowered["n"] += event == _LOWERED

  jax.monitoring.register_event_duration_secs_listener(listen)
  _members_epoch(spec, tx, x, ("none",) * 3)  # compiles (or finds) the program
  before = lowered["n"]
  p, _, losses = _members_epoch(spec, tx, x, EMPHASES)
  assert lowered["n"] == before  # the emphases are data, not a new program
  one = pt.compiled_pretrain_epoch(spec, tx, 10)
  kernels = []
  for k, name in enumerate(EMPHASES):
    q = pt.init_layer(spec, jnp.int32(k), 0)
    alone, _, l1 = one(q, pt.init_opt_state(tx, q, 0.1), x, jnp.int32(k), jnp.int32(0),
                       jnp.int32(0), jnp.float32(0.3), pt.emphasis_of(name))
    np.testing.assert_array_equal(np.asarray(p["kernel"][k]), np.asarray(alone["kernel"]))
    np.testing.assert_array_equal(np.asarray(losses[k]), np.asarray(l1))
    kernels.append(np.asarray(alone["kernel"]))
  # Emphasis changes what is learnt: the same seed with none against full.
  q = pt.init_layer(spec, jnp.int32(0), 0)
  full0, _, _ = one(q, pt.init_opt_state(tx, q, 0.1), x, jnp.int32(0), jnp.int32(0),
                    jnp.int32(0), jnp.float32(0.3), pt.emphasis_of("full"))
  assert np.abs(np.asarray(full0["kernel"]) - kernels[0]).max() > 1e-4


def test_sweep_over_emphasis_equals_models_trained_one_by_one(tmp_path):
  """The driver: ``sweep.run`` over (level, emphasis) as members (CPU's loop: bit for bit) and
  one by one; rows record the emphasis, results.json's config records it."""
  cfg = C.TrainConfig(dataset="toy", hidden=(16,), pretrain_epochs=2, finetune_epochs=2,
                      patience=2, batch_size=10)
  points = S.grid([0.3], 1, emphases=list(EMPHASES))
  assert [p.emphasis for p in points] == list(EMPHASES)
  m = S.members_of(cfg, points)
  assert list(m.alpha) == [1.0, 1.0, 1.0] and list(m.beta) == [1.0, 0.5, 0.0]
  splits = data.Splits(toy_splits(), "regenerated")
  together = S.run(cfg, points, str(tmp_path / "together"), splits=splits,
                   data_source="regenerated", write_images=False)
  alone = S.run(cfg, points, str(tmp_path / "alone"), splits=splits, data_source="regenerated",
                one_by_one=True, write_images=False)
  for a, b, name in zip(together["rows"], alone["rows"], EMPHASES):
    assert a["emphasis"] == b["emphasis"] == name
    for key in ("valid_error_pct", "test_error_pct", "valid_xent"):
      if name == "none":  # alone: the unweighted program, equal to rounding (above)
        assert a[key] == pytest.approx(b[key], abs=1.01 if key != "valid_xent" else 1e-3)
      else:
        assert a[key] == b[key], (name, key)
  with open(tmp_path / "together" / "members" / "config.json") as f:
    assert json.load(f)["members"]["beta"] == [1.0, 0.5, 0.0]
  S.write_outputs(str(tmp_path / "together"), cfg, points, together)
  with open(tmp_path / "together" / "sweep_run.json") as f:
    assert sorted(json.load(f)["summary_by_emphasis"]) == sorted(EMPHASES)
  with open(tmp_path / "together" / "sweep.json") as f:
    assert [r["emphasis"] for r in json.load(f)] == list(EMPHASES)
  assert (tmp_path / "together" / "sweep.png").exists()
  fig = S.plot_figure(together["rows"], dataset="toy")
  assert len(fig.axes[0].get_legend().get_texts()) == 6  # validation and test per emphasis
  with open(tmp_path / "alone" / "one_by_one" / "002_level=0.3_seed=0_plr=0.05_flr=0.1"
            "_emphasis=full" / "results.json") as f:
    assert json.load(f)["config"]["emphasis"] == "full"


# --- the boundary -----------------------------------------------------------------------------


@pytest.mark.parametrize("changes, match", [
    (dict(emphasis="half"), "--emphasis='half' is invalid"),
    (dict(emphasis="full", corruption="gaussian", level=0.1), "changes every component"),
    (dict(emphasis="double", corruption="blur", level=1.0, hidden=(16,)),
     "changes every component"),
    (dict(emphasis="full", corruption="none"), "changes no component"),
    (dict(emphasis="double", pretraining="rbm"), "--pretraining=rbm"),
    (dict(emphasis="full", pretraining="none"), "--pretraining=none"),
])
def test_config_refuses_emphasis_where_it_means_nothing(changes, match):
  with pytest.raises(C.ConfigError, match=match) as e:
    C.validate(C.TrainConfig(dataset="rect").replace(**changes))
  assert "\n" not in str(e.value)


def test_config_accepts_emphasis_with_corruptions_that_touch_some_inputs():
  for name in ("masking", "salt_pepper", "erasure", "block"):
    for emph in EMPHASES:
      C.validate(C.TrainConfig(dataset="rect", corruption=name, emphasis=emph, level=0.3,
                               hidden=(16,)))
  C.validate(C.TrainConfig(dataset="rect", corruption="gaussian", level=0.1, emphasis="none"))


def test_members_refuse_negative_or_misshapen_weights():
  with pytest.raises(C.ConfigError, match="beta=-0.5"):
    E.Members([0, 1], [[0.1], [0.1]], [0.1, 0.1], [0.1, 0.1], beta=[1.0, -0.5])
  with pytest.raises(C.ConfigError, match="alpha has 1 values for 2 members"):
    E.Members([0, 1], [[0.1], [0.1]], [0.1, 0.1], [0.1, 0.1], alpha=[1.0])
  with pytest.raises(C.ConfigError, match="alpha=nan"):
    E.Members([0], [[0.1]], [0.1], [0.1], alpha=[float("nan")])


def test_sweep_points_refuse_emphasis_with_gaussian():
  cfg = C.TrainConfig(dataset="rect", corruption="gaussian", level=0.1)
  with pytest.raises(C.ConfigError, match="--emphasis=full with --corruption=gaussian"):
    S.validate_points(cfg, S.grid([0.1], 1, emphases=["none", "full"]))
  with pytest.raises(C.ConfigError, match="twice"):
    S.validate_points(C.TrainConfig(dataset="rect"), [S.Point(0.1, emphasis="none"),
                                                       S.Point(0.1)])


@pytest.mark.parametrize("module, argv, match", [
    ("train", ["--emphasis=half"], "--emphasis='half' is invalid"),
    ("train", ["--emphasis=full", "--corruption=gaussian", "--level=0.1"],
     "--emphasis=full with --corruption=gaussian"),
    ("train", ["--emphasis=double", "--pretraining=rbm"], "--emphasis=double with --pretraining=rbm"),
    ("sweep", ["--levels=0.1", "--emphases=none,half"], "unknown emphasis 'half'"),
    ("sweep", ["--levels=0.1", "--emphases=none,none"], "repeats an emphasis"),
    ("sweep", ["--levels=0.1", "--emphases=full", "--emphasis=full"], "--emphasis and --emphases"),
    ("sweep", ["--levels=0.1", "--emphases=none,full", "--corruption=blur"],
     "--emphasis=full with --corruption=blur"),
    ("sweep", ["--levels=0.1", "--emphasis=full", "--corruption=none"],
     "--emphasis=full with --corruption=none"),
])
def test_entry_points_bad_emphasis_is_one_line(module, argv, match, tmp_path, capsys):
  import importlib
  entry = importlib.import_module(f"experiments.{module}")
  workdir = tmp_path / "work"
  status = run_cli(entry, ["--dataset=rect", f"--workdir={workdir}", "--hidden=16,16"] + argv)
  err = capsys.readouterr().err.strip().splitlines()
  assert status == 2
  assert len(err) == 1 and err[0].startswith("error: ") and match in err[0], err
  assert not workdir.exists()
