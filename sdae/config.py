"""Training configuration and validation at the boundary.

``TrainConfig`` holds every setting of an SdA run; its field defaults are the library's. A
dataset's defaults over them (and every other named configuration) are in ``sdae.configs``:
``sdae.configs.sda.for_dataset("rect")``; users override any field.
``validate`` checks everything before any data is read or anything compiled, and raises
``ConfigError`` with one line naming the value and what is accepted.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

from sdae import emphasis as emphasis_lib
from sdae import levels as levels_lib
from sdae import objectives as objectives_lib


class ConfigError(ValueError):
  """A bad setting; ``str(e)`` is one line naming the value and what is accepted."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  dataset: str = "mnist"
  pretraining: str = "denoising"  # the layer objective (sdae.objectives): denoising | rbm | none
  data_source: str | None = None  # None: original where the files are at hand, else regenerated
  data_dir: str | None = None
  cache_dir: str | None = None
  # A regenerated set's data version (sdae.data.regenerate.VERSIONS; None: the newest, or on a
  # rerun the one its workdir recorded). The version read is part of a run's identity.
  data_version: int | None = None
  hidden: tuple[int, ...] = (1000, 1000, 1000)
  corruption: str = "masking"
  level: float = 0.25  # one level for every layer, unless layer_levels is given
  layer_levels: tuple[float, ...] | None = None
  # Emphasis of the denoising loss (sdae.emphasis): none | double | full, i.e. the loss on the
  # corrupted components weighted by alpha = 1 and on the others by beta = 1, 0.5 or 0.
  emphasis: str = "none"
  pretrain_epochs: int = 15  # per layer
  finetune_epochs: int = 60  # maximum; early stopping may end sooner
  batch_size: int = 20  # pretraining minibatch, and fine-tuning's unless finetune_batch_size
  finetune_batch_size: int = 0  # 0: the same as batch_size
  pretrain_lr: float = 0.05
  finetune_lr: float = 0.1
  seed: int = 0
  optimizer: str = "sgd"
  activation: str = "sigmoid"
  # Initial weights of the dA layers and of an unpretrained classifier's layers (INITS): "glorot"
  # (the Theano tutorials: U(+-4 sqrt(6 / (n_in + n_out))) for sigmoid units) or "fan_in"
  # (U(+-1 / sqrt(n_in)), the smaller pre-2010 default). RBMs keep their N(0, 0.01^2).
  init: str = "glorot"
  tied: bool = True
  loss: str = "auto"  # auto | cross_entropy | squared
  patience: int = 10  # epochs (Theano SdA tutorial rule, see sdae.finetune)
  patience_increase: float = 2.0
  improvement_threshold: float = 0.995
  cd_steps: int = 1  # k of CD-k (pretraining=rbm)
  precision: str = "float32"  # float32 | bfloat16 (products only; params stay float32)
  n_train: int = 0  # 0: the whole training split; else its first n_train examples
  checkpoint_every_secs: float = 60.0
  # Checkpoints kept while training (each holds the model twice: parameters and the best ones
  # for early stopping; 22 MB for SdA-3 of 1000 units). Orbax writes a new checkpoint beside the
  # old and removes the old only once the new one is complete, so one survives a kill; the
  # second survives damage to the newest (a file truncated by a full disk or a copy), which
  # the run then moves aside and resumes from the one before (sdae.checkpoint).
  # 0: two while training, and none once results.json is written.
  keep_checkpoints: int = 2
  # How a device runs a sweep's members (sdae.sharding.over_members): "vmap" (batched products)
  # or "map" (one member after another, each bit-identical to that model alone); None or "auto"
  # by platform (map on CPU, vmap on GPU/TPU). Unused by a single model.
  member_loop: str | None = None

  def levels(self) -> tuple[float, ...]:
    """The corruption level of each layer."""
    if self.layer_levels is not None:
      return tuple(self.layer_levels)
    return (self.level,) * len(self.hidden)

  def ft_batch_size(self) -> int:
    """The fine-tuning minibatch size."""
    return self.finetune_batch_size or self.batch_size

  def to_dict(self) -> dict[str, Any]:
    d = dataclasses.asdict(self)
    d["hidden"] = list(self.hidden)
    d["layer_levels"] = None if self.layer_levels is None else list(self.layer_levels)
    if d["member_loop"] == "auto":  # one spelling of "by platform" in config.json
      d["member_loop"] = None
    return d

  def replace(self, **kw) -> "TrainConfig":
    return dataclasses.replace(self, **kw)


