"""SdA runs: every default of one SdA, top to bottom, and the ``--preset`` names.

Read in order:

- ``DATASET_DEFAULTS``: per dataset, what differs from ``sdae.config.TrainConfig``'s field
  defaults (SdA-3 of 1000 units, masking noise, plain SGD...): the level the paper chose on
  validation (or ours, where our regenerated data chose another), epochs and learning rates
  fitted to the time budgets of BUILD_NOTES.md. ``OBJECTIVE_DEFAULTS`` over them for another
  layer objective (MNIST's DBN fine-tunes 50 epochs). ``for_dataset(name, pretraining)`` reads
  the two (a canonical name or a paper alias): the configuration ``experiments.train
  --dataset=NAME`` trains, and the library's (``for_dataset("rect").replace(...)``).
- Budgets (``BUDGETS``; ``test`` for the tests): each budget's constants (``PAPER_*``,
  ``QUICK``, ``CPU_*``, ``TEST_*``), read by ``budget_config(dataset, budget)`` (the base
  configuration) and ``sda_grid(dataset, budget)`` (the SdA-3 grid's axes);
  ``objective_settings`` gives ``OBJECTIVE_DEFAULTS`` to the cpu budget's DBN-3 column.
  ``sdae.configs.table`` builds every Table 3 column's grid on ``sda_grid``, and the paper's
  other experiments (``sdae.reproduce.experiments``) start from it too.
- ``TRAIN_PRESETS``: ``<dataset>_quick``, ``<dataset>_cpu`` and ``<dataset>_paper`` (the
  ``budget_config`` of that budget, at the paper's chosen level) and ``mnist_tutorial_filters``
  (alias ``mnist_filters``), the Theano dA tutorial's one-layer run. These are fixed
  configurations: ``--pretraining`` given with one changes the objective only, not its epochs.
  ``names()``: every name ``--preset=NAME`` accepts (a train preset, or a dataset's canonical
  name for its defaults); ``resolve`` takes the paper's aliases in them.

JAX-free (the entry points read it while parsing flags).

Budgets for ``experiments.reproduce_table --budget=NAME``:

- ``paper``: the paper's grid (vincent2010-protocol.md): SdA-3 with 1000, 2000 or 3000 units per
  layer, masking fraction in {0, 0.10, 0.25, 0.40} (Gaussian std {0.05, 0.10, 0.15, 0.30, 0.50}
  for tzanetakis), pretraining learning rate in {0.01, 0.05} and fine-tuning learning rate in
  {0.05, 0.1} (inside the protocol's ranges 5e-6..0.1 and 0.0005..0.2; the paper's exact grid is
  not published), one seed; epochs and batch size from the dataset's defaults.
  Per dataset 3 member groups (one per layer size, 16 models each, trained as one vmapped
  program): meant for a GPU.
- ``cpu``: the dataset's defaults (SdA-3 of 1000 units, full schedule with early stopping) at
  the paper's masking levels {0, 0.10, 0.25, 0.40} and the defaults' level where that differs
  (rectangles: 0.6, chosen on our regenerated set's validation), so that validation chooses the
  level as the paper's grid does (mnist: 0 and 0.25 only, its models being 5x larger to train;
  tzanetakis: its Gaussian levels 0.05 and 0.10). Except for mnist (whose defaults are already
  tuned for time), rectangles and convex (small), fine-tuning uses minibatches of 100 at learning
  rate 0.5 (pretraining keeps the defaults' minibatch of 20): on MNIST that reaches the validation
  error of minibatch 20 at 0.1 to within 0.05 points in about half the time per epoch, and on
  mnist_basic its validation error is lower (notes/experiments.md, "The cpu budget"). Those sets
  also run all their fine-tuning epochs (patience = the epoch count) and keep the best validation
  epoch's parameters: the Theano patience rule stopped them at twice the best epoch on validation
  curves that move by 0.5 points from epoch to epoch, and on mnist_basic the full run found lower
  validation (and test) error for both levels (notes/experiments.md). About 2 minutes per model
  for the 10000-example sets on a 2-core CPU (4 with 60 pretraining epochs: bg-rand, rect-img).
- ``quick``: SdA-3 of 1000 units, 3 or 4 masking levels, one learning rate pair, a few epochs: a
  few minutes per dataset on a 2-core CPU (the rectangles set is small, so it gets 4 levels and
  more epochs). Far from the paper's training length: expect worse errors.
- ``test`` (hidden; for the tests): 2 tiny layers, 2 levels, 2 + 3 epochs.
"""

