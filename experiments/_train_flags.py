"""Training flags shared by experiments.train, experiments.sweep, experiments.reproduce_table.

Defined once here, into a given ``FlagValues``: the global ``flags.FLAGS`` when an entry point
runs as a program, a private ``FlagValues`` when it is imported (tests), so entry points imported
into one process never clash over ``--workdir`` or ``--hidden``. ``config_from_flags`` turns
them into a validated ``TrainConfig``: a named preset (``sdae.configs.sda``: the dataset's
defaults, or one of its TRAIN_PRESETS) overridden by every flag given on the command line.
"""

from __future__ import annotations

import sys

from absl import flags

from experiments import _cli


def flag_values(module_name: str) -> flags.FlagValues:
  """The global FLAGS for a program (``__main__``), else a fresh private ``FlagValues``."""
  return flags.FLAGS if module_name == "__main__" else flags.FlagValues()


def define(fv: flags.FlagValues) -> flags.FlagValues:
  """Defines the training flags in ``fv``; returns it."""
  d = dict(flag_values=fv)
  flags.DEFINE_string("dataset", None, "Required: dataset name or paper alias (mnist, rect, "
                      "convex, ...).", **d)
  flags.DEFINE_string("workdir", None, "Required: output folder; rerun with the same one to "
                      "resume.", **d)
  flags.DEFINE_string("preset", None, "Named preset (default: the dataset's); see "
                      "sdae/configs/sda.py (a dataset's name or alias, or <dataset>_quick|_cpu|_paper such as "
                      "rect_quick, mnist_tutorial_filters).", **d)
  flags.DEFINE_string("pretraining", None, "Greedy layer objective: denoising (stacked dAs; "
                      "level 0: plain autoencoders), rbm (a deep belief network, CD-k), none.",
                      **d)
  flags.DEFINE_integer("cd_steps", None, "k of CD-k (--pretraining=rbm).", **d)
  flags.DEFINE_list("hidden", None, "Hidden layer sizes, e.g. 1000,1000,1000.", **d)
  flags.DEFINE_string("corruption", None, "Corruption: masking, gaussian, salt_pepper, ...",
                      **d)
  flags.DEFINE_float("level", None, "Corruption level for every layer.", **d)
  flags.DEFINE_list("layer_levels", None, "Per-layer corruption levels, e.g. 0.1,0.2,0.3.", **d)
  flags.DEFINE_string("emphasis", None, "Emphasis of the denoising loss (Vincent et al. 2010, "
                      "4.3): none, double or full (loss on the corrupted inputs weighted 1, on "
                      "the others 1, 0.5 or 0); needs a corruption that touches some inputs "
                      "(masking, salt_pepper, erasure, block). Default: none.", **d)
  flags.DEFINE_integer("pretrain_epochs", None, "Pretraining epochs per layer.", **d)
  flags.DEFINE_integer("finetune_epochs", None, "Maximum fine-tuning epochs (early stopping).", **d)
  flags.DEFINE_integer("batch_size", None, "Minibatch size (pretraining, and fine-tuning unless "
                       "--finetune_batch_size).", **d)
  flags.DEFINE_integer("finetune_batch_size", None, "Fine-tuning minibatch size (0: --batch_size).",
                       **d)
  flags.DEFINE_float("pretrain_lr", None, "Pretraining learning rate.", **d)
  flags.DEFINE_float("finetune_lr", None, "Fine-tuning learning rate.", **d)
  flags.DEFINE_integer("seed", None, "Seed: initialisation, shuffling and noise derive from it.",
                       **d)
  flags.DEFINE_string("optimizer", None, "sgd (the paper's), momentum or adam.", **d)
  flags.DEFINE_string("activation", None, "Hidden units: sigmoid, tanh, relu, linear.", **d)
  flags.DEFINE_string("init", None, "Initial weights of the dA layers and unpretrained "
                      "encoders: glorot (the Theano tutorials', U(+-4 sqrt(6/(n_in+n_out))) for "
                      "sigmoid units; default) or fan_in (U(+-1/sqrt(n_in))).", **d)
  flags.DEFINE_boolean("tied", None, "Tied decoder weights W' = W^T.", **d)
  flags.DEFINE_string("loss", None, "Reconstruction loss: auto, cross_entropy, squared.", **d)
  flags.DEFINE_integer("patience", None, "Early-stopping patience in epochs.", **d)
  flags.DEFINE_string("precision", None, "float32, or bfloat16 products (float32 parameters).",
                      **d)
  flags.DEFINE_integer("n_train", None, "Use only the first N training examples (0: all).", **d)
  flags.DEFINE_string("data_source", None,
                      "original or regenerated (default: original when --data_dir holds the "
                      "set's files, else regenerated; a rerun uses its workdir's).", **d)
  flags.DEFINE_integer("data_version", None, "Regenerated data only: the generator's version "
                       "(default: the newest; a rerun uses its workdir's).", **d)
  flags.DEFINE_string("data_dir", None, "Folder holding the original files (IDX, zips).", **d)
  flags.DEFINE_string("cache_dir", None, "Cache for prepared and regenerated datasets and "
                      "downloads (default: $SDAE_CACHE_DIR or ~/.cache/sdae).", **d)
  flags.DEFINE_float("checkpoint_every_secs", None,
                     "Seconds between checkpoints (0: every epoch).", **d)
  flags.DEFINE_integer("keep_checkpoints", None, "Checkpoints kept while training (default 2: "
                       "the one before the newest survives damage to it); 0: two while training, "
                       "none once results.json is written (no resume after that).", **d)
  flags.DEFINE_string("member_loop", None, "How a device runs a sweep's members: auto (map on "
                      "CPU, vmap on GPU/TPU), vmap (batched products) or map (one after "
                      "another, each as the model alone). Default: auto.",
                      **d)
  flags.DEFINE_boolean("overwrite", False, "Start over in a workdir of another configuration.",
                       **d)
  flags.DEFINE_integer("cpu_devices", None, "CPU devices XLA makes of this machine (default: one "
                       "per core, so a sweep splits its members over the cores); ignored on a "
                       "GPU or TPU, and when XLA_FLAGS sets the count.", **d)
  # Several processes (docs/multihost.md): each flag falls back to the variable a launcher sets.
  flags.DEFINE_string("coordinator", None, "host:port of process 0 when several processes "
                      "train one sweep or table (default: $SDAE_COORDINATOR).", **d)
  flags.DEFINE_integer("num_processes", None, "How many processes (default: "
                       "$SDAE_NUM_PROCESSES).", **d)
  flags.DEFINE_integer("process_id", None, "This process's index, 0..N-1 (default: "
                       "$SDAE_PROCESS_ID).", **d)
  flags.DEFINE_list("local_device_ids", None, "The local devices this process uses (default: "
                    "$SDAE_LOCAL_DEVICE_IDS; all).", **d)
  flags.DEFINE_boolean("distributed", None, "Let JAX detect the cluster itself (Slurm, Open "
                       "MPI, Cloud TPU; default: $SDAE_DISTRIBUTED=1).", **d)
  if fv is flags.FLAGS:
    show_in_help(fv)
  return fv