#: Fields left out of a run's identity while at these values, so that a workdir written before
#: the field existed still matches (``sdae.experiment.prepare_workdir``).
OPTIONAL_AT_DEFAULT: dict[str, Any] = {"pretraining": "denoising", "cd_steps": 1,
                                       "emphasis": "none", "init": "glorot"}
#: Weight initialisations by name (``sdae.model.uniform_init`` draws them).
INITS = ("glorot", "fan_in")


def _positive_int(name: str, value, allow_zero: bool = False) -> None:
  ok = isinstance(value, int) and not isinstance(value, bool) and (
      value >= 0 if allow_zero else value > 0)
  if not ok:
    what = "a non-negative integer" if allow_zero else "a positive integer"
    raise ConfigError(f"--{name}={value!r} is invalid; accepted: {what}")


def _positive_float(name: str, value) -> None:
  if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
    raise ConfigError(f"--{name}={value!r} is invalid; accepted: a positive finite number")


def check_batches_fit(config: TrainConfig, n_train: int, dataset: str | None = None) -> None:
  """Raises ``ConfigError`` when a minibatch size exceeds the ``n_train`` training examples."""
  of = f" of {dataset}" if dataset else ""
  for flag, size in (("batch_size", config.batch_size),
                     ("finetune_batch_size", config.finetune_batch_size)):
    if size > n_train:
      raise ConfigError(f"--{flag}={size} is larger than the {n_train} training examples{of}; "
                        f"accepted: 1..{n_train}")


def check_emphasis(config: TrainConfig) -> None:
  """Raises ``ConfigError`` (one line) for an unknown ``emphasis``, or one other than none with
  a corruption that does not touch *some* components (gaussian, blur, none) or with a
  pretraining objective that takes no emphasis (``sdae.objectives``; all but denoising): there
  the weights would tell nothing apart."""
  try:
    emphasis_lib.check_name(config.emphasis)
  except ValueError as e:
    raise ConfigError(f"--emphasis={config.emphasis!r} is invalid: {e}") from None
  if config.emphasis == "none":
    return
  objective = objectives_lib.OBJECTIVES.get(config.pretraining)
  if objective is None or not objective.takes_emphasis:
    takers = " or ".join(f"--pretraining={o.name}" for o in objectives_lib.OBJECTIVES.values()
                         if o.takes_emphasis)
    raise ConfigError(f"--emphasis={config.emphasis} with --pretraining={config.pretraining}; "
                      f"accepted: --emphasis=none, or {takers} (emphasis weights the denoising "
                      "loss)")
  touches = levels_lib.TOUCHES.get(config.corruption)
  if touches != "some":
    some = ", ".join(n for n, t in levels_lib.TOUCHES.items() if t == "some")
    changes = "every component" if touches == "all" else "no component"
    raise ConfigError(f"--emphasis={config.emphasis} with --corruption={config.corruption}, "
                      f"which changes {changes}; accepted: --emphasis=none, or a corruption "
                      f"that touches some components ({some})")


