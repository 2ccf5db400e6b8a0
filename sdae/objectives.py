"""The layer objectives of greedy pretraining by name, with no JAX import.

One entry per value of ``--pretraining``: what validation (``sdae.config``), the run header
(``sdae.io.progress``), the pictures (``sdae.pictures``), the table's grid description
(``sdae.reproduce.table``) and the greedy driver (``sdae.pretrain``) need to know of an objective,
so none of them compares objective names. Validation runs while flags are parsed, before JAX is
imported, so the objectives' own modules (which import JAX) are named here as strings and
imported only when a run builds its layers.

Adding an objective: its module (a frozen dataclass implementing
``sdae.pretrain.LayerObjective``, and a function building a stack of them) and one entry in
``OBJECTIVES`` below; notes/redesign.md, "Adding a layer objective".
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable


@dataclasses.dataclass(frozen=True)
class Objective:
  """The static properties of one layer objective.

  ``layers``: ``"module:function"``, the function ``(n_in, hidden, config, compute_dtype) ->
  list of LayerObjective`` building a stack ``n_in -> hidden[0] -> ... -> hidden[-1]`` from a
  ``sdae.config.TrainConfig`` (it reads the fields it needs, e.g. ``cd_steps``); None: no layer
  is pretrained. ``header``: the run header's words for the layers, formatted with the config's
  fields (``"RBM (CD-{cd_steps})"``). ``uses_corruption``: its ``step`` and ``reconstruct`` take
  the traced corruption ``level`` (and the pictures show the corrupted input); objectives
  without it are not given one. ``takes_emphasis``: its ``step`` takes the traced ``emphasis``
  (``sdae.pretrain.Emphasis``), and ``--emphasis`` other than none is accepted with it.
  ``activations``: the accepted ``--activation`` values (None: any), ``activations_why`` the
  reason, for the error message.
  """

  name: str
  layers: str | None
  header: str
  uses_corruption: bool = False
  takes_emphasis: bool = False
  activations: tuple[str, ...] | None = None
  activations_why: str = ""

  def header_words(self, config: Any) -> str:
    """``header`` with ``{field}`` replaced by ``config.field``."""
    return self.header.format_map(_Fields(config))

  def builder(self) -> Callable[..., list] | None:
    """The function named by ``layers`` (imported now), or None."""
    if self.layers is None:
      return None
    module, _, function = self.layers.partition(":")
    return getattr(importlib.import_module(module), function)


class _Fields:
  """``config``'s attributes as a mapping, for ``str.format_map``."""

  def __init__(self, config: Any):
    self._config = config

  def __getitem__(self, key: str) -> Any:
    return getattr(self._config, key)


OBJECTIVES: dict[str, Objective] = {o.name: o for o in (
    # The denoising autoencoder (sdae.pretrain.LayerSpec); level 0 makes it a plain autoencoder.
    Objective("denoising", "sdae.pretrain:denoising_layers", "dA", uses_corruption=True,
              takes_emphasis=True),
    # The RBM of a deep belief network, trained by CD-k (sdae.rbm.RBMSpec).
    Objective("rbm", "sdae.rbm:rbm_layers", "RBM (CD-{cd_steps})", activations=("sigmoid",),
              activations_why="an RBM's hidden units are Bernoulli, their mean a sigmoid"),
    # No pretraining: the classifier starts from its random initialisation.
    Objective("none", None, "unpretrained"),
)}


def names() -> tuple[str, ...]:
  """The objective names, in registry order."""
  return tuple(OBJECTIVES)


def get(name: str) -> Objective:
  """The objective ``name``; ``ValueError`` (one line, the accepted names) otherwise."""
  if name not in OBJECTIVES:
    raise ValueError(f"unknown pretraining {name!r}; accepted: {', '.join(names())}")
  return OBJECTIVES[name]
