"""The filter figures (``experiments.filters --figure=natural|mnist``; the training and measures in
``sdae.reproduce.filters``): every setting of each figure, top to bottom.

A figure is a ``FigureConfig``: its field defaults are the ``natural`` figure's (Vincent et al.,
2010, Figures 5-8 on natural-image patches: the plain autoencoders at each weight decay, Gaussian
noise, salt-and-pepper, zero-masking), ``mnist_config`` the ``mnist`` figure's (masking on MNIST
digits at the deeplearning.net dA tutorial's settings). ``conditions()`` lists the panels a
configuration trains (one ``Condition`` each), ``validate`` checks one (the entry point's flags
reach it through ``natural_config`` / ``mnist_config``'s keywords). Why the learning rates and
epochs are what they are: notes/filters.md ("What the figure needed").

Plain data and checks: no JAX (``experiments.filters`` reads this module while parsing flags).
"""

from __future__ import annotations

import dataclasses
import math

FIGURES = ("natural", "mnist")
# Salt-and-pepper on the real-valued natural patches sets a pixel to the training patches'
# quantiles at this fraction and its complement (the paper's "minimum or maximum value", without
# the heavy tails' extremes); MNIST's are 0 and 1.
SALT_PEPPER_QUANTILE = 0.005


@dataclasses.dataclass(frozen=True)
class Condition:
  """One panel: ``corruption`` at ``level`` with L2 weight decay ``weight_decay``, trained at
  ``learning_rate`` (None: the figure's)."""

  key: str
  corruption: str
  level: float
  weight_decay: float = 0.0
  learning_rate: float | None = None


@dataclasses.dataclass(frozen=True)
class FigureConfig:
  """Everything that fixes a figure's training (the defaults are the ``natural`` figure's).

  ``decays``: the plain autoencoders' weight decays (penalty ``decay / 2 * sum(W^2)``);
  ``n_train``: use only the first n training examples (None: all); ``patch_size``: the side of
  the natural patches (12 reads the registered set, others cut new patches of the same images);
  ``data_version``: the regenerated natural patches' data version (None: the newest).
  """

  figure: str = "natural"
  n_hidden: int = 200
  epochs: int = 100
  batch_size: int = 20
  learning_rate: float = 0.015
  # Masking 55% learns gratings only at twice the rate within the epochs (at 0.015 the filters
  # are still noise with dots after 100 epochs; 0.06 diverges).
  masking_learning_rate: float | None = 0.03
  decays: tuple[float, ...] = (0.0, 1e-4, 1e-3, 1e-2)
  gaussian: float = 0.5
  salt_pepper: float = 0.1
  masking: float = 0.55
  mnist_levels: tuple[float, ...] = (0.0, 0.25, 0.5)
  patch_size: int = 12
  seed: int = 0
  n_train: int | None = None
  measure: bool = True
  measure_units: int | None = None  # measure the first n units only (None: all)
  data_version: int | None = None

  def replace(self, **kw) -> "FigureConfig":
    return dataclasses.replace(self, **kw)

  def conditions(self) -> list[Condition]:
    if self.figure == "mnist":
      return [Condition(f"masking_{level:g}", "masking", level) for level in self.mnist_levels]
    out = [Condition(f"ae_decay_{d:g}", "gaussian", 0.0, d) for d in self.decays]
    out.append(Condition(f"gaussian_{self.gaussian:g}", "gaussian", self.gaussian))
    out.append(Condition(f"salt_pepper_{self.salt_pepper:g}", "salt_pepper", self.salt_pepper))
    out.append(Condition(f"masking_{self.masking:g}", "masking", self.masking,
                         learning_rate=self.masking_learning_rate))
    return out

  @property
  def loss(self) -> tuple[str, str]:
    """(loss, decoder): squared error with an affine decoder for the real-valued patches."""
    return ("cross_entropy", "sigmoid") if self.figure == "mnist" else ("squared", "linear")


def natural_config(**kw) -> FigureConfig:
  return FigureConfig(figure="natural").replace(**kw)


def mnist_config(**kw) -> FigureConfig:
  # The Theano dA tutorial's settings (500 units, minibatch 20, rate 0.1, 15 epochs).
  return FigureConfig(figure="mnist", n_hidden=500, epochs=15, batch_size=20,
                      learning_rate=0.1, masking_learning_rate=None, decays=()).replace(**kw)


def validate(config: FigureConfig) -> None:
  """Raises ValueError naming the bad setting and what is accepted."""
  if config.figure not in FIGURES:
    raise ValueError(f"--figure={config.figure!r} is unknown; accepted: {', '.join(FIGURES)}")
  bad = [d for d in config.decays if not (math.isfinite(d) and d >= 0)]
  if bad:
    raise ValueError(f"--decays has {bad[0]:g}; accepted: weight decays >= 0")
  for name in ("n_hidden", "epochs", "batch_size"):
    if int(getattr(config, name)) < 1:
      raise ValueError(f"--{name}={getattr(config, name)}; accepted: an integer >= 1")
  for name in ("learning_rate", "masking_learning_rate"):
    lr = getattr(config, name)
    if lr is not None and not (math.isfinite(lr) and lr > 0):
      raise ValueError(f"--{name}={lr:g}; accepted: a number > 0")
  if config.patch_size < 2:
    raise ValueError(f"--patch_size={config.patch_size}; accepted: 2 to the images' side")
  if config.data_version is not None:
    from sdae.data import regenerate  # pylint: disable=g-import-not-at-top
    if config.figure != "natural":
      raise ValueError(f"--data_version={config.data_version} applies to --figure=natural's "
                       "regenerated patches; --figure=mnist reads the original MNIST files")
    try:
      regenerate.resolve_version("natural_patches", config.data_version)
    except ValueError as e:
      raise ValueError(str(e).replace("data_version=", "--data_version=", 1)) from None
