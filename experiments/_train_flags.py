"""The training flags shared by experiments.train, experiments.sweep and experiments.reproduce_table.

Defined once here (absl flags are process-global, so two entry points defining ``--workdir``
could not be imported together, e.g. in one test process). ``config_from_flags`` turns them into
a validated ``TrainConfig``: a named preset (the dataset's, sdae/config.py PRESETS, or one of
experiments/presets.py TRAIN_PRESETS) overridden by every flag given on the command line.
"""

from __future__ import annotations

from absl import flags

from experiments import _cli

FLAGS = flags.FLAGS
flags.DEFINE_string("dataset", None, "Dataset name or paper alias (mnist, rect, convex, ...).")
flags.DEFINE_string("workdir", None, "Output folder; rerun with the same one to resume.")
flags.DEFINE_string("preset", None, "Named preset (default: the dataset's); see sdae/config.py "
                    "PRESETS and experiments/presets.py TRAIN_PRESETS.")
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

SCALARS = ("corruption", "level", "pretrain_epochs", "finetune_epochs", "batch_size",
           "pretrain_lr", "finetune_lr", "seed", "optimizer", "activation", "tied", "loss",
           "patience", "precision", "n_train", "data_source", "data_dir", "cache_dir",
           "checkpoint_every_secs", "keep_checkpoints")


def overrides(exclude: tuple[str, ...] = ()) -> dict:
  """The training settings given on the command line (flags left unset are absent)."""
  out = {k: getattr(FLAGS, k) for k in SCALARS if k not in exclude and getattr(FLAGS, k) is not None}
  if FLAGS.hidden is not None and "hidden" not in exclude:
    out["hidden"] = _cli.int_list("hidden", FLAGS.hidden)
  if FLAGS.layer_levels is not None and "layer_levels" not in exclude:
    out["layer_levels"] = _cli.float_list("layer_levels", FLAGS.layer_levels)
  return out


def require_workdir() -> str:
  if not FLAGS.workdir:
    raise _cli.UsageError("--workdir is required: a folder for results and checkpoints")
  return FLAGS.workdir


def base_config(exclude: tuple[str, ...] = ()):
  """The preset (the dataset's unless --preset) with every given flag applied, validated."""
  from sdae import config as config_lib
  from sdae import data as data_lib
  from experiments import presets
  named = presets.TRAIN_PRESETS.get(FLAGS.preset) if FLAGS.preset else None
  if FLAGS.dataset:
    dataset = data_lib.resolve_name(FLAGS.dataset)
  elif named is not None:
    dataset = named["dataset"]
  else:
    raise _cli.UsageError("--dataset is required; accepted: "
                          + ", ".join(sorted(data_lib.DATASETS)))
  require_workdir()
  if named is not None:
    config = config_lib.TrainConfig(**dict(named, dataset=dataset))
  else:
    preset = FLAGS.preset or dataset
    if preset not in config_lib.PRESETS:
      raise _cli.UsageError(f"--preset={preset!r} is unknown; accepted: " + ", ".join(
          sorted(set(config_lib.PRESETS) | set(presets.TRAIN_PRESETS))))
    config = config_lib.preset(preset).replace(dataset=dataset)
  return config_lib.validate(config.replace(**overrides(exclude)))


def config_from_flags():
  """The dataset's preset, overridden by every flag given on the command line."""
  return base_config()
