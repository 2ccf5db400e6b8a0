"""Two processes started through jax.distributed.initialize on loopback train a member-sharded
sweep together; each reads only its own rows of the data, only process 0 writes, and the result
equals the same sweep trained by one process."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from sdae import distributed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WORKER = r'''
import json, os, sys
from sdae import distributed
multi = distributed.maybe_initialize()  # SDAE_COORDINATOR / SDAE_NUM_PROCESSES / SDAE_PROCESS_ID
import jax, jax.numpy as jnp, numpy as np
from sdae import pretrain as pt, sharding

out_dir = sys.argv[1]
M, N, D, B = 4, 40, 12, 5
full = np.random.default_rng(0).random((N, D)).astype(np.float32)
rows = distributed.shard_rows(N)
local = full[rows]  # this process reads only its rows
x_rows = distributed.global_rows(local, sharding.data_mesh(), N)
mesh = sharding.member_mesh(M)
x = sharding.replicate(x_rows, mesh)  # every member needs every row: gathered by XLA
spec = pt.layer_specs(D, (6,))[0]
tx = pt.make_optimizer("sgd")
seeds, levels = sharding.place_members(
    (np.arange(M, dtype=np.int32), np.linspace(0.0, 0.6, M).astype(np.float32)), mesh)
p = jax.jit(jax.vmap(lambda s: pt.init_layer(spec, s, 0)))(seeds)
s = jax.jit(jax.vmap(lambda q: pt.init_opt_state(tx, q, 0.1)))(p)
epoch = pt.compiled_pretrain_epoch(spec, tx, B, True, True, mesh=mesh)
for e in range(2):
  p, s, losses = epoch(p, s, x, seeds, jnp.int32(0), jnp.int32(e), levels)
kernel, losses = distributed.to_host((p["kernel"], losses))  # collective: every process calls it
info = {"processes": jax.process_count(), "mesh": int(mesh.size), "rows": [rows.start, rows.stop],
        "local_members": int(p["kernel"].addressable_shards[0].data.shape[0]),
        "kernel": kernel.tolist(), "losses": losses.tolist()}
if distributed.is_writer():
  with open(os.path.join(out_dir, "result.json"), "w") as f:
    json.dump(info, f)
with open(os.path.join(out_dir, f"rows_{jax.process_index()}.json"), "w") as f:
  json.dump(info["rows"], f)  # test bookkeeping only: which rows each process read
'''


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _env(**extra):
  env = {k: v for k, v in os.environ.items() if not k.startswith(("SDAE_", "JAX_COORD"))}
  env.update(JAX_PLATFORMS="cpu", **extra)
  env.pop("XLA_FLAGS", None)  # one CPU device per process
  return env


def test_two_processes_agree_with_one(tmp_path):
  port = _free_port()
  multi_dir, single_dir = tmp_path / "multi", tmp_path / "single"
  multi_dir.mkdir()
  single_dir.mkdir()
  procs = [subprocess.Popen(
      [sys.executable, "-c", WORKER, str(multi_dir)], cwd=ROOT,
      env=_env(SDAE_COORDINATOR=f"127.0.0.1:{port}", SDAE_NUM_PROCESSES="2",
               SDAE_PROCESS_ID=str(i)),
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
  single = subprocess.run([sys.executable, "-c", WORKER, str(single_dir)], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=240)
  for p in procs:
    try:
      _, err = p.communicate(timeout=240)
    except subprocess.TimeoutExpired:
      p.kill()
      raise
    assert p.returncode == 0, err[-3000:]
  assert single.returncode == 0, single.stderr[-3000:]

  multi = json.loads((multi_dir / "result.json").read_text())
  one = json.loads((single_dir / "result.json").read_text())
  assert sorted(os.listdir(multi_dir)) == ["result.json", "rows_0.json", "rows_1.json"]
  assert multi["processes"] == 2 and multi["mesh"] == 2 and multi["local_members"] == 2
  assert one["processes"] == 1 and one["local_members"] == 4
  rows = [json.loads((multi_dir / f"rows_{i}.json").read_text()) for i in range(2)]
  assert rows == [[0, 20], [20, 40]]
  np.testing.assert_array_equal(np.asarray(multi["kernel"]), np.asarray(one["kernel"]))
  np.testing.assert_array_equal(np.asarray(multi["losses"]), np.asarray(one["losses"]))


def test_shard_rows_cover_everything_once():
  blocks = [distributed.shard_rows(10, i, 3) for i in range(3)]
  assert [(b.start, b.stop) for b in blocks] == [(0, 4), (4, 7), (7, 10)]


def test_initialize_needs_all_three_settings(monkeypatch):
  for k in ("SDAE_COORDINATOR", "SDAE_NUM_PROCESSES", "SDAE_PROCESS_ID", "SDAE_DISTRIBUTED",
            "JAX_COORDINATOR_ADDRESS"):
    monkeypatch.delenv(k, raising=False)
  assert distributed.maybe_initialize() is False  # nothing set: one process
  monkeypatch.setenv("SDAE_NUM_PROCESSES", "2")
  with pytest.raises(ValueError, match="SDAE_COORDINATOR"):
    distributed.maybe_initialize()
  monkeypatch.setenv("SDAE_COORDINATOR", "127.0.0.1:1")
  monkeypatch.setenv("SDAE_PROCESS_ID", "5")
  with pytest.raises(ValueError, match="SDAE_PROCESS_ID=5"):
    distributed.maybe_initialize()
