"""Members and minibatches over devices: meshes, shardings, and how a device runs its members.

Two kinds of parallelism, both through ``jax.sharding`` (one program, GSPMD / ``shard_map``):

- **Member (sweep) axis.** A sweep's arrays carry a leading member axis M (``sdae.experiment``).
  ``member_mesh(M)`` builds a 1-D mesh named ``"members"`` over the largest number of devices that
  divides M (all of them for an 8-level sweep on 8 devices), ``member_sharding(mesh)`` splits the
  leading axis over it, and the compiled epochs (``compiled_pretrain_epoch(..., mesh=mesh)``)
  run under ``jax.shard_map``: each device trains its own M / n_devices members, with no
  communication at all (the data are replicated). The same code runs on one CPU, 8 GPUs, or many
  hosts (``sdae.distributed``).
- **Batch axis (data parallelism) for one model.** ``data_mesh()`` names its axis ``"data"``;
  ``compiled_pretrain_epoch(..., mesh=mesh)`` lays every minibatch out split over it and keeps
  the parameters replicated; XLA inserts the all-reduce of the gradients. A mesh is read by its
  axis name: ``"data"`` splits minibatches (of one model, or of the one member of a members run:
  ``is_data_mesh``), any other splits members.

Within a device, ``over_members`` runs the local members either as one ``jax.vmap``-ed program
(batched matrix products; best on GPU/TPU, where one member's products do not fill the device)
or as a ``lax.map`` over members, each member's whole epoch after the previous one's (best on CPU,
where a member's weights stay in cache for a whole epoch instead of 8 members' weights streaming
through it every step; it is also bit-identical to training the members one by one). ``loop=None``
picks by platform (notes/perf.md has the measurements); a run chooses with
``TrainConfig.member_loop`` (``--member_loop``). A single member (M = 1, a single model run by
the driver as a sweep of one) runs neither: ``one_member`` runs the model's own program with the
member axis squeezed off and put back, no loop and no batching, so it is the model alone bit for
bit on every platform and costs nothing.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

MEMBERS = "members"
DATA = "data"
LOOPS = ("vmap", "map")


# --- meshes ------------------------------------------------------------------------------------


def _devices(devices: Sequence[Any] | None) -> list:
  return list(jax.devices() if devices is None else devices)


def interleave_processes(devices: Sequence[Any]) -> list:
  """``devices`` reordered round-robin over their processes (first device of each process, then
  the second of each, ...), each process's own order kept: a mesh over the first k devices then
  spans as many processes as it can (2 members on 2 processes of 2 devices: one per process)."""
  by_process: dict[int, list] = {}
  for d in devices:
    by_process.setdefault(int(getattr(d, "process_index", 0)), []).append(d)
  queues = [by_process[p] for p in sorted(by_process)]
  width = max((len(q) for q in queues), default=0)
  return [q[i] for i in range(width) for q in queues if i < len(q)]


def member_mesh(n_members: int, devices: Sequence[Any] | None = None) -> Mesh:
  """1-D mesh ``("members",)`` over the most devices (of all processes) that divide ``n_members``.

  With 8 members on 8 devices: one member per device; on 4 devices: two each; on 3 devices only
  2 are used (the largest divisor of 8 that is at most 3), four members each. The devices are
  taken round-robin over processes (``interleave_processes``).
  """
  devs = interleave_processes(_devices(devices))
  if n_members < 1:
    raise ValueError(f"n_members={n_members}; accepted: a positive integer")
  return Mesh(np.asarray(devs[:most_dividing(n_members, len(devs))]), (MEMBERS,))


def data_mesh(batch_size: int | None = None, devices: Sequence[Any] | None = None) -> Mesh:
  """1-D mesh ``("data",)`` for data parallelism (the most devices that divide ``batch_size``)."""
  devs = _devices(devices)
  k = len(devs) if batch_size is None else most_dividing(batch_size, len(devs))
  return Mesh(np.asarray(devs[:k]), (DATA,))


def most_dividing(n: int, n_devices: int) -> int:
  """The largest device count ``<= n_devices`` that divides ``n`` (``n`` members or rows)."""
  return max(d for d in range(1, n_devices + 1) if n % d == 0)


# --- shardings and placement ---------------------------------------------------------------------


def member_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (member) axis split over the mesh's first axis; other axes whole."""
  return NamedSharding(mesh, P(mesh.axis_names[0]))


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (example) axis of a minibatch split over the mesh's first axis."""
  return NamedSharding(mesh, P(mesh.axis_names[0]))


