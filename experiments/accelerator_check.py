r"""usage: python -m experiments.accelerator_check --data_dir=MNIST_DIR --workdir=DIR [--tiny]

example: python -m experiments.accelerator_check --data_dir=data --workdir=runs/gpu_check   # <= 8 min on a GPU

The accelerator check: every GPU/TPU figure of docs/gpu.md in one command of at most 8 minutes.

    python -m experiments.accelerator_check --data_dir=MNIST_DIR --workdir=DIR
    python -m experiments.accelerator_check --data_dir=MNIST_DIR --workdir=DIR --tiny   # CI, CPU

Runs, each step in its own subprocess with its own time limit inside a total budget
(``--budget_s``, 480 s), a step that fails or runs out of time recorded and the rest still run:

0. ``env``: software versions and devices (and that nothing imported tensorflow_datasets);
1. ``bench``: ``experiments.bench`` (its usual rows, the 16-member sweep among them) in float32
   and in bfloat16, against the device's float32 matmul peak measured in the same run;
2. ``mnist``: the MNIST SdA-3 preset end to end from the original IDX files in ``--data_dir``:
   test error, and wall time split into compile, pretraining, fine-tuning and evaluation;
3. ``sweep``: 16 masking members (levels 0, 0.1, 0.25, 0.4 x seeds 0-3) on regenerated
   mnist_basic as one vmapped program, and 2 of its members trained alone (errors equal within
   one example; throughput of the sweep against one model at the same minibatch of 20);
4. ``table``: ``experiments.reproduce_table --datasets=rect,convex --budget=quick`` on
   regenerated sets;
5. ``bfloat16``: step 2 with ``--precision=bfloat16``, against float32 (error and time).

Everything goes under ``--workdir``: ``accelerator_check.json`` (every figure, rewritten
atomically after each step), one folder per step, ``logs/<step>.log`` (each subprocess's
output) and ``cache/`` (prepared datasets; ``--cache_dir`` to share one). Stdout gets the raw
lines of the bench and the table, then one JSON summary line (also under ``summary`` in the
file). Exit status 0 when every step passed, 1 otherwise (the file says which).

Nothing here reaches the network or needs ``pip install``: MNIST comes from ``--data_dir``, the
other sets are regenerated, and tensorflow_datasets is never imported (JAX, Flax, optax, orbax,
absl and numpy suffice, as on a GPU cluster image; run from the checkout with PYTHONPATH=.).
Compilation is measured afresh: the persistent compilation cache is off in the steps unless
``SDAE_JAX_CACHE`` is set. ``--tiny`` runs every step at toy sizes (CI on a CPU; the cache stays
on). The targets are for one H100/H200-class GPU (``summary.targets``; not judged with
``--tiny``).
"""

from __future__ import annotations

import datetime
import json
import os
import shlex
import signal
import subprocess
import sys
import time

from absl import flags

from experiments import _accel_steps as steps_lib
from experiments import _cli
from experiments import _train_flags

# The global FLAGS when run as a program; a private FlagValues when imported (tests), so that its
# flags never clash with another entry point's (experiments.bench also has --precision).
FLAGS = _train_flags.flag_values(__name__)
_d = dict(flag_values=FLAGS)
flags.DEFINE_string("data_dir", None, "Folder holding MNIST's four IDX files "
                    "(train-images-idx3-ubyte.gz, ...).", **_d)
flags.DEFINE_string("workdir", None, "Folder for every output of the check.", **_d)
flags.DEFINE_bool("tiny", False, "Every step at toy sizes (CI; seconds on a CPU).", **_d)
flags.DEFINE_float("budget_s", 480.0, "Total wall-time budget in seconds; each step gets its "
                   "own limit within it, and a step that would start with too little is "
                   "skipped.", **_d)
flags.DEFINE_list("steps", ["bench", "mnist", "sweep", "table", "bfloat16"],
                  "Which steps to run (env always runs).", **_d)
