"""RBM layers (CD-k) and deep belief networks through the greedy driver."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sdae import config as C
from sdae import experiment as E
from sdae import model as model_lib
from sdae import pretrain as pt
from sdae import rbm
from helpers import toy_splits


def _sigmoid(z):
  return 1.0 / (1.0 + math.exp(-z))


def test_cd1_gradient_matches_a_hand_computation_on_a_3x2_rbm():
  """CD-1 on a 3-visible, 2-hidden RBM and a minibatch of two, every sum written out."""
  W = [[0.5, -0.3], [0.2, 0.8], [-0.6, 0.1]]
  b = [0.1, -0.2]
  c = [0.05, -0.1, 0.2]
  v0 = [[1.0, 0.0, 0.7], [0.2, 0.9, 0.0]]
  u = [[0.3, 0.9], [0.6, 0.1]]  # the hidden units' uniform draws
  B, nv, nh = 2, 3, 2
  h0 = [[_sigmoid(sum(v0[n][i] * W[i][j] for i in range(nv)) + b[j]) for j in range(nh)]
        for n in range(B)]
  hs = [[1.0 if u[n][j] < h0[n][j] else 0.0 for j in range(nh)] for n in range(B)]
  v1 = [[_sigmoid(sum(hs[n][j] * W[i][j] for j in range(nh)) + c[i]) for i in range(nv)]
        for n in range(B)]
  h1 = [[_sigmoid(sum(v1[n][i] * W[i][j] for i in range(nv)) + b[j]) for j in range(nh)]
        for n in range(B)]
  dW = [[-sum(v0[n][i] * h0[n][j] - v1[n][i] * h1[n][j] for n in range(B)) / B
         for j in range(nh)] for i in range(nv)]
  db = [-sum(h0[n][j] - h1[n][j] for n in range(B)) / B for j in range(nh)]
  dc = [-sum(v0[n][i] - v1[n][i] for n in range(B)) / B for i in range(nv)]
  # The monitor: cross-entropy of v0 from the reconstruction, summed over units, batch mean.
  loss = -sum(v0[n][i] * math.log(v1[n][i]) + (1 - v0[n][i]) * math.log(1 - v1[n][i])
              for n in range(B) for i in range(nv)) / B
  assert hs != [[1.0] * nh] * B and hs != [[0.0] * nh] * B  # the draws do decide something

  params = {"kernel": jnp.asarray(W, jnp.float32), "bias": jnp.asarray(b, jnp.float32),
            "bias_visible": jnp.asarray(c, jnp.float32)}
  grads, got_loss = rbm.cd_gradients(params, jnp.asarray(v0, jnp.float32),
                                     jnp.asarray([u], jnp.float32))
  np.testing.assert_allclose(grads["kernel"], dW, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(grads["bias"], db, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(grads["bias_visible"], dc, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(float(got_loss), loss, rtol=1e-5)


def _cd_k_by_hand(W, b, c, v0, u):
  """CD-k written out with Python floats: k = len(u) Gibbs steps, each sampling the hidden units
  from the previous step's hidden probabilities (u[step][n][j] < p), then visible
  probabilities, then hidden probabilities; the gradient from the last step's chain ends."""
  B, nv, nh = len(v0), len(W), len(W[0])
  hid = lambda v: [[_sigmoid(sum(v[n][i] * W[i][j] for i in range(nv)) + b[j])
                    for j in range(nh)] for n in range(B)]
  h0 = hid(v0)
  h, v, samples = h0, v0, []
  for step in u:
    hs = [[1.0 if step[n][j] < h[n][j] else 0.0 for j in range(nh)] for n in range(B)]
    samples.append(hs)
    v = [[_sigmoid(sum(hs[n][j] * W[i][j] for j in range(nh)) + c[i]) for i in range(nv)]
         for n in range(B)]
    h = hid(v)
  dW = [[-sum(v0[n][i] * h0[n][j] - v[n][i] * h[n][j] for n in range(B)) / B
         for j in range(nh)] for i in range(nv)]
  db = [-sum(h0[n][j] - h[n][j] for n in range(B)) / B for j in range(nh)]
  dc = [-sum(v0[n][i] - v[n][i] for n in range(B)) / B for i in range(nv)]
  return {"kernel": dW, "bias": db, "bias_visible": dc}, samples


