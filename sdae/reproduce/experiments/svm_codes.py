"""Table 5 of Vincent et al. (2010): linear and RBF SVMs on raw pixels and on each layer's codes
of the chosen SdA-3.

The SdA-3 is Table 3's column: the same grid (``sdae.configs.table.grid_for``), trained in the same
place (``<workdir>/<dataset>/sda3``), so a table's workdir can be reused, and chosen on
validation. Its codes are those of its *pretrained* encoders (the paper asks what unsupervised
denoising pretraining alone learnt), read from the group's last checkpoint: layer k's code of x
is the clean encoding through layers 1..k. Each SVM chooses C (and the RBF's gamma) on
validation, is retrained on train + valid, and is tested once. Known cells, rot: linear on
pixels 43.47 and on layer 3 10.00; RBF on pixels 11.11 (Table 3's SVM_rbf) and on layer 2 8.27.

The settings (datasets and the linear SVM's C per budget, the cuts) are
``sdae.configs.experiments``' ``SVM_CODES_*``; the paper's known cells (``PAPER``) stay here.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Sequence

import numpy as np

from sdae import distributed
from sdae.configs import experiments as exp_configs
from sdae.configs import table as table_configs
from sdae.reproduce import paper as paper_lib
from sdae.reproduce import table as table_lib
from sdae.reproduce.experiments import common

log = logging.getLogger("sdae")

TITLE = "Vincent et al. (2010), Table 5: SVMs on raw pixels and on the SdA-3's layer codes"
# The paper's known cells: (dataset, svm, representation) -> test error %.
PAPER = {("mnist_rot", "linear", "pixels"): 43.47, ("mnist_rot", "linear", "layer 3"): 10.00,
         ("mnist_rot", "rbf", "pixels"): 11.11, ("mnist_rot", "rbf", "layer 2"): 8.27}


def _paper(ds: str, svm: str, rep: str):
  known = PAPER.get((ds, svm, rep))
  if known is None:
    return None
  cell = paper_lib.cell(ds, "svm_rbf")
  if svm == "rbf" and rep == "pixels" and cell is not None:
    return cell.error_pct, cell.ci95_pct  # Table 3's SVM_rbf, with its printed interval
  return common.paper_figure(ds, known)


def plan(datasets: Sequence[str] | None, budget: str, overrides: dict[str, Any],
         seeds: int = 1) -> common.Plan:
  """The SdA-3 and the RBF SVM on pixels are Table 3's columns (``sdae.configs.table.grid_for``);
  the linear SVM searches ``sdae.configs.experiments.SVM_CODES_LINEAR_CS`` and grows as the RBF
  does."""
  from sdae.reproduce import svm  # pylint: disable=g-import-not-at-top
  datasets = tuple(datasets or exp_configs.SVM_CODES_DATASETS[budget])
  cells = []
  for ds in datasets:
    sda = table_configs.grid_for(ds, budget, overrides, seeds, method="sda3")
    rbf = table_configs.grid_for(ds, budget, overrides, seeds, method="svm_rbf")
    linear = table_lib.DatasetGrid(
        ds, (), "svm_linear",
        svm.SVMGrid(exp_configs.SVM_CODES_LINEAR_CS[budget], kernel="linear", grow=rbf.svm.grow),
        rbf.config)
    cells += [common.Cell(sda, {"svm": "-", "representation": "SdA-3, fine-tuned"},
                          _cell_figure(ds, "sda3")),
              common.Cell(linear, {"svm": "linear", "representation": "pixels"},
                          _paper(ds, "linear", "pixels")),
              common.Cell(rbf, {"svm": "rbf", "representation": "pixels"},
                          _paper(ds, "rbf", "pixels"))]
  return common.Plan("svm_codes", TITLE, budget, datasets, tuple(cells),
                     exp_configs.SVM_CODES_CUTS.get(budget, ""))


def _cell_figure(ds: str, method: str):
  c = paper_lib.cell(ds, method)
  return None if c is None else (c.error_pct, c.ci95_pct)


def rows(plan_: common.Plan, trows, workdir: str, final: bool) -> list[dict[str, Any]]:
  """The selections' rows, then (``final``, or read back when already fitted) the SVMs on each
  layer's codes of every dataset's chosen SdA-3."""
  out = common.default_rows(plan_, trows)
  for t in trows:
    if t["method"] != "sda3" or t["test_error_pct"] is None:
      continue
    out += _code_rows(plan_, t, workdir, final)
  return out


def _grids(plan_: common.Plan, ds: str):
  """(linear grid, RBF grid) of ``ds``: the pixels' grids, used on the codes too."""
  return plan_.cell(ds, "svm_linear").grid.svm, plan_.cell(ds, "svm_rbf").grid.svm


