"""Members and minibatches over devices: a sharded sweep equals the unsharded one.

In-process, on the four CPU devices tests/conftest.py gives every test process.
"""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sdae import config as C
from sdae import experiment as E
from sdae import pretrain as pt
from sdae import sharding
from sdae import sweep as sweep_lib
from helpers import run_cli, toy_splits

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = [pytest.mark.multi_device,
              pytest.mark.skipif(len(jax.devices()) < 4, reason="needs 4 devices (conftest)")]

M, B = 8, 5
SPEC = pt.layer_specs(12, (6,))[0]
TX = pt.make_optimizer("sgd")
SEEDS = jnp.arange(M, dtype=jnp.int32)
LEVELS = jnp.linspace(0.0, 0.7, M, dtype=jnp.float32)
X = jax.random.uniform(jax.random.key(0), (40, 12), jnp.float32)


def _train_members(mesh, loop="map", epochs=2):
  p = jax.jit(jax.vmap(lambda s: pt.init_layer(SPEC, s, 0)))(SEEDS)
  s = jax.jit(jax.vmap(lambda q: pt.init_opt_state(TX, q, 0.1)))(p)
  sd, lv, xx = SEEDS, LEVELS, X
  if mesh is not None:
    p, s, sd, lv = sharding.place_members((p, s, sd, lv), mesh)
    xx = sharding.replicate(X, mesh)
  f = pt.compiled_pretrain_epoch(SPEC, TX, B, True, True, loop=loop, mesh=mesh)
  for e in range(epochs):
    p, s, losses = f(p, s, xx, sd, jnp.int32(0), jnp.int32(e), lv)
  return p, losses


@pytest.fixture(scope="module")
def sharded_sweep():
  mesh = sharding.member_mesh(M)
  return mesh, _train_members(None), _train_members(mesh)


def test_sweep_is_split_one_member_pair_per_device(sharded_sweep):
  mesh, _, (p, _) = sharded_sweep
  assert mesh.size == 4
  assert len(p["kernel"].sharding.device_set) == 4
  assert p["kernel"].addressable_shards[0].data.shape == (2, 12, 6)


def test_sharded_sweep_equals_unsharded(sharded_sweep):
  # map: each device runs exactly the per-member program of the unsharded sweep.
  _, (p0, l0), (p1, l1) = sharded_sweep
  np.testing.assert_array_equal(np.asarray(p1["kernel"]), np.asarray(p0["kernel"]))
  np.testing.assert_array_equal(np.asarray(l1), np.asarray(l0))
  assert np.abs(np.asarray(p0["kernel"])[0] - np.asarray(p0["kernel"])[7]).max() > 1e-3


def test_member_of_sweep_equals_model_trained_alone(sharded_sweep):
  _, _, (p_map, _) = sharded_sweep
  k = 5
  q = pt.init_layer(SPEC, jnp.int32(k), 0)
  s = pt.init_opt_state(TX, q, 0.1)
  f1 = pt.compiled_pretrain_epoch(SPEC, TX, B)
  for e in range(2):
    q, s, _ = f1(q, s, X, jnp.int32(k), jnp.int32(0), jnp.int32(e), LEVELS[k])
  np.testing.assert_array_equal(np.asarray(q["kernel"]), np.asarray(p_map["kernel"])[k])


def test_data_parallel_step_matches_single_device():
  # One model, each minibatch of 8 split over the 4 devices: the gradient's sum runs in another
  # order, so equal to float32 rounding, not to the bit.
  q0 = pt.init_layer(SPEC, jnp.int32(0), 0)
  dmesh = sharding.data_mesh(8)
  assert dmesh.size == 4
  args = (jnp.int32(0), jnp.int32(0), jnp.int32(0), jnp.float32(0.3))
  qa, _, la = pt.compiled_pretrain_epoch(SPEC, TX, 8)(  # donates its copy of q0
      jax.tree.map(jnp.copy, q0), pt.init_opt_state(TX, q0, 0.1), X, *args)
  qr = sharding.replicate(pt.init_layer(SPEC, jnp.int32(0), 0), dmesh)
  qb, _, lb = pt.compiled_pretrain_epoch(SPEC, TX, 8, mesh=dmesh)(
      qr, pt.init_opt_state(TX, qr, 0.1), sharding.replicate(X, dmesh), *args)
  assert len(qb["kernel"].sharding.device_set) == 4
  np.testing.assert_allclose(np.asarray(qb["kernel"]), np.asarray(qa["kernel"]), atol=1e-5)
  np.testing.assert_allclose(np.asarray(lb), np.asarray(la), rtol=1e-5)
  assert np.abs(np.asarray(qa["kernel"]) - np.asarray(q0["kernel"])).max() > 1e-3  # it trained


