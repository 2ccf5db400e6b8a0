r"""usage: python -m experiments.denoise --dataset=mnist --corruption=KIND --workdir=DIR [--data_dir=DIR] [flags]

example: python -m experiments.denoise --dataset=mnist --mode=superres --workdir=runs/superres --data_dir=data   # ~2 min

Trains a denoising autoencoder as an image restorer, or applies a trained one.

Train (writes DIR/denoise.json, DIR/restored.npz, DIR/denoise.png and the trained denoiser):

    python -m experiments.denoise --dataset=mnist --corruption=erasure --level=0.9 \
        --workdir=DIR [--preset=NAME] [--model=dense|conv] [--mode=clean|noise2noise|superres] \
        [--loss=cross_entropy|squared|l1] [--hidden=1024,1024] [--epochs=N] \
        [--batch_size=64] [--lr=0.001] [--lr_schedule=constant|cosine] [--norm=none|group] \
        [--seed=0] [--train_size=N] [--test_size=N] [--data_dir=DIR] \
        [--data_source=original|regenerated]

With no model or training flag, a run uses its corruption's preset (``sdae.configs.denoise``:
erasure, blur, block, gaussian; noise2noise and superres by mode): the model and training
length that meet its documented accuracy on restored digits. ``--preset=course`` is the course's
convolutional autoencoder. Flags given explicitly override the preset's values.
``--level`` defaults per corruption (erasure 0.9, blur 4, block 10/28, gaussian 0.5);
``--mode=superres`` needs no ``--corruption`` (2x average pool, 14x14 -> 28x28).

Apply a trained denoiser to your own images (single-channel grayscale PNGs of the model's
input size, ink white on black like MNIST, or a .npy array [n, side, side] / [n, side*side]
in [0, 1]); writes the restored images under the same names:

    python -m experiments.denoise --apply --workdir=DIR --input=FOLDER_OR_FILE --output=DIR2
"""

from __future__ import annotations

import types
from typing import Sequence

from absl import flags

from experiments import _cli


def define_flags(fv: flags.FlagValues) -> types.SimpleNamespace:
  """Defines this program's flags in ``fv``: the global FLAGS when run as a program, a fresh
  ``FlagValues`` for in-process calls (``main_args``), so flags of other entry points imported
  in the same process (tests) never clash."""
  d = dict(flag_values=fv)
  return types.SimpleNamespace(
      dataset=flags.DEFINE_string("dataset", None, "Dataset of 28x28 images (mnist).", **d),
      workdir=flags.DEFINE_string("workdir", None, "Output folder (results, figure, model).", **d),
      corruption=flags.DEFINE_string("corruption", None, "erasure | blur | block | gaussian | "
                                     "masking | salt_pepper (not for superres).", **d),
      level=flags.DEFINE_float("level", None, "Corruption level; default per corruption "
                               "(erasure 0.9, blur 4, block 10/28, gaussian 0.5).", **d),
      preset=flags.DEFINE_string("preset", None, "Named preset (erasure, blur, block, gaussian, "
                                 "noise2noise, superres, course); default: the corruption's "
                                 "(or the mode's).", **d),
      model=flags.DEFINE_string("model", "conv", "dense | conv (without a preset).", **d),
      mode=flags.DEFINE_string("mode", "clean", "clean | noise2noise | superres.", **d),
      loss=flags.DEFINE_string("loss", "cross_entropy", "cross_entropy | squared | l1.", **d),
      hidden=flags.DEFINE_list("hidden", None, "dense: hidden widths (10 for 784-10-784; "
                               "presets: 1024,1024); conv: channels per conv layer (default "
                               "16,16,16,16,8; the course's width is 32).", **d),
      kernels=flags.DEFINE_list("conv_kernels", "5,5,4,3,1", "conv: kernel sizes (the "
                                "course's 1x1-pixel code: 5,5,4,3,4).", **d),
      strides=flags.DEFINE_list("conv_strides", "1,1,2,2,1", "conv: strides.", **d),
      activation=flags.DEFINE_string("out_activation", "sigmoid", "sigmoid | identity.", **d),
      epochs=flags.DEFINE_integer("epochs", 5, "Training epochs.", **d),
      batch_size=flags.DEFINE_integer("batch_size", 64, "Minibatch size.", **d),
      lr=flags.DEFINE_float("lr", 1e-3, "Adam learning rate.", **d),
      schedule=flags.DEFINE_string("lr_schedule", "constant", "constant | cosine (decays to 0 "
                                   "over the run).", **d),
      norm=flags.DEFINE_string("norm", "none", "conv: none | group (GroupNorm after each hidden "
                               "layer).", **d),
      seed=flags.DEFINE_integer("seed", 0, "Seed of initialisation, shuffling and noise.", **d),
      train_size=flags.DEFINE_integer("train_size", 0, "Train on the first N (0: all).", **d),
      test_size=flags.DEFINE_integer("test_size", 0, "Evaluate on the first N (0: all).", **d),
      data_dir=flags.DEFINE_string("data_dir", None, "Folder holding the dataset's files.", **d),
      data_source=flags.DEFINE_string("data_source", None, "original | regenerated.", **d),
      data_version=flags.DEFINE_integer("data_version", None, "Regenerated data only: the "
                                        "generator's version (default: the newest).", **d),
      apply=flags.DEFINE_bool("apply", False, "Apply the denoiser in --workdir to --input.", **d),
      input=flags.DEFINE_string("input", None, "--apply: folder of PNGs, a .png or a .npy.", **d),
      output=flags.DEFINE_string("output", None, "--apply: output folder.", **d),
  )