from __future__ import annotations

from typing import Any

from sdae import config as config_lib
from sdae.data import registry as data_registry  # numpy only
from sdae.data.errors import DataError
from sdae.reproduce import paper

# Per-dataset defaults. The paper's Table 3 level (chosen on validation) is used as the masking
# level; epochs and learning rates are ours (the paper does not publish its grid), chosen so that a
# run fits the time budgets in BUILD_NOTES.md on a 2-core CPU.
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    # MNIST: the baselines' SdA-3 (masking 0.25, minibatch 20, lr 0.05 for pretraining), with
    # fine-tuning at minibatch 50 and lr 0.25, which reaches the validation error of minibatch 20
    # at lr 0.1 in two thirds of the time; 90 fine-tuning epochs, chosen on the validation curve
    # of a 100-epoch run (best at epoch 82). notes/experiments.md, "MNIST".
    "mnist": dict(level=0.25, pretrain_epochs=15, finetune_epochs=90, batch_size=20,
                  finetune_batch_size=50, pretrain_lr=0.05, finetune_lr=0.25),
    "mnist_basic": dict(level=0.10, pretrain_epochs=30, finetune_epochs=100),
    "mnist_rot": dict(level=0.25, pretrain_epochs=30, finetune_epochs=100),
    # bg-rand: 60 pretraining epochs at lr 0.1, chosen on validation at level 0.4, seed 0, the cpu
    # budget's fine-tuning: 10.90% against 10.95 (60 epochs, lr 0.05) and 12.25 (30, lr 0.05).
    # mnist_rot did not gain from 60 (11.85 against 11.70). notes/experiments.md, "bg-rand and
    # rect-img: 60 pretraining epochs at lr 0.1".
    "mnist_bg_rand": dict(level=0.40, pretrain_epochs=60, pretrain_lr=0.1, finetune_epochs=100),
    "mnist_bg_img": dict(level=0.25, pretrain_epochs=30, finetune_epochs=100),
    "mnist_bg_img_rot": dict(level=0.25, pretrain_epochs=30, finetune_epochs=100),
    # Regenerated rectangles: level 0.6 chosen on validation (mean of seeds 0 and 1) over levels
    # {0.1, 0.25, 0.4, 0.5, 0.6}, 30 pretraining epochs at lr 0.1 and 150 fine-tuning epochs kept
    # whole (patience 150: the best validation epoch is kept); notes/experiments.md. The paper chose
    # 0.1 on the original files.
    "rectangles": dict(level=0.60, pretrain_epochs=30, finetune_epochs=150, batch_size=20,
                       pretrain_lr=0.1, finetune_lr=0.1, patience=150),
    # rect-img: 60 pretraining epochs at lr 0.1, chosen on validation at level 0.25, seed 0, the
    # cpu budget's fine-tuning: 25.10% against 26.15 (30 epochs, lr 0.05), as for bg-rand.
    "rectangles_images": dict(level=0.25, pretrain_epochs=60, pretrain_lr=0.1,
                              finetune_epochs=100),
    "convex": dict(level=0.10, pretrain_epochs=30, finetune_epochs=100),
    "tzanetakis": dict(corruption="gaussian", level=0.05, pretrain_epochs=30,
                       finetune_epochs=100, loss="squared"),
}


# Settings of one layer objective on one dataset, over DATASET_DEFAULTS (keys: (canonical dataset,
# pretraining)). MNIST's DBN-3 (RBM lr 0.05): a 90-epoch fine-tuning run has its validation
# minimum, 1.27%, at epoch 50, and no later epoch reaches it, so 50 epochs give the same model in
# the 15 minutes of BUILD_NOTES ("DBN-3 on MNIST").
OBJECTIVE_DEFAULTS: dict[tuple[str, str], dict[str, Any]] = {
    ("mnist", "rbm"): dict(finetune_epochs=50),
}