def _code_rows(plan_: common.Plan, trow: dict[str, Any], workdir: str,
               final: bool) -> list[dict[str, Any]]:
  from sdae.reproduce import svm  # pylint: disable=g-import-not-at-top
  ds = trow["dataset"]
  cell = plan_.cell(ds, "sda3")
  chosen = trow["chosen"]
  group = next(g for g in cell.grid.groups if g.name == chosen["group"])
  identity = {k: chosen[k] for k in ("group", "level", "seed", "pretrain_lr", "finetune_lr")}
  n_layers = len(group.config.hidden)
  linear, rbf = _grids(plan_, ds)
  todo, out = [], []
  for k in range(1, n_layers + 1):
    for kind, grid in (("linear", linear), ("rbf", rbf)):
      sub = os.path.join(workdir, ds, "svm_codes", f"{kind}-layer{k}")
      res = svm.finished(sub, grid) if os.path.isdir(sub) else None
      if res is not None and res.get("codes_of") != identity:
        res = None  # fitted on the codes of another chosen model
      todo.append((k, kind, grid, sub, res))
  codes = None
  for k, kind, grid, sub, res in todo:
    if res is None and final:
      if codes is None:
        codes = layer_codes(group, chosen, os.path.join(workdir, ds, "sda3", group.name),
                            trow["data_source"], trow.get("data_version"))
      log.info("%s: %s SVM on layer %d's codes (%d features)", ds, kind, k,
               codes[k - 1]["train"][0].shape[1])
      writer = distributed.is_writer()  # several processes fit alike; process 0 writes
      if writer:
        os.makedirs(sub, exist_ok=True)
      res = svm.select_and_test(codes[k - 1], grid, sub if writer else None,
                                record={"data_source": trow["data_source"],
                                        "codes_of": identity})
    if res is None:
      continue
    rep = f"layer {k}"
    fake = table_lib.result_row(
        ds, test_error_pct=res["test_error_pct"], test_ci95_pct=res["test_ci95_pct"],
        valid_error_pct=res["valid_error_pct"], chosen=res["chosen"],
        data_source=trow["data_source"], method=f"svm_{kind}", trials=len(res["grid"]),
        on_edge=table_lib.on_edge({a: [r[a] for r in res["grid"]] for a in ("C", "gamma_factor")},
                                  res["chosen"]),
        seconds=res["seconds"]["total"], data_version=trow.get("data_version"))
    c = common.Cell(cell.grid, {"svm": kind, "representation": rep}, _paper(ds, kind, rep))
    out.append(dict(common.row_from(c, fake, plan_.experiment), cell=f"{kind}-layer{k}"))
  return out


