"""One training epoch, the primitive every loop of the package shares.

An epoch is a pure function of the training carry (parameters, optimizer state, ...), the data
already on the device, and keys: ``lax.scan`` over minibatches, each the rows of a shuffled
index block taken from the data, and each step given its own noise key
``fold_in(noise_key, i)`` (i the minibatch's index in the epoch, from 0). Nothing is drawn from
a stateful generator, so an epoch replayed from the same keys is the same epoch bit for bit
(resume).

``run`` is the epoch; ``shuffled_batches`` the index blocks (one permutation per epoch, its tail
of ``n % batch_size`` examples left out of that epoch only); ``jit_epoch`` compiles an epoch
function with its carry donated (updated in place). ``loop="step"`` runs the same steps as one
jitted call per minibatch from the host, for programs XLA runs slowly inside a loop (on CPU,
convolutions inside a rolled loop run ~5x slower than at top level).

Shapes: the data are a pytree of arrays with a leading example axis ``[n, ...]``; ``batches``
are int32 ``[steps, batch_size]`` row indices; a step gets the same pytree with
``[batch_size, ...]`` leaves.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp

Array = jax.Array
# step(carry, batch, key) -> (carry, loss); key is None when the epoch has no noise key.
Step = Callable[[Any, Any, Any], tuple[Any, Array]]
LOOPS = ("scan", "step")


def shuffled_batches(key: Array, n: int, batch_size: int) -> Array:
  """A fresh permutation of ``n`` examples cut into ``[n // batch_size, batch_size]`` indices.

  The last ``n % batch_size`` examples of each permutation are left out of that epoch only.
  """
  perm = jax.random.permutation(key, n)
  n_batches = n // batch_size
  return perm[:n_batches * batch_size].reshape(n_batches, batch_size)


def _take(data, idx: Array, batch_sharding: Any):
  """The rows ``idx`` [batch_size] of every leaf of ``data``, laid out with ``batch_sharding``."""
  batch = jax.tree.map(lambda a: jnp.take(a, idx, axis=0), data)
  if batch_sharding is not None:
    batch = jax.tree.map(lambda b: jax.lax.with_sharding_constraint(b, batch_sharding), batch)
  return batch


def _key(noise_key: Array | None, i: Array) -> Array | None:
  return None if noise_key is None else jax.random.fold_in(noise_key, i)


def run(step: Step, carry, data, batches: Array, noise_key: Array | None = None, *,
        batch_sharding: Any = None, loop: str = "scan"):
  """One epoch: ``step`` over the minibatches ``batches`` [steps, batch_size] of ``data``;
  returns (carry, per-minibatch losses [steps] (whatever ``step`` returns, stacked)).

  Minibatch i is ``data``'s rows ``batches[i]`` (every leaf) and its step's key is
  ``fold_in(noise_key, i)`` (None without a noise key). ``batch_sharding`` (optional): every leaf
  of each minibatch is laid out with it (e.g. its example axis split over a mesh's devices), so
  the step runs data-parallel: the same arithmetic, the reductions ordered per device.

  ``loop="scan"``: one ``lax.scan``, traceable (jit the caller, e.g. with ``jit_epoch``).
  ``loop="step"``: a host loop of jitted steps (call it outside ``jit``; the step is compiled
  once per ``step`` object, so pass the same one every epoch): the same steps, keys and batches,
  equal up to XLA's choice of fusions.
  """
  if loop == "scan":
    def body(c, inputs):
      i, idx = inputs
      return step(c, _take(data, idx, batch_sharding), _key(noise_key, i))

    return jax.lax.scan(body, carry, (jnp.arange(batches.shape[0]), batches))
  if loop == "step":
    one = _jitted_step(step, batch_sharding)
    losses = []
    for i in range(batches.shape[0]):
      carry, loss = one(carry, data, batches[i], noise_key, jnp.int32(i))
      losses.append(loss)
    return carry, jax.tree.map(lambda *ls: jnp.stack(ls), *losses)
  raise ValueError(f"loop={loop!r}; accepted: {', '.join(LOOPS)}")


@functools.lru_cache(maxsize=16)
def _jitted_step(step: Step, batch_sharding: Any) -> Callable:
  """``step`` on the rows ``idx`` of ``data``, jitted with its carry donated (``loop="step"``)."""

  def one(carry, data, idx, noise_key, i):
    return step(carry, _take(data, idx, batch_sharding), _key(noise_key, i))

  return jax.jit(one, donate_argnums=(0,), compiler_options=_options())


def _options() -> dict | None:
  """XLA:CPU's copy insertion with its region analysis (see ``jit_epoch``); None elsewhere."""
  if jax.default_backend() == "cpu":
    return {"xla_cpu_copy_insertion_use_region_analysis": True}
  return None


def jit_epoch(fn: Callable) -> Callable:
  """``jax.jit`` of a training epoch ``fn(params, opt_state, ...)``, params and optimizer state
  donated (updated in place).

  On CPU, XLA's copy insertion is asked for its region analysis
  (``xla_cpu_copy_insertion_use_region_analysis``). Without it, XLA copies every kernel that the
  backward pass reads after the kernel's own gradient exists (layers 2 and 3 of an SdA-3: nothing
  orders the read before the in-place SGD update), two 4 MB copies per fine-tuning step; the
  analysis proves them unneeded. Same arithmetic, bit for bit; the SdA-3 fine-tuning step runs
  18% faster at minibatch 20 and 8% at 50 (notes/perf.md, "Copies in the training loop").
  """
  return jax.jit(fn, donate_argnums=(0, 1), compiler_options=_options())