flags.DEFINE_string("cache_dir", None, "Prepared datasets (default: WORKDIR/cache).", **_d)
flags.DEFINE_string("table_flags", "", "Extra flags for experiments.reproduce_table, e.g. "
                    "'--methods=sda3' (appended, so they override the check's).", **_d)
# Internal: the check runs its in-process steps as `--worker=NAME` subprocesses of itself.
flags.DEFINE_string("worker", None, "(internal) run one in-process step: env, mnist, sweep.",
                    **_d)
flags.DEFINE_string("precision", "float32", "(internal, with --worker=mnist) float32 or "
                    "bfloat16.", **_d)
flags.DEFINE_enum("member_loop", "vmap", ["vmap", "map", "auto"], "How the sweep step runs a "
                  "device's members: vmap (the accelerators' default, forced so that a CPU runs "
                  "the same program), map or auto.", **_d)

STEPS = ("bench", "mnist", "sweep", "table", "bfloat16")
# Per step: (the most seconds it may take, the least it is started with). The caps add up to more
# than the 480 s budget: each step takes what it needs up to its cap, as long as every later step
# keeps its least (``Check.limit``); a step left with less than its least is skipped.
LIMITS = {"env": (60, 15), "bench": (150, 40), "mnist": (150, 45), "sweep": (150, 45),
          "table": (150, 30), "bfloat16": (150, 45)}
TINY_LIMITS = {name: (240, 10) for name in LIMITS}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- subprocesses ------------------------------------------------------------------------------


def child_env(extra: dict[str, str] | None = None, fresh_compiles: bool = True
              ) -> dict[str, str]:
  """This process's environment, with the checkout first on PYTHONPATH; ``fresh_compiles``:
  the persistent compilation cache off unless SDAE_JAX_CACHE is set, so that compile times are
  first-run times (``--tiny`` keeps it: there it only saves CI's time)."""
  env = dict(os.environ)
  env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH", "")) if p)
  if fresh_compiles:
    env.setdefault("SDAE_JAX_CACHE", "0")
  env.update(extra or {})
  return env


def run_process(argv: list[str], limit_s: float, log_path: str,
                env: dict[str, str] | None = None, fresh_compiles: bool = True) -> dict:
  """Runs ``argv`` (its stdout kept, its stderr to ``log_path``) for at most ``limit_s``.

  The child gets its own process group, so a timeout ends it and whatever it started.
  Returns ``{"returncode", "timed_out", "seconds", "stdout_lines", "error"}``.
  """
  os.makedirs(os.path.dirname(log_path), exist_ok=True)
  out_path = log_path[:-len(".log")] + ".out" if log_path.endswith(".log") else log_path + ".out"
  t0, cpu0 = time.monotonic(), _children_cpu_s()
  with open(log_path, "w") as err, open(out_path, "w") as out:
    err.write("$ " + shlex.join(argv) + "\n")
    err.flush()
    proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=ROOT,
                            env=child_env(env, fresh_compiles), start_new_session=True)
    timed_out = False
    try:
      proc.wait(timeout=max(1.0, limit_s))
    except subprocess.TimeoutExpired:
      timed_out = True
      _end_group(proc)
    except BaseException:  # Ctrl-C: leave nothing running
      _end_group(proc)
      raise
  seconds = time.monotonic() - t0
  with open(out_path) as f:
    stdout_lines = [l.rstrip("\n") for l in f if l.strip()]
  return {"returncode": proc.returncode, "timed_out": timed_out, "seconds": round(seconds, 2),
          "cpu_s": round(_children_cpu_s() - cpu0, 2), "stdout_lines": stdout_lines,
          "error": None if proc.returncode == 0 and not timed_out else _last_error(log_path)}


def _children_cpu_s() -> float:
  """User + system CPU seconds of this process's finished children (and theirs)."""
  import resource  # pylint: disable=g-import-not-at-top
  r = resource.getrusage(resource.RUSAGE_CHILDREN)
  return r.ru_utime + r.ru_stime


def _end_group(proc: subprocess.Popen) -> None:
  for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
    try:
      os.killpg(proc.pid, sig)
    except ProcessLookupError:
      return
    try:
      proc.wait(timeout=wait)
      return
    except subprocess.TimeoutExpired:
      continue


