"""Table 5 of Vincent et al. (2010): linear and RBF SVMs on raw pixels and on each layer's codes
of the chosen SdA-3, and (``code_models``) of the chosen SAE-3 and DBN-3 beside it.

Each network is Table 3's column: the same grid (``sdae.configs.table.grid_for``), trained in the
same place (``<workdir>/<dataset>/<sda3|sae3|dbn3>``), so a table's workdir can be reused, and
chosen on validation. Its codes are those of its *pretrained* encoders (the paper asks what
unsupervised pretraining alone learnt), read from the group's last checkpoint: layer k's code of
x is the clean encoding through layers 1..k (a dA's encoder; an RBM's mean-field hidden
probabilities ``s(x W + b)``). Each SVM chooses C (and the RBF's gamma) on validation, is
retrained on train + valid, and is tested once; its folder is
``<dataset>/svm_codes/<kind>-layer<k>`` for the SdA-3 and
``<dataset>/svm_codes/<method>-<kind>-layer<k>`` for the others. Known cells, all the SdA-3's,
rot: linear on pixels 43.47 and on layer 3 10.00; RBF on pixels 11.11 (Table 3's SVM_rbf) and on
layer 2 8.27. The SAE-3's and DBN-3's codes have no paper figure; a finding compares the linear
SVM on them with the one on the SdA-3's, layer by layer.

The settings (datasets, the linear SVM's C and the code models per budget, the cuts) are
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
from sdae.reproduce import grow
from sdae.reproduce import paper as paper_lib
from sdae.reproduce import table as table_lib
from sdae.reproduce.experiments import common

log = logging.getLogger("sdae")

# {}: the networks, e.g. "SdA-3's" or "SdA-3's and DBN-3's".
TITLE = "Vincent et al. (2010), Table 5: SVMs on raw pixels and on the {} layer codes"
# The Table 3 columns whose codes can be fitted, in the rows' order; their names are the paper's
# column titles (``sdae.reproduce.paper.TITLES``).
CODE_MODELS = ("sda3", "sae3", "dbn3")
SDA = paper_lib.TITLES["sda3"]
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


def models_of(values: Sequence[str]) -> tuple[str, ...]:
  """The code models named in ``values`` (case-insensitive, duplicates dropped) in
  ``CODE_MODELS``' order; ValueError naming the accepted ones for an unknown or empty list."""
  given = [v.strip().lower() for v in values]
  for v in given:
    if v not in CODE_MODELS:
      raise ValueError(f"--code_models has {v!r}; accepted: {', '.join(CODE_MODELS)}")
  if not given:
    raise ValueError(f"--code_models is empty; accepted: {', '.join(CODE_MODELS)}")
  return tuple(m for m in CODE_MODELS if m in given)


def plan(datasets: Sequence[str] | None, budget: str, overrides: dict[str, Any],
         seeds: int = 1, code_models: Sequence[str] | None = None) -> common.Plan:
  """The networks and the RBF SVM on pixels are Table 3's columns
  (``sdae.configs.table.grid_for``); the linear SVM searches
  ``sdae.configs.experiments.SVM_CODES_LINEAR_CS`` and grows as the RBF does.

  ``code_models``: the columns whose codes are fitted (``models_of``; default the budget's
  ``SVM_CODES_MODELS``). Each dataset's cells: the SdA-3 (when among them), the linear and RBF
  SVMs on pixels, then the other networks. Without ``sda3`` the others' codes are fitted alone,
  and no finding can compare them with the SdA-3's."""
  from sdae.reproduce import svm  # pylint: disable=g-import-not-at-top
  datasets = tuple(datasets or exp_configs.SVM_CODES_DATASETS[budget])
  models = models_of(code_models or exp_configs.SVM_CODES_MODELS[budget])
  cells = []
  for ds in datasets:
    nets = [common.Cell(table_configs.grid_for(ds, budget, overrides, seeds, method=m),
                        {"svm": "-", "representation": f"{paper_lib.TITLES[m]}, fine-tuned"},
                        _cell_figure(ds, m)) for m in models]
    rbf = table_configs.grid_for(ds, budget, overrides, seeds, method="svm_rbf")
    linear = table_lib.DatasetGrid(
        ds, (), "svm_linear",
        svm.SVMGrid(exp_configs.SVM_CODES_LINEAR_CS[budget], kernel="linear", grow=rbf.svm.grow),
        rbf.config)
    first = 1 if models[0] == "sda3" else 0  # the SdA-3 leads, as before the others came
    cells += nets[:first] + [common.Cell(linear, {"svm": "linear", "representation": "pixels"},
                                         _paper(ds, "linear", "pixels")),
                             common.Cell(rbf, {"svm": "rbf", "representation": "pixels"},
                                         _paper(ds, "rbf", "pixels"))] + nets[first:]
  owners = [f"{paper_lib.TITLES[m]}'s" for m in models]
  if len(owners) > 1:  # "SdA-3's, SAE-3's and DBN-3's"
    owners = [", ".join(owners[:-1]), owners[-1]]
  left = [f"{paper_lib.TITLES[m]}'s" for m in CODE_MODELS if m not in models]
  cuts = [exp_configs.SVM_CODES_CUTS.get(budget, "")] + (
      [f"not the {' or '.join(left)} codes (--code_models adds them)"] if left else [])
  return common.Plan("svm_codes", TITLE.format(" and ".join(owners)), budget, datasets,
                     tuple(cells), ", ".join(c for c in cuts if c))


