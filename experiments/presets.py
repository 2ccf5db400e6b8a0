"""Named grids and presets for the paper's experiments (Vincent et al. 2010, Table 3).

Budgets for ``experiments.reproduce_table --budget=NAME``:

- ``paper``: the paper's grid (vincent2010-protocol.md): SdA-3 with 1000, 2000 or 3000 units per
  layer, masking fraction in {0, 0.10, 0.25, 0.40} (Gaussian std {0.05, 0.10, 0.15, 0.30, 0.50}
  for tzanetakis), pretraining learning rate in {0.01, 0.05} and fine-tuning learning rate in
  {0.05, 0.1} (inside the protocol's ranges 5e-6..0.1 and 0.0005..0.2; the paper's exact grid is
  not published), one seed; epochs and batch size from the dataset's preset (sdae/config.py).
  Per dataset 3 member groups (one per layer size, 16 models each, trained as one vmapped
  program): meant for a GPU.
- ``cpu``: the dataset's preset (sdae/config.py: SdA-3 of 1000 units, full schedule with early
  stopping) at the paper's masking levels {0, 0.10, 0.25, 0.40} and the preset's level where that
  differs (rectangles: 0.6, chosen on our regenerated set's validation), so that validation
  chooses the level as the paper's grid does (mnist: 0 and 0.25 only, its models being 5x larger
  to train; tzanetakis: its Gaussian levels 0.05 and 0.10). Except for mnist (whose preset is already tuned for time), rectangles and convex (small),
  fine-tuning uses minibatches of 100 at learning rate 0.5 (pretraining keeps the preset's
  minibatch of 20): on MNIST that reaches the validation error of minibatch 20 at 0.1 to within
  0.05 points in about half the time per epoch, and on mnist_basic its validation error is lower
  (notes/experiments.md, "The cpu budget"). Those sets also run all their fine-tuning epochs (patience = the epoch count)
  and keep the best validation epoch's parameters: the Theano patience rule stopped them at twice
  the best epoch on validation curves that move by 0.5 points from epoch to epoch, and on
  mnist_basic the full run found lower validation (and test) error for both levels
  (notes/experiments.md). About 2 minutes per model for the 10000-example sets on a 2-core CPU (4 with
  60 pretraining epochs: bg-rand, rect-img).
- ``quick``: SdA-3 of 1000 units, 3 or 4 masking levels, one learning rate pair, a few epochs: a
  few minutes per dataset on a 2-core CPU (the rectangles set is small, so it gets 4 levels and
  more epochs). Far from the paper's training length: expect worse errors.
- ``test`` (hidden; for the tests): 2 tiny layers, 2 levels, 2 + 3 epochs.

Each column of Table 3 (``--methods``) has a grid of its own, built on the budget's base
configuration (same layer sizes, epochs, minibatches and fine-tuning):

- ``sda3``: the budget's noise levels above 0 (the paper's SdA-3 column always reports one).
- ``sae3``: noise level 0 (plain autoencoders), pretraining learning rate in {lr/2, lr} (lr: the
  preset's; the paper budget: its own lr grid), so it is chosen on validation like the others.
- ``dbn3`` / ``dbn1``: RBMs by CD-1 (``--pretraining=rbm``) with learning rates ``RBM_LRS``;
  DBN-1 is one layer of 1000 units (paper budget: 1000, 2000 or 3000).
- ``mlp3`` (not in the paper's table): no pretraining, the preset's fine-tuning.
- ``svm_rbf``: ``SVM_GRIDS``, C and gamma (as multiples of the data's scale) on a log grid,
  retrained on train + valid; MNIST's cpu and quick budgets fit one pair on the training split.

``TRAIN_PRESETS`` names single-model configurations for ``experiments.train --preset=NAME``:
``<dataset>_quick``, ``<dataset>_cpu`` and ``<dataset>_paper`` are the base configuration of that
budget's grid at the paper's chosen level; ``mnist_tutorial_filters`` (alias ``mnist_filters``)
is the Theano dA tutorial's one-layer run, whose filters show the effect of masking
(python -m experiments.sweep --preset=mnist_tutorial_filters --levels=0,0.3 ...).
"""

from __future__ import annotations

from typing import Any

from sdae import config as config_lib
from sdae import sweep as sweep_lib
from sdae import table as table_lib

BUDGETS = ("quick", "cpu", "paper")  # "test" is accepted too, for the tests

PAPER_HIDDEN = (1000, 2000, 3000)
PAPER_MASKING = (0.0, 0.10, 0.25, 0.40)
PAPER_GAUSSIAN = (0.05, 0.10, 0.15, 0.30, 0.50)
PAPER_PRETRAIN_LRS = (0.01, 0.05)
PAPER_FINETUNE_LRS = (0.05, 0.1)

