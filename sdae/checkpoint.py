"""Save, restore, resume: a thin layer over orbax-checkpoint.

A checkpoint is a pytree of arrays stored with its own structure, every array readable by name
(``state["layer0"]["kernel"]``, ``named_leaves(state)["opt/inner_state/0/trace/kernel"]``), plus
a JSON ``meta`` dict (counters, phase, anything small). ``to_state`` turns the training state
(dicts of parameters, optax states, which hold namedtuples) into nested dicts of numpy arrays
(``flax.serialization.to_state_dict``); ``from_state`` puts them back into the structure of a
template. Orbax writes each step into a temporary folder and renames it when complete, so a run
killed during a write leaves the previous checkpoint intact; the last ``keep`` checkpoints are
kept.

Saves are synchronous: the state is small (an SdA-3 is ~11 MB) and a synchronous save is simple
to reason about when the process may be killed at any moment.

With several processes (``sdae.distributed``), every process calls ``save`` and
``restore_latest`` at the same points, on the same (shared) directory, with the whole arrays
(``distributed.to_host``); orbax writes numpy arrays from process 0 only and synchronises the
processes around each commit. ``due`` takes process 0's clock so that all processes agree.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

import jax
import numpy as np

from sdae import distributed
from sdae import fileio
from sdae.experiment_errors import RunError

#: Written into every checkpoint's meta; a checkpoint without it stored its arrays by index
#: (``prefix/i``), which this version does not read.
FORMAT = 2


class CheckpointFormatError(RunError):
  """A checkpoint written in a format this version does not read; ``str(e)`` is one line."""


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
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=False,
                                             create=True))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def restore_latest(self) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """``(state, meta)`` of the latest checkpoint, or None when there is none. Raises
    ``CheckpointFormatError`` (one line) for a checkpoint of an older format."""
    step = self._manager.latest_step()
    if step is None:
      return None
    ocp = self._ocp
    out = self._manager.restore(
        step, args=ocp.args.Composite(state=ocp.args.StandardRestore(),
                                      meta=ocp.args.JsonRestore()))
    meta = dict(out.meta)
    if meta.get("checkpoint_format") != FORMAT:
      raise CheckpointFormatError(
          f"{self.directory} holds checkpoints of an older format (arrays by index, not by "
          "name) that this version cannot resume; delete that folder to start the run over, or "
          "use another --workdir")
    return dict(out.state), meta

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
    self._manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                     meta=ocp.args.JsonSave(meta)))
    self._manager.wait_until_finished()
    self._last = time.monotonic()
    self.seconds_saving += self._last - start
    self.saves += 1
    return True

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()


def write_json_atomic(path: str, obj: Any) -> None:
  """Writes ``obj`` as JSON to ``path`` through a temporary file and a rename (umask's mode)."""
  fileio.write_json(path, obj)
