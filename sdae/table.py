"""Vincent et al. (2010), Table 3: the paper's SdA-3 column, verdicts, and the reproduction driver.

``PAPER`` holds the SdA-3 column as printed (test error %, 95% half-width, noise level chosen on
validation; ../shared/reference/vincent2010-table3.md). ``verdict`` compares our test error with
the paper's interval. ``reproduce`` runs, per dataset, a grid of member groups (points sharing
shapes are one vmapped program each, in their own sub-workdir), selects the model on validation
error and writes ``table.md`` and ``table.json`` (atomically) after every dataset, so an
interrupted run shows the rows finished so far and a rerun resumes: a group whose
``results.json`` matches its configuration is read back, not retrained; an unfinished group
resumes from its checkpoint.

Verdicts (DESIGN.md): with the paper's error ``p`` and half-width ``c``, ours ``e`` is
``better`` when ``e < p - c``, ``within`` when ``p - c <= e <= p + c`` and ``worse`` when
``e > p + c``; the bounds are inclusive up to 1e-9 (so 1.87 against 1.99 +- 0.12 is within,
whatever the float rounding of 1.99 - 0.12). ``unavailable``: no data here; the row carries a
``note`` saying why.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from typing import Any, Callable, Sequence

from sdae import checkpoint as ckpt_lib
from sdae import config as config_lib
from sdae import distributed
from sdae import experiment
from sdae import sweep as sweep_lib

log = logging.getLogger("sdae")


@dataclasses.dataclass(frozen=True)
class PaperRow:
  dataset: str   # canonical name (sdae.data)
  alias: str     # the paper's row name
  error_pct: float
  ci95_pct: float
  level: float   # masking fraction (images) or Gaussian std (tzanetakis)
  corruption: str = "masking"


#: Table 3, SdA-3 (v) column, in the paper's row order.
PAPER: dict[str, PaperRow] = {r.dataset: r for r in [
    PaperRow("mnist", "MNIST", 1.28, 0.22, 0.25),
    PaperRow("mnist_basic", "basic", 2.84, 0.15, 0.10),
    PaperRow("mnist_rot", "rot", 9.53, 0.26, 0.25),
    PaperRow("mnist_bg_rand", "bg-rand", 10.30, 0.27, 0.40),
    PaperRow("mnist_bg_img", "bg-img", 16.68, 0.33, 0.25),
    PaperRow("mnist_bg_img_rot", "bg-img-rot", 43.76, 0.43, 0.25),
    PaperRow("rectangles", "rect", 1.99, 0.12, 0.10),
    PaperRow("rectangles_images", "rect-img", 21.59, 0.36, 0.25),
    PaperRow("convex", "convex", 19.06, 0.34, 0.10),
    PaperRow("tzanetakis", "tzanetakis", 16.02, 1.04, 0.05, "gaussian"),
]}

VERDICTS = ("better", "within", "worse", "unavailable")
_EPS = 1e-9


def verdict(ours_pct: float | None, paper_pct: float, paper_ci95_pct: float) -> str:
  """``better`` / ``within`` / ``worse`` than the paper's interval; ``unavailable`` for None."""
  if ours_pct is None:
    return "unavailable"
  lo, hi = paper_pct - paper_ci95_pct, paper_pct + paper_ci95_pct
  if ours_pct < lo - _EPS:
    return "better"
  if ours_pct > hi + _EPS:
    return "worse"
  return "within"


# --- rows and writers ----------------------------------------------------------------------------


def result_row(dataset: str, *, test_error_pct: float, test_ci95_pct: float,
               valid_error_pct: float, chosen: dict[str, Any], data_source: str,
               **extra) -> dict[str, Any]:
  """A ``table.json`` row for a dataset we trained on."""
  p = PAPER[dataset]
  row = {"dataset": dataset, "paper_error_pct": p.error_pct, "paper_ci95_pct": p.ci95_pct,
         "paper_level": p.level, "test_error_pct": round(float(test_error_pct), 4),
         "test_ci95_pct": round(float(test_ci95_pct), 4),
         "valid_error_pct": round(float(valid_error_pct), 4), "chosen": dict(chosen),
         "data_source": data_source,
         "verdict": verdict(float(test_error_pct), p.error_pct, p.ci95_pct), "alias": p.alias}
  row.update(extra)
  return row