def _last_error(log_path: str) -> str | None:
  """The child's one-line error (``error: ...``), else its last line of output."""
  try:
    with open(log_path, errors="replace") as f:
      lines = [l.strip() for l in f if l.strip()]
  except OSError:
    return None
  errors = [l for l in lines if l.startswith("error:")]
  line = errors[-1] if errors else (lines[-1] if len(lines) > 1 else None)
  return None if line is None else line[:500]


def read_json(path: str):
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def write_json_atomic(path: str, obj) -> None:
  from sdae.data import cache  # pylint: disable=g-import-not-at-top  # numpy only, no JAX
  text = (json.dumps(obj, indent=1) + "\n").encode()
  cache.atomic_write(path, lambda f: f.write(text))


def fresh_dir(path: str) -> str:
  """The check's own step folder, emptied: every figure comes from this run (a table or a
  training left from an earlier check would otherwise be read back or resumed)."""
  import shutil  # pylint: disable=g-import-not-at-top
  if os.path.isdir(path):
    shutil.rmtree(path)
  os.makedirs(path)
  return path


def progress(folder: str) -> dict:
  """Epochs done and throughput of every run under ``folder`` (for a step stopped early)."""
  out = {}
  for dirpath, _, files in os.walk(folder):
    if "metrics.jsonl" in files:
      summary = steps_lib.epoch_summary(os.path.join(dirpath, "metrics.jsonl"))
      if summary:
        out[os.path.relpath(dirpath, folder)] = summary
  return out


# --- the check ---------------------------------------------------------------------------------


