"""``train_and_evaluate``: greedy pretraining, fine-tuning and evaluation of an SdA, resumable.

One driver serves a single model and a sweep of M models trained together (``members``): with
members, every array of the training state carries a leading member axis and the compiled epochs
are ``jax.vmap``-ed over it, so a whole sweep is one XLA program per epoch.

The workdir holds ``config.json``, ``checkpoints/`` (orbax), ``metrics.jsonl`` (one JSON object per
epoch, to follow live), ``results.json``, ``filters.png`` and ``reconstructions.png``. Running
again with the same workdir resumes from the last checkpoint; a workdir of a different
configuration is refused unless ``overwrite``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import time
from typing import Any, Callable, Sequence

import logging

import jax
import jax.numpy as jnp
import numpy as np

from sdae import checkpoint as ckpt_lib
from sdae import config as config_lib
from sdae import corruption as corruption_lib
from sdae import distributed
from sdae import finetune as ft
from sdae import model as model_lib
from sdae import pretrain as pt
from sdae import progress as progress_lib
from sdae import results as results_lib
from sdae.experiment_errors import DivergenceError, RunError

log = logging.getLogger("sdae")


@dataclasses.dataclass(frozen=True)
class Members:
  """The models of a sweep, trained together: one entry per member (leading axis M)."""

  seeds: Sequence[int]
  levels: Sequence[Sequence[float]]  # [M, n_layers]
  pretrain_lr: Sequence[float]
  finetune_lr: Sequence[float]

  def __len__(self) -> int:
    return len(self.seeds)


# --- data --------------------------------------------------------------------------------------


def load_data(config: config_lib.TrainConfig) -> tuple[dict, str]:
  """(splits, data_source) for ``config.dataset``: ``sdae.data.load``'s splits and the source
  they were actually read from."""
  from sdae import data as data_lib
  splits = data_lib.load(config.dataset, source=config.data_source, data_dir=config.data_dir,
                         seed=0, cache_dir=config.cache_dir)
  return splits, splits.source


def source_of(splits: dict, claimed: str | None = None) -> str:
  """The source to record for ``splits``: the one ``sdae.data.load`` read them from (it tags
  its result), else ``"arrays"``. A caller's ``claimed`` source is never recorded in its place:
  a claim that disagrees is logged and ignored."""
  actual = getattr(splits, "source", None) or "arrays"
  if claimed is not None and claimed != actual:
    log.warning("data_source=%r was given, but the splits are %s data (%s); the results "
                "record %r", claimed, actual, "as sdae.data.load read them"
                if actual != "arrays" else "not from sdae.data.load", actual)
  return actual


def recorded_config(workdir: str | None) -> dict | None:
  """The configuration a workdir's run recorded (its ``config.json``), or None."""
  path = None if workdir is None else os.path.join(workdir, "config.json")
  if path is None or not os.path.isfile(path):
    return None
  try:
    with open(path) as f:
      out = json.load(f)
  except (OSError, ValueError):
    return None
  return out if isinstance(out, dict) else None


def with_recorded_source(config: config_lib.TrainConfig, workdir: str | None,
                         overwrite: bool = False) -> config_lib.TrainConfig:
  """``config`` with the data source ``workdir`` recorded, when ``config`` names none.

  A rerun of a command in its workdir then reads the data the run started on, whatever has
  changed around it (files added to --data_dir, the cache), and resumes. An explicit
  ``data_source`` is kept (a different one is refused by ``prepare_workdir``); ``overwrite``
  starts over, so the source is picked afresh.
  """
  recorded = None if config.data_source or overwrite else recorded_config(workdir)
  if not recorded or recorded.get("dataset") != config.dataset:
    return config
  used = recorded.get("data_source_used")
  if used not in ("original", "regenerated"):
    return config
  from sdae import data as data_lib
  fresh = data_lib.pick_source(config.dataset, None, config.data_dir)
  if fresh != used:
    log.info("%s was trained on %s data: resuming on it (--data_source=%s --overwrite starts "
             "over on %s data)", workdir, used, fresh, fresh)
  return config.replace(data_source=used)


def _device_splits(splits: dict, n_train: int, mesh: Any = None):
  x_tr, y_tr = splits["train"]
  if n_train:
    x_tr, y_tr = x_tr[:n_train], y_tr[:n_train]
  put = lambda a, dt: jnp.asarray(np.asarray(a, dt))
  if mesh is not None and distributed.process_count() > 1:
    put = _rows_of_this_process
    rows = distributed.shard_rows(len(y_tr))
    log.info("process %d of %d: training rows %d..%d of %d (and its block of each split)",
             distributed.process_index(), distributed.process_count(), rows.start, rows.stop,
             len(y_tr))
  return {
      "train": (put(x_tr, np.float32), put(y_tr, np.int32)),
      "valid": (put(splits["valid"][0], np.float32), put(splits["valid"][1], np.int32)),
      "test": (put(splits["test"][0], np.float32), put(splits["test"][1], np.int32)),
  }


