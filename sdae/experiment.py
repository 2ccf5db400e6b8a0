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
  """(splits, data_source) for ``config.dataset``; splits as in ``sdae.data.load``."""
  from sdae import data as data_lib
  source = data_lib.pick_source(config.dataset, config.data_source, config.data_dir,
                                cache_dir=config.cache_dir)
  splits = data_lib.load(config.dataset, source=source, data_dir=config.data_dir,
                         seed=0, cache_dir=config.cache_dir)
  return splits, source


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


_RUNTIME_ONLY = ("checkpoint_every_secs", "keep_checkpoints", "data_dir", "cache_dir")


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


def _vmap_if(fn, members: bool, in_axes):
  return jax.vmap(fn, in_axes=in_axes) if members else fn


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
      name from ``config.dataset`` when None.
    data_source: recorded in the results when ``splits`` is given.
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
  emit = on_event or _no_event
  t_start = time.monotonic()
  cfg_dict = config.to_dict()
  if members is not None:
    cfg_dict["members"] = {"seeds": list(map(int, members.seeds)),
                           "levels": [list(map(float, l)) for l in members.levels],
                           "pretrain_lr": list(map(float, members.pretrain_lr)),
                           "finetune_lr": list(map(float, members.finetune_lr))}
  if splits is None:
    splits, data_source = load_data(config)
  # The source actually read is part of the run's identity: a workdir trained on regenerated data
  # is not resumed (or read back by reproduce_table) on the original files, or the other way.
  cfg_dict["data_source_used"] = data_source or "arrays"
  # Before anything touches a device (no backend logs, one line).
  config_lib.check_batches_fit(config, len(splits["train"][1][:config.n_train or None]))
  data = _device_splits(splits, config.n_train, mesh)
  x_train, y_train = data["train"]
  n, d = x_train.shape
  if workdir is not None:  # only once the data and the batch size are known to be good
    prepare_workdir(workdir, cfg_dict, overwrite)
  n_classes = n_classes_of(splits, config.dataset)
  many = members is not None
  compute_dtype = jnp.bfloat16 if config.precision == "bfloat16" else None

  # Per-member (or scalar) traced hyperparameters.
  if many:
    seeds = jnp.asarray(members.seeds, jnp.int32)
    levels = jnp.asarray(members.levels, jnp.float32)  # [M, L]
    pre_lr = jnp.asarray(members.pretrain_lr, jnp.float32)
    fine_lr = jnp.asarray(members.finetune_lr, jnp.float32)
  else:
    seeds = jnp.asarray(config.seed, jnp.int32)
    levels = jnp.asarray(config.levels(), jnp.float32)  # [L]
    pre_lr = jnp.asarray(config.pretrain_lr, jnp.float32)
    fine_lr = jnp.asarray(config.finetune_lr, jnp.float32)
  place = lambda tree, mesh: tree  # pylint: disable=unnecessary-lambda-assignment
  if mesh is not None:  # members split over the mesh (or, for one model, replicated on it)
    from sdae import sharding
    place = sharding.place_members if many else sharding.replicate
    seeds, levels, pre_lr, fine_lr = place((seeds, levels, pre_lr, fine_lr), mesh)
    data = sharding.replicate(data, mesh)
    x_train, y_train = data["train"]
  layer_level = (lambda k: levels[:, k]) if many else (lambda k: levels[k])

  # The greedy layer objectives (dA, RBM, or none at all): the driver only calls their
  # init / step / encode (``sdae.pretrain.LayerObjective``).
  objectives = pt.layer_objectives(
      config.pretraining, d, tuple(config.hidden), corruption=config.corruption, tied=config.tied,
      activation=config.activation, loss=config.loss, compute_dtype=compute_dtype,
      cd_steps=config.cd_steps)
  n_pretrained = len(objectives)
  tx = pt.make_optimizer(config.optimizer)
  module = ft.classifier(config.hidden, n_classes, config.activation, compute_dtype)
  init_opt = jax.jit(_vmap_if(functools.partial(pt.init_opt_state, tx), many, (0, 0)))

  checkpointer = None
  if workdir is not None:
    checkpointer = ckpt_lib.Checkpointer(os.path.join(workdir, "checkpoints"),
                                         keep=config.keep_checkpoints,
                                         every_secs=config.checkpoint_every_secs,
                                         on_event=on_event)
  metrics = MetricsLog(os.path.join(workdir, "metrics.jsonl")
                       if workdir and distributed.is_writer() else None)
  prog = progress_lib.Progress(enabled=None if distributed.is_writer() else False)
  prog.header(progress_lib.run_header(
      config, data_source=data_source,
      sizes=tuple(len(splits[k][1]) for k in ("train", "valid", "test")), n_in=d,
      n_classes=n_classes,
      members=members, device=_device_text(mesh), workdir=workdir))

  # ---- state, fresh or restored ----
  phase, layer, epoch = "pretrain", 0, 0
  done_layers: list = []
  cur_params = cur_opt = None
  ft_params = ft_opt = es = None
  seconds = {"pretrain": 0.0, "finetune": 0.0}
  diverged = np.zeros(len(members) if many else 0, bool)  # per member, kept in the checkpoint
  restored = checkpointer.restore_latest() if checkpointer else None

  def fresh_layer(k):
    init = _vmap_if(lambda s: pt.init_layer(objectives[k], s, k), many, (0,))
    p = jax.jit(init)(seeds)
    return p, init_opt(p, pre_lr)

  def fresh_finetune():
    if not objectives:  # no pretraining: the randomly initialised deep network
      p = jax.jit(_vmap_if(lambda s: ft.init_classifier(module, s, d), many, (0,)))(seeds)
    else:
      head = _vmap_if(lambda s: ft.init_head(s, config.hidden[-1], n_classes), many, (0,))(seeds)
      # A copy: the fine-tuning epoch donates its inputs, and done_layers must stay alive.
      p = jax.tree.map(jnp.copy, model_lib.stack_params(done_layers, head))
    return p, init_opt(p, fine_lr), _vmap_if(lambda q: ft.init_early_stopping(q, config.patience),
                                             many, (0,))(p)

  if restored is not None:
    arrays, meta = restored
    phase, layer, epoch = meta["phase"], int(meta["layer"]), int(meta["epoch"])
    seconds = dict(meta["seconds"])
    diverged = np.asarray(meta.get("diverged", diverged), bool)
    for k in range(int(meta["n_done_layers"])):
      like = jax.eval_shape(lambda: fresh_layer(k)[0])
      done_layers.append(place(ckpt_lib.from_state(like, arrays[f"layer{k}"]), mesh))
    if phase == "pretrain" and meta.get("has_current"):
      like_p, like_o = jax.eval_shape(lambda: fresh_layer(layer))
      cur_params, cur_opt = place((ckpt_lib.from_state(like_p, arrays["cur"]),
                                   ckpt_lib.from_state(like_o, arrays["opt"])), mesh)
    if phase == "finetune":
      like_p, like_o, like_es = jax.eval_shape(fresh_finetune)
      ft_params, ft_opt, es = place((ckpt_lib.from_state(like_p, arrays["ft"]),
                                     ckpt_lib.from_state(like_o, arrays["opt"]),
                                     ckpt_lib.from_state(like_es, arrays["es"])), mesh)
    prog.message(f"resumed from checkpoint: phase {phase}, layer {layer + 1}, epoch {epoch}")
  # The epochs after the checkpoint (all of them without one) are trained and logged again.
  metrics.keep_until(phase if restored is not None else None, layer, epoch)

  def save(force: bool, step: int) -> None:
    # Every process decides alike (due() is process 0's clock) and saves the whole state
    # (to_host: a collective); orbax writes it once, from process 0.
    if checkpointer is None or not (force or checkpointer.due()):
      return
    trees = {f"layer{k}": p for k, p in enumerate(done_layers)}
    if phase == "pretrain" and cur_params is not None:
      trees.update(cur=cur_params, opt=cur_opt)
    if phase == "finetune":
      trees.update(ft=ft_params, opt=ft_opt, es=es)
    arrays = ckpt_lib.to_state(distributed.to_host(trees))  # {"layer0": {"kernel": ...}, ...}
    meta = {"phase": phase, "layer": layer, "epoch": epoch, "n_done_layers": len(done_layers),
            "has_current": cur_params is not None, "seconds": seconds,
            "diverged": diverged.tolist()}
    checkpointer.save(step, arrays, meta, force=force)

  pre_epochs = config.pretrain_epochs
  n_models = len(members) if many else 1
  examples_per_epoch = (n // config.batch_size) * config.batch_size * n_models

  # ---- greedy layer-wise pretraining ----
  if phase == "pretrain":
    t_phase = time.monotonic()
    codes, depth = x_train, 0  # clean codes of the frozen layers 1..depth
    while layer < n_pretrained:
      spec = objectives[layer]
      # Layer k trains on the codes of layers 1..k-1: one more layer of encoding per layer (all
      # of them after a resume), never once per epoch.
      while depth < layer:
        codes = pt.compiled_encode(objectives[depth], many, shared_data=(depth == 0), mesh=mesh,
                                   loop=config.member_loop)(done_layers[depth], codes)
        depth += 1
      if cur_params is None:
        # Laid out as the epoch lays out its outputs (a zero bias comes out of init replicated,
        # not split by member), so the second epoch reuses the first one's compilation.
        cur_params, cur_opt = place(fresh_layer(layer), mesh)
      epoch_fn = pt.compiled_pretrain_epoch(spec, tx, config.batch_size, many, mesh=mesh,
                                            shared_data=(layer == 0), loop=config.member_loop)
      while epoch < pre_epochs:
        t0 = time.monotonic()
        cur_params, cur_opt, losses = epoch_fn(cur_params, cur_opt, codes, seeds,
                                               jnp.int32(layer), jnp.int32(epoch),
                                               layer_level(layer))
        losses = distributed.to_host(losses)
        dt = time.monotonic() - t0
        if not many:
          _check_finite(losses, f"pretraining layer {layer + 1} epoch {epoch + 1}",
                        "--pretrain_lr", config.pretrain_lr)
        else:
          diverged = _note_diverged(diverged, losses,
                                    f"pretraining layer {layer + 1} epoch {epoch + 1}", members)
        mean_loss = losses.mean(axis=-1)
        epoch += 1
        seconds["pretrain"] += dt
        prog.epoch(f"pretrain layer {layer + 1}/{n_pretrained}", epoch, pre_epochs, seconds=dt,
                   examples_per_s=examples_per_epoch / dt, loss=mean_loss)
        metrics.write(phase="pretrain", layer=layer + 1, epoch=epoch, loss=mean_loss,
                      examples_per_s=examples_per_epoch / dt, seconds=dt)
        emit("epoch_end")
        if epoch < pre_epochs:
          save(False, layer * pre_epochs + epoch)
      done_layers.append(cur_params)
      prog.end_phase()
      cur_params = cur_opt = None
      layer, epoch = layer + 1, 0
      save(True, layer * pre_epochs)  # every layer boundary
      emit("layer_end")
    del codes
    phase, epoch = "finetune", 0
    prog.message(f"pretraining done in {progress_lib.format_seconds(time.monotonic() - t_phase)}")

  # ---- supervised fine-tuning with early stopping ----
  x_valid, y_valid = data["valid"]
  x_test, y_test = data["test"]
  errors = ft.compiled_error_count(module, many, mesh=mesh, loop=config.member_loop)
  update_es = jax.jit(_vmap_if(
      functools.partial(ft.update_early_stopping, patience_increase=config.patience_increase,
                        improvement_threshold=config.improvement_threshold),
      many, (0, 0, 0, None)))
  if ft_params is None:
    ft_params, ft_opt, es = place(fresh_finetune(), mesh)  # as for fresh_layer's
  ft_batch = config.ft_batch_size()
  ft_epoch_fn = ft.compiled_finetune_epoch(module, tx, ft_batch, many, mesh=mesh,
                                           loop=config.member_loop)
  examples_per_epoch = (n // ft_batch) * ft_batch * n_models
  base_step = n_pretrained * pre_epochs
  n_valid = x_valid.shape[0]
  inv_n_valid = np.float32(1.0 / n_valid)
  while not ft.should_stop(es, epoch, config.finetune_epochs):
    t0 = time.monotonic()
    ft_params, ft_opt, losses = ft_epoch_fn(ft_params, ft_opt, x_train, y_train, seeds,
                                            jnp.int32(epoch))
    # A product, not a division: XLA:CPU divides approximately (1 ulp) in vectorised loops and
    # exactly in scalar ones, so `count / n` depended on how many members a device held.
    valid_err = errors(ft_params, x_valid, y_valid).astype(jnp.float32) * inv_n_valid
    es = update_es(es, ft_params, valid_err, jnp.int32(epoch))
    losses, valid_err, best_valid = distributed.to_host((losses, valid_err, es["best_valid"]))
    dt = time.monotonic() - t0
    if not many:
      _check_finite(losses, f"fine-tuning epoch {epoch + 1}", "--finetune_lr", config.finetune_lr)
    else:
      diverged = _note_diverged(diverged, losses, f"fine-tuning epoch {epoch + 1}", members)
    epoch += 1
    seconds["finetune"] += dt
    v = np.asarray(valid_err) * 100
    # At most: early stopping may end the run before finetune_epochs.
    prog.epoch("finetune", epoch, config.finetune_epochs, seconds=dt, at_most=True,
               examples_per_s=examples_per_epoch / dt, loss=losses.mean(-1),
               valid_error_pct=v, best_pct=best_valid * 100)
    metrics.write(phase="finetune", epoch=epoch, loss=losses.mean(-1), valid_error_pct=v,
                  examples_per_s=examples_per_epoch / dt, seconds=dt)
    emit("finetune_epoch_end")
    save(False, base_step + epoch)
  save(True, base_step + epoch)

  # ---- evaluation of the best-validation parameters ----
  best = es["best_params"]
  n_test = int(x_test.shape[0])
  # The mean validation cross-entropy of the chosen parameters breaks ties in validation error
  # when a table or sweep selects a model (``sweep.select``).
  valid_xent = ft.compiled_nll_sum(module, many, mesh=mesh, loop=config.member_loop)(
      best, x_valid, y_valid)
  test_err, valid_best, best_epoch, valid_xent = distributed.to_host(
      (errors(best, x_test, y_test), es["best_valid"], es["best_epoch"], valid_xent))
  test_err, best_epoch = test_err / n_test, best_epoch + 1
  valid_xent = valid_xent * inv_n_valid
  prog.end_phase(progress_lib.early_stopping_note(
      epoch, config.finetune_epochs, best_epoch, valid_best * 100,
      distributed.to_host(es["patience"]), initial_patience=config.patience,
      patience_increase=config.patience_increase,
      improvement_threshold=config.improvement_threshold))
  total = seconds["pretrain"] + seconds["finetune"]
  results: dict[str, Any] = {
      "dataset": config.dataset,
      "data_source": data_source or "arrays",
      "n_test": n_test,
      "config": cfg_dict,
      "seconds": {"pretrain": round(seconds["pretrain"], 2),
                  "finetune": round(seconds["finetune"], 2),
                  "total": round(time.monotonic() - t_start if restored is None else total, 2),
                  "training": round(total, 2)},
      "device": jax.devices()[0].platform,
      "finetune_epochs_run": epoch,
  }
  if many:
    # A diverged member's errors are null: whatever its NaN parameters predict is no result,
    # and model selection (sweep.select) skips it.
    results["members"] = [
        {"seed": int(s), "levels": list(map(float, lv)), "pretrain_lr": float(pl),
         "finetune_lr": float(fl), "valid_error_pct": None if dv else float(ve * 100),
         "test_error_pct": None if dv else float(te * 100),
         "test_ci95_pct": None if dv else ft.ci95_pct(float(te), n_test),
         "best_epoch": int(be), "valid_xent": None if dv else float(vx), "diverged": bool(dv)}
        for s, lv, pl, fl, ve, te, be, vx, dv in zip(
            members.seeds, members.levels, members.pretrain_lr, members.finetune_lr, valid_best,
            test_err, best_epoch, valid_xent, diverged)]
    results["n_diverged"] = int(diverged.sum())
  else:
    results.update({
        "test_error_pct": round(float(test_err) * 100, 4),
        "test_ci95_pct": round(ft.ci95_pct(float(test_err), n_test), 4),
        "valid_error_pct": round(float(valid_best) * 100, 4),
        "best_epoch": int(best_epoch),
        "valid_xent": round(float(valid_xent), 6),
    })
  if checkpointer is not None:
    results["checkpoint_seconds"] = round(checkpointer.seconds_saving, 3)
    checkpointer.close()
  if workdir is not None:
    pictures = []
    if write_images and d > 1 and not (many and diverged.all()):  # of a model that trained
      # With no pretraining, the filters are the fine-tuned first layer's.
      first_layer = done_layers[0] if objectives else best["encoder_0"]
      first_layer, host_levels = distributed.to_host((first_layer, levels))  # all processes
      shown = int(np.argmin(diverged)) if many else 0  # the first member that did not diverge
      if distributed.is_writer():
        pictures = write_pictures(workdir, first_layer, objectives[0] if objectives else None,
                                  np.asarray(splits["test"][0][:12], np.float32),
                                  float(host_levels[(shown, 0) if many else 0]), many,
                                  dataset=config.dataset, member=shown)
    emit("results_write")
    if distributed.is_writer():
      ckpt_lib.write_json_atomic(os.path.join(workdir, "results.json"), results)
    if not many:  # a sweep's summary is the sweep's (sdae.sweep.write_outputs)
      prog.summary(progress_lib.result_line(results), {
          "results": [os.path.join(workdir, "results.json")], "pictures": pictures,
          "metrics": [os.path.join(workdir, "metrics.jsonl")]})
  return results


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
