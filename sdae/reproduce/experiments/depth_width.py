"""Figure 10 of Vincent et al. (2010): test error against depth (1, 2, 3 layers) for each
width, with denoising pretraining, plain autoencoder pretraining and no pretraining.

Each (pretraining, depth, width) is a cell chosen on validation: denoising over the budget's
non-zero masking levels, the plain autoencoder at level 0, no pretraining over the fine-tuning
alone; the rest of each setting is the table's SdA-3 preset of the budget. The paper (on
bg-img-rot): denoising below plain autoencoders below no pretraining at every depth and width,
and the 3-layer network without pretraining failing. Its figures are drawn, not printed, so no
row carries a paper figure.

The settings (pretrainings, depths, the denoising noise, datasets per budget, the cuts) are
``sdae.configs.experiments``' ``DEPTH_WIDTH_*``.
"""

from __future__ import annotations

from typing import Any, Sequence

from sdae.configs import experiments as exp_configs
from sdae.reproduce.experiments import common

TITLE = ("Vincent et al. (2010), Figure 10: test error against depth and width, by "
         "pretraining")


def plan(datasets: Sequence[str] | None, budget: str, overrides: dict[str, Any],
         seeds: int = 1) -> common.Plan:
  datasets = tuple(datasets or exp_configs.DEPTH_WIDTH_DATASETS[budget])
  overrides = dict(overrides)
  widths_given = overrides.pop("hidden", None)
  cells = []
  for ds in datasets:
    base, hiddens, levels, plrs, flrs = common.sda_base(ds, budget)
    widths = sorted({h[0] for h in hiddens}) if widths_given is None else [widths_given[0]]
    for width in widths:
      for depth in exp_configs.DEPTH_WIDTH_DEPTHS:
        for pre in exp_configs.DEPTH_WIDTH_PRETRAININGS:
          if pre == "none":
            cfg, lv, p = base.replace(pretraining="none", pretrain_epochs=0), (0.0,), None
          else:
            cfg = base.replace(pretraining="denoising",
                               corruption=exp_configs.DEPTH_WIDTH_CORRUPTION)
            p = plrs
            lv = tuple(l for l in levels if l > 0) if pre == "denoising" else (0.0,)
          cells.append(common.network_cell(
              ds, f"{pre}-{depth}x{width}", cfg, [(width,) * depth], lv, pretrain_lrs=p,
              finetune_lrs=flrs, seeds=seeds, overrides=overrides,
              settings={"pretraining": pre, "depth": depth, "width": width}))
  return common.Plan("depth_width", TITLE, budget, datasets, tuple(cells),
                     exp_configs.DEPTH_WIDTH_CUTS.get(budget, ""))


def rows(plan_: common.Plan, trows, workdir: str, final: bool) -> list[dict[str, Any]]:
  del workdir, final
  return common.default_rows(plan_, trows)


def _by_setting(rows_):
  return {(r["alias"], r["pretraining"], r["depth"], r["width"]): r for r in rows_
          if r["test_error_pct"] is not None}


def findings(rows_: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
  got = _by_setting(rows_)
  keys = sorted({(a, d, w) for a, _, d, w in got})
  out = []
  for better, worse, claim in (("denoising", "autoencoder",
                                "denoising pretraining beats plain autoencoders"),
                               ("autoencoder", "none", "plain autoencoders beat no pretraining")):
    pairs = [(k, got[(k[0], better, k[1], k[2])], got[(k[0], worse, k[1], k[2])]) for k in keys
             if (k[0], better, k[1], k[2]) in got and (k[0], worse, k[1], k[2]) in got]
    wins = [k for k, a, b in pairs if a["test_error_pct"] < b["test_error_pct"]]
    detail = "; ".join(f"{k[0]} {k[1]}x{k[2]}: {a['test_error_pct']:.2f} vs "
                       f"{b['test_error_pct']:.2f}" for k, a, b in pairs)
    out.append(common.finding(f"{claim} at every depth and width",
                              None if not pairs else len(wins) == len(pairs),
                              f"{len(wins)} of {len(pairs)}: {detail}" if pairs else "no pairs"))
  for alias, width in sorted({(a, w) for a, _, _, w in got}):
    one, three = got.get((alias, "none", 1, width)), got.get((alias, "none", 3, width))
    if one and three:
      out.append(common.finding(
          f"{alias}: without pretraining, 3 layers of {width} do worse than 1",
          three["test_error_pct"] > one["test_error_pct"],
          f"{three['test_error_pct']:.2f} against {one['test_error_pct']:.2f}% (the paper: "
          "the 3-layer network without pretraining fails)"))
  return out


def plot(rows_: Sequence[dict[str, Any]], plan_: common.Plan, path: str) -> None:
  fig = common.figure(6.4, 4.4)
  ax = fig.add_subplot()
  colors = {"denoising": "tab:blue", "autoencoder": "tab:orange", "none": "tab:gray"}
  styles = ["-", "--", ":"]
  live = [r for r in rows_ if r["test_error_pct"] is not None]
  widths = sorted({r["width"] for r in live})
  for (alias, pre, width), rs in common.series_by(
      live, lambda r: (r["alias"], r["pretraining"], r["width"])).items():
    rs = sorted(rs, key=lambda r: r["depth"])
    ax.errorbar([r["depth"] for r in rs], [r["test_error_pct"] for r in rs],
                yerr=[r["test_ci95_pct"] for r in rs], color=colors[pre],
                linestyle=styles[widths.index(width) % 3], marker="o", capsize=3,
                label=f"{alias}, {pre}, {width} units")
  ax.set_xticks(list(exp_configs.DEPTH_WIDTH_DEPTHS))
  common.finish(fig, ax, path, xlabel="hidden layers",
                title=f"Depth, width and pretraining, budget {plan_.budget}")
