"""Vincent et al. (2010), Table 3 reproduced: every method's grid, model selection on
validation, and the rows of ``table.json``.

``reproduce`` runs, per dataset, each method's grid (``DatasetGrid``, one per (dataset, method);
``sdae.configs.table`` builds them): for the networks (``sda3``, ``sae3``, ``dbn1``,
``dbn3``, ``mlp3``) member groups, points sharing shapes trained as one vmapped program each in
``workdir/<dataset>/<method>/<group>`` through the sweep's own functions
(``sweep.train_members``, read back by ``sweep.finished``, rows by ``sweep.member_rows``); for
``svm_rbf`` a (C, gamma) grid (``sdae.reproduce.svm``) in ``workdir/<dataset>/svm_rbf``. Each
method's model is chosen on validation error (ties: lower validation cross-entropy, or for the SVM
the larger validation margin; never grid order or the test set) and its test error reported with a
95% interval beside the paper's figure for that column (``sdae.reproduce.paper``). ``table.md``,
``table.json`` and ``table.png`` are rewritten after every dataset
(``sdae.reproduce.table_report``), so an interrupted run shows the rows finished so far and a rerun
resumes: a finished group or SVM grid is read back, an unfinished group resumes from its checkpoint.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from typing import Any, Callable, Sequence

from sdae import checkpoint as ckpt_lib
from sdae import config as config_lib
from sdae import cost
from sdae import distributed
from sdae import objectives as objectives_lib
from sdae import experiment
from sdae import pruning as pruning_lib
from sdae import sweep as sweep_lib
from sdae.io import runlock
from sdae.reproduce import paper
from sdae.reproduce import table_report

log = logging.getLogger("sdae")


#: The paper's rows (all five columns), by canonical dataset name, in the paper's order.
PAPER = paper.TABLE3
PaperRow = paper.PaperRow
VERDICTS = paper.VERDICTS
verdict = paper.verdict


# --- rows and writers ----------------------------------------------------------------------------


def _paper_fields(dataset: str, method: str) -> dict[str, Any]:
  p, c = PAPER[dataset], paper.cell(dataset, method)
  return {"dataset": dataset, "method": method,
          "paper_error_pct": None if c is None else c.error_pct,
          "paper_ci95_pct": None if c is None else c.ci95_pct,
          "paper_level": p.level if method == "sda3" else None}


def result_row(dataset: str, *, test_error_pct: float, test_ci95_pct: float,
               valid_error_pct: float, chosen: dict[str, Any], data_source: str,
               method: str = "sda3", **extra) -> dict[str, Any]:
  """A ``table.json`` row for a (dataset, method) we trained."""
  row = _paper_fields(dataset, method)
  row.update({"test_error_pct": round(float(test_error_pct), 4),
              "test_ci95_pct": round(float(test_ci95_pct), 4),
              "valid_error_pct": round(float(valid_error_pct), 4), "chosen": dict(chosen),
              "data_source": data_source,
              "verdict": verdict(float(test_error_pct), row["paper_error_pct"],
                                 row["paper_ci95_pct"]),
              "alias": PAPER[dataset].alias})
  if row["paper_error_pct"] is None and method in paper.TITLES:
    row["note"] = f"the paper's Table 3 has no {paper.TITLES[method]} column"
  row.update(extra)
  return row


def unavailable_row(dataset: str, note: str, data_source: str | None = None,
                    method: str = "sda3", **extra) -> dict[str, Any]:
  """A row for a (dataset, method) with no result here; ``note`` says why."""
  row = _paper_fields(dataset, method)
  row.update({"test_error_pct": None, "test_ci95_pct": None, "valid_error_pct": None,
              "chosen": {}, "data_source": data_source, "verdict": "unavailable",
              "alias": PAPER[dataset].alias, "note": " ".join(str(note).split())})
  row.update(extra)
  return row


_fmt_chosen = table_report.fmt_chosen
render_markdown = table_report.render_markdown


def write_table(workdir: str, rows: Sequence[dict[str, Any]], title: str = "") -> None:
  """Writes ``workdir/table.json`` (``{"rows": [...]}``), ``table.md`` and ``table.png`` (with
  ``table.pdf``), atomically; with several processes, only process 0 writes."""
  if not distributed.is_writer():
    return
  ckpt_lib.write_json_atomic(os.path.join(workdir, "table.json"), {"rows": list(rows)})
  text = render_markdown(rows, title)
  tmp = os.path.join(workdir, ".table.md.tmp")
  with open(tmp, "w") as f:
    f.write(text)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, os.path.join(workdir, "table.md"))
  table_report.plot(rows, os.path.join(workdir, "table.png"), title)


def on_edge(axes: dict[str, Sequence[Any]], chosen: dict[str, Any]) -> list[str]:
  """The names of the grid axes whose chosen value is the first or the last of the axis.

  ``axes`` maps each searched axis to every value the grid tried (any order, repeats allowed;
  lists such as layer sizes compare as tuples); an axis with one value is not searched and never
  on its edge. An edge pick means the best setting may lie outside the grid: the grid must grow,
  or the notes must say why it cannot.
  """
  out = []
  for name, values in axes.items():
    distinct = axis_values(values)
    if len(distinct) >= 2 and name in chosen and \
        axis_value(chosen[name]) in (distinct[0], distinct[-1]):
      out.append(name)
  return out


def axis_value(v):
  """A grid axis's value as it compares (layer sizes, kept as lists, as tuples)."""
  return tuple(v) if isinstance(v, (list, tuple)) else v