def minibatch_sharding(mesh: Mesh | None, members: bool) -> NamedSharding | None:
  """How a compiled epoch lays out each minibatch: split over a data mesh, or over any mesh for
  the epoch of one model without a member axis (data parallelism); None when the mesh splits
  members, or there is none."""
  if mesh is None or (members and not is_data_mesh(mesh)):
    return None
  return batch_sharding(mesh)


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def _put(value, sharding: NamedSharding):
  """``value`` laid out with ``sharding``; multi-host safe.

  A value that every process holds whole (numpy, or a process-local array) is cut up locally;
  a global array that spans processes is resharded by XLA (e.g. gathered when replicated).
  """
  if isinstance(value, jax.Array):
    if not value.is_fully_addressable:
      if value.sharding.device_set != sharding.device_set:
        # A member mesh on some of the devices (2 models on 2 processes of 2 devices): a
        # cross-host reshard needs one device set, so every process gathers the whole value.
        from sdae import distributed  # pylint: disable=g-import-not-at-top
        value = distributed.to_host(value)
      elif value.sharding._device_assignment != sharding._device_assignment:  # pylint: disable=protected-access
        # The same devices in another order (the member mesh interleaves the processes): a jit
        # refuses two device orders, device_put reshards.
        return jax.device_put(value, sharding)
      else:
        return jax.jit(lambda a: a, out_shardings=sharding)(value)
    elif sharding.is_fully_addressable:
      return jax.device_put(value, sharding)
  host = np.asarray(value)
  return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])


def place_members(tree, mesh: Mesh):
  """Every leaf (leading axis M) split over the mesh: each device holds its members' slices."""
  sh = member_sharding(mesh)
  return jax.tree.map(lambda a: _put(a, sh), tree)


def replicate(tree, mesh: Mesh):
  """Every leaf whole on every device of the mesh (the data of a member-sharded sweep)."""
  sh = replicated(mesh)
  return jax.tree.map(lambda a: _put(a, sh), tree)


def is_data_mesh(mesh: Mesh | None) -> bool:
  """Whether ``mesh`` splits minibatches (its axis is ``"data"``: ``data_mesh``) rather than
  members."""
  return mesh is not None and mesh.axis_names[0] == DATA


def as_data_mesh(mesh: Mesh) -> Mesh:
  """``mesh``'s devices as a data mesh (axis ``"data"``): what a mesh given for one model means."""
  return mesh if is_data_mesh(mesh) else Mesh(np.asarray(mesh.devices).reshape(-1), (DATA,))


def place(tree, mesh: Mesh | None):
  """A members run's arrays (leading member axis) laid out on ``mesh``: split over a member mesh
  (``place_members``), replicated on a data mesh (the one member's minibatches are what is
  split); as they are without a mesh."""
  if mesh is None:
    return tree
  return (replicate if is_data_mesh(mesh) else place_members)(tree, mesh)


def is_trivial(mesh: Mesh | None) -> bool:
  return mesh is None or (mesh.size == 1 and jax.process_count() == 1)


# --- members on a device -----------------------------------------------------------------------


def default_loop(mesh: Mesh | None = None) -> str:
  """``"map"`` on CPU and ``"vmap"`` on accelerators (see the module docstring), for the
  platform of ``mesh`` (or the default backend)."""
  platform = mesh.devices.flat[0].platform if mesh is not None else jax.default_backend()
  return "map" if platform == "cpu" else "vmap"


def resolve_loop(loop: str | None, mesh: Mesh | None = None) -> str:
  """``loop`` itself (``"vmap"`` or ``"map"``), or ``default_loop(mesh)`` for None or
  ``"auto"``; raises ValueError naming anything else."""
  if loop is None or loop == "auto":
    return default_loop(mesh)
  if loop not in LOOPS:
    raise ValueError(f"loop={loop!r}; accepted: {', '.join(LOOPS)} or auto (by platform)")
  return loop


def cache_by_loop(build: Callable, maxsize: int = 32) -> Callable:
  """``functools.lru_cache`` for a builder of compiled member programs whose ``loop=None`` means
  ``default_loop(mesh)``: the loop is resolved before the cache is consulted, so a program built
  for one loop is never handed out when the other is asked for. Bounded: every entry holds a
  jitted function and its compiled executables, and a long-lived process (a notebook, a table
  of many shapes) would otherwise keep every program it ever built."""
  cached = functools.lru_cache(maxsize=maxsize)(build)

  @functools.wraps(build)
  def wrapper(*args, loop: str | None = None, mesh: Mesh | None = None, **kwargs):
    return cached(*args, loop=resolve_loop(loop, mesh), mesh=mesh, **kwargs)

  wrapper.cache_info = cached.cache_info
  wrapper.cache_clear = cached.cache_clear
  _PROGRAM_CACHES.append(cached)
  return wrapper


_PROGRAM_CACHES: list = []  # every cache_by_loop cache, for clear_program_caches