def test_cd_k_runs_exactly_k_gibbs_steps_by_hand():
  """CD-2 and CD-3 on the 3x2 RBM against the chain written out by hand: each step samples from
  the previous step's hidden probabilities; CD-2's gradient equals the hand-computed CD-2, not
  CD-1's or CD-3's (the chains' samples differ at the second step)."""
  W = [[0.5, -0.3], [0.2, 0.8], [-0.6, 0.1]]
  b = [0.1, -0.2]
  c = [0.05, -0.1, 0.2]
  v0 = [[1.0, 0.0, 0.7], [0.2, 0.9, 0.0]]
  u = [[[0.3, 0.9], [0.6, 0.1]], [[0.45, 0.55], [0.35, 0.65]], [[0.7, 0.2], [0.5, 0.5]]]
  params = {"kernel": jnp.asarray(W, jnp.float32), "bias": jnp.asarray(b, jnp.float32),
            "bias_visible": jnp.asarray(c, jnp.float32)}
  by_hand = {k: _cd_k_by_hand(W, b, c, v0, u[:k]) for k in (1, 2, 3)}
  # The second and third steps' samples differ from the first's: each step is a new draw.
  assert by_hand[3][1][1] != by_hand[3][1][0] and by_hand[3][1][2] != by_hand[3][1][1]
  for k in (1, 2, 3):
    grads, _ = rbm.cd_gradients(params, jnp.asarray(v0, jnp.float32),
                                jnp.asarray(u[:k], jnp.float32))
    for name in grads:
      np.testing.assert_allclose(grads[name], by_hand[k][0][name], rtol=1e-5, atol=1e-6,
                                 err_msg=f"CD-{k} {name}")
    for other in {1, 2, 3} - {k}:  # so k steps, not fewer or more
      assert not np.allclose(grads["kernel"], by_hand[other][0]["kernel"], rtol=1e-3), (k, other)


def test_rbm_step_draws_cd_steps_uniforms_from_its_key():
  """``RBMSpec.step`` with cd_steps=k is one CD-k update on ``uniform(key, (k, B, n_hidden))``."""
  spec = rbm.RBMSpec(5, 4, cd_steps=3)
  params = rbm.init_params(jax.random.key(1), 5, 4, std=0.5)
  x = jax.random.uniform(jax.random.key(2), (6, 5))
  key = jax.random.key(3)
  tx = pt.make_optimizer("sgd")
  state = pt.init_opt_state(tx, params, 0.1)
  new, _, _ = spec.step(params, state, tx, key, x)  # no corruption level: an RBM takes none
  grads, _ = rbm.cd_gradients(params, x, jax.random.uniform(key, (3, 6, 4), jnp.float32))
  for name in params:
    np.testing.assert_allclose(new[name], params[name] - 0.1 * grads[name], rtol=1e-6,
                               atol=1e-7)


def test_rbm_reconstruction_loss_falls():
  x = jnp.asarray(toy_splits()["train"][0])
  spec = rbm.RBMSpec(36, 16)
  tx = pt.make_optimizer("sgd")
  p = pt.init_layer(spec, 0, 0)
  s = pt.init_opt_state(tx, p, 0.1)
  epoch = pt.compiled_pretrain_epoch(spec, tx, 10)
  means = []
  for e in range(8):
    p, s, losses = epoch(p, s, x, jnp.int32(0), jnp.int32(0), jnp.int32(e), jnp.float32(0.0))
    means.append(float(losses.mean()))
  assert means[-1] < 0.95 * means[0], means