def for_dataset(name: str, pretraining: str = "denoising") -> config_lib.TrainConfig:
  """Default configuration for the dataset ``name`` (a canonical name or a paper alias,
  ``"rect"``) trained with the layer objective ``pretraining``.

  Raises ``ConfigError`` (one line, the accepted names) for a name that is neither.
  """
  try:
    canonical = data_registry.resolve_name(name)
  except DataError as e:
    raise config_lib.ConfigError(str(e)) from None
  settings = DATASET_DEFAULTS.get(canonical, {}) | OBJECTIVE_DEFAULTS.get((canonical, pretraining),
                                                                          {})
  return config_lib.TrainConfig(dataset=canonical, pretraining=pretraining, **settings)


# --- budgets ------------------------------------------------------------------------------------
# Each budget of ``experiments.reproduce_table --budget=NAME`` is a base configuration (the
# dataset's defaults above, changed as its table says) and the axes of its SdA-3 grid. Every
# base is at the paper's Table 3 level of the dataset (``sdae.reproduce.paper.TABLE3``): the level
# the ``<dataset>_<budget>`` presets train.

BUDGETS = ("quick", "cpu", "paper")  # "test" is accepted too, for the tests

# paper: the dataset's defaults; the grid's axes below, noise levels by the dataset's corruption.
PAPER_HIDDEN = (1000, 2000, 3000)
PAPER_LEVELS: dict[str, tuple[float, ...]] = {
    "masking": (0.0, 0.10, 0.25, 0.40),
    "gaussian": (0.05, 0.10, 0.15, 0.30, 0.50),  # tzanetakis
}
PAPER_PRETRAIN_LRS = (0.01, 0.05)
PAPER_FINETUNE_LRS = (0.05, 0.1)

# quick: SdA-3 of 1000 units; per dataset (levels, pretraining epochs, fine-tuning epochs, which
# is the patience too); QUICK_DEFAULT for the others (the 10000-example MNIST variants, rect-img).
QUICK_HIDDEN = (1000, 1000, 1000)
QUICK: dict[str, tuple[tuple[float, ...], int, int]] = {
    "rectangles": ((0.0, 0.10, 0.25, 0.40), 10, 40),
    "convex": ((0.0, 0.10, 0.25), 3, 10),
    "mnist": ((0.0, 0.25), 1, 4),
    "tzanetakis": ((0.05, 0.10, 0.30), 10, 30),
}
QUICK_DEFAULT = ((0.0, 0.10, 0.25), 3, 8)

# cpu: the dataset's defaults. Those of CPU_AS_PRESET fit the budget as they are (small training
# sets, or tuned for time: mnist); the others fine-tune with CPU_FINETUNE and run all their
# fine-tuning epochs (patience = the epoch count), keeping the best validation epoch.
CPU_AS_PRESET = ("mnist", "rectangles", "convex")
CPU_FINETUNE = dict(finetune_batch_size=100, finetune_lr=0.5)
# The cpu grid's levels: the paper's masking levels and the defaults' level where our own
# validation chose another (rectangles: 0.6), except where listed: mnist (50000 training
# examples, ~10 min per model here) weighs only 0 against the paper's level 0.25; tzanetakis its
# two smallest Gaussian levels.
CPU_LEVELS: dict[str, tuple[float, ...]] = {
    "mnist": (0.0, 0.25),
    "tzanetakis": (0.05, 0.10),
}

# test (hidden; for the tests): 2 tiny layers, 2 levels, 2 + 3 epochs; the base's level and the
# grid's levels by the dataset's corruption.
TEST_SETTINGS = dict(hidden=(16, 8), pretrain_epochs=2, finetune_epochs=3, patience=3,
                     batch_size=10, checkpoint_every_secs=0.0)
TEST_LEVEL = {"masking": 0.0, "gaussian": 0.05}
TEST_LEVELS = {"masking": (0.1, 0.3), "gaussian": (0.05, 0.3)}


def budget_config(dataset: str, budget: str) -> config_lib.TrainConfig:
  """The base configuration of ``budget`` (``quick``, ``cpu``, ``paper``, ``test``) on
  ``dataset`` (a canonical name): every grid point of the budget's SdA-3 starts from it."""
  if budget not in BUDGETS + ("test",):
    raise ValueError(f"unknown budget {budget!r}")
  base = for_dataset(dataset)
  if budget == "paper":
    return base.replace(level=paper.TABLE3[dataset].level)
  if budget == "quick":
    _, pre, fine = QUICK.get(dataset, QUICK_DEFAULT)
    return base.replace(hidden=QUICK_HIDDEN, pretrain_epochs=pre, finetune_epochs=fine,
                        patience=fine, level=paper.TABLE3[dataset].level)
  if budget == "cpu":
    if dataset not in CPU_AS_PRESET:
      base = base.replace(**CPU_FINETUNE, patience=base.finetune_epochs)
    return base.replace(level=paper.TABLE3[dataset].level)
  return base.replace(**TEST_SETTINGS, level=TEST_LEVEL[base.corruption])  # test