def unavailable_row(dataset: str, note: str, data_source: str | None = None,
                    **extra) -> dict[str, Any]:
  """A row for a dataset whose data cannot be had here; ``note`` says why."""
  p = PAPER[dataset]
  row = {"dataset": dataset, "paper_error_pct": p.error_pct, "paper_ci95_pct": p.ci95_pct,
         "paper_level": p.level, "test_error_pct": None, "test_ci95_pct": None,
         "valid_error_pct": None, "chosen": {}, "data_source": data_source,
         "verdict": "unavailable", "alias": p.alias, "note": " ".join(str(note).split())}
  row.update(extra)
  return row


def _fmt(x: float | None, digits: int = 2) -> str:
  return "-" if x is None else f"{x:.{digits}f}"


def _fmt_chosen(chosen: dict[str, Any]) -> str:
  if not chosen:
    return "-"
  parts = []
  for k in ("level", "hidden", "pretrain_lr", "finetune_lr", "seed", "best_epoch"):
    if k in chosen:
      v = chosen[k]
      v = "x".join(map(str, v)) if isinstance(v, (list, tuple)) else f"{v:g}" if isinstance(
          v, float) else v
      parts.append(f"{k}={v}")
  return ", ".join(parts)


def render_markdown(rows: Sequence[dict[str, Any]], title: str = "") -> str:
  """``table.md``: one line per dataset, the paper's SdA-3 next to ours."""
  lines = []
  if title:
    lines += [f"# {title}", ""]
  lines += ["| dataset | paper SdA-3 (%) | paper level | ours (%) | ours valid (%) | chosen "
            "| data | verdict |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
  notes = []
  for r in rows:
    ours = ("-" if r["test_error_pct"] is None
            else f"{r['test_error_pct']:.2f} ±{r['test_ci95_pct']:.2f}")
    verdict_cell = r["verdict"]
    if r.get("note"):
      notes.append(f"- {r.get('alias', r['dataset'])}: {r['note']}")
      verdict_cell += f" [{len(notes)}]"
    lines.append(
        f"| {r.get('alias', r['dataset'])} | {r['paper_error_pct']:.2f} ±{r['paper_ci95_pct']:.2f}"
        f" | {r['paper_level']:g} | {ours} | {_fmt(r['valid_error_pct'])} "
        f"| {_fmt_chosen(r['chosen'])} | {r['data_source'] or '-'} | {verdict_cell} |")
  lines += ["", "Intervals: 95%, 1.96 sqrt(p(1-p)/n) over the test set. Verdict: better = ours "
            "below the paper's interval, within = inside it, worse = above it."]
  if notes:
    lines += ["", "Notes:", ""] + notes
  return "\n".join(lines) + "\n"


def write_table(workdir: str, rows: Sequence[dict[str, Any]], title: str = "") -> None:
  """Writes ``workdir/table.json`` (``{"rows": [...]}``) and ``workdir/table.md``, atomically;
  with several processes, only process 0 writes."""
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


# --- the reproduction driver ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Group:
  """Grid points that share shapes: one vmapped members run."""

  name: str
  config: config_lib.TrainConfig
  points: tuple[sweep_lib.Point, ...]


@dataclasses.dataclass(frozen=True)
class DatasetGrid:
  """The grid of one table row: member groups (e.g. one per hidden size)."""

  dataset: str
  groups: tuple[Group, ...]

  def n_models(self) -> int:
    return sum(len(g.points) for g in self.groups)


def load_dataset(config: config_lib.TrainConfig) -> tuple[dict, str]:
  """(splits, data_source); a seam for tests (monkeypatch) and for a user's own loader."""
  return experiment.load_data(config)


def _unavailable_reason(e: BaseException, dataset: str, data_dir: str | None) -> str:
  msg = " ".join(str(e).split())
  if dataset == "tzanetakis":
    return (f"no tzanetakis features here ({msg}); put tzanetakis.npz or tzanetakis.amat in "
            "--data_dir")
  return f"data not available ({msg})" + ("" if data_dir else "; pass --data_dir")


def _finished(group: Group, sub: str, overwrite: bool) -> dict[str, Any] | None:
  """The group's results when it already finished with this configuration, else None."""
  path = os.path.join(sub, "results.json")
  if overwrite or not os.path.exists(path):
    return None
  with open(path) as f:
    done = json.load(f)
  members = sweep_lib.members_of(group.config, group.points)
  want = dict(group.config.to_dict(), members={
      "seeds": list(map(int, members.seeds)),
      "levels": [list(map(float, l)) for l in members.levels],
      "pretrain_lr": list(map(float, members.pretrain_lr)),
      "finetune_lr": list(map(float, members.finetune_lr))})
  # The data source actually used is checked against this run's in ``reproduce``. The run's
  # identity is config.json's (results.json shows the settings resolved, for reading).
  recorded = experiment.recorded_config(sub) or done.get("config", {})
  got = {k: v for k, v in recorded.items() if k != "data_source_used"}
  same = experiment._identity(got) == experiment._identity(want)  # pylint: disable=protected-access
  if same and len(done.get("members", [])) == len(group.points):
    return done
  return None


def _source_to_use(config: config_lib.TrainConfig) -> str | None:
  """The source ``load`` would read for ``config`` (None when that cannot be told unloaded)."""
  try:
    from sdae import data as data_lib  # pylint: disable=g-import-not-at-top
    return data_lib.pick_source(config.dataset, config.data_source, config.data_dir,
                                cache_dir=config.cache_dir)
  except Exception:  # pylint: disable=broad-except
    return None


def _check_same_source(ds: str, finished: list[dict[str, Any]], source: str | None,
                       workdir: str) -> None:
  """Refuses to mix data sources in one row: the finished groups read back must have used the
  data this run uses (``source``)."""
  from sdae.experiment_errors import RunError  # pylint: disable=g-import-not-at-top
  used = sorted({str(f.get("data_source")) for f in finished})
  if finished and source is not None and used != [source]:
    raise RunError(f"{ds}: the finished groups under {workdir} used {'/'.join(used)} data and "
                   f"this run would use {source}; use another --workdir, pass "
                   f"--data_source={used[0]}, or --overwrite")


def reproduce(grids: Sequence[DatasetGrid], workdir: str, *, overwrite: bool = False,
              data_dir: str | None = None, title: str = "",
              on_row: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
  """Runs every grid, selects on validation error, writes ``table.md``/``table.json``.

  Each group trains in ``workdir/<dataset>/<group name>``; its ``results.json`` records it as
  finished. The table is rewritten after every dataset (rows not reached yet are left out).
  Datasets whose data cannot be loaded (``sdae.data.DataError``, a missing file) become
  ``unavailable`` rows with the reason; the others still run.

  Each group's members are split over all devices (``sweep.members_mesh``). With several
  processes (``sdae.distributed``) every process calls ``reproduce`` alike, with a shared
  ``workdir``: a group's number of models must split over the processes (checked before any
  training), each process contributes its rows of the data, and only process 0 writes.
  """
  from sdae.data import DataError  # pylint: disable=g-import-not-at-top
  from sdae.experiment_errors import RunError  # pylint: disable=g-import-not-at-top
  # Each group size's member mesh, built before any training: with several processes, a group
  # that cannot split over them is refused here.
  meshes = {n: sweep_lib.members_mesh(n) for n in {len(g.points) for grid in grids
                                                   for g in grid.groups}}
  os.makedirs(workdir, exist_ok=True)
  rows: list[dict[str, Any]] = []
  total = sum(len(g.groups) for g in grids)
  done_groups = 0
  for grid in grids:
    ds = grid.dataset
    if not grid.groups:
      rows.append(unavailable_row(ds, "no grid for this dataset"))
      write_table(workdir, rows, title)
      continue
    subs = [os.path.join(workdir, ds, g.name) for g in grid.groups]
    finished = [_finished(g, sub, overwrite) for g, sub in zip(grid.groups, subs)]
    # Several processes train each group together, so they must take the same branches: process
    # 0's view of what finished and of whether the data loaded is everyone's (sdae.distributed).
    if [distributed.agree(int(f is not None)) for f in finished] != [
        int(f is not None) for f in finished]:
      raise RunError(f"{ds}: process {distributed.process_index()} sees other finished groups "
                     f"than process 0 under {workdir}; accepted: a --workdir all processes share")
    error = None
    try:
      if all(finished):  # nothing to train: no need for the data
        splits, source = None, finished[0].get("data_source")
      else:
        splits, source = load_dataset(grid.groups[0].config)
    except (DataError, OSError) as e:
      error = e
    if distributed.agree(int(error is None)) != int(error is None):
      raise RunError(f"{ds}: the data loaded on process 0 or here but not on both "
                     f"({error or 'loaded here'}); accepted: the same data on every process")
    if error is not None:
      log.warning("%s: unavailable: %s", ds, error)
      rows.append(unavailable_row(ds, _unavailable_reason(error, ds, data_dir)))
      done_groups += len(grid.groups)
      write_table(workdir, rows, title)
      if on_row:
        on_row(rows[-1])
      continue
    now = _source_to_use(grid.groups[0].config) if all(finished) else source
    _check_same_source(ds, [f for f in finished if f is not None], now, workdir)
    candidates = []
    trained_seconds = total_seconds = 0.0  # as recorded by each group's run (read back too)
    for group, sub, res in zip(grid.groups, subs, finished):
      done_groups += 1
      log.info("grid point %d/%d: %s %s (%d models in one program)", done_groups, total, ds,
               group.name, len(group.points))
      if res is not None:
        log.info("grid group %s already finished: read from %s/results.json", group.name, sub)
      else:
        res = experiment.train_and_evaluate(
            group.config, sub, splits=splits, data_source=source,
            members=sweep_lib.members_of(group.config, group.points), overwrite=overwrite,
            mesh=meshes[len(group.points)])
      trained_seconds += float(res["seconds"].get("training", res["seconds"]["total"]))
      total_seconds += float(res["seconds"]["total"])
      for p, m in zip(group.points, res["members"]):
        p = p.resolved(group.config)
        candidates.append({
            "level": p.level, "hidden": list(group.config.hidden), "pretrain_lr": p.pretrain_lr,
            "finetune_lr": p.finetune_lr, "seed": p.seed,
            "pretrain_epochs": group.config.pretrain_epochs,
            "finetune_epochs": group.config.finetune_epochs,
            "batch_size": group.config.batch_size,
            "finetune_batch_size": group.config.ft_batch_size(),
            "corruption": group.config.corruption,
            "best_epoch": int(m["best_epoch"]), "group": group.name,
            # Rounded: float32 artifacts (4.9999995) must not decide a tie on validation.
            "valid_error_pct": round(float(m["valid_error_pct"]), 4),
            "test_error_pct": round(float(m["test_error_pct"]), 4),
            "test_ci95_pct": round(float(m["test_ci95_pct"]), 4)})
    del splits
    best = sweep_lib.select(candidates)
    chosen = {k: v for k, v in best.items()
              if k not in ("valid_error_pct", "test_error_pct", "test_ci95_pct")}
    row = result_row(ds, test_error_pct=best["test_error_pct"],
                     test_ci95_pct=best["test_ci95_pct"], valid_error_pct=best["valid_error_pct"],
                     chosen=chosen, data_source=source, n_models=len(candidates),
                     training_seconds=round(trained_seconds, 1),
                     seconds=round(total_seconds, 1),
                     grid=[{k: c[k] for k in ("level", "hidden", "pretrain_lr", "finetune_lr",
                                              "seed", "valid_error_pct", "test_error_pct")}
                           for c in candidates])
    rows.append(row)
    write_table(workdir, rows, title)
    log.info("%s: chose %s: test %.2f%% +- %.2f (paper %.2f +- %.2f): %s", ds,
             _fmt_chosen(chosen), row["test_error_pct"], row["test_ci95_pct"],
             row["paper_error_pct"], row["paper_ci95_pct"], row["verdict"])
    if on_row:
      on_row(row)
  return rows