def axis_values(values: Sequence[Any]) -> list:
  """The distinct values an axis took, in order."""
  return sorted({axis_value(v) for v in values})


def _data_version(source: str | None, splits=None, finished=()) -> int | None:
  """The data version a row read: the loaded splits' (``sdae.data.load`` tags them), else what
  its finished runs recorded (``LEGACY_VERSION`` for a regenerated run recorded before data
  versions were); None for data other than regenerated, or when not known."""
  if source != "regenerated":
    return None
  if splits is not None:  # untagged (not from sdae.data.load): no version known
    return getattr(splits, "data_version", None)
  used = {_recorded_version(f) for f in finished if f is not None}
  return used.pop() if len(used) == 1 else None


def _recorded_version(finished: dict[str, Any]) -> int | None:
  """The data version a finished group or SVM recorded (regenerated data recorded before
  versions were: ``LEGACY_VERSION``)."""
  if finished.get("data_source") != "regenerated":
    return None
  if "data_version" in finished:
    return finished["data_version"]
  from sdae.data import regenerate  # pylint: disable=g-import-not-at-top
  return regenerate.LEGACY_VERSION


# --- the reproduction driver ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Group:
  """Grid points that share shapes: one vmapped members run."""

  name: str
  config: config_lib.TrainConfig
  points: tuple[sweep_lib.Point, ...]


def network_group(base: config_lib.TrainConfig, hidden: Sequence[int],
                  points: Sequence[sweep_lib.Point],
                  overrides: dict[str, Any] | None = None) -> Group:
  """The member group ``hidden=AxBxC`` of ``base`` at layer sizes ``hidden`` with ``overrides``
  (flags given on the command line), its configuration and points validated."""
  cfg = config_lib.validate(base.replace(hidden=tuple(hidden), **(overrides or {})))
  sweep_lib.validate_points(cfg, points)
  return Group(f"hidden={'x'.join(map(str, hidden))}", cfg, tuple(points))


def check_minibatches(grids: Sequence["DatasetGrid"]) -> None:
  """Refuses (``ConfigError``, one line) a minibatch larger than a grid's training split, before
  anything trains: the published split sizes (a user's own set's is checked when read)."""
  from sdae.data import registry  # pylint: disable=g-import-not-at-top
  for grid in grids:
    n = registry.spec(grid.dataset).n_train
    for group in grid.groups:
      if n:
        config_lib.check_batches_fit(group.config, min(n, group.config.n_train or n),
                                     grid.dataset)


