"""``table.md``, ``table.json`` and ``table.png``: the reproduced Table 3 beside the paper's.

Rows are ``table.json`` rows (``sdae.reproduce.table.result_row``), one per (dataset, method).
``table.md`` has, in order: the five columns side by side (ours, the paper's figure under it, a
verdict mark), the paper's finding as differences (SdA-3 minus SAE-3 and minus DBN-3, ours and
the paper's, with 95% intervals), and one detail line per (dataset, method) with the chosen
hyperparameters and the data source. ``table.png`` (and ``table.pdf``) plots, per dataset, ours
against the paper's for every method with both intervals.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

from sdae.reproduce import paper

MARKS = {"better": "▲", "within": "=", "worse": "▼", "unavailable": "·"}


def _fmt_pct(e: float | None, c: float | None) -> str:
  return "-" if e is None else f"{e:.2f} ±{c:.2f}"


def fmt_chosen(chosen: dict[str, Any]) -> str:
  if not chosen:
    return "-"
  parts = []
  for k in ("level", "hidden", "pretrain_lr", "pretrain_epochs", "finetune_lr", "C", "gamma",
            "seed", "best_epoch"):
    if k in chosen:
      v = chosen[k]
      v = "x".join(map(str, v)) if isinstance(v, (list, tuple)) else f"{v:.4g}" if isinstance(
          v, float) else v
      parts.append(f"{k}={v}")
  return ", ".join(parts)


def _trials(row) -> str:
  """``N``, with ``(+k grown)`` where k of the N models grew the grid past an edge pick and
  ``(p pruned)`` where p stopped fine-tuning early (``sdae.pruning``)."""
  n = row.get("trials", row.get("n_models", "-"))
  grown = set(row.get("grown") or ())
  k = sum(g.get("group") in grown for g in row.get("grid") or ()) if grown else 0
  out = f"{n} (+{k} grown)" if k else str(n)
  return out + (f" ({row['n_pruned']} pruned)" if row.get("n_pruned") else "")


def _minutes(seconds: float | None) -> str:
  return "-" if seconds is None else f"{float(seconds) / 60:.1f}"


def _methods_in(rows: Sequence[dict[str, Any]]) -> list[str]:
  seen = {r.get("method", "sda3") for r in rows}
  return [m for m in paper.METHODS + paper.EXTRA_METHODS if m in seen]


def _by_dataset(rows):
  out: dict[str, dict[str, dict[str, Any]]] = {}
  for r in rows:
    out.setdefault(r["dataset"], {})[r.get("method", "sda3")] = r
  return out


def _differences(by_ds) -> list[str]:
  lines = []
  pairs = [("sda3", "sae3"), ("sda3", "dbn3")]
  header = []
  for a, b in pairs:
    header += [f"ours {paper.TITLES[a]} − {paper.TITLES[b]}",
               f"paper {paper.TITLES[a]} − {paper.TITLES[b]}"]
  for ds, cells in by_ds.items():
    vals = []
    for a, b in pairs:
      ra, rb = cells.get(a), cells.get(b)
      ours = None if ra is None or rb is None else paper.difference(
          ra["test_error_pct"], ra["test_ci95_pct"], rb["test_error_pct"], rb["test_ci95_pct"])
      pa, pb = paper.cell(ds, a), paper.cell(ds, b)
      theirs = paper.difference(pa.error_pct, pa.ci95_pct, pb.error_pct, pb.ci95_pct)
      vals += ["-" if ours is None else f"{ours[0]:+.2f} ±{ours[1]:.2f}",
               f"{theirs[0]:+.2f} ±{theirs[1]:.2f}"]
    if any(v != "-" for v in vals[::2]):
      lines.append(f"| {paper.TABLE3[ds].alias} | " + " | ".join(vals) + " |")
  if not lines:
    return []
  return (["", "## The paper's finding: denoising against plain and RBM pretraining", "",
           "Test-error differences in points (negative: SdA-3 better), 95% intervals "
           "sqrt(c_a² + c_b²).", "", "| dataset | " + " | ".join(header) + " |",
           "| --- |" + " --- |" * len(header)] + lines)


def _source(r: dict[str, Any]) -> str:
  """``original``, ``regenerated v3`` (the generators' version), or ``-``."""
  src = r.get("data_source") or "-"
  return f"{src} v{r['data_version']}" if r.get("data_version") is not None else src


def render_markdown(rows: Sequence[dict[str, Any]], title: str = "") -> str:
  """``table.md`` (module docstring). ``title``: the heading; lines after its first are a
  paragraph under it (e.g. what a smoke budget can and cannot show)."""
  methods = _methods_in(rows)
  by_ds = _by_dataset(rows)
  head, _, note = title.partition("\n")
  lines = [f"# {head}", ""] if head else []
  if note.strip():
    lines += [" ".join(note.split()), ""]
  lines += ["Test error (%), ours with its 95% interval, the paper's below it; "
            "▲ better than the paper's interval, = within, ▼ worse, · unavailable.", "",
            "| dataset | " + " | ".join(paper.TITLES[m] for m in methods) + " | data |",
            "| --- |" + " --- |" * (len(methods) + 1)]
  notes = []
  for ds, cells in by_ds.items():
    out = []
    for m in methods:
      r = cells.get(m)
      pc = paper.cell(ds, m)
      theirs = "paper -" if pc is None else f"paper {pc.error_pct:.2f} ±{pc.ci95_pct:.2f}"
      if r is None:
        out.append(f"not run<br>{theirs}")
        continue
      mark = MARKS[r["verdict"]]
      if r.get("note"):
        notes.append(f"- {paper.TABLE3[ds].alias}, {paper.TITLES[m]}: {r['note']}")
        mark += f" [{len(notes)}]"
      out.append(f"{_fmt_pct(r['test_error_pct'], r['test_ci95_pct'])} {mark}<br>{theirs}")
    sources = sorted({str(r.get("data_source")) for r in cells.values()
                      if r.get("data_source")})
    lines.append(f"| {paper.TABLE3[ds].alias} | " + " | ".join(out)
                 + f" | {'/'.join(sources) or '-'} |")
  lines += _differences(by_ds)
  lines += ["", "## Chosen models", "",
            "| dataset | method | ours (%) | valid (%) | paper (%) | verdict | chosen | trials "
            "| on edge | minutes | data |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
  for r in rows:
    m = r.get("method", "sda3")
    lines.append(
        f"| {r.get('alias', r['dataset'])} | {paper.TITLES[m]} "
        f"| {_fmt_pct(r['test_error_pct'], r['test_ci95_pct'])} "
        f"| {'-' if r['valid_error_pct'] is None else format(r['valid_error_pct'], '.2f')} "
        f"| {_fmt_pct(r.get('paper_error_pct'), r.get('paper_ci95_pct'))} | {r['verdict']} "
        f"| {fmt_chosen(r['chosen'])} | {_trials(r)} "
        f"| {', '.join(r.get('on_edge') or []) or '-'} | {_minutes(r.get('seconds'))} "
        f"| {_source(r)} |")
  lines += ["", "Intervals: 95%, 1.96 sqrt(p(1-p)/n) over the test set. Models are chosen on "
            "validation error (ties: lower validation cross-entropy; SVM: larger validation "
            "margin); the test set is used once, for the chosen model."]
  if any(r.get("grown") for r in rows):
    lines += ["", "Trials \"N (+k grown)\": k models trained after the grid, one step past the "
              "edge value the pick had taken on an axis, one axis at a time, or, once the pick "
              "sat on no edge, at its value divided and multiplied by a factor on an axis the "
              "grid kept fixed (sdae.reproduce.grow)."]
  if any(r.get("n_pruned") for r in rows):
    lines += ["", "Trials \"(p pruned)\": p models stopped fine-tuning once their best "
              "validation error lay above the median of the cell's finished models at the same "
              "epoch (Optuna's median rule, sdae.pruning); each keeps its best epoch and stays a "
              "candidate, chosen on validation error like the others."]
  edges = [r for r in rows if r.get("on_edge")]
  if edges:
    lines += ["", f"On edge: {len(edges)} of {len(rows)} choices took the first or last value "
              "of a searched axis (named in the column): the best setting may lie outside the "
              "grid, which should grow there."]
  timed = [float(r["seconds"]) for r in rows if r.get("seconds") is not None]
  if timed:
    lines += ["", f"Minutes: each method's whole grid on that dataset, as its runs recorded them "
              f"(training, selection and test); {sum(timed) / 60:.1f} in all."]
  if notes:
    lines += ["", "Notes:", ""] + notes
  return "\n".join(lines) + "\n"


def plot(rows: Sequence[dict[str, Any]], path_png: str, title: str = "") -> None:
  """``table.png`` and a PDF beside it: one panel per dataset, each method's test error, ours
  (filled) and the paper's (open), with 95% intervals."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  methods = _methods_in(rows)
  by_ds = _by_dataset(rows)
  n = max(len(by_ds), 1)
  cols = min(n, 5)
  nrows = (n + cols - 1) // cols
  fig, axes = plt.subplots(nrows, cols, figsize=(max(3.0 * cols, 7.5), 2.8 * nrows + 0.6),
                           squeeze=False)
  for ax in axes.flat[n:]:
    ax.axis("off")
  xs = list(range(len(methods)))
  for ax, (ds, cells) in zip(axes.flat, by_ds.items()):
    for x, m in zip(xs, methods):
      pc = paper.cell(ds, m)
      if pc is not None:
        ax.errorbar(x + 0.15, pc.error_pct, yerr=pc.ci95_pct, fmt="o", mfc="white",
                    color="tab:gray", capsize=3, label="paper" if x == 0 else None)
      r = cells.get(m)
      if r is not None and r["test_error_pct"] is not None:
        color = {"better": "tab:green", "within": "tab:blue", "worse": "tab:red"}.get(
            r["verdict"], "tab:blue")
        ax.errorbar(x - 0.15, r["test_error_pct"], yerr=r["test_ci95_pct"], fmt="o",
                    color=color, capsize=3, label="ours" if x == 0 else None)
    ax.set_xticks(xs)
    ax.set_xticklabels([paper.TITLES[m] for m in methods], rotation=45, ha="right",
                       fontsize=8)
    ax.set_title(paper.TABLE3[ds].alias, fontsize=10)
    ax.set_ylabel("test error (%)", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
  handles = [plt.Line2D([], [], marker="o", ls="", color=c, mfc=f, label=l) for c, f, l in (
      ("tab:gray", "white", "paper (95% interval)"), ("tab:green", "tab:green", "ours: better"),
      ("tab:blue", "tab:blue", "ours: within"), ("tab:red", "tab:red", "ours: worse"))]
  fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8, frameon=False)
  # The heading only (the first line of ``title``); its paragraph is table.md's.
  fig.suptitle(title.partition("\n")[0] or "Vincent et al. (2010), Table 3: ours against the "
               "paper", fontsize=11)
  fig.tight_layout(rect=(0, 0.06, 1, 0.95))
  _save(fig, path_png)
  plt.close(fig)


def _save(fig, path_png: str) -> None:
  """PNG and PDF, each through a temporary file and a rename (readers never see half a file)."""
  root, _ = os.path.splitext(path_png)
  for path, fmt in ((path_png, "png"), (root + ".pdf", "pdf")):
    tmp = os.path.join(os.path.dirname(path) or ".", f".{os.path.basename(path)}.tmp")
    fig.savefig(tmp, format=fmt, dpi=120)
    os.replace(tmp, path)
