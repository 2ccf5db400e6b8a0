"""Members and minibatches over devices: a sharded sweep equals the unsharded one.

The multi-device checks run in a subprocess with 4 forced CPU devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=4`` must be set before JAX starts its
backends, and this pytest process has one device already).
"""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sdae import pretrain as pt
from sdae import sharding

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WORKER = r'''
import json, os
import jax, jax.numpy as jnp, numpy as np
jax.config.update("jax_numpy_dtype_promotion", "strict")
from sdae import config as C, experiment as E, pretrain as pt, sharding

assert len(jax.devices()) == 4, jax.devices()
out = {}
M, B = 8, 5
spec = pt.layer_specs(12, (6,))[0]
tx = pt.make_optimizer("sgd")
seeds = jnp.arange(M, dtype=jnp.int32)
levels = jnp.linspace(0.0, 0.7, M, dtype=jnp.float32)
x = jax.random.uniform(jax.random.key(0), (40, 12), jnp.float32)

def train(loop, mesh, epochs=2):
  p = jax.jit(jax.vmap(lambda s: pt.init_layer(spec, s, 0)))(seeds)
  s = jax.jit(jax.vmap(lambda q: pt.init_opt_state(tx, q, 0.1)))(p)
  sd, lv, xx = seeds, levels, x
  if mesh is not None:
    p, s, sd, lv = sharding.place_members((p, s, sd, lv), mesh)
    xx = sharding.replicate(x, mesh)
  f = pt.compiled_pretrain_epoch(spec, tx, B, True, True, loop=loop, mesh=mesh)
  for e in range(epochs):
    p, s, losses = f(p, s, xx, sd, jnp.int32(0), jnp.int32(e), lv)
  return p, losses

mesh = sharding.member_mesh(M)
out["mesh_size"] = mesh.size
from sdae import sweep as sweep_lib
out["sweep_meshes"] = [None if m is None else m.size
                       for m in (sweep_lib.members_mesh(n) for n in (8, 3, 1))]
for loop in ("map",):
  p0, l0 = train(loop, None)
  p1, l1 = train(loop, mesh)
  out[loop] = {
      "devices": len(p1["kernel"].sharding.device_set),
      "shard_shape": list(p1["kernel"].addressable_shards[0].data.shape),
      "max_diff": float(np.max(np.abs(np.asarray(p0["kernel"]) - np.asarray(p1["kernel"])))),
      "loss_diff": float(np.max(np.abs(np.asarray(l0) - np.asarray(l1)))),
  }

# One member trained alone equals its slice of the (map) sweep, bit for bit.
p_map = p1
k = 5
q = pt.init_layer(spec, jnp.int32(k), 0)
s = pt.init_opt_state(tx, q, 0.1)
f1 = pt.compiled_pretrain_epoch(spec, tx, B)
for e in range(2):
  q, s, _ = f1(q, s, x, jnp.int32(k), jnp.int32(0), jnp.int32(e), levels[k])
out["alone_vs_member"] = float(np.max(np.abs(np.asarray(q["kernel"]) -
                                             np.asarray(p_map["kernel"])[k])))

# Data parallelism for one model: the minibatch split over 4 devices.
q0 = pt.init_layer(spec, jnp.int32(0), 0)
dmesh = sharding.data_mesh(8)
fd = pt.compiled_pretrain_epoch(spec, tx, 8, mesh=dmesh)
qa, sa, la = pt.compiled_pretrain_epoch(spec, tx, 8)(
    q0, pt.init_opt_state(tx, q0, 0.1), x, jnp.int32(0), jnp.int32(0), jnp.int32(0),
    jnp.float32(0.3))
qr = sharding.replicate(pt.init_layer(spec, jnp.int32(0), 0), dmesh)
qb, sb, lb = fd(qr, pt.init_opt_state(tx, qr, 0.1), sharding.replicate(x, dmesh), jnp.int32(0),
                jnp.int32(0), jnp.int32(0), jnp.float32(0.3))
out["dp_devices"] = dmesh.size
out["dp_max_diff"] = float(np.max(np.abs(np.asarray(qa["kernel"]) - np.asarray(qb["kernel"]))))

# The driver: a sharded sweep gives the same results as the unsharded one.
rng = np.random.default_rng(0)
def make(n):
  y = rng.integers(0, 2, n).astype(np.int32)
  xx = rng.random((n, 16)).astype(np.float32) * 0.4
  xx[y == 1, :8] += 0.5
  xx[y == 0, 8:] += 0.5
  return np.clip(xx, 0, 1), y
splits = {"train": make(80), "valid": make(40), "test": make(40)}
cfg = C.TrainConfig(dataset="toy", hidden=(8,), pretrain_epochs=1, finetune_epochs=2,
                    batch_size=10, patience=4)
lv = [0.0, 0.1, 0.2, 0.3]
members = E.Members(seeds=[0, 1, 0, 1], levels=[[l] for l in lv], pretrain_lr=[0.05] * 4,
                    finetune_lr=[0.1] * 4)
a = E.train_and_evaluate(cfg, None, splits=splits, members=members)
b = E.train_and_evaluate(cfg, None, splits=splits, members=members, mesh=sharding.member_mesh(4))
out["driver_a"] = [(m["valid_error_pct"], m["test_error_pct"]) for m in a["members"]]
out["driver_b"] = [(m["valid_error_pct"], m["test_error_pct"]) for m in b["members"]]

# One model, data parallel, through experiments.train --data_parallel: minibatches of 8 split
# over the 4 devices, against the same flags on one device.
import tempfile
from experiments import train as entry
E.load_data = lambda c: (splits, "arrays")
meshes, real_train = [], E.train_and_evaluate
def spy(*a, **k):
  meshes.append(None if k.get("mesh") is None else k["mesh"].size)
  return real_train(*a, **k)
E.train_and_evaluate = spy
dp = {}
for flag in ("--nodata_parallel", "--data_parallel"):
  with tempfile.TemporaryDirectory() as d:
    entry.FLAGS.unparse_flags()
    entry.FLAGS(["prog", "--dataset=rect", f"--workdir={d}", "--hidden=8", "--batch_size=8",
                 "--pretrain_epochs=1", "--finetune_epochs=2", "--patience=4", flag])
    entry.main(["prog"])
    with open(os.path.join(d, "results.json")) as f:
      r = json.load(f)
    with open(os.path.join(d, "metrics.jsonl")) as f:
      losses = [float(json.loads(l)["loss"]) for l in f]
    dp[flag] = (r["valid_error_pct"], r["test_error_pct"], losses)
out["dp_train_meshes"] = meshes
out["dp_train"] = dp
print("RESULT " + json.dumps(out))
'''