@dataclasses.dataclass(frozen=True)
class DatasetGrid:
  """The grid of one (dataset, method) cell: member groups (e.g. one per hidden size) for a
  network, or ``svm`` (an ``sdae.reproduce.svm.SVMGrid``) for ``svm_rbf``; ``config`` then carries
  the data settings (dataset, source, folders)."""

  dataset: str
  groups: tuple[Group, ...]
  method: str = "sda3"
  svm: Any = None
  config: config_lib.TrainConfig | None = None
  # Steps a network grid may grow past an edge pick (``sdae.reproduce.grow``; 0: as given).
  grow: int = 0
  # Axes the grid keeps at one value, probed around the pick by a factor once it sits on no edge
  # ((axis, factor) pairs, ``sdae.reproduce.grow.probes``); each probe step counts in ``grow``.
  probe: tuple[tuple[str, float], ...] = ()
  # How its groups prune losing members' fine-tuning (``sdae.pruning.RULES``): each group
  # against the cell's groups trained before it.
  prune: str = "none"

  def data_config(self) -> config_lib.TrainConfig:
    return self.config if self.config is not None else self.groups[0].config

  def n_models(self) -> int:
    return sum(len(g.points) for g in self.groups)


def describe(grids: Sequence[DatasetGrid]) -> str:
  """What ``reproduce`` would train, one block per (dataset, method), without training: each
  member group's settings and its points (levels x seeds x learning rates), or the SVM's grid."""
  lines, total = [], 0
  for g in grids:
    if g.svm is not None:
      n = len(g.svm.points())
      total += n
      lines.append(f"{g.dataset} {g.method}: {n} fits: C {_values(g.svm.Cs)}"
                   + (f" x gamma {_values(g.svm.gamma_factors)} / (d var x)"
                      if g.svm.kernel == "rbf" else " (linear kernel)")
                   + (f", each axis growing up to {g.svm.grow} steps past an edge pick"
                      if g.svm.grow else "")
                   + ("; the chosen pair retrained on train + valid" if g.svm.retrain_on_valid
                      else "; no retraining on train + valid"))
      continue
    total += g.n_models()
    lines.append(f"{g.dataset} {g.method}: {g.n_models()} models in {len(g.groups)} "
                 f"group{'s' * (len(g.groups) > 1)}"
                 + (f", then up to {g.grow} step{'s' * (g.grow > 1)} past an edge pick (one "
                    "model per edge axis a step)" if g.grow else "")
                 + "".join(f"; {axis} probed at the pick's /{f:g} and x{f:g} once it sits on "
                           "no edge" for axis, f in g.probe if len(_grid_values(g, axis)) == 1))
    for group in g.groups:
      c = group.config
      pts = [p.resolved(c) for p in group.points]
      lines.append(
          f"  {group.name}: {c.pretraining} pretraining"
          + (f" ({c.corruption})" if objectives_lib.get(c.pretraining).uses_corruption else "")
          + (f", {c.init} init" if c.init != "glorot" else "")
          + f", {c.pretrain_epochs} epochs a layer at minibatch {c.batch_size}; fine-tuning "
          f"{c.finetune_epochs} epochs at minibatch {c.ft_batch_size()} (patience "
          f"{c.patience}); {len(pts)} point{'s' * (len(pts) > 1)}: level {_values(p.level for p in pts)} x seed "
          f"{_values(p.seed for p in pts)} x pretrain_lr {_values(p.pretrain_lr for p in pts)} "
          f"x finetune_lr {_values(p.finetune_lr for p in pts)}")
  work = cost.grid_flops(grids)
  if work:
    lines.append(f"network work: at most {cost.describe(work)} (every epoch of every member; "
                 "sdae.cost)")
  lines.append(f"{total} trials in all")
  return "\n".join(lines)


