r"""usage: python -m experiments.bench [--batch_sizes=1,20,128] [--hidden=1000] [flags]

example: python -m experiments.bench --batch_sizes=20      # 4 benchmarks, 78 s on 2 busy cores

Throughput of the training steps against the device's matmul peak: one JSON object per line on
stdout, {"name", "n_in", "hidden", "batch", "models", "examples_per_s", "gflops",
"peak_gflops", "fraction_of_peak", "device"}, and a progress line per benchmark on stderr. The
defaults run 12 benchmarks (da_step for 784 -> 1000 and 1000 -> 1000, finetune_step, and the
8-member sweep_step, at minibatches 1, 20 and 128): 4.5 minutes on a 2-core CPU shared with
other jobs.

    python -m experiments.bench --baseline      # plus the reference implementations
    python -m experiments.bench --quick --batch_sizes=20 --hidden=64   # seconds (the tests)

What each name times and how its FLOPs are counted: docs/bench.md.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time

from absl import flags

from experiments import _cli
from sdae.cost import da_flops, finetune_flops  # the formulas every cost estimate uses

FLAGS = flags.FLAGS
flags.DEFINE_bool("quick", False, "few steps and one timing round (for the tests; noisy)")
flags.DEFINE_bool("baseline", False,
                  "also print da_step_python_loop and sweep_step_vmap (reference implementations)")
flags.DEFINE_list("batch_sizes", ["1", "20", "128"], "minibatch sizes")
flags.DEFINE_list("names", ["da_step", "finetune_step", "sweep_step"], "which steps to time")
flags.DEFINE_integer("hidden", 1000, "hidden layer width")
flags.DEFINE_integer("n_in", 784, "input width")
flags.DEFINE_integer("members", 8, "models in the sweep (sweep_step)")
flags.DEFINE_integer("rounds", 5, "timing rounds per configuration (best kept)")
flags.DEFINE_float("seconds", 0.3, "target duration of one timed epoch, at a nominal 300 GFLOP/s")
flags.DEFINE_enum("precision", "float32", ["float32", "bfloat16"],
                  "dtype of the matrix products (parameters and accumulation stay float32)")
flags.DEFINE_integer("peak_n", 2048, "side of the square float32 matmul that measures the peak")

NAMES = ("da_step", "finetune_step", "sweep_step")
# The default run's wall time, measured (BUILD_NOTES.md, issue 30): 269 s at load 4-8.
EXPECTED = "4.5 minutes on a 2-core CPU shared with other jobs"


class Bench:
  """Timings on one device, with the matmul peak measured alongside each configuration."""

  def __init__(self, rounds: int, peak_n: int):
    import jax
    import jax.numpy as jnp
    self.jax, self.jnp = jax, jnp
    self.rounds = rounds
    self.peak_n = peak_n
    a = jax.random.uniform(jax.random.key(0), (peak_n, peak_n), jnp.float32)
    b = jax.random.uniform(jax.random.key(1), (peak_n, peak_n), jnp.float32)
    self._mm = jax.jit(lambda a, b: a @ b)
    self._ab = (a, b)
    jax.block_until_ready(self._mm(a, b))
    dev = jax.devices()[0]
    self.device = (f"cpu ({os.cpu_count()} cores)" if dev.platform == "cpu"
                   else f"{dev.platform} {dev.device_kind}")

  def peak_once(self) -> float:
    """GFLOP/s of the best of 3 runs of the square matmul."""
    best = float("inf")
    for _ in range(3):
      t = time.perf_counter()
      self.jax.block_until_ready(self._mm(*self._ab))
      best = min(best, time.perf_counter() - t)
    return 2.0 * self.peak_n ** 3 / best / 1e9

  def measure(self, run, state, examples: int, flops: float):
    """Best examples/s and GFLOP/s of ``state = run(state)`` and the interleaved peak."""
    state = run(state)  # compile and warm up
    self.jax.block_until_ready(state)
    best, peak = float("inf"), 0.0
    for _ in range(self.rounds):
      peak = max(peak, self.peak_once())
      t = time.perf_counter()
      state = run(state)
      self.jax.block_until_ready(state)
      best = min(best, time.perf_counter() - t)
    return examples / best, flops / best / 1e9, peak


def _steps(flops_per_step: float, seconds: float, quick: bool) -> int:
  steps = int(seconds * 300e9 / flops_per_step)
  if quick:
    return max(3, min(steps // 10, 50))
  return max(20, min(steps, 4000))


def _sig(v: float, digits: int = 5) -> float:
  return float(f"{float(v):.{digits}g}")


def line(name, n_in, hidden, batch, models, rate, gflops, peak, device) -> str:
  return json.dumps({
      "name": name, "n_in": int(n_in), "hidden": int(hidden), "batch": int(batch),
      "models": int(models), "examples_per_s": _sig(rate), "gflops": _sig(gflops),
      "peak_gflops": _sig(peak), "fraction_of_peak": _sig(gflops / peak, 4), "device": device})


def bench_da(b: Bench, n_in: int, hidden: int, batch: int, compute_dtype, quick: bool,
             python_loop: str | None = None):
  """``python_loop``: None (the compiled epoch), ``"plain"`` (the Flax module's own forward,
  ``y @ W.T`` included, as plain user code would write it) or ``"library"`` (``pretrain.da_step``),
  each a ``jax.jit`` step called once per minibatch."""
  import jax
  import jax.numpy as jnp
  import numpy as np
  import optax
  from sdae import epoch as epoch_lib
  from sdae import pretrain as pt
  # n_in -> hidden, or hidden -> hidden (a stacked layer: cross-entropy on sigmoid codes).
  spec = pt.layer_specs(n_in, (hidden,), compute_dtype=compute_dtype)[0]
  tx = pt.make_optimizer("sgd")
  f = da_flops(batch, n_in, hidden)
  steps = _steps(f, FLAGS.seconds, quick)
  if python_loop:
    steps = min(steps, 2000 if not quick else 20)
  x = jax.random.uniform(jax.random.key(2), (steps * batch, n_in), jnp.float32)
  params = pt.init_layer(spec, 0, 0)
  opt = pt.init_opt_state(tx, params, 0.01)
  level = jnp.float32(0.25)
  if not python_loop:
    epoch = pt.compiled_pretrain_epoch(spec, tx, batch)

    def run(state):
      p, s = state
      p, s, _ = epoch(p, s, x, jnp.int32(0), jnp.int32(0), jnp.int32(0), level)
      return p, s
  else:
    from sdae import corruption

    def plain_step(p, s, key, xb, level):
      def loss_fn(p):
        logits = spec.module().apply({"params": p}, corruption.masking(key, xb, level))
        return optax.sigmoid_binary_cross_entropy(logits, xb).sum(-1).mean()
      loss, grads = jax.value_and_grad(loss_fn)(p)
      updates, s = tx.update(grads, s, p)
      return optax.apply_updates(p, updates), s, loss

    one_step = plain_step if python_loop == "plain" else (
        lambda p, s, key, xb, level: pt.da_step(p, s, spec, tx, key, xb, level))

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def step(p, s, idx, i, noise_key):
      xb = jnp.take(x, idx, axis=0)
      return one_step(p, s, jax.random.fold_in(noise_key, i), xb, level)

    def run(state):
      p, s = state
      key = pt.derive_key(jnp.int32(0), pt.PRETRAIN, 0, 0)
      batches = np.asarray(epoch_lib.shuffled_batches(key, steps * batch, batch))
      for i in range(steps):
        p, s, _ = step(p, s, batches[i], i, key)
      return p, s

  return b.measure(run, (params, opt), steps * batch, steps * f)


def bench_finetune(b: Bench, n_in: int, hidden: int, batch: int, compute_dtype, quick: bool):
  import jax
  import jax.numpy as jnp
  from sdae import finetune as ft
  from sdae import pretrain as pt
  hidden_sizes = (hidden,) * 3
  sizes = [(n_in, hidden), (hidden, hidden), (hidden, hidden), (hidden, 10)]
  module = ft.classifier(hidden_sizes, 10, "sigmoid", compute_dtype)
  tx = pt.make_optimizer("sgd")
  f = finetune_flops(batch, sizes)
  steps = _steps(f, FLAGS.seconds, quick)
  x = jax.random.uniform(jax.random.key(3), (steps * batch, n_in), jnp.float32)
  y = jax.random.randint(jax.random.key(4), (steps * batch,), 0, 10, jnp.int32)
  params = ft.init_classifier(module, 0, n_in)
  opt = pt.init_opt_state(tx, params, 0.01)
  epoch = ft.compiled_finetune_epoch(module, tx, batch)

  def run(state):
    p, s = state
    p, s, _ = epoch(p, s, x, y, jnp.int32(0), jnp.int32(0))
    return p, s

  return b.measure(run, (params, opt), steps * batch, steps * f)


def bench_sweep(b: Bench, n_in: int, hidden: int, batch: int, members: int, compute_dtype,
                quick: bool, loop: str | None = None):
  import jax
  import jax.numpy as jnp
  from sdae import pretrain as pt
  from sdae import sharding
  from sdae import sweep as sweep_lib
  spec = pt.layer_specs(n_in, (hidden,), compute_dtype=compute_dtype)[0]
  tx = pt.make_optimizer("sgd")
  f = da_flops(batch, n_in, hidden) * members
  steps = _steps(f, FLAGS.seconds, quick)
  x = jax.random.uniform(jax.random.key(5), (steps * batch, n_in), jnp.float32)
  seeds = jnp.arange(members, dtype=jnp.int32)
  levels = jnp.linspace(0.0, 0.7, members, dtype=jnp.float32)  # 8 corruption levels
  params = jax.jit(jax.vmap(lambda s: pt.init_layer(spec, s, 0)))(seeds)
  opt = jax.jit(jax.vmap(lambda p: pt.init_opt_state(tx, p, 0.01)))(params)
  # As `experiments.sweep` runs it: members split over the local devices (one per core on CPU,
  # `_cli.use_cpu_cores`); the naive `loop="vmap"` reference stays on one device.
  mesh = None if loop == "vmap" else sweep_lib.members_mesh(members)
  if mesh is not None:
    params, opt, seeds, levels = sharding.place_members((params, opt, seeds, levels), mesh)
    x = sharding.replicate(x, mesh)
  epoch = pt.compiled_pretrain_epoch(spec, tx, batch, True, True, loop=loop, mesh=mesh)

  def run(state):
    p, s = state
    p, s, _ = epoch(p, s, x, seeds, jnp.int32(0), jnp.int32(0), levels)
    return p, s

  # CPU devices share the cores whose peak device 0 measures; accelerators add theirs.
  scale = 1 if mesh is None or jax.devices()[0].platform == "cpu" else mesh.size
  rate, gflops, peak = b.measure(run, (params, opt), steps * batch * members, steps * f)
  return rate, gflops, peak * scale


def progress(text: str) -> None:
  print(text, file=sys.stderr, flush=True)


def main(argv):
  del argv
  sizes = _cli.int_list("batch_sizes", FLAGS.batch_sizes)
  if any(s < 1 for s in sizes):
    raise _cli.UsageError(f"--batch_sizes={','.join(FLAGS.batch_sizes)} is invalid; "
                          "accepted: positive integers")
  for n in FLAGS.names:
    if n not in NAMES:
      raise _cli.UsageError(f"--names has {n!r}; accepted: {', '.join(NAMES)}")
  for flag in ("hidden", "n_in", "members", "rounds", "peak_n"):
    if getattr(FLAGS, flag) < 1:
      raise _cli.UsageError(f"--{flag}={getattr(FLAGS, flag)} is invalid; accepted: >= 1")
  _cli.setup_jax()
  import jax.numpy as jnp
  compute_dtype = jnp.bfloat16 if FLAGS.precision == "bfloat16" else None
  quick = FLAGS.quick
  b = Bench(1 if quick else FLAGS.rounds, FLAGS.peak_n)
  h, n_in, m = FLAGS.hidden, FLAGS.n_in, FLAGS.members
  load0 = os.getloadavg()
  t0 = time.monotonic()

  # What runs, in order: (name, n_in, batch, models, the benchmark).
  todo = []
  for batch in sizes:
    if "da_step" in FLAGS.names:
      for ni in (n_in, h):
        todo.append(("da_step", ni, batch, 1, functools.partial(
            bench_da, b, ni, h, batch, compute_dtype, quick)))
      if FLAGS.baseline:
        for name, loop in (("da_step_python_loop", "plain"),
                           ("da_step_python_loop_libstep", "library")):
          todo.append((name, n_in, batch, 1, functools.partial(
              bench_da, b, n_in, h, batch, compute_dtype, quick, python_loop=loop)))
    if "finetune_step" in FLAGS.names:
      todo.append(("finetune_step", n_in, batch, 1, functools.partial(
          bench_finetune, b, n_in, h, batch, compute_dtype, quick)))
    if "sweep_step" in FLAGS.names:
      todo.append(("sweep_step", n_in, batch, m, functools.partial(
          bench_sweep, b, n_in, h, batch, m, compute_dtype, quick)))
      if FLAGS.baseline:
        todo.append(("sweep_step_vmap", n_in, batch, m, functools.partial(
            bench_sweep, b, n_in, h, batch, m, compute_dtype, quick, loop="vmap")))
  # Progress on stderr (stdout holds only the JSON lines): each benchmark compiles, then times
  # several rounds, so the whole run takes minutes on a CPU.
  progress(f"bench: {len(todo)} benchmarks, one JSON line each on stdout (the default 12 took "
           f"{EXPECTED})")
  for k, (name, ni, batch, models, run) in enumerate(todo, 1):
    progress(f"bench {k}/{len(todo)}: {name} n_in {ni} hidden {h} batch {batch}"
             + (f" models {models}" if models > 1 else "")
             + f" ({time.monotonic() - t0:.0f}s elapsed)")
    print(line(name, ni, h, batch, models, *run(), b.device), flush=True)
  load1 = os.getloadavg()
  print(f"bench: {time.monotonic() - t0:.0f}s; load average (1 min) {load0[0]:.1f} at start, "
        f"{load1[0]:.1f} at end on {os.cpu_count()} cores", file=sys.stderr)


if __name__ == "__main__":
  _cli.run(main)
