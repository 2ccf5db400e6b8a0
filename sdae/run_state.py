"""What a run is made of: its members, the state it carries from epoch to epoch (what a
checkpoint holds), the fixed parts it trains with, and how a non-finite loss is handled.

A run trains ``Members``: a sweep's M models, or a single model as a sweep of one
(``Members.of_config``), and every array of its state carries the leading member axis. Where a
single model differs is its outputs alone (``Run.single``): results.json, metrics.jsonl and the
progress lines in the single-model formats of DESIGN.md, checkpoints without the member axis,
and a diverged member reported as the run's ``DivergenceError``.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from sdae import config as config_lib
from sdae import emphasis as emphasis_lib
from sdae import finetune as ft
from sdae import model as model_lib
from sdae import pretrain as pt
from sdae import sharding
from sdae.experiment_errors import DivergenceError

log = logging.getLogger("sdae")


@dataclasses.dataclass(frozen=True)
class Members:
  """The models of a sweep, trained together: one entry per member (leading axis M).

  ``alpha`` / ``beta`` [M]: each member's emphasis of the denoising loss (``sdae.emphasis``:
  alpha on the corrupted components, beta on the others; every layer alike); None: all 1, the
  unweighted loss. Traced like the levels, so members of different emphasis share the program.
  """

  seeds: Sequence[int]
  levels: Sequence[Sequence[float]]  # [M, n_layers]
  pretrain_lr: Sequence[float]
  finetune_lr: Sequence[float]
  alpha: Sequence[float] | None = None  # [M]; None: all 1.0
  beta: Sequence[float] | None = None  # [M]; None: all 1.0

  def __post_init__(self):
    # The public API's boundary: a bad weight is one line before anything compiles.
    for name in ("alpha", "beta"):
      values = getattr(self, name)
      if values is None:
        continue
      if len(values) != len(self.seeds):
        raise config_lib.ConfigError(f"Members.{name} has {len(values)} values for "
                                     f"{len(self.seeds)} members; accepted: one per member")
      for v in values:
        try:
          emphasis_lib.check_weights(*((v, 1.0) if name == "alpha" else (1.0, v)))
        except ValueError as e:
          raise config_lib.ConfigError(str(e)) from None

  @classmethod
  def of_configs(cls, configs: Sequence[config_lib.TrainConfig]) -> "Members":
    """One member per config: its seed, each layer's level, learning rates and emphasis (the
    other settings are the run's, shared by every member)."""
    weights = [emphasis_lib.weights(c.emphasis) for c in configs]
    return cls(seeds=[int(c.seed) for c in configs], levels=[list(c.levels()) for c in configs],
               pretrain_lr=[float(c.pretrain_lr) for c in configs],
               finetune_lr=[float(c.finetune_lr) for c in configs],
               alpha=[a for a, _ in weights], beta=[b for _, b in weights])

  @classmethod
  def of_config(cls, config: config_lib.TrainConfig) -> "Members":
    """The single model of ``config`` as a sweep of one."""
    return cls.of_configs([config])

  def __len__(self) -> int:
    return len(self.seeds)

  def take(self, indices: Sequence[int]) -> "Members":
    """The members at ``indices``, in that order."""
    pick = lambda values: None if values is None else [values[i] for i in indices]
    return Members(seeds=pick(self.seeds), levels=pick(self.levels),
                   pretrain_lr=pick(self.pretrain_lr), finetune_lr=pick(self.finetune_lr),
                   alpha=pick(self.alpha), beta=pick(self.beta))

  def emphasis(self) -> tuple[list[float], list[float]]:
    """(alpha [M], beta [M]) as float lists, 1.0 where not given."""
    ones = [1.0] * len(self)
    return ([float(a) for a in self.alpha] if self.alpha is not None else ones,
            [float(b) for b in self.beta] if self.beta is not None else ones)

  def emphasised(self) -> bool:
    """Whether any member's loss is weighted (alpha or beta other than 1)."""
    alpha, beta = self.emphasis()
    return any(a != 1.0 for a in alpha) or any(b != 1.0 for b in beta)


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