# Quick budget per dataset: (levels, pretrain epochs, finetune epochs).
_QUICK: dict[str, tuple[tuple[float, ...], int, int]] = {
    "rectangles": ((0.0, 0.10, 0.25, 0.40), 10, 40),
    "convex": ((0.0, 0.10, 0.25), 3, 10),
    "mnist": ((0.0, 0.25), 1, 4),
    "tzanetakis": ((0.05, 0.10, 0.30), 10, 30),
}
_QUICK_DEFAULT = ((0.0, 0.10, 0.25), 3, 8)  # the 10000-example MNIST variants, rect-img


def _quick_config(dataset: str) -> config_lib.TrainConfig:
  _, pre, fine = _QUICK.get(dataset, _QUICK_DEFAULT)
  return config_lib.preset(dataset).replace(
      hidden=(1000, 1000, 1000), pretrain_epochs=pre, finetune_epochs=fine, patience=fine,
      level=table_lib.PAPER[dataset].level)


# Datasets whose presets already fit the cpu budget as they are (small training sets).
_CPU_AS_PRESET = ("mnist", "rectangles", "convex")


def _cpu_config(dataset: str) -> config_lib.TrainConfig:
  base = config_lib.preset(dataset)
  if dataset not in _CPU_AS_PRESET:
    base = base.replace(finetune_batch_size=100, finetune_lr=0.5, patience=base.finetune_epochs)
  return base.replace(level=table_lib.PAPER[dataset].level)


def _cpu_levels(dataset: str) -> tuple[float, ...]:
  """The paper's masking levels and the preset's (where our own validation chose another).

  mnist (50000 training examples, ~10 min per model here) weighs only 0 against the paper's
  level; tzanetakis its two smallest Gaussian levels.
  """
  if dataset == "tzanetakis":
    return (0.05, 0.10)
  if dataset == "mnist":
    return (0.0, table_lib.PAPER[dataset].level)
  return tuple(sorted({*PAPER_MASKING, config_lib.preset(dataset).level}))


def _paper_config(dataset: str) -> config_lib.TrainConfig:
  return config_lib.preset(dataset).replace(level=table_lib.PAPER[dataset].level)


def _test_config(dataset: str) -> config_lib.TrainConfig:
  return config_lib.preset(dataset).replace(
      hidden=(16, 8), pretrain_epochs=2, finetune_epochs=3, patience=3, batch_size=10,
      checkpoint_every_secs=0.0, level=0.0 if dataset != "tzanetakis" else 0.05)


def _base_and_grid(dataset: str, budget: str):
  """(base config, hidden sizes, levels, pretraining lrs, fine-tuning lrs) of the SdA grid."""
  gaussian = dataset == "tzanetakis"
  if budget == "paper":
    return (_paper_config(dataset), [(h, h, h) for h in PAPER_HIDDEN],
            PAPER_GAUSSIAN if gaussian else PAPER_MASKING, PAPER_PRETRAIN_LRS, PAPER_FINETUNE_LRS)
  if budget == "quick":
    base = _quick_config(dataset)
    return base, [base.hidden], _QUICK.get(dataset, _QUICK_DEFAULT)[0], None, None
  if budget == "cpu":
    base = _cpu_config(dataset)
    return base, [base.hidden], _cpu_levels(dataset), None, None
  if budget == "test":
    base = _test_config(dataset)
    return base, [base.hidden], (0.05, 0.3) if gaussian else (0.1, 0.3), None, None
  raise ValueError(f"unknown budget {budget!r}")


# Deep belief networks: RBM pretraining learning rates (CD-1, plain SGD on minibatch means; the
# 2006 and 2007 DBNs used 0.05-0.1) and the one-layer network's sizes.
RBM_LRS = {"paper": (0.01, 0.05, 0.1), "cpu": (0.05, 0.1), "quick": (0.1,), "test": (0.05, 0.1)}
DBN1_HIDDEN = {"paper": ((1000,), (2000,), (3000,)), "cpu": ((1000,),), "quick": ((1000,),),
               "test": ((16,),)}

# SVM_rbf: C, and gamma as multiples of 1 / (n_features var(x)). The paper budget is a 5 x 5 log
# grid around the scale; cpu a 3 x 2 one (libsvm's fits dominate: ~30-45 s each on 10000
# examples here); MNIST's 50000 examples make one fit take many minutes, so its cpu and quick
# budgets fit one pair, on the training split only.
SVM_GRIDS = {"paper": ((0.1, 1.0, 10.0, 100.0, 1000.0), (0.25, 0.5, 1.0, 2.0, 4.0)),
             "cpu": ((1.0, 10.0, 100.0), (1.0, 2.0)),
             "quick": ((10.0,), (1.0,)),
             "test": ((1.0, 10.0), (1.0,))}


def _svm_grid(dataset: str, budget: str):
  from sdae import svm  # pylint: disable=g-import-not-at-top
  if dataset == "mnist" and budget in ("cpu", "quick"):
    return svm.SVMGrid((10.0,), (1.0,), retrain_on_valid=False)
  Cs, gammas = SVM_GRIDS[budget]
  return svm.SVMGrid(Cs, gammas)