TINY_DBN = C.TrainConfig(dataset="toy", hidden=(16, 8), pretrain_epochs=4, finetune_epochs=10,
                         batch_size=10, pretraining="rbm", pretrain_lr=0.1, patience=10)


def _free_energy(p, v):
  """Mean free energy ``-v c - sum softplus(v W + b)`` of the rows ``v`` under the RBM ``p``."""
  return float(jnp.mean(-(v @ p["bias_visible"])
                        - jnp.sum(jax.nn.softplus(v @ p["kernel"] + p["bias"]), -1)))


def _reconstruction_excess(p, v):
  """Mean-field reconstruction cross-entropy of ``v`` (summed over units, batch mean) above its
  floor, the entropy of ``v`` itself: 0 for a perfect reconstruction."""
  z = rbm.visible_logits(p, rbm.RBMSpec(v.shape[1], p["bias"].shape[0]).encode(p, v))
  xent = jnp.sum(model_lib.sigmoid_cross_entropy(z, v), -1)
  vc = jnp.clip(v, 1e-7, 1 - 1e-7)
  entropy = -jnp.sum(vc * jnp.log(vc) + (1 - vc) * jnp.log(1 - vc), -1)
  return float(jnp.mean(xent - entropy))


def test_dbn_pretrains_each_rbm_on_the_codes_below_then_fine_tunes(tmp_path, monkeypatch):
  """The DBN's RBMs, as the driver hands them to fine-tuning, have learned the data: each gives
  its input (the data, then the first RBM's codes) a lower free energy than the same values
  shuffled across features within each example (which destroys the toy set's two-halves
  structure), and reconstructs it far better than its random initial weights did; the
  initial weights see no difference. Then fine-tuning beats chance."""
  from sdae import run_state
  handed = {}
  real = run_state.Run.fresh_finetune

  def spy(self, done_layers):  # the driver's state has a member axis: a model is a sweep of one
    handed["layers"] = [jax.tree.map(lambda a: jnp.asarray(a)[0], p) for p in done_layers]
    return real(self, done_layers)

  monkeypatch.setattr(run_state.Run, "fresh_finetune", spy)
  splits = toy_splits()
  r = E.train_and_evaluate(TINY_DBN, str(tmp_path), splits=splits)
  layers = handed["layers"]
  assert [p["kernel"].shape for p in layers] == [(36, 16), (16, 8)]
  v = jnp.asarray(splits["train"][0])
  rng = np.random.default_rng(0)
  # Measured: free-energy gaps 4.7 (layer 1) and 0.9 (layer 2), initial ones below 0.01;
  # reconstruction excess 1.6 from 6.4 at init (layer 1), 2.4 from 3.8 (layer 2).
  for k, (p, min_gap, max_ratio) in enumerate(zip(layers, (2.0, 0.3), (0.5, 0.8))):
    p0 = pt.init_layer(rbm.RBMSpec(v.shape[1], p["kernel"].shape[1]), TINY_DBN.seed, k)
    shuffled = jnp.asarray(rng.permuted(np.asarray(v), axis=1))
    gap = _free_energy(p, shuffled) - _free_energy(p, v)
    gap0 = _free_energy(p0, shuffled) - _free_energy(p0, v)
    assert abs(gap0) < 0.05 and gap > min_gap, (k, gap, gap0)
    excess, excess0 = _reconstruction_excess(p, v), _reconstruction_excess(p0, v)
    assert excess < max_ratio * excess0, (k, excess, excess0)
    v = jax.nn.sigmoid(rbm.hidden_logits(p, v))  # the next RBM's input: mean-field codes

  assert r["test_error_pct"] < 15.0, r  # chance is 50%
  assert r["config"]["pretraining"] == "rbm"
  assert (tmp_path / "filters.png").stat().st_size > 0
  assert (tmp_path / "reconstructions.png").stat().st_size > 0


