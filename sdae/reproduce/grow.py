"""A network grid that grows past an edge pick, one axis at a time (coordinate-wise, as the 2007
study searched its baselines).

When the model chosen on validation took the first or last value of a searched axis
(``table.on_edge``), the best setting may lie beyond the grid. ``beyond_edge`` proposes, for each
such axis, the chosen model with that one value moved one step further out: the step the grid
itself took there (learning rates, layer sizes and epochs on a log scale: the ratio to the
nearest other value; the corruption level on a linear one: the difference), clipped to the
limits below (so a limit is reached, then named by ``on_edge`` as a pick that cannot grow). The
table trains the proposals as new groups, selects again over every model, and repeats while the
pick is on an edge, up to a number of steps per budget (``sdae.configs.table``). The proposals
depend only on validation results, so a resumed run grows the same groups.

A grid may also name axes it keeps at one value to be *probed* (``DatasetGrid.probe``: a
learning-rate axis and a factor): once the pick sits on no edge, ``probes`` proposes the chosen
model with that value multiplied and divided by the factor, so the axis is searched around the
pick (the next step grows it past an edge if a probe wins there). ``next_models`` is one step:
the edge proposals, else the probes.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from sdae import config as config_lib
from sdae import sweep as sweep_lib
from sdae.reproduce import table as table_lib

#: The largest layer a grown grid tries: the 2007 study's largest DBN layers (6000 units).
MAX_HIDDEN = 6000
#: Pretraining epochs a layer, the paper's range (5 to 300).
EPOCHS_RANGE = (1, 300)
#: Corruption levels stay inside (0, LEVEL_MAX]: the SdA-3 column's levels are non-zero, and a
#: masking or salt-and-pepper level of 1 destroys the input.
LEVEL_MAX = 0.9


@dataclasses.dataclass(frozen=True)
class Proposal:
  """One model past an edge: ``point`` trained at ``config`` in the group folder ``name``."""

  name: str
  config: config_lib.TrainConfig
  point: sweep_lib.Point
  axis: str
  value: Any


def _step_out(axis: str, value, values: Sequence[Any]):
  """The value one grid step past ``value``, an edge of ``values`` (distinct, sorted), clipped
  to the axis's limits (a grid of 1000 and 3000 units steps to the 6000 limit, not to 9000);
  None when ``value`` already sits on the limit, or for a level step to zero or below (level 0
  is the plain autoencoder, another column)."""
  upper = value == values[-1]
  nearest = values[-2] if upper else values[1]
  if axis == "level":
    out = min(round(value + (value - nearest), 6), LEVEL_MAX)
    return out if 0 < out != value else None
  if axis == "hidden":
    layers = tuple(min(max(int(round(h * h / n)), 1), MAX_HIDDEN)
                   for h, n in zip(value, nearest))
    return layers if layers != tuple(value) else None
  if axis == "pretrain_epochs":
    out = min(max(int(round(value * value / nearest)), EPOCHS_RANGE[0]), EPOCHS_RANGE[1])
    return out if out != value else None
  return float(f"{value * value / nearest:.6g}")  # learning rates


def _renamed(name: str, axis: str, old, new) -> str:
  """The group name ``name`` with ``axis=old`` replaced by ``axis=new`` (appended when absent)."""
  fmt = lambda v: "x".join(map(str, v)) if isinstance(v, tuple) else f"{v:g}"  # pylint: disable=unnecessary-lambda-assignment
  parts = name.split(",")
  for i, part in enumerate(parts):
    if part == f"{axis}={fmt(old)}":
      parts[i] = f"{axis}={fmt(new)}"
      return ",".join(parts)
  return f"{name},{axis}={fmt(new)}"


def beyond_edge(candidates: Sequence[dict[str, Any]], chosen: dict[str, Any], groups,
                step: int) -> list[Proposal]:
  """The models one step past each axis on whose edge ``chosen`` sits.

  ``candidates``: every model trained so far (``table._candidates`` rows: ``group`` names the
  group it came from); ``chosen``: the selected one; ``groups``: ``table.Group`` s by name (every
  group so far, grown ones included); ``step``: 1, 2, ... (names the learning-rate and level
  groups). A proposal equal to a model already trained, or that the configuration refuses, is
  left out.
  """
  axes = {k: [c[k] for c in candidates] for k in table_lib.NETWORK_AXES}  # seed never grows
  moves = []
  for axis in table_lib.on_edge(axes, chosen):
    value = table_lib.axis_value(chosen[axis])
    moves.append((axis, value, _step_out(axis, value, table_lib.axis_values(axes[axis]))))
  return _proposals(candidates, chosen, groups, step, moves)


#: The axes ``probes`` may probe: the learning rates, which a grid point carries (a probe trains
#: in the chosen model's own group configuration).
PROBE_AXES = ("pretrain_lr", "finetune_lr")


def check_probe(probe: Sequence[tuple[str, float]]) -> None:
  """Raises ValueError unless ``probe`` is (axis, factor) pairs of ``PROBE_AXES`` and factors > 1."""
  for axis, factor in probe:
    if axis not in PROBE_AXES or not factor > 1:
      raise ValueError(f"a probe is a learning-rate axis {PROBE_AXES} and a factor > 1, "
                       f"not ({axis!r}, {factor!r})")


def probes(candidates: Sequence[dict[str, Any]], chosen: dict[str, Any], groups, step: int,
           probe: Sequence[tuple[str, float]]) -> list[Proposal]:
  """The chosen model with each ``probe`` axis's value divided and multiplied by its factor,
  for every axis of ``probe`` ((axis, factor) pairs, ``check_probe``) that the models so far
  took at one value only: a coordinate-wise step along an axis the grid kept fixed. Arguments
  as ``beyond_edge``'s."""
  check_probe(probe)
  moves = []
  for axis, factor in probe:
    if len({c[axis] for c in candidates}) == 1:
      value = chosen[axis]
      moves += [(axis, value, float(f"{value * f:.6g}")) for f in (1 / factor, factor)]
  return _proposals(candidates, chosen, groups, step, moves)


