"""``train_and_evaluate``: greedy pretraining, fine-tuning and evaluation, resumable.

The driver is a short sequence of phases over one ``TrainState`` (``sdae.run_state``):
``_open_run`` fixes what the run trains with (a ``Run``: data on the devices, each member's
traced hyperparameters, the layer objectives, the writers), ``_restore`` resumes from the last
checkpoint, ``_pretrain`` trains each layer's objective greedily (a dA, an RBM, or none:
``sdae.pretrain.LayerObjective``), ``_finetune`` trains the classifier with early stopping,
``_evaluate`` measures the best-validation parameters, and the results and pictures are written
at the edge. One driver serves a sweep of M models trained together (``members``) and a single
model, which it trains as a sweep of one (``Members.of_config``): every array of the state
carries a leading member axis and the compiled epochs run over it, so a whole sweep is one XLA
program per epoch, and one member is the single model's own program
(``sdae.sharding.one_member``). Only the outputs tell a single model apart (``Run.single``):
results.json, metrics.jsonl, the progress lines and the checkpoints keep its formats, and its
divergence is the run's error where a sweep's member is marked and the others train on.

The workdir holds ``config.json``, ``checkpoints/`` (orbax), ``metrics.jsonl`` (one JSON object per
epoch, to follow live), ``results.json``, ``filters.png`` and ``reconstructions.png``. Running
again with the same workdir resumes from the last checkpoint; a workdir of a different
configuration is refused unless ``overwrite``.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import shutil
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from sdae import checkpoint as ckpt_lib
from sdae import config as config_lib
from sdae import distributed
from sdae import finetune as ft
from sdae import pretrain as pt
from sdae import pruning as pruning_lib
from sdae import shared_pretraining as shared
from sdae import sharding
from sdae.io import preemption
from sdae.io import progress as progress_lib
from sdae.io import results as results_lib
from sdae.io import runlock
# Re-exported: the names callers and tests use for the run's pieces and errors.
from sdae.experiment_errors import DivergenceError, RunError  # noqa: F401
from sdae.io.workdir import (MetricsLog, prepare_workdir, recorded_config,  # noqa: F401
                             with_recorded_source)
from sdae.pictures import write_pictures
from sdae.run_data import (device_splits as _device_splits, load_data, n_classes_of, source_of,
                           version_of)
from sdae.run_state import EVENTS, Members, Run, TrainState, _no_event  # noqa: F401

log = logging.getLogger("sdae")


def train_and_evaluate(config: config_lib.TrainConfig, workdir: str | None, *,
                       splits: dict | None = None, data_source: str | None = None,
                       members: Members | None = None, overwrite: bool = False,
                       write_images: bool = True, mesh: Any = None,
                       on_event: Callable[[str], None] | None = None,
                       pretrained_from: Sequence[str] = (),
                       pruning: pruning_lib.Pruning | None = None) -> dict[str, Any]:
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
      model, each minibatch is (data parallelism: the mesh is taken as a ``data_mesh``). The data
      are replicated on its devices.
    on_event: called with the name of each point the run passes (``EVENTS``), e.g. by tests
      that kill the process there; also handed to the ``Checkpointer``.
    pretrained_from: workdirs of other runs (e.g. a table row's earlier groups): when they
      pretrained the stack of every member, or its first layers (``sdae.shared_pretraining``),
      a fresh run reads those layers from their checkpoints and pretrains only the layers
      above them, if any. Members that share a stack pretrain it once in any case.
    pruning: how to stop losing members' fine-tuning early (``sdae.pruning``: a table cell's
      rule and its earlier groups); None: no pruning.

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
  data_version = version_of(splits)
  cfg_dict = config_record(config, members, data_source, data_version)
  # Before anything touches a device (no backend logs, one line).
  config_lib.check_batches_fit(config, len(splits["train"][1][:config.n_train or None]))
  data = _device_splits(splits, config.n_train, mesh)
  # One writer per workdir for the whole run (a second launch exits in one line), and SIGTERM /
  # SIGINT deferred to the end of the epoch, where a checkpoint is written before stopping.
  with runlock.exclusive(workdir), preemption.handling():
    _stop_if_signalled(workdir, "before training")
    if workdir is not None:  # only once the data and the batch size are known to be good
      prepare_workdir(workdir, cfg_dict, overwrite)
    run = _open_run(config, data, splits, members, mesh, workdir, on_event, data_source)
    stacks = _stacks(run, cfg_dict)
    pretraining = _pretraining_run(run, data, stacks)
    state = _restore(run, pretraining, stacks)
    if state.phase == "pretrain" and run.resumed_from is None:
      _read_pretrained(run, pretraining, state, cfg_dict,
                       [s for s in pretrained_from if workdir is None
                        or os.path.abspath(s) != os.path.abspath(workdir)])
    if state.phase == "pretrain" and state.pretrained_members is None:
      pretraining = run  # every member pretrains its own (as a checkpoint of before recorded)
    if state.phase == "pretrain":
      if pretraining is not run:
        run.progress.message(
            f"{pretraining.n_models()} distinct stack{'s' * (pretraining.n_models() > 1)} for "
            f"{run.n_models()} models (the others differ in fine-tuning alone): each pretrained "
            "once")
      _pretrain(pretraining, state)
      _share_stacks(run, pretraining, state)
    _finetune(run, state, pruning)
    ev = _evaluate(run, state)
    results = _results(run, state, ev, cfg_dict, data_source, time.monotonic() - t_start,
                       data_version)
    if state.pretrained_from is not None:
      results["pretrained_from"] = state.pretrained_from
    if pruning is not None and pruning.rule != "none":
      results["pruning"] = {"rule": pruning.rule, "reference_runs": len(pruning.references),
                            "n_pruned": sum(e is not None for e in state.pruned or ())}
    if run.checkpointer is not None:
      results["checkpoint_seconds"] = round(run.checkpointer.seconds_saving, 3)
      results["resumed_from"] = run.resumed_from
      results["skipped_checkpoints"] = state.skipped
      run.checkpointer.close()
    results = results_lib.complete(results, n_train=run.data["train"][0].shape[0],
                                   n_valid=run.data["valid"][0].shape[0],
                                   finetune_batch_size=config.ft_batch_size())
    if workdir is not None:
      _write_outputs(run, state, ev, results, workdir, splits, write_images)
  return results


def _stop_if_signalled(workdir: str | None, where: str) -> None:
  """Raises ``Preempted`` when a signal came before this run began (e.g. while an earlier run of
  the same process, a table's previous group, was finishing): nothing of this one to save."""
  if preemption.stop_now():  # every process stops, or none
    signum = preemption.acted_on()
    raise preemption.Preempted(
        f"interrupted by {preemption.signal_name(signum)} {where}"
        + (f" in {workdir}" if workdir else "")
        + "; everything finished so far is saved: rerun the same command to resume", signum)


def _stop_if_asked(run: Run, state: TrainState, step: int, where: str) -> None:
  """At the end of an epoch: on a pending SIGTERM / SIGINT (``sdae.io.preemption``), a checkpoint
  of where the run stands, then ``Preempted`` (its one line says where and what to do)."""
  if not preemption.stop_now():
    return
  _save(run, state, True, step)
  signum = preemption.acted_on()
  saved = (f"checkpoint saved in {run.checkpointer.directory}; rerun the same command to resume"
           if run.checkpointer is not None else "no --workdir, so nothing was saved")
  raise preemption.Preempted(
      f"interrupted by {preemption.signal_name(signum)} at {where}; {saved}", signum)


def config_record(config: config_lib.TrainConfig, members: Members | None,
                   data_source: str | None, data_version: int | None = None) -> dict[str, Any]:
  """config.json: the settings, the members, and the source and data version actually read
  (part of the run's identity: a workdir trained on regenerated data is not resumed on the
  original files, nor one trained on convex version 3 on version 4)."""
  out = config.to_dict()
  if members is not None:
    out["members"] = {"seeds": list(map(int, members.seeds)),
                      "levels": [list(map(float, l)) for l in members.levels],
                      "pretrain_lr": list(map(float, members.pretrain_lr)),
                      "finetune_lr": list(map(float, members.finetune_lr))}
    if members.emphasised():  # absent at all 1, so workdirs written before emphasis still match
      out["members"]["alpha"], out["members"]["beta"] = members.emphasis()
  out["data_source_used"] = data_source or "arrays"
  out["data_version_used"] = data_version
  return out


def _open_run(config, data, splits, members, mesh, workdir, on_event, data_source) -> Run:
  """The ``Run`` of a configuration: hyperparameters, objectives, optimizer, writers. A single
  model (``members`` None) is the sweep of one of ``config``'s seed, levels, learning rates and
  emphasis, and a mesh given for it splits its minibatches."""
  single, d = members is None, data["train"][0].shape[1]
  n_classes = n_classes_of(splits, config.dataset)
  compute_dtype = jnp.bfloat16 if config.precision == "bfloat16" else None
  if single:  # the boundary: from here on, a single model is a sweep of one
    members = Members.of_config(config)
    mesh = None if mesh is None else sharding.as_data_mesh(mesh)
  hyper = _hyper(members, mesh)
  if mesh is not None:  # replicated on the mesh's devices
    data = sharding.replicate(data, mesh)
  # The greedy layer objectives (dA, RBM, or none at all; sdae.objectives): the driver only
  # calls their init / step / encode (``sdae.pretrain.LayerObjective``).
  objectives = pt.objectives_of(config, d, compute_dtype)
  checkpointer = None
  if workdir is not None:
    checkpointer = ckpt_lib.Checkpointer(os.path.join(workdir, "checkpoints"),
                                         keep=config.keep_checkpoints or 2,
                                         every_secs=config.checkpoint_every_secs,
                                         on_event=on_event)
  metrics = MetricsLog(os.path.join(workdir, "metrics.jsonl")
                       if workdir and distributed.is_writer() else None)
  prog = progress_lib.Progress(enabled=None if distributed.is_writer() else False)
  prog.header(progress_lib.run_header(
      config, data_source=data_source,
      sizes=tuple(len(splits[k][1]) for k in ("train", "valid", "test")), n_in=d,
      n_classes=n_classes, members=None if single else members, device=_device_text(mesh),
      workdir=workdir))
  return Run(config=config, members=members, single=single, data=data, n_classes=n_classes,
             hyper=hyper,
             objectives=objectives, tx=pt.make_optimizer(config.optimizer),
             module=ft.classifier(config.hidden, n_classes, config.activation, compute_dtype,
                                  config.init),
             mesh=mesh, checkpointer=checkpointer, metrics=metrics, progress=prog,
             emit=on_event or _no_event)


def _hyper(members: Members, mesh) -> dict[str, Any]:
  """Each member's traced hyperparameters ([M] each; levels [M, L]) on ``mesh``: split over a
  member mesh, replicated on a data mesh."""
  alpha, beta = members.emphasis()
  hyper = {"seeds": members.seeds, "levels": members.levels,
           "pretrain_lr": members.pretrain_lr, "finetune_lr": members.finetune_lr,
           "alpha": alpha, "beta": beta}
  hyper = {k: jnp.asarray(v, jnp.int32 if k == "seeds" else jnp.float32)
           for k, v in hyper.items()}
  return hyper if mesh is None else sharding.place(hyper, mesh)


def _stacks(run: Run, cfg_dict: dict) -> tuple[list[int], list[int]] | None:
  """(the members that pretrain, for each member the position among them of the one whose
  stack it takes) when some members share a stack (``sdae.shared_pretraining``); None when each
  pretrains its own. With several processes every member pretrains (each process must hold
  members of every program)."""
  if not run.objectives or run.single or distributed.process_count() > 1:
    return None
  trained, copies = shared.distinct(shared.keys(cfg_dict))
  return None if len(trained) == run.n_models() else (trained, copies)


def _pretraining_run(run: Run, data: dict, stacks) -> Run:
  """The run that pretrains ``stacks``' members alone (on a member mesh of the run's devices
  that divides their number, or the default device), showing their values for every member;
  ``run`` itself when each member pretrains its own stack."""
  if stacks is None:
    return run
  trained, copies = stacks
  members, mesh = run.members.take(trained), None
  if run.mesh is not None:
    mesh = sharding.member_mesh(len(trained), devices=list(run.mesh.devices.flat))
    mesh = None if sharding.is_trivial(mesh) else mesh
  return dataclasses.replace(run, members=members, hyper=_hyper(members, mesh), mesh=mesh,
                             data=data if mesh is None else sharding.replicate(data, mesh),
                             copies=copies)


def _share_stacks(run: Run, pretraining: Run, state: TrainState) -> None:
  """After pretraining by ``pretraining`` (some members for all): every member's copy of its
  stack, on the run's devices, and a diverged stack's marks on each member that shares it."""
  if pretraining is run:
    return
  idx = np.asarray(pretraining.copies)
  state.done_layers = [run.place(jax.tree.map(lambda a: jnp.asarray(np.asarray(a)[idx]), layer))
                       for layer in distributed.to_host(state.done_layers)]
  state.diverged = state.diverged[idx]
  by = [int(state.pretrained_members[c]) for c in idx]  # the member that pretrained each stack
  if state.pretrained_from is None:
    state.pretrained_from = [{"workdir": None, "member": b} for b in by]
  else:  # its first layers were read: the layers above came from the member that pretrained
    state.pretrained_from = [f if b == i else {**f, "above": {"workdir": None, "member": b}}
                             for i, (f, b) in enumerate(zip(state.pretrained_from, by))]
  state.pretrained_members = None


def _read_pretrained(run: Run, pretraining: Run, state: TrainState, cfg_dict: dict,
                     sources: Sequence[str]) -> None:
  """A fresh run whose members' stacks other runs (of ``sources``) pretrained, all or their
  first layers: those layers, read from their checkpoints, and the state moved on to
  fine-tuning, or to pretraining the layer above them (by ``pretraining``'s members)."""
  if not sources or not run.objectives or distributed.process_count() > 1:
    return
  found = shared.find(cfg_dict, sources)
  if found is None:
    return
  n_read = found[0]["layers"]
  whole = n_read == len(run.objectives)
  # Below the top the state holds the members that pretrain (``_restore``): their layers.
  at, which = (run, range(run.n_models())) if whole or state.pretrained_members is None else (
      pretraining, state.pretrained_members)
  layers = shared.load([found[i] for i in which])
  if layers is None:
    return
  done = []
  for k, per_member in enumerate(layers):
    like = jax.eval_shape(lambda: at.fresh_layer(k)[0])  # pylint: disable=cell-var-from-loop
    stacked = jax.tree.map(lambda *a: np.stack(a), *per_member)
    try:
      layer = ckpt_lib.from_state(like, stacked)
    except ValueError:  # another structure: not this run's stack after all
      return
    if jax.tree.map(jnp.shape, layer) != jax.tree.map(lambda a: a.shape, like):
      return
    done.append(at.place(layer))
  state.done_layers, state.diverged = done, np.zeros(at.n_models(), bool)
  state.layer, state.epoch, state.pretrained_from = n_read, 0, found
  if whole:
    state.phase, state.pretrained_members = "finetune", None
  runs = sorted({f["workdir"] for f in found})
  run.progress.message(
      f"pretrained {_layers_text(1, n_read)} read from the checkpoint{'s' * (len(runs) > 1)} "
      f"of {len(runs)} finished run{'s' * (len(runs) > 1)} holding the same "
      f"{'stacks' if whole else 'layers'} ({', '.join(runs)}): "
      + ("fine-tuning only" if whole else
         f"pretraining {_layers_text(n_read + 1, len(run.objectives))} only"))


def _layers_text(first: int, last: int) -> str:
  return f"layer {first}" if first == last else f"layers {first}-{last}"


def _restore(run: Run, pretraining: Run, stacks) -> TrainState:
  """The state of the newest readable checkpoint, or a fresh one. While pretraining, the state
  holds the members that pretrain (``stacks``, ``pretraining``; every member's in a checkpoint
  that records none: ``pretrained_members`` None)."""
  state = TrainState(diverged=np.zeros(pretraining.n_models(), bool),
                     pretrained_members=None if stacks is None else list(stacks[0]))
  restored = run.checkpointer.restore_latest() if run.checkpointer else None
  if restored is not None:
    arrays, meta = restored
    state.phase = meta["phase"]
    state.pretrained_members = meta.get("pretrained_members")
    state.pretrained_from = meta.get("pretrained_from")
    state.pruned = meta.get("pruned")
    if state.phase == "pretrain" and state.pretrained_members not in (
        None, None if stacks is None else list(stacks[0])):
      raise RunError(f"{run.checkpointer.directory}: its checkpoint pretrains members "
                     f"{state.pretrained_members}, which this configuration does not share "
                     "stacks as; use another --workdir, or --overwrite to start over")
    at = pretraining if state.pretrained_members is not None else run
    arrays, state.diverged = at.from_disk(arrays, meta)  # the member axis, the marks
    state.layer, state.epoch = int(meta["layer"]), int(meta["epoch"])
    run.resumed_from = {"step": run.checkpointer.restored_step, "phase": state.phase,
                        "layer": state.layer + 1 if state.phase == "pretrain" else None,
                        "epoch": state.epoch}
    state.seconds = dict(meta["seconds"])
    for k in range(int(meta["n_done_layers"])):
      like = jax.eval_shape(lambda: at.fresh_layer(k)[0])  # pylint: disable=cell-var-from-loop
      state.done_layers.append(at.place(ckpt_lib.from_state(like, arrays[f"layer{k}"])))
    if state.phase == "pretrain" and meta.get("has_current"):
      like_p, like_o = jax.eval_shape(lambda: at.fresh_layer(state.layer))
      state.params, state.opt_state = at.place((ckpt_lib.from_state(like_p, arrays["cur"]),
                                                ckpt_lib.from_state(like_o, arrays["opt"])))
    if state.phase == "finetune":
      like_p, like_o, like_es = jax.eval_shape(lambda: run.fresh_finetune(state.done_layers))
      state.params, state.opt_state, state.early_stopping = run.place(
          (ckpt_lib.from_state(like_p, arrays["ft"]), ckpt_lib.from_state(like_o, arrays["opt"]),
           ckpt_lib.from_state(like_es, arrays["es"])))
    state.skipped = list(meta.get("skipped_checkpoints", []))
    run.progress.message(progress_lib.resume_line(
        state.phase, state.layer, state.epoch, n_layers=len(run.config.hidden),
        pretrain_epochs=run.config.pretrain_epochs, finetune_epochs=run.config.finetune_epochs))
  if run.checkpointer is not None:
    state.skipped += run.checkpointer.skipped
  # The epochs after the checkpoint (all of them without one) are trained and logged again.
  run.metrics.keep_until(state.phase if restored is not None else None, state.layer, state.epoch)
  return state


def _save(run: Run, state: TrainState, force: bool, step: int) -> None:
  """A checkpoint when forced or due. Every process decides alike (``due`` is process 0's
  clock) and gathers the whole state (``to_host``: a collective); orbax writes it once."""
  if run.checkpointer is None or not (force or run.checkpointer.due()):
    return
  trees, meta = state.checkpoint()
  arrays = ckpt_lib.to_state(distributed.to_host(trees))  # {"layer0": {"kernel": ...}, ...}
  run.checkpointer.save(step, *run.to_disk(arrays, meta), force=force)


def _pretrain(run: Run, state: TrainState) -> None:
  """Greedy layer-wise pretraining: each layer's objective trained on the clean codes of the
  layers below, epoch by epoch, from wherever ``state`` stands."""
  c, t_phase = run.config, time.monotonic()
  epochs, n_layers = c.pretrain_epochs, len(run.objectives)
  per_epoch = (run.data["train"][0].shape[0] // c.batch_size) * c.batch_size * run.n_models()
  codes, depth = run.data["train"][0], 0  # clean codes of the frozen layers 1..depth
  levels = run.hyper["levels"]
  # Traced like the level: a sweep over emphasis is one program (given only to objectives that
  # take it, sdae.pretrain.traced_args).
  # A run where no model is emphasised trains the unweighted loss's own program (None), so runs
  # without emphasis keep their numbers bit for bit (the weighted loss at alpha = beta = 1 is
  # equal to it for cross-entropy, to float32 rounding for squared error: sdae.model).
  emphasis = pt.Emphasis(run.hyper["alpha"], run.hyper["beta"]) if run.emphasised else None
  while state.layer < n_layers:
    k = state.layer
    # Layer k trains on the codes of layers 1..k-1: one more layer of encoding per layer (all
    # of them after a resume), never once per epoch.
    while depth < k:
      codes = pt.compiled_encode(run.objectives[depth], True, shared_data=(depth == 0),
                                 mesh=run.mesh, loop=c.member_loop)(state.done_layers[depth],
                                                                     codes)
      depth += 1
    if state.params is None:
      state.params, state.opt_state = run.place(run.fresh_layer(k))
    epoch_fn = pt.compiled_pretrain_epoch(run.objectives[k], run.tx, c.batch_size, True,
                                          mesh=run.mesh, shared_data=(k == 0),
                                          loop=c.member_loop)
    level = levels[:, k]
    while state.epoch < epochs:
      t0 = time.monotonic()
      state.params, state.opt_state, losses = epoch_fn(
          state.params, state.opt_state, codes, run.hyper["seeds"], jnp.int32(k),
          jnp.int32(state.epoch), level, emphasis)
      losses = distributed.to_host(losses)
      dt = time.monotonic() - t0
      run.check_losses(state, losses, f"pretraining layer {k + 1} epoch {state.epoch + 1}",
                       "pretrain_lr")
      mean_loss = run.shown(losses.mean(axis=-1))
      state.epoch += 1
      state.seconds["pretrain"] += dt
      run.progress.epoch(f"pretrain layer {k + 1}/{n_layers}", state.epoch, epochs, seconds=dt,
                         examples_per_s=per_epoch / dt, loss=mean_loss)
      run.metrics.write(phase="pretrain", layer=k + 1, epoch=state.epoch, loss=mean_loss,
                        examples_per_s=per_epoch / dt, seconds=dt)
      run.emit("epoch_end")
      if state.epoch < epochs:
        where = f"pretraining layer {k + 1}/{n_layers} epoch {state.epoch}/{epochs}"
        _stop_if_asked(run, state, k * epochs + state.epoch, where)
        _save(run, state, False, k * epochs + state.epoch)
    state.done_layers.append(state.params)
    run.progress.end_phase()
    state.params = state.opt_state = None
    state.layer, state.epoch = k + 1, 0
    _save(run, state, True, state.layer * epochs)  # every layer boundary
    run.emit("layer_end")
    _stop_if_asked(run, state, state.layer * epochs,
                   f"the end of pretraining layer {k + 1}/{n_layers}")
  state.phase, state.epoch = "finetune", 0
  run.progress.message(
      f"pretraining done in {progress_lib.format_seconds(time.monotonic() - t_phase)}")


def _finetune(run: Run, state: TrainState, pruning: pruning_lib.Pruning | None = None) -> None:
  """Supervised fine-tuning with early stopping (``sdae.finetune``), from wherever ``state``
  stands; the best validation epoch's parameters are kept in ``state.early_stopping``. With
  ``pruning``, members that lose to the references are stopped too (``_prune``)."""
  c = run.config
  pruner = pruning_lib.pruner(pruning, run.n_models(), c.finetune_epochs)
  if pruner is not None and state.pruned is None:
    state.pruned = [None] * run.n_models()
  (x_train, y_train), (x_valid, y_valid) = run.data["train"], run.data["valid"]
  errors = ft.compiled_error_count(run.module, True, mesh=run.mesh, loop=c.member_loop)
  update_es = jax.jit(run.each(
      functools.partial(ft.update_early_stopping, patience_increase=c.patience_increase,
                        improvement_threshold=c.improvement_threshold), (0, 0, 0, None)))
  if state.params is None:
    state.params, state.opt_state, state.early_stopping = run.place(
        run.fresh_finetune(state.done_layers))
  batch = c.ft_batch_size()
  epoch_fn = ft.compiled_finetune_epoch(run.module, run.tx, batch, True, mesh=run.mesh,
                                        loop=c.member_loop)
  per_member = (x_train.shape[0] // batch) * batch  # examples a training member sees an epoch
  base_step = len(run.objectives) * c.pretrain_epochs
  inv_n_valid = np.float32(1.0 / x_valid.shape[0])
  while not ft.should_stop(state.early_stopping, state.epoch, c.finetune_epochs):
    t0 = time.monotonic()
    # The members still training (as update_early_stopping counts them): the others skip the
    # epoch's work where members run one after another.
    active = state.early_stopping["patience"] > jnp.int32(state.epoch)
    stopped = ~distributed.to_host(active)
    state.params, state.opt_state, losses = epoch_fn(
        state.params, state.opt_state, x_train, y_train, run.hyper["seeds"],
        jnp.int32(state.epoch), active, not stopped.any())
    # A product, not a division: XLA:CPU divides approximately (1 ulp) in vectorised loops and
    # exactly in scalar ones, so `count / n` depended on how many members a device held.
    valid_err = errors(state.params, x_valid, y_valid).astype(jnp.float32) * inv_n_valid
    state.early_stopping = update_es(state.early_stopping, state.params, valid_err,
                                     jnp.int32(state.epoch))
    losses, valid_err, best_valid = distributed.to_host(
        (losses, valid_err, state.early_stopping["best_valid"]))
    dt = time.monotonic() - t0
    # A stopped member trained no epoch (its losses NaN where it skipped the work): not a
    # divergence; its loss is shown as NaN, and null in metrics.jsonl.
    run.check_losses(state, np.where(stopped[:, None], np.float32(0), losses),
                     f"fine-tuning epoch {state.epoch + 1}", "finetune_lr")
    state.epoch += 1
    if pruner is not None and state.epoch < c.finetune_epochs:
      _prune(run, state, pruner, best_valid)
    state.seconds["finetune"] += dt
    loss = run.shown(np.where(stopped, np.float32(np.nan), losses.mean(-1)))
    v = run.shown(np.asarray(valid_err) * 100)
    per_s = per_member * int((~stopped).sum()) / dt
    # At most: early stopping may end the run before finetune_epochs.
    run.progress.epoch("finetune", state.epoch, c.finetune_epochs, seconds=dt,
                       at_most=c.patience < c.finetune_epochs,  # else it runs every epoch
                       examples_per_s=per_s, loss=loss,
                       valid_error_pct=v, best_pct=run.shown(best_valid * 100))
    run.metrics.write(phase="finetune", epoch=state.epoch, loss=_nulls(loss),
                      valid_error_pct=v, examples_per_s=per_s, seconds=dt)
    run.emit("finetune_epoch_end")
    _stop_if_asked(run, state, base_step + state.epoch,
                   f"fine-tuning epoch {state.epoch}/{c.finetune_epochs}")
    _save(run, state, False, base_step + state.epoch)
  _save(run, state, True, base_step + state.epoch)


def _prune(run: Run, state: TrainState, pruner: pruning_lib.MedianPruner,
           best_valid: np.ndarray) -> None:
  """Stops the members ``pruner`` prunes after the epoch just done (their patience set to it:
  frozen as early stopping freezes them, best parameters kept) and records the epoch. Every
  process decides alike, from gathered values."""
  es = state.early_stopping
  running = distributed.to_host(es["patience"]) > state.epoch
  best_pct = np.asarray(best_valid, np.float32) * np.float32(100)  # as metrics.jsonl's values
  stop = pruner.prune(state.epoch, best_pct, running & ~state.diverged)
  if not stop.any():
    return
  es["patience"] = _stop_members(es["patience"], stop, jnp.int32(state.epoch))
  for i in np.flatnonzero(stop):
    state.pruned[int(i)] = state.epoch
  m = run.members
  which = "; ".join(f"{int(i)} (seed {m.seeds[i]}, level {m.levels[i][0]:g}, learning rates "
                    f"{m.pretrain_lr[i]:g} / {m.finetune_lr[i]:g}: best {best_pct[i]:.2f}%)"
                    for i in np.flatnonzero(stop))
  run.progress.message(
      f"pruned after fine-tuning epoch {state.epoch}: member{'s' * (int(stop.sum()) > 1)} "
      f"{which}: above the median, at this epoch, of the cell's {pruner.n_references} "
      "finished models")


@jax.jit
def _stop_members(patience, stop, epoch):
  return jnp.where(stop, epoch, patience)


def _nulls(values):
  """``values`` (a float or an array [M]) for metrics.jsonl: NaN as null, JSON's own."""
  a = np.asarray(values, np.float64)
  out = [None if np.isnan(x) else float(x) for x in a.reshape(-1)]
  return out[0] if a.ndim == 0 else out


def _evaluate(run: Run, state: TrainState) -> dict[str, np.ndarray]:
  """The best-validation parameters' test error rate, validation error rate, mean validation
  cross-entropy (which breaks ties in validation error when a table or sweep selects a model)
  and best epoch (from 1), on the host, [M] each."""
  c, es = run.config, state.early_stopping
  (x_valid, y_valid), (x_test, y_test) = run.data["valid"], run.data["test"]
  best = es["best_params"]
  errors = ft.compiled_error_count(run.module, True, mesh=run.mesh, loop=c.member_loop)
  xent = ft.compiled_nll_sum(run.module, True, mesh=run.mesh, loop=c.member_loop)
  test_err, valid_best, best_epoch, valid_xent, patience = distributed.to_host(
      (errors(best, x_test, y_test), es["best_valid"], es["best_epoch"],
       xent(best, x_valid, y_valid), es["patience"]))
  out = {"test_error": test_err / int(x_test.shape[0]), "valid_error": valid_best,
         "best_epoch": best_epoch + 1, "valid_xent": valid_xent * np.float32(1.0 / x_valid.shape[0]),
         "n_test": int(x_test.shape[0]), "patience": patience}
  run.progress.end_phase(progress_lib.early_stopping_note(
      state.epoch, c.finetune_epochs, *map(run.shown, (out["best_epoch"], valid_best * 100,
                                                       patience)),
      initial_patience=c.patience, patience_increase=c.patience_increase,
      improvement_threshold=c.improvement_threshold))
  return out


def _results(run: Run, state: TrainState, ev: dict, cfg_dict: dict, data_source: str | None,
             wall: float | None, data_version: int | None = None) -> dict[str, Any]:
  """results.json (DESIGN.md); ``wall``: this process's wall time (``seconds.total``; the
  training time over every session is ``seconds.training``)."""
  secs, n_test = state.seconds, ev["n_test"]
  total = secs["pretrain"] + secs["finetune"]
  results: dict[str, Any] = {
      "dataset": run.config.dataset, "data_source": data_source or "arrays",
      "data_version": data_version, "n_test": n_test,
      "config": cfg_dict,
      "seconds": {"pretrain": round(secs["pretrain"], 2), "finetune": round(secs["finetune"], 2),
                  "total": round(total if wall is None else wall, 2),
                  "training": round(total, 2)},
      "device": jax.devices()[0].platform, "finetune_epochs_run": state.epoch,
  }
  if run.single:  # DESIGN.md's results.json of one model (a diverged one raised before)
    te, ve, be, vx = (run.shown(ev[k]) for k in ("test_error", "valid_error", "best_epoch",
                                                 "valid_xent"))
    results.update({
        "test_error_pct": round(float(te) * 100, 4),
        "test_ci95_pct": round(ft.ci95_pct(float(te), n_test), 4),
        "valid_error_pct": round(float(ve) * 100, 4),
        "best_epoch": int(be), "valid_xent": round(float(vx), 6)})
    return results
  # A diverged member's errors are null: whatever its NaN parameters predict is no result, and
  # model selection (sweep.select) skips it.
  m = run.members
  results["members"] = [
      {"seed": int(s), "levels": list(map(float, lv)), "pretrain_lr": float(pl),
       "finetune_lr": float(fl), "alpha": float(al), "beta": float(bt),
       "valid_error_pct": None if dv else float(ve * 100),
       "test_error_pct": None if dv else float(te * 100),
       "test_ci95_pct": None if dv else ft.ci95_pct(float(te), n_test),
       "best_epoch": int(be), "valid_xent": None if dv else float(vx), "diverged": bool(dv),
       "epochs_run": int(min(pa, state.epoch)), "pruned_at_epoch": pr}
      for s, lv, pl, fl, al, bt, ve, te, be, vx, dv, pa, pr in zip(
          m.seeds, m.levels, m.pretrain_lr, m.finetune_lr, *m.emphasis(), ev["valid_error"],
          ev["test_error"], ev["best_epoch"], ev["valid_xent"], state.diverged, ev["patience"],
          state.pruned or [None] * len(m))]
  results["n_diverged"] = int(state.diverged.sum())
  return results


def _write_outputs(run: Run, state: TrainState, ev: dict, results: dict, workdir: str,
                   splits: dict, write_images: bool) -> None:
  """The pictures, results.json (atomically, last) and the closing summary."""
  d, pictures = run.data["train"][0].shape[1], []
  if write_images and d > 1 and not state.diverged.all():  # of a model that trained
    # With no pretraining, the filters are the fine-tuned first layer's.
    first_layer = (state.done_layers[0] if run.objectives
                   else state.early_stopping["best_params"]["encoder_0"])
    first_layer, levels = distributed.to_host((first_layer, run.hyper["levels"]))  # collective
    shown = int(np.argmin(state.diverged))  # the first member that trained
    if distributed.is_writer():
      pictures = write_pictures(workdir, first_layer, run.objectives[0] if run.objectives else None,
                                np.asarray(splits["test"][0][:12], np.float32),
                                float(levels[shown, 0]), True, dataset=run.config.dataset,
                                member=shown)
  run.emit("results_write")
  if distributed.is_writer():
    ckpt_lib.write_json_atomic(os.path.join(workdir, "results.json"), results)
    if run.config.keep_checkpoints == 0:  # asked to keep none once the results are safe
      shutil.rmtree(os.path.join(workdir, "checkpoints"), ignore_errors=True)
  if run.single:  # a sweep's summary is the sweep's (sdae.sweep.write_outputs)
    run.progress.summary(progress_lib.result_line(results), {
        "results": [os.path.join(workdir, "results.json")], "pictures": pictures,
        "metrics": [os.path.join(workdir, "metrics.jsonl")]})


def _device_text(mesh) -> str:
  """``'cpu (2 devices)'``, ``'gpu NVIDIA H200 (1 device)'``: what the run computes on."""
  devices = list(mesh.devices.flat) if mesh is not None else jax.devices()
  kind = getattr(devices[0], "device_kind", "") or ""
  name = devices[0].platform + (f" {kind}" if kind and kind.lower() != "cpu" else "")
  return f"{name} ({len(devices)} device{'s' * (len(devices) > 1)})"



