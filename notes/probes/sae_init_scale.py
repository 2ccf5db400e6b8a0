"""Probe, not library code: does the plain autoencoders' weak SAE-3 on rect (issue 26: 4.1-7.3%
test error over ~20 settings, paper 2.41 +- 0.13) come from the initialisation?

The library initialises sigmoid layers as the Theano tutorials do, U(+-4 sqrt(6 / (n_in +
n_out))) (0.23 for 784 -> 1000). The 2007 study's autoassociators came from PLearn, whose
default was U(+-1 / sqrt(n_in)) (0.036): 6.5x smaller. This probe trains rect's SAE-3 (level 0,
1000 units, the rect preset's schedule but the given pretraining epochs) at each bound, one model
each, and prints validation and test error. Run from the repository root:
python notes/probes/sae_init_scale.py [pretrain_epochs]
"""

import math
import sys

import jax

from sdae import experiment, model
from sdae.configs import sda
from sdae.data import load

EPOCHS = int(sys.argv[1]) if len(sys.argv) > 1 else 30
real = model.uniform_init


def plearn_init(n_in, n_out, activation):
  bound = 1.0 / math.sqrt(n_in)
  return lambda key, shape, dtype=jax.numpy.float32: jax.random.uniform(
      key, shape, dtype, -bound, bound)


splits = load("rectangles", source="regenerated")
for name, init in (("plearn 1/sqrt(n_in)", plearn_init), ("tutorial 4 sqrt(6/(n_in+n_out))", real)):
  model.uniform_init = init
  cfg = sda.for_dataset("rectangles").replace(level=0.0, pretrain_epochs=EPOCHS)
  for ft_lr in (0.1, 0.3):
    r = experiment.train_and_evaluate(cfg.replace(finetune_lr=ft_lr), None, splits=splits,
                                      write_images=False)
    print(f"{name}, {EPOCHS} pretraining epochs, fine-tuning lr {ft_lr}: valid "
          f"{r['valid_error_pct']:.2f}%, test {r['test_error_pct']:.2f}%", flush=True)
