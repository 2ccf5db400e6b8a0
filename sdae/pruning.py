"""Pruning a search's losing models early: Optuna's median rule over fine-tuning epochs.

A table cell's grid trains as groups of members, one group after another
(``sdae.reproduce.table``). Most of a grid's models lose, and most of their cost is fine-tuning
epochs. With pruning, a member of a later group stops fine-tuning once its best validation
error so far is worse than the median, at the same epoch, of the models of the cell's earlier
groups that trained to the end (``optuna.pruners.MedianPruner``: the rule of Golovin et al.'s
Vizier, "median stopping"). A stopped member is frozen as early stopping freezes it: it keeps its
best epoch's parameters, is evaluated and can still be selected, on validation error alone; on
CPU its remaining epochs are skipped (``sdae.finetune.compiled_finetune_epoch``).

Only validation errors enter the rule: the references' per-epoch validation error
(``metrics.jsonl``) and each member's best so far (the early-stopping state, which a checkpoint
holds, so a resumed run decides as an uninterrupted one). The first group of a cell has no
references and is never pruned; nor is any member before it has trained the first
``WARMUP_FRACTION`` of the fine-tuning epochs, nor before ``N_STARTUP`` reference models have
finished.

| rule     | meaning                                                                   |
| -------- | ------------------------------------------------------------------------- |
| none     | every model trains to its own early stopping (the cpu budget's default)   |
| median   | Optuna's ``MedianPruner`` against the cell's earlier groups (the paper's) |
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Sequence

import numpy as np

from sdae.io import files

RULES = ("none", "median")
#: Finished reference models before any member is pruned (Optuna's default).
N_STARTUP = 5
#: No member is pruned before it has trained this fraction of the fine-tuning epochs: early
#: validation errors say little about the end, least of all on rect's 200 validation images.
WARMUP_FRACTION = 0.2


def check_rule(rule: str) -> str:
  """``rule`` when it is a pruning rule; ValueError (one line) naming the accepted ones else."""
  if rule not in RULES:
    raise ValueError(f"--prune={rule!r} is invalid; accepted: {', '.join(RULES)}")
  return rule


@dataclasses.dataclass(frozen=True)
class Pruning:
  """How a members run prunes: ``rule`` (``RULES``) against the finished runs ``references``
  (workdirs of the same table cell, trained before it on the same data)."""

  rule: str = "none"
  references: tuple[str, ...] = ()


def reference_curves(workdirs: Sequence[str]) -> list[dict[int, float]]:
  """Per member of each finished run in ``workdirs`` that trained to its end (neither pruned
  nor diverged): {fine-tuning epoch (from 1): validation error %} up to the epoch it stopped
  (``epochs_run``; a run written before it was recorded: every epoch logged). Runs without a
  results.json are skipped."""
  curves = []
  for w in workdirs:
    res = files.read_json(os.path.join(w, "results.json"), if_damaged="not a pruning reference")
    members = res.get("members") if isinstance(res, dict) else None
    if not isinstance(members, list):
      continue
    rows = [r for r in files.read_metrics(os.path.join(w, "metrics.jsonl"))
            if r.get("phase") == "finetune" and isinstance(r.get("valid_error_pct"), list)]
    for i, m in enumerate(members):
      if m.get("diverged") or m.get("pruned_at_epoch") is not None:
        continue
      last = m.get("epochs_run") or math.inf
      curve = {int(r["epoch"]): float(r["valid_error_pct"][i]) for r in rows
               if int(r["epoch"]) <= last and i < len(r["valid_error_pct"])
               and r["valid_error_pct"][i] is not None}
      if curve:
        curves.append(curve)
  return curves


class MedianPruner:
  """Optuna's ``MedianPruner`` over a run's members: ``prune(epoch, best_pct, running)`` says
  which running members to stop after fine-tuning epoch ``epoch`` (from 1), given each member's
  best validation error so far (%, [M])."""

  def __init__(self, references: Sequence[dict[int, float]], n_members: int,
               finetune_epochs: int):
    import optuna  # pylint: disable=g-import-not-at-top  (only a pruned search needs it)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    self.n_references = len(references)
    self.warmup = max(1, math.ceil(WARMUP_FRACTION * finetune_epochs))
    self._study = optuna.create_study(
        direction="minimize",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=N_STARTUP,
                                           n_warmup_steps=self.warmup))
    for curve in references:
      self._study.add_trial(optuna.trial.create_trial(
          state=optuna.trial.TrialState.COMPLETE, value=min(curve.values()),
          intermediate_values=curve))
    self._trials = [self._study.ask() for _ in range(n_members)]

  def prune(self, epoch: int, best_pct: np.ndarray, running: np.ndarray) -> np.ndarray:
    """bool [M]: the running members to stop now. Each reports its best so far at ``epoch``
    (so the rule compares the best so far, as Optuna's does, whatever epoch a run resumed at)."""
    out = np.zeros(len(self._trials), bool)
    for i, trial in enumerate(self._trials):
      if not running[i] or not np.isfinite(best_pct[i]):
        continue
      trial.report(float(best_pct[i]), int(epoch))
      out[i] = trial.should_prune()
    return out


def pruner(pruning: Pruning | None, n_members: int, finetune_epochs: int) -> MedianPruner | None:
  """The pruner of a run, or None when it prunes nothing: no pruning, one model, or no
  finished reference model to compare with."""
  if pruning is None or pruning.rule == "none" or n_members < 1:
    return None
  references = reference_curves(pruning.references)
  if len(references) < N_STARTUP:
    return None
  return MedianPruner(references, n_members, finetune_epochs)
