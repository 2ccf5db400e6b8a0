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

# Slow: several training processes per case (python -m pytest -m 'not slow' skips them).
pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WORKER = r'''
import json, os, sys
from experiments import _cli
from sdae import distributed
multi = _cli.init_distributed()  # SDAE_COORDINATOR / SDAE_NUM_PROCESSES / SDAE_PROCESS_ID
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


def test_initialize_needs_all_three_settings():
  assert distributed.maybe_initialize() is False  # nothing asked for: one process
  with pytest.raises(ValueError, match="without a coordinator"):
    distributed.maybe_initialize(num_processes=2)
  with pytest.raises(ValueError, match="needs num_processes and process_id"):
    distributed.maybe_initialize("127.0.0.1:1", num_processes=2)
  with pytest.raises(ValueError, match="process_id=5 is invalid; accepted: 0..1"):
    distributed.maybe_initialize("127.0.0.1:1", 2, 5)


def test_entry_points_read_the_distributed_settings_from_the_environment():
  from experiments import _cli
  assert _cli.distributed_settings({}) == {}  # nothing set: one process
  assert _cli.distributed_settings({"SDAE_COORDINATOR": "h:1", "SDAE_NUM_PROCESSES": "2",
                                    "SDAE_PROCESS_ID": "1", "SDAE_LOCAL_DEVICE_IDS": "0,1"}) == {
      "coordinator": "h:1", "num_processes": 2, "process_id": 1, "auto": False,
      "local_device_ids": [0, 1]}
  assert _cli.distributed_settings({"SDAE_DISTRIBUTED": "1"})["auto"] is True
  assert _cli.distributed_settings({"JAX_COORDINATOR_ADDRESS": "h:1"})["auto"] is True
  for env, match in (({"SDAE_NUM_PROCESSES": "2"}, r"--coordinator \(or SDAE_COORDINATOR\) is not"),
                     ({"SDAE_COORDINATOR": "h:1", "SDAE_NUM_PROCESSES": "2"},
                      r"needs SDAE_NUM_PROCESSES and --process_id \(or SDAE_PROCESS_ID\)"),
                     ({"SDAE_COORDINATOR": "h:1", "SDAE_NUM_PROCESSES": "2",
                       "SDAE_PROCESS_ID": "5"}, "SDAE_PROCESS_ID=5 is invalid"),
                     ({"SDAE_NUM_PROCESSES": "two"}, "SDAE_NUM_PROCESSES='two'")):
    with pytest.raises(_cli.UsageError, match=match):
      _cli.distributed_settings(env)


def test_distributed_flags_win_over_the_launchers_variables():
  """A flag given on the command line is used (and named in errors) in place of its variable;
  the variables still serve where a launcher sets them and no flag is given."""
  from experiments import _cli
  env = {"SDAE_COORDINATOR": "h:1", "SDAE_NUM_PROCESSES": "4", "SDAE_PROCESS_ID": "3"}
  given = {"coordinator": "g:2", "num_processes": 2, "process_id": None,
           "local_device_ids": ["0", "1"], "distributed": None}
  with pytest.raises(_cli.UsageError, match=r"SDAE_PROCESS_ID=3 is invalid; accepted: 0\.\.1"):
    _cli.distributed_settings(env, given)  # --num_processes=2 beside the variable's id 3
  given["process_id"] = 1
  assert _cli.distributed_settings(env, given) == {
      "coordinator": "g:2", "num_processes": 2, "process_id": 1, "auto": False,
      "local_device_ids": [0, 1]}
  assert _cli.distributed_settings({}, {"distributed": True})["auto"] is True
  assert _cli.distributed_settings({"SDAE_DISTRIBUTED": "1"}, {"distributed": False}) == {}
  with pytest.raises(_cli.UsageError, match="--process_id=-1 is invalid"):
    _cli.distributed_settings({}, {"coordinator": "g:2", "num_processes": 2, "process_id": -1})
  # Every entry point that can run as one of several processes defines the flags.
  from experiments import reproduce, reproduce_table, sweep, train
  for module in (train, sweep, reproduce_table, reproduce):
    assert set(_cli.DISTRIBUTED_FLAGS) <= set(module.FLAGS), module.__name__


# The entry point itself: `python -m experiments.sweep` in two processes on loopback. The
# rectangles set is regenerated (no files needed); 2 levels x 2 seeds = 4 models, 2 per process.
SWEEP_FLAGS = ["--dataset=rect", "--data_source=regenerated", "--hidden=16,8",
               "--pretrain_epochs=2", "--finetune_epochs=3", "--patience=3", "--batch_size=10",
               "--checkpoint_every_secs=0", "--levels=0,0.3", "--seeds=2"]


def _sweep(workdir, cache, fault=None, extra=(), **env):
  """``python -m experiments.sweep``; with ``fault``, through ``tests/faults.py`` armed with it."""
  args = [*SWEEP_FLAGS, *extra, f"--workdir={workdir}", f"--cache_dir={cache}"]
  cmd = ([sys.executable, os.path.join(ROOT, "tests", "faults.py"), fault, "experiments.sweep"]
         if fault else [sys.executable, "-m", "experiments.sweep"])
  return subprocess.Popen(cmd + args, cwd=ROOT, env=_env(**env), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def _finish(procs, timeout=240, survivor_grace=None):
  """(returncode, stderr) of each process. ``survivor_grace``: once the first has ended, the
  others get this many seconds, then are killed (a process whose peer was killed may wait on it)."""
  out = []
  for i, p in enumerate(procs):
    try:
      _, err = p.communicate(timeout=timeout if i == 0 or survivor_grace is None
                             else survivor_grace)
    except subprocess.TimeoutExpired:
      if survivor_grace is None:
        for q in procs:
          q.kill()
        raise
      p.kill()
      _, err = p.communicate()
    out.append((p.returncode, err))
  return out


def _tree(d):
  """The files under ``d``; inside orbax's checkpoints only the steps (file names are hashes)."""
  files = sorted(os.path.relpath(os.path.join(r, f), d) for r, _, fs in os.walk(d) for f in fs)
  return sorted({"/".join(f.split("/")[:3]) if "/checkpoints/" in f else f for f in files})


def test_sweep_entry_point_two_processes_agree_with_one(tmp_path):
  """Two processes run the sweep entry point; process 1 alone is preempted (SIGTERM) during
  fine-tuning, both agree on an epoch (their flags shared at every epoch end), save there and
  exit 143;
  rerun, they resume and end with exactly the single process's rows; only process 0 wrote."""
  multi_dir, single_dir, cache = tmp_path / "multi", tmp_path / "single", tmp_path / "cache"

  def multi(faults=(None, None)):
    port = _free_port()
    return [_sweep(multi_dir, cache, faults[i], SDAE_COORDINATOR=f"127.0.0.1:{port}",
                   SDAE_NUM_PROCESSES="2", SDAE_PROCESS_ID=str(i)) for i in range(2)]

  # SIGTERM to process 1 after the first fine-tuning epoch (tests/faults.py).
  preempted = multi(faults=(None, "finetune_epoch_end:1=term"))
  single = _sweep(single_dir, cache, extra=["--cpu_devices=2"])  # its members on 2 devices
  stopped = _finish(preempted, survivor_grace=60)
  for rc, err in stopped:
    assert rc == 143, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
  lines = [[l for l in err.splitlines() if l.startswith("error: interrupted by SIGTERM at")]
           for _, err in stopped]
  assert len(lines[0]) == len(lines[1]) == 1, stopped
  assert lines[0][0].partition(";")[0] == lines[1][0].partition(";")[0]  # the same epoch
  assert not (multi_dir / "sweep.json").exists()
  done = _finish(multi() + [single])
  for rc, err in done:
    assert rc == 0, err[-3000:]
  assert "4 models split over 2 devices (2 per device)" in done[2][1]
  for i, (_, err) in enumerate(done[:2]):  # each process contributed its own rows of the data
    assert f"process {i} of 2: training rows {500 * i}..{500 * (i + 1)} of 1000" in err

  # One set of outputs, written once (by process 0): the same files as the single process's.
  assert _tree(multi_dir) == _tree(single_dir)
  for name in ("sweep.json", "sweep_run.json", "sweep.png", "filters.png",
               "members/config.json", "members/results.json", "members/metrics.jsonl"):
    assert (multi_dir / name).exists(), name
  ckpt = [os.path.join(r, x) for r, ds, fs in os.walk(multi_dir / "members" / "checkpoints")
          for x in ds + fs]
  assert ckpt and not [f for f in ckpt if "process_1" in f]  # orbax wrote from process 0 only
  # One line per epoch (2 layers x 2, then 3 fine-tuning epochs), not one per process; the
  # epoch cut off by the kill (logged, not checkpointed) is dropped on resume and logged again.
  metrics = [json.loads(l) for l in
             (multi_dir / "members" / "metrics.jsonl").read_text().splitlines()]
  assert [m.get("epoch") for m in metrics if m["phase"] == "finetune"] == [1, 2, 3]
  assert len(metrics) == 2 * 2 + 3

  multi_rows = json.loads((multi_dir / "sweep.json").read_text())
  one_rows = json.loads((single_dir / "sweep.json").read_text())
  assert [(r["level"], r["seed"]) for r in multi_rows] == [(0.0, 0), (0.0, 1), (0.3, 0), (0.3, 1)]
  assert multi_rows == one_rows  # errors and best epochs bit for bit
  # The parameters too: members run under shard_map as they would alone (lax.map on CPU),
  # encoding and evaluation included, so nothing depends on how members are split.
  from sdae import checkpoint as ckpt_lib
  last = [ckpt_lib.named_leaves(
      ckpt_lib.Checkpointer(str(d / "members" / "checkpoints")).restore_latest()[0])
          for d in (multi_dir, single_dir)]
  assert sorted(last[0]) == sorted(last[1])
  for k in last[0]:
    np.testing.assert_array_equal(last[0][k], last[1][k], err_msg=k)
  run = json.loads((multi_dir / "sweep_run.json").read_text())
  assert run["mode"] == "members" and run["n_models"] == 4


def test_reproduce_table_two_processes_agree_with_one(tmp_path):
  """`python -m experiments.reproduce_table` as two processes of 2 CPU devices each: the group of
  2 models takes one device of each process (round-robin mesh; the first two devices in JAX's
  order would both be process 0's, and the run would be refused), only process 0 writes, and the
  table equals the one-process table (apart from wall times)."""
  multi_dir, single_dir, cache = tmp_path / "multi", tmp_path / "single", tmp_path / "cache"
  flags = ["--datasets=rect", "--budget=test", "--methods=svm_rbf,sda3",
           "--data_source=regenerated", f"--cache_dir={cache}"]

  def table(wd, **env):
    return subprocess.Popen(
        [sys.executable, "-m", "experiments.reproduce_table", *flags, "--cpu_devices=2",
         f"--workdir={wd}"],
        cwd=ROOT, env=_env(**env), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)

  port = _free_port()
  procs = [table(multi_dir, SDAE_COORDINATOR=f"127.0.0.1:{port}", SDAE_NUM_PROCESSES="2",
                 SDAE_PROCESS_ID=str(i)) for i in range(2)]
  done = _finish(procs + [table(single_dir)])
  for rc, err in done:
    assert rc == 0, err[-3000:]
  for i, (_, err) in enumerate(done[:2]):
    assert f"process {i} of 2: training rows" in err

  def rows(wd):
    with open(wd / "table.json") as f:
      return [{k: v for k, v in r.items() if k not in ("seconds", "training_seconds")}
              for r in json.load(f)["rows"]]

  assert rows(multi_dir) == rows(single_dir)
  assert rows(multi_dir)[0]["n_models"] == 2 and rows(multi_dir)[0]["verdict"] != "unavailable"
  assert _tree(multi_dir) == _tree(single_dir)