def _grid_values(g: DatasetGrid, axis: str) -> set:
  """The values a network grid's points take on ``axis`` (a learning rate)."""
  return {getattr(p.resolved(grp.config), axis) for grp in g.groups for p in grp.points}


def _values(vs) -> str:
  """``{0.1, 0.25}`` of the distinct values, in order."""
  return "{" + ", ".join(f"{v:g}" for v in sorted(set(vs))) + "}"


def load_dataset(config: config_lib.TrainConfig) -> tuple[dict, str]:
  """(splits, data_source); a seam for tests (monkeypatch) and for a user's own loader."""
  return experiment.load_data(config)


def _unavailable_reason(e: BaseException, dataset: str, data_dir: str | None) -> str:
  msg = " ".join(str(e).split())
  data = config_lib.dataset_spec(dataset)
  if data is not None and data.unavailable:
    return data.unavailable.format(error=msg)
  return f"data not available ({msg})" + ("" if data_dir else "; pass --data_dir")


def _source_to_use(config: config_lib.TrainConfig) -> str | None:
  """The source ``load`` would read for ``config`` (None when that cannot be told unloaded)."""
  try:
    from sdae import data as data_lib  # pylint: disable=g-import-not-at-top
    return data_lib.pick_source(config.dataset, config.data_source, config.data_dir,
                                cache_dir=config.cache_dir)
  except Exception:  # pylint: disable=broad-except
    return None


def _check_same_source(ds: str, finished: list[dict[str, Any]], source: str | None,
                       workdir: str, version: int | None = None) -> None:
  """Refuses to mix data sources, or data versions, in one row: the finished groups read back
  must have used the data this run uses (``source``, and ``version`` for regenerated data)."""
  from sdae.experiment_errors import RunError  # pylint: disable=g-import-not-at-top
  used = sorted({str(f.get("data_source")) for f in finished})
  if finished and source is not None and used != [source]:
    raise RunError(f"{ds}: the finished groups under {workdir} used {'/'.join(used)} data and "
                   f"this run would use {source}; use another --workdir, pass "
                   f"--data_source={used[0]}, or --overwrite")
  versions = sorted({_recorded_version(f) for f in finished}, key=str)
  if finished and source == "regenerated" and version is not None and versions != [version]:
    raise RunError(f"{ds}: the finished groups under {workdir} used regenerated data version "
                   f"{'/'.join(map(str, versions))} and this run would use {version}; use "
                   f"another --workdir, pass --data_version={versions[0]}, or --overwrite")


def _candidates(group: Group, res: dict[str, Any]) -> list[dict[str, Any]]:
  """One selection candidate per member of a finished group run: the member's sweep row
  (``sweep.member_rows``; the cross-entropy as measured, as table.json has always kept it) with
  the group's shared settings."""
  c = group.config
  return [{"level": r["level"], "hidden": list(c.hidden), "pretrain_lr": r["pretrain_lr"],
           "finetune_lr": r["finetune_lr"], "seed": r["seed"], "pretraining": c.pretraining,
           "pretrain_epochs": c.pretrain_epochs, "finetune_epochs": c.finetune_epochs,
           "batch_size": c.batch_size, "finetune_batch_size": c.ft_batch_size(),
           "corruption": c.corruption, "best_epoch": r["best_epoch"], "group": group.name,
           "pruned_at_epoch": m.get("pruned_at_epoch"),
           **{k: r[k] for k in ("valid_error_pct", "valid_xent", "diverged", "test_error_pct",
                                "test_ci95_pct")}}
          for r, m in zip(sweep_lib.member_rows(c, group.points, res, round_xent=False),
                          res["members"])]


#: The axes a network method's grid may search (each one that takes several values is checked
#: for an edge pick).
NETWORK_AXES = ("level", "hidden", "pretrain_lr", "pretrain_epochs", "finetune_lr")