def clear_program_caches() -> None:
  """Drops every compiled member program built so far (``cache_by_loop``): frees their memory in
  a long-lived process, and makes the next run build its programs afresh."""
  for cache in _PROGRAM_CACHES:
    cache.cache_clear()


def map_members(fn: Callable, in_axes: Sequence[int | None]) -> Callable:
  """Like ``jax.vmap(fn, in_axes)`` (axes 0 or None), but one member after another (``lax.map``)."""
  mapped = _mapped(in_axes)

  def run(*args):
    def one(sliced):
      full = list(args)
      for i, v in zip(mapped, sliced):
        full[i] = v
      return fn(*full)
    return jax.lax.map(one, [args[i] for i in mapped])

  return run


def _mapped(in_axes: Sequence[int | None]) -> list[int]:
  if any(a not in (0, None) for a in in_axes):
    raise ValueError(f"in_axes={in_axes}; accepted: 0 or None per argument")
  return [i for i, a in enumerate(in_axes) if a == 0]


def n_members(args: Sequence[Any], in_axes: Sequence[int | None]) -> int:
  """The member count M of ``args`` (the leading axis of the first array of a mapped argument)."""
  leaves = jax.tree.leaves([args[i] for i in _mapped(in_axes)])
  if not leaves:
    raise ValueError("no argument carries the member axis")
  return int(np.shape(leaves[0])[0])


def one_member(fn: Callable, in_axes: Sequence[int | None]) -> Callable:
  """``fn`` of one member -> function of a member axis of size 1: ``fn`` itself on the mapped
  arguments with their axis squeezed off, the axis put back on every output. Reshapes only (no
  loop, no batching), so the program is the single model's, bit for bit."""
  mapped = _mapped(in_axes)

  def run(*args):
    full = list(args)
    for i in mapped:
      full[i] = jax.tree.map(lambda a: jax.lax.squeeze(a, (0,)), args[i])
    return jax.tree.map(lambda a: jax.lax.expand_dims(a, (0,)), fn(*full))

  return run


def each_member(fn: Callable, in_axes: Sequence[int | None]) -> Callable:
  """``jax.vmap(fn, in_axes)`` (axes 0 or None), but for a single member ``one_member``: the
  member's own program."""
  return _by_count(fn, one_member(fn, in_axes), jax.vmap(fn, in_axes=tuple(in_axes)), in_axes)


def over_members(fn: Callable, in_axes: Sequence[int | None], loop: str | None = None,
                 mesh: Mesh | None = None, *, map_fn: Callable | None = None) -> Callable:
  """``fn`` of one member -> function of M members (leading axis), split over ``mesh``.

  ``loop``: ``"vmap"``, ``"map"``, or None / ``"auto"`` (``default_loop``). With a non-trivial
  member ``mesh``, the result runs under ``jax.shard_map``: arguments with axis 0 are split over
  the mesh's first axis, the others replicated, and every output keeps its leading member axis
  split the same way. One member (M = 1, known when the function is traced) runs
  ``one_member``, whatever the loop: a single model's own program. A data mesh
  (``is_data_mesh``) takes one member only, whose minibatches ``fn`` splits itself.

  ``map_fn``: what the ``"map"`` loop runs per member instead of ``fn`` (same arguments and
  outputs), e.g. ``fn`` under a ``lax.cond`` that skips a stopped member: there, one member after
  another, a branch not taken costs nothing, where ``vmap`` would compute both.
  """
  loop = resolve_loop(loop, mesh)
  one = one_member(fn, in_axes)
  if is_data_mesh(mesh):
    def not_one(*args):
      raise ValueError(f"a data mesh splits the minibatches of one member, not of "
                       f"{n_members(args, in_axes)}; accepted: a member mesh for a sweep")
    return _by_count(fn, one, not_one, in_axes)
  if loop == "vmap":
    inner = jax.vmap(fn, in_axes=tuple(in_axes))
  else:
    inner = map_members(map_fn or fn, in_axes)
  if not is_trivial(mesh):
    axis = mesh.axis_names[0]
    in_specs = tuple(P(axis) if a == 0 else P() for a in in_axes)
    inner = jax.shard_map(inner, mesh=mesh, in_specs=in_specs, out_specs=P(axis),
                          check_vma=False)
  return _by_count(fn, one, inner, in_axes)


def _by_count(fn: Callable, one: Callable, many: Callable, in_axes) -> Callable:
  """``one`` for a single member, else ``many`` (decided when traced), named as ``fn``."""

  def members(*args):
    return (one if n_members(args, in_axes) == 1 else many)(*args)

  name = getattr(fn, "__name__", None) or getattr(getattr(fn, "func", None), "__name__", None)
  if name:
    members.__name__ = members.__qualname__ = name
  return members
