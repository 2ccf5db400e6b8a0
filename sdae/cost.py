"""The floating-point work of a grid before it runs: how a budget's cost is stated and estimated.

The formulas are the bench's (``experiments.bench`` times steps against them): a tied dA step
costs ``5 * 2 * batch * n_in * hidden`` (encode, decode, the decoder's and the encoder's weight
gradients, the gradient through the decoder); a fine-tuning step ``2 * batch * (3 * sum(n m) -
n_0 m_0)`` (forward, backward, weight gradients; no input gradient for the first layer). An
RBM's CD-1 step (up, down, up, two outer products) is counted as a dA step: the same five
products. Each epoch also evaluates the validation split once (forward only).

A network's work is counted for every epoch it may run: early stopping (``patience``) can end
it sooner, so ``grid_flops`` is an upper bound. SVM fits are not counted (libsvm's cost depends
on the support vectors it finds, not on a formula).
"""

from __future__ import annotations

from typing import Any, Sequence


def da_flops(batch: int, n_in: int, hidden: int) -> float:
  """One tied dA (or CD-1) step on ``batch`` examples."""
  return 5 * 2.0 * batch * n_in * hidden


def finetune_flops(batch: int, sizes: Sequence[tuple[int, int]]) -> float:
  """One fine-tuning step on ``batch`` examples through layers of ``(n_in, n_out)`` weights."""
  total = sum(n * m for n, m in sizes)
  return 2.0 * batch * (3 * total - sizes[0][0] * sizes[0][1])


def forward_flops(batch: int, sizes: Sequence[tuple[int, int]]) -> float:
  """The classifier's forward pass on ``batch`` examples (evaluation)."""
  return 2.0 * batch * sum(n * m for n, m in sizes)


def layer_sizes(n_in: int, hidden: Sequence[int], n_classes: int) -> list[tuple[int, int]]:
  """The weight shapes of the classifier ``n_in -> hidden... -> n_classes``."""
  widths = [n_in, *hidden, n_classes]
  return list(zip(widths[:-1], widths[1:]))


def model_flops(config, n_in: int, n_classes: int, n_train: int, n_valid: int) -> dict[str, float]:
  """``{"pretrain", "finetune"}``: one model of ``config`` (a ``TrainConfig``) trained on
  ``n_train`` rows, every epoch run (an upper bound; see the module docstring)."""
  hidden = tuple(config.hidden)
  pre = sum(pretrain_layer_flops(config, n_in, n_train))
  sizes = layer_sizes(n_in, hidden, n_classes)
  fine = config.finetune_epochs * (finetune_flops(n_train, sizes)
                                   + forward_flops(n_valid, sizes))
  return {"pretrain": pre, "finetune": fine}


def pretrain_layer_flops(config, n_in: int, n_train: int) -> list[float]:
  """Each pretrained layer's work in one model of ``config`` ([] without pretraining)."""
  if config.pretraining == "none":
    return []
  hidden = tuple(config.hidden)
  ins = (n_in, *hidden[:-1])
  return [config.pretrain_epochs * da_flops(n_train, a, h) for a, h in zip(ins, hidden)]


def grid_flops(grids: Sequence[Any]) -> float:
  """The work of ``table.DatasetGrid`` s' networks (SVM grids count 0), at the published split
  sizes (or a group's ``n_train``), every epoch of every member; a stack that members differing
  in fine-tuning alone share is pretrained once, and the first layers that every member's stack
  shares with an earlier group's are not pretrained again (``sdae.shared_pretraining``: the
  table reads a row's earlier groups)."""
  # pylint: disable=g-import-not-at-top
  from sdae import experiment, shared_pretraining, sweep
  from sdae.data import registry
  total, pretrained = 0.0, set()  # the identities of the layers pretrained so far
  for grid in grids:
    if getattr(grid, "svm", None) is not None:
      continue
    spec = registry.spec(grid.dataset)
    for group in grid.groups:
      c = group.config
      n_train = min(spec.n_train, c.n_train or spec.n_train)
      f = model_flops(c, spec.dim or 0, spec.n_classes, n_train, spec.n_valid)
      per_layer = pretrain_layer_flops(c, spec.dim or 0, n_train)
      record = experiment.config_record(c, sweep.members_of(c, group.points), None)
      # As the driver does: the first layers every member's stack shares with an earlier group
      # are read; the rest is pretrained once per distinct stack.
      prefixes = shared_pretraining.layer_keys(record)
      read = min((sum(k in pretrained for k in p) for p in prefixes), default=0)
      stacks = shared_pretraining.distinct(shared_pretraining.keys(record))[0]
      total += len(stacks) * sum(per_layer[read:]) + len(group.points) * f["finetune"]
      pretrained.update(k for p in prefixes for k in p)
  return total


def describe(flops: float) -> str:
  """``flops`` in words: ``"1.23 PFLOP"``."""
  for unit, scale in (("PFLOP", 1e15), ("TFLOP", 1e12), ("GFLOP", 1e9)):
    if flops >= scale:
      return f"{flops / scale:.3g} {unit}"
  return f"{flops:.3g} FLOP"
