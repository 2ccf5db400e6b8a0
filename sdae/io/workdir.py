"""A run's workdir: its identity (``config.json``), the source it was trained on, and the
live metrics (``metrics.jsonl``, each epoch once across resumes)."""

from __future__ import annotations

import json
import logging
import os
import shutil

import numpy as np

from sdae import checkpoint as ckpt_lib
from sdae import config as config_lib
from sdae import distributed
from sdae.experiment_errors import RunError

log = logging.getLogger("sdae")


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
  """``config`` with the data source and data version ``workdir`` recorded, for those it names
  none of.

  A rerun of a command in its workdir then reads the data the run started on, whatever has
  changed around it (files added to --data_dir, the cache, a newer generator), and resumes. An
  explicit ``data_source`` or ``data_version`` is kept (a different one is refused by
  ``prepare_workdir``); ``overwrite`` starts over, so both are picked afresh. A regenerated run
  recorded before data versions were (no ``data_version_used``) read version
  ``LEGACY_VERSION``.
  """
  if overwrite or (config.data_source and config.data_version is not None):
    return config
  recorded = recorded_config(workdir)
  if not recorded or recorded.get("dataset") != config.dataset:
    return config
  used = recorded.get("data_source_used")
  if used not in ("original", "regenerated"):
    return config
  if not config.data_source:
    from sdae import data as data_lib
    fresh = data_lib.pick_source(config.dataset, None, config.data_dir)
    if fresh != used:
      log.info("%s was trained on %s data: resuming on it (--data_source=%s --overwrite starts "
               "over on %s data)", workdir, used, fresh, fresh)
    config = config.replace(data_source=used)
  if config.data_version is None and used == "regenerated" == config.data_source:
    from sdae.data import regenerate  # pylint: disable=g-import-not-at-top
    version = recorded.get("data_version_used", regenerate.LEGACY_VERSION)
    if version is not None and version in regenerate.accepted(config.dataset):
      if version != regenerate.newest(config.dataset):
        log.info("%s was trained on data version %s: resuming on it (--data_version=%s "
                 "--overwrite starts over on the newest)", workdir, version,
                 regenerate.newest(config.dataset))
      config = config.replace(data_version=int(version))
  return config


# data_source and data_version are what was asked for (None: pick); the data actually read,
# data_source_used and data_version_used, are part of the identity instead, so an explicit
# --data_source or --data_version naming them resumes the run.
_RUNTIME_ONLY = ("checkpoint_every_secs", "keep_checkpoints", "data_dir", "cache_dir",
                 "data_source", "data_version")


def run_identity(cfg: dict) -> dict:
  """The part of a config that defines the run (runtime-only settings may change on resume).
  A setting at None, or at its ``config.OPTIONAL_AT_DEFAULT`` value, counts as absent, so a
  field added since a workdir was written, whose value there is the old behaviour (e.g.
  ``member_loop``, ``pretraining``), does not set that workdir apart."""
  optional = config_lib.OPTIONAL_AT_DEFAULT
  return {k: v for k, v in cfg.items()
          if k not in _RUNTIME_ONLY and v is not None and not (k in optional and optional[k] == v)}


class DamagedFileError(RunError):
  """A file of the workdir that the run needs cannot be read; ``str(e)`` is one line naming it
  and what to do. Exit status 2, as for bad input."""

  exit_status = 2


def _read_config(path: str, overwrite: bool) -> dict:
  """A workdir's config.json; damaged, a ``DamagedFileError`` (with ``overwrite``: ``{}``, a
  configuration that matches none, so the run starts over)."""
  try:
    with open(path, encoding="utf-8") as f:
      out = json.load(f)
    if not isinstance(out, dict):
      raise ValueError(f"a JSON {type(out).__name__}, not an object")
    return out
  except (OSError, ValueError) as e:
    if overwrite:
      return {}
    reason = " ".join(str(e).split())[:120]
    raise DamagedFileError(
        f"{path} is damaged ({reason}); it records which run this workdir holds, so its "
        "checkpoints are not resumed without it: restore the file from a copy, pass --overwrite "
        "to start over in this workdir, or use another --workdir") from None


def prepare_workdir(workdir: str, config_dict: dict, overwrite: bool) -> None:
  """Creates ``workdir`` or checks that it belongs to this configuration."""
  path = os.path.join(workdir, "config.json")
  if os.path.exists(path):
    old = _read_config(path, overwrite)
    if "data_version_used" not in old and old.get("data_source_used") == "regenerated":
      from sdae.data import regenerate  # pylint: disable=g-import-not-at-top
      old = dict(old, data_version_used=regenerate.LEGACY_VERSION)  # written before versions
    new = run_identity(config_dict)
    if "data_source_used" not in old:  # written before the source was recorded: not known
      new.pop("data_source_used", None)
      new.pop("data_version_used", None)
    if run_identity(old) != new:
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
    with open(self.path, encoding="utf-8", errors="replace") as f:  # torn bytes: a bad line
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