def show_in_help(fv: flags.FlagValues) -> None:
  """Lists the flags defined here under the program's ``--help``.

  absl's ``--help`` shows the key flags of the main module only (the rest, absl's logging flags
  included, under ``--helpfull``); flags defined by this module are key to it, not to the
  program that imports it. absl names the main module by ``sys.argv[0]``
  (``FlagValues.main_module_help``).
  """
  for flag in fv.get_key_flags_for_module(__name__):
    fv.register_key_flag_for_module(sys.argv[0], flag)


SCALARS = ("pretraining", "cd_steps", "corruption", "level", "emphasis", "pretrain_epochs",
           "finetune_epochs", "batch_size", "finetune_batch_size",
           "pretrain_lr", "finetune_lr", "seed", "optimizer", "activation", "init", "tied", "loss",
           "patience", "precision", "n_train", "data_source", "data_version", "data_dir", "cache_dir",
           "checkpoint_every_secs", "keep_checkpoints", "member_loop")


def overrides(fv: flags.FlagValues, exclude: tuple[str, ...] = ()) -> dict:
  """The training settings given on the command line (flags left unset are absent)."""
  out = {k: getattr(fv, k) for k in SCALARS
         if k not in exclude and getattr(fv, k) is not None}
  if fv.hidden is not None and "hidden" not in exclude:
    out["hidden"] = _cli.int_list("hidden", fv.hidden)
  if fv.layer_levels is not None and "layer_levels" not in exclude:
    out["layer_levels"] = _cli.float_list("layer_levels", fv.layer_levels)
  return out


def require_workdir(fv: flags.FlagValues) -> str:
  """The checked ``--workdir``; ``--cpu_devices`` is checked here too (every entry point of these
  flags calls this before anything runs)."""
  if not fv.workdir:
    raise _cli.UsageError("--workdir is required: a folder for results and checkpoints")
  _cli.check_cpu_devices(fv.cpu_devices)
  return _cli.check_output_dir("workdir", fv.workdir)


def base_config(fv: flags.FlagValues, exclude: tuple[str, ...] = ()):
  """The preset (the dataset's unless --preset) with every given flag applied, validated."""
  from sdae import config as config_lib
  from sdae import data as data_lib
  from sdae.configs import sda as sda_configs
  preset_name = None
  if fv.preset:
    preset_name = sda_configs.resolve(fv.preset)
    if preset_name is None:
      raise _cli.UsageError(f"--preset={fv.preset!r} is unknown; accepted: "
                            + ", ".join(sda_configs.names())
                            + " (a dataset part takes the paper's aliases, e.g. rect_quick)")
  named = sda_configs.TRAIN_PRESETS.get(preset_name) if preset_name else None
  if fv.dataset:
    dataset = data_lib.resolve_name(fv.dataset)
    if data_lib.DATASETS[dataset].n_classes == 0:
      raise _cli.UsageError(f"--dataset={dataset} is unlabelled: no classes to train a "
                            "classifier on; accepted: a labelled dataset (its filters: "
                            "python -m experiments.filters --figure=natural)")
  elif named is not None:
    dataset = named["dataset"]
  elif preset_name is not None:  # a dataset's defaults, by name
    dataset = preset_name
  else:
    raise _cli.UsageError("--dataset is required; accepted: "
                          + ", ".join(sorted(data_lib.DATASETS)))
  require_workdir(fv)
  if named is not None:
    config = config_lib.TrainConfig(**dict(named, dataset=dataset))
  else:
    preset = preset_name or dataset
    config = sda_configs.for_dataset(preset, fv.pretraining or "denoising").replace(
        dataset=dataset)
  return config_lib.validate(config.replace(**overrides(fv, exclude)))


def config_from_flags(fv: flags.FlagValues = flags.FLAGS):
  """The dataset's preset, overridden by every flag given on the command line."""
  return base_config(fv)
