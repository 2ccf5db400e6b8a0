"""Figure 11 of Vincent et al. (2010): SdA-3 test error against the masking fraction.

Every level is a member of one program per layer size (one member group trains all levels,
learning rates and seeds together); each level's model is then chosen on validation among its
own members, so every point of the curve is selected as a Table 3 cell is. The paper's curve
(bg-img-rot) is flat between about 10% and 40% masking, with its best near 25%; its figures are
not printed, so no row carries a paper figure.

The settings (levels and datasets per budget, the cuts) are ``sdae.configs.experiments``'
``MASKING_CURVE_*``; the paper's flat region (``FLAT``), which the findings test, stays here.
"""

from __future__ import annotations

from typing import Any, Sequence

from sdae import sweep as sweep_lib
from sdae.configs import experiments as exp_configs
from sdae.reproduce.experiments import common

TITLE = "Vincent et al. (2010), Figure 11: SdA-3 test error against the masking fraction"
FLAT = (0.10, 0.40)  # the paper's flat region (the finding checked)


def plan(datasets: Sequence[str] | None, budget: str, overrides: dict[str, Any],
         seeds: int = 1) -> common.Plan:
  datasets = tuple(datasets or exp_configs.MASKING_CURVE_DATASETS[budget])
  cells = []
  for ds in datasets:
    base, hiddens, _, plrs, flrs = common.sda_base(ds, budget)
    cells.append(common.network_cell(
        ds, "masking", base.replace(corruption="masking"), hiddens,
        exp_configs.MASKING_CURVE_LEVELS[budget],
        pretrain_lrs=plrs, finetune_lrs=flrs, seeds=seeds, overrides=overrides,
        settings={"corruption": "masking"}))
  return common.Plan("masking_curve", TITLE, budget, datasets, tuple(cells),
                     exp_configs.MASKING_CURVE_CUTS.get(budget, ""))


def rows(plan_: common.Plan, trows, workdir: str, final: bool) -> list[dict[str, Any]]:
  """One row per (dataset, level): the level's members, selected on validation."""
  del workdir, final
  out = []
  for t in trows:
    cell = plan_.cell(t["dataset"], t["method"])
    base = common.row_from(cell, t, plan_.experiment)
    if t["test_error_pct"] is None:  # unavailable, or every member diverged
      out.append(base)
      continue
    for level, members in sweep_lib.by_level(t["grid"]).items():
      live = [m for m in members if not m.get("diverged")]
      row = dict(base, level=level, trials=len(members), on_edge=[])
      if not live:
        row.update(test_error_pct=None, test_ci95_pct=None, valid_error_pct=None,
                   verdict="unavailable", chosen={}, note="every model of this level diverged")
        out.append(row)
        continue
      best = sweep_lib.select(live)
      row.update(test_error_pct=best["test_error_pct"], test_ci95_pct=best["test_ci95_pct"],
                 valid_error_pct=best["valid_error_pct"],
                 chosen={k: best[k] for k in ("hidden", "pretrain_lr", "finetune_lr", "seed")})
      out.append(row)
  return out


def findings(rows_: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
  out = []
  for ds, rs in common.series_by([r for r in rows_ if r.get("level") is not None
                                  and r["test_error_pct"] is not None],
                                 lambda r: r["alias"]).items():
    flat = [r for r in rs if FLAT[0] - 1e-9 <= r["level"] <= FLAT[1] + 1e-9]
    if len(flat) >= 2:
      best = min(flat, key=lambda r: r["test_error_pct"])
      outside = [r for r in flat if r["test_error_pct"] - best["test_error_pct"]
                 > (r["test_ci95_pct"] ** 2 + best["test_ci95_pct"] ** 2) ** 0.5]
      out.append(common.finding(
          f"{ds}: the curve is flat between {FLAT[0]:.0%} and {FLAT[1]:.0%} masking",
          not outside,
          f"{min(r['test_error_pct'] for r in flat):.2f}-"
          f"{max(r['test_error_pct'] for r in flat):.2f}% over levels "
          + ", ".join(f"{r['level']:g}" for r in flat)
          + ("" if not outside else "; beyond the 95% interval of the best: "
             + ", ".join(f"{r['level']:g}" for r in outside))))
    zero = [r for r in rs if r["level"] == 0.0]
    noisy = [r for r in rs if r["level"] > 0]
    if zero and noisy:
      best = min(noisy, key=lambda r: r["test_error_pct"])
      diff = best["test_error_pct"] - zero[0]["test_error_pct"]
      half = (best["test_ci95_pct"] ** 2 + zero[0]["test_ci95_pct"] ** 2) ** 0.5
      out.append(common.finding(
          f"{ds}: masking noise beats none (level 0, plain autoencoders)", diff < -half,
          f"best level {best['level']:g}: {diff:+.2f} ±{half:.2f} points against level 0"))
      out.append(common.finding(
          f"{ds}: the best level lies in the flat region", FLAT[0] - 1e-9 <= best["level"]
          <= FLAT[1] + 1e-9, f"best test error at level {best['level']:g} (the paper: near 0.25)"))
  return out


def plot(rows_: Sequence[dict[str, Any]], plan_: common.Plan, path: str) -> None:
  fig = common.figure(6.4, 4.4)
  ax = fig.add_subplot()
  for i, (ds, rs) in enumerate(common.series_by(
      [r for r in rows_ if r.get("level") is not None and r["test_error_pct"] is not None],
      lambda r: r["alias"]).items()):
    rs = sorted(rs, key=lambda r: r["level"])
    ax.errorbar([r["level"] for r in rs], [r["test_error_pct"] for r in rs],
                yerr=[r["test_ci95_pct"] for r in rs], marker="os^D"[i % 4], capsize=3,
                label=f"{ds} (ours, 95% intervals)")
  ax.axvspan(*FLAT, color="tab:gray", alpha=0.12, label="the paper's flat region")
  common.finish(fig, ax, path, xlabel="masking fraction (every layer)", ylabel="test error (%)",
                title=f"SdA-3 test error against masking, budget {plan_.budget}", legend_size=8)