def _rows_of_this_process(a, dtype) -> Any:
  """Several processes: one global array to which this process contributes only its block of
  rows (``distributed.shard_rows``), split over all devices by rows; ``sharding.replicate`` then
  gathers it where every member needs all of it. Rows that do not split evenly over the devices
  stay a host array, which every process holds whole (``replicate`` cuts it up locally)."""
  from sdae import sharding
  a = np.asarray(a, dtype)
  n, rows_mesh = a.shape[0], sharding.data_mesh()
  if n % rows_mesh.size or n % distributed.process_count():
    return a
  return distributed.global_rows(a[distributed.shard_rows(n)], rows_mesh, n)


def n_classes_of(splits: dict, dataset: str) -> int:
  try:
    from sdae import data as data_lib
    return int(data_lib.DATASETS[dataset].n_classes)
  except Exception:  # a user's own arrays under an unregistered name
    return int(max(int(np.max(splits[s][1])) for s in ("train", "valid", "test")) + 1)


# --- workdir -----------------------------------------------------------------------------------


# data_source is what was asked for (None: pick); the data actually read, data_source_used, is
# part of the identity instead, so an explicit --data_source naming it resumes the run.
_RUNTIME_ONLY = ("checkpoint_every_secs", "keep_checkpoints", "data_dir", "cache_dir",
                 "data_source")


def _identity(cfg: dict) -> dict:
  """The part of a config that defines the run (runtime-only settings may change on resume).
  A setting at None, or at its ``config.OPTIONAL_AT_DEFAULT`` value, counts as absent, so a
  field added since a workdir was written, whose value there is the old behaviour (e.g.
  ``member_loop``, ``pretraining``), does not set that workdir apart."""
  optional = config_lib.OPTIONAL_AT_DEFAULT
  return {k: v for k, v in cfg.items()
          if k not in _RUNTIME_ONLY and v is not None and not (k in optional and optional[k] == v)}


def prepare_workdir(workdir: str, config_dict: dict, overwrite: bool) -> None:
  """Creates ``workdir`` or checks that it belongs to this configuration."""
  path = os.path.join(workdir, "config.json")
  if os.path.exists(path):
    with open(path) as f:
      old = json.load(f)
    new = _identity(config_dict)
    if "data_source_used" not in old:  # written before the source was recorded: not known
      new.pop("data_source_used", None)
    if _identity(old) != new:
      if not overwrite:
        diff = sorted(k for k in set(old) | set(config_dict)
                      if k not in _RUNTIME_ONLY and old.get(k) != config_dict.get(k))
        shown = ", ".join(f"{k}: {old.get(k)!r} -> {config_dict.get(k)!r}" for k in diff[:3])
        raise RunError(f"workdir {workdir} belongs to another configuration ({shown}); "
                       "use another --workdir or pass --overwrite to start over")
      if distributed.is_writer():  # process 0 removes; the others wait at the barrier below
        for name in ("checkpoints", "results.json", "metrics.jsonl", "sweep.json"):
          p = os.path.join(workdir, name)
          if os.path.isdir(p):
            shutil.rmtree(p)
          elif os.path.exists(p):
            os.remove(p)
  os.makedirs(workdir, exist_ok=True)
  if distributed.is_writer():
    ckpt_lib.write_json_atomic(path, config_dict)
  distributed.barrier("sdae_prepare_workdir")  # no process opens checkpoints/ before it is ready


class MetricsLog:
  """One JSON object per epoch, a line each, in ``workdir/metrics.jsonl`` (flushed each write).

  Each epoch appears once: a resumed run first drops the rows of the epochs after its
  checkpoint (``keep_until``), which it then trains and logs again. Rows carry ``phase``
  (``pretrain`` or ``finetune``), ``layer`` (1-based, pretraining) and ``epoch`` (1-based).
  """

  def __init__(self, path: str | None):
    self.path = path

  def write(self, **row) -> None:
    if self.path is None:
      return
    row = {k: (np.asarray(v).tolist() if isinstance(v, (np.ndarray, np.generic)) else v)
           for k, v in row.items()}
    with open(self.path, "a") as f:
      f.write(json.dumps(row) + "\n")

  @staticmethod
  def _position(row: dict) -> tuple[int, int, int]:
    """Where a row falls in a run: pretraining (layer, epoch) before fine-tuning epochs."""
    if row.get("phase") == "pretrain":
      return (0, int(row["layer"]), int(row["epoch"]))
    return (1, 0, int(row["epoch"]))

  def keep_until(self, phase: str | None, layer: int = 0, epoch: int = 0) -> None:
    """Keeps only the rows up to a checkpoint's position (``phase``, ``layer`` 0-based in
    progress, ``epoch`` epochs done in it), rewriting the file atomically; ``phase=None`` (no
    checkpoint: the run starts over) keeps none. A line cut short by a kill is dropped too."""
    if self.path is None or not os.path.exists(self.path):
      return
    if phase is None:
      end = (-1, 0, 0)
    else:
      end = (0, layer + 1, epoch) if phase == "pretrain" else (1, 0, epoch)
    kept = []
    with open(self.path) as f:
      for line in f:
        try:
          row = json.loads(line)
          if self._position(row) <= end:
            kept.append(line if line.endswith("\n") else line + "\n")
        except (ValueError, KeyError, TypeError):
          continue
    tmp = self.path + ".tmp"
    with open(tmp, "w") as f:
      f.writelines(kept)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, self.path)


