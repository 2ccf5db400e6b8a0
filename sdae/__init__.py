"""sdae: stacked denoising autoencoders in JAX/Flax.

Modules (import what you need; the package import itself stays light):

  sdae.corruption   corruptions by name, pure ``(key, x, level) -> x~``
  sdae.model        dA layer, stacked encoder, classifier head, losses
  sdae.pretrain     greedy layer-wise pretraining, epochs as ``lax.scan``
  sdae.finetune     supervised fine-tuning, early stopping, evaluation with intervals
  sdae.data         datasets by name (original files or regenerated)
"""

__version__ = "0.1.0"
