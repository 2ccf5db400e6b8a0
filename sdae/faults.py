"""Test-only fault injection: kill the process at a named point of a run.

The fault-injection suite (``tests/test_faults.py``) starts an entry point as a subprocess with

    SDAE_FAULT_AT=<event>:<count>[,<event>:<count>...]

and the process SIGKILLs itself (no cleanup, no ``finally``, no flush: as a preempted machine)
the ``count``-th time (1-based, counted from the start of this process) that ``maybe_fail(event)``
is reached. Without the variable every call is a dictionary lookup and nothing else.

Events (where the library calls ``maybe_fail``):

  epoch_end           a pretraining epoch finished, before its checkpoint       (sdae.experiment)
  layer_end           a layer finished and its boundary checkpoint was written  (sdae.experiment)
  finetune_epoch_end  a fine-tuning epoch finished, before its checkpoint       (sdae.experiment)
  checkpoint_write    inside a checkpoint write: the arrays are on disk in orbax's temporary
                      folder, the commit (rename) has not happened              (sdae.checkpoint)
  results_write       everything done, just before results.json is written      (sdae.experiment)
"""

from __future__ import annotations

import os
import signal

ENV = "SDAE_FAULT_AT"


def _parse(spec: str | None) -> dict[str, int]:
  out: dict[str, int] = {}
  for part in (spec or "").split(","):
    part = part.strip()
    if not part:
      continue
    event, _, count = part.partition(":")
    out[event.strip()] = int(count or 1)
  return out


_ARMED = _parse(os.environ.get(ENV))
_SEEN: dict[str, int] = {}


def _kill() -> None:
  os.kill(os.getpid(), signal.SIGKILL)


def _tick(event: str) -> bool:
  """Counts one ``event``; whether this is the armed occurrence."""
  if event not in _ARMED:
    return False
  _SEEN[event] = _SEEN.get(event, 0) + 1
  return _SEEN[event] == _ARMED[event]


def maybe_fail(event: str) -> None:
  """SIGKILLs this process if ``event`` has now been reached its armed number of times."""
  if _tick(event):
    _kill()


def maybe_fail_in_commit(event: str) -> None:
  """Counts one ``event`` (a checkpoint write about to start); when it is the armed one, the
  process is SIGKILLed inside that write, after orbax has written the temporary folder and
  before it commits it (the rename that makes a checkpoint visible)."""
  if not _tick(event):
    return
  from orbax.checkpoint._src.path import atomicity  # pylint: disable=g-import-not-at-top

  async def finalize(self, *args, **kwargs):
    del self, args, kwargs
    _kill()

  for cls in (atomicity.AtomicRenameTemporaryPath, atomicity.CommitFileTemporaryPath):
    cls.finalize = finalize