# --- the driver ----------------------------------------------------------------------------------


#: The points of a run where ``train_and_evaluate`` calls ``on_event``; its ``Checkpointer`` adds
#: ``checkpoint_write`` (just before each checkpoint write).
EVENTS = (
    "epoch_end",           # a pretraining epoch finished and was logged, before its checkpoint
    "layer_end",           # a layer finished and its boundary checkpoint was written
    "finetune_epoch_end",  # a fine-tuning epoch finished and was logged, before its checkpoint
    "results_write",       # everything done, just before results.json is written
)


def _no_event(event: str) -> None:
  del event


def _finite_members(losses: np.ndarray) -> np.ndarray:
  """[M] bool: whether every loss of each member (``losses`` [M, steps]) is finite."""
  return np.isfinite(np.asarray(losses)).reshape(len(losses), -1).all(axis=-1)


def _note_diverged(diverged: np.ndarray, losses: np.ndarray, where: str,
                   members: Members) -> np.ndarray:
  """``diverged`` [M] with the members whose loss is no longer finite added; each newly diverged
  member is logged once. The others train on: nothing mixes the members' arithmetic."""
  bad = ~_finite_members(losses)
  for i in np.flatnonzero(bad & ~diverged):
    log.warning("member %d (seed %d, levels %s, learning rates %g / %g) diverged at %s: its "
                "loss is not finite; it is marked diverged and never selected", i,
                members.seeds[i], list(members.levels[i]), members.pretrain_lr[i],
                members.finetune_lr[i], where)
  return diverged | bad


def _check_finite(losses: np.ndarray, where: str, lr_flag: str, lr: Any) -> None:
  bad = ~np.isfinite(losses)
  if bad.any():
    idx = np.argwhere(bad)[0]
    step = int(idx[-1])
    raise DivergenceError(
        f"loss became {losses[tuple(idx)]} at {where} step {step}; the last good checkpoint is "
        f"kept; try a lower {lr_flag} (now {lr})")


@dataclasses.dataclass
class TrainState:
  """Everything a run carries from epoch to epoch, and what a checkpoint holds.

  With members, every array carries a leading member axis M. ``params`` / ``opt_state`` are the
  layer being pretrained (phase ``pretrain``) or the classifier (phase ``finetune``, with its
  ``early_stopping`` state); ``epoch`` counts the epochs done in the current layer or phase.
  """

  phase: str = "pretrain"
  layer: int = 0
  epoch: int = 0
  done_layers: list = dataclasses.field(default_factory=list)
  params: Any = None
  opt_state: Any = None
  early_stopping: Any = None
  diverged: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, bool))
  seconds: dict = dataclasses.field(default_factory=lambda: {"pretrain": 0.0, "finetune": 0.0})

  def checkpoint(self) -> tuple[dict[str, Any], dict[str, Any]]:
    """(named trees, meta); the trees' names are the checkpoint format's."""
    trees = {f"layer{k}": p for k, p in enumerate(self.done_layers)}
    if self.params is not None:
      if self.phase == "pretrain":
        trees.update(cur=self.params, opt=self.opt_state)
      else:
        trees.update(ft=self.params, opt=self.opt_state, es=self.early_stopping)
    meta = {"phase": self.phase, "layer": self.layer, "epoch": self.epoch,
            "n_done_layers": len(self.done_layers),
            "has_current": self.params is not None and self.phase == "pretrain",
            "seconds": self.seconds, "diverged": self.diverged.tolist()}
    return trees, meta