def _train_groups(grid: DatasetGrid, groups, subs, finished, load, source, overwrite: bool,
                  meshes: dict, earlier: list[str],
                  cell: list[str]) -> tuple[list[dict[str, Any]], float, float]:
  """Trains (or reads back) ``groups``: (their candidates, training seconds, total seconds).

  ``earlier``: the row's groups trained or read back before these, of every cell (each is added
  once done). A group whose stacks, or their first layers, one of them pretrained (a search step
  that moves the fine-tuning rate alone; a DBN-3 whose first RBM is a DBN-1's) reads those
  layers from its checkpoint instead of pretraining them (``sdae.shared_pretraining``); with
  ``overwrite`` nothing was read back, so nothing of before is reused. ``cell``: this cell's
  groups before these (added to alike), the references of ``grid.prune`` (``sdae.pruning``)."""
  candidates = []
  trained_seconds = total_seconds = 0.0  # as recorded by each group's run (read back too)
  for group, sub, res in zip(groups, subs, finished):
    log.info("%s %s: group %s (%d models in one program)", grid.dataset, grid.method,
             group.name, len(group.points))
    if res is not None:
      log.info("group %s already finished: read from %s/results.json", group.name, sub)
    else:
      n = len(group.points)
      mesh = meshes[n] if n in meshes else sweep_lib.members_mesh(n)
      res = sweep_lib.train_members(group.config, group.points, sub, splits=load(),
                                    data_source=source, overwrite=overwrite, mesh=mesh,
                                    pretrained_from=list(earlier),
                                    pruning=pruning_lib.Pruning(grid.prune, tuple(cell)))
    trained_seconds += float(res["seconds"].get("training", res["seconds"]["total"]))
    # A resumed group's total is its last session's only: its training over every session,
    # when larger, is nearer what the group cost.
    total_seconds += max(float(res["seconds"]["total"]), float(res["seconds"].get("training", 0)))
    candidates.extend(_candidates(group, res))
    earlier.append(sub)
    cell.append(sub)
  return candidates, trained_seconds, total_seconds


def _chosen(best: dict[str, Any]) -> dict[str, Any]:
  return {k: v for k, v in best.items()
          if k not in ("valid_error_pct", "test_error_pct", "test_ci95_pct", "diverged",
                       "pruned_at_epoch")}


def _grown(grid: DatasetGrid, candidates, load, source, overwrite, meshes, workdir_of, earlier,
           cell):
  """Grows the grid past its edge picks (``sdae.reproduce.grow``): up to ``grid.grow`` steps,
  each training one model per edge axis of the model chosen so far or, when it sits on no edge,
  the probes of ``grid.probe``. Returns (the new
  candidates, their training and total seconds, the grown groups' names)."""
  from sdae.reproduce import grow  # pylint: disable=g-import-not-at-top
  if distributed.process_count() > 1:
    # A step's groups hold one or two models, which do not split over several processes.
    log.warning("%s %s: the grid does not grow past an edge pick with several processes",
                grid.dataset, grid.method)
    return [], 0.0, 0.0, []
  groups = {g.name: g for g in grid.groups}
  new, trained, total, names = [], 0.0, 0.0, []
  for step in range(1, grid.grow + 1):
    if all(c["diverged"] for c in candidates + new):
      break
    best = _chosen(sweep_lib.select(candidates + new))  # the diverged are never selected
    added = grow.as_groups(grow.next_models(candidates + new, best, groups, step, grid.probe))
    added = [g for g in added if g.name not in groups]
    if not added:
      break
    log.info("%s %s: step %d of the search trains %d more model(s): %s", grid.dataset,
             grid.method, step, sum(len(g.points) for g in added),
             ", ".join(g.name for g in added))
    subs = [workdir_of(g) for g in added]
    fin = [sweep_lib.finished(g.config, g.points, sub, overwrite) for g, sub in zip(added, subs)]
    cands, t, tt = _train_groups(grid, added, subs, fin, load, source, overwrite, meshes,
                                 earlier, cell)
    new += cands
    trained, total = trained + t, total + tt
    groups.update((g.name, g) for g in added)
    names += [g.name for g in added]
  return new, trained, total, names


