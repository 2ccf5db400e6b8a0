"""Table 4 of Vincent et al. (2010): SdA-3 pretrained with masking (MN), salt-and-pepper (SP)
and additive Gaussian (GS) noise, with and without emphasis.

Emphasis weights the reconstruction loss of the corrupted components by alpha and of the others
by beta (``sdae.config.EMPHASIS``: none 1/1, double 1/0.5, full 1/0). Gaussian noise corrupts
every component, so it has no emphasis rows. Each (noise, emphasis) is a cell chosen on
validation over that noise's levels; the emphases of one noise differ only in traced values, so
their groups share one compiled program. Known cells: SP with full emphasis gives rot 8.76 and
bg-rand 8.52 (vincent2010-protocol.md, "Other tables"); the others print '-'.

The settings (conditions, levels and datasets per budget, the cuts) are
``sdae.configs.experiments``' ``NOISE_TYPES_*``; the paper's known cells (``PAPER``) stay here.
"""

from __future__ import annotations

from typing import Any, Sequence

from sdae.configs import experiments as exp_configs
from sdae.reproduce.experiments import common

TITLE = "Vincent et al. (2010), Table 4: noise types and emphasis (SdA-3)"
# The paper's known cells: (dataset, noise, emphasis) -> test error %.
PAPER = {("mnist_rot", "salt_pepper", "full"): 8.76,
         ("mnist_bg_rand", "salt_pepper", "full"): 8.52}


def plan(datasets: Sequence[str] | None, budget: str, overrides: dict[str, Any],
         seeds: int = 1) -> common.Plan:
  datasets = tuple(datasets or exp_configs.NOISE_TYPES_DATASETS[budget])
  most = exp_configs.NOISE_TYPES_MAX_PRETRAIN_EPOCHS.get(budget)
  cells = []
  for ds in datasets:
    base, hiddens, _, plrs, flrs = common.sda_base(ds, budget)
    if most is not None and base.pretrain_epochs > most:  # within the hour (the cuts)
      base = base.replace(pretrain_epochs=most)
    for noise, emphasis in exp_configs.NOISE_TYPES_CONDITIONS:
      known = PAPER.get((ds, noise, emphasis))
      cells.append(common.network_cell(
          ds, f"{noise}-{emphasis}", base.replace(corruption=noise, emphasis=emphasis), hiddens,
          exp_configs.NOISE_TYPES_LEVELS[budget][noise], pretrain_lrs=plrs, finetune_lrs=flrs,
          seeds=seeds, overrides=overrides, settings={"corruption": noise, "emphasis": emphasis},
          paper=None if known is None else common.paper_figure(ds, known)))
  return common.Plan("noise_types", TITLE, budget, datasets, tuple(cells),
                     exp_configs.NOISE_TYPES_CUTS.get(budget, ""))


def rows(plan_: common.Plan, trows, workdir: str, final: bool) -> list[dict[str, Any]]:
  del workdir, final
  return common.default_rows(plan_, trows)


def findings(rows_: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
  got = {(r["alias"], r["corruption"], r["emphasis"]): r for r in rows_
         if r["test_error_pct"] is not None}
  out = []
  for alias in sorted({a for a, _, _ in got}):
    for noise in ("salt_pepper", "masking"):
      plain = got.get((alias, noise, "none"))
      emph = [got[(alias, noise, e)] for e in ("double", "full") if (alias, noise, e) in got]
      if plain is None or not emph:
        continue
      best = min(emph, key=lambda r: r["test_error_pct"])
      diff = best["test_error_pct"] - plain["test_error_pct"]
      half = (best["test_ci95_pct"] ** 2 + plain["test_ci95_pct"] ** 2) ** 0.5
      out.append(common.finding(
          f"{alias}: emphasis helps {noise.replace('_', '-')} noise", diff < 0,
          f"{best['emphasis']} emphasis {best['test_error_pct']:.2f}% against none "
          f"{plain['test_error_pct']:.2f}%: {diff:+.2f} ±{half:.2f} points"
          + (" (within the interval)" if abs(diff) <= half else "")))
  return out


def plot(rows_: Sequence[dict[str, Any]], plan_: common.Plan, path: str) -> None:
  live = [r for r in rows_ if r["test_error_pct"] is not None]
  by_ds = common.series_by(live, lambda r: r["alias"])
  n = max(len(by_ds), 1)
  fig = common.figure(4.2 * n, 4.0)
  axes = fig.subplots(1, n, squeeze=False)[0]
  colors = {"none": "tab:gray", "double": "tab:blue", "full": "tab:green"}
  noises = [c for c, _ in exp_configs.NOISE_TYPES_CONDITIONS]
  noises = list(dict.fromkeys(noises))
  for ax, (alias, rs) in zip(axes, by_ds.items()):
    for r in rs:
      x = noises.index(r["corruption"]) + {"none": -0.22, "double": 0.0, "full": 0.22}[
          r["emphasis"]]
      ax.errorbar(x, r["test_error_pct"], yerr=r["test_ci95_pct"], fmt="o",
                  color=colors[r["emphasis"]], capsize=3)
      if r.get("paper_error_pct") is not None:
        ax.errorbar(x + 0.08, r["paper_error_pct"], yerr=r["paper_ci95_pct"], fmt="s",
                    mfc="white", color="black", capsize=3)
    ax.set_xticks(range(len(noises)), ["masking", "salt-and-pepper", "Gaussian"], fontsize=8)
    ax.set_title(alias, fontsize=10)
    ax.set_ylabel("test error (%), 95% intervals", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
  import matplotlib.lines as mlines  # pylint: disable=g-import-not-at-top
  handles = [mlines.Line2D([], [], marker="o", ls="", color=c, label=f"emphasis {e}")
             for e, c in colors.items()]
  handles.append(mlines.Line2D([], [], marker="s", ls="", color="black", mfc="white",
                               label="the paper (known cells)"))
  fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=8, frameon=False)
  fig.suptitle(f"Noise types and emphasis, budget {plan_.budget}", fontsize=10)
  common.save(fig, path)
