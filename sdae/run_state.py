"""What a run is made of: its members, the state it carries from epoch to epoch (what a
checkpoint holds), the fixed parts it trains with, and how a non-finite loss is handled.

A single model is trained by the same driver as a sweep of M members (``Members``); with
members every array of the state carries a leading member axis M.
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

  def __len__(self) -> int:
    return len(self.seeds)

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
  # Checkpoints found unreadable and moved aside over the run's life, by any of its processes
  # (``sdae.checkpoint.Checkpointer.skipped``): results.json's "skipped_checkpoints".
  skipped: list = dataclasses.field(default_factory=list)

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
    return trees, meta


@dataclasses.dataclass
class Run:
  """The fixed parts of a run: its configuration, its data on the devices, each member's traced
  hyperparameters, the layer objectives and the programs' pieces, and its outputs' writers."""

  config: config_lib.TrainConfig
  members: Members | None
  data: dict            # {"train"|"valid"|"test": (x, y)} on the devices
  n_classes: int
  # seeds [M], levels [M, L], pretrain_lr [M], finetune_lr [M], alpha [M], beta [M] (no M: one
  # model)
  hyper: dict
  objectives: list      # sdae.pretrain.LayerObjective per pretrained layer
  tx: Any
  module: Any           # the classifier (sdae.model.SdAClassifier)
  mesh: Any
  checkpointer: Any
  metrics: Any         # sdae.io.workdir.MetricsLog
  progress: Any
  emit: Callable[[str], None]
  # Where this process resumed: {"step", "phase", "layer" (1-based, pretraining), "epoch"}; None
  # for a run that started afresh. Recorded in results.json as "resumed_from".
  resumed_from: dict | None = None
  init_opt: Callable = dataclasses.field(init=False)  # (params, learning_rate) -> opt_state

  def __post_init__(self):
    self.init_opt = jax.jit(self.vmap(functools.partial(pt.init_opt_state, self.tx), (0, 0)))

  @property
  def many(self) -> bool:
    return self.members is not None

  @property
  def emphasised(self) -> bool:
    """Whether any model of the run weights its denoising loss (an emphasis other than none)."""
    return self.members.emphasised() if self.many else self.config.emphasis != "none"

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
