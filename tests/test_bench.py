"""experiments.bench: the output contract (one JSON object per line, exact keys and types), the
FLOP counts, and the structure of the compiled training loop."""

import json
import os
import subprocess
import sys

import pytest

from experiments import bench

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEYS = {"name", "n_in", "hidden", "batch", "models", "examples_per_s", "gflops", "peak_gflops",
        "fraction_of_peak", "device"}


def _run(*args, timeout=240):
  return subprocess.run([sys.executable, "-m", "experiments.bench", *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=timeout,
                        env=dict(os.environ, JAX_PLATFORMS="cpu"))


@pytest.mark.slow
def test_quick_run_prints_contract_lines():
  proc = _run("--quick", "--batch_sizes=4", "--hidden=16", "--n_in=24", "--members=2",
              "--peak_n=256", "--baseline")
  assert proc.returncode == 0, proc.stderr[-2000:]
  rows = [json.loads(l) for l in proc.stdout.splitlines() if l.strip()]
  names = [r["name"] for r in rows]
  for batch in (4,):
    got = {(r["name"], r["n_in"]) for r in rows if r["batch"] == batch}
    assert got == {("da_step", 24), ("da_step", 16), ("finetune_step", 24), ("sweep_step", 24),
                   ("da_step_python_loop", 24), ("da_step_python_loop_libstep", 24),
                   ("sweep_step_vmap", 24)}, got
  assert len(names) == 7
  # stderr: what will run, then one progress line before each benchmark, numbered.
  progress = [l for l in proc.stderr.splitlines() if l.startswith("bench ")]
  assert proc.stderr.startswith("bench: 7 benchmarks"), proc.stderr[:300]
  assert [l.split(":")[0] for l in progress] == [f"bench {k}/7" for k in range(1, 8)], progress
  assert progress[0].startswith("bench 1/7: da_step n_in 24 hidden 16 batch 4 ("), progress
  for r in rows:
    assert set(r) == KEYS
    for k in ("n_in", "hidden", "batch", "models"):
      assert type(r[k]) is int, (k, r)
    for k in ("examples_per_s", "gflops", "peak_gflops", "fraction_of_peak"):
      assert type(r[k]) is float and r[k] > 0, (k, r)
    assert r["fraction_of_peak"] == pytest.approx(r["gflops"] / r["peak_gflops"], rel=1e-2)
    assert r["models"] == (2 if r["name"].startswith("sweep") else 1)
    assert r["hidden"] == 16 and isinstance(r["device"], str) and r["device"]


def test_bad_flag_is_one_line():
  proc = _run("--batch_sizes=0", timeout=60)
  assert proc.returncode == 2
  assert proc.stderr.strip().count("\n") == 0 and "--batch_sizes" in proc.stderr


def test_training_epochs_do_not_copy_kernels():
  """The fine-tuning epoch updates every kernel in place: no per-step copy of a hidden kernel in
  the compiled loop (XLA:CPU adds one for each kernel the backward pass reads after its gradient
  exists, unless ``jit_epoch`` turns on its copy-insertion region analysis)."""
  import functools

  import jax
  import jax.numpy as jnp
  from sdae import epoch as epoch_lib
  from sdae import finetune as ft
  from sdae import pretrain as pt
  module = ft.classifier((48, 48, 48), 10, "sigmoid", None)
  tx = pt.make_optimizer("sgd")
  params = ft.init_classifier(module, 0, 40)
  opt = pt.init_opt_state(tx, params, 0.1)
  x, y = jnp.zeros((40, 40), jnp.float32), jnp.zeros((40,), jnp.int32)
  epoch = functools.partial(ft.finetune_epoch, module=module, tx=tx, batch_size=10)

  def kernel_copies(jitted):
    hlo = jitted.lower(params, opt, x, y, jnp.int32(0), jnp.int32(0)).compile().as_text()
    return hlo.count("f32[48,48]{1,0} copy(")

  assert kernel_copies(jax.jit(epoch, donate_argnums=(0, 1))) > 0  # what the option removes
  assert kernel_copies(epoch_lib.jit_epoch(epoch)) == 0