def _network_row(grid: DatasetGrid, subs: list[str], finished: list, load, source,
                 overwrite: bool, meshes: dict, root: str, earlier: list[str]) -> dict[str, Any]:
  """Trains (or reads back) a network method's groups, grows the grid past an edge pick
  (``grid.grow`` steps at most), and selects its model. ``load()`` gives the data (read only
  when something is left to train); ``earlier``: the row's groups before these (``_train_groups``),
  added to."""
  cell: list[str] = []
  candidates, trained_seconds, total_seconds = _train_groups(
      grid, grid.groups, subs, finished, load, source, overwrite, meshes, earlier, cell)
  grown_names = []
  if grid.grow:
    new, t, tt, grown_names = _grown(grid, candidates, load, source, overwrite, meshes,
                                     lambda g: os.path.join(root, g.name), earlier, cell)
    candidates += new
    trained_seconds, total_seconds = trained_seconds + t, total_seconds + tt
  version = _data_version(source, load.loaded(), finished)
  diverged = sum(c["diverged"] for c in candidates)
  extra = {"n_models": len(candidates), "n_diverged": diverged,
           "training_seconds": round(trained_seconds, 1), "seconds": round(total_seconds, 1),
           "grid": [{k: c[k] for k in ("level", "hidden", "pretrain_lr", "pretrain_epochs",
                                       "finetune_lr", "seed",
                                       "valid_error_pct", "valid_xent", "test_error_pct",
                                       "test_ci95_pct", "diverged", "group",
                                       "pruned_at_epoch")}
                    for c in candidates]}
  if grown_names:
    extra["grown"] = grown_names
  if grid.prune != "none":
    extra["prune"] = grid.prune
    extra["n_pruned"] = sum(c["pruned_at_epoch"] is not None for c in candidates)
  note = (f"{diverged} of {len(candidates)} models diverged (non-finite loss) and were not "
          "candidates" if diverged else None)
  if diverged == len(candidates):
    log.warning("%s %s: every model diverged", grid.dataset, grid.method)
    return unavailable_row(grid.dataset, f"{note}; try lower learning rates", source,
                           method=grid.method, **extra)
  best = sweep_lib.select(candidates)
  chosen = _chosen(best)
  extra["trials"] = len(candidates)
  extra["on_edge"] = on_edge({k: [c[k] for c in candidates] for k in NETWORK_AXES}, chosen)
  extra["data_version"] = version
  if note:
    extra["note"] = note
  return result_row(grid.dataset, test_error_pct=best["test_error_pct"],
                    test_ci95_pct=best["test_ci95_pct"], valid_error_pct=best["valid_error_pct"],
                    chosen=chosen, data_source=source, method=grid.method, **extra)


def _svm_row(grid: DatasetGrid, sub: str, res, splits, source) -> dict[str, Any]:
  from sdae.reproduce import svm  # pylint: disable=g-import-not-at-top
  if res is None:
    n_train = grid.data_config().n_train
    if n_train:
      splits = dict(splits, train=tuple(a[:n_train] for a in splits["train"]))
    version = _data_version(source, splits)
    res = svm.select_and_test(splits, grid.svm, sub if distributed.is_writer() else None,
                              record={"data_source": source, "data_version": version})
  else:
    source = res.get("data_source", source)
    version = _recorded_version(res)
  return result_row(grid.dataset, test_error_pct=res["test_error_pct"],
                    test_ci95_pct=res["test_ci95_pct"], valid_error_pct=res["valid_error_pct"],
                    chosen=res["chosen"], data_source=source, method=grid.method,
                    n_models=len(res["grid"]), seconds=res["seconds"]["total"],
                    grid=svm.summarize_grid(res["grid"]), trials=len(res["grid"]),
                    on_edge=on_edge({k: [r[k] for r in res["grid"]]
                                     for k in ("C", "gamma_factor")}, res["chosen"]),
                    data_version=version)