def test_pretraining_objective_changes_the_starting_point():
  """rbm, denoising and none start fine-tuning from different weights; none pretrains nothing."""
  seen = []
  for pre in ("rbm", "denoising", "none"):
    cfg = TINY_DBN.replace(pretraining=pre, finetune_epochs=1, patience=1, level=0.2)
    r = E.train_and_evaluate(cfg, None, splits=toy_splits())
    seen.append(r["valid_xent"])
  assert len(set(seen)) == 3, seen
  assert pt.layer_objectives("none", 36, (16, 8)) == []
  assert [o.name for o in pt.layer_objectives("rbm", 36, (16, 8))] == ["rbm", "rbm"]
  assert [(o.n_in, o.n_hidden) for o in pt.layer_objectives("rbm", 36, (16, 8))] == [(36, 16),
                                                                                      (16, 8)]


@pytest.mark.parametrize("bad, message", [
    (dict(pretraining="boltzmann"), "--pretraining='boltzmann'"),
    (dict(pretraining="rbm", activation="relu"), "--activation='relu' with --pretraining=rbm"),
    (dict(cd_steps=0), "--cd_steps=0"),
    (dict(init="xavier"), "--init='xavier' is unknown; accepted: glorot, fan_in"),
])
def test_bad_pretraining_settings_are_one_line(bad, message):
  with pytest.raises(C.ConfigError, match=message.replace("(", r"\(")) as e:
    C.validate(TINY_DBN.replace(**bad))
  assert "\n" not in str(e.value)


@pytest.mark.slow
def test_dbn_resumes_bit_for_bit(tmp_path, monkeypatch):
  """Killed in the second RBM's pretraining and again in fine-tuning, the DBN ends as the run
  that was never interrupted (its validation cross-entropy, a float, to the last bit)."""
  from helpers import count_epochs
  cfg = TINY_DBN.replace(checkpoint_every_secs=0.0, finetune_epochs=4, patience=4)
  ref = E.train_and_evaluate(cfg, str(tmp_path / "ref"), splits=toy_splits(), write_images=False)
  for stop_after in (6, 2):
    count_epochs(monkeypatch, stop_after)
    with pytest.raises(KeyboardInterrupt):
      E.train_and_evaluate(cfg, str(tmp_path / "cut"), splits=toy_splits(), write_images=False)
    monkeypatch.undo()
  out = E.train_and_evaluate(cfg, str(tmp_path / "cut"), splits=toy_splits(), write_images=False)
  for k in ("test_error_pct", "valid_error_pct", "finetune_best_epoch", "valid_xent"):
    assert out[k] == ref[k], k


@pytest.mark.slow
def test_dbn_members_equal_models_trained_one_by_one():
  """A DBN grid over learning rates and seeds, trained as members, equals each model alone."""
  cfg = TINY_DBN.replace(finetune_epochs=3, patience=3)
  plrs, seeds = [0.05, 0.1, 0.1], [0, 0, 1]
  members = E.Members(seeds=seeds, levels=[[0.0, 0.0]] * 3, pretrain_lr=plrs,
                      finetune_lr=[0.1] * 3)
  many = E.train_and_evaluate(cfg, None, splits=toy_splits(), members=members)
  xents = set()
  for m, lr, s in zip(many["members"], plrs, seeds):
    one = E.train_and_evaluate(cfg.replace(pretrain_lr=lr, seed=s), None, splits=toy_splits())
    # A single model's results round valid_xent to 6 decimals; the members' keep every digit.
    assert round(m["valid_xent"], 6) == one["valid_xent"]
    assert round(m["valid_error_pct"], 4) == one["valid_error_pct"]
    assert m["best_epoch"] == one["finetune_best_epoch"]
    xents.add(m["valid_xent"])
  assert len(xents) == 3  # the members did differ
