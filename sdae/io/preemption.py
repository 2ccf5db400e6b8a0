"""Preemption: on SIGTERM or SIGINT a run saves where it stands and exits, losing nothing.

SLURM and Kubernetes preempt a job with SIGTERM and kill it a grace period later (30 s by
default in both); Ctrl-C sends SIGINT. While ``handling()`` is active (the driver holds it for a
whole run) either signal only records a request. The training loops call ``stop_now()`` at the
end of every epoch (an epoch is one compiled program and cannot be cut short; MNIST's take ~4 s
on a 2-core CPU): when it answers True the driver writes a checkpoint and raises ``Preempted``,
whose one-line message says where the run stood, and the entry point exits with the shell's
status for the signal (128 + its number: 143 for SIGTERM, 130 for SIGINT). A rerun of the same
command resumes from that checkpoint, bit for bit as an uninterrupted run.

A second signal while the first is pending is not deferred: SIGTERM kills the process at once
and SIGINT raises ``KeyboardInterrupt`` (the last checkpoint stays).

With several processes every process must save at the same epoch, or none (a save is a
collective). Each process records its own signals as above, and at every epoch end the processes
share their flags in one JAX collective (``multihost_utils.process_allgather`` of one bool, a few
microseconds against an epoch): all stop when any was signalled. JAX's own preemption sync point
(``multihost_utils.reached_preemption_sync_point``, which orbax's ``reached_preemption`` wraps)
was tried first and lost a race on short epochs: it picks a safe step from the steps the
processes report when they learn of the notice, and processes already past that step never reach
it, so a two-process test sweep with 0.1 s epochs ran to its end unsaved on one machine and
stopped on another. Its notifier is also replaced by the handler here (one C-level SIGTERM
handler per process).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

from sdae import distributed
from sdae.experiment_errors import RunError

SIGNALS = (signal.SIGTERM, signal.SIGINT)

_pending: int | None = None   # the signal received and not yet acted on
_depth = 0                    # nesting of ``handling()``


class Preempted(RunError):
  """The run stopped on a signal after saving; ``exit_status`` is 128 + the signal's number."""

  def __init__(self, message: str, signum: int):
    super().__init__(message)
    self.signum = signum
    self.exit_status = 128 + int(signum)


def signal_name(signum: int) -> str:
  try:
    return signal.Signals(signum).name
  except ValueError:
    return f"signal {signum}"


def _on_signal(signum, frame) -> None:
  del frame
  global _pending
  if _pending is None:
    _pending = signum
    return
  # Asked twice: stop now.
  signal.signal(signum, signal.SIG_DFL)
  if signum == signal.SIGINT:
    raise KeyboardInterrupt
  signal.raise_signal(signum)


@contextlib.contextmanager
def handling() -> Iterator[None]:
  """Defers SIGTERM and SIGINT to ``stop_now`` for the ``with`` block (re-entrant). Outside the
  main thread (where Python cannot install handlers) it does nothing."""
  global _depth
  if _depth or threading.current_thread() is not threading.main_thread():
    _depth += 1
    try:
      yield
    finally:
      _depth -= 1
    return
  previous = {s: signal.signal(s, _on_signal) for s in SIGNALS}
  _depth = 1
  try:
    yield
  finally:
    _depth = 0
    for s, h in previous.items():
      signal.signal(s, h)


def pending() -> int | None:
  """The signal received and not yet acted on (None: none), in this process."""
  return _pending


def stop_now() -> bool:
  """Whether the run should save and stop here: a signal is pending in this process or, with
  several processes, in any of them. Every process calls it at the same points (the end of each
  epoch, a collective with several) and all answer alike."""
  if distributed.process_count() == 1:
    return _pending is not None
  import numpy as np  # pylint: disable=g-import-not-at-top
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  flags = multihost_utils.process_allgather(np.asarray(_pending is not None))
  return bool(np.any(flags))


def acted_on() -> int:
  """The signal to report as the reason for stopping (SIGTERM when it came to another process)."""
  return signal.SIGTERM if _pending is None else _pending


def reset() -> None:
  """Forgets a pending signal (tests)."""
  global _pending
  _pending = None