def next_models(candidates: Sequence[dict[str, Any]], chosen: dict[str, Any], groups, step: int,
                probe: Sequence[tuple[str, float]] = ()) -> list[Proposal]:
  """One step of the search: the models past ``chosen``'s edges or, when none can grow there,
  the probes of ``probe``."""
  return (beyond_edge(candidates, chosen, groups, step)
          or probes(candidates, chosen, groups, step, probe))


def _proposals(candidates, chosen, groups, step: int, moves) -> list[Proposal]:
  """The proposals of ``moves`` ((axis, chosen value, new value or None) triples): the chosen
  model with that one value replaced, in a new group for the layer sizes and epochs (the chosen
  group renamed) and in ``{group},grown{step}`` for a point's values. A move to None, to a model
  already trained, or that the configuration refuses, is left out."""
  group = groups[chosen["group"]]
  base = sweep_lib.Point(chosen["level"], chosen["seed"], chosen["pretrain_lr"],
                         chosen["finetune_lr"])
  tried = {(c["group"], c["level"], c["seed"], c["pretrain_lr"], c["finetune_lr"])
           for c in candidates}
  out = []
  for axis, value, new in moves:
    if new is None:
      continue
    if axis in ("hidden", "pretrain_epochs"):
      cfg = group.config.replace(**{axis: new})
      name, point = _renamed(group.name, axis, value, new), base
    else:
      cfg, name = group.config, f"{group.name},grown{step}"
      point = dataclasses.replace(base, **{axis: new})
    if (name, point.level, point.seed, point.pretrain_lr, point.finetune_lr) in tried:
      continue
    try:
      sweep_lib.validate_points(cfg, [point])
    except config_lib.ConfigError:
      continue
    out.append(Proposal(name, config_lib.validate(cfg), point, axis, new))
  return out


def as_groups(proposals: Sequence[Proposal]) -> list[table_lib.Group]:
  """The proposals as member groups: those sharing a folder (the learning-rate and level steps
  of one group) train as one program."""
  by_name: dict[str, list[Proposal]] = {}
  for p in proposals:
    by_name.setdefault(p.name, []).append(p)
  return [table_lib.Group(name, ps[0].config, tuple(p.point for p in ps))
          for name, ps in by_name.items()]


def group_of(name: str, groups: Sequence[table_lib.Group],
             models: Sequence[dict[str, Any]]) -> table_lib.Group:
  """The member group ``name`` of a grid that may have grown: one of the grid's own ``groups``,
  or a grown one rebuilt from ``models`` (a table row's ``grid``: every model's group, layer
  sizes, epochs and point, in member order). A grown group is a grid group's configuration at its
  models' layer sizes and epochs (the grid's groups differ in nothing else that their names do
  not say), with their points."""
  for g in groups:
    if g.name == name:
      return g
  members = [m for m in models if m["group"] == name]
  if not members:
    raise KeyError(f"no model of the row is in group {name!r}")
  moved = ("hidden=", "pretrain_epochs=", "grown")
  kept = lambda n: [p for p in n.split(",") if not p.startswith(moved)]  # pylint: disable=unnecessary-lambda-assignment
  parent = next(g for g in groups if kept(g.name) == kept(name))
  cfg = parent.config.replace(hidden=tuple(members[0]["hidden"]),
                              pretrain_epochs=members[0]["pretrain_epochs"])
  points = tuple(sweep_lib.Point(m["level"], m["seed"], m["pretrain_lr"], m["finetune_lr"])
                 for m in members)
  return table_lib.Group(name, config_lib.validate(cfg), points)
