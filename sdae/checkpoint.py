"""Save, restore, resume: a thin layer over orbax-checkpoint.

A checkpoint is a pytree of arrays stored with its own structure, every array readable by name
(``state["layer0"]["kernel"]``, ``named_leaves(state)["opt/inner_state/0/trace/kernel"]``), plus
a JSON ``meta`` dict (counters, phase, anything small). ``to_state`` turns the training state
(dicts of parameters, optax states, which hold namedtuples) into nested dicts of numpy arrays
(``flax.serialization.to_state_dict``); ``from_state`` puts them back into the structure of a
template. Orbax writes each step into a temporary folder and renames it when complete, so a run
killed during a write leaves the previous checkpoint intact; the last ``keep`` checkpoints are
kept.

Damage is survived, never hidden. A checkpoint that cannot be read (a file truncated by a full
disk or an interrupted copy) is reported in one line, moved aside to ``corrupt-<step>`` in the
same folder (never deleted: it may still be of use to its owner), and the next older one is
tried; ``restore_latest`` returns None when none is readable, and ``skipped`` lists what was
moved. A write that fails (disk full, quota, permissions) raises ``CheckpointWriteError`` (one
line) after removing its temporary folder, so the previous checkpoint stays the latest.

Saves are synchronous: the state is small (an SdA-3 is ~11 MB) and a synchronous save is simple
to reason about when the process may be killed at any moment.

With several processes (``sdae.distributed``), every process calls ``save`` and
``restore_latest`` at the same points, on the same (shared) directory, with the whole arrays
(``distributed.to_host``); orbax writes numpy arrays from process 0 only and synchronises the
processes around each commit. ``due`` takes process 0's clock so that all processes agree.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import sys
import time
from typing import Any, Callable

import jax
import numpy as np

from sdae import distributed
from sdae.experiment_errors import RunError
from sdae.io import files as fileio

log = logging.getLogger("sdae")

#: Written into every checkpoint's meta; a checkpoint without it stored its arrays by index
#: (``prefix/i``), which this version does not read.
FORMAT = 2


class CheckpointFormatError(RunError):
  """A checkpoint written in a format this version does not read; ``str(e)`` is one line."""


class CheckpointWriteError(RunError):
  """A checkpoint could not be written (disk full, ...); ``str(e)`` is one line."""


def one_line(e: BaseException, limit: int = 200) -> str:
  """``e`` as a short single line: the operating system's reason first when there is one (an
  ``OSError`` in its chain, or tensorstore's "...: File too large [os_error_code='27']"), then
  the start of its message."""
  text = " ".join(str(e).split()) or type(e).__name__
  reason = None
  cause: BaseException | None = e
  while cause is not None and reason is None:
    if isinstance(cause, OSError) and cause.strerror:
      reason = cause.strerror
    cause = cause.__cause__ or cause.__context__
  m = re.search(r":\s*([^:\[]+?)\s*\[os_error_code='?(\d+)", text)
  if reason is None and m:
    reason = m.group(1)
  text = text if len(text) <= limit else text[:limit - 3] + "..."
  return f"{reason}; {type(e).__name__}: {text}" if reason else f"{type(e).__name__}: {text}"


#: Where a failing orbax write or read logs: orbax itself (absl), and asyncio's "Task exception
#: was never retrieved" for the failed tasks it drops, logged whenever they are collected.
_FAILURE_LOGGERS = ("absl", "asyncio")


@contextlib.contextmanager
def _orbax_logs_held(after_a_failure: bool):
  """Orbax's log lines (``_FAILURE_LOGGERS``) held back while the body runs, and after it when
  it raised and ``after_a_failure``."""
  loggers = [logging.getLogger(name) for name in _FAILURE_LOGGERS]
  levels = [log_.level for log_ in loggers]
  for log_ in loggers:
    log_.setLevel(logging.CRITICAL)
  failed = True
  try:
    yield
    failed = False
  finally:
    if not (failed and after_a_failure):
      for log_, level in zip(loggers, levels):
        log_.setLevel(level)


def _orbax_errors_reported_by_us():
  """Orbax logs a failing write or read (with its traceback, from its worker threads, some of
  them after the failure has been raised) before raising it; the caller reports that failure in
  one line of its own, so these log lines are held back while it runs, and after it when it
  failed (the run then stops, or reads an older checkpoint that is reported alike)."""
  return _orbax_logs_held(after_a_failure=True)


def _quiet_orbax():
  """Orbax's log lines held back while reading another run's checkpoints (``read_latest``):
  whatever it finds there is that run's business, passed over, never this run's failure."""
  return _orbax_logs_held(after_a_failure=False)


def _drop_closed_loop_callbacks() -> None:
  """Silences one known aftermath of a failed restore, for the rest of the process.

  When one array of a checkpoint cannot be read, orbax's restore raises at once and closes its
  asyncio loop while tensorstore's other reads are still in flight; as each completes, its
  callback meets the closed loop and Python reports ``RuntimeError: Event loop is closed`` with
  a traceback through ``sys.unraisablehook``, from tensorstore's threads. Nothing is lost (the
  restore has failed and is reported in one line), so exactly that error is dropped; everything
  else goes to the previous hook.
  """
  previous = sys.unraisablehook
  if getattr(previous, "_sdae_drops_closed_loop", False):
    return

  def hook(unraisable):
    if (unraisable.exc_type is RuntimeError
        and str(unraisable.exc_value) == "Event loop is closed"):
      return
    previous(unraisable)

  hook._sdae_drops_closed_loop = True  # pylint: disable=protected-access
  sys.unraisablehook = hook


def to_state(tree) -> dict[str, Any]:
  """``tree`` (dicts, optax states, namedtuples) as nested dicts of numpy arrays, keyed by name."""
  from flax import serialization  # pylint: disable=g-import-not-at-top
  return jax.tree.map(np.asarray, serialization.to_state_dict(tree))


def from_state(like, state: dict[str, Any]):
  """Inverse of ``to_state``: ``state``'s arrays in the structure of ``like`` (a template, e.g.
  from ``jax.eval_shape``), as jax arrays. Raises ValueError when the names do not match."""
  from flax import serialization  # pylint: disable=g-import-not-at-top
  return jax.tree.map(jax.numpy.asarray, serialization.from_state_dict(like, state))


def named_leaves(state: dict[str, Any]) -> dict[str, np.ndarray]:
  """Every array of a nested ``state`` dict as ``{"a/b/c": array}`` (for inspection and tests)."""
  out: dict[str, np.ndarray] = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
    out["/".join(str(getattr(k, "key", k)) for k in path)] = np.asarray(leaf)
  return out


class Checkpointer:
  """Periodic checkpoints in ``directory``: ``save`` writes when ``every_secs`` have passed since
  the last write (or when forced), ``restore_latest`` returns ``(state, meta)`` or ``None``
  (``state``: the nested dict of arrays that was saved).

  ``on_event``, if given, is called with ``"checkpoint_write"`` just before each write begins
  (after the decision to write), e.g. by tests that kill the process inside the write.
  """

  def __init__(self, directory: str, keep: int = 3, every_secs: float = 60.0,
               on_event: Callable[[str], None] | None = None):
    import orbax.checkpoint as ocp  # heavy import, only when a run checkpoints
    self._ocp = ocp
    self.directory = os.path.abspath(directory)
    self.every_secs = every_secs
    self._last = time.monotonic()
    self.seconds_saving = 0.0
    self.saves = 0
    self._on_event = on_event
    #: The checkpoints ``restore_latest`` could not read: ``{"step", "moved_to", "reason"}`` each.
    self.skipped: list[dict[str, Any]] = []
    #: The step ``restore_latest`` resumed from (None: none).
    self.restored_step: int | None = None
    self._manager = ocp.CheckpointManager(
        self.directory,
        # A write that failed or was killed leaves a temporary folder; the next run removes it
        # (one writer per workdir: sdae.io.runlock).
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=False,
                                             create=True, cleanup_tmp_directories=True))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def restore_latest(self) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """``(state, meta)`` of the newest readable checkpoint, or None when there is none.

    An unreadable checkpoint is logged in one line, moved aside (``corrupt-<step>``) and
    recorded in ``skipped``; the next older one is tried. Raises ``CheckpointFormatError`` (one
    line) for a checkpoint of an older format, which is not damage and is left in place.
    """
    ocp = self._ocp
    _drop_closed_loop_callbacks()  # before the first read: a damaged one prints during it
    for step in sorted(self._manager.all_steps(), reverse=True):
      error = None
      try:
        with _orbax_errors_reported_by_us():
          out = self._manager.restore(
              step, args=ocp.args.Composite(state=ocp.args.StandardRestore(),
                                            meta=ocp.args.JsonRestore()))
        meta = dict(out.meta)
      except Exception as e:  # pylint: disable=broad-except  (tensorstore, json, os: any damage)
        error = one_line(e)
      # Process 0's verdict holds for all: they must resume from the same step.
      if distributed.agree(error is not None):
        self._move_aside(step, error or "unreadable on process 0")
        continue
      if meta.get("checkpoint_format") != FORMAT:
        raise CheckpointFormatError(
            f"{self.directory} holds checkpoints of an older format (arrays by index, not by "
            "name) that this version cannot resume; delete that folder to start the run over, "
            "or use another --workdir")
      self.restored_step = int(step)
      return dict(out.state), meta
    return None

  def _move_aside(self, step: int, reason: str) -> None:
    """Renames checkpoint ``step`` to ``corrupt-<step>`` (``-2``, ... when taken) and tells."""
    src = os.path.join(self.directory, str(step))
    dst = os.path.join(self.directory, f"corrupt-{step}")
    n = 1
    while os.path.exists(dst):
      n += 1
      dst = os.path.join(self.directory, f"corrupt-{step}-{n}")
    if distributed.is_writer():
      os.rename(src, dst)
      log.warning("checkpoint %s cannot be read (%s); moved to %s, trying the one before it",
                  src, reason, dst)
    distributed.barrier("sdae_checkpoint_moved_aside")
    self._manager.reload()
    self.skipped.append({"step": int(step), "moved_to": dst, "reason": reason})

  def due(self) -> bool:
    """Whether ``every_secs`` have passed; with several processes, process 0's clock decides
    for all (a save is collective: every process must call it, or none)."""
    return bool(distributed.agree(time.monotonic() - self._last >= self.every_secs))

  def save(self, step: int, state: dict[str, Any], meta: dict[str, Any],
           force: bool = False) -> bool:
    """Writes checkpoint ``step`` (``state``: nested dicts of numpy arrays, see ``to_state``)
    if forced or due; returns whether it wrote."""
    if not (force or self.due()):
      return False
    if self._manager.latest_step() == step:
      return False
    start = time.monotonic()
    ocp = self._ocp
    if self._on_event is not None:
      self._on_event("checkpoint_write")
    meta = dict(meta, checkpoint_format=FORMAT)
    try:
      with _orbax_errors_reported_by_us():
        self._manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                         meta=ocp.args.JsonSave(meta)))
        self._manager.wait_until_finished()
    except Exception as e:  # pylint: disable=broad-except  (disk full, quota, permissions, ...)
      self._remove_partial(step)
      before = [s for s in self._manager.all_steps() if s != step]
      kept = (f"the previous checkpoint (step {max(before)}) is intact" if before
              else "no earlier checkpoint exists")
      raise CheckpointWriteError(
          f"cannot write checkpoint {step} in {self.directory} ({one_line(e)}); {kept}; free "
          "space (or fix the folder) and rerun the same command to resume") from None
    self._last = time.monotonic()
    self.seconds_saving += self._last - start
    self.saves += 1
    return True

  def _remove_partial(self, step: int) -> None:
    """Removes what a failed write of ``step`` left: orbax's temporary folder, or the step's
    folder when the failure came after the rename."""
    with contextlib.suppress(Exception):  # orbax's writer threads may still be at work
      with _orbax_errors_reported_by_us():
        self._manager.wait_until_finished()
    if distributed.is_writer():
      for name in os.listdir(self.directory):
        if name == str(step) or name.startswith(f"{step}.orbax-checkpoint-tmp"):
          shutil.rmtree(os.path.join(self.directory, name), ignore_errors=True)
    self._manager.reload()

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()


def read_latest(directory: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
  """``(state, meta)`` of the newest readable checkpoint in another run's ``directory``, read
  only: nothing is moved aside, removed or created there (a damaged checkpoint is passed over,
  the one before it tried). None when none is readable or the folder is not there."""
  if not os.path.isdir(directory):
    return None
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  try:
    with _quiet_orbax():  # its notes that a read-only folder is read only, too
      manager = ocp.CheckpointManager(
          os.path.abspath(directory),
          options=ocp.CheckpointManagerOptions(read_only=True, create=False,
                                               enable_async_checkpointing=False))
  except Exception:  # pylint: disable=broad-except  (not a checkpoint folder)
    return None
  try:
    for step in sorted(manager.all_steps(), reverse=True):
      try:
        with _quiet_orbax():
          out = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(),
                                                              meta=ocp.args.JsonRestore()))
        meta = dict(out.meta)
      except Exception:  # pylint: disable=broad-except  (any damage: try the one before)
        continue
      if meta.get("checkpoint_format") == FORMAT:
        return dict(out.state), meta
    return None
  finally:
    manager.close()


def write_json_atomic(path: str, obj: Any) -> None:
  """Writes ``obj`` as JSON to ``path`` through a temporary file and a rename (umask's mode)."""
  fileio.write_json(path, obj)
