"""experiments.accelerator_check: the whole check at toy sizes where tensorflow_datasets cannot be
imported and nothing may reach the network; a failing step recorded while the others run; time
limits that end a step and what it started; the budget; the figures and targets of the summary."""

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from experiments import _accel_steps as steps_lib
from experiments import accelerator_check as check_lib
from helpers import run_cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def mnist_idx():
  """MNIST's IDX files: $SDAE_MNIST_DIR, else ../shared/data/mnist (skips where neither)."""
  from conftest import MNIST_DIR  # pylint: disable=import-outside-toplevel
  for d in (os.environ.get("SDAE_MNIST_DIR"), str(MNIST_DIR)):
    if d and os.path.isfile(os.path.join(d, "train-images-idx3-ubyte.gz")):
      return d
  pytest.skip("MNIST IDX files not available (../shared/data/mnist or $SDAE_MNIST_DIR)")


@pytest.fixture
def fake_mnist(tmp_path):
  """A folder with MNIST's four file names (empty): enough for the check's flag validation."""
  from sdae.data import idx  # pylint: disable=import-outside-toplevel
  d = tmp_path / "fake_mnist"
  d.mkdir()
  for name in idx.MNIST_FILES:
    (d / name).write_bytes(b"")
  return str(d)

# Put first on PYTHONPATH: importing tensorflow_datasets fails, and so does any connection or
# name lookup beyond the loopback; each attempt is also written to $SHIM_LOG, so that an attempt
# swallowed by an `except ImportError` still fails the test.
_TFDS_SHIM = """
import os
with open(os.environ["SHIM_LOG"], "a") as f:
  f.write("import tensorflow_datasets\\n")
raise ImportError("tensorflow_datasets is blocked in this test")
"""
_SITECUSTOMIZE = """
import ipaddress, os, socket

def _log(what):
  with open(os.environ["SHIM_LOG"], "a") as f:
    f.write(what + "\\n")

def _local(host):
  if host in ("localhost", "", None):
    return True
  try:
    return ipaddress.ip_address(host.split("%")[0]).is_loopback
  except ValueError:
    return False

_connect, _getaddrinfo = socket.socket.connect, socket.getaddrinfo

def connect(self, address):
  if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
    _log(f"connect {address}")
    raise OSError("network blocked in this test")
  return _connect(self, address)

def getaddrinfo(host, *args, **kwargs):
  if not _local(host if isinstance(host, str) else None):
    _log(f"getaddrinfo {host}")
    raise socket.gaierror("network blocked in this test")
  return _getaddrinfo(host, *args, **kwargs)

socket.socket.connect, socket.getaddrinfo = connect, getaddrinfo
"""


def _shim(tmp_path):
  shim = tmp_path / "shim"
  (shim / "tensorflow_datasets").mkdir(parents=True)
  (shim / "tensorflow_datasets" / "__init__.py").write_text(_TFDS_SHIM)
  (shim / "sitecustomize.py").write_text(_SITECUSTOMIZE)
  log = tmp_path / "shim.log"
  env = dict(os.environ, JAX_PLATFORMS="cpu", SHIM_LOG=str(log),
             PYTHONPATH=os.pathsep.join([str(shim), ROOT]))
  return env, log


# FLOPs of one example through each benchmarked step, counted as docs/bench.md counts them:
# the dA step's five products of n_in x hidden (encoder, decoder, and three for the gradient);
# fine-tuning's forward (n_in -> hidden -> hidden -> hidden -> 10) and a backward pass of twice
# that, less the input's gradient; a sweep member's step is a dA step.
_FLOPS_PER_EXAMPLE = {
    "da_step": lambda n_in, h: 5 * 2 * n_in * h,
    "sweep_step": lambda n_in, h: 5 * 2 * n_in * h,
    "finetune_step": lambda n_in, h: 2 * (3 * (n_in * h + 2 * h * h + h * 10) - n_in * h),
}