def validate(config: TrainConfig) -> TrainConfig:
  """Checks every field; returns the config unchanged or raises ConfigError (one line)."""
  if not config.hidden:
    raise ConfigError("--hidden is empty; accepted: comma-separated positive layer sizes, "
                      "e.g. 1000,1000,1000")
  for h in config.hidden:
    if not (isinstance(h, int) and h > 0):
      raise ConfigError(f"--hidden has layer size {h!r}; accepted: positive integers")
  try:
    levels_lib.validate(config.corruption, list(config.levels()))
  except ValueError as e:
    raise ConfigError(f"--corruption/--level: {e}") from None
  if config.layer_levels is not None and len(config.layer_levels) != len(config.hidden):
    raise ConfigError(
        f"--layer_levels has {len(config.layer_levels)} values for {len(config.hidden)} hidden "
        f"layers; accepted: one level per layer")
  data = dataset_spec(config.dataset)
  if data is not None and not data.labelled:
    raise ConfigError(f"--dataset={config.dataset} has no classes to train a classifier on; "
                      "accepted: a labelled dataset"
                      + (f" ({data.unlabelled_use})" if data.unlabelled_use else ""))
  if config.corruption in levels_lib.IMAGE_ONLY and data is not None and not data.images:
    raise ConfigError(f"--corruption={config.corruption} needs square images; "
                      f"{config.dataset} has feature vectors")
  if config.corruption in levels_lib.IMAGE_ONLY:
    # Layer k > 0 corrupts the codes of layer k - 1: an image corruption needs them square too.
    for k, (width, level) in enumerate(zip(config.hidden[:-1], config.levels()[1:]), 1):
      if level > 0 and math.isqrt(width) ** 2 != width:
        raise ConfigError(
            f"--corruption={config.corruption} needs square inputs, and layer {k + 1} reads the "
            f"{width} codes of layer {k} at level {level:g}; accepted: square hidden sizes "
            "(e.g. 1024) below the top layer, or --layer_levels with 0 for those layers")
  _positive_int("pretrain_epochs", config.pretrain_epochs, allow_zero=True)
  _positive_int("finetune_epochs", config.finetune_epochs)
  _positive_int("batch_size", config.batch_size)
  _positive_int("finetune_batch_size", config.finetune_batch_size, allow_zero=True)
  _positive_int("seed", config.seed, allow_zero=True)
  _positive_int("n_train", config.n_train, allow_zero=True)
  _positive_int("patience", config.patience)
  _positive_int("keep_checkpoints", config.keep_checkpoints, allow_zero=True)
  _positive_float("pretrain_lr", config.pretrain_lr)
  _positive_float("finetune_lr", config.finetune_lr)
  _positive_float("patience_increase", config.patience_increase)
  _positive_float("improvement_threshold", config.improvement_threshold)
  if config.checkpoint_every_secs < 0:
    raise ConfigError(f"--checkpoint_every_secs={config.checkpoint_every_secs} is invalid; "
                      "accepted: >= 0 (0: every epoch)")
  if config.optimizer not in ("sgd", "momentum", "adam"):
    raise ConfigError(f"--optimizer={config.optimizer!r} is invalid; accepted: sgd, momentum, adam")
  if config.activation not in ("sigmoid", "tanh", "relu", "linear"):
    raise ConfigError(f"--activation={config.activation!r} is invalid; "
                      "accepted: sigmoid, tanh, relu, linear")
  if config.loss not in ("auto", "cross_entropy", "squared"):
    raise ConfigError(f"--loss={config.loss!r} is invalid; accepted: auto, cross_entropy, squared")
  if config.precision not in ("float32", "bfloat16"):
    raise ConfigError(f"--precision={config.precision!r} is invalid; accepted: float32, bfloat16")
  objective = objectives_lib.OBJECTIVES.get(config.pretraining)
  if objective is None:
    raise ConfigError(f"--pretraining={config.pretraining!r} is invalid; "
                      f"accepted: {', '.join(objectives_lib.names())}")
  _positive_int("cd_steps", config.cd_steps)
  check_emphasis(config)
  if config.init not in INITS:
    raise ConfigError(f"--init={config.init!r} is unknown; accepted: {', '.join(INITS)}")
  if objective.activations is not None and config.activation not in objective.activations:
    raise ConfigError(f"--activation={config.activation!r} with --pretraining={objective.name}; "
                      f"accepted: {', '.join(objective.activations)} ({objective.activations_why})")
  if config.member_loop not in (None, "auto", "vmap", "map"):
    raise ConfigError(f"--member_loop={config.member_loop!r} is invalid; accepted: auto, vmap, map")
  if config.data_source not in (None, "original", "regenerated"):
    raise ConfigError(f"--data_source={config.data_source!r} is invalid; "
                      "accepted: original, regenerated")
  if config.data_dir and not os.path.isdir(os.path.expanduser(str(config.data_dir))):
    raise ConfigError(f"--data_dir={config.data_dir} is not a folder; accepted: a folder "
                      "holding the original files (train-images-idx3-ubyte.gz, ..., "
                      "rectangles.zip, ...), or no --data_dir")
  check_data_version(config)
  return config


def dataset_spec(name: str):
  """The registry's ``sdae.data.registry.DatasetSpec`` of ``name`` (canonical or alias), or None
  for a name it does not know (a user's own arrays; an unknown name is reported where the data
  are loaded). numpy only: no JAX."""
  from sdae.data import registry  # pylint: disable=g-import-not-at-top
  try:
    return registry.spec(name)
  except ValueError:
    return None


def check_data_version(config: TrainConfig) -> None:
  """``--data_version``: only with regenerated data, and one of the set's versions."""
  v = config.data_version
  if v is None:
    return
  _positive_int("data_version", v)
  from sdae.data import registry, regenerate  # pylint: disable=g-import-not-at-top
  try:
    name = registry.resolve_name(config.dataset)
  except ValueError:
    return  # an unknown dataset is reported where the data are loaded
  try:
    regenerate.check_flag(name, v, config.data_source)
  except ValueError as e:
    raise ConfigError(str(e)) from None
