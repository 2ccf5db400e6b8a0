"""Atomic file writes that keep the user's umask.

Every output (results and config JSON, PNGs, cache entries, denoiser files) is written to a
temporary file in the destination folder and renamed into place, so a reader never sees half a
file and a killed run leaves the previous version. ``tempfile.mkstemp`` creates its file with
mode 0600 whatever the umask; the file is given the mode ``open()`` would have given it
(0666 minus the umask: 0644 under the usual 022) before the rename, so collaborators in the
group read the outputs as they read any other file the user writes. Reading back is as
forgiving: a damaged JSON file or a line of ``metrics.jsonl`` cut by a kill is passed over.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from typing import Any, Callable, IO

log = logging.getLogger("sdae")


def umask_mode() -> int:
  """0o666 minus the process's umask: the mode ``open(path, "w")`` gives a new file."""
  mask = None
  try:  # Linux reports it without changing it (no window in which other threads see another)
    with open("/proc/self/status") as f:
      for line in f:
        if line.startswith("Umask:"):
          mask = int(line.split()[1], 8)
  except (OSError, ValueError, IndexError):
    pass
  if mask is None:  # elsewhere os.umask is the only query, and it sets as it reads
    mask = os.umask(0o022)
    os.umask(mask)
  return 0o666 & ~mask


def atomic_write(path: str, write_fn: Callable[[IO[bytes]], Any], suffix: str = ".tmp") -> None:
  """Calls ``write_fn(binary_file)`` on a temporary file next to ``path``, then renames it.

  The temporary name starts with a dot (hidden from listings and globs such as ``*.png``); on
  any error, or an interrupt, it is removed and ``path`` is left as it was. A failed write (disk
  full) raises its ``OSError`` with ``filename`` set to ``path``.
  """
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".",
                             suffix=suffix)
  try:
    with os.fdopen(fd, "wb") as f:
      write_fn(f)
      f.flush()
      os.fsync(f.fileno())
    os.chmod(tmp, umask_mode())
    os.replace(tmp, path)
  except BaseException as e:
    with contextlib.suppress(OSError):
      os.unlink(tmp)
    if isinstance(e, OSError) and e.filename is None:  # a failed write names no file: name it
      raise type(e)(e.errno, e.strerror, path) from None
    raise


def write_bytes(path: str, data: bytes) -> None:
  """Writes ``data`` to ``path`` atomically."""
  atomic_write(path, lambda f: f.write(data))


def write_text(path: str, text: str) -> None:
  """Writes ``text`` (UTF-8) to ``path`` atomically."""
  write_bytes(path, text.encode("utf-8"))


def write_json(path: str, obj: Any, sort_keys: bool = False) -> None:
  """Writes ``obj`` as indented JSON (one trailing newline) to ``path`` atomically."""
  write_text(path, json.dumps(obj, indent=2, sort_keys=sort_keys) + "\n")


def read_metrics(path: str) -> list[dict]:
  """The rows of a run's ``metrics.jsonl`` (``[]`` when it is missing); a line cut by a kill is
  skipped."""
  rows = []
  try:
    with open(path, encoding="utf-8", errors="replace") as f:
      for line in f:
        try:
          rows.append(json.loads(line))
        except ValueError:
          continue
  except OSError:
    pass
  return rows


def read_json(path: str, *, if_damaged: str) -> Any | None:
  """The JSON object in ``path``, or None when the file is missing or damaged (torn by a full
  disk, edited by hand, not JSON). A damaged file is reported in one warning line naming it and
  ``if_damaged`` (what the caller does instead, e.g. "recomputing it from the checkpoints"); it
  is left in place, and the caller's next atomic write replaces it."""
  if not os.path.exists(path):
    return None
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except (OSError, ValueError) as e:
    log.warning("%s is damaged (%s); %s", path, " ".join(str(e).split())[:120], if_damaged)
    return None
