"""The paper's experiments beside Table 3 (``experiments.reproduce --experiment=NAME``; the code in
``sdae.reproduce.experiments``): every setting each adds to the table's SdA-3 grid, one section
per experiment, top to bottom.

Each experiment starts from the table's SdA-3 grid of the budget (``sdae.configs.sda.sda_grid``:
base configuration, layer sizes, levels, learning rates; ``svm_codes`` from Table 3's columns,
``sdae.configs.table.grid_for``) and sets what is below: the datasets it runs on per budget
(``*_DATASETS``, the default of ``--datasets``), its conditions and grids, and the words that
state what a budget cuts from the paper's design (``*_CUTS``: the outputs' header). Budgets:
``sdae.configs.sda.BUDGETS`` and ``test`` (the tests'). The paper's printed figures and the
findings it states stay with each experiment's module (``PAPER``, ``FLAT``, ``TITLE``).

What an experiment would train, without training::

    python -m experiments.reproduce --experiment=NAME --budget=B --print_grid --workdir=DIR

Plain data: no imports (flag parsing reads this module).
"""

from __future__ import annotations

# --- noise_types: Table 4 ------------------------------------------------------------------------
# SdA-3 pretrained with masking, salt-and-pepper and Gaussian noise, with and without emphasis
# (Vincent et al., 2010, sec. 4.3 and Table 4: emphasis alpha 1 with beta 0.5 or 0; the emphases
# are ``sdae.config.EMPHASIS``). Gaussian noise corrupts every component, so it has no emphasis.

# (noise, emphasis) of each condition, in the table's order.
NOISE_TYPES_CONDITIONS = (("masking", "none"), ("masking", "double"), ("masking", "full"),
                          ("salt_pepper", "none"), ("salt_pepper", "double"),
                          ("salt_pepper", "full"), ("gaussian", "none"))
# Levels each noise's model is chosen over (masking and salt-and-pepper: fraction of inputs;
# Gaussian: standard deviation, on pixels in [0, 1]). The paper budget: the paper's grids of
# masking fractions (salt-and-pepper: the same) and Gaussian sigmas.
NOISE_TYPES_LEVELS = {
    "paper": {"masking": (0.10, 0.25, 0.40), "salt_pepper": (0.10, 0.25, 0.40),
              "gaussian": (0.05, 0.10, 0.15, 0.30, 0.50)},
    # One level per noise keeps 14 models within the hour: the middle of the paper's
    # masking and salt-and-pepper grids, and the top of its Gaussian range.
    "cpu": {"masking": (0.25,), "salt_pepper": (0.25,), "gaussian": (0.50,)},
    "quick": {"masking": (0.25,), "salt_pepper": (0.25,), "gaussian": (0.30,)},
    "test": {"masking": (0.1, 0.3), "salt_pepper": (0.1, 0.3), "gaussian": (0.1, 0.3)}}
# The rows: rot and bg-rand, the two whose Table 4 cells are known (``noise_types.PAPER``).
NOISE_TYPES_DATASETS = {"paper": ("mnist_rot", "mnist_bg_rand"),
                        "cpu": ("mnist_rot", "mnist_bg_rand"),
                        "quick": ("mnist_rot", "mnist_bg_rand"), "test": ("rectangles",)}
# Pretraining epochs a layer at most, per budget (a dataset's preset with more is cut to this):
# within the hour at the cpu budget (bg-rand's preset: 60).
NOISE_TYPES_MAX_PRETRAIN_EPOCHS = {"cpu": 30}
NOISE_TYPES_CUTS = {
    "cpu": "rows rot and bg-rand, layers of 1000 units, one learning-rate pair, one level "
           "per noise (masking 0.25, salt-and-pepper 0.25, Gaussian 0.5), 30 pretraining "
           "epochs a layer on bg-rand (its preset: 60)",
    "quick": "one level per noise, a few epochs"}