def _cell_figure(ds: str, method: str):
  c = paper_lib.cell(ds, method)
  return None if c is None else (c.error_pct, c.ci95_pct)


def rows(plan_: common.Plan, trows, workdir: str, final: bool) -> list[dict[str, Any]]:
  """The selections' rows, then (``final``, or read back when already fitted) the SVMs on each
  layer's codes of every dataset's chosen networks (``CODE_MODELS`` in the plan)."""
  out = common.default_rows(plan_, trows)
  for t in trows:
    if t["method"] not in CODE_MODELS or t["test_error_pct"] is None:
      continue
    out += _code_rows(plan_, t, workdir, final)
  return out


def _grids(plan_: common.Plan, ds: str):
  """(linear grid, RBF grid) of ``ds``: the pixels' grids, used on the codes too."""
  return plan_.cell(ds, "svm_linear").grid.svm, plan_.cell(ds, "svm_rbf").grid.svm


def _code_rows(plan_: common.Plan, trow: dict[str, Any], workdir: str,
               final: bool) -> list[dict[str, Any]]:
  """The SVMs on each layer's codes of the network ``trow`` chose: one row each, with ``codes``
  naming the network."""
  from sdae.reproduce import svm  # pylint: disable=g-import-not-at-top
  ds, method = trow["dataset"], trow["method"]
  name = paper_lib.TITLES[method]
  cell = plan_.cell(ds, method)
  chosen = trow["chosen"]
  # The chosen model may come from a group the grid grew (``sdae.reproduce.grow``).
  group = grow.group_of(chosen["group"], cell.grid.groups, trow["grid"])
  identity = {k: chosen[k] for k in ("group", "level", "seed", "pretrain_lr", "finetune_lr")}
  n_layers = len(group.config.hidden)
  linear, rbf = _grids(plan_, ds)
  # The SdA-3's folders keep their first names, so workdirs fitted before the others resume.
  prefix = "" if method == "sda3" else f"{method}-"
  todo, out = [], []
  for k in range(1, n_layers + 1):
    for kind, grid in (("linear", linear), ("rbf", rbf)):
      sub = os.path.join(workdir, ds, "svm_codes", f"{prefix}{kind}-layer{k}")
      res = svm.finished(sub, grid) if os.path.isdir(sub) else None
      if res is not None and res.get("codes_of") != identity:
        res = None  # fitted on the codes of another chosen model
      todo.append((k, kind, grid, sub, res))
  codes = None
  for k, kind, grid, sub, res in todo:
    if res is None and final:
      if codes is None:
        codes = layer_codes(group, chosen, os.path.join(workdir, ds, method, group.name),
                            trow["data_source"], trow.get("data_version"))
      log.info("%s: %s SVM on the %s's layer %d codes (%d features)", ds, kind, name, k,
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
    paper = _paper(ds, kind, rep) if method == "sda3" else None  # the others': unknown
    c = common.Cell(cell.grid, {"svm": kind, "representation": rep, "codes": name}, paper)
    out.append(dict(common.row_from(c, fake, plan_.experiment), cell=f"{prefix}{kind}-layer{k}"))
  return out


def layer_codes(group, chosen: dict[str, Any], group_dir: str, data_source: str | None,
                data_version: int | None = None) -> list[dict[str, tuple[np.ndarray, np.ndarray]]]:
  """Each layer's clean codes of the chosen member's pretrained encoders (dAs or RBMs: the
  objectives' ``encode``): ``[layer 1 splits, layer 2 splits, ...]``, each
  ``{"train"|"valid"|"test": (codes [n, n_hidden], labels)}``."""
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
    raise RunError(f"the chosen network's pretrained layers are not in {ckpt_dir} (removed by "
                   "--keep_checkpoints=0?); rerun with --overwrite to train it again")
  arrays = restored[0]
  # The data the network was trained on: its source, and for regenerated data its version.
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
  """Per dataset: the paper's two claims, on the SdA-3's codes; then, for each other network
  whose codes were fitted, whether the linear SVM does better on the SdA-3's at every layer."""
  live = [r for r in rows_ if r["test_error_pct"] is not None]
  pixels = {(r["alias"], r["svm"]): r for r in live if r["representation"] == "pixels"}
  layers: dict[tuple[str, str, str], list] = {}  # (alias, svm, codes) -> [(layer, row)]
  for r in live:
    if r.get("codes"):
      layers.setdefault((r["alias"], r["svm"], r["codes"]), []).append((r["representation"], r))
  out = []
  for alias in sorted({a for a, _, _ in layers} | {a for a, _ in pixels}):
    raw, sda = pixels.get((alias, "linear")), _by_layer(layers, alias, "linear")
    if raw is not None and sda:
      beat = [rep for rep, r in sda if r["test_error_pct"] < raw["test_error_pct"]]
      out.append(common.finding(
          f"{alias}: every layer's codes beat raw pixels for the linear SVM",
          len(beat) == len(sda),
          f"pixels {raw['test_error_pct']:.2f}%; " + ", ".join(
              f"{rep} {r['test_error_pct']:.2f}%" for rep, r in sda)))
    raw, rbf = pixels.get((alias, "rbf")), _by_layer(layers, alias, "rbf")
    if raw is not None and rbf:
      best = min(rbf, key=lambda t: t[1]["test_error_pct"])
      out.append(common.finding(
          f"{alias}: an RBF SVM on some layer's codes beats one on raw pixels",
          best[1]["test_error_pct"] < raw["test_error_pct"],
          f"pixels {raw['test_error_pct']:.2f}%; best {best[0]} "
          f"{best[1]['test_error_pct']:.2f}%"))
    for other in (paper_lib.TITLES[m] for m in CODE_MODELS if m != "sda3"):
      theirs = _by_layer(layers, alias, "linear", other)
      if theirs:
        out.append(_against_sda(alias, other, dict(sda), dict(theirs)))
  return out


def _by_layer(layers, alias: str, kind: str, codes: str = SDA) -> list[tuple[str, dict]]:
  """(layer, row) of the ``kind`` SVMs on ``codes``' layers in ``layers``, by layer."""
  return sorted(layers.get((alias, kind, codes), []), key=lambda t: t[0])


def _against_sda(alias: str, other: str, sda: dict[str, dict], theirs: dict[str, dict]):
  """Whether the linear SVM's test error on the SdA-3's codes (``sda``: layer -> row) is below
  the one on ``other``'s (``theirs``) at every layer both have; None when they share none."""
  both = sorted(set(sda) & set(theirs))
  holds = (all(sda[k]["test_error_pct"] < theirs[k]["test_error_pct"] for k in both)
           if both else None)
  detail = "; ".join(f"{k}: {SDA} {sda[k]['test_error_pct']:.2f}%, {other} "
                     f"{theirs[k]['test_error_pct']:.2f}%" for k in both)
  return common.finding(
      f"{alias}: the linear SVM does better on the {SDA}'s codes than on the {other}'s at "
      "every layer", holds, detail or f"no layer fitted on both the {SDA}'s and the {other}'s")


# Line styles of the networks' code lines, by name (their pixels point is shared).
_STYLES = dict(zip((paper_lib.TITLES[m] for m in CODE_MODELS), ("-", "--", ":")))


def plot(rows_: Sequence[dict[str, Any]], plan_: common.Plan, path: str) -> None:
  """One line per (dataset, SVM, network), from the SVM's pixels point through the network's
  layers; the paper's known figures (pixels and the SdA-3's layers) as open squares."""
  fig = common.figure(6.4, 4.4)
  ax = fig.add_subplot()
  reps = ["pixels", "layer 1", "layer 2", "layer 3"]
  live = [r for r in rows_ if r["test_error_pct"] is not None and r["representation"] in reps]
  for (alias, kind), rs in common.series_by(live, lambda r: (r["alias"], r["svm"])).items():
    by_net = common.series_by(rs, lambda r: r.get("codes"))
    raw = by_net.pop(None, [])
    color = None
    for net, codes in (sorted(by_net.items(), key=lambda t: list(_STYLES).index(t[0]))
                       or [(None, [])]):
      line = sorted(raw + codes, key=lambda r: reps.index(r["representation"]))
      label = f"{alias}, {kind} SVM" + (f", {net} codes" if net else "") + " (ours)"
      drawn = ax.errorbar([reps.index(r["representation"]) for r in line],
                          [r["test_error_pct"] for r in line],
                          yerr=[r["test_ci95_pct"] for r in line], marker="o", capsize=3,
                          linestyle=_STYLES.get(net, "-"), color=color, label=label)
      color = drawn[0].get_color()  # one colour per (dataset, SVM), one style per network
    known = [r for r in rs if r.get("paper_error_pct") is not None]  # pixels, the SdA-3's
    if known:
      ax.errorbar([reps.index(r["representation"]) + 0.06 for r in known],
                  [r["paper_error_pct"] for r in known],
                  yerr=[r["paper_ci95_pct"] for r in known], fmt="s", mfc="white",
                  color=color, capsize=3, label=f"{alias}, {kind} SVM (paper)")
  ax.set_xticks(range(len(reps)), reps)
  common.finish(fig, ax, path, xlabel="representation",
                title=f"SVMs on pixels and on the networks' codes, budget {plan_.budget}")