def objective_settings(dataset: str, budget: str, pretraining: str) -> dict[str, Any]:
  """``OBJECTIVE_DEFAULTS`` at the cpu budget where its base is the dataset's preset
  (``CPU_AS_PRESET``): the settings were measured on that preset. The paper budget's other
  learning rates and sizes, and the quick and test budgets' short schedules, keep their own."""
  if budget == "cpu" and dataset in CPU_AS_PRESET:
    return dict(OBJECTIVE_DEFAULTS.get((dataset, pretraining), {}))
  return {}


def sda_grid(dataset: str, budget: str):
  """(base config, hidden sizes, levels, pretraining lrs, fine-tuning lrs or None for the base's)
  of the SdA-3 grid of ``budget`` on ``dataset`` (a canonical name)."""
  base = budget_config(dataset, budget)
  if budget == "paper":
    return (base, [(h, h, h) for h in PAPER_HIDDEN], PAPER_LEVELS[base.corruption],
            PAPER_PRETRAIN_LRS, PAPER_FINETUNE_LRS)
  if budget == "quick":
    levels = QUICK.get(dataset, QUICK_DEFAULT)[0]
  elif budget == "cpu":
    levels = CPU_LEVELS.get(dataset) or tuple(
        sorted({*PAPER_LEVELS["masking"], for_dataset(dataset).level}))
  else:  # test
    levels = TEST_LEVELS[base.corruption]
  return base, [base.hidden], levels, None, None


#: What a budget's table can show, where it is not a comparison with the paper: (the heading's
#: words, the paragraph under it) for table.md and table.png.
BUDGET_CAVEATS: dict[str, tuple[str, str]] = {
    "quick": ("a smoke run, not expected to match the paper",
              "The quick budget is a smoke run: a few epochs, 3 or 4 masking levels and one "
              "learning-rate pair per column, minutes per dataset on a CPU. It checks that every "
              "column trains, is selected on validation and is reported end to end; it is not "
              "expected to match the paper's errors, so its verdicts (better / within / worse) "
              "and its differences (such as the sign of SdA-3 minus DBN-3) say nothing about the "
              "methods. For a comparison, run --budget=cpu (hours on a CPU) or --budget=paper."),
}
BUDGET_CAVEATS["test"] = BUDGET_CAVEATS["quick"]


def table_title(budget: str) -> str:
  """The title of a table of ``budget`` (first line: the heading; then its paragraph)."""
  head = f"Table 3, budget {budget}"
  if budget not in BUDGET_CAVEATS:
    return head
  short, paragraph = BUDGET_CAVEATS[budget]
  return f"{head}: {short}\n{paragraph}"


# --- single-model presets -----------------------------------------------------------------------


def _train_presets() -> dict[str, dict[str, Any]]:
  out = {}
  for ds in paper.TABLE3:
    for budget in BUDGETS:
      d = budget_config(ds, budget).to_dict()
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


def resolve(name: str) -> str | None:
  """The canonical preset for ``name`` (as ``--preset`` takes it), or None when unknown.

  A dataset part takes the same names and paper aliases as ``--dataset``: ``rect_quick`` and
  ``rectangles_quick`` are one preset, ``rect`` the rectangles defaults."""
  key = str(name).strip().lower()
  if key in TRAIN_PRESETS or key in DATASET_DEFAULTS:
    return key
  stem, _, budget = key.rpartition("_")
  for dataset, suffix in ((key, ""), (stem, f"_{budget}")):
    try:
      canonical = data_registry.resolve_name(dataset) + suffix
    except ValueError:
      continue
    if canonical in TRAIN_PRESETS or canonical in DATASET_DEFAULTS:
      return canonical
  return None


def names() -> list[str]:
  """Every name ``named`` accepts, sorted: the train presets and the datasets with defaults."""
  return sorted(set(DATASET_DEFAULTS) | set(TRAIN_PRESETS))