def test_sweeps_split_members_over_local_devices():
  # One process: the members go over the local devices (8 on 4, 3 on 3), none for one model.
  assert [None if m is None else m.size
          for m in (sweep_lib.members_mesh(n) for n in (8, 3, 1))] == [4, 3, None]


@pytest.mark.slow
def test_driver_sharded_sweep_equals_unsharded():
  splits = toy_splits(n_train=80, n_valid=40, n_test=40, d=16)
  cfg = C.TrainConfig(dataset="toy", hidden=(8,), pretrain_epochs=1, finetune_epochs=2,
                      batch_size=10, patience=4)
  members = E.Members(seeds=[0, 1, 0, 1], levels=[[l] for l in (0.0, 0.1, 0.2, 0.3)],
                      pretrain_lr=[0.05] * 4, finetune_lr=[0.1] * 4)
  a = E.train_and_evaluate(cfg, None, splits=splits, members=members)
  b = E.train_and_evaluate(cfg, None, splits=splits, members=members,
                           mesh=sharding.member_mesh(4))
  keys = ("valid_error_pct", "test_error_pct", "valid_xent", "best_epoch")
  assert [[m[k] for k in keys] for m in a["members"]] == [[m[k] for k in keys]
                                                          for m in b["members"]]


@pytest.mark.slow
def test_train_data_parallel_flag_splits_minibatches_over_devices(tmp_path, monkeypatch):
  # One model through experiments.train --data_parallel: minibatches of 8 split over the 4
  # devices, against the same flags on one device.
  from experiments import train as entry
  splits = toy_splits(n_train=80, n_valid=40, n_test=40, d=16)
  monkeypatch.setattr(E, "load_data", lambda c: (splits, "arrays"))
  meshes, real_train = [], E.train_and_evaluate

  def spy(*a, **k):
    meshes.append(None if k.get("mesh") is None else k["mesh"].size)
    return real_train(*a, **k)

  monkeypatch.setattr(E, "train_and_evaluate", spy)
  dp = {}
  for flag in ("--nodata_parallel", "--data_parallel"):
    d = tmp_path / flag
    assert run_cli(entry, ["--dataset=rect", f"--workdir={d}", "--hidden=8", "--batch_size=8",
                           "--pretrain_epochs=1", "--finetune_epochs=2", "--patience=4",
                           flag]) == 0
    r = json.loads((d / "results.json").read_text())
    losses = [float(json.loads(l)["loss"]) for l in (d / "metrics.jsonl").read_text().splitlines()]
    dp[flag] = (r["valid_error_pct"], r["test_error_pct"], losses)
  assert meshes == [None, 4]
  one, four = dp["--nodata_parallel"], dp["--data_parallel"]
  # The gradient's sum runs in another order over 4 devices: errors within one example of 40.
  assert abs(one[0] - four[0]) <= 2.5 + 1e-6 and abs(one[1] - four[1]) <= 2.5 + 1e-6, (one, four)
  assert four[1] < 30  # it learned (chance is 50%)
  # Every epoch's mean loss (1 pretraining, 2 fine-tuning) agrees to float32 summation order: a
  # gradient scaled or dropped per device would not.
  assert len(one[2]) == len(four[2]) == 3
  np.testing.assert_allclose(four[2], one[2], rtol=1e-4)


# --- one device and host logic ------------------------------------------------------------------


def test_entry_points_ask_for_one_cpu_device_per_core(monkeypatch):
  from experiments import _cli
  monkeypatch.setenv("SDAE_CPU_DEVICES", "5")  # an older version's variable: ignored now
  monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/nowhere")
  _cli.use_cpu_cores()
  n = _cli.cpu_device_count()
  assert n == len(os.sched_getaffinity(0))
  assert os.environ["XLA_FLAGS"] == (
      f"--xla_dump_to=/tmp/nowhere --xla_force_host_platform_device_count={n}")
  monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=3")  # the user's word
  _cli.use_cpu_cores()
  assert os.environ["XLA_FLAGS"] == "--xla_force_host_platform_device_count=3"
  assert _cli.cpu_device_count(5) == 5  # --cpu_devices=5
  monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/nowhere")
  _cli.use_cpu_cores(3)
  assert os.environ["XLA_FLAGS"].endswith("--xla_force_host_platform_device_count=3")
  for bad in (0, -1):
    with pytest.raises(_cli.UsageError, match=f"--cpu_devices={bad} is invalid"):
      _cli.cpu_device_count(bad)