class Check:
  """Runs the steps in order within the budget and keeps the report up to date on disk."""

  def __init__(self, workdir: str, data_dir: str, cache_dir: str, tiny: bool, budget_s: float,
               steps: list[str], table_flags: list[str]):
    self.workdir, self.data_dir, self.cache_dir = workdir, data_dir, cache_dir
    self.tiny, self.budget_s, self.selected, self.table_flags = tiny, budget_s, steps, table_flags
    self.limits = TINY_LIMITS if tiny else LIMITS
    self.t0 = time.monotonic()
    self.raw_lines: list[str] = []
    self.path = os.path.join(workdir, "accelerator_check.json")
    self.report = {
        "check": "experiments.accelerator_check", "complete": False, "tiny": tiny,
        "budget_s": budget_s, "started_utc": datetime.datetime.now(datetime.timezone.utc)
        .strftime("%Y-%m-%dT%H:%M:%SZ"), "argv": sys.argv, "workdir": workdir,
        "data_dir": data_dir, "cache_dir": cache_dir,
        "steps": {name: {"status": "pending"} for name in ["env"] + steps}}

  def elapsed(self) -> float:
    return time.monotonic() - self.t0

  def limit(self, name: str) -> float | None:
    """Seconds for step ``name``: its cap, less what the later steps must keep; None: skip."""
    cap, least = self.limits[name]
    # env runs before every selected step; the others in the documented order.
    later = self.selected[self.selected.index(name) + 1:] if name in self.selected else (
        self.selected)
    keep = sum(self.limits[n][1] for n in later)
    left = self.budget_s - self.elapsed() - keep
    return None if left < least else min(cap, left)

  def save(self) -> None:
    self.report["seconds"] = round(self.elapsed(), 2)
    write_json_atomic(self.path, self.report)

  def log(self, message: str) -> None:
    print(f"[accelerator_check {self.elapsed():5.0f}s] {message}", file=sys.stderr, flush=True)

  def record(self, name: str, entry: dict) -> None:
    self.report["steps"][name] = entry
    self.save()
    extra = f": {entry['error']}" if entry.get("error") else ""
    self.log(f"{name}: {entry['status']} in {entry.get('seconds', 0):.1f}s{extra}")

  # -- steps run as workers (this module with --worker) --

  def worker(self, name: str, step: str, folder: str, extra_argv: list[str] = (),
             env: dict[str, str] | None = None) -> None:
    limit = self.limit(name)
    if limit is None:
      self.record(name, {"status": "skipped", "error": "not enough of the budget left"})
      return
    self.log(f"{name}: started (limit {limit:.0f}s)")
    folder = fresh_dir(os.path.join(self.workdir, folder))
    argv = [sys.executable, "-m", "experiments.accelerator_check", f"--worker={step}",
            f"--workdir={folder}", f"--data_dir={self.data_dir}",
            f"--cache_dir={self.cache_dir}", *extra_argv] + (["--tiny"] if self.tiny else [])
    proc = run_process(argv, limit, os.path.join(self.workdir, "logs", f"{name}.log"), env,
                       not self.tiny)
    result = read_json(os.path.join(folder, "result.json")) or {}
    ok = proc["returncode"] == 0 and not proc["timed_out"] and result.get("complete")
    entry = {"status": "ok" if ok else ("timeout" if proc["timed_out"] else "failed"),
             "seconds": proc["seconds"], "cpu_s": proc["cpu_s"], "limit_s": round(limit, 1),
             "returncode": proc["returncode"], "error": proc["error"],
             "folder": os.path.relpath(folder, self.workdir),
             "log": os.path.join("logs", f"{name}.log"), **result}
    if not ok:
      entry["progress"] = progress(folder)
      if proc["error"] is None:
        entry["error"] = "the step wrote no complete result"
    self.record(name, entry)

  # -- steps run through their public entry points --

  def bench(self) -> None:
    limit = self.limit("bench")
    if limit is None:
      self.record("bench", {"status": "skipped", "error": "not enough of the budget left"})
      return
    self.log(f"bench: started (limit {limit:.0f}s)")
    accelerator = self.report["steps"]["env"].get("platform") not in (None, "cpu")
    if self.tiny:
      sizes = ["--quick", "--batch_sizes=4", "--hidden=16", "--n_in=24", "--members=4",
               "--peak_n=256"]
    else:  # 16 members: step 3's sweep. A larger peak matmul on an accelerator: 2 x 2048^3
      # FLOP take tens of microseconds at its rate, too short to time against the dispatch.
      sizes = ["--members=16", f"--peak_n={8192 if accelerator else 2048}",
               f"--seconds={1.0 if accelerator else 0.3}"]
    entry, t0, status = {}, time.monotonic(), "ok"
    for i, precision in enumerate(("float32", "bfloat16")):
      left = limit - (time.monotonic() - t0)
      part_limit = left * 0.6 if i == 0 else left
      argv = [sys.executable, "-m", "experiments.bench", f"--precision={precision}", *sizes]
      proc = run_process(argv, part_limit,
                         os.path.join(self.workdir, "logs", f"bench_{precision}.log"),
                         fresh_compiles=not self.tiny)
      rows = []
      for line in proc["stdout_lines"]:
        try:
          rows.append(json.loads(line))
          self.raw_lines.append(line)
        except ValueError:
          continue
      part = "ok" if proc["returncode"] == 0 and not proc["timed_out"] else (
          "timeout" if proc["timed_out"] else "failed")
      entry[precision] = {"status": part, "seconds": proc["seconds"], "cpu_s": proc["cpu_s"],
                          "limit_s": round(part_limit, 1), "error": proc["error"],
                          "argv": argv[1:], "log": os.path.join("logs", f"bench_{precision}.log"),
                          "rows": rows}
      if part != "ok" and status == "ok":
        status = part
    entry.update(status=status, seconds=round(time.monotonic() - t0, 2), limit_s=round(limit, 1),
                 error="; ".join(f"{p}: {entry[p]['error']}" for p in ("float32", "bfloat16")
                                 if entry[p]["error"]) or None)
    self.record("bench", entry)

  def table(self) -> None:
    limit = self.limit("table")
    if limit is None:
      self.record("table", {"status": "skipped", "error": "not enough of the budget left"})
      return
    self.log(f"table: started (limit {limit:.0f}s)")
    folder = fresh_dir(os.path.join(self.workdir, "table"))
    argv = [sys.executable, "-m", "experiments.reproduce_table", "--datasets=rect,convex",
            f"--budget={'test' if self.tiny else 'quick'}", "--data_source=regenerated",
            f"--workdir={folder}", f"--cache_dir={self.cache_dir}", *self.table_flags]
    proc = run_process(argv, limit, os.path.join(self.workdir, "logs", "table.log"),
                       fresh_compiles=not self.tiny)
    self.raw_lines += proc["stdout_lines"]
    table = read_json(os.path.join(folder, "table.json")) or {}
    ok = proc["returncode"] == 0 and not proc["timed_out"] and table.get("rows")
    entry = {"status": "ok" if ok else ("timeout" if proc["timed_out"] else "failed"),
             "seconds": proc["seconds"], "cpu_s": proc["cpu_s"], "limit_s": round(limit, 1),
             "returncode": proc["returncode"], "error": proc["error"], "argv": argv[1:],
             "folder": "table", "log": os.path.join("logs", "table.log"),
             "rows": table.get("rows", [])}
    if not ok:
      entry["progress"] = progress(folder)
    self.record("table", entry)

  def run(self) -> dict:
    os.makedirs(self.workdir, exist_ok=True)
    self.save()
    self.worker("env", "env", "env")
    for name in self.selected:
      if name == "bench":
        self.bench()
      elif name == "mnist":
        self.worker("mnist", "mnist", "mnist_float32", ["--precision=float32"])
      elif name == "sweep":
        # The members of a device as one vmapped program unless --member_loop says otherwise.
        self.worker("sweep", "sweep", "sweep", [f"--member_loop={FLAGS.member_loop}"])
      elif name == "table":
        self.table()
      elif name == "bfloat16":
        self.worker("bfloat16", "mnist", "mnist_bfloat16", ["--precision=bfloat16"])
    self.report["seconds"] = round(self.elapsed(), 2)
    self.report["summary"] = summarize(self.report)
    self.report["complete"] = True
    self.save()
    return self.report