@dataclasses.dataclass
class Run:
  """The fixed parts of a run: its configuration, its data on the devices, each member's traced
  hyperparameters, the layer objectives and the programs' pieces, and its outputs' writers."""

  config: config_lib.TrainConfig
  members: Members | None
  data: dict            # {"train"|"valid"|"test": (x, y)} on the devices
  n_classes: int
  hyper: dict           # seeds [M], levels [M, L], pretrain_lr [M], finetune_lr [M] (no M: one model)
  objectives: list      # sdae.pretrain.LayerObjective per pretrained layer
  tx: Any
  module: Any           # the classifier (sdae.model.SdAClassifier)
  mesh: Any
  checkpointer: Any
  metrics: "MetricsLog"
  progress: Any
  emit: Callable[[str], None]
  init_opt: Callable = dataclasses.field(init=False)  # (params, learning_rate) -> opt_state

  def __post_init__(self):
    self.init_opt = jax.jit(self.vmap(functools.partial(pt.init_opt_state, self.tx), (0, 0)))

  @property
  def many(self) -> bool:
    return self.members is not None

  def vmap(self, fn, in_axes):
    """``fn`` over the member axis when the run trains members."""
    return jax.vmap(fn, in_axes=in_axes) if self.many else fn

  def place(self, tree):
    """``tree`` laid out as the compiled epochs lay out their outputs (members split over the
    mesh, or one model replicated on it), so no epoch compiles twice."""
    if self.mesh is None:
      return tree
    from sdae import sharding  # pylint: disable=g-import-not-at-top
    return (sharding.place_members if self.many else sharding.replicate)(tree, self.mesh)

  def n_models(self) -> int:
    return len(self.members) if self.many else 1

  def fresh_layer(self, k: int):
    """(params, opt_state) of pretrained layer ``k``, freshly initialised."""
    obj = self.objectives[k]
    p = jax.jit(self.vmap(lambda s: pt.init_layer(obj, s, k), (0,)))(self.hyper["seeds"])
    return p, self.init_opt(p, self.hyper["pretrain_lr"])

  def fresh_finetune(self, done_layers: list):
    """(params, opt_state, early stopping) of the classifier over the pretrained layers (or,
    with none, the randomly initialised deep network)."""
    c, seeds, d = self.config, self.hyper["seeds"], self.data["train"][0].shape[1]
    if not self.objectives:
      p = jax.jit(self.vmap(lambda s: ft.init_classifier(self.module, s, d), (0,)))(seeds)
    else:
      head = self.vmap(lambda s: ft.init_head(s, c.hidden[-1], self.n_classes), (0,))(seeds)
      # A copy: the fine-tuning epoch donates its inputs, and done_layers must stay alive.
      p = jax.tree.map(jnp.copy, model_lib.stack_params(done_layers, head))
    es = self.vmap(lambda q: ft.init_early_stopping(q, c.patience), (0,))(p)
    return p, self.init_opt(p, self.hyper["finetune_lr"]), es

  def check_losses(self, state: TrainState, losses: np.ndarray, where: str, lr_flag: str,
                   lr: float) -> None:
    """One model: a non-finite loss stops the run (``DivergenceError``). Members: the member is
    marked diverged, and the others train on."""
    if self.many:
      state.diverged = _note_diverged(state.diverged, losses, where, self.members)
    else:
      _check_finite(losses, where, lr_flag, lr)


def train_and_evaluate(config: config_lib.TrainConfig, workdir: str | None, *,
                       splits: dict | None = None, data_source: str | None = None,
                       members: Members | None = None, overwrite: bool = False,
                       write_images: bool = True, mesh: Any = None,
                       on_event: Callable[[str], None] | None = None) -> dict[str, Any]:
  """Pretrains, fine-tunes and evaluates; returns (and writes) the results.

  Args:
    config: validated ``TrainConfig``.
    workdir: folder for checkpoints, metrics and outputs (None: no files, no resume).
    splits: the data as ``{"train"|"valid"|"test": (x [n, d] float32, y [n] int)}``; loaded by
      name from ``config.dataset`` when None (on the source ``workdir`` recorded, when it
      recorded one and ``config.data_source`` is None: see ``with_recorded_source``).
    data_source: ignored but for a warning when it disagrees: the results record the source
      ``sdae.data.load`` read ``splits`` from (it tags them), or "arrays" (see ``source_of``).
    members: train a sweep of models together (see ``Members``); None for one model.
    overwrite: start over in a workdir that belongs to another configuration.
    write_images: write filters.png and reconstructions.png.
    mesh: a ``jax.sharding.Mesh`` (``sdae.sharding``): with members, the member axis is split
      over its devices (``member_mesh(M)``: one member per device when there are M); for one
      model, each minibatch is (data parallelism). The data are replicated on its devices.
    on_event: called with the name of each point the run passes (``EVENTS``), e.g. by tests
      that kill the process there; also handed to the ``Checkpointer``.

  Returns:
    For one model, the results dict of DESIGN.md (``test_error_pct``, ``test_ci95_pct``, ...).
    With members, the same with per-member lists under ``members``.
  """
  config_lib.validate(config)
  t_start = time.monotonic()
  if splits is None:
    splits, data_source = load_data(with_recorded_source(config, workdir, overwrite))
  else:
    data_source = source_of(splits, data_source)
  cfg_dict = _config_record(config, members, data_source)
  # Before anything touches a device (no backend logs, one line).
  config_lib.check_batches_fit(config, len(splits["train"][1][:config.n_train or None]))
  data = _device_splits(splits, config.n_train, mesh)
  if workdir is not None:  # only once the data and the batch size are known to be good
    prepare_workdir(workdir, cfg_dict, overwrite)
  run = _open_run(config, data, splits, members, mesh, workdir, on_event, data_source)
  state, restored = _restore(run)
  if state.phase == "pretrain":
    _pretrain(run, state)
  _finetune(run, state)
  ev = _evaluate(run, state)
  results = _results(run, state, ev, cfg_dict, data_source,
                     time.monotonic() - t_start if not restored else None)
  if run.checkpointer is not None:
    results["checkpoint_seconds"] = round(run.checkpointer.seconds_saving, 3)
    run.checkpointer.close()
  results = results_lib.complete(results, n_train=run.data["train"][0].shape[0],
                                 n_valid=run.data["valid"][0].shape[0],
                                 finetune_batch_size=config.ft_batch_size())
  if workdir is not None:
    _write_outputs(run, state, ev, results, workdir, splits, write_images)
  return results


