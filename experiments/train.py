r"""usage: python -m experiments.train --dataset=NAME --workdir=DIR [flags]

example: python -m experiments.train --dataset=rect --workdir=runs/rect   # ~1 min on 2 cores

Trains and evaluates a stacked denoising autoencoder. More examples:

    python -m experiments.train --dataset=rectangles --workdir=runs/rect
    python -m experiments.train --dataset=mnist --workdir=runs/mnist --data_dir=data
    python -m experiments.train --dataset=mnist --pretraining=rbm --workdir=runs/dbn3 --data_dir=...
    python -m experiments.train --preset=mnist_tutorial_filters --workdir=runs/filters --data_dir=...

Every flag but --dataset and --workdir defaults to the dataset's preset (sdae/configs/sda.py,
the SdA configurations: SdA-3 of 1000 units, masking noise at the paper's level; with
--pretraining, that objective's settings over it, e.g. MNIST's DBN fine-tunes 50 epochs) or to
--preset (a dataset's name or alias, <dataset>_quick|_cpu|_paper, mnist_tutorial_filters).
Writes DIR/results.json, filters.png, reconstructions.png (each with a PDF beside it), metrics.jsonl and
checkpoints; rerun with the same --workdir to resume. The flags are defined in
experiments/_train_flags.py (shared with experiments.sweep and experiments.reproduce_table).
This file is intentionally short: the logic lives in sdae.experiment.
"""

import math
import os

from absl import flags

from experiments import _cli
from experiments import _train_flags

# The global FLAGS when run as a program; a private FlagValues when imported.
FLAGS = _train_flags.define(_train_flags.flag_values(__name__))
flags.DEFINE_boolean(
    "data_parallel", False, "Split every minibatch over this process's devices (GPUs): data "
    "parallelism for one model, with the gradients summed across devices. Off by default: on a "
    "CPU it is slower than one device using every core (BUILD_NOTES.md).", flag_values=FLAGS)


def config_from_flags():
  """The dataset's preset, overridden by every flag given on the command line."""
  return _train_flags.config_from_flags(FLAGS)


def main(argv):
  del argv
  config = config_from_flags()  # validated before anything is compiled
  _cli.setup_jax(FLAGS.cpu_devices)
  # With --coordinator etc. (or SDAE_COORDINATOR) set, every process trains the same model (one model is not split
  # over processes; a sweep is) and only process 0 writes.
  several = _cli.init_distributed(FLAGS)
  if FLAGS.data_parallel and several:
    raise _cli.UsageError("--data_parallel splits one model's minibatches over this process's "
                          "devices; with several processes, run a sweep (experiments.sweep)")
  from sdae import experiment
  mesh = None
  if FLAGS.data_parallel:  # the most local devices that divide both minibatch sizes
    import jax
    from sdae import sharding
    mesh = sharding.data_mesh(math.gcd(config.batch_size, config.ft_batch_size()),
                              devices=jax.local_devices())
  results = experiment.train_and_evaluate(config, FLAGS.workdir, overwrite=FLAGS.overwrite,
                                          mesh=mesh)
  pictures = [n for n in ("reconstructions.png", "filters.png")  # square images only
              if os.path.exists(os.path.join(FLAGS.workdir, n))]
  if not _cli.summary_on_stdout():  # on a terminal, the summary above says it once
    return
  print(f"test error {results['test_error_pct']:.2f}% +- {results['test_ci95_pct']:.2f} "
        f"(valid {results['valid_error_pct']:.2f}%, {results['data_source']} data) -> "
        f"{FLAGS.workdir}/results.json"
        + (f"; pictures {', '.join(pictures)} (+ .pdf)" if pictures else ""))


if __name__ == "__main__":
  _cli.run(main)