# --- the summary -------------------------------------------------------------------------------


def _bench_figures(rows: list[dict]) -> dict:
  """Peak, the dA step's fraction of it at each minibatch, and the sweep's throughput over one
  model's at each minibatch (rows of ``experiments.bench``)."""
  if not rows:
    return {}
  # The dA rows on the data (n_in -> hidden), not the stacked layer's (hidden -> hidden): the
  # data's width is the other steps' n_in, else the first dA row of each minibatch size.
  widths = {r["n_in"] for r in rows if r["name"] in ("finetune_step", "sweep_step")}
  da: dict[int, dict] = {}
  for r in rows:
    if r["name"] == "da_step" and (r["n_in"] in widths or not widths):
      da.setdefault(r["batch"], r)
  sweep = {r["batch"]: r for r in rows if r["name"] == "sweep_step"}
  return {
      "peak_gflops": max(r["peak_gflops"] for r in rows),
      "da_step_fraction_of_peak": {str(b): r["fraction_of_peak"] for b, r in sorted(da.items())},
      "da_step_gflops": {str(b): r["gflops"] for b, r in sorted(da.items())},
      "sweep_models": max((r["models"] for r in sweep.values()), default=None),
      "sweep_over_one_model_examples_per_s": {
          str(b): round(sweep[b]["examples_per_s"] / da[b]["examples_per_s"], 2)
          for b in sorted(set(da) & set(sweep))},
  }


def _target(value, target: str, met, applies: bool) -> dict:
  return {"value": value, "target": target, "met": (met if applies and value is not None
                                                    else None)}


