"""The in-process steps of ``experiments.accelerator_check``, each run in its own subprocess.

Each step is a function ``step(opts) -> dict`` that trains through the library's public API
(``sdae.experiment.train_and_evaluate``, ``sdae.sweep.run``) and returns JSON-able figures; the
worker writes them to ``<step folder>/result.json`` (atomically, and after each part of a step,
so a step stopped by its time limit still leaves what it finished). Nothing here imports JAX at
module level: the driver imports this module for ``epoch_summary`` without starting a backend
(a started GPU backend would hold most of the GPU's memory while the steps run).

Steps: ``env`` (software and devices), ``mnist`` (the MNIST SdA-3 preset end to end, at
``opts.precision``), ``sweep`` (16 masking members on mnist_basic in one program, and 2 of them
trained alone).
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import time
from typing import Any, Callable

from sdae.io import files

# The MNIST preset on the 2-core CPU (BUILD_NOTES.md, "the preset run"): test error and its 95%
# interval, the reference for "the same error as CPU".
CPU_MNIST_REFERENCE = {"test_error_pct": 1.45, "test_ci95_pct": 0.23, "valid_error_pct": 1.44,
                       "where": "BUILD_NOTES.md: the mnist preset on CPU"}

SWEEP_LEVELS = (0.0, 0.1, 0.25, 0.4)  # the paper's masking levels
SWEEP_SEEDS = 4
ALONE = (0, 15)  # the sweep members also trained one by one: level 0 seed 0, level 0.4 seed 3


@dataclasses.dataclass(frozen=True)
class Options:
  """What a step needs (from the flags of ``experiments.accelerator_check``)."""

  workdir: str  # this step's own folder
  data_dir: str  # MNIST's IDX files
  cache_dir: str
  tiny: bool = False
  precision: str = "float32"
  member_loop: str = "vmap"  # the sweep step's (--member_loop)


# --- reading a run's metrics.jsonl (also for a run stopped by its time limit) ------------------


def _phase(rows: list[dict]) -> dict[str, Any]:
  """Seconds and throughput of one phase's epochs, grouped by layer (pretraining) or not.

  The first epoch of each group also compiles (and warms up) its program, so it is reported as
  ``first_epoch_overhead_s`` (its time minus the group's median of the later epochs) and left
  out of ``examples_per_s`` (median over the later epochs; the first alone when there is no
  other).
  """
  groups: dict[Any, list[dict]] = {}
  for r in rows:
    groups.setdefault(r.get("layer"), []).append(r)
  seconds = sum(float(r["seconds"]) for r in rows)
  overhead, rates = 0.0, []
  for group in groups.values():
    later = [float(r["seconds"]) for r in group[1:]]
    if later:
      overhead += max(0.0, float(group[0]["seconds"]) - statistics.median(later))
      rates += [float(r["examples_per_s"]) for r in group[1:]]
  if not rates:
    rates = [float(r["examples_per_s"]) for r in rows]
  return {"epochs": len(rows), "seconds": round(seconds, 3),
          "first_epoch_overhead_s": round(overhead, 3),
          "examples_per_s": round(statistics.median(rates), 1) if rates else None}


def epoch_summary(path: str) -> dict[str, Any]:
  """``{"pretrain": ..., "finetune": ...}`` (``_phase``) from a run's ``metrics.jsonl``."""
  rows = files.read_metrics(path)
  out = {}
  for phase in ("pretrain", "finetune"):
    sel = [r for r in rows if r.get("phase") == phase and "seconds" in r]
    if sel:
      out[phase] = _phase(sel)
  return out


def time_split(total_s: float, epochs: dict[str, Any]) -> dict[str, float]:
  """Wall time of ``train_and_evaluate`` in four parts that add up to ``total_s``:

  - ``compile_s``: the first epochs' overhead (each pretrained layer's and fine-tuning's first
    epoch minus that phase's median epoch): compilation and warm-up of the epoch programs;
  - ``pretrain_s``, ``finetune_s``: the epochs without that overhead (fine-tuning epochs include
    the validation error that early stopping reads);
  - ``evaluation_s``: everything else: the test evaluation, encoding the data through each
    trained layer, initialisation, checkpoints and pictures (and their compilations).
  """
  pre, fine = epochs.get("pretrain", {}), epochs.get("finetune", {})
  compile_s = pre.get("first_epoch_overhead_s", 0.0) + fine.get("first_epoch_overhead_s", 0.0)
  pre_s = pre.get("seconds", 0.0) - pre.get("first_epoch_overhead_s", 0.0)
  fine_s = fine.get("seconds", 0.0) - fine.get("first_epoch_overhead_s", 0.0)
  rest = total_s - pre.get("seconds", 0.0) - fine.get("seconds", 0.0)
  return {"compile_s": round(compile_s, 2), "pretrain_s": round(pre_s, 2),
          "finetune_s": round(fine_s, 2), "evaluation_s": round(rest, 2)}


# --- helpers run inside a worker ------------------------------------------------------------------


class CompileClock:
  """Sums JAX's compilation events (tracing, lowering, XLA compile) while active."""

  EVENTS = ("/jax/core/compile/jaxpr_trace_duration",
            "/jax/core/compile/jaxpr_to_mlir_module_duration",
            "/jax/core/compile/backend_compile_duration")

  def __init__(self):
    self.seconds, self.compiles, self._on = 0.0, 0, False
    try:
      import jax.monitoring  # pylint: disable=g-import-not-at-top
      jax.monitoring.register_event_duration_secs_listener(self._listen)
      self.available = True
    except Exception:  # pylint: disable=broad-except  # an API that moved: figures left out
      self.available = False

  def _listen(self, event, duration, **kwargs):
    del kwargs
    if self._on and event in self.EVENTS:
      self.seconds += float(duration)
      self.compiles += event.endswith("backend_compile_duration")

  def __enter__(self):
    self.seconds, self.compiles, self._on = 0.0, 0, True
    return self

  def __exit__(self, *exc):
    self._on = False

  def figures(self) -> dict[str, Any]:
    if not self.available:
      return {}
    return {"xla_compile_s": round(self.seconds, 2), "xla_compiles": self.compiles}


def write_result(opts: Options, result: dict) -> None:
  from sdae.data import cache  # pylint: disable=g-import-not-at-top  # numpy only
  text = json.dumps(result, indent=1, default=_jsonable).encode()
  cache.atomic_write(os.path.join(opts.workdir, "result.json"), lambda f: f.write(text))


def _jsonable(v):
  try:
    return v.tolist()
  except AttributeError:
    return str(v)


def _device_name() -> str:
  import jax  # pylint: disable=g-import-not-at-top
  d = jax.devices()[0]
  return f"{d.platform} {d.device_kind}" + (f" x{jax.device_count()}"
                                            if jax.device_count() > 1 else "")


# --- env ------------------------------------------------------------------------------------------


def env(opts: Options) -> dict:
  """Software versions, devices, and that no import on the check's path pulled in TFDS."""
  import importlib.metadata as md  # pylint: disable=g-import-not-at-top
  import platform
  import sys
  versions = {"python": platform.python_version()}
  for p in ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy", "absl-py",
            "scikit-learn", "matplotlib", "tensorflow-datasets"):
    try:
      versions[p] = md.version(p)
    except md.PackageNotFoundError:
      versions[p] = None
  for plugin in ("jax-cuda12-plugin", "jax-cuda13-plugin", "libtpu"):
    try:
      versions[plugin] = md.version(plugin)
    except md.PackageNotFoundError:
      pass
  # The modules of the check's path and the entry points it runs (experiments.bench, which
  # defines its flags globally, is imported by its own subprocess).
  import experiments.reproduce_table  # pylint: disable=g-import-not-at-top,unused-import
  import experiments.sweep  # pylint: disable=g-import-not-at-top,unused-import
  import experiments.train  # pylint: disable=g-import-not-at-top,unused-import
  import sdae.data  # pylint: disable=g-import-not-at-top,unused-import
  import sdae.experiment  # pylint: disable=g-import-not-at-top,unused-import
  import sdae.sweep  # pylint: disable=g-import-not-at-top,unused-import
  import jax  # pylint: disable=g-import-not-at-top
  devices = jax.devices()
  d = devices[0]
  out = {"versions": versions, "platform": d.platform, "device_kind": d.device_kind,
         "device_count": len(devices), "device": _device_name(),
         "default_matmul_precision": str(jax.config.jax_default_matmul_precision),
         "tensorflow_datasets_imported": "tensorflow_datasets" in sys.modules,
         "tensorflow_imported": "tensorflow" in sys.modules}
  try:
    stats = d.memory_stats() or {}
    if "bytes_limit" in stats:
      out["memory_gib"] = round(stats["bytes_limit"] / 2**30, 1)
  except Exception:  # pylint: disable=broad-except  # not every backend reports it
    pass
  return out


