"""Test-only fault injection: kill an entry point's process at a named point of a run.

    python tests/faults.py EVENT:COUNT[=ACTION][,...] experiments.train --dataset=... ...

runs the entry point (``python -m experiments.train ...``) in this process with a hook installed
(``install``) that acts the ``COUNT``-th time (1-based, counted from the start of this process)
the run passes ``EVENT``. Actions:

- ``kill`` (the default): SIGKILL, no cleanup, no ``finally``, no flush: a machine that died.
- ``term`` / ``int``: SIGTERM / SIGINT to this process, as a scheduler's preemption or a Ctrl-C;
  the run goes on until it reacts.
- ``full``: every later write that grows a file past 512 bytes fails (``RLIMIT_FSIZE``, EFBIG),
  as on a full disk.
- ``hold``: the run stops there, holding its workdir, until the file named by
  ``$SDAE_FAULT_HOLD`` exists; it writes that name + ``.ready`` when it starts waiting. The hook reaches every ``sdae.experiment.train_and_evaluate`` call as its
``on_event`` argument, so ``experiments.sweep`` and ``experiments.reproduce_table`` are covered.

Events: those of ``sdae.experiment.EVENTS`` (epoch_end, layer_end, finetune_epoch_end,
results_write) and the Checkpointer's ``checkpoint_write``. The last is armed when a write is
about to start and fires inside it: after orbax has written the temporary folder, before the
commit (the rename that makes a checkpoint visible).
"""

from __future__ import annotations

import functools
import os
import pathlib
import runpy
import signal
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
KNOWN = ("epoch_end", "layer_end", "finetune_epoch_end", "results_write", "checkpoint_write")
ACTIONS = ("kill", "term", "int", "full", "hold")


def parse(spec: str) -> dict[str, tuple[int, str]]:
  """``"epoch_end:2,layer_end=term"`` -> ``{"epoch_end": (2, "kill"), "layer_end": (1, "term")}``."""
  out: dict[str, tuple[int, str]] = {}
  for part in spec.split(","):
    part = part.strip()
    if not part:
      continue
    part, _, action = part.partition("=")
    event, _, count = part.partition(":")
    if event.strip() not in KNOWN:
      raise ValueError(f"unknown fault event {event!r}; accepted: {', '.join(KNOWN)}")
    if (action or "kill") not in ACTIONS:
      raise ValueError(f"unknown fault action {action!r}; accepted: {', '.join(ACTIONS)}")
    out[event.strip()] = (int(count or 1), action or "kill")
  return out


def _kill() -> None:
  os.kill(os.getpid(), signal.SIGKILL)


def _kill_inside_commit() -> None:
  """Makes the next orbax commit SIGKILL the process: the arrays are on disk in orbax's
  temporary folder, the rename has not happened. Patches orbax's private atomicity classes,
  which only this test hook may do."""
  from orbax.checkpoint._src.path import atomicity  # pylint: disable=g-import-not-at-top

  async def finalize(self, *args, **kwargs):
    del self, args, kwargs
    _kill()

  for cls in (atomicity.AtomicRenameTemporaryPath, atomicity.CommitFileTemporaryPath):
    cls.finalize = finalize


def _disk_full() -> None:
  """Later writes past 512 bytes fail with EFBIG (SIGXFSZ ignored, so the write returns the
  error instead of killing the process): a full disk as the writers see it."""
  import resource  # pylint: disable=g-import-not-at-top
  signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
  resource.setrlimit(resource.RLIMIT_FSIZE, (512, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


def _hold() -> None:
  import time  # pylint: disable=g-import-not-at-top
  release = os.environ["SDAE_FAULT_HOLD"]
  pathlib.Path(release + ".ready").write_text(str(os.getpid()))
  deadline = time.monotonic() + 300
  while not os.path.exists(release) and time.monotonic() < deadline:
    time.sleep(0.05)


def hook(armed: dict[str, tuple[int, str]]):
  """An ``on_event`` callback that acts at the armed occurrence of each event."""
  seen: dict[str, int] = {}

  def on_event(event: str) -> None:
    if event not in armed:
      return
    seen[event] = seen.get(event, 0) + 1
    count, action = armed[event]
    if seen[event] != count:
      return
    if action == "kill":
      if event == "checkpoint_write":
        _kill_inside_commit()
      else:
        _kill()
    elif action in ("term", "int"):
      os.kill(os.getpid(), signal.SIGTERM if action == "term" else signal.SIGINT)
    elif action == "full":
      _disk_full()
    elif action == "hold":
      _hold()

  return on_event


def install(spec: str) -> None:
  """Passes ``hook(parse(spec))`` as ``on_event`` to every ``train_and_evaluate`` call of this
  process (the entry points reach it as ``sdae.experiment.train_and_evaluate``)."""
  from sdae import experiment  # pylint: disable=g-import-not-at-top
  on_event = hook(parse(spec))
  real = experiment.train_and_evaluate

  @functools.wraps(real)
  def train_and_evaluate(*args, **kwargs):
    return real(*args, on_event=on_event, **kwargs)

  experiment.train_and_evaluate = train_and_evaluate


def main(argv: list[str]) -> None:
  spec, module, args = argv[1], argv[2], argv[3:]
  sys.path.insert(0, str(ROOT))
  install(spec)
  sys.argv = [module, *args]
  runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
  main(sys.argv)