def _config_record(config: config_lib.TrainConfig, members: Members | None,
                   data_source: str | None) -> dict[str, Any]:
  """config.json: the settings, the members, and the source actually read (part of the run's
  identity: a workdir trained on regenerated data is not resumed on the original files)."""
  out = config.to_dict()
  if members is not None:
    out["members"] = {"seeds": list(map(int, members.seeds)),
                      "levels": [list(map(float, l)) for l in members.levels],
                      "pretrain_lr": list(map(float, members.pretrain_lr)),
                      "finetune_lr": list(map(float, members.finetune_lr))}
  out["data_source_used"] = data_source or "arrays"
  return out


def _open_run(config, data, splits, members, mesh, workdir, on_event, data_source) -> Run:
  """The ``Run`` of a configuration: hyperparameters, objectives, optimizer, writers."""
  many, d = members is not None, data["train"][0].shape[1]
  n_classes = n_classes_of(splits, config.dataset)
  compute_dtype = jnp.bfloat16 if config.precision == "bfloat16" else None
  if many:  # per-member (or scalar) traced hyperparameters
    hyper = {"seeds": members.seeds, "levels": members.levels,
             "pretrain_lr": members.pretrain_lr, "finetune_lr": members.finetune_lr}
  else:
    hyper = {"seeds": config.seed, "levels": config.levels(), "pretrain_lr": config.pretrain_lr,
             "finetune_lr": config.finetune_lr}
  hyper = {k: jnp.asarray(v, jnp.int32 if k == "seeds" else jnp.float32)
           for k, v in hyper.items()}
  if mesh is not None:  # members split over the mesh (or, for one model, replicated on it)
    from sdae import sharding  # pylint: disable=g-import-not-at-top
    hyper = (sharding.place_members if many else sharding.replicate)(hyper, mesh)
    data = sharding.replicate(data, mesh)
  # The greedy layer objectives (dA, RBM, or none at all): the driver only calls their
  # init / step / encode (``sdae.pretrain.LayerObjective``).
  objectives = pt.layer_objectives(
      config.pretraining, d, tuple(config.hidden), corruption=config.corruption, tied=config.tied,
      activation=config.activation, loss=config.loss, compute_dtype=compute_dtype,
      cd_steps=config.cd_steps)
  checkpointer = None
  if workdir is not None:
    checkpointer = ckpt_lib.Checkpointer(os.path.join(workdir, "checkpoints"),
                                         keep=max(1, config.keep_checkpoints),
                                         every_secs=config.checkpoint_every_secs,
                                         on_event=on_event)
  metrics = MetricsLog(os.path.join(workdir, "metrics.jsonl")
                       if workdir and distributed.is_writer() else None)
  prog = progress_lib.Progress(enabled=None if distributed.is_writer() else False)
  prog.header(progress_lib.run_header(
      config, data_source=data_source,
      sizes=tuple(len(splits[k][1]) for k in ("train", "valid", "test")), n_in=d,
      n_classes=n_classes, members=members, device=_device_text(mesh), workdir=workdir))
  return Run(config=config, members=members, data=data, n_classes=n_classes, hyper=hyper,
             objectives=objectives, tx=pt.make_optimizer(config.optimizer),
             module=ft.classifier(config.hidden, n_classes, config.activation, compute_dtype),
             mesh=mesh, checkpointer=checkpointer, metrics=metrics, progress=prog,
             emit=on_event or _no_event)


def _restore(run: Run) -> tuple[TrainState, bool]:
  """The state of the latest checkpoint (and True), or a fresh one (and False)."""
  state = TrainState(diverged=np.zeros(run.n_models() if run.many else 0, bool))
  restored = run.checkpointer.restore_latest() if run.checkpointer else None
  if restored is not None:
    arrays, meta = restored
    state.phase, state.layer, state.epoch = meta["phase"], int(meta["layer"]), int(meta["epoch"])
    state.seconds = dict(meta["seconds"])
    state.diverged = np.asarray(meta.get("diverged", state.diverged), bool)
    for k in range(int(meta["n_done_layers"])):
      like = jax.eval_shape(lambda: run.fresh_layer(k)[0])  # pylint: disable=cell-var-from-loop
      state.done_layers.append(run.place(ckpt_lib.from_state(like, arrays[f"layer{k}"])))
    if state.phase == "pretrain" and meta.get("has_current"):
      like_p, like_o = jax.eval_shape(lambda: run.fresh_layer(state.layer))
      state.params, state.opt_state = run.place((ckpt_lib.from_state(like_p, arrays["cur"]),
                                                 ckpt_lib.from_state(like_o, arrays["opt"])))
    if state.phase == "finetune":
      like_p, like_o, like_es = jax.eval_shape(lambda: run.fresh_finetune(state.done_layers))
      state.params, state.opt_state, state.early_stopping = run.place(
          (ckpt_lib.from_state(like_p, arrays["ft"]), ckpt_lib.from_state(like_o, arrays["opt"]),
           ckpt_lib.from_state(like_es, arrays["es"])))
    run.progress.message(f"resumed from checkpoint: phase {state.phase}, layer "
                         f"{state.layer + 1}, epoch {state.epoch}")
  # The epochs after the checkpoint (all of them without one) are trained and logged again.
  run.metrics.keep_until(state.phase if restored is not None else None, state.layer, state.epoch)
  return state, restored is not None


