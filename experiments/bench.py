"""Throughput of the training steps against the device's matmul peak, one JSON object per line.

    python -m experiments.bench                 # the contract lines (../shared/DESIGN.md)
    python -m experiments.bench --baseline      # plus the reference implementations
    python -m experiments.bench --quick --batch_sizes=20 --hidden=64   # seconds (the tests)

Each line: {"name", "n_in", "hidden", "batch", "models", "examples_per_s", "gflops",
"peak_gflops", "fraction_of_peak", "device"}. Names:

- ``da_step``: one dA pretraining step (masking noise, tied weights, cross-entropy), for
  784 -> hidden and hidden -> hidden;
- ``finetune_step``: one fine-tuning step of the SdA 784-h-h-h-10 (``n_in`` 784, ``hidden`` h);
- ``sweep_step``: the dA step (784 -> h) of a sweep of ``--members`` corruption levels trained in
  one program as ``experiments.sweep`` runs it, the members split over the local devices (on CPU
  one device per core: ``_cli.use_cpu_cores``) (``models`` = members; examples count every
  member's; on accelerators the peak is multiplied by the devices used);
- with ``--baseline``, reference implementations (784 -> h only): ``da_step_python_loop`` (a
  plain ``jax.jit`` step, as user code writes it: the Flax module's forward with ``y @ W.T``,
  ``value_and_grad``, optax; gather and key derivation inside, parameters donated; called once
  per minibatch from Python), ``da_step_python_loop_libstep`` (the same loop around the library's
  ``pretrain.da_step``: the pure cost of dispatching per minibatch) and ``sweep_step_vmap`` (the
  sweep as a plain ``jax.vmap`` of the step: batched products).

Steps are timed inside the compiled epoch (``lax.scan`` over minibatches, data on the device,
donated buffers), as training runs them, via the library's ``compiled_*_epoch`` functions.

FLOPs counted (multiply-add = 2 FLOPs; only the matrix products; B = batch):
- dA step, tied weights: 5 products of 2 B n_in h each: x~W and yW^T forward; dz W (the code's
  gradient), x~^T dpre and dz^T y (the two terms of the weight gradient) backward.
- fine-tuning step, layers (784,h), (h,h), (h,h), (h,10): forward 2 B sum(n_k m_k); backward
  2 x 2 B sum(n_k m_k) (weight and input gradient of each layer) minus 2 B 784 h, because the
  input gradient of the first layer is never computed: 2 B (3 sum(n_k m_k) - 784 h).
- sweep: the dA step's count times the number of members.

``peak_gflops`` is a 2048 x 2048 float32 matmul timed on the same device in the same run,
interleaved with each configuration's timings (this machine is shared: the best of each is kept,
so both see the same load). ``fraction_of_peak`` = gflops / peak_gflops.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time

from absl import flags

from experiments import _cli

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


def da_flops(batch: int, n_in: int, hidden: int) -> float:
  return 5 * 2.0 * batch * n_in * hidden


def finetune_flops(batch: int, sizes: list[tuple[int, int]]) -> float:
  total = sum(n * m for n, m in sizes)
  return 2.0 * batch * (3 * total - sizes[0][0] * sizes[0][1])


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

  def emit(name, ni, batch, models, res):
    print(line(name, ni, h, batch, models, *res, b.device), flush=True)

  for batch in sizes:
    if "da_step" in FLAGS.names:
      for ni in (n_in, h):
        emit("da_step", ni, batch, 1, bench_da(b, ni, h, batch, compute_dtype, quick))
      if FLAGS.baseline:
        emit("da_step_python_loop", n_in, batch, 1,
             bench_da(b, n_in, h, batch, compute_dtype, quick, python_loop="plain"))
        emit("da_step_python_loop_libstep", n_in, batch, 1,
             bench_da(b, n_in, h, batch, compute_dtype, quick, python_loop="library"))
    if "finetune_step" in FLAGS.names:
      emit("finetune_step", n_in, batch, 1, bench_finetune(b, n_in, h, batch, compute_dtype, quick))
    if "sweep_step" in FLAGS.names:
      emit("sweep_step", n_in, batch, m, bench_sweep(b, n_in, h, batch, m, compute_dtype, quick))
      if FLAGS.baseline:
        emit("sweep_step_vmap", n_in, batch, m,
             bench_sweep(b, n_in, h, batch, m, compute_dtype, quick, loop="vmap"))
  load1 = os.getloadavg()
  print(f"bench: {time.monotonic() - t0:.0f}s; load average (1 min) {load0[0]:.1f} at start, "
        f"{load1[0]:.1f} at end on {os.cpu_count()} cores", file=sys.stderr)


if __name__ == "__main__":
  _cli.run(main)