def _finished_cell(grid: DatasetGrid, workdir: str, overwrite: bool):
  """(sub-workdirs, per-group or SVM results read back or None) of one (dataset, method)."""
  root = os.path.join(workdir, grid.dataset, grid.method)
  if grid.svm is not None:
    from sdae.reproduce import svm  # pylint: disable=g-import-not-at-top
    os.makedirs(root, exist_ok=True)
    return [root], [None if overwrite else svm.finished(root, grid.svm)]
  subs = [os.path.join(root, g.name) for g in grid.groups]
  return subs, [sweep_lib.finished(g.config, g.points, sub, overwrite)
                for g, sub in zip(grid.groups, subs)]


def _row_data(ds: str, state, data_cfg: config_lib.TrainConfig, workdir: str):
  """The data of dataset ``ds``'s row: (which cells finished [bool per group], the data config,
  the splits or None when nothing is left to train, their source, the load error or None).

  Several processes train each group together, so they must take the same branches: process 0's
  view of what finished and of whether the data loaded is everyone's (``sdae.distributed``).
  """
  from sdae.data import DataError  # pylint: disable=g-import-not-at-top
  from sdae.experiment_errors import RunError  # pylint: disable=g-import-not-at-top
  flat = [f is not None for _, fin in state for f in fin]
  if [distributed.agree(int(f)) for f in flat] != [int(f) for f in flat]:
    raise RunError(f"{ds}: process {distributed.process_index()} sees other finished groups "
                   f"than process 0 under {workdir}; accepted: a --workdir all processes share")
  error = splits = source = None
  # A rerun with no --data_source reads what the finished grids of this row read (as a rerun
  # of experiments.train resumes on its workdir's source), not what the flags would pick now.
  used = {f.get("data_source") for _, fin in state for f in fin if f is not None}
  if data_cfg.data_source is None and len(used) == 1 and used <= {"original", "regenerated"}:
    data_cfg = data_cfg.replace(data_source=used.pop())
  # ... and the data version they read, when no --data_version names one.
  versions = {_recorded_version(f) for _, fin in state for f in fin if f is not None}
  if (data_cfg.data_version is None and data_cfg.data_source == "regenerated"
      and len(versions) == 1 and None not in versions):
    data_cfg = data_cfg.replace(data_version=versions.pop())
  try:
    if all(flat):  # nothing to train: no need for the data
      source = next(f for _, fin in state for f in fin).get("data_source")
    else:
      splits, source = load_dataset(data_cfg)
  except (DataError, OSError) as e:
    error = e
  if distributed.agree(int(error is None)) != int(error is None):
    raise RunError(f"{ds}: the data loaded on process 0 or here but not on both "
                   f"({error or 'loaded here'}); accepted: the same data on every process")
  return flat, data_cfg, splits, source, error


def reproduce(grids: Sequence[DatasetGrid], workdir: str, *, overwrite: bool = False,
              data_dir: str | None = None, title: str = "",
              on_row: Callable[[dict[str, Any]], None] | None = None,
              write: Callable[[list[dict[str, Any]]], None] | None = None
              ) -> list[dict[str, Any]]:
  """Runs every (dataset, method) grid, selects on validation, writes the table.

  ``write(rows)`` is called with the rows so far after every (dataset, method), on process 0
  only; the default writes ``table.md``, ``table.json`` and ``table.png`` (``write_table``). The
  paper's other experiments (``sdae.reproduce.experiments``) pass their own: their cells are grids
  whose ``method`` names a condition (e.g. ``salt_pepper-full``), selected the same way.

  Grids of one dataset share its data (loaded once, only if something is left to train).
  Datasets whose data cannot be loaded (``sdae.data.DataError``, a missing file) become
  ``unavailable`` rows with the reason; the others still run.

  Each group's members are split over all devices (``sweep.members_mesh``). With several
  processes (``sdae.distributed``) every process calls ``reproduce`` alike, with a shared
  ``workdir``: a group's number of models must split over the processes (checked before any
  training), each process contributes its rows of the data, and only process 0 writes.
  """
  # Each group size's member mesh, built before any training: with several processes, a group
  # that cannot split over them is refused here.
  meshes = {n: sweep_lib.members_mesh(n) for n in {len(g.points) for grid in grids
                                                   for g in grid.groups}}
  os.makedirs(workdir, exist_ok=True)
  if write is None:
    write = functools.partial(write_table, workdir, title=title)
  elif not distributed.is_writer():
    write = lambda rows: None  # pylint: disable=unnecessary-lambda-assignment
  with runlock.exclusive(workdir):  # one writer: a second launch exits in one line
    return _reproduce(grids, workdir, meshes, overwrite, data_dir, write, on_row)


