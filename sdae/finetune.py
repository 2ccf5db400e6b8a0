"""Supervised fine-tuning of the stacked encoders under a softmax layer, and evaluation.

Same conventions as ``sdae.pretrain``: an epoch is one ``lax.scan`` over minibatches, keys are
derived from (seed, FINETUNE, epoch), the learning rate lives in the optimizer state. No
corruption is applied here.

Early stopping follows the Theano SdA tutorial, counted in epochs: training runs at least
``patience`` epochs; a new best validation error that improves on the previous best by more
than ``1 - improvement_threshold`` (relative) extends the patience to ``epoch * patience_increase``;
training stops when the epoch count reaches the patience or ``max_epochs``. The parameters of the
best validation epoch are kept (any improvement counts for that). The early-stopping state is a
pytree of arrays, so it vmaps over sweep members like everything else.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from sdae import distributed
from sdae import epoch as epoch_lib
from sdae import model as model_lib
from sdae import sharding
from sdae.pretrain import FINETUNE, INIT, derive_key

Array = jax.Array


def classifier(hidden: Sequence[int], n_classes: int, activation: str = "sigmoid",
               compute_dtype: Any = None, init: str = "glorot") -> model_lib.SdAClassifier:
  return model_lib.SdAClassifier(tuple(hidden), n_classes, activation, compute_dtype, init)


def init_head(seed: Array, n_in: int, n_classes: int):
  """Zero softmax layer, as in the Theano tutorial (``seed`` unused but kept for symmetry)."""
  del seed
  return {"kernel": jnp.zeros((n_in, n_classes), jnp.float32),
          "bias": jnp.zeros((n_classes,), jnp.float32)}


def init_classifier(module: model_lib.SdAClassifier, seed: Array, n_in: int):
  """Random (not pretrained) classifier parameters: the no-pretraining baseline."""
  key = derive_key(seed, INIT, 1000)
  return module.init(key, jnp.zeros((1, n_in), jnp.float32))["params"]


def finetune_epoch(params, opt_state, x: Array, y: Array, seed: Array, epoch: Array, *,
                   module: model_lib.SdAClassifier, tx: optax.GradientTransformation,
                   batch_size: int, batch_sharding: Any = None):
  """One epoch of supervised SGD over ``x`` [n, d], ``y`` [n]; returns (params, opt_state,
  per-minibatch losses [n // batch_size]). An ``sdae.epoch.run`` without noise; ``batch_sharding``
  as there."""

  def loss_fn(p, xb, yb):
    return model_lib.classification_loss(module.apply({"params": p}, xb), yb)

  def step(carry, batch, key):
    del key  # fine-tuning draws no noise
    p, s = carry
    loss, grads = jax.value_and_grad(loss_fn)(p, *batch)
    updates, s = tx.update(grads, s, p)
    return (optax.apply_updates(p, updates), s), loss

  batches = epoch_lib.shuffled_batches(derive_key(seed, FINETUNE, epoch), x.shape[0], batch_size)
  (params, opt_state), losses = epoch_lib.run(step, (params, opt_state), (x, y), batches,
                                              batch_sharding=batch_sharding)
  return params, opt_state, losses


def error_count(params, x: Array, y: Array, *, module: model_lib.SdAClassifier,
                chunk: int = 2000) -> Array:
  """Number of misclassified examples (int32 scalar), evaluated in chunks of ``chunk``."""
  n = x.shape[0]
  pad = (-n) % chunk
  xp = jnp.pad(x, ((0, pad), (0, 0)))
  yp = jnp.pad(y, (0, pad), constant_values=-1)  # padded rows never count as errors
  valid = jnp.arange(n + pad) < n

  def body(inputs):
    xb, yb, vb = inputs
    pred = jnp.argmax(module.apply({"params": params}, xb), axis=-1)
    return jnp.sum((pred != yb) & vb, dtype=jnp.int32)

  parts = jax.lax.map(body, (xp.reshape(-1, chunk, x.shape[1]), yp.reshape(-1, chunk),
                             valid.reshape(-1, chunk)))
  return parts.sum()


def nll_sum(params, x: Array, y: Array, *, module: model_lib.SdAClassifier,
            chunk: int = 2000) -> Array:
  """Summed softmax cross-entropy (nats, float32 scalar) of the labels ``y`` [n] given ``x``
  [n, d], evaluated in chunks of ``chunk``."""
  n = x.shape[0]
  pad = (-n) % chunk
  xp = jnp.pad(x, ((0, pad), (0, 0)))
  yp = jnp.pad(y, (0, pad))
  valid = jnp.arange(n + pad) < n

  def body(inputs):
    xb, yb, vb = inputs
    nll = optax.softmax_cross_entropy_with_integer_labels(module.apply({"params": params}, xb), yb)
    return jnp.sum(jnp.where(vb, nll, 0.0))

  parts = jax.lax.map(body, (xp.reshape(-1, chunk, x.shape[1]), yp.reshape(-1, chunk),
                             valid.reshape(-1, chunk)))
  return parts.sum()


def predict(params, x: Array, *, module: model_lib.SdAClassifier) -> Array:
  return jnp.argmax(module.apply({"params": params}, x), axis=-1)


@sharding.cache_by_loop
def compiled_finetune_epoch(module: model_lib.SdAClassifier, tx: optax.GradientTransformation,
                            batch_size: int, members: bool = False, *, loop: str | None = None,
                            mesh: Any = None) -> Callable:
  """Jitted ``finetune_epoch`` with donation; ``members``, ``loop`` and ``mesh`` as in
  ``sdae.pretrain.compiled_pretrain_epoch``.

  With ``members`` it takes two more arguments: ``active`` (bool [M], on the devices) and
  ``every_active`` (a host bool: all of ``active`` is True). While every member trains, the
  epoch is the members' plain program. Once some have stopped (early stopping, pruning),
  another program runs: where members run one after another (the ``map`` loop) a stopped
  member is skipped under a ``lax.cond`` (its parameters and optimizer state come back
  unchanged, its losses NaN), so its epochs cost nothing; under ``vmap`` it trains on, as
  before, and is ignored as before (the early-stopping state keeps its best epoch's
  parameters). The cond stays out of the plain program: it costs the active members 13-16% on
  CPU (4 members of an SdA-3 on rect's shapes). A single member always trains: its program is
  the model's own."""
  fn = functools.partial(finetune_epoch, module=module, tx=tx, batch_size=batch_size,
                         batch_sharding=sharding.minibatch_sharding(mesh, members))
  if not members:
    return epoch_lib.jit_epoch(fn)
  base = fn

  def train_all(params, opt_state, x, y, seed, epoch, active):
    del active  # vmap would compute both branches of a cond: it trains every member
    return base(params, opt_state, x, y, seed, epoch)

  def skip_stopped(params, opt_state, x, y, seed, epoch, active):
    def stopped(p, s):
      return p, s, jnp.full((x.shape[0] // batch_size,), jnp.nan, jnp.float32)
    return jax.lax.cond(active, lambda p, s: base(p, s, x, y, seed, epoch), stopped,
                        params, opt_state)

  train_all.__name__ = skip_stopped.__name__ = "finetune_epoch"  # the program's name in logs
  every = epoch_lib.jit_epoch(sharding.over_members(fn, (0, 0, None, None, 0, None), loop, mesh))
  some = epoch_lib.jit_epoch(sharding.over_members(
      train_all, (0, 0, None, None, 0, None, 0), loop, mesh, map_fn=skip_stopped))

  def epoch_of_members(params, opt_state, x, y, seed, epoch, active, every_active: bool):
    if every_active:
      return every(params, opt_state, x, y, seed, epoch)
    return some(params, opt_state, x, y, seed, epoch, active)

  return epoch_of_members


@sharding.cache_by_loop
def compiled_error_count(module: model_lib.SdAClassifier, members: bool = False,
                         chunk: int = 2000, *, loop: str | None = None,
                         mesh: Any = None) -> Callable:
  """Jitted ``error_count``; with ``members``, one count per member, the members run as
  ``sdae.sharding.over_members`` runs them (on CPU: one after another, as each alone)."""
  fn = functools.partial(error_count, module=module, chunk=chunk)
  if members:
    fn = sharding.over_members(fn, (0, None, None), loop, mesh)
  return jax.jit(fn)


@sharding.cache_by_loop
def compiled_nll_sum(module: model_lib.SdAClassifier, members: bool = False, chunk: int = 2000,
                     *, loop: str | None = None, mesh: Any = None) -> Callable:
  """Jitted ``nll_sum``; with ``members``, one sum per member (as ``compiled_error_count``)."""
  fn = functools.partial(nll_sum, module=module, chunk=chunk)
  if members:
    fn = sharding.over_members(fn, (0, None, None), loop, mesh)
  return jax.jit(fn)


# --- early stopping, as pure array updates ---------------------------------------------------


def init_early_stopping(params, patience: int):
  """State: best params, best validation error rate, its epoch, and the current patience."""
  return {
      "best_params": jax.tree.map(jnp.copy, params),
      "best_valid": jnp.asarray(jnp.inf, jnp.float32),
      "best_epoch": jnp.asarray(-1, jnp.int32),
      "patience": jnp.asarray(patience, jnp.int32),
  }


def update_early_stopping(state, params, valid_error: Array, epoch: Array, *,
                          patience_increase: float = 2.0,
                          improvement_threshold: float = 0.995):
  """Keeps the best-validation parameters; extends patience on a significant improvement.

  ``epoch`` counts from 0 (the epoch just finished); all arguments may carry a member axis when
  this function is vmapped.
  """
  valid_error = jnp.asarray(valid_error, jnp.float32)
  # A member whose patience has run out is frozen (it has stopped), even while the members of a
  # sweep that still have patience go on: it must end as it would have alone.
  active = jnp.asarray(epoch, jnp.int32) < state["patience"]
  better = active & (valid_error < state["best_valid"])
  significant = active & (valid_error < state["best_valid"] * jnp.float32(improvement_threshold))
  extended = jnp.maximum(state["patience"],
                         jnp.ceil((jnp.asarray(epoch, jnp.float32) + 1.0)
                                  * jnp.float32(patience_increase)).astype(jnp.int32))
  return {
      "best_params": jax.tree.map(lambda b, p: jnp.where(better, p, b), state["best_params"],
                                  params),
      "best_valid": jnp.where(better, valid_error, state["best_valid"]),
      "best_epoch": jnp.where(better, jnp.asarray(epoch, jnp.int32), state["best_epoch"]),
      "patience": jnp.where(significant, extended, state["patience"]),
  }


def should_stop(state, epochs_done: int, max_epochs: int) -> bool:
  """True when every member has run out of patience or ``max_epochs`` is reached (host side).

  With several processes every one must call it at the same epochs (it gathers the patience
  counters, a collective), and every one gets the same answer.
  """
  if epochs_done >= max_epochs:
    return True
  return bool(np.all(distributed.to_host(state["patience"]) <= epochs_done))


# --- statistics ------------------------------------------------------------------------------


def ci95_pct(error_rate: float, n: int) -> float:
  """Half-width of the 95% interval of an error rate, in percent: 1.96 sqrt(p (1 - p) / n).

  The normal approximation of a binomial proportion, as in Vincent et al. (2010), Table 3.
  """
  return 100.0 * 1.96 * math.sqrt(max(error_rate * (1.0 - error_rate), 0.0) / n)
