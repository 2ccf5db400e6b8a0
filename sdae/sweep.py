"""Many models in one program: sweeps over corruption levels, emphases, seeds and learning rates.

A sweep is a list of ``Point`` s (one model each: corruption level, seed, pretraining and
fine-tuning learning rates, emphasis of the denoising loss) that share everything that fixes the
compiled program's shapes (layer sizes, batch size, epochs, corruption kind): a sweep over
corruption kinds is one sweep per kind. ``run`` trains them together through
``sdae.experiment.train_and_evaluate(members=...)``: every array carries a leading member axis
and each epoch is one ``jax.vmap``-ed XLA program, resumable from the checkpoints of its workdir.
``run(..., one_by_one=True)`` trains the same models one at a time (for wall-time comparisons
and as the reference the vmapped sweep must match). A members run in a folder of its own
(``train_members``; ``finished`` reads a finished one back; ``member_rows`` its rows) is the
sweep's ``workdir/members`` and each Table 3 group (``sdae.reproduce.table``) alike.

Equality with one-by-one training: both run the same per-model arithmetic with the same derived
keys (``fold_in(seed, layer, epoch)``), so shuffles and corruption masks are identical. On CPU
the members run one after another inside the program (``sdae.sharding.over_members``: epochs,
encoding and evaluation alike), so each member equals the model trained alone to the last bit
(tested). On GPU/TPU they are ``jax.vmap``-ed, and XLA may order the float32 reductions of the
batched products differently, which changes the last bits of the parameters; errors then agree
to within a handful of examples. A sweep of one member runs the model's own program on every
platform (``sdae.sharding.one_member``), as the driver runs a single model: equal to the last bit.
Caveat: early stopping in a members run stops when *every* member has run out of patience; a
member whose patience ran out is frozen from then on (``sdae.finetune.update_early_stopping``),
so it ends as it would have alone.

Model selection (``select``) takes the lowest validation error; ties go to the lower mean
validation cross-entropy, never to the test error, which model selection must not see.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import os
import time
from typing import Any, Sequence

import numpy as np

from sdae import checkpoint as ckpt_lib
from sdae import config as config_lib
from sdae import distributed
from sdae import experiment
from sdae.io import runlock

log = logging.getLogger("sdae")

#: The keys of every sweep row (``sweep.json`` holds a list of these dicts).
ROW_KEYS = ("level", "seed", "valid_error_pct", "test_error_pct", "test_ci95_pct", "best_epoch",
            "pretrain_lr", "finetune_lr", "layer_levels", "diverged", "emphasis")


@dataclasses.dataclass(frozen=True)
class Point:
  """One model of a sweep."""

  level: float
  seed: int = 0
  pretrain_lr: float | None = None  # None: the base config's
  finetune_lr: float | None = None
  emphasis: str | None = None  # none | double | full (sdae.emphasis); None: the base config's

  def resolved(self, config: config_lib.TrainConfig) -> "Point":
    return Point(float(self.level), int(self.seed),
                 float(config.pretrain_lr if self.pretrain_lr is None else self.pretrain_lr),
                 float(config.finetune_lr if self.finetune_lr is None else self.finetune_lr),
                 config.emphasis if self.emphasis is None else self.emphasis)

  def config(self, base: config_lib.TrainConfig) -> config_lib.TrainConfig:
    """``base`` with this point's level (every layer), seed, learning rates and emphasis: the
    model trained alone."""
    q = self.resolved(base)
    return base.replace(level=q.level, layer_levels=None, seed=q.seed,
                        pretrain_lr=q.pretrain_lr, finetune_lr=q.finetune_lr,
                        emphasis=q.emphasis)


def grid(levels: Sequence[float], seeds: int | Sequence[int] = 1,
         pretrain_lrs: Sequence[float] | None = None,
         finetune_lrs: Sequence[float] | None = None,
         emphases: Sequence[str] | None = None) -> list[Point]:
  """Every (emphasis, pretrain_lr, finetune_lr, level, seed) combination, in that nesting order.

  ``seeds`` is a count N (seeds 0..N-1) or an explicit list. Learning rates and emphases left as
  None take the base config's value when the sweep runs.
  """
  seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
  plrs = list(pretrain_lrs) if pretrain_lrs else [None]
  flrs = list(finetune_lrs) if finetune_lrs else [None]
  emps = list(emphases) if emphases else [None]
  return [Point(float(l), s, p, f, e)
          for e, p, f, l, s in itertools.product(emps, plrs, flrs, list(levels), seed_list)]


def validate_points(config: config_lib.TrainConfig, points: Sequence[Point]) -> None:
  """Checks every point against the corruption's accepted range and the emphasis against the
  corruption and pretraining (raises ``ConfigError``)."""
  if not points:
    raise config_lib.ConfigError("the sweep is empty; give at least one level and one seed")
  seen = set()
  for p in points:
    q = p.resolved(config)
    config_lib.validate(q.config(config))
    if q in seen:
      raise config_lib.ConfigError(f"the sweep lists the model {q} twice; accepted: distinct "
                                   "(level, seed, learning rate, emphasis) combinations")
    seen.add(q)


def members_of(config: config_lib.TrainConfig, points: Sequence[Point]) -> experiment.Members:
  """The ``Members`` of ``points``: each the model it trains alone (``Point.config``), as a
  single model's run takes its one member from its config: one corruption level for every layer,
  the emphasis as its (alpha, beta)."""
  return experiment.Members.of_configs([p.config(config) for p in points])


def rounded(value: float | None) -> float | None:
  """A percentage rounded to 4 decimals (float32 artifacts such as 4.9999995 must not decide a
  tie on validation); None (a diverged model's error) stays None."""
  return None if value is None else round(float(value), 4)


def row(point: Point, r: dict[str, Any], n_layers: int, *,
        round_xent: bool = True) -> dict[str, Any]:
  """A ``sweep.json`` row (``ROW_KEYS`` and ``valid_xent``) of a resolved ``point`` from its
  member's results (``best_epoch``) or a model's results.json (``finetune_best_epoch``,
  one_by_one); a diverged model (non-finite loss) has null errors. Errors are ``rounded``; the
  validation cross-entropy to 6 decimals, or as the run measured it with ``round_xent=False``
  (the table's candidates, ``sdae.reproduce.table``, have always kept it so)."""
  best = r["finetune_best_epoch"] if "finetune_best_epoch" in r else r["best_epoch"]
  xent = r.get("valid_xent")
  return {"level": point.level, "seed": point.seed,
          "valid_error_pct": rounded(r["valid_error_pct"]),
          "test_error_pct": rounded(r["test_error_pct"]),
          "test_ci95_pct": rounded(r["test_ci95_pct"]),
          "best_epoch": int(best),
          "valid_xent": None if xent is None else (round(float(xent), 6) if round_xent
                                                   else float(xent)),
          "pretrain_lr": point.pretrain_lr, "finetune_lr": point.finetune_lr,
          "layer_levels": [point.level] * n_layers, "diverged": bool(r.get("diverged", False)),
          "emphasis": point.emphasis or "none"}


def member_rows(config: config_lib.TrainConfig, points: Sequence[Point],
                results: dict[str, Any], *, round_xent: bool = True) -> list[dict[str, Any]]:
  """One ``row`` per point of a members run from its results (``train_members``'s, or its
  results.json read back by ``finished``), in the order of ``points``."""
  n_layers = len(config.hidden)
  return [row(p.resolved(config), m, n_layers, round_xent=round_xent)
          for p, m in zip(points, results["members"])]


def train_members(config: config_lib.TrainConfig, points: Sequence[Point], workdir: str | None,
                  *, splits: dict, data_source: str | None, overwrite: bool = False,
                  write_images: bool = True, mesh: Any = None,
                  pretrained_from: Sequence[str] = (), pruning=None) -> dict[str, Any]:
  """Trains ``points`` as one members run in ``workdir`` (the run's own folder: a sweep's
  ``workdir/members``, a table group's ``<dataset>/<method>/<group>``), resuming from its
  checkpoints; returns the driver's results (``member_rows`` makes the rows).
  ``pretrained_from``: other runs' workdirs whose stacks it may reuse; ``pruning``: a
  ``sdae.pruning.Pruning`` (``train_and_evaluate``)."""
  return experiment.train_and_evaluate(config, workdir, splits=splits, data_source=data_source,
                                       members=members_of(config, points), overwrite=overwrite,
                                       write_images=write_images, mesh=mesh,
                                       pretrained_from=pretrained_from, pruning=pruning)


def finished(config: config_lib.TrainConfig, points: Sequence[Point], workdir: str,
             overwrite: bool = False) -> dict[str, Any] | None:
  """The results.json of the members run of ``points`` in ``workdir`` when it finished with this
  configuration and these members (whatever data source it read: the caller checks that), else
  None (also with ``overwrite``). Reads nothing but the workdir's files: no data, no devices."""
  from sdae.io import files as fileio  # pylint: disable=g-import-not-at-top
  from sdae.io import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  path = os.path.join(workdir, "results.json")
  if overwrite or not os.path.exists(path):
    return None
  done = fileio.read_json(path, if_damaged="recomputing it from the group's checkpoints")
  if not isinstance(done, dict):
    return None
  # The record the run writes in config.json, less the source it read. The run's identity is
  # config.json's (results.json shows the settings resolved, for reading).
  want = experiment.config_record(config, members_of(config, points), None)
  want.pop("data_source_used")
  recorded = workdir_lib.recorded_config(workdir) or done.get("config", {})
  got = {k: v for k, v in recorded.items() if k not in ("data_source_used", "data_version_used")}
  same = workdir_lib.run_identity(got) == workdir_lib.run_identity(want)
  if same and len(done.get("members", [])) == len(points):
    return done
  return None


def model_dir(workdir: str, index: int, point: Point) -> str:
  """Sub-workdir of model ``index`` in a one-by-one run (named as before emphasis existed when
  the point's emphasis is none)."""
  emphasis = "" if point.emphasis in (None, "none") else f"_emphasis={point.emphasis}"
  return os.path.join(workdir, "one_by_one",
                      f"{index:03d}_level={point.level:g}_seed={point.seed}"
                      f"_plr={point.pretrain_lr:g}_flr={point.finetune_lr:g}{emphasis}")


def members_mesh(n_members: int):
  """The mesh the members are split over (``sharding.member_mesh``: the most devices, of all
  processes, whose count divides the number of models); None when that is one device, where the
  members train on the default device.

  So 8 models on 8 GPUs train one per GPU, and on CPU, where the entry points make one device
  per core (``experiments._cli.use_cpu_cores``), each core trains its share. Every process must
  own a device of the mesh (a process left out could not join its programs), so the number of
  models must have a divisor that covers every process's devices.
  """
  from sdae import sharding  # pylint: disable=g-import-not-at-top
  mesh = sharding.member_mesh(n_members)
  if distributed.process_count() == 1:
    return None if sharding.is_trivial(mesh) else mesh
  owners = {d.process_index for d in mesh.devices.flat}
  if len(owners) < distributed.process_count():
    import jax  # pylint: disable=g-import-not-at-top
    raise config_lib.ConfigError(
        f"{n_members} models do not split over the {len(jax.devices())} devices of "
        f"{distributed.process_count()} processes (the mesh takes {mesh.size}, leaving a process "
        "without members); accepted: a number of models divisible by the device count")
  return mesh


def run(config: config_lib.TrainConfig, points: Sequence[Point], workdir: str | None, *,
        splits: dict | None = None, data_source: str | None = None, one_by_one: bool = False,
        overwrite: bool = False, write_images: bool = True) -> dict[str, Any]:
  """Trains every point (together, or one at a time) and returns the sweep's outcome.

  Args:
    config: validated base config (its level/seed/learning rates are replaced per point).
    points: the models (see ``grid``).
    workdir: the vmapped run lives in ``workdir/members``; a one-by-one run in
      ``workdir/one_by_one/NNN_...``. None: nothing written, nothing resumed.
    splits, data_source: the data (loaded from ``config.dataset`` when None).
    one_by_one: train the models one at a time instead of as one vmapped program.

  With several processes (``sdae.distributed``) every process calls ``run`` alike: the members
  are split over the devices of all processes (``members_mesh``), each process contributes its
  own rows of the data, and only process 0 writes files; every process returns the same rows.

  Returns:
    ``{"rows": [row per point, in order], "seconds": training wall time (data loading
    excluded), "mode": "members"|"one_by_one", "data_source", "n_test", "device"}``.
  """
  config_lib.validate(config)
  points = [p.resolved(config) for p in points]
  validate_points(config, points)
  mesh = None if one_by_one else members_mesh(len(points))
  if mesh is not None:
    log.info("%d models split over %d devices (%d per device)", len(points), mesh.size,
             len(points) // mesh.size)
  if splits is None:  # on the source the sweep started on, when this is a rerun
    first = None if workdir is None else (
        model_dir(workdir, 0, points[0]) if one_by_one else os.path.join(workdir, "members"))
    splits, data_source = experiment.load_data(
        experiment.with_recorded_source(config, first, overwrite))
  with runlock.exclusive(workdir):  # one writer: a second launch exits in one line
    return _train(config, points, workdir, splits, data_source, one_by_one, overwrite,
                  write_images, mesh)


def _train(config, points, workdir, splits, data_source, one_by_one, overwrite, write_images,
           mesh) -> dict[str, Any]:
  """``run``'s training, once the data are loaded and the workdir is held."""
  n_layers = len(config.hidden)
  t0 = time.monotonic()
  if not one_by_one:
    sub = None if workdir is None else os.path.join(workdir, "members")
    res = train_members(config, points, sub, splits=splits, data_source=data_source,
                        overwrite=overwrite, write_images=write_images, mesh=mesh)
    rows = member_rows(config, points, res)
    training = res["seconds"]["training"]
  else:
    rows, training = [], 0.0
    for i, p in enumerate(points):
      log.info("model %d/%d: level %g seed %d pretrain_lr %g finetune_lr %g emphasis %s", i + 1,
               len(points), p.level, p.seed, p.pretrain_lr, p.finetune_lr, p.emphasis)
      cfg = p.config(config)
      sub = None if workdir is None else model_dir(workdir, i, p)
      try:
        res = experiment.train_and_evaluate(cfg, sub, splits=splits, data_source=data_source,
                                            overwrite=overwrite, write_images=write_images)
      except experiment.DivergenceError as e:  # as a diverged member of a vmapped sweep
        log.warning("model %d/%d diverged: %s", i + 1, len(points), e)
        res = {"valid_error_pct": None, "test_error_pct": None, "test_ci95_pct": None,
               "best_epoch": -1, "diverged": True, "seconds": {"training": 0.0}}
      rows.append(row(p, res, n_layers))
      training += res["seconds"]["training"]
  import jax  # pylint: disable=g-import-not-at-top
  return {"rows": rows, "seconds": round(time.monotonic() - t0, 2),
          "training_seconds": round(float(training), 2),
          "mode": "one_by_one" if one_by_one else "members",
          "data_source": data_source or "arrays", "n_test": int(len(splits["test"][1])),
          "device": jax.devices()[0].platform}


# --- model selection and summaries -------------------------------------------------------------


def select(rows: Sequence[dict[str, Any]], key: str = "valid_error_pct",
           tie_key: str = "valid_xent") -> dict[str, Any]:
  """The row with the lowest ``key`` (validation error); among equal ones the lowest
  ``tie_key`` (mean validation cross-entropy, a finer measure of the same validation set);
  rows equal in both (or lacking ``tie_key``) go to the earliest.

  Diverged rows (``"diverged"``), and rows whose ``key`` is missing or not finite, are skipped.
  """
  best, best_val = None, (math.inf, math.inf)
  for r in rows:
    v = r.get(key)
    if r.get("diverged") or v is None or not math.isfinite(float(v)):
      continue
    t = r.get(tie_key)
    t = math.inf if t is None or not math.isfinite(float(t)) else float(t)
    if (float(v), t) < best_val:  # strict: the first of equal rows is kept
      best, best_val = r, (float(v), t)
  if best is None:
    raise ValueError(f"no row has a finite {key!r}")
  return best


def by_level(rows: Sequence[dict[str, Any]]) -> dict[float, list[dict[str, Any]]]:
  out: dict[float, list[dict[str, Any]]] = {}
  for r in rows:
    out.setdefault(float(r["level"]), []).append(r)
  return dict(sorted(out.items()))


# Student t 0.975 quantiles for 1..30 degrees of freedom (beyond: the normal 1.96).
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def mean_ci95(values: Sequence[float]) -> tuple[float, float]:
  """Mean and half-width of a 95% interval of the mean (Student t over seeds; 0 for one value)."""
  v = np.asarray(values, np.float64)
  if v.size < 2:
    return float(v.mean()), 0.0
  df = v.size - 1
  t = _T975[df - 1] if df <= len(_T975) else 1.96
  return float(v.mean()), float(t * v.std(ddof=1) / math.sqrt(v.size))


def summarize(rows: Sequence[dict[str, Any]], n_test: int | None = None) -> dict[str, Any]:
  """Per level: mean validation and test error over seeds with 95% intervals.

  With one seed per level, the test interval is the binomial one of that model
  (``test_ci95_pct``) and the validation one is left at 0. Diverged models (null errors) are left
  out; a level whose models all diverged is absent.
  """
  levels, valid, test = [], ([], []), ([], [])
  for level, rs in by_level([r for r in rows if r.get("valid_error_pct") is not None
                             and r.get("test_error_pct") is not None]).items():
    levels.append(level)
    vm, vc = mean_ci95([r["valid_error_pct"] for r in rs])
    tm, tc = mean_ci95([r["test_error_pct"] for r in rs])
    if len(rs) == 1:
      tc = float(rs[0].get("test_ci95_pct", 0.0))
    valid[0].append(vm), valid[1].append(vc)
    test[0].append(tm), test[1].append(tc)
  return {"levels": levels, "valid": valid, "test": test}


def by_emphasis(rows: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
  """The rows of each emphasis (rows written before emphasis existed count as none)."""
  out: dict[str, list[dict[str, Any]]] = {}
  for r in rows:
    out.setdefault(r.get("emphasis") or "none", []).append(r)
  return out


def plot_figure(rows: Sequence[dict[str, Any]], *, dataset: str = "", corruption: str = "masking"):
  """The figure of ``sweep.png``: validation and test error against level, the mean over seeds
  with 95% intervals (Student t over seeds; with one seed per level, the test error's binomial
  interval and no interval on validation). A sweep over emphases whose emphases share their
  levels gets one validation and one test line per emphasis (never averaged together)."""
  from sdae import viz  # pylint: disable=g-import-not-at-top
  groups = by_emphasis(rows)
  if len(groups) > 1:
    sums = {e: summarize(rs) for e, rs in groups.items()}
    levels = next(iter(sums.values()))["levels"]
    if all(v["levels"] == levels for v in sums.values()):
      series = {}
      for e, v in sums.items():
        series[f"validation, emphasis {e}"] = v["valid"]
        series[f"test, emphasis {e}"] = v["test"]
      title = f"{dataset + ': ' if dataset else ''}error against {corruption} level by emphasis"
      return viz.error_vs_level_figure(
          levels, series, title=title,
          xlabel=f"{corruption} level ({viz.LEVEL_MEANING.get(corruption, 'level')})",
          ylabel="classification error (%)",
          note="Mean over seeds per emphasis; model selection uses the validation error only.")
  s = summarize(rows)
  seeds = max(len(rs) for rs in by_level(rows).values())
  if seeds > 1:
    bars = f"mean of {seeds} seeds, bars: 95% interval of the mean (t)"
    series = {f"validation, {bars}": s["valid"], f"test, {bars}": s["test"]}
    note = None
  else:
    series = {"validation (one seed)": s["valid"],
              "test, bars: 95% binomial interval (one seed)": s["test"]}
    note = "Each point is one model; model selection uses the validation error only."
  meaning = viz.LEVEL_MEANING.get(corruption, "level")
  title = f"{dataset + ': ' if dataset else ''}error against {corruption} level"
  return viz.error_vs_level_figure(s["levels"], series, title=title,
                                   xlabel=f"{corruption} level ({meaning})",
                                   ylabel="classification error (%)", note=note)


def plot(rows: Sequence[dict[str, Any]], path: str, *, dataset: str = "",
         corruption: str = "masking") -> list[str]:
  """Writes ``plot_figure`` as ``path`` (``sweep.png``) and its PDF; returns the paths."""
  from sdae import viz  # pylint: disable=g-import-not-at-top
  return viz.save_figure(plot_figure(rows, dataset=dataset, corruption=corruption), path)


# --- first-layer filters per level --------------------------------------------------------------


def first_layer_kernels(workdir: str) -> np.ndarray:
  """The pretrained first-layer kernels [M, n_in, n_hidden] (or [n_in, n_hidden] for a single
  model) from the latest checkpoint of a run's workdir."""
  ckpt = ckpt_lib.Checkpointer(os.path.join(workdir, "checkpoints"))
  try:
    restored = ckpt.restore_latest()
  finally:
    ckpt.close()
  if restored is None:
    raise FileNotFoundError(f"no checkpoint in {workdir}")
  arrays, meta = restored
  if int(meta["n_done_layers"]) < 1:
    raise FileNotFoundError(f"the first layer of {workdir} is not pretrained yet")
  return np.asarray(arrays["layer0"]["kernel"])


def save_filters_by_level(panels: Sequence[tuple[float, np.ndarray]], path: str,
                          n: int = 100, *, corruption: str = "masking",
                          dataset: str | None = None) -> list[str]:
  """``filters.png`` (and its PDF): for each (level, kernel [n_in, n_hidden]) the first ``n``
  filters tiled, one panel per level from the lowest to the highest, each titled with its level
  (as the paper's figures at 0%, 25% and 50% masking). Nothing when the inputs are not square
  images; returns the paths written."""
  from sdae import viz  # pylint: disable=g-import-not-at-top
  if not panels or viz.square_side(np.asarray(panels[0][1]).shape[0]) is None:
    return []
  fig = viz.filters_by_level_figure(panels, n, corruption=corruption, dataset=dataset)
  return viz.save_figure(fig, path)


def filter_panels(workdir: str, points: Sequence[Point], one_by_one: bool,
                  ) -> list[tuple[float, np.ndarray]]:
  """For each level, the first-layer kernel of its first point (seed 0 where present); a
  level whose kernel is not finite (that model diverged) has no panel."""
  chosen: dict[float, int] = {}
  for i, p in enumerate(points):
    if p.level not in chosen or (p.seed == 0 and points[chosen[p.level]].seed != 0):
      chosen[p.level] = i
  panels = []
  if one_by_one:
    for level, i in sorted(chosen.items()):
      panels.append((level, first_layer_kernels(model_dir(workdir, i, points[i]))))
  else:
    kernels = first_layer_kernels(os.path.join(workdir, "members"))
    for level, i in sorted(chosen.items()):
      panels.append((level, kernels[i]))
  return [(level, k) for level, k in panels if np.isfinite(k).all()]


def write_outputs(workdir: str, config: config_lib.TrainConfig, points: Sequence[Point],
                  outcome: dict[str, Any]) -> None:
  """``sweep.json`` (the rows), ``sweep_run.json`` (mode, wall time, config), ``sweep.png`` and
  ``filters.png`` (first-layer filters of seed 0 at each level, side by side).

  With several processes every process calls it (the filters are read from the checkpoint, which
  all processes open together); only process 0 writes.
  """
  points = [p.resolved(config) for p in points]
  writer = distributed.is_writer()
  pictures = []
  if writer:
    pictures += plot(outcome["rows"], os.path.join(workdir, "sweep.png"),
                     dataset=config.dataset, corruption=config.corruption)
  try:
    panels = filter_panels(workdir, points, outcome["mode"] == "one_by_one")
    if writer:
      pictures += save_filters_by_level(panels, os.path.join(workdir, "filters.png"),
                                        corruption=config.corruption, dataset=config.dataset)
  except FileNotFoundError as e:  # pragma: no cover (a finished run always has its checkpoint)
    log.warning("no filters.png: %s", e)
  if not writer:
    return
  meta = {k: v for k, v in outcome.items() if k != "rows"}
  meta.update(dataset=config.dataset, corruption=config.corruption, n_models=len(points),
              filter_levels=sorted({p.level for p in points}), config=config.to_dict(),
              summary=summarize(outcome["rows"]))
  groups = by_emphasis(outcome["rows"])
  if len(groups) > 1:  # "summary" pools the emphases of a level; this keeps them apart
    meta["summary_by_emphasis"] = {e: summarize(rs) for e, rs in groups.items()}
  ckpt_lib.write_json_atomic(os.path.join(workdir, "sweep_run.json"), meta)
  ckpt_lib.write_json_atomic(os.path.join(workdir, "sweep.json"), outcome["rows"])
  from sdae.io import progress  # pylint: disable=g-import-not-at-top
  best = select(outcome["rows"])
  progress.Progress().summary(
      f"sweep done: {len(points)} models ({outcome['mode']}) in "
      f"{progress.format_seconds(outcome['seconds'])}; lowest validation error "
      f"{best['valid_error_pct']:.2f}% at level {best['level']:g}"
      + ("" if best.get("emphasis", "none") == "none" else f", emphasis {best['emphasis']}")
      + f" (test "
      f"{best['test_error_pct']:.2f}% +- {best['test_ci95_pct']:.2f})",
      {"results": [os.path.join(workdir, n) for n in ("sweep.json", "sweep_run.json")],
       "pictures": pictures,
       "models": [os.path.join(workdir, "one_by_one" if outcome["mode"] == "one_by_one"
                               else "members")]})
