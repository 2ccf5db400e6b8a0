"""The paper's experiments beside Table 3 (Vincent et al., 2010), each run with the table's
protocol: every condition's grid trained as vmapped member groups, its model chosen on
validation error alone, its test error reported with a 95% interval beside the paper's figure
where the paper gives one (``null`` where it does not: never a guessed one).

==================  =====================================================================
``noise_types``     Table 4: SdA-3 pretrained with masking, salt-and-pepper and Gaussian
                    noise, with and without emphasis on the corrupted components.
``svm_codes``       Table 5: linear and RBF SVMs on raw pixels and on each layer's codes of
                    the chosen SdA-3 (its pretrained, not fine-tuned, encoders), and with
                    ``code_models`` of the chosen SAE-3 and DBN-3.
``depth_width``     Figure 10: 1, 2 and 3 layers of each width, with denoising, plain
                    autoencoder and no pretraining.
``masking_curve``   Figure 11: test error against the masking fraction, every level a member
                    of one program.
==================  =====================================================================

Each module builds a ``Plan`` (``sdae.reproduce.experiments.common``): the cells to select, one
``sdae.reproduce.table.DatasetGrid`` each, whose ``method`` names the condition. ``common.run``
trains them through ``sdae.reproduce.table.reproduce`` (the same groups, workdir layout, resume and
selection as the table) and writes ``<experiment>.md``, ``<experiment>.json`` (``{"rows": [...],
"findings": [{"claim", "holds", ...}]}``) and ``<experiment>.png``. The paper's qualitative findings
are checked by each module's ``findings`` and printed as verdict lines.
"""

from __future__ import annotations

import importlib

#: The experiments, by name, in the paper's order.
NAMES = ("noise_types", "svm_codes", "depth_width", "masking_curve")


def module(name: str):
  """The module of experiment ``name`` (ValueError naming the accepted ones otherwise)."""
  if name not in NAMES:
    raise ValueError(f"--experiment={name!r} is unknown; accepted: {', '.join(NAMES)}")
  return importlib.import_module(f"sdae.reproduce.experiments.{name}")