def test_member_mesh_takes_devices_round_robin_over_processes():
  class Dev:
    def __init__(self, process, i):
      self.process_index, self.name = process, f"p{process}d{i}"
  devs = [Dev(p, i) for p in range(2) for i in range(3)]  # jax lists process 0's devices first
  order = [d.name for d in sharding.interleave_processes(devs)]
  assert order == ["p0d0", "p1d0", "p0d1", "p1d1", "p0d2", "p1d2"]
  uneven = [Dev(0, 0), Dev(0, 1), Dev(1, 0)]
  assert [d.name for d in sharding.interleave_processes(uneven)] == ["p0d0", "p1d0", "p0d1"]
  assert sharding.interleave_processes(jax.devices()) == jax.devices()  # one process: as listed


def test_member_mesh_uses_largest_divisor():
  # (members, devices) -> devices used: 8 on 8, 4 or 3 devices: 8, 4, 2; 3 on 2: 1; 6 on 4: 3.
  for (n, k), used in {(8, 8): 8, (8, 4): 4, (8, 3): 2, (3, 2): 1, (6, 4): 3, (1, 4): 1}.items():
    assert sharding.most_dividing(n, k) == used, (n, k)
  devs = jax.devices()
  assert sharding.member_mesh(3, devs[:1]).size == 1
  assert sharding.member_mesh(len(devs), devs).size == len(devs)
  with pytest.raises(ValueError, match="n_members"):
    sharding.member_mesh(0)


LOOP_SEEDS = jnp.arange(3, dtype=jnp.int32)
LOOP_LEVELS = jnp.asarray([0.0, 0.2, 0.4], jnp.float32)


def _members_epoch(spec, tx, x, batch, loop):
  """One pretraining epoch of three dA members (seeds 0-2, levels 0, 0.2, 0.4) run by ``loop``,
  from fresh states (the compiled epoch donates them)."""
  p = jax.vmap(lambda s: pt.init_layer(spec, s, 0))(LOOP_SEEDS)
  s = jax.vmap(lambda q: pt.init_opt_state(tx, q, 0.1))(p)
  f = pt.compiled_pretrain_epoch(spec, tx, batch, True, True, loop=loop)
  return f(p, s, x, LOOP_SEEDS, jnp.int32(0), jnp.int32(0), LOOP_LEVELS)


def test_map_and_vmap_loops_agree():
  spec = pt.layer_specs(10, (4,))[0]
  tx = pt.make_optimizer("sgd")
  x = jax.random.uniform(jax.random.key(1), (20, 10), jnp.float32)
  outs = {loop: _members_epoch(spec, tx, x, 4, loop) for loop in ("map", "vmap")}
  np.testing.assert_allclose(outs["map"][0]["kernel"], outs["vmap"][0]["kernel"], atol=1e-6)
  np.testing.assert_allclose(outs["map"][2], outs["vmap"][2], rtol=1e-5)
  assert outs["map"][2].shape == (3, 5)
  with pytest.raises(ValueError, match="loop"):
    pt.compiled_pretrain_epoch(spec, tx, 4, True, True, loop="pmap")


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the CPU default's promise")
def test_default_loop_on_cpu_gives_members_bit_identical_to_models_alone():
  """What the platform default is for: on CPU a sweep's members (loop None or auto) are each
  bit for bit the model trained alone, which vmap's batched products are not (the test above
  needs a tolerance)."""
  # Shapes where vmap's batched products round differently from the model alone (on tinier
  # ones they happen to agree, and the test could not tell the loops apart).
  spec = pt.layer_specs(200, (100,))[0]
  tx = pt.make_optimizer("sgd")
  levels = LOOP_LEVELS
  x = jax.random.uniform(jax.random.key(1), (200, 200), jnp.float32)
  members = {loop: _members_epoch(spec, tx, x, 20, loop) for loop in (None, "auto")}
  one = pt.compiled_pretrain_epoch(spec, tx, 20)
  for k in range(3):
    q = pt.init_layer(spec, jnp.int32(k), 0)
    alone, _, losses = one(q, pt.init_opt_state(tx, q, 0.1), x, jnp.int32(k), jnp.int32(0),
                           jnp.int32(0), levels[k])
    for loop in (None, "auto"):
      np.testing.assert_array_equal(members[loop][0]["kernel"][k], alone["kernel"])
      np.testing.assert_array_equal(members[loop][2][k], losses)
