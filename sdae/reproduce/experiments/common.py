"""What the paper's experiments share: plans of cells, the run through the table's driver, rows,
findings and the ``.md`` / ``.json`` / ``.png`` outputs.

A ``Cell`` is one model selection: a ``sdae.reproduce.table.DatasetGrid`` (its member groups, or an
SVM grid) whose ``method`` is the condition's label, unique within its dataset (e.g.
``salt_pepper-full``). Its groups train in ``workdir/<dataset>/<label>/<group>`` exactly as a
table's do, so a rerun reads back the finished groups and resumes the unfinished one, and a cell
whose grid equals a table column's (``svm_codes``' networks) can share that table's workdir.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any, Callable, Sequence

from sdae import config as config_lib
from sdae import distributed
from sdae import sweep as sweep_lib
from sdae.configs import sda as sda_configs
from sdae.reproduce import paper as paper_lib
from sdae.reproduce import table as table_lib

log = logging.getLogger("sdae")


@dataclasses.dataclass(frozen=True)
class Cell:
  """One model selection of an experiment: its grid, the condition its row shows, and the
  paper's figure for it as (error %, 95% half-width), None where the paper's is unknown."""

  grid: table_lib.DatasetGrid
  settings: dict[str, Any]
  paper: tuple[float, float] | None = None

  @property
  def label(self) -> str:
    return self.grid.method


@dataclasses.dataclass(frozen=True)
class Plan:
  """What an experiment trains under a budget: its cells in order, and what the budget cut from
  the paper's design (stated in the outputs' header)."""

  experiment: str
  title: str
  budget: str
  datasets: tuple[str, ...]
  cells: tuple[Cell, ...]
  cuts: str = ""

  def cell(self, dataset: str, label: str) -> Cell:
    for c in self.cells:
      if c.grid.dataset == dataset and c.label == label:
        return c
    raise KeyError((dataset, label))

  def describe(self) -> str:
    """The cells' grids (``sdae.reproduce.table.describe``), headed by the experiment and its
    cuts."""
    head = f"{self.experiment}, budget {self.budget}" + (f": {self.cuts}" if self.cuts else "")
    return head + "\n" + table_lib.describe([c.grid for c in self.cells])


def paper_figure(dataset: str, error_pct: float) -> tuple[float, float]:
  """A figure the paper prints without its interval, with the interval the paper computes for
  its own (``1.96 sqrt(p (1 - p) / n)`` over the dataset's test set, as in Table 3)."""
  from sdae.data import registry as data_registry  # pylint: disable=g-import-not-at-top
  from sdae.finetune import ci95_pct  # pylint: disable=g-import-not-at-top
  n = data_registry.spec(dataset).n_test
  return float(error_pct), round(ci95_pct(error_pct / 100.0, n), 2)


def network_cell(dataset: str, label: str, base: config_lib.TrainConfig,
                 hiddens: Sequence[tuple[int, ...]], levels: Sequence[float], *,
                 pretrain_lrs=None, finetune_lrs=None, seeds: int = 1,
                 overrides: dict[str, Any] | None = None, settings: dict[str, Any] | None = None,
                 paper: tuple[float, float] | None = None) -> Cell:
  """A cell of one member group per layer-size tuple in ``hiddens``, each training every
  (pretraining lr, fine-tuning lr, level, seed) point; ``overrides`` (flags given on the command
  line) apply to every group, ``overrides["hidden"]`` replacing the sizes."""
  overrides = dict(overrides or {})
  if "hidden" in overrides:
    hiddens = [tuple(overrides.pop("hidden"))]
  points = sweep_lib.grid(levels, seeds, pretrain_lrs, finetune_lrs)
  groups = [table_lib.network_group(base, hidden, points, overrides) for hidden in hiddens]
  return Cell(table_lib.DatasetGrid(dataset, tuple(groups), label), dict(settings or {}), paper)


def sda_base(dataset: str, budget: str):
  """(base config, layer sizes, noise levels, pretraining lrs, fine-tuning lrs) of the table's
  SdA-3 grid under ``budget`` (``sdae.configs.sda.sda_grid``): every experiment starts from it."""
  return sda_configs.sda_grid(dataset, budget)


# --- rows --------------------------------------------------------------------------------------


def row_from(cell: Cell, trow: dict[str, Any], experiment: str) -> dict[str, Any]:
  """An experiment row from the table row of ``cell``'s selection."""
  paper = cell.paper
  ours = trow.get("test_error_pct")
  row = {"experiment": experiment, "dataset": trow["dataset"],
         "alias": paper_lib.TABLE3[trow["dataset"]].alias, "cell": cell.label,
         **cell.settings,
         "test_error_pct": ours, "test_ci95_pct": trow.get("test_ci95_pct"),
         "valid_error_pct": trow.get("valid_error_pct"),
         "paper_error_pct": None if paper is None else paper[0],
         "paper_ci95_pct": None if paper is None else paper[1],
         "verdict": paper_lib.verdict(ours, *(paper or (None, None))),
         "chosen": trow.get("chosen", {}), "data_source": trow.get("data_source"),
         "data_version": trow.get("data_version"), "trials": trow.get("trials"),
         "on_edge": trow.get("on_edge", []), "seconds": trow.get("seconds")}
  if (trow.get("note") and trow["verdict"] == "unavailable") or trow.get("n_diverged"):
    row["note"] = trow.get("note")
  return row


def default_rows(plan: Plan, trows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
  return [row_from(plan.cell(t["dataset"], t["method"]), t, plan.experiment) for t in trows]


def finding(claim: str, holds: bool | None, detail: str) -> dict[str, Any]:
  """A checked qualitative claim of the paper; ``holds`` None when the rows cannot tell."""
  return {"claim": claim, "holds": holds, "detail": detail}


def verdict_line(f: dict[str, Any]) -> str:
  word = {True: "holds", False: "does not hold", None: "cannot tell"}[f["holds"]]
  return f"finding: {f['claim']}: {word} ({f['detail']})"


def fmt_pct(e: float | None, c: float | None) -> str:
  return "-" if e is None else f"{e:.2f} ±{c:.2f}"


# --- the run -----------------------------------------------------------------------------------


def run(plan: Plan, experiment_module, workdir: str, *, overwrite: bool = False,
        data_dir: str | None = None) -> dict[str, Any]:
  """Trains (or reads back) every cell, selects on validation, builds the rows and checks the
  findings; writes the outputs after every cell and at the end. Returns ``{"rows", "findings"}``.

  ``experiment_module`` provides ``rows(plan, table_rows, workdir, final)`` (the experiment's
  rows from the table rows; ``final``: the last call, where work after the selections, such as
  ``svm_codes``' SVMs on codes, happens), ``findings(rows)`` and ``plot(rows, plan, path)``.
  """
  from sdae.io import runlock  # pylint: disable=g-import-not-at-top
  os.makedirs(workdir, exist_ok=True)

  def write(trows):
    rows = experiment_module.rows(plan, trows, workdir, False)
    write_outputs(workdir, plan, rows, experiment_module.findings(rows), experiment_module)

  with runlock.exclusive(workdir):  # re-entrant: the table's driver takes it again
    trows = table_lib.reproduce([c.grid for c in plan.cells], workdir, overwrite=overwrite,
                                data_dir=data_dir, write=write)
    rows = experiment_module.rows(plan, trows, workdir, True)
    findings = experiment_module.findings(rows)
    write_outputs(workdir, plan, rows, findings, experiment_module)
  return {"rows": rows, "findings": findings}


# --- outputs -----------------------------------------------------------------------------------


def header(plan: Plan) -> list[str]:
  lines = [f"# {plan.title}, budget {plan.budget}", ""]
  if plan.cuts:
    lines += [f"Cut from the paper's design at this budget: {plan.cuts}.", ""]
  if plan.budget in sda_configs.BUDGET_CAVEATS:
    lines += [sda_configs.BUDGET_CAVEATS[plan.budget][1], ""]
  return lines


def render_markdown(plan: Plan, rows: Sequence[dict[str, Any]],
                    findings: Sequence[dict[str, Any]]) -> str:
  """``<experiment>.md``: the header, one line per row (its condition, ours, the paper's, the
  verdict, the chosen settings), then the findings."""
  keys = [k for k in _setting_keys(plan) if any(k in r for r in rows)]
  lines = header(plan)
  lines += ["Test error (%) with 95% intervals; the paper's figure where it is known ('-': "
            "unknown, never guessed). Each row's model is chosen on validation error alone.", "",
            "| dataset | " + " | ".join(keys) + " | ours (%) | valid (%) | paper (%) | verdict "
            "| chosen | trials | on edge | minutes | data |",
            "| --- |" + " --- |" * (len(keys) + 9)]
  for r in rows:
    cells = [_fmt(r.get(k)) for k in keys]
    src = r.get("data_source") or "-"
    if r.get("data_version") is not None:
      src += f" v{r['data_version']}"
    lines.append(
        f"| {r['alias']} | " + " | ".join(cells)
        + f" | {fmt_pct(r['test_error_pct'], r['test_ci95_pct'])} "
        f"| {_fmt(r.get('valid_error_pct'), '.2f')} "
        f"| {fmt_pct(r.get('paper_error_pct'), r.get('paper_ci95_pct'))} "
        f"| {r['verdict'] if r.get('paper_error_pct') is not None else '-'} "
        f"| {table_lib._fmt_chosen(r.get('chosen') or {})} "  # pylint: disable=protected-access
        f"| {_fmt(r.get('trials'))} | {', '.join(r.get('on_edge') or []) or '-'} "
        f"| {'-' if r.get('seconds') is None else format(float(r['seconds']) / 60, '.1f')} "
        f"| {src} |")
  notes = [f"- {r['alias']} {r['cell']}: {r['note']}" for r in rows if r.get("note")]
  if notes:
    lines += ["", "Notes:", ""] + notes
  lines += ["", "## Findings", ""]
  lines += [f"- {verdict_line(f).removeprefix('finding: ')}" for f in findings] or ["- none yet"]
  return "\n".join(lines) + "\n"


def _setting_keys(plan: Plan) -> list[str]:
  keys: list[str] = []
  for c in plan.cells:
    keys += [k for k in c.settings if k not in keys]
  return keys + [k for k in ("representation", "svm", "codes", "level") if k not in keys]


def _fmt(v, spec: str = "") -> str:
  if v is None:
    return "-"
  if isinstance(v, float):
    return format(v, spec or "g")
  if isinstance(v, (list, tuple)):
    return "x".join(map(str, v))
  return str(v)


def write_outputs(workdir: str, plan: Plan, rows: Sequence[dict[str, Any]],
                  findings: Sequence[dict[str, Any]], experiment_module) -> None:
  """``<experiment>.json``, ``.md`` and ``.png`` (with a PDF), each atomically; process 0 only."""
  if not distributed.is_writer():
    return
  from sdae import checkpoint as ckpt_lib  # pylint: disable=g-import-not-at-top
  from sdae.io import files as fileio  # pylint: disable=g-import-not-at-top
  name = plan.experiment
  ckpt_lib.write_json_atomic(os.path.join(workdir, f"{name}.json"), {
      "experiment": name, "budget": plan.budget, "cuts": plan.cuts,
      "rows": list(rows), "findings": list(findings)})
  text = render_markdown(plan, rows, findings)
  fileio.write_text(os.path.join(workdir, f"{name}.md"), text)
  if rows:
    experiment_module.plot(rows, plan, os.path.join(workdir, f"{name}.png"))


def finish(fig, ax, path: str, *, xlabel: str, title: str,
           ylabel: str = "test error (%), 95% intervals", legend_size: int = 7) -> None:
  """Labels, grid and legend of a one-panel figure, then the PNG and PDF at ``path``."""
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  ax.set_title(title, fontsize=10)
  ax.grid(True, alpha=0.3)
  if ax.get_legend_handles_labels()[0]:
    ax.legend(fontsize=legend_size)
  save(fig, path)


def figure(width: float, height: float):
  from sdae import viz  # pylint: disable=g-import-not-at-top
  return viz._figure(width, height)  # pylint: disable=protected-access


def save(fig, path: str) -> None:
  from sdae import viz  # pylint: disable=g-import-not-at-top
  viz.save_figure(fig, path)


def series_by(rows: Sequence[dict[str, Any]], key: Callable[[dict], Any]) -> dict[Any, list]:
  out: dict[Any, list] = {}
  for r in rows:
    out.setdefault(key(r), []).append(r)
  return out
