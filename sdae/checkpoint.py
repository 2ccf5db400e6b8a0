"""Save, restore, resume: a thin layer over orbax-checkpoint.

A checkpoint is a flat ``{name: array}`` dict (pytrees flattened with ``flatten``) plus a JSON
``meta`` dict (counters, phase, anything small). Orbax writes each step into a temporary folder
and renames it when complete, so a run killed during a write leaves the previous checkpoint
intact; the last ``keep`` checkpoints are kept.

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
from typing import Any

import jax
import numpy as np

from sdae import distributed
from sdae import faults
from sdae import fileio


def flatten(tree, prefix: str) -> dict[str, np.ndarray]:
  """``{prefix/i: leaf}`` for the leaves of ``tree`` in ``jax.tree.leaves`` order."""
  return {f"{prefix}/{i}": np.asarray(leaf) for i, leaf in enumerate(jax.tree.leaves(tree))}


def unflatten(like, arrays: dict[str, np.ndarray], prefix: str):
  """Inverse of ``flatten``: leaves ``prefix/i`` put into the structure of ``like``."""
  treedef = jax.tree.structure(like)
  leaves = [arrays[f"{prefix}/{i}"] for i in range(treedef.num_leaves)]
  return jax.tree.unflatten(treedef, [jax.numpy.asarray(l) for l in leaves])


class Checkpointer:
  """Periodic checkpoints in ``directory``: ``save`` writes when ``every_secs`` have passed since
  the last write (or when forced), ``restore_latest`` returns ``(arrays, meta)`` or ``None``."""

  def __init__(self, directory: str, keep: int = 3, every_secs: float = 60.0):
    import orbax.checkpoint as ocp  # heavy import, only when a run checkpoints
    self._ocp = ocp
    self.directory = os.path.abspath(directory)
    self.every_secs = every_secs
    self._last = time.monotonic()
    self.seconds_saving = 0.0
    self.saves = 0
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=False,
                                             create=True))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def restore_latest(self) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    step = self._manager.latest_step()
    if step is None:
      return None
    ocp = self._ocp
    out = self._manager.restore(
        step, args=ocp.args.Composite(state=ocp.args.StandardRestore(),
                                      meta=ocp.args.JsonRestore()))
    return dict(out.state), dict(out.meta)

  def due(self) -> bool:
    """Whether ``every_secs`` have passed; with several processes, process 0's clock decides
    for all (a save is collective: every process must call it, or none)."""
    return bool(distributed.agree(time.monotonic() - self._last >= self.every_secs))

  def save(self, step: int, arrays: dict[str, np.ndarray], meta: dict[str, Any],
           force: bool = False) -> bool:
    """Writes checkpoint ``step`` if forced or due; returns whether it wrote."""
    if not (force or self.due()):
      return False
    if self._manager.latest_step() == step:
      return False
    start = time.monotonic()
    ocp = self._ocp
    faults.maybe_fail_in_commit("checkpoint_write")
    self._manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(arrays),
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