# --- mnist (float32 or bfloat16) ------------------------------------------------------------------


def _tiny(config):
  return config.replace(hidden=(16, 16, 16), pretrain_epochs=2, finetune_epochs=3, patience=3,
                        batch_size=10, finetune_batch_size=10, n_train=300)


def mnist(opts: Options) -> dict:
  """The MNIST SdA-3 preset end to end (original IDX files), at ``opts.precision``."""
  from sdae.configs import sda as sda_configs  # pylint: disable=g-import-not-at-top
  from sdae import experiment  # pylint: disable=g-import-not-at-top
  config = sda_configs.for_dataset("mnist").replace(
      data_source="original", data_dir=opts.data_dir, cache_dir=opts.cache_dir,
      precision=opts.precision)
  if opts.tiny:
    config = _tiny(config)
  clock = CompileClock()
  t0 = time.monotonic()
  splits, source = experiment.load_data(config)
  data_s = time.monotonic() - t0
  run_dir = os.path.join(opts.workdir, "run")
  t1 = time.monotonic()
  with clock:
    res = experiment.train_and_evaluate(config, run_dir, splits=splits, data_source=source,
                                        overwrite=True)
  wall = time.monotonic() - t1
  epochs = epoch_summary(os.path.join(run_dir, "metrics.jsonl"))
  return {
      "precision": opts.precision, "data_source": res["data_source"],
      "test_error_pct": res["test_error_pct"], "test_ci95_pct": res["test_ci95_pct"],
      "valid_error_pct": res["valid_error_pct"],
      "best_epoch": res.get("finetune_best_epoch", res.get("best_epoch")),
      "finetune_epochs_run": res.get("finetune_epochs_run"), "n_test": res["n_test"],
      "data_s": round(data_s, 2), "train_and_evaluate_s": round(wall, 2),
      "end_to_end_s": round(data_s + wall, 2), "split": time_split(wall, epochs),
      **clock.figures(), "epochs": epochs, "device": _device_name(),
      "config": {k: v for k, v in config.to_dict().items()
                 if k not in ("data_dir", "cache_dir")},
  }