def _check(tmp_path, env, *args, timeout=900):
  return subprocess.run([sys.executable, "-m", "experiments.accelerator_check", *args],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_tiny_check_without_tensorflow_datasets_or_network(tmp_path, mnist_idx):
  env, log = _shim(tmp_path)
  # The shim works: tensorflow_datasets cannot be imported, and the attempt is logged.
  probe = subprocess.run([sys.executable, "-c", "import tensorflow_datasets"], env=env,
                         capture_output=True, text=True)
  assert probe.returncode != 0 and "blocked" in probe.stderr
  log.unlink()
  from sdae.data import cache  # the prepared sets of the other tests, if any
  work = tmp_path / "check"
  proc = _check(tmp_path, env, "--tiny", f"--data_dir={mnist_idx}", f"--workdir={work}",
                f"--cache_dir={cache.cache_dir()}")
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert not log.exists(), log.read_text()  # no import of tensorflow_datasets, no network

  lines = proc.stdout.strip().splitlines()
  summary = json.loads(lines[-1])
  report = json.loads((work / "accelerator_check.json").read_text())
  assert report["complete"] and report["summary"] == summary
  assert summary["ok"] and set(summary["steps"]) == {"env", "bench", "mnist", "sweep", "table",
                                                     "bfloat16"}
  steps = report["steps"]
  assert steps["env"]["tensorflow_datasets_imported"] is False
  assert steps["env"]["platform"] == "cpu"
  # 1. The bench's contract rows, float32 and bfloat16, printed raw before the summary.
  for precision in ("float32", "bfloat16"):
    rows = steps["bench"][precision]["rows"]
    assert {r["name"] for r in rows} == {"da_step", "finetune_step", "sweep_step"}
    # The rows are the bench's own stdout (its .out file), as it printed them.
    out = (work / steps["bench"][precision]["log"]).with_suffix(".out").read_text()
    assert rows == [json.loads(l) for l in out.splitlines() if l.startswith('{"name"')]
    for r in rows:
      # GFLOP/s and examples/s come from the same timing: their ratio is the FLOPs of one
      # example (docs/bench.md), whatever the machine's speed.
      per_example = _FLOPS_PER_EXAMPLE[r["name"]](r["n_in"], r["hidden"])
      assert r["gflops"] == pytest.approx(r["examples_per_s"] * per_example / 1e9, rel=2e-4), r
      # Each fraction is the row's own GFLOP/s over the peak measured beside it; a tiny step
      # is far below a 256 x 256 matmul's rate.
      assert r["fraction_of_peak"] == pytest.approx(r["gflops"] / r["peak_gflops"], rel=2e-3)
      assert 0 < r["fraction_of_peak"] < 1, r
  # The raw lines printed before the summary: the bench's rows, float32's then bfloat16's.
  assert [json.loads(l) for l in lines if l.startswith('{"name"')] == (
      steps["bench"]["float32"]["rows"] + steps["bench"]["bfloat16"]["rows"])
  # 2, 5. The MNIST preset (at toy sizes: barely trained) in float32 and bfloat16: original
  # files, the time split adding up to the run's wall time, errors on the whole test split.
  for name, precision in (("mnist", "float32"), ("bfloat16", "bfloat16")):
    m = steps[name]
    assert m["precision"] == precision and m["data_source"] == "original"
    assert m["config"]["precision"] == precision and m["config"]["hidden"] == [16, 16, 16]
    assert sum(m["split"].values()) == pytest.approx(m["train_and_evaluate_s"], abs=0.05)
    assert min(m["split"].values()) >= 0
    assert m["epochs"]["pretrain"]["epochs"] == 6 and m["epochs"]["finetune"]["epochs"] == 3
    # The figures are the run's own: its results.json and its metrics.jsonl.
    res = json.loads((work / m["folder"] / "run" / "results.json").read_text())
    for k in ("test_error_pct", "test_ci95_pct", "valid_error_pct", "n_test"):
      assert m[k] == res[k], k
    assert m["n_test"] == 10000 and m["best_epoch"] == res["finetune_best_epoch"]
    assert m["epochs"] == steps_lib.epoch_summary(str(work / m["folder"] / "run" /
                                                      "metrics.jsonl"))
    wrong = m["test_error_pct"] * m["n_test"] / 100  # a whole number of test examples
    assert wrong == pytest.approx(round(wrong), abs=0.01) and 0 < round(wrong) <= m["n_test"]
  against = summary["bfloat16"]["against_float32"]
  assert against["time_ratio"] == pytest.approx(
      steps["bfloat16"]["seconds"] / steps["mnist"]["seconds"], abs=1e-3)
  assert against["error_diff_pct"] == pytest.approx(
      steps["bfloat16"]["test_error_pct"] - steps["mnist"]["test_error_pct"], abs=0.006)
  # 3. The sweep: 16 members in one program, 2 trained alone, equal within one example.
  sw = steps["sweep"]
  assert sw["n_models"] == 16 and len(sw["members"]["rows"]) == 16
  assert sw["member_loop"] == "vmap" and sw["data_source"] == "regenerated"
  assert [(a["level"], a["seed"]) for a in sw["alone"]] == [(0.0, 0), (0.4, 3)]
  # Each model trained alone: its own results.json, its member's row of the sweep, and their
  # differences in examples (errors are percentages of n_valid and n_test) recomputed.
  for a in sw["alone"]:
    member = sw["members"]["rows"][a["index"]]
    assert (member["level"], member["seed"]) == (a["level"], a["seed"])
    [res_path] = (work / "sweep" / f"alone_{a['index']:02d}").glob("one_by_one/*/results.json")
    res = json.loads(res_path.read_text())
    for k in ("valid", "test"):
      assert a[f"member_{k}_error_pct"] == member[f"{k}_error_pct"]
      assert a[f"{k}_error_pct"] == res[f"{k}_error_pct"]
      assert a[f"{k}_diff_examples"] == round(
          abs(res[f"{k}_error_pct"] - member[f"{k}_error_pct"]) * res[f"n_{k}"] / 100), k
  assert sw["equal_within_one_example"] is all(
      a["valid_diff_examples"] <= 1 and a["test_diff_examples"] <= 1 for a in sw["alone"])
  assert sw["equal_within_one_example"] is True
  rate = lambda e: e["epochs"]["pretrain"]["examples_per_s"]
  alone_rates = [rate(a) for a in sw["alone"]]
  assert summary["sweep"]["examples_per_s_ratio"] == pytest.approx(
      rate(sw["members"]) / (sum(alone_rates) / len(alone_rates)), abs=0.006)
  assert summary["sweep"]["wall_s"] == sw["members"]["wall_s"]
  # 4. The table through its entry point, both sets regenerated.
  datasets = {r["dataset"] for r in steps["table"]["rows"]}
  assert datasets == {"rectangles", "convex"}
  assert all(r["data_source"] == "regenerated" for r in steps["table"]["rows"])
  # Targets are not judged at toy sizes, but their values are there.
  assert all(t["met"] is None for t in summary["targets"].values())
  assert summary["targets"]["mnist_preset_under_60s"]["value"] == steps["mnist"]["seconds"]
  assert summary["mnist"]["test_error_pct"] == steps["mnist"]["test_error_pct"]
  bench = summary["bench"]["float32"]
  assert bench["peak_gflops"] == max(r["peak_gflops"] for r in steps["bench"]["float32"]["rows"])


def test_failing_step_is_recorded_and_the_rest_run(tmp_path, fake_mnist):
  env, _ = _shim(tmp_path)
  work = tmp_path / "check"
  # The table fails at once (a bad flag); env still runs before it and the report is complete.
  proc = _check(tmp_path, env, "--tiny", f"--data_dir={fake_mnist}", f"--workdir={work}",
                "--steps=table", "--table_flags=--budget=nonesuch", timeout=300)
  assert proc.returncode == 1, proc.stderr[-2000:]
  summary = json.loads(proc.stdout.strip().splitlines()[-1])
  assert summary["steps"] == {"env": "ok", "table": "failed"} and summary["ok"] is False
  report = json.loads((work / "accelerator_check.json").read_text())
  assert report["complete"]
  assert "--budget='nonesuch'" in report["steps"]["table"]["error"]
  assert (work / "logs" / "table.log").exists()


@pytest.mark.parametrize("argv, message", [
    (["--steps=bench,nonesuch"], "--steps has 'nonesuch'"),
    (["--budget_s=0"], "--budget_s=0.0 is invalid"),
    (["--table_flags=budget=paper"], "--table_flags has 'budget=paper'"),
])
def test_bad_flags_are_one_line(tmp_path, fake_mnist, capsys, argv, message):
  code = run_cli(check_lib, [f"--data_dir={fake_mnist}", f"--workdir={tmp_path / 'w'}", *argv])
  assert code == 2
  err = capsys.readouterr().err.strip()
  assert err.count("\n") == 0 and message in err
  assert not (tmp_path / "w").exists()


def test_data_dir_without_mnist_is_refused(tmp_path, capsys):
  (tmp_path / "d").mkdir()
  (tmp_path / "d" / "train-images-idx3-ubyte.gz").write_bytes(b"")
  code = run_cli(check_lib, [f"--data_dir={tmp_path / 'd'}", f"--workdir={tmp_path / 'w'}"])
  assert code == 2
  err = capsys.readouterr().err
  assert "lacks train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz" in err
  assert run_cli(check_lib, [f"--workdir={tmp_path / 'w'}"]) == 2
  assert "--data_dir is required" in capsys.readouterr().err


def test_time_limit_ends_the_step_and_what_it_started(tmp_path):
  pid_file = tmp_path / "grandchild.pid"
  code = textwrap.dedent(f"""
      import subprocess, sys, time
      p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
      open({str(pid_file)!r}, "w").write(str(p.pid))
      print("started", flush=True)
      time.sleep(120)
  """)
  t0 = time.monotonic()
  out = check_lib.run_process([sys.executable, "-c", code], 3.0, str(tmp_path / "x.log"))
  assert out["timed_out"] and time.monotonic() - t0 < 30
  assert out["stdout_lines"] == ["started"]
  grandchild = int(pid_file.read_text())
  for _ in range(50):  # the grandchild is ended too (its process group), not left running
    try:
      os.kill(grandchild, 0)
    except ProcessLookupError:
      break
    time.sleep(0.1)
  else:
    pytest.fail("the grandchild outlived the time limit")
  ok = check_lib.run_process([sys.executable, "-c", "import sys; print('error: bad thing', "
                              "file=sys.stderr); sys.exit(3)"], 30, str(tmp_path / "y.log"))
  assert ok["returncode"] == 3 and not ok["timed_out"] and ok["error"] == "error: bad thing"


def test_budget_keeps_the_later_steps_least(monkeypatch, tmp_path):
  check = check_lib.Check(str(tmp_path), "d", "c", False, 480.0,
                          ["bench", "mnist", "sweep", "table", "bfloat16"], [])
  clock = {"t": 0.0}
  monkeypatch.setattr(check, "elapsed", lambda: clock["t"])
  least = {n: l for n, (_, l) in check_lib.LIMITS.items()}
  assert check.limit("env") == 60  # env runs first: every step's least is kept after it
  assert check.limit("bench") == 150  # its cap: the others' least fits in what is left
  clock["t"] = 480.0 - sum(least[n] for n in check_lib.STEPS) - 10
  assert check.limit("env") is None  # 10 s < env's least
  clock["t"] = 300.0  # 180 s left: the table and bfloat16 keep 30 + 45
  assert check.limit("sweep") == pytest.approx(180 - least["table"] - least["bfloat16"])
  clock["t"] = 400.0  # 80 s left
  assert check.limit("sweep") is None  # 80 - 75 < the sweep's least: skipped
  assert check.limit("bfloat16") == 80.0
  clock["t"] = 450.0
  assert check.limit("bfloat16") is None


def test_epoch_summary_and_time_split(tmp_path):
  rows = ([{"phase": "pretrain", "layer": k, "epoch": e, "seconds": 5.0 if e == 1 else 1.0,
            "examples_per_s": 100.0 if e == 1 else 500.0 + k} for k in (1, 2) for e in (1, 2, 3)]
          + [{"phase": "finetune", "epoch": e, "seconds": 3.0 if e == 1 else 2.0,
              "examples_per_s": 50.0 if e == 1 else 70.0, "valid_error_pct": 9.0}
             for e in (1, 2)])
  path = tmp_path / "metrics.jsonl"
  path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"phase": "fine')  # a cut line
  ep = steps_lib.epoch_summary(str(path))
  assert ep["pretrain"] == {"epochs": 6, "seconds": 14.0, "first_epoch_overhead_s": 8.0,
                            "examples_per_s": 501.5}
  assert ep["finetune"] == {"epochs": 2, "seconds": 5.0, "first_epoch_overhead_s": 1.0,
                            "examples_per_s": 70.0}
  split = steps_lib.time_split(25.0, ep)
  assert split == {"compile_s": 9.0, "pretrain_s": 6.0, "finetune_s": 4.0, "evaluation_s": 6.0}
  assert sum(split.values()) == 25.0
  assert steps_lib.epoch_summary(str(tmp_path / "none.jsonl")) == {}


def _bench_rows(peak, da128, sweep_rate, da20_rate):
  row = lambda name, batch, models, rate, frac: {
      "name": name, "n_in": 784, "hidden": 1000, "batch": batch, "models": models,
      "examples_per_s": rate, "gflops": frac * peak, "peak_gflops": peak,
      "fraction_of_peak": frac, "device": "gpu H200"}
  return [row("da_step", 20, 1, da20_rate, 0.1), dict(row("da_step", 20, 1, 1.0, 0.1), n_in=1000),
          row("da_step", 128, 1, 9.0, da128), row("sweep_step", 20, 16, sweep_rate, 0.3)]


def _report(tiny, mnist_s=50.0, mnist_err=1.5, da128=0.6, sweep_ratio=12.0):
  alone_rate = 1000.0
  return {
      "tiny": tiny, "budget_s": 480.0, "workdir": "/w", "seconds": 300.0,
      "steps": {
          "env": {"status": "ok", "device": "gpu NVIDIA H200", "platform": "gpu",
                  "versions": {"jax": "0.11.2"}},
          "bench": {"status": "ok", "float32": {"rows": _bench_rows(5e5, da128, 16e3, 1e3)},
                    "bfloat16": {"rows": _bench_rows(5e5, da128 * 1.5, 20e3, 1e3)}},
          "mnist": {"status": "ok", "seconds": mnist_s, "test_error_pct": mnist_err,
                    "precision": "float32"},
          "bfloat16": {"status": "ok", "seconds": mnist_s / 2, "test_error_pct": mnist_err + 0.1,
                       "precision": "bfloat16"},
          "sweep": {"status": "ok", "n_models": 16, "equal_within_one_example": True,
                    "members": {"wall_s": 40.0, "epochs": {"pretrain": {
                        "examples_per_s": sweep_ratio * alone_rate}}},
                    "alone": [{"wall_s": 20.0, "epochs": {"pretrain": {
                        "examples_per_s": alone_rate}}}] * 2},
          "table": {"status": "timeout", "rows": []},
      }}


def test_summary_judges_the_targets_on_full_sizes_only():
  s = check_lib.summarize(_report(tiny=False))
  t = s["targets"]
  assert t["da_step_b128_fraction_of_float32_peak"] == {"value": 0.6, "target": ">= 0.5",
                                                       "met": True}
  assert t["mnist_preset_under_60s"]["met"] is True
  assert t["mnist_error_as_cpu"]["met"] is True and t["mnist_error_as_cpu"]["diff_pct"] == 0.05
  assert t["sweep16_b20_examples_per_s_over_one_model"]["value"] == 12.0
  assert t["sweep16_b20_examples_per_s_over_one_model"]["met"] is True
  assert s["bench"]["float32"]["sweep_over_one_model_examples_per_s"] == {"20": 16.0}
  assert s["sweep"]["one_by_one_estimate_s"] == 320.0 and s["sweep"]["speedup_over_one_by_one"] == 8.0
  assert s["bfloat16"]["against_float32"] == {"error_diff_pct": 0.1, "time_ratio": 0.5}
  assert s["ok"] is False and s["steps"]["table"] == "timeout" and "table" not in s
  bad = check_lib.summarize(_report(tiny=False, mnist_s=75.0, mnist_err=1.8, da128=0.3,
                                    sweep_ratio=4.0))["targets"]
  assert [v["met"] for v in bad.values()] == [False] * 4
  assert all(v["met"] is None for v in check_lib.summarize(_report(tiny=True))["targets"].values())


def test_summary_of_a_check_whose_steps_all_failed():
  s = check_lib.summarize({"tiny": False, "budget_s": 480.0, "workdir": "/w", "seconds": 9.0,
                           "steps": {"env": {"status": "failed", "error": "no backend"},
                                     "mnist": {"status": "skipped"}}})
  assert s["ok"] is False and s["targets"] == {} and s["device"] is None


def _processes_mentioning(text):
  """Pids of the live processes whose command line contains ``text``."""
  pids = []
  for pid in os.listdir("/proc"):
    if pid.isdigit():
      try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
          if text.encode() in f.read():
            pids.append(int(pid))
      except OSError:
        continue
  return pids


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_sigterm_ends_the_running_step_and_keeps_the_report(tmp_path, fake_mnist):
  env, _ = _shim(tmp_path)
  work = tmp_path / "check"
  proc = subprocess.Popen([sys.executable, "-m", "experiments.accelerator_check", "--tiny",
                           f"--data_dir={fake_mnist}", f"--workdir={work}", "--steps=sweep"],
                          cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
  deadline = time.monotonic() + 120
  while not (work / "logs" / "sweep.log").exists():  # the sweep's worker has started
    assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
    time.sleep(0.2)
  proc.terminate()
  _, err = proc.communicate(timeout=60)
  assert proc.returncode != 0
  report = json.loads((work / "accelerator_check.json").read_text())
  assert report["interrupted"] and not report["complete"]
  assert report["steps"]["env"]["status"] == "ok"
  for _ in range(100):
    if not _processes_mentioning(f"--workdir={work}"):
      break
    time.sleep(0.1)
  else:
    pytest.fail(f"a step outlived the check: {err[-1000:]}")