def summarize(report: dict) -> dict:
  """The figures that matter, each target with its value (``met`` None when not measured or
  ``--tiny``)."""
  s = report["steps"]
  env = s.get("env", {})
  applies = not report["tiny"]
  out = {"file": os.path.join(report["workdir"], "accelerator_check.json"),
         "device": env.get("device"), "platform": env.get("platform"),
         "jax": (env.get("versions") or {}).get("jax"), "tiny": report["tiny"],
         "seconds": report.get("seconds"),
         "budget_s": report["budget_s"],
         "steps": {k: v.get("status") for k, v in s.items()}}
  out["ok"] = all(v == "ok" for v in out["steps"].values())
  targets = {}
  bench = s.get("bench", {})
  if bench.get("float32") or bench.get("bfloat16"):
    out["bench"] = {p: _bench_figures(bench[p]["rows"]) for p in ("float32", "bfloat16")
                    if bench.get(p)}
    f32 = out["bench"].get("float32", {})
    frac = f32.get("da_step_fraction_of_peak", {}).get("128")
    targets["da_step_b128_fraction_of_float32_peak"] = _target(frac, ">= 0.5",
                                                               frac is not None and frac >= 0.5,
                                                               applies)
  for name in ("mnist", "bfloat16"):
    m = s.get(name, {})
    if m.get("status") == "ok":
      out[name] = {k: m.get(k) for k in ("precision", "test_error_pct", "test_ci95_pct",
                                         "valid_error_pct", "end_to_end_s", "split",
                                         "xla_compile_s")}
      out[name]["process_s"] = m.get("seconds")
  mn = s.get("mnist", {})
  if mn.get("status") == "ok":
    ref = steps_lib.CPU_MNIST_REFERENCE
    targets["mnist_preset_under_60s"] = _target(mn["seconds"], "< 60 s (the whole process)",
                                                mn["seconds"] < 60, applies)
    diff = round(mn["test_error_pct"] - ref["test_error_pct"], 2)
    targets["mnist_error_as_cpu"] = dict(_target(
        mn["test_error_pct"], f"within the CPU run's {ref['test_error_pct']} +- "
        f"{ref['test_ci95_pct']}", abs(diff) <= ref["test_ci95_pct"], applies),
        diff_pct=diff)
  bf = s.get("bfloat16", {})
  if bf.get("status") == "ok" and mn.get("status") == "ok":
    out["bfloat16"]["against_float32"] = {
        "error_diff_pct": round(bf["test_error_pct"] - mn["test_error_pct"], 2),
        "time_ratio": round(bf["seconds"] / mn["seconds"], 3) if mn["seconds"] else None}
  sw = s.get("sweep", {})
  if sw.get("members"):
    members = sw["members"]
    alone = sw.get("alone", [])
    rate = lambda e: (e.get("epochs", {}).get("pretrain", {}) or {}).get("examples_per_s")
    mrate = rate(members)
    arates = [rate(a) for a in alone if rate(a)]
    ratio = round(mrate / (sum(arates) / len(arates)), 2) if mrate and arates else None
    walls = [a["wall_s"] for a in alone]
    est = round(sum(walls) / len(walls) * sw["n_models"], 1) if walls else None
    out["sweep"] = {"n_models": sw["n_models"], "member_loop": sw.get("member_loop"),
                    "wall_s": members["wall_s"], "batch_size": sw.get("batch_size"),
                    "pretrain_examples_per_s": mrate,
                    "one_model_pretrain_examples_per_s": arates,
                    "examples_per_s_ratio": ratio,
                    "one_by_one_estimate_s": est,
                    "speedup_over_one_by_one": round(est / members["wall_s"], 2)
                    if est and members["wall_s"] else None,
                    "equal_within_one_example": sw.get("equal_within_one_example")}
    targets["sweep16_b20_examples_per_s_over_one_model"] = _target(
        ratio, ">= 10 (pretraining, minibatch 20)", ratio is not None and ratio >= 10, applies)
  tb = s.get("table", {})
  if tb.get("rows"):
    out["table"] = [{k: r.get(k) for k in ("dataset", "method", "test_error_pct",
                                           "test_ci95_pct", "paper_error_pct", "verdict")
                     if k in r} for r in tb["rows"]]
  out["targets"] = targets
  return out


# --- entry point -------------------------------------------------------------------------------


