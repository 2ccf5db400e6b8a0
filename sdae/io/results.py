"""results.json: the fields a finished run reports, in reading order, each with one meaning.

``complete`` turns the driver's raw results into the file's content:

  dataset, data_source        the set and the source actually read: "original" (the published
                              files), "regenerated" (built on this machine) or "arrays" (a
                              caller's own arrays, or a dict that did not come from
                              ``sdae.data.load``)
  data_version                the regenerated set's data version read (``--data_version``;
                              ``sdae.data.regenerate.VERSIONS``), null for any other source
  test_error_pct, test_ci95_pct, valid_error_pct
                              test error of the parameters of the best validation epoch, its 95%
                              interval half-width, and that best validation error (percent)
  n_train, n_valid, n_test    examples in each split as used (n_train after ``--n_train``)
  finetune_best_epoch         fine-tuning epoch (1-based) of the best validation error, whose
                              parameters are evaluated on the test set
  finetune_epochs_run         fine-tuning epochs run (early stopping may end before the maximum)
  config                      every training setting as it applied: defaults and the preset
                              filled in, ``data_source`` the source read, ``data_version``
                              the version read, ``n_train`` and
                              ``finetune_batch_size`` their effective values (no 0 sentinels)
  seconds                     wall time: pretrain, finetune, training (their sum, over every
                              resumed session), total (this process, loading included; the sum
                              when resumed)
  device                      platform of the first device: cpu, gpu or tpu
  created                     when this file was written (UTC, ISO 8601)
  sdae_version, git_commit    the code that ran: package version, and the checkout's commit
                              (null outside a git checkout; "+dirty" when it had local edits)
  checkpoint_seconds          time spent writing checkpoints (only with a workdir)
  resumed_from                where this process resumed: {step, phase, layer (1-based, while
                              pretraining), epoch}; null when it started afresh (with a workdir)
  skipped_checkpoints         checkpoints found unreadable over the run's life, each
                              {step, moved_to, reason}; moved aside, never deleted (with a workdir)
  members                     a sweep's per-model results (each with ``best_epoch``, its
                              fine-tuning epoch), instead of the single-model error fields
"""

from __future__ import annotations

import datetime
import os
import subprocess
from typing import Any, Optional

_HEAD = ("dataset", "data_source", "data_version", "test_error_pct", "test_ci95_pct",
         "valid_error_pct", "n_train", "n_valid", "n_test", "finetune_best_epoch", "finetune_epochs_run")
_TAIL = ("config", "seconds", "device", "created", "sdae_version", "git_commit",
         "checkpoint_seconds", "resumed_from", "skipped_checkpoints", "members")


def complete(raw: dict[str, Any], *, n_train: int, n_valid: int,
             finetune_batch_size: int) -> dict[str, Any]:
  """``raw`` (the driver's dict) as results.json presents it; ``raw`` is left unchanged."""
  out = dict(raw)
  if "best_epoch" in out:  # a single model's; a sweep's members keep theirs
    out["finetune_best_epoch"] = out.pop("best_epoch")
  config = {k: v for k, v in out.get("config", {}).items()
            if k not in ("data_source_used", "data_version_used")}
  if "data_version" in out or "data_version" in config:
    config["data_version"] = out.get("data_version")
  config.update(data_source=out.get("data_source"), n_train=int(n_train),
                finetune_batch_size=int(finetune_batch_size))
  out.update(config=config, n_train=int(n_train), n_valid=int(n_valid), created=created(),
             sdae_version=version(), git_commit=git_commit())
  order = [k for k in _HEAD if k in out] + [k for k in out if k not in _HEAD + _TAIL]
  order += [k for k in _TAIL if k in out]
  return {k: out[k] for k in order}


def created() -> str:
  """Now, UTC, to the second: ``2025-01-31T12:00:00Z``."""
  now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
  return now.isoformat().replace("+00:00", "Z")


def version() -> str:
  import sdae  # pylint: disable=g-import-not-at-top
  return sdae.__version__


_COMMIT: list[Optional[str]] = []


def git_commit() -> Optional[str]:
  """The commit of the checkout this package runs from (``+dirty`` when it has local edits), or
  None when it is not a git checkout, git is missing, or git does not answer in 5 s."""
  if not _COMMIT:
    _COMMIT.append(_ask_git())
  return _COMMIT[0]


def _ask_git() -> Optional[str]:
  here = os.path.dirname(os.path.abspath(__file__))
  try:
    head = subprocess.run(["git", "-C", here, "rev-parse", "--show-toplevel", "HEAD"],
                          capture_output=True, text=True, timeout=5, check=False)
    lines = head.stdout.split()
    # This package's own checkout only (not, say, a home folder under git holding a venv).
    if head.returncode != 0 or len(lines) != 2 or not os.path.samefile(
        os.path.join(lines[0], "sdae"), here):
      return None
    commit = lines[1]
    dirty = subprocess.run(["git", "-C", here, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=5, check=False)
    return commit + ("+dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")
  except (OSError, ValueError, subprocess.SubprocessError):
    return None