# --- sweep ----------------------------------------------------------------------------------------


def sweep(opts: Options, write: Callable[[dict], None] = lambda r: None) -> dict:
  """16 masking members (4 levels x 4 seeds) on mnist_basic as one program, then members
  ``ALONE`` trained one by one: wall times, throughputs, and their errors compared."""
  from sdae.configs import sda as sda_configs  # pylint: disable=g-import-not-at-top
  from sdae import experiment  # pylint: disable=g-import-not-at-top
  from sdae import sharding  # pylint: disable=g-import-not-at-top
  from sdae import sweep as sweep_lib  # pylint: disable=g-import-not-at-top
  config = sda_configs.for_dataset("mnist_basic").replace(
      data_source="regenerated", data_dir=opts.data_dir, cache_dir=opts.cache_dir,
      member_loop=opts.member_loop)
  if opts.tiny:
    config = _tiny(config)
  points = sweep_lib.grid(SWEEP_LEVELS, SWEEP_SEEDS)
  t0 = time.monotonic()
  splits, source = experiment.load_data(config)
  n_valid, n_test = len(splits["valid"][1]), len(splits["test"][1])
  out: dict[str, Any] = {
      "dataset": config.dataset, "data_source": source, "n_models": len(points),
      "levels": list(SWEEP_LEVELS), "seeds": SWEEP_SEEDS, "batch_size": config.batch_size,
      "member_loop": sharding.resolve_loop(config.member_loop),
      "data_s": round(time.monotonic() - t0, 2),
      "device": _device_name(),
      "config": {k: v for k, v in config.to_dict().items() if k not in ("data_dir", "cache_dir")}}
  mesh = sweep_lib.members_mesh(len(points))
  out["member_devices"] = 1 if mesh is None else int(mesh.size)
  clock = CompileClock()
  t1 = time.monotonic()
  with clock:
    outcome = sweep_lib.run(config, points, opts.workdir, splits=splits, data_source=source,
                            overwrite=True)
  out["members"] = {"wall_s": round(time.monotonic() - t1, 2),
                    "training_s": outcome.get("training_seconds"), **clock.figures(),
                    "epochs": epoch_summary(os.path.join(opts.workdir, "members",
                                                         "metrics.jsonl")),
                    "rows": outcome["rows"]}
  write(out)
  alone = []
  for i in ALONE:
    sub = os.path.join(opts.workdir, f"alone_{i:02d}")
    t2 = time.monotonic()
    one = sweep_lib.run(config, [points[i]], sub, splits=splits, data_source=source,
                        one_by_one=True, overwrite=True)
    wall = time.monotonic() - t2
    row, member = one["rows"][0], outcome["rows"][i]
    model_dir = sweep_lib.model_dir(sub, 0, points[i].resolved(config))
    alone.append({
        "index": i, "level": row["level"], "seed": row["seed"], "wall_s": round(wall, 2),
        "training_s": one.get("training_seconds"),
        "valid_error_pct": row["valid_error_pct"], "test_error_pct": row["test_error_pct"],
        "member_valid_error_pct": member["valid_error_pct"],
        "member_test_error_pct": member["test_error_pct"],
        # Differences in examples (errors are percentages of n_valid / n_test examples).
        "valid_diff_examples": round(abs(row["valid_error_pct"] - member["valid_error_pct"])
                                     * n_valid / 100),
        "test_diff_examples": round(abs(row["test_error_pct"] - member["test_error_pct"])
                                    * n_test / 100),
        "epochs": epoch_summary(os.path.join(model_dir, "metrics.jsonl"))})
    out["alone"] = alone
    write(out)
  out["equal_within_one_example"] = all(
      a["valid_diff_examples"] <= 1 and a["test_diff_examples"] <= 1 for a in alone)
  return out


STEPS: dict[str, Callable[..., dict]] = {"env": env, "mnist": mnist, "sweep": sweep}


def run_step(name: str, opts: Options) -> None:
  """Runs step ``name`` and writes its result (the worker's whole job)."""
  os.makedirs(opts.workdir, exist_ok=True)
  t0 = time.monotonic()
  fn = STEPS[name]
  if name == "sweep":
    result = fn(opts, write=lambda partial: write_result(opts, dict(partial, complete=False)))
  else:
    result = fn(opts)
  result["complete"] = True
  result["worker_s"] = round(time.monotonic() - t0, 2)
  write_result(opts, result)