# --- svm_codes: Table 5 --------------------------------------------------------------------------
# Linear and RBF SVMs on raw pixels and on each layer's codes of the chosen SdA-3 (Table 5, on
# rot), and of the chosen SAE-3 and DBN-3 for the comparison. The networks and the RBF SVM are
# Table 3's columns (``sdae.configs.table``: its grids and ``SVM_GRIDS``); the linear SVM
# searches C below and grows as the RBF does.

SVM_CODES_DATASETS = {"paper": ("mnist_rot",), "cpu": ("mnist_rot",), "quick": ("mnist_rot",),
                      "test": ("rectangles",)}
# Table 3 columns whose chosen network's layer codes the SVMs are fitted on (the default of
# ``--code_models``): the paper's SdA-3, and the SAE-3 and DBN-3 to test its argument that
# denoising codes are better features than plain autoencoders' or RBMs' (their figures are not
# known). Each extra column costs its Table 3 training and six SVM fits: beyond the cpu hour.
SVM_CODES_MODELS = {"paper": ("sda3", "sae3", "dbn3"), "cpu": ("sda3",), "quick": ("sda3",),
                    "test": ("sda3",)}
# The linear SVM's C (liblinear; no gamma): a log grid (the paper's is not known).
SVM_CODES_LINEAR_CS = {"paper": (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0),
                       "cpu": (1e-3, 1e-2, 1e-1, 1.0, 10.0),
                       "quick": (1e-2, 1.0), "test": (0.1, 1.0)}
# (The networks whose codes a run leaves out are stated beside these: ``svm_codes.plan``.)
SVM_CODES_CUTS = {
    "cpu": "rot only, layers of 1000 units, the table's cpu grids and SVM grid",
    "quick": "rot only, the quick grids, one RBF point"}

# --- depth_width: Figure 10 ----------------------------------------------------------------------
# Test error against depth for each width (the widths: the budget's SdA-3 layer sizes), by
# pretraining (Figure 10, on bg-img-rot: 1-3 layers of 1000-3000 units). Denoising pretrains with
# the noise below over the budget's non-zero levels, the plain autoencoder at level 0, and "none"
# fine-tunes alone.

DEPTH_WIDTH_PRETRAININGS = ("denoising", "autoencoder", "none")
DEPTH_WIDTH_DEPTHS = (1, 2, 3)
# The denoising condition's noise: masking, the paper's noise on its image sets.
DEPTH_WIDTH_CORRUPTION = "masking"
DEPTH_WIDTH_DATASETS = {b: ("mnist_bg_img_rot",) for b in ("paper", "cpu", "quick")} | {
    "test": ("rectangles",)}
DEPTH_WIDTH_CUTS = {
    "cpu": "bg-img-rot only, layers of 1000 units only (the paper: 1000, 2000, 3000), one "
           "learning-rate pair",
    "quick": "bg-img-rot, 1000 units, a few epochs"}

# --- masking_curve: Figure 11 --------------------------------------------------------------------
# SdA-3 test error against the masking fraction (Figure 11, on bg-img-rot: 0 to about 0.7). Every
# level is a member of one program per layer size.

# At least 8 levels from 0 to beyond 0.5 (the paper's figure spans 0 to about 0.7).
MASKING_CURVE_LEVELS = {
    "paper": (0.0, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.40, 0.50, 0.60, 0.70),
    "cpu": (0.0, 0.05, 0.10, 0.20, 0.25, 0.30, 0.40, 0.50, 0.60),
    "quick": (0.0, 0.10, 0.20, 0.25, 0.30, 0.40, 0.50, 0.60),
    "test": (0.0, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6)}
MASKING_CURVE_DATASETS = {"paper": ("mnist_bg_img_rot", "mnist_rot"),
                          "cpu": ("mnist_bg_img_rot",), "quick": ("mnist_bg_img_rot",),
                          "test": ("rectangles",)}
MASKING_CURVE_CUTS = {
    "cpu": "one curve (bg-img-rot; add --datasets=rot for the second), layers of 1000 "
           "units, the dataset's one learning-rate pair, 9 levels",
    "quick": "one curve, 8 levels, a few epochs"}