def _method_grid(method: str, dataset: str, budget: str, base, hiddens, levels, plrs, flrs):
  """(base config, hidden sizes, levels, pretraining lrs, fine-tuning lrs) of ``method``."""
  if method == "sda3":
    # SAE-3 is its own column: the SdA's grid weighs the non-zero noise levels.
    return base, hiddens, tuple(l for l in levels if l > 0), plrs, flrs
  if method == "sae3":
    sae_plrs = plrs or ((base.pretrain_lr,) if budget == "quick"
                        else (base.pretrain_lr / 2, base.pretrain_lr))
    return base, hiddens, (0.0,), sae_plrs, flrs
  if method in ("dbn1", "dbn3"):
    rbm = base.replace(pretraining="rbm", corruption="masking")
    dbn_hiddens = hiddens if method == "dbn3" else list(DBN1_HIDDEN[budget])
    if method == "dbn1" and budget == "test":
      dbn_hiddens = [base.hidden[:1]]
    return rbm, dbn_hiddens, (0.0,), RBM_LRS[budget], flrs
  if method == "mlp3":
    none = base.replace(pretraining="none", pretrain_epochs=0, corruption="masking")
    return none, hiddens, (0.0,), None, flrs
  raise ValueError(f"unknown method {method!r}")


def grid_for(dataset: str, budget: str, overrides: dict[str, Any] | None = None,
             seeds: int = 1, method: str = "sda3") -> table_lib.DatasetGrid:
  """The grid of ``method`` on ``dataset`` (canonical name) under ``budget``; ``overrides``
  (train flags given on the command line) apply to every grid point; ``overrides["hidden"]``
  replaces the sizes."""
  overrides = dict(overrides or {})
  base, hiddens, levels, plrs, flrs = _base_and_grid(dataset, budget)
  if method == "svm_rbf":
    data_keys = ("data_source", "data_dir", "cache_dir", "n_train")
    cfg = base.replace(**{k: v for k, v in overrides.items() if k in data_keys})
    return table_lib.DatasetGrid(dataset, (), "svm_rbf", _svm_grid(dataset, budget),
                                 config_lib.validate(cfg))
  base, hiddens, levels, plrs, flrs = _method_grid(method, dataset, budget, base, hiddens, levels,
                                                   plrs, flrs)
  if "hidden" in overrides:
    hidden = tuple(overrides.pop("hidden"))
    hiddens = [hidden[:1] if method == "dbn1" else hidden]
  groups = []
  for hidden in hiddens:
    cfg = config_lib.validate(base.replace(hidden=hidden, **overrides))
    points = tuple(sweep_lib.grid(levels, seeds, plrs, flrs))
    sweep_lib.validate_points(cfg, points)
    groups.append(table_lib.Group(f"hidden={'x'.join(map(str, hidden))}", cfg, points))
  return table_lib.DatasetGrid(dataset, tuple(groups), method)


def _train_presets() -> dict[str, dict[str, Any]]:
  out = {}
  for ds in table_lib.PAPER:
    for budget, make in (("quick", _quick_config), ("cpu", _cpu_config),
                         ("paper", _paper_config)):
      d = make(ds).to_dict()
      d["hidden"] = tuple(d["hidden"])
      d.pop("layer_levels")
      out[f"{ds}_{budget}"] = d
  out[TUTORIAL_FILTERS] = tutorial_filters_config().to_dict() | {"hidden": (500,)}
  out["mnist_filters"] = out[TUTORIAL_FILTERS]  # the older name: the same run
  return out


#: The Theano dA tutorial's run (deeplearning.net/tutorial/dA.html), whose filters at 0% and 30%
#: masking are the best-known picture of what corruption does to first-layer features.
TUTORIAL_FILTERS = "mnist_tutorial_filters"


def tutorial_filters_config() -> config_lib.TrainConfig:
  """The tutorial's dA: 784-500, tied weights, sigmoid, cross-entropy, plain SGD at lr 0.1 on
  minibatches of 20, 15 epochs over all 50000 training digits, masking 0.3 (sweep it with
  --levels=0,0.3). The tutorial does not fine-tune; one epoch here, because the entry points
  always fit and evaluate the classifier on top."""
  return config_lib.TrainConfig(
      dataset="mnist", hidden=(500,), corruption="masking", level=0.3, tied=True,
      activation="sigmoid", loss="cross_entropy", optimizer="sgd", pretrain_lr=0.1,
      batch_size=20, pretrain_epochs=15, n_train=0, finetune_epochs=1, patience=1)


#: Single-model presets for ``experiments.train --preset=NAME`` (see the module docstring).
TRAIN_PRESETS: dict[str, dict[str, Any]] = _train_presets()
