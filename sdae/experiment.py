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
from typing import Any, Sequence

import logging

import jax
import jax.numpy as jnp
import numpy as np

from sdae import checkpoint as ckpt_lib
from sdae import config as config_lib
from sdae import corruption as corruption_lib
from sdae import distributed
from sdae import faults
from sdae import finetune as ft
from sdae import model as model_lib
from sdae import pretrain as pt
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
  """The part of a config that defines the run (runtime-only settings may change on resume)."""
  return {k: v for k, v in cfg.items() if k not in _RUNTIME_ONLY}


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
  """Appends one JSON object per line to ``workdir/metrics.jsonl`` (flushed each write)."""

  def __init__(self, path: str | None):
    self.path = path

  def write(self, **row) -> None:
    if self.path is None:
      return
    row = {k: (np.asarray(v).tolist() if isinstance(v, (np.ndarray, np.generic)) else v)
           for k, v in row.items()}
    with open(self.path, "a") as f:
      f.write(json.dumps(row) + "\n")


# --- the driver ----------------------------------------------------------------------------------


def _vmap_if(fn, members: bool, in_axes):
  return jax.vmap(fn, in_axes=in_axes) if members else fn


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
                       write_images: bool = True, mesh: Any = None) -> dict[str, Any]:
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

  Returns:
    For one model, the results dict of DESIGN.md (``test_error_pct``, ``test_ci95_pct``, ...).
    With members, the same with per-member lists under ``members``.
  """
  config_lib.validate(config)
  t_start = time.monotonic()
  cfg_dict = config.to_dict()
  if members is not None:
    cfg_dict["members"] = {"seeds": list(map(int, members.seeds)),
                           "levels": [list(map(float, l)) for l in members.levels],
                           "pretrain_lr": list(map(float, members.pretrain_lr)),
                           "finetune_lr": list(map(float, members.finetune_lr))}
  if splits is None:
    splits, data_source = load_data(with_recorded_source(config, workdir, overwrite))
  else:
    data_source = source_of(splits, data_source)
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
  n_layers = len(config.hidden)
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

  specs = pt.layer_specs(d, tuple(config.hidden), config.corruption, config.tied,
                         config.activation, config.loss, compute_dtype)
  tx = pt.make_optimizer(config.optimizer)
  module = ft.classifier(config.hidden, n_classes, config.activation, compute_dtype)
  init_opt = jax.jit(_vmap_if(functools.partial(pt.init_opt_state, tx), many, (0, 0)))

  checkpointer = None
  if workdir is not None:
    checkpointer = ckpt_lib.Checkpointer(os.path.join(workdir, "checkpoints"),
                                         keep=max(1, config.keep_checkpoints),
                                         every_secs=config.checkpoint_every_secs)
  metrics = MetricsLog(os.path.join(workdir, "metrics.jsonl")
                       if workdir and distributed.is_writer() else None)

  # ---- state, fresh or restored ----
  phase, layer, epoch = "pretrain", 0, 0
  done_layers: list = []
  cur_params = cur_opt = None
  ft_params = ft_opt = es = None
  seconds = {"pretrain": 0.0, "finetune": 0.0}
  restored = checkpointer.restore_latest() if checkpointer else None

  def fresh_layer(k):
    init = _vmap_if(lambda s: pt.init_layer(specs[k], s, k), many, (0,))
    p = jax.jit(init)(seeds)
    return p, init_opt(p, pre_lr)

  def fresh_finetune():
    head = _vmap_if(lambda s: ft.init_head(s, config.hidden[-1], n_classes), many, (0,))(seeds)
    # A copy: the fine-tuning epoch donates its inputs, and done_layers must stay alive.
    p = jax.tree.map(jnp.copy, model_lib.stack_params(done_layers, head))
    return p, init_opt(p, fine_lr), _vmap_if(lambda q: ft.init_early_stopping(q, config.patience),
                                             many, (0,))(p)

  if restored is not None:
    arrays, meta = restored
    phase, layer, epoch = meta["phase"], int(meta["layer"]), int(meta["epoch"])
    seconds = dict(meta["seconds"])
    for k in range(int(meta["n_done_layers"])):
      like = jax.eval_shape(lambda: fresh_layer(k)[0])
      done_layers.append(place(ckpt_lib.unflatten(like, arrays, f"layer{k}"), mesh))
    if phase == "pretrain" and meta.get("has_current"):
      like_p, like_o = jax.eval_shape(lambda: fresh_layer(layer))
      cur_params, cur_opt = place((ckpt_lib.unflatten(like_p, arrays, "cur"),
                                   ckpt_lib.unflatten(like_o, arrays, "opt")), mesh)
    if phase == "finetune":
      like_p, like_o, like_es = jax.eval_shape(fresh_finetune)
      ft_params, ft_opt, es = place((ckpt_lib.unflatten(like_p, arrays, "ft"),
                                     ckpt_lib.unflatten(like_o, arrays, "opt"),
                                     ckpt_lib.unflatten(like_es, arrays, "es")), mesh)
    log.info("resumed from checkpoint: phase %s, layer %d, epoch %d", phase, layer, epoch)

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
    arrays = {}
    for prefix, tree in distributed.to_host(trees).items():
      arrays.update(ckpt_lib.flatten(tree, prefix))
    meta = {"phase": phase, "layer": layer, "epoch": epoch, "n_done_layers": len(done_layers),
            "has_current": cur_params is not None, "seconds": seconds}
    checkpointer.save(step, arrays, meta, force=force)

  pre_epochs = config.pretrain_epochs
  n_models = len(members) if many else 1
  examples_per_epoch = (n // config.batch_size) * config.batch_size * n_models

  # ---- greedy layer-wise pretraining ----
  if phase == "pretrain":
    t_phase = time.monotonic()
    codes, depth = x_train, 0  # clean codes of the frozen layers 1..depth
    while layer < n_layers:
      spec = specs[layer]
      # Layer k trains on the codes of layers 1..k-1: one more layer of encoding per layer (all
      # of them after a resume), never once per epoch.
      while depth < layer:
        codes = pt.compiled_encode(specs[depth], many, shared_data=(depth == 0), mesh=mesh)(
            done_layers[depth], codes)
        depth += 1
      if cur_params is None:
        cur_params, cur_opt = fresh_layer(layer)
      epoch_fn = pt.compiled_pretrain_epoch(spec, tx, config.batch_size, many, mesh=mesh,
                                            shared_data=(layer == 0))
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
        mean_loss = losses.mean(axis=-1)
        epoch += 1
        seconds["pretrain"] += dt
        left = (n_layers - layer - 1) * pre_epochs + (pre_epochs - epoch)
        log.info("pretrain layer %d/%d epoch %d/%d loss %s  %.0f ex/s  pretraining ETA %.0fs",
                     layer + 1, n_layers, epoch, pre_epochs, np.round(mean_loss, 3),
                     examples_per_epoch / dt, left * dt)
        metrics.write(phase="pretrain", layer=layer + 1, epoch=epoch, loss=mean_loss,
                      examples_per_s=examples_per_epoch / dt, seconds=dt)
        faults.maybe_fail("epoch_end")
        if epoch < pre_epochs:
          save(False, layer * pre_epochs + epoch)
      done_layers.append(cur_params)
      cur_params = cur_opt = None
      layer, epoch = layer + 1, 0
      save(True, layer * pre_epochs)  # every layer boundary
      faults.maybe_fail("layer_end")
    del codes
    phase, epoch = "finetune", 0
    log.info("pretraining done in %.1fs", time.monotonic() - t_phase)

  # ---- supervised fine-tuning with early stopping ----
  x_valid, y_valid = data["valid"]
  x_test, y_test = data["test"]
  errors = ft.compiled_error_count(module, many, mesh=mesh)
  update_es = jax.jit(_vmap_if(
      functools.partial(ft.update_early_stopping, patience_increase=config.patience_increase,
                        improvement_threshold=config.improvement_threshold),
      many, (0, 0, 0, None)))
  if ft_params is None:
    ft_params, ft_opt, es = fresh_finetune()
  ft_batch = config.ft_batch_size()
  ft_epoch_fn = ft.compiled_finetune_epoch(module, tx, ft_batch, many, mesh=mesh)
  examples_per_epoch = (n // ft_batch) * ft_batch * n_models
  base_step = n_layers * pre_epochs
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
    epoch += 1
    seconds["finetune"] += dt
    v = np.asarray(valid_err) * 100
    # At most: early stopping may end the run before finetune_epochs.
    log.info("finetune epoch %d/%d loss %s valid error %s%%  best %s%%  %.0f ex/s  "
             "fine-tuning ETA <= %.0fs", epoch, config.finetune_epochs,
             np.round(losses.mean(-1), 4), np.round(v, 2), np.round(best_valid * 100, 2),
             examples_per_epoch / dt, (config.finetune_epochs - epoch) * dt)
    metrics.write(phase="finetune", epoch=epoch, loss=losses.mean(-1), valid_error_pct=v,
                  examples_per_s=examples_per_epoch / dt, seconds=dt)
    faults.maybe_fail("finetune_epoch_end")
    save(False, base_step + epoch)
  save(True, base_step + epoch)

  # ---- evaluation of the best-validation parameters ----
  best = es["best_params"]
  n_test = int(x_test.shape[0])
  test_err, valid_best, best_epoch = distributed.to_host(
      (errors(best, x_test, y_test), es["best_valid"], es["best_epoch"]))
  test_err, best_epoch = test_err / n_test, best_epoch + 1
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
    results["members"] = [
        {"seed": int(s), "levels": list(map(float, lv)), "pretrain_lr": float(pl),
         "finetune_lr": float(fl), "valid_error_pct": float(ve * 100),
         "test_error_pct": float(te * 100), "test_ci95_pct": ft.ci95_pct(float(te), n_test),
         "best_epoch": int(be)}
        for s, lv, pl, fl, ve, te, be in zip(members.seeds, members.levels, members.pretrain_lr,
                                             members.finetune_lr, valid_best, test_err,
                                             best_epoch)]
  else:
    results.update({
        "test_error_pct": round(float(test_err) * 100, 4),
        "test_ci95_pct": round(ft.ci95_pct(float(test_err), n_test), 4),
        "valid_error_pct": round(float(valid_best) * 100, 4),
        "best_epoch": int(best_epoch),
    })
  if checkpointer is not None:
    results["checkpoint_seconds"] = round(checkpointer.seconds_saving, 3)
    checkpointer.close()
  results = results_lib.complete(results, n_train=n, n_valid=n_valid,
                                 finetune_batch_size=ft_batch)
  if workdir is not None:
    if write_images and d > 1:
      first_layer, host_levels = distributed.to_host((done_layers[0], levels))  # all processes
      if distributed.is_writer():
        write_pictures(workdir, first_layer, specs[0],
                       np.asarray(splits["test"][0][:12], np.float32),
                       float(host_levels[(0, 0) if many else 0]), many)
    faults.maybe_fail("results_write")
    if distributed.is_writer():
      ckpt_lib.write_json_atomic(os.path.join(workdir, "results.json"), results)
      if config.keep_checkpoints == 0:  # asked to keep none once the results are safe
        shutil.rmtree(os.path.join(workdir, "checkpoints"), ignore_errors=True)
  return results


def write_pictures(workdir: str, first_layer, spec: pt.LayerSpec, x: np.ndarray, level: float,
                   many: bool) -> None:
  """filters.png (first-layer filters) and reconstructions.png (clean / corrupted / rebuilt)."""
  from sdae import viz
  import math
  if many:
    first_layer = jax.tree.map(lambda a: a[0], first_layer)
  side = math.isqrt(x.shape[1])
  if side * side != x.shape[1]:
    return
  viz.save_filters(np.asarray(first_layer["kernel"]), os.path.join(workdir, "filters.png"))
  key = pt.derive_key(0, pt.EVAL)
  x_tilde = corruption_lib.get(spec.corruption)(key, jnp.asarray(x), level)
  rebuilt = spec.module().apply({"params": first_layer}, x_tilde, method="reconstruct")
  viz.save_rows([x, np.asarray(x_tilde), np.asarray(rebuilt)],
                os.path.join(workdir, "reconstructions.png"))
