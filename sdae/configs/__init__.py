"""Every named configuration, as code: one module per experiment kind, every default of that
kind in its module, top to bottom (constants keyed by dataset, budget or corruption, read by a
few functions). Nothing is re-exported here: import the module.

Which module answers which question:

- ``sdae.configs.sda``: what one SdA trains. ``DATASET_DEFAULTS`` and ``OBJECTIVE_DEFAULTS``
  over ``sdae.config.TrainConfig``'s field defaults (``for_dataset(name, pretraining)``: what
  ``experiments.train --dataset=NAME [--pretraining=P]`` trains before its flags); the budgets
  (``BUDGETS``; ``PAPER_*``, ``QUICK``, ``CPU_*``, ``TEST_*``: ``budget_config`` and the SdA-3
  grid's axes ``sda_grid``); the ``--preset=NAME`` names (``TRAIN_PRESETS``, ``names``,
  ``resolve``). JAX-free: the entry points read it while parsing flags.
- ``sdae.configs.table``: what each Table 3 column trains under a budget (``grid_for``): the
  DBN, SAE-3 and SVM grids (``RBM_LRS``, ``DBN1_HIDDEN``, ``SVM_GRIDS``, ``SVM_WIDE``,
  ``SVM_GROW``, ``SVM_ONE_PAIR``, the ``SMALL_*`` widening on small sets, SAE-3's short
  pretraining ``SAE_SHORT_EPOCHS``), built on ``sda.sda_grid``.
- ``sdae.configs.experiments``: what the paper's other experiments (``experiments.reproduce
  --experiment=NAME``, the code in ``sdae.reproduce.experiments``) add to the same ``sda_grid``
  and ``grid_for``, one section each: ``NOISE_TYPES_*`` (Table 4: conditions, levels per noise,
  the cpu budget's pretraining epochs), ``SVM_CODES_*`` (Table 5: the linear SVM's C, the
  networks whose codes are fitted), ``DEPTH_WIDTH_*`` (Figure 10: pretrainings, depths, the
  denoising noise), ``MASKING_CURVE_*`` (Figure 11: levels), each with its ``*_DATASETS`` per
  budget and ``*_CUTS`` (what a budget cuts from the paper's design, in the outputs' header).
  Plain data.
- ``sdae.configs.filters``: what each filter figure trains (``experiments.filters
  --figure=natural|mnist``; ``sdae.reproduce.filters`` trains and measures): ``FigureConfig``
  (its field defaults: the ``natural`` figure's units, epochs, learning rates, weight decays and
  noise levels; ``conditions()``: its panels), ``natural_config``, ``mnist_config``,
  ``SALT_PEPPER_QUANTILE``, ``validate``. JAX-free.
- ``sdae.configs.denoise``: what ``experiments.denoise`` trains: ``PRESETS`` (per corruption,
  noise2noise, superres, course; ``preset_for``, ``get``, ``settings``) and each corruption's
  ``DEFAULT_LEVELS``, over ``sdae.restore.config.DenoiseConfig``'s field defaults.

What a table would train, exactly, without training::

    python -m experiments.reproduce_table --datasets=rect --methods=dbn1 --budget=cpu \\
        --print_grid --workdir=/tmp/t

(``python -m experiments.reproduce --experiment=NAME --budget=B --print_grid --workdir=DIR``
for the paper's other experiments.) Flags given on the command line then override every grid
point (``table.grid_for``'s ``overrides``).

Dependencies run one way: ``sda`` and ``table`` import ``sdae.config`` (and ``table`` the
table's driver), never the reverse; ``sdae.restore.config`` imports ``denoise``, which imports
nothing of the library; ``sdae.reproduce.experiments`` imports ``experiments`` and
``sdae.reproduce.filters`` imports ``filters``, which import nothing of the library (``filters``'
``validate`` reads ``sdae.data.regenerate`` when a data version is given). A dataset's name appears in a condition only here and in ``sdae.data``.
"""