_F = None  # this program's flags when run as ``python -m experiments.denoise``


# DenoiseConfig field -> (attribute in define_flags' namespace, how to read its value)
_FIELDS = {
    "mode": ("mode", None), "corruption": ("corruption", None), "level": ("level", None),
    "model": ("model", None), "hidden": ("hidden", "int_list"), "kernels": ("kernels", "int_list"),
    "strides": ("strides", "int_list"), "loss": ("loss", None), "output": ("activation", None),
    "epochs": ("epochs", None), "batch_size": ("batch_size", None), "lr": ("lr", None),
    "seed": ("seed", None), "schedule": ("schedule", None), "norm": ("norm", None),
}


def _config(f):
  """(config, preset name or None): the preset's fields, overridden by every flag given."""
  from sdae.configs import denoise as denoise_configs
  from sdae.restore.config import DenoiseConfig
  for name in ("train_size", "test_size"):
    if getattr(f, name).value < 0:
      raise _cli.UsageError(f"--{name}={getattr(f, name).value} is not accepted; accepted: "
                            "0 (all) or a positive integer")
  values, given = {}, {}
  for field, (attr, kind) in _FIELDS.items():
    holder = getattr(f, attr)
    v = holder.value
    if kind == "int_list":
      v = _cli.int_list(holder.name, v)
    values[field] = v
    if holder.present:
      given[field] = v
  try:
    preset = (denoise_configs.get(f.preset.value) if f.preset.value is not None
              else denoise_configs.preset_for(values["mode"], values["corruption"]))
  except ValueError as e:
    raise _cli.UsageError(str(e)) from None
  if preset is None:
    return DenoiseConfig(**values), None
  return DenoiseConfig(**denoise_configs.settings(preset, given)), preset.name


def main(argv, f=None):
  del argv
  f = f or _F
  from sdae.restore.apply import restore_images
  from sdae.restore.config import validate
  from sdae.restore.run import check_splits, run, summary_line
  if not f.workdir.value:
    raise _cli.UsageError("--workdir is required")
  if f.apply.value:
    if not f.input.value or not f.output.value:
      raise _cli.UsageError("--apply needs --input=FOLDER_OR_FILE and --output=DIR")
    _cli.check_output_dir("output", f.output.value)
    try:
      written = restore_images(f.workdir.value, f.input.value, f.output.value)
    except (ValueError, FileNotFoundError) as e:
      raise _cli.UsageError(str(e)) from None
    print(f"wrote {len(written)} file(s) to {f.output.value}")
    return
  if not f.dataset.value:
    raise _cli.UsageError("--dataset is required (e.g. --dataset=mnist)")
  from sdae import data as data_lib
  data_lib.resolve_name(f.dataset.value)  # an unknown name first: one line naming the accepted
  from sdae.data import regenerate
  regenerate.check_flag(f.dataset.value, f.data_version.value, f.data_source.value)
  _cli.check_output_dir("workdir", f.workdir.value)
  config, preset = _config(f)
  try:
    config = validate(config)
  except ValueError as e:
    raise _cli.UsageError(str(e)) from None
  _cli.setup_jax()
  from sdae import data
  from sdae.io.progress import Progress
  name = data.resolve_name(f.dataset.value)
  splits = data.load(name, source=f.data_source.value, data_dir=f.data_dir.value,
                     data_version=f.data_version.value)
  source = splits.source  # the source actually read, for denoise.json
  try:
    check_splits(splits, config.side, name)
  except ValueError as e:
    raise _cli.UsageError(str(e)) from None
  r = run(config, splits, f.workdir.value, data_source=source, dataset=name,
          data_version=splits.data_version,
          train_size=f.train_size.value, test_size=f.test_size.value, preset=preset,
          progress=Progress())
  if not _cli.summary_on_stdout():  # on a terminal, the summary above says it once
    return
  print(f"{summary_line(r)}; wrote {f.workdir.value}/denoise.json, restored.npz, "
        "denoise.png (+ .pdf)")


def main_args(args: Sequence[str]) -> None:
  """In-process call with command-line style ``args`` (fresh flags; errors raise)."""
  fv = flags.FlagValues()
  f = define_flags(fv)
  fv(["denoise", *args])
  main([], f)


if __name__ == "__main__":
  _F = define_flags(flags.FLAGS)
  _cli.run(main)
