r"""usage: python -m experiments.toy2d --workdir=DIR [flags]

example: python -m experiments.toy2d --workdir=runs/toy2d

The 2-D denoising figure: an MLP R^2 -> R^2 (100 ReLU units) trained on points of a curve
plus Gaussian noise; writes DIR/toy2d.png and toy2d.pdf (training points and the arrows x -> phi(x)) and
DIR/toy2d.json (mean distance to the curve of noisy points before and after phi).

    python -m experiments.toy2d --workdir=DIR [--shape=spiral|circle] [--sigma=0.1] \
        [--epochs=300] [--n_points=2000] [--seed=0]
"""

from __future__ import annotations

import types
from typing import Sequence

from absl import flags

from experiments import _cli

def define_flags(fv: flags.FlagValues) -> types.SimpleNamespace:
  """Defines the flags in ``fv`` (global FLAGS as a program; fresh for ``main_args``)."""
  d = dict(flag_values=fv)
  return types.SimpleNamespace(
      workdir=flags.DEFINE_string("workdir", None, "Output folder.", **d),
      shape=flags.DEFINE_string("shape", "spiral", "spiral | circle.", **d),
      sigma=flags.DEFINE_float("sigma", 0.1, "Std of the Gaussian corruption.", **d),
      hidden=flags.DEFINE_integer("hidden", 100, "Hidden ReLU units.", **d),
      epochs=flags.DEFINE_integer("epochs", 300, "Training epochs.", **d),
      n_points=flags.DEFINE_integer("n_points", 2000, "Training points.", **d),
      batch_size=flags.DEFINE_integer("batch_size", 100, "Minibatch size.", **d),
      lr=flags.DEFINE_float("lr", 1e-2, "Adam learning rate.", **d),
      seed=flags.DEFINE_integer("seed", 0, "Seed.", **d),
  )


_F = None


def main(argv, f=None):
  del argv
  f = f or _F
  from sdae.restore import toy2d
  if not f.workdir.value:
    raise _cli.UsageError("--workdir is required: a folder for toy2d.png and toy2d.json")
  _cli.check_output_dir("workdir", f.workdir.value)  # a file there: one line, not a traceback
  config = toy2d.Toy2dConfig(shape=f.shape.value, n_points=f.n_points.value,
                             sigma=f.sigma.value, hidden=f.hidden.value, epochs=f.epochs.value,
                             batch_size=f.batch_size.value, lr=f.lr.value, seed=f.seed.value)
  try:
    toy2d.validate(config)
  except ValueError as e:
    raise _cli.UsageError(str(e)) from None
  _cli.setup_jax()  # as every entry point: quiet backend logs, the compilation cache
  r = toy2d.run(config, f.workdir.value)
  print(f"mean distance to the curve: noisy {r['mean_distance_noisy']:.4f} -> phi "
        f"{r['mean_distance_denoised']:.4f}; wrote {f.workdir.value}/toy2d.png")


def main_args(args: Sequence[str]) -> None:
  """In-process call with command-line style ``args`` (fresh flags; errors raise)."""
  fv = flags.FlagValues()
  f = define_flags(fv)
  fv(["toy2d", *args])
  main([], f)


if __name__ == "__main__":
  _F = define_flags(flags.FLAGS)
  _cli.run(main)
