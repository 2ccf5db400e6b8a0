"""One writer per workdir: an advisory lock held for a whole run.

A scheduler's retry, or a user launching the same command again while the first still runs,
would otherwise have two processes writing the same checkpoints (orbax's temporary folders
collide and both die). ``exclusive(workdir)`` takes ``fcntl.flock`` on ``workdir/.lock`` and
holds it until the run ends; a second process gets ``WorkdirBusyError`` (one line naming the
holder's pid, host and start time, exit status 2) and touches nothing. An flock dies with the
process that held it (killed or not), so a lock left by a dead run never blocks the next one.

The lock is re-entrant within a process (an entry point holds its top workdir while the driver
takes the same folder again), and with several processes only process 0 (the writer) takes it.
The lock file stays in place: removing it on release would race with a process opening it.
Linux's flock works on local disks and on NFS (where the kernel maps it to a byte-range lock).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import socket
from typing import Iterator

from sdae import distributed
from sdae.experiment_errors import RunError

LOCK_FILE = ".lock"

# realpath of the folder -> (open lock file, depth): the locks this process holds.
_held: dict[str, list] = {}


class WorkdirBusyError(RunError):
  """Another process holds the workdir; ``str(e)`` is one line. Bad input: exit status 2."""

  exit_status = 2


def _holder(path: str) -> str:
  """``"pid 123 on host h since 2026-12-06T14:00:00Z"``, or what can be told of it."""
  try:
    with open(path) as f:
      info = json.load(f)
    return f"pid {info['pid']} on host {info['host']} since {info['since']}"
  except (OSError, ValueError, KeyError, TypeError):
    return "another process (its pid is not yet written)"


@contextlib.contextmanager
def exclusive(workdir: str | None) -> Iterator[None]:
  """Holds ``workdir``'s lock for the ``with`` block (creating the folder); ``None``: no-op.

  Raises ``WorkdirBusyError`` at once (never waits) when another process holds it.
  """
  if workdir is None or not distributed.is_writer():
    yield
    return
  import fcntl  # pylint: disable=g-import-not-at-top  (POSIX only; imported where used)
  os.makedirs(workdir, exist_ok=True)
  key = os.path.realpath(workdir)
  if key in _held:  # this process holds it already
    _held[key][1] += 1
    try:
      yield
    finally:
      _held[key][1] -= 1
    return
  path = os.path.join(workdir, LOCK_FILE)
  f = open(path, "a+")  # never truncates: the holder's line stays readable
  try:
    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    f.close()
    raise WorkdirBusyError(
        f"--workdir={workdir} is in use by {_holder(path)}; wait for that run to finish (or "
        "stop it), or use another --workdir") from None
  except BaseException:
    f.close()
    raise
  since = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
  f.seek(0)
  f.truncate()
  f.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": since}) + "\n")
  f.flush()
  _held[key] = [f, 1]
  try:
    yield
  finally:
    _held[key][1] -= 1
    if _held[key][1] == 0:
      del _held[key]
      fcntl.flock(f, fcntl.LOCK_UN)
      f.close()
