"""Many processes (hosts) in one program: start-up, per-process data shards, process-0 writing.

JAX's multi-controller model: every process runs the same script; ``jax.distributed.initialize``
connects them, after which ``jax.devices()`` lists the devices of all processes and a ``Mesh``
over them (``sdae.sharding.member_mesh``) spans hosts. A member-sharded sweep then trains each
process's members on its own devices, in the same compiled program, with no change of code.

Start-up (``maybe_initialize``), from explicit arguments, before any computation: the
coordinator's address (process 0's ``host:port``, reachable by all), the number of processes and
this process's index, or ``auto=True`` where ``jax.distributed.initialize()`` finds everything
itself (Slurm, Open MPI, Cloud TPU, JAX's own ``JAX_COORDINATOR_ADDRESS`` ...). The entry points
take these from the ``SDAE_*`` environment variables (``experiments._cli.init_distributed``,
docs/multihost.md); the library reads no environment.

Data: every process reads the files, puts only its block of rows (``shard_rows``) on its
devices, and ``global_rows`` assembles the blocks into one global array split over the processes'
devices (``sharding.replicate`` then gathers it where every member needs all of it). Results: fetch with ``to_host`` (all processes
must call it: it is a collective when the array spans processes) and write only where
``is_writer()`` (process 0). ``agree`` gives every process process 0's value of a host-side
decision that precedes a collective (e.g. whether a checkpoint is due); ``barrier`` waits for
all processes. ``python -m experiments.sweep`` uses all of this (docs/multihost.md, "A sweep over several
processes").
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import numpy as np

_INITIALIZED = False


def maybe_initialize(coordinator: str | None = None, num_processes: int | None = None,
                     process_id: int | None = None,
                     local_device_ids: Sequence[int] | None = None, auto: bool = False) -> bool:
  """Calls ``jax.distributed.initialize`` when a multi-process run is asked for.

  Args:
    coordinator: ``host:port`` of process 0; needs ``num_processes`` and ``process_id``.
    num_processes, process_id: how many processes, and this one's index in 0..N-1.
    local_device_ids: optional, the local devices this process uses.
    auto: no coordinator given: let ``jax.distributed.initialize()`` detect the cluster.

  Returns True when this process is part of a multi-process run (False, doing nothing, when
  neither ``coordinator`` nor ``auto`` is given). Must run before any JAX computation; calling
  it again is a no-op. Inconsistent arguments raise ValueError (one line).
  """
  global _INITIALIZED
  if _INITIALIZED:
    return True
  if coordinator is None and not auto:
    if num_processes not in (None, 1) or process_id not in (None, 0):
      raise ValueError(f"num_processes={num_processes}, process_id={process_id} without a "
                       "coordinator; accepted: coordinator, num_processes and process_id "
                       "together, auto=True, or none")
    return False
  if coordinator is not None:
    if num_processes is None or process_id is None:
      raise ValueError(f"coordinator={coordinator!r} needs num_processes and process_id as well")
    if not 0 <= process_id < num_processes:
      raise ValueError(f"process_id={process_id} is invalid; accepted: 0..{num_processes - 1}")
  kwargs: dict[str, Any] = {}
  if coordinator is not None:
    kwargs.update(coordinator_address=coordinator, num_processes=num_processes,
                  process_id=process_id)
  if local_device_ids is not None:
    kwargs["local_device_ids"] = list(local_device_ids)
  jax.distributed.initialize(**kwargs)
  _INITIALIZED = True
  return True


def process_index() -> int:
  return jax.process_index()


def process_count() -> int:
  return jax.process_count()


def is_writer() -> bool:
  """True on the one process that writes results, metrics and pictures (process 0)."""
  return jax.process_index() == 0


def shard_rows(n: int, index: int | None = None, count: int | None = None) -> slice:
  """This process's contiguous block of ``n`` rows (the first ``n % count`` blocks one longer)."""
  index = jax.process_index() if index is None else index
  count = jax.process_count() if count is None else count
  base, extra = divmod(n, count)
  start = index * base + min(index, extra)
  return slice(start, start + base + (1 if index < extra else 0))


def global_rows(local: np.ndarray, mesh, global_rows_count: int | None = None) -> jax.Array:
  """One global array from each process's block of rows, split by rows over the mesh's devices.

  Every process passes its own rows (``shard_rows``), in process order; the result's leading
  axis is the concatenation. Requires the row count to split evenly over the mesh's devices.
  """
  from jax.sharding import NamedSharding, PartitionSpec as P
  local = np.asarray(local)
  shape = None
  if global_rows_count is not None:
    shape = (global_rows_count,) + local.shape[1:]
  sharding = NamedSharding(mesh, P(mesh.axis_names[0]))
  return jax.make_array_from_process_local_data(sharding, local, shape)


def barrier(name: str) -> None:
  """Waits until every process reaches ``name`` (nothing to wait for in a single process)."""
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils
    multihost_utils.sync_global_devices(name)


def agree(value):
  """Process 0's ``value`` on every process (a collective when there are several processes).

  For host-side decisions that must come out the same everywhere because a collective follows,
  e.g. whether a checkpoint is due (each process's clock would answer differently).
  """
  if jax.process_count() == 1:
    return value
  from jax.experimental import multihost_utils
  return np.asarray(multihost_utils.broadcast_one_to_all(np.asarray(value))).item()


def to_host(tree):
  """Every leaf as a whole numpy array on every process (a collective across processes)."""
  from jax.experimental import multihost_utils

  def one(a):
    if isinstance(a, jax.Array) and not a.is_fully_addressable:
      return np.asarray(multihost_utils.process_allgather(a, tiled=True))
    return np.asarray(a)

  return jax.tree.map(one, tree)