def _save(run: Run, state: TrainState, force: bool, step: int) -> None:
  """A checkpoint when forced or due. Every process decides alike (``due`` is process 0's
  clock) and gathers the whole state (``to_host``: a collective); orbax writes it once."""
  if run.checkpointer is None or not (force or run.checkpointer.due()):
    return
  trees, meta = state.checkpoint()
  arrays = ckpt_lib.to_state(distributed.to_host(trees))  # {"layer0": {"kernel": ...}, ...}
  run.checkpointer.save(step, arrays, meta, force=force)


def _pretrain(run: Run, state: TrainState) -> None:
  """Greedy layer-wise pretraining: each layer's objective trained on the clean codes of the
  layers below, epoch by epoch, from wherever ``state`` stands."""
  c, t_phase = run.config, time.monotonic()
  epochs, n_layers = c.pretrain_epochs, len(run.objectives)
  per_epoch = (run.data["train"][0].shape[0] // c.batch_size) * c.batch_size * run.n_models()
  codes, depth = run.data["train"][0], 0  # clean codes of the frozen layers 1..depth
  levels = run.hyper["levels"]
  while state.layer < n_layers:
    k = state.layer
    # Layer k trains on the codes of layers 1..k-1: one more layer of encoding per layer (all
    # of them after a resume), never once per epoch.
    while depth < k:
      codes = pt.compiled_encode(run.objectives[depth], run.many, shared_data=(depth == 0),
                                 mesh=run.mesh, loop=c.member_loop)(state.done_layers[depth],
                                                                     codes)
      depth += 1
    if state.params is None:
      state.params, state.opt_state = run.place(run.fresh_layer(k))
    epoch_fn = pt.compiled_pretrain_epoch(run.objectives[k], run.tx, c.batch_size, run.many,
                                          mesh=run.mesh, shared_data=(k == 0),
                                          loop=c.member_loop)
    level = levels[:, k] if run.many else levels[k]
    while state.epoch < epochs:
      t0 = time.monotonic()
      state.params, state.opt_state, losses = epoch_fn(
          state.params, state.opt_state, codes, run.hyper["seeds"], jnp.int32(k),
          jnp.int32(state.epoch), level)
      losses = distributed.to_host(losses)
      dt = time.monotonic() - t0
      run.check_losses(state, losses, f"pretraining layer {k + 1} epoch {state.epoch + 1}",
                       "--pretrain_lr", c.pretrain_lr)
      mean_loss = losses.mean(axis=-1)
      state.epoch += 1
      state.seconds["pretrain"] += dt
      run.progress.epoch(f"pretrain layer {k + 1}/{n_layers}", state.epoch, epochs, seconds=dt,
                         examples_per_s=per_epoch / dt, loss=mean_loss)
      run.metrics.write(phase="pretrain", layer=k + 1, epoch=state.epoch, loss=mean_loss,
                        examples_per_s=per_epoch / dt, seconds=dt)
      run.emit("epoch_end")
      if state.epoch < epochs:
        _save(run, state, False, k * epochs + state.epoch)
    state.done_layers.append(state.params)
    run.progress.end_phase()
    state.params = state.opt_state = None
    state.layer, state.epoch = k + 1, 0
    _save(run, state, True, state.layer * epochs)  # every layer boundary
    run.emit("layer_end")
  state.phase, state.epoch = "finetune", 0
  run.progress.message(
      f"pretraining done in {progress_lib.format_seconds(time.monotonic() - t_phase)}")


def _finetune(run: Run, state: TrainState) -> None:
  """Supervised fine-tuning with early stopping (``sdae.finetune``), from wherever ``state``
  stands; the best validation epoch's parameters are kept in ``state.early_stopping``."""
  c = run.config
  (x_train, y_train), (x_valid, y_valid) = run.data["train"], run.data["valid"]
  errors = ft.compiled_error_count(run.module, run.many, mesh=run.mesh, loop=c.member_loop)
  update_es = jax.jit(run.vmap(
      functools.partial(ft.update_early_stopping, patience_increase=c.patience_increase,
                        improvement_threshold=c.improvement_threshold), (0, 0, 0, None)))
  if state.params is None:
    state.params, state.opt_state, state.early_stopping = run.place(
        run.fresh_finetune(state.done_layers))
  batch = c.ft_batch_size()
  epoch_fn = ft.compiled_finetune_epoch(run.module, run.tx, batch, run.many, mesh=run.mesh,
                                        loop=c.member_loop)
  per_epoch = (x_train.shape[0] // batch) * batch * run.n_models()
  base_step = len(run.objectives) * c.pretrain_epochs
  inv_n_valid = np.float32(1.0 / x_valid.shape[0])
  while not ft.should_stop(state.early_stopping, state.epoch, c.finetune_epochs):
    t0 = time.monotonic()
    state.params, state.opt_state, losses = epoch_fn(
        state.params, state.opt_state, x_train, y_train, run.hyper["seeds"],
        jnp.int32(state.epoch))
    # A product, not a division: XLA:CPU divides approximately (1 ulp) in vectorised loops and
    # exactly in scalar ones, so `count / n` depended on how many members a device held.
    valid_err = errors(state.params, x_valid, y_valid).astype(jnp.float32) * inv_n_valid
    state.early_stopping = update_es(state.early_stopping, state.params, valid_err,
                                     jnp.int32(state.epoch))
    losses, valid_err, best_valid = distributed.to_host(
        (losses, valid_err, state.early_stopping["best_valid"]))
    dt = time.monotonic() - t0
    run.check_losses(state, losses, f"fine-tuning epoch {state.epoch + 1}", "--finetune_lr",
                     c.finetune_lr)
    state.epoch += 1
    state.seconds["finetune"] += dt
    v = np.asarray(valid_err) * 100
    # At most: early stopping may end the run before finetune_epochs.
    run.progress.epoch("finetune", state.epoch, c.finetune_epochs, seconds=dt, at_most=True,
                       examples_per_s=per_epoch / dt, loss=losses.mean(-1),
                       valid_error_pct=v, best_pct=best_valid * 100)
    run.metrics.write(phase="finetune", epoch=state.epoch, loss=losses.mean(-1),
                      valid_error_pct=v, examples_per_s=per_epoch / dt, seconds=dt)
    run.emit("finetune_epoch_end")
    _save(run, state, False, base_step + state.epoch)
  _save(run, state, True, base_step + state.epoch)


def _evaluate(run: Run, state: TrainState) -> dict[str, np.ndarray]:
  """The best-validation parameters' test error rate, validation error rate, mean validation
  cross-entropy (which breaks ties in validation error when a table or sweep selects a model)
  and best epoch (from 1), on the host; [M] each with members."""
  c, es = run.config, state.early_stopping
  (x_valid, y_valid), (x_test, y_test) = run.data["valid"], run.data["test"]
  best = es["best_params"]
  errors = ft.compiled_error_count(run.module, run.many, mesh=run.mesh, loop=c.member_loop)
  xent = ft.compiled_nll_sum(run.module, run.many, mesh=run.mesh, loop=c.member_loop)
  test_err, valid_best, best_epoch, valid_xent, patience = distributed.to_host(
      (errors(best, x_test, y_test), es["best_valid"], es["best_epoch"],
       xent(best, x_valid, y_valid), es["patience"]))
  out = {"test_error": test_err / int(x_test.shape[0]), "valid_error": valid_best,
         "best_epoch": best_epoch + 1, "valid_xent": valid_xent * np.float32(1.0 / x_valid.shape[0]),
         "n_test": int(x_test.shape[0])}
  run.progress.end_phase(progress_lib.early_stopping_note(
      state.epoch, c.finetune_epochs, out["best_epoch"], valid_best * 100, patience,
      initial_patience=c.patience, patience_increase=c.patience_increase,
      improvement_threshold=c.improvement_threshold))
  return out


def _results(run: Run, state: TrainState, ev: dict, cfg_dict: dict, data_source: str | None,
             wall: float | None) -> dict[str, Any]:
  """results.json (DESIGN.md); ``wall``: this process's wall time, None after a resume (the
  total is then the training time the checkpoints recorded)."""
  secs, n_test = state.seconds, ev["n_test"]
  total = secs["pretrain"] + secs["finetune"]
  results: dict[str, Any] = {
      "dataset": run.config.dataset, "data_source": data_source or "arrays", "n_test": n_test,
      "config": cfg_dict,
      "seconds": {"pretrain": round(secs["pretrain"], 2), "finetune": round(secs["finetune"], 2),
                  "total": round(total if wall is None else wall, 2),
                  "training": round(total, 2)},
      "device": jax.devices()[0].platform, "finetune_epochs_run": state.epoch,
  }
  if not run.many:
    results.update({
        "test_error_pct": round(float(ev["test_error"]) * 100, 4),
        "test_ci95_pct": round(ft.ci95_pct(float(ev["test_error"]), n_test), 4),
        "valid_error_pct": round(float(ev["valid_error"]) * 100, 4),
        "best_epoch": int(ev["best_epoch"]), "valid_xent": round(float(ev["valid_xent"]), 6)})
    return results
  # A diverged member's errors are null: whatever its NaN parameters predict is no result, and
  # model selection (sweep.select) skips it.
  m = run.members
  results["members"] = [
      {"seed": int(s), "levels": list(map(float, lv)), "pretrain_lr": float(pl),
       "finetune_lr": float(fl), "valid_error_pct": None if dv else float(ve * 100),
       "test_error_pct": None if dv else float(te * 100),
       "test_ci95_pct": None if dv else ft.ci95_pct(float(te), n_test),
       "best_epoch": int(be), "valid_xent": None if dv else float(vx), "diverged": bool(dv)}
      for s, lv, pl, fl, ve, te, be, vx, dv in zip(
          m.seeds, m.levels, m.pretrain_lr, m.finetune_lr, ev["valid_error"], ev["test_error"],
          ev["best_epoch"], ev["valid_xent"], state.diverged)]
  results["n_diverged"] = int(state.diverged.sum())
  return results


def _write_outputs(run: Run, state: TrainState, ev: dict, results: dict, workdir: str,
                   splits: dict, write_images: bool) -> None:
  """The pictures, results.json (atomically, last) and the closing summary."""
  d, many, pictures = run.data["train"][0].shape[1], run.many, []
  if write_images and d > 1 and not (many and state.diverged.all()):  # of a model that trained
    # With no pretraining, the filters are the fine-tuned first layer's.
    first_layer = (state.done_layers[0] if run.objectives
                   else state.early_stopping["best_params"]["encoder_0"])
    first_layer, levels = distributed.to_host((first_layer, run.hyper["levels"]))  # collective
    shown = int(np.argmin(state.diverged)) if many else 0  # the first member that trained
    if distributed.is_writer():
      pictures = write_pictures(workdir, first_layer, run.objectives[0] if run.objectives else None,
                                np.asarray(splits["test"][0][:12], np.float32),
                                float(levels[(shown, 0) if many else 0]), many,
                                dataset=run.config.dataset, member=shown)
  run.emit("results_write")
  if distributed.is_writer():
    ckpt_lib.write_json_atomic(os.path.join(workdir, "results.json"), results)
    if run.config.keep_checkpoints == 0:  # asked to keep none once the results are safe
      shutil.rmtree(os.path.join(workdir, "checkpoints"), ignore_errors=True)
  if not many:  # a sweep's summary is the sweep's (sdae.sweep.write_outputs)
    run.progress.summary(progress_lib.result_line(results), {
        "results": [os.path.join(workdir, "results.json")], "pictures": pictures,
        "metrics": [os.path.join(workdir, "metrics.jsonl")]})


def _device_text(mesh) -> str:
  """``'cpu (2 devices)'``, ``'gpu NVIDIA H200 (1 device)'``: what the run computes on."""
  devices = list(mesh.devices.flat) if mesh is not None else jax.devices()
  kind = getattr(devices[0], "device_kind", "") or ""
  name = devices[0].platform + (f" {kind}" if kind and kind.lower() != "cpu" else "")
  return f"{name} ({len(devices)} device{'s' * (len(devices) > 1)})"


def write_pictures(workdir: str, first_layer, objective: pt.LayerObjective | None,
                   x: np.ndarray, level: float, many: bool,
                   dataset: str | None = None, member: int = 0) -> list[str]:
  """filters.png (first-layer filters) and, for a pretrained first layer, reconstructions.png
  (rows: clean, corrupted for a dA, reconstructed), each with its PDF; returns the paths
  written (none when the inputs are not square images). ``objective`` None: no pretraining, the
  filters are the fine-tuned first layer's. With ``many``, of member ``member``."""
  from sdae import viz
  if many:
    first_layer = jax.tree.map(lambda a: a[member], first_layer)
  if viz.square_side(x.shape[1]) is None:
    return []
  kernel = np.asarray(first_layer["kernel"])
  if objective is None:
    what, shown_level = "no pretraining (fine-tuned weights)", None
  elif objective.name == "rbm":
    what, shown_level = f"RBM, CD-{objective.cd_steps}", None
  else:
    what, shown_level = objective.corruption, level
  written = viz.save_filters(kernel, os.path.join(workdir, "filters.png"), corruption=what,
                             level=shown_level, dataset=dataset)
  if objective is None:
    return written
  key = pt.derive_key(0, pt.EVAL)
  seen, rebuilt = objective.reconstruct(first_layer, key, jnp.asarray(x), jnp.float32(level))
  label = viz.level_text(what, shown_level)
  rows = [("clean", x)]
  if objective.name == "denoising":
    rows.append((f"corrupted\n({label})", np.asarray(seen)))
  rows.append(("reconstructed", np.asarray(rebuilt)))
  title = (f"{dataset + ': ' if dataset else ''}layer 1 reconstructions of test images "
           f"({kernel.shape[1]} units, {label})")
  written += viz.save_rows(rows, os.path.join(workdir, "reconstructions.png"), title)
  return written
