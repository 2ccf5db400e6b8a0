r"""The paper's filter figures (Vincent et al. 2010, Figures 5-8): what a one-layer denoising
autoencoder learns, by noise type, drawn and measured.

    python -m experiments.filters --figure=natural|mnist --workdir=DIR [--data_dir=DIR] \
        [--cache_dir=DIR] [--epochs=N] [--decays=0,1e-4,1e-3,1e-2] [--patch_size=12] [--n_train=N] [--seed=0]

``natural``: 12x12 whitened natural-image patches (scikit-image photographs, or Olshausen's
IMAGES.mat in --data_dir), 200 hidden units, affine decoder, squared error: keys
``ae_decay_<d>`` (plain autoencoder, each weight decay), ``gaussian_0.5``, ``salt_pepper_0.1``,
``masking_0.55``. ``mnist``: ``masking_0``, ``masking_0.25``, ``masking_0.5`` (--data_dir: the
MNIST IDX files). Writes DIR/filters.npz (each key float32 [n_hidden, h, w]), DIR/filters.png
(+ .pdf; one titled panel per key) and DIR/filters.json (settings, reconstruction errors and the
Gabor-fit measures of ``sdae.reproduce.gabor``), and prints the measures.
"""

from __future__ import annotations

import time
import types
from typing import Sequence

from absl import flags

from experiments import _cli


def define_flags(fv: flags.FlagValues) -> types.SimpleNamespace:
  """Defines the flags in ``fv`` (global FLAGS as a program; fresh for ``main_args``)."""
  d = dict(flag_values=fv)
  return types.SimpleNamespace(
      figure=flags.DEFINE_string("figure", None, "natural | mnist.", **d),
      workdir=flags.DEFINE_string("workdir", None, "Output folder.", **d),
      data_dir=flags.DEFINE_string("data_dir", None, "natural: a folder with Olshausen's "
                                   "IMAGES.mat (else scikit-image photographs); mnist: the "
                                   "IDX files.", **d),
      cache_dir=flags.DEFINE_string("cache_dir", None, "Cache for prepared datasets (default "
                                    "$SDAE_CACHE_DIR or ~/.cache/sdae).", **d),
      epochs=flags.DEFINE_integer("epochs", None, "Training epochs (default: the figure's).",
                                  **d),
      decays=flags.DEFINE_list("decays", None, "natural: the plain autoencoders' L2 weight "
                               "decays (default 0,1e-4,1e-3,1e-2).", **d),
      patch_size=flags.DEFINE_integer("patch_size", None, "natural: patch side (default 12).",
                                      **d),
      n_train=flags.DEFINE_integer("n_train", None, "Train on the first N examples (default: "
                                   "all).", **d),
      seed=flags.DEFINE_integer("seed", 0, "Seed of initialisation, shuffling and noise.", **d),
      data_version=flags.DEFINE_integer("data_version", None, "natural: the regenerated "
                                        "patches' data version (default: the newest).", **d),
  )


_F = None


def _config(f):
  from sdae.configs import filters as filter_configs
  figure = f.figure.value
  if not figure:
    raise _cli.UsageError(f"--figure is required; accepted: {', '.join(filter_configs.FIGURES)}")
  if figure not in filter_configs.FIGURES:
    raise _cli.UsageError(f"--figure={figure!r} is unknown; accepted: "
                          f"{', '.join(filter_configs.FIGURES)}")
  kw = {"seed": f.seed.value}
  if f.epochs.value is not None:
    kw["epochs"] = f.epochs.value
  if f.n_train.value is not None:
    if f.n_train.value < 1:
      raise _cli.UsageError(f"--n_train={f.n_train.value}; accepted: a positive integer")
    kw["n_train"] = f.n_train.value
  for name in ("decays", "patch_size"):
    if getattr(f, name).value is not None and figure != "natural":
      raise _cli.UsageError(f"--{name} applies to --figure=natural only")
  if f.decays.value is not None:
    kw["decays"] = _cli.float_list("decays", f.decays.value)
  if f.patch_size.value is not None:
    kw["patch_size"] = f.patch_size.value
  if f.data_version.value is not None:
    kw["data_version"] = f.data_version.value
  config = (filter_configs.natural_config if figure == "natural"
            else filter_configs.mnist_config)(**kw)
  try:
    filter_configs.validate(config)
  except ValueError as e:
    raise _cli.UsageError(str(e)) from None
  return config


def main(argv, f=None):
  del argv
  f = f or _F
  config = _config(f)
  if not f.workdir.value:
    raise _cli.UsageError("--workdir is required")
  _cli.check_output_dir("workdir", f.workdir.value)
  t0 = time.perf_counter()
  _cli.setup_jax()
  from sdae.reproduce import filters
  x, xv, shape, source, version = filters.load_data(config, f.data_dir.value,
                                                    f.cache_dir.value, with_version=True)
  results = filters.run(config, x, xv, shape)
  written = filters.write_outputs(f.workdir.value, config, results, source,
                                  time.perf_counter() - t0, data_version=version)
  for line in filters.summary_lines(results):
    print(line)
  print(f"wall {time.perf_counter() - t0:.0f} s; wrote {', '.join(written)}")


def main_args(args: Sequence[str]) -> None:
  """In-process call with command-line style ``args`` (fresh flags; errors raise)."""
  fv = flags.FlagValues()
  f = define_flags(fv)
  fv(["filters", *args])
  main([], f)


if __name__ == "__main__":
  _F = define_flags(flags.FLAGS)
  _cli.run(main)
