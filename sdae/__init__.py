"""sdae: stacked denoising autoencoders in JAX/Flax.

Modules (import what you need; the package import itself stays light):

  sdae.corruption   corruptions by name, pure ``(key, x, level) -> x~``
  sdae.model        dA layer, stacked encoder, classifier head, losses
  sdae.pretrain     greedy layer-wise pretraining, epochs as ``lax.scan``
  sdae.finetune     supervised fine-tuning, early stopping, evaluation with intervals
  sdae.data         datasets by name (original files or regenerated)

Sub-packages beside the core (docs/layout.md lists every module):

  sdae.reproduce    reproducing the paper: Table 3, Tables 4-5, Figures 10-11, the filter figures
  sdae.restore      denoising autoencoders as image restorers
  sdae.io           a run's plumbing: atomic files, workdir, results.json, progress, locks, signals
"""

__version__ = "0.1.0"
