"""Test-only fault injection: kill an entry point's process at a named point of a run.

    python tests/faults.py EVENT:COUNT[,EVENT:COUNT...] experiments.train --dataset=... ...

runs the entry point (``python -m experiments.train ...``) in this process with a hook installed
(``install``) that SIGKILLs the process (no cleanup, no ``finally``, no flush: as a preempted
machine) the ``COUNT``-th time (1-based, counted from the start of this process) the run passes
``EVENT``. The hook reaches every ``sdae.experiment.train_and_evaluate`` call as its
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


def parse(spec: str) -> dict[str, int]:
  """``"epoch_end:2,layer_end"`` -> ``{"epoch_end": 2, "layer_end": 1}``."""
  out: dict[str, int] = {}
  for part in spec.split(","):
    part = part.strip()
    if not part:
      continue
    event, _, count = part.partition(":")
    if event.strip() not in KNOWN:
      raise ValueError(f"unknown fault event {event!r}; accepted: {', '.join(KNOWN)}")
    out[event.strip()] = int(count or 1)
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


def hook(armed: dict[str, int]):
  """An ``on_event`` callback that kills the process at the armed occurrence of each event."""
  seen: dict[str, int] = {}

  def on_event(event: str) -> None:
    if event not in armed:
      return
    seen[event] = seen.get(event, 0) + 1
    if seen[event] != armed[event]:
      return
    if event == "checkpoint_write":
      _kill_inside_commit()
    else:
      _kill()

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