def layer_codes(group, chosen: dict[str, Any], group_dir: str, data_source: str | None,
                data_version: int | None = None) -> list[dict[str, tuple[np.ndarray, np.ndarray]]]:
  """Each layer's clean codes of the chosen member's pretrained encoders: ``[layer 1 splits,
  layer 2 splits, ...]``, each ``{"train"|"valid"|"test": (codes [n, n_hidden], labels)}``."""
  import jax  # pylint: disable=g-import-not-at-top
  from sdae import checkpoint as ckpt_lib  # pylint: disable=g-import-not-at-top
  from sdae import pretrain as pt  # pylint: disable=g-import-not-at-top
  from sdae.experiment_errors import RunError  # pylint: disable=g-import-not-at-top
  cfg = group.config
  want = (chosen["level"], chosen["seed"], chosen["pretrain_lr"], chosen["finetune_lr"])
  points = [p.resolved(cfg) for p in group.points]
  index = [(p.level, p.seed, p.pretrain_lr, p.finetune_lr) for p in points].index(want)
  ckpt_dir = os.path.join(group_dir, "checkpoints")
  restored = (ckpt_lib.Checkpointer(ckpt_dir, keep=cfg.keep_checkpoints or 2).restore_latest()
              if os.path.isdir(ckpt_dir) else None)
  n_layers = len(cfg.hidden)
  if restored is None or int(restored[1]["n_done_layers"]) < n_layers:
    raise RunError(f"the chosen SdA-3's pretrained layers are not in {ckpt_dir} (removed by "
                   "--keep_checkpoints=0?); rerun with --overwrite to train it again")
  arrays = restored[0]
  # The data the SdA-3 was trained on: its source, and for regenerated data its version.
  splits, _ = table_lib.load_dataset(cfg.replace(
      data_source=data_source or cfg.data_source,
      data_version=data_version if data_source == "regenerated" else cfg.data_version))
  if cfg.n_train:
    splits = dict(splits, train=tuple(a[:cfg.n_train] for a in splits["train"]))
  d = np.asarray(splits["train"][0]).shape[1]
  objectives = pt.objectives_of(cfg, d)
  current = {s: (np.asarray(splits[s][0], np.float32), np.asarray(splits[s][1]))
             for s in ("train", "valid", "test")}
  out = []
  for k, obj in enumerate(objectives):
    params = jax.tree.map(lambda a: a[index], arrays[f"layer{k}"])  # pylint: disable=cell-var-from-loop
    encode = pt.compiled_encode(obj)
    current = {s: (np.asarray(encode(params, x)), y) for s, (x, y) in current.items()}
    out.append(current)
  return out


def findings(rows_: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
  got = {(r["alias"], r["svm"], r["representation"]): r for r in rows_
         if r["test_error_pct"] is not None}
  out = []
  for alias in sorted({a for a, _, _ in got}):
    raw = got.get((alias, "linear", "pixels"))
    layers = sorted((rep, r) for (a, s, rep), r in got.items()
                    if a == alias and s == "linear" and rep.startswith("layer"))
    if raw is not None and layers:
      beat = [rep for rep, r in layers if r["test_error_pct"] < raw["test_error_pct"]]
      out.append(common.finding(
          f"{alias}: every layer's codes beat raw pixels for the linear SVM",
          len(beat) == len(layers),
          f"pixels {raw['test_error_pct']:.2f}%; " + ", ".join(
              f"{rep} {r['test_error_pct']:.2f}%" for rep, r in layers)))
    raw = got.get((alias, "rbf", "pixels"))
    layers = sorted((rep, r) for (a, s, rep), r in got.items()
                    if a == alias and s == "rbf" and rep.startswith("layer"))
    if raw is not None and layers:
      best = min(layers, key=lambda t: t[1]["test_error_pct"])
      out.append(common.finding(
          f"{alias}: an RBF SVM on some layer's codes beats one on raw pixels",
          best[1]["test_error_pct"] < raw["test_error_pct"],
          f"pixels {raw['test_error_pct']:.2f}%; best {best[0]} "
          f"{best[1]['test_error_pct']:.2f}%"))
  return out


def plot(rows_: Sequence[dict[str, Any]], plan_: common.Plan, path: str) -> None:
  fig = common.figure(6.4, 4.4)
  ax = fig.add_subplot()
  reps = ["pixels", "layer 1", "layer 2", "layer 3"]
  live = [r for r in rows_ if r["test_error_pct"] is not None and r["representation"] in reps]
  for (alias, kind), rs in common.series_by(live, lambda r: (r["alias"], r["svm"])).items():
    rs = sorted(rs, key=lambda r: reps.index(r["representation"]))
    xs = [reps.index(r["representation"]) for r in rs]
    line = ax.errorbar(xs, [r["test_error_pct"] for r in rs],
                       yerr=[r["test_ci95_pct"] for r in rs], marker="o", capsize=3,
                       label=f"{alias}, {kind} SVM (ours)")
    known = [(x, r) for x, r in zip(xs, rs) if r.get("paper_error_pct") is not None]
    if known:
      ax.errorbar([x + 0.06 for x, _ in known], [r["paper_error_pct"] for _, r in known],
                  yerr=[r["paper_ci95_pct"] for _, r in known], fmt="s", mfc="white",
                  color=line[0].get_color(), capsize=3, label=f"{alias}, {kind} SVM (paper)")
  ax.set_xticks(range(len(reps)), reps)
  common.finish(fig, ax, path, xlabel="representation",
                title=f"SVMs on pixels and on SdA-3 codes, budget {plan_.budget}")