def _validate() -> tuple[str, str, str, list[str], list[str]]:
  from sdae.data import idx  # pylint: disable=g-import-not-at-top  # numpy only
  if not FLAGS.workdir:
    raise _cli.UsageError("--workdir is required: a folder for the check's outputs")
  workdir = os.path.abspath(_cli.check_output_dir("workdir", FLAGS.workdir))
  if not FLAGS.data_dir:
    raise _cli.UsageError("--data_dir is required: a folder holding MNIST's IDX files ("
                          + ", ".join(idx.MNIST_FILES) + ")")
  data_dir = os.path.abspath(os.path.expanduser(FLAGS.data_dir))
  if not os.path.isdir(data_dir):
    raise _cli.UsageError(f"--data_dir={FLAGS.data_dir} is not a folder; expected one holding "
                          "MNIST's IDX files (" + ", ".join(idx.MNIST_FILES) + ")")
  missing = [f for f in idx.MNIST_FILES if not os.path.isfile(os.path.join(data_dir, f))]
  if missing:
    raise _cli.UsageError(f"--data_dir={FLAGS.data_dir} lacks {', '.join(missing)}; expected "
                          f"MNIST's four IDX files (from {idx.MNIST_URLS[0]})")
  cache_dir = os.path.abspath(FLAGS.cache_dir or os.path.join(workdir, "cache"))
  _cli.check_output_dir("cache_dir", cache_dir)
  chosen = []
  for s in FLAGS.steps:
    if s not in STEPS:
      raise _cli.UsageError(f"--steps has {s!r}; accepted: {', '.join(STEPS)}")
    if s not in chosen:
      chosen.append(s)
  chosen.sort(key=STEPS.index)  # the documented order, whatever order they were given in
  if not FLAGS.budget_s > 0:
    raise _cli.UsageError(f"--budget_s={FLAGS.budget_s} is invalid; accepted: a positive number "
                          "of seconds")
  try:
    table_flags = shlex.split(FLAGS.table_flags or "")
  except ValueError as e:
    raise _cli.UsageError(f"--table_flags={FLAGS.table_flags!r} is malformed ({e})") from None
  bad = [f for f in table_flags if not f.startswith("--")]
  if bad:
    raise _cli.UsageError(f"--table_flags has {bad[0]!r}; accepted: --flag=value items of "
                          "experiments.reproduce_table")
  return workdir, data_dir, cache_dir, chosen, table_flags


def _worker(name: str) -> None:
  """One in-process step (run by the check as a subprocess of itself)."""
  if name not in steps_lib.STEPS:
    raise _cli.UsageError(f"--worker={name!r}; accepted: {', '.join(steps_lib.STEPS)}")
  if FLAGS.precision not in ("float32", "bfloat16"):
    raise _cli.UsageError(f"--precision={FLAGS.precision!r}; accepted: float32, bfloat16")
  _cli.setup_jax()
  opts = steps_lib.Options(workdir=os.path.abspath(FLAGS.workdir), data_dir=FLAGS.data_dir,
                           cache_dir=FLAGS.cache_dir, tiny=FLAGS.tiny, precision=FLAGS.precision,
                           member_loop=FLAGS.member_loop)
  try:
    steps_lib.run_step(name, opts)
  except Exception as e:  # pylint: disable=broad-except  # recorded by the driver, which goes on
    import traceback  # pylint: disable=g-import-not-at-top
    traceback.print_exc()
    _cli.fail(f"{type(e).__name__}: {e}", 1)


def main(argv):
  del argv
  if FLAGS.worker:
    _worker(FLAGS.worker)
    return
  workdir, data_dir, cache_dir, chosen, table_flags = _validate()
  check = Check(workdir, data_dir, cache_dir, FLAGS.tiny, FLAGS.budget_s, chosen, table_flags)
  # Stopped from outside (a job's time limit): end the running step's processes (run_process
  # does, on any exception) and keep the report of the steps done, marked incomplete.
  signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
  try:
    report = check.run()
  except BaseException:
    check.report["interrupted"] = True
    check.save()
    raise
  for line in check.raw_lines:
    print(line)
  print(json.dumps(report["summary"]), flush=True)
  if not report["summary"]["ok"]:
    sys.exit(1)


if __name__ == "__main__":
  _cli.run(main)
