"""Train and evaluate a stacked denoising autoencoder.

    python -m experiments.train --dataset=mnist --workdir=/tmp/sda_mnist --data_dir=../shared/data/mnist
    python -m experiments.train --dataset=rectangles --workdir=/tmp/sda_rect

Every flag but --dataset and --workdir defaults to the dataset's preset (sdae/config.py PRESETS:
SdA-3 of 1000 units, masking noise at the paper's level). Writes DIR/results.json, filters.png,
reconstructions.png, metrics.jsonl and checkpoints; rerun with the same --workdir to resume.
This file is intentionally short: the logic lives in sdae.experiment.
"""

from absl import flags

from experiments import _cli

FLAGS = flags.FLAGS
flags.DEFINE_string("dataset", None, "Dataset name or paper alias (mnist, rect, convex, ...).")
flags.DEFINE_string("workdir", None, "Output folder; rerun with the same one to resume.")
flags.DEFINE_string("preset", None, "Named preset (default: the dataset's); see sdae/config.py.")
flags.DEFINE_list("hidden", None, "Hidden layer sizes, e.g. 1000,1000,1000.")
flags.DEFINE_string("corruption", None, "Corruption: masking, gaussian, salt_pepper, ...")
flags.DEFINE_float("level", None, "Corruption level for every layer.")
flags.DEFINE_list("layer_levels", None, "Per-layer corruption levels, e.g. 0.1,0.2,0.3.")
flags.DEFINE_integer("pretrain_epochs", None, "Pretraining epochs per layer.")
flags.DEFINE_integer("finetune_epochs", None, "Maximum fine-tuning epochs (early stopping).")
flags.DEFINE_integer("batch_size", None, "Minibatch size (pretraining and fine-tuning).")
flags.DEFINE_float("pretrain_lr", None, "Pretraining learning rate.")
flags.DEFINE_float("finetune_lr", None, "Fine-tuning learning rate.")
flags.DEFINE_integer("seed", None, "Seed: initialisation, shuffling and noise derive from it.")
flags.DEFINE_string("optimizer", None, "sgd (the paper's), momentum or adam.")
flags.DEFINE_string("activation", None, "Hidden units: sigmoid, tanh, relu, linear.")
flags.DEFINE_boolean("tied", None, "Tied decoder weights W' = W^T.")
flags.DEFINE_string("loss", None, "Reconstruction loss: auto, cross_entropy, squared.")
flags.DEFINE_integer("patience", None, "Early-stopping patience in epochs.")
flags.DEFINE_string("precision", None, "float32, or bfloat16 products (float32 parameters).")
flags.DEFINE_integer("n_train", None, "Use only the first N training examples (0: all).")
flags.DEFINE_string("data_source", None, "original or regenerated (default: original if at hand).")
flags.DEFINE_string("data_dir", None, "Folder holding the original files (IDX, zips).")
flags.DEFINE_string("cache_dir", None, "Cache for prepared and regenerated datasets.")
flags.DEFINE_float("checkpoint_every_secs", None, "Seconds between checkpoints (0: every epoch).")
flags.DEFINE_integer("keep_checkpoints", None, "How many checkpoints to keep.")
flags.DEFINE_boolean("overwrite", False, "Start over in a workdir of another configuration.")

_SCALARS = ("corruption", "level", "pretrain_epochs", "finetune_epochs", "batch_size",
            "pretrain_lr", "finetune_lr", "seed", "optimizer", "activation", "tied", "loss",
            "patience", "precision", "n_train", "data_source", "data_dir", "cache_dir",
            "checkpoint_every_secs", "keep_checkpoints")


def config_from_flags():
  """The dataset's preset, overridden by every flag given on the command line."""
  from sdae import config as config_lib
  from sdae import data as data_lib
  if not FLAGS.dataset:
    raise _cli.UsageError("--dataset is required; accepted: " + ", ".join(sorted(data_lib.DATASETS)))
  if not FLAGS.workdir:
    raise _cli.UsageError("--workdir is required: a folder for results and checkpoints")
  dataset = data_lib.resolve_name(FLAGS.dataset)
  preset = FLAGS.preset or dataset
  if preset not in config_lib.PRESETS:
    raise _cli.UsageError(f"--preset={preset!r} is unknown; accepted: "
                          + ", ".join(sorted(config_lib.PRESETS)))
  overrides = {k: getattr(FLAGS, k) for k in _SCALARS if getattr(FLAGS, k) is not None}
  if FLAGS.hidden is not None:
    overrides["hidden"] = _cli.int_list("hidden", FLAGS.hidden)
  if FLAGS.layer_levels is not None:
    overrides["layer_levels"] = _cli.float_list("layer_levels", FLAGS.layer_levels)
  config = config_lib.preset(preset).replace(dataset=dataset, **overrides)
  return config_lib.validate(config)


def main(argv):
  del argv
  config = config_from_flags()  # validated before anything is compiled
  _cli.setup_jax()
  from sdae import experiment
  results = experiment.train_and_evaluate(config, FLAGS.workdir, overwrite=FLAGS.overwrite)
  print(f"test error {results['test_error_pct']:.2f}% +- {results['test_ci95_pct']:.2f} "
        f"(valid {results['valid_error_pct']:.2f}%, {results['data_source']} data) -> "
        f"{FLAGS.workdir}/results.json")


if __name__ == "__main__":
  _cli.run(main)