class _Loader:
  """A row's data: the splits already loaded, or loaded at the first call (a grid that grows
  past an edge pick trains new groups after every finished one was read back)."""

  def __init__(self, splits, data_cfg: config_lib.TrainConfig):
    self._splits, self._cfg = splits, data_cfg

  def __call__(self):
    if self._splits is None:
      self._splits = load_dataset(self._cfg)[0]
    return self._splits

  def loaded(self):
    return self._splits


def _reproduce(grids, workdir, meshes, overwrite, data_dir, write, on_row) -> list[dict[str, Any]]:
  rows: list[dict[str, Any]] = []
  datasets = list(dict.fromkeys(g.dataset for g in grids))
  for ds in datasets:
    cells = [g for g in grids if g.dataset == ds]
    if any(not g.groups and g.svm is None for g in cells):
      rows.extend(unavailable_row(ds, "no grid for this dataset", method=g.method)
                  for g in cells)
      write(rows)
      continue
    state = [_finished_cell(g, workdir, overwrite) for g in cells]
    flat, data_cfg, splits, source, error = _row_data(ds, state, cells[0].data_config(), workdir)
    if error is not None:
      log.warning("%s: unavailable: %s", ds, error)
      for g in cells:
        rows.append(unavailable_row(ds, _unavailable_reason(error, ds, data_dir),
                                    method=g.method))
        if on_row:
          on_row(rows[-1])
      write(rows)
      continue
    if splits is not None and len(splits["valid"][1]) == 0:
      raise config_lib.ConfigError(
          f"{ds} has no validation split, and every method of the table chooses its "
          f"hyperparameters on one ({', '.join(g.method for g in cells)}); accepted: data with "
          "train, valid and test rows (tzanetakis: a 'split' array with 1s, or none for 60/20/20)")
    now = _source_to_use(data_cfg) if all(flat) else source
    version = getattr(splits, "data_version", None)
    if all(flat) and now == "regenerated":
      from sdae.data import regenerate  # pylint: disable=g-import-not-at-top
      version = regenerate.resolve_version(ds, data_cfg.data_version)
    _check_same_source(ds, [f for _, fin in state for f in fin if f is not None], now, workdir,
                       version)
    loader = _Loader(splits, data_cfg)
    earlier: list[str] = []  # the row's groups so far: their stacks may be read (``_train_groups``)
    for grid, (subs, fin) in zip(cells, state):
      if grid.svm is not None:
        row = _svm_row(grid, subs[0], fin[0], splits, source)
      else:
        row = _network_row(grid, subs, fin, loader, source, overwrite, meshes,
                           os.path.join(workdir, grid.dataset, grid.method), earlier)
      rows.append(row)
      write(rows)
      if row["test_error_pct"] is not None:
        log.info("%s %s: chose %s: test %.2f%% +- %.2f (paper %s): %s", ds, grid.method,
                 _fmt_chosen(row["chosen"]), row["test_error_pct"], row["test_ci95_pct"],
                 "-" if row["paper_error_pct"] is None else
                 f"{row['paper_error_pct']:.2f} +- {row['paper_ci95_pct']:.2f}", row["verdict"])
      if on_row:
        on_row(row)
    del splits, loader
  return rows
