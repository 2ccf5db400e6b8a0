"""What every entry point shares: one-line errors, list-flag parsing, logging, JAX settings.

Bad input never produces a traceback: flag-parsing errors and the library's user errors
(``ValueError`` subclasses raised at the boundary, ``RunError``) are printed as one line on
stderr and the process exits with status 2 (bad input, a busy or damaged workdir), 1 (a run
that could not go on, an output that could not be written) or 128 + N (stopped by signal N after
saving: 143 for SIGTERM, 130 for SIGINT).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Callable, Sequence

from absl import app
from absl import flags


class UsageError(ValueError):
  """A bad flag value; the message is one line."""


def fail(message: str, status: int = 2) -> None:
  """Prints ``message`` as one line on stderr and exits with ``status``."""
  line = " ".join(str(message).split())
  print(f"error: {line}", file=sys.stderr, flush=True)
  sys.exit(status)


def _parse_flags(argv: list[str]) -> list[str]:
  try:
    return flags.FLAGS(argv)
  except BrokenPipeError:  # --help piped into a pager or `head` that closed early
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(1)
  except flags.UnrecognizedFlagError as e:
    fail(str(e) if "Did you mean" in str(e) else f"{e}; run with --helpfull for the accepted flags")
  except flags.IllegalFlagValueError as e:
    name = str(e).partition("--")[2].partition("=")[0]
    kind = flags.FLAGS[name].flag_type() if name in flags.FLAGS else None
    accepted = {"int": "an integer", "float": "a number", "bool": "true or false"}.get(kind)
    fail(f"{e}; accepted: {accepted}" if accepted else str(e))
  except flags.Error as e:
    fail(str(e))
  return []  # unreachable


def summary_on_stdout(stdout=None, stderr=None) -> bool:
  """Whether an entry point prints its closing line on stdout: not when stdout and stderr are
  both a terminal, where the run's summary (on stderr) has just shown the same result. Piped or
  redirected, stdout keeps its line for scripts."""
  stdout = sys.stdout if stdout is None else stdout
  stderr = sys.stderr if stderr is None else stderr
  def tty(stream) -> bool:
    return bool(getattr(stream, "isatty", None) and stream.isatty())

  return not (tty(stdout) and tty(stderr))


def cpu_device_count(requested: int | None = None) -> int:
  """CPU devices the entry points ask XLA for: ``requested`` (``--cpu_devices``), else this
  process's cores.

  One XLA:CPU device per core lets a sweep's member axis be split over the cores (each core
  trains its share of the members concurrently, their weights in its own cache): 1.34x the
  8-model minibatch-20 sweep on the 2-core box (notes/perf.md, "One CPU device per core"). A single model still runs on device 0 and its products still use every core.
  """
  if requested is not None:
    return check_cpu_devices(requested)
  try:
    return max(1, len(os.sched_getaffinity(0)))
  except AttributeError:  # not on Linux
    return max(1, os.cpu_count() or 1)


def check_cpu_devices(value: int | None) -> int | None:
  """``--cpu_devices`` checked: None (one per core) or a positive integer."""
  if value is not None and value < 1:
    raise UsageError(f"--cpu_devices={value} is invalid; accepted: a positive integer (unset: "
                     "one per core)")
  return value


def use_cpu_cores(requested: int | None = None) -> None:
  """Sets ``--xla_force_host_platform_device_count`` (``cpu_device_count``) unless XLA_FLAGS
  already has it. Must run before JAX starts its CPU backend; GPU and TPU runs are unaffected."""
  flag = "--xla_force_host_platform_device_count"
  current = os.environ.get("XLA_FLAGS", "")
  if flag in current:
    return
  os.environ["XLA_FLAGS"] = f"{current} {flag}={cpu_device_count(requested)}".strip()


def quiet_libraries() -> None:
  """Library chatter off: absl shows INFO records of every logger, and matplotlib logs
  "generated new fontManager" at INFO the first time it runs on a machine."""
  for name in ("matplotlib", "PIL"):
    logging.getLogger(name).setLevel(logging.WARNING)


def setup_jax(cpu_devices: int | None = None) -> None:
  """One CPU device per core, or ``cpu_devices`` (``use_cpu_cores``), the persistent compilation
  cache (repeat runs skip compilation) and quiet library logs. Call before any JAX computation."""
  use_cpu_cores(cpu_devices)
  import jax
  from sdae.data import cache as data_cache
  # Beside the datasets (SDAE_CACHE_DIR moves both); SDAE_JAX_CACHE=0 turns it off.
  cache = os.environ.get("SDAE_JAX_CACHE", os.path.join(data_cache.cache_dir(), "jax"))
  if cache and cache != "0":
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
  quiet_libraries()
  logging.getLogger("absl").setLevel(logging.WARNING)
  logging.getLogger("jax").setLevel(logging.WARNING)  # e.g. INFO "Unable to initialize backend"
  handler = logging.StreamHandler(sys.stderr)
  handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
  log = logging.getLogger("sdae")
  if not log.handlers:
    log.addHandler(handler)
  log.setLevel(logging.INFO)
  log.propagate = False


#: The multi-process settings: flag name -> the environment variable a launcher may set instead
#: (docs/multihost.md). A flag given on the command line wins over its variable.
DISTRIBUTED_FLAGS = {"coordinator": "SDAE_COORDINATOR", "num_processes": "SDAE_NUM_PROCESSES",
                     "process_id": "SDAE_PROCESS_ID", "local_device_ids": "SDAE_LOCAL_DEVICE_IDS",
                     "distributed": "SDAE_DISTRIBUTED"}


def _setting(name: str, environ, given) -> tuple[str | None, str]:
  """(the raw value of setting ``name``, how to name it in an error): the flag when given, else
  its environment variable; None and both names when neither is set."""
  value = (given or {}).get(name)
  if value is not None:
    if isinstance(value, (list, tuple)):
      value = ",".join(map(str, value))
    return str(value).strip() or None, f"--{name}"
  var = DISTRIBUTED_FLAGS[name]
  raw = environ.get(var, "").strip()
  return (raw or None), (var if raw else f"--{name} (or {var})")


def _int_setting(name: str, environ, given) -> tuple[int | None, str]:
  raw, label = _setting(name, environ, given)
  if raw is None:
    return None, label
  try:
    return int(raw), label
  except ValueError:
    raise UsageError(f"{label}={raw!r} is invalid; accepted: an integer") from None


def distributed_settings(environ=None, given: dict | None = None) -> dict:
  """The arguments of ``sdae.distributed.maybe_initialize`` (docs/multihost.md) from the
  entry point's flags (``given``: flag name -> value, None where not given), each falling back
  to the environment variable a launcher sets (``DISTRIBUTED_FLAGS``):

      --coordinator=10.0.0.1:7777   SDAE_COORDINATOR       address of process 0 (host:port)
      --num_processes=2             SDAE_NUM_PROCESSES     how many processes
      --process_id=0                SDAE_PROCESS_ID        this process's index, 0 .. N-1
      --local_device_ids=0,1        SDAE_LOCAL_DEVICE_IDS  optional: this process's devices

  ``--distributed`` (``SDAE_DISTRIBUTED=1``, or JAX's own ``JAX_COORDINATOR_ADDRESS``) asks JAX
  to detect the cluster itself (Slurm, Open MPI, Cloud TPU). Nothing set: ``{}`` (one process).
  Inconsistent settings are a ``UsageError`` naming the flags or variables they came from.
  """
  environ = os.environ if environ is None else environ
  coordinator, c_label = _setting("coordinator", environ, given)
  n, n_label = _int_setting("num_processes", environ, given)
  pid, p_label = _int_setting("process_id", environ, given)
  ids, ids_label = _setting("local_device_ids", environ, given)
  auto_raw, _ = _setting("distributed", environ, given)
  auto = (auto_raw or "").lower() in ("1", "true") or bool(environ.get("JAX_COORDINATOR_ADDRESS"))
  if coordinator is None and not auto:
    if n not in (None, 1) or pid not in (None, 0):
      given_ = " and ".join(f"{lab}={v}" for lab, v in ((n_label, n), (p_label, pid))
                            if v is not None)
      raise UsageError(f"{given_} {'are' if ' and ' in given_ else 'is'} set but {c_label} is "
                       "not; accepted: all three (host:port of process 0, N, 0..N-1) or none")
    return {}
  if coordinator is not None:
    if n is None or pid is None:
      raise UsageError(f"{c_label}={coordinator} needs {n_label} and {p_label} as well; "
                       "accepted: all three (host:port of process 0, N, 0..N-1) or none")
    if not 0 <= pid < n:
      raise UsageError(f"{p_label}={pid} is invalid; accepted: 0..{n - 1}")
  out: dict = {"coordinator": coordinator, "num_processes": n, "process_id": pid,
               "auto": coordinator is None}
  if ids:
    try:
      out["local_device_ids"] = [int(v) for v in ids.split(",")]
    except ValueError:
      raise UsageError(f"{ids_label}={ids!r} is invalid; accepted: comma-separated "
                       "integers, e.g. 0,1") from None
  return out


def init_distributed(fv=None) -> bool:
  """``sdae.distributed.maybe_initialize`` with the ``distributed_settings`` of the entry
  point's flags ``fv`` (and the environment), and one-line errors: the one place where the
  entry points join several processes.

  Call after the flags are validated and before any JAX computation. Bad settings exit with
  status 2; a coordinator that cannot be reached (``jax.distributed.initialize`` gives up after
  its timeout) with status 1. Returns whether this process is one of several.
  """
  given = None if fv is None else {k: getattr(fv, k, None) for k in DISTRIBUTED_FLAGS}
  settings = distributed_settings(given=given)
  if not settings:
    return False
  from sdae import distributed
  from sdae.experiment_errors import RunError
  try:
    return distributed.maybe_initialize(**settings)
  except ValueError as e:
    raise UsageError(str(e)) from None
  except RuntimeError as e:
    raise RunError(f"jax.distributed.initialize failed: {e}") from None


def run(main: Callable[[Sequence[str]], None]) -> None:
  """``app.run`` with one-line errors for flags and for the library's user errors."""

  def wrapped(argv):
    if len(argv) > 1:
      fail(f"unexpected arguments {' '.join(argv[1:])!r}; all settings are --flags")
    from sdae.config import ConfigError  # light imports
    from sdae.experiment_errors import RunError
    try:
      from sdae.data import DataError
    except ImportError:  # pragma: no cover
      DataError = ConfigError
    try:
      main(argv)
    except (UsageError, ConfigError, DataError) as e:
      fail(str(e), 2)
    except RunError as e:  # a busy or damaged workdir: 2; preempted: 128 + signal; else 1
      fail(str(e), getattr(e, "exit_status", 1))
    except KeyboardInterrupt:  # a second Ctrl-C: the last checkpoint stays
      fail("interrupted (SIGINT); what was saved is kept: rerun the same command to resume", 130)
    except OSError as e:  # an output that could not be written (disk full, permissions)
      where = f"{e.filename}: " if getattr(e, "filename", None) else ""
      fail(f"{where}{e.strerror or e}; what was written before it is intact: free space (or "
           "fix the folder) and rerun the same command to resume", 1)

  app.run(wrapped, flags_parser=_parse_flags)


def check_output_dir(flag: str, path: str) -> str:
  """Refuses a ``--flag`` folder that cannot be written, before any data is read or trained.

  The folder itself may not exist yet (the run creates it); then its nearest existing ancestor
  must be a writable folder. Nothing is created here.
  """
  probe = os.path.abspath(path)
  while not os.path.exists(probe):
    parent = os.path.dirname(probe)
    if parent == probe:
      break
    probe = parent
  if not os.path.isdir(probe):
    where = "" if probe == os.path.abspath(path) else f" (its parent {probe} is a file)"
    raise UsageError(f"--{flag}={path} is not a folder{where}; expected a folder for the "
                     "run's outputs")
  if not os.access(probe, os.W_OK | os.X_OK):
    raise UsageError(f"--{flag}={path}: {probe} is not writable; expected a folder this user "
                     "can write to")
  return path


def _parse_list(flag: str, values: Sequence[str] | None, cast, kind: str, example: str):
  """Parses a list flag with ``cast``, naming the flag and value on error."""
  if values is None:
    return None
  try:
    out = tuple(cast(v) for v in values)
  except ValueError:
    raise UsageError(f"--{flag}={','.join(values)} is malformed; accepted: comma-separated "
                     f"{kind}, e.g. {example}") from None
  if not out:
    raise UsageError(f"--{flag} is empty; accepted: comma-separated {kind}")
  return out


def int_list(flag: str, values: Sequence[str] | None) -> tuple[int, ...] | None:
  return _parse_list(flag, values, int, "integers", "1000,1000,1000")


def float_list(flag: str, values: Sequence[str] | None) -> tuple[float, ...] | None:
  return _parse_list(flag, values, float, "numbers", "0,0.1,0.25")
