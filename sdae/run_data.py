"""The data of a run: loaded by name with the source actually read, and laid out on the
devices (every process contributing its block of rows when there are several)."""

from __future__ import annotations

import logging
from typing import Any

import jax.numpy as jnp
import numpy as np

from sdae import config as config_lib
from sdae import distributed

log = logging.getLogger("sdae")


def load_data(config: config_lib.TrainConfig) -> tuple[dict, str]:
  """(splits, data_source) for ``config.dataset``: ``sdae.data.load``'s splits and the source
  they were actually read from (``splits.data_version``: the regenerated data version)."""
  from sdae import data as data_lib
  splits = data_lib.load(config.dataset, source=config.data_source, data_dir=config.data_dir,
                         seed=0, cache_dir=config.cache_dir, data_version=config.data_version)
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


def version_of(splits: dict) -> int | None:
  """The data version to record for ``splits``: the regenerated set's (``sdae.data.load`` tags
  it), else None."""
  return getattr(splits, "data_version", None)


def device_splits(splits: dict, n_train: int, mesh: Any = None):
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