def _warn_diverged(i: int, members: Members, where: str) -> None:
  log.warning("member %d (seed %d, levels %s, learning rates %g / %g) diverged at %s: its "
              "loss is not finite; it is marked diverged and never selected", i,
              members.seeds[i], list(members.levels[i]), members.pretrain_lr[i],
              members.finetune_lr[i], where)


def _divergence_error(losses: np.ndarray, where: str, lr_name: str, lr: Any) -> DivergenceError:
  """A single model's divergence as the run's error: its first non-finite loss (``losses``
  [steps]), where, and the learning rate to lower."""
  idx = np.argwhere(~np.isfinite(losses))[0]
  return DivergenceError(
      f"loss became {losses[tuple(idx)]} at {where} step {int(idx[-1])}; the last good "
      f"checkpoint is kept; try a lower --{lr_name} (now {lr})")


@dataclasses.dataclass
class TrainState:
  """Everything a run carries from epoch to epoch, and what a checkpoint holds.

  Every array carries a leading member axis M. ``params`` / ``opt_state`` are the
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
  # Checkpoints found unreadable and moved aside over the run's life, by any of its processes
  # (``sdae.checkpoint.Checkpointer.skipped``): results.json's "skipped_checkpoints".
  skipped: list = dataclasses.field(default_factory=list)
  # While only some members pretrain, the others sharing their stacks
  # (``sdae.shared_pretraining``): their indices; the pretraining arrays hold those members
  # alone. None: every member pretrains (or pretraining is over).
  pretrained_members: list | None = None
  # Where each member's pretrained layers came from when another run had trained them
  # ({"workdir", "member"} per member); None: this run pretrained them.
  pretrained_from: list | None = None
  # The fine-tuning epoch (from 1) at which pruning stopped each member (None: not pruned), when
  # the run prunes (``sdae.pruning``); None otherwise.
  pruned: list | None = None

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
            "seconds": self.seconds, "diverged": self.diverged.tolist(),
            "skipped_checkpoints": self.skipped}
    if self.pretrained_members is not None:  # absent otherwise: older checkpoints read alike
      meta["pretrained_members"] = self.pretrained_members
    if self.pretrained_from is not None:
      meta["pretrained_from"] = self.pretrained_from
    if self.pruned is not None:
      meta["pruned"] = self.pruned
    return trees, meta


@dataclasses.dataclass
class Run:
  """The fixed parts of a run: its configuration, its data on the devices, each member's traced
  hyperparameters, the layer objectives and the programs' pieces, and its outputs' writers."""

  config: config_lib.TrainConfig
  members: Members      # a sweep's models, or a single model as a sweep of one
  # The outputs' format (not the arithmetic, which is the members' alike): a single model's
  # results.json, metrics.jsonl, progress lines and checkpoints (``shown``, ``to_disk``), and
  # its divergence raised as the run's error (``check_losses``).
  single: bool
  data: dict            # {"train"|"valid"|"test": (x, y)} on the devices
  n_classes: int
  # seeds [M], levels [M, L], pretrain_lr [M], finetune_lr [M], alpha [M], beta [M]
  hyper: dict
  objectives: list      # sdae.pretrain.LayerObjective per pretrained layer
  tx: Any
  module: Any           # the classifier (sdae.model.SdAClassifier)
  # Members split over a member mesh, or the one member's minibatches over a data mesh
  # (``sdae.sharding.is_data_mesh``); None: the default device.
  mesh: Any
  checkpointer: Any
  metrics: Any         # sdae.io.workdir.MetricsLog
  progress: Any
  emit: Callable[[str], None]
  # Where this process resumed: {"step", "phase", "layer" (1-based, pretraining), "epoch"}; None
  # for a run that started afresh. Recorded in results.json as "resumed_from".
  resumed_from: dict | None = None
  # The run that pretrains some members for all (``sdae.shared_pretraining``): for each of the
  # whole run's members, the index of the member here whose stack it shares, so per-member
  # values are shown for every member of the run. None: this run's members are the run's.
  copies: Sequence[int] | None = None
  init_opt: Callable = dataclasses.field(init=False)  # (params, learning_rate) -> opt_state

  def __post_init__(self):
    self.init_opt = jax.jit(self.each(functools.partial(pt.init_opt_state, self.tx), (0, 0)))

  @property
  def emphasised(self) -> bool:
    """Whether any member weights its denoising loss (an emphasis other than none)."""
    return self.members.emphasised()

  @staticmethod
  def each(fn, in_axes):
    """``fn`` of one member over the member axis (``sdae.sharding.each_member``)."""
    return sharding.each_member(fn, in_axes)

  def place(self, tree):
    """``tree`` laid out as the compiled epochs lay out their outputs (members split over a
    member mesh, replicated on a data mesh), so no epoch compiles twice."""
    return sharding.place(tree, self.mesh)

  def n_models(self) -> int:
    return len(self.members)

  def shown(self, values):
    """Per-member ``values`` [M] as the outputs show them: a single model's value alone."""
    if self.copies is not None:
      values = np.asarray(values)[np.asarray(self.copies)]
    return values[0] if self.single else values

  def to_disk(self, arrays: dict[str, Any], meta: dict[str, Any]):
    """A checkpoint's (arrays, meta) as written: a single model's without the member axis (the
    layout of workdirs written before the driver ran it as a sweep of one, and of the readers
    of a model's checkpoint such as ``sdae.sweep.first_layer_kernels``) and without the
    ``diverged`` marks (a diverged single model stops before any checkpoint)."""
    if not self.single:
      return arrays, meta
    return (jax.tree.map(lambda a: np.squeeze(a, 0), arrays), dict(meta, diverged=[]))

  def from_disk(self, arrays: dict[str, Any], meta: dict[str, Any]):
    """``to_disk``'s inverse: (the arrays with their member axis, the diverged marks [M])."""
    if self.single:
      return jax.tree.map(lambda a: np.expand_dims(a, 0), arrays), np.zeros(1, bool)
    return arrays, np.asarray(meta.get("diverged", [False] * len(self.members)), bool)

  def fresh_layer(self, k: int):
    """(params, opt_state) of pretrained layer ``k``, freshly initialised."""
    obj = self.objectives[k]
    p = jax.jit(self.each(lambda s: pt.init_layer(obj, s, k), (0,)))(self.hyper["seeds"])
    return p, self.init_opt(p, self.hyper["pretrain_lr"])

  def fresh_finetune(self, done_layers: list):
    """(params, opt_state, early stopping) of the classifier over the pretrained layers (or,
    with none, the randomly initialised deep network)."""
    c, seeds, d = self.config, self.hyper["seeds"], self.data["train"][0].shape[1]
    if not self.objectives:
      p = jax.jit(self.each(lambda s: ft.init_classifier(self.module, s, d), (0,)))(seeds)
    else:
      head = self.each(lambda s: ft.init_head(s, c.hidden[-1], self.n_classes), (0,))(seeds)
      # A copy: the fine-tuning epoch donates its inputs, and done_layers must stay alive.
      p = jax.tree.map(jnp.copy, model_lib.stack_params(done_layers, head))
    es = self.each(lambda q: ft.init_early_stopping(q, c.patience), (0,))(p)
    return p, self.init_opt(p, self.hyper["finetune_lr"]), es

  def check_losses(self, state: TrainState, losses: np.ndarray, where: str,
                   lr_name: str) -> None:
    """Marks the members whose loss (``losses`` [M, steps]) is no longer finite as diverged;
    the others train on (nothing mixes the members' arithmetic). Reported once per member: a
    warning for a sweep's; a single model's stops the run (``DivergenceError``, naming the
    learning rate ``lr_name`` to lower), before its state is checkpointed."""
    newly = ~_finite_members(losses) & ~state.diverged
    state.diverged = state.diverged | newly
    for i in np.flatnonzero(newly):
      if self.single:
        raise _divergence_error(np.asarray(losses[i]), where, lr_name,
                                getattr(self.members, lr_name)[i])
      _warn_diverged(int(i), self.members, where)