@pytest.fixture(scope="module")
def four_devices():
  env = dict(os.environ)
  env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
  env["JAX_PLATFORMS"] = "cpu"
  proc = subprocess.run([sys.executable, "-c", WORKER], cwd=ROOT, env=env, capture_output=True,
                        text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")][-1]
  return json.loads(line[len("RESULT "):])


@pytest.mark.slow
def test_sweep_is_split_one_member_pair_per_device(four_devices):
  assert four_devices["mesh_size"] == 4
  r = four_devices["map"]
  assert r["devices"] == 4 and r["shard_shape"] == [2, 12, 6], r


@pytest.mark.slow
def test_sharded_sweep_equals_unsharded(four_devices):
  # map: each device runs exactly the per-member program of the unsharded sweep.
  assert four_devices["map"]["max_diff"] == 0.0
  assert four_devices["map"]["loss_diff"] == 0.0


@pytest.mark.slow
def test_member_of_sweep_equals_model_trained_alone(four_devices):
  assert four_devices["alone_vs_member"] == 0.0


@pytest.mark.slow
def test_data_parallel_step_matches_single_device(four_devices):
  assert four_devices["dp_devices"] == 4
  assert four_devices["dp_max_diff"] < 1e-5


@pytest.mark.slow
def test_driver_sharded_sweep_equals_unsharded(four_devices):
  assert four_devices["driver_a"] == four_devices["driver_b"]


@pytest.mark.slow
def test_train_data_parallel_flag_splits_minibatches_over_devices(four_devices):
  assert four_devices["dp_train_meshes"] == [None, 4]
  one, four = four_devices["dp_train"]["--nodata_parallel"], four_devices["dp_train"]["--data_parallel"]
  # The gradient's sum runs in another order over 4 devices: errors within one example of 40.
  assert abs(one[0] - four[0]) <= 2.5 + 1e-6 and abs(one[1] - four[1]) <= 2.5 + 1e-6, (one, four)
  assert four[1] < 30  # it learned (chance is 50%)
  # Every epoch's mean loss (1 pretraining, 2 fine-tuning) agrees to float32 summation order: a
  # gradient scaled or dropped per device would not.
  assert len(one[2]) == len(four[2]) == 3
  np.testing.assert_allclose(four[2], one[2], rtol=1e-4)


# --- in-process (one device) ---------------------------------------------------------------------


@pytest.mark.slow
def test_sweeps_split_members_over_local_devices(four_devices):
  # One process: the members go over the local devices (8 on 4, 3 on 3), none for one model.
  assert four_devices["sweep_meshes"] == [4, 3, None]
  from sdae import sweep as sweep_lib
  assert sweep_lib.members_mesh(8) is None  # this pytest process has one device


def test_entry_points_ask_for_one_cpu_device_per_core(monkeypatch):
  from experiments import _cli
  monkeypatch.delenv("SDAE_CPU_DEVICES", raising=False)
  monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/nowhere")
  _cli.use_cpu_cores()
  n = _cli.cpu_device_count()
  assert n == len(os.sched_getaffinity(0))
  assert os.environ["XLA_FLAGS"] == (
      f"--xla_dump_to=/tmp/nowhere --xla_force_host_platform_device_count={n}")
  monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=3")  # the user's word
  _cli.use_cpu_cores()
  assert os.environ["XLA_FLAGS"] == "--xla_force_host_platform_device_count=3"
  monkeypatch.setenv("SDAE_CPU_DEVICES", "5")
  assert _cli.cpu_device_count() == 5
  for bad in ("0", "two", "-1"):
    monkeypatch.setenv("SDAE_CPU_DEVICES", bad)
    with pytest.raises(_cli.UsageError, match="SDAE_CPU_DEVICES"):
      _cli.cpu_device_count()


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


def test_map_and_vmap_loops_agree():
  spec = pt.layer_specs(10, (4,))[0]
  tx = pt.make_optimizer("sgd")
  seeds = jnp.arange(3, dtype=jnp.int32)
  levels = jnp.asarray([0.0, 0.2, 0.4], jnp.float32)
  x = jax.random.uniform(jax.random.key(1), (20, 10), jnp.float32)
  outs = {}
  for loop in ("map", "vmap"):
    p = jax.vmap(lambda s: pt.init_layer(spec, s, 0))(seeds)
    s = jax.vmap(lambda q: pt.init_opt_state(tx, q, 0.1))(p)
    f = pt.compiled_pretrain_epoch(spec, tx, 4, True, True, loop=loop)
    outs[loop] = f(p, s, x, seeds, jnp.int32(0), jnp.int32(0), levels)
  np.testing.assert_allclose(outs["map"][0]["kernel"], outs["vmap"][0]["kernel"], atol=1e-6)
  np.testing.assert_allclose(outs["map"][2], outs["vmap"][2], rtol=1e-5)
  assert outs["map"][2].shape == (3, 5)
  with pytest.raises(ValueError, match="loop"):
    pt.compiled_pretrain_epoch(spec, tx, 4, True, True, loop="pmap")


def test_default_loop_by_platform():
  assert sharding.default_loop() == ("map" if jax.default_backend() == "cpu" else "vmap")
