"""Finding a published file: in ``data_dir`` if one is given, else via the TFDS download manager.

With ``data_dir`` nothing is downloaded (so offline machines and tests never touch the
network): a missing file is a :class:`DataError` naming the file, the folder and the URL.
Without ``data_dir`` the file is downloaded into ``<cache_dir>/downloads`` (never into a
user's data folder) by ``tfds.download.DownloadManager``, imported only then.
"""

from __future__ import annotations

import hashlib
import os
from typing import Optional, Sequence

from sdae.data import cache
from sdae.data.errors import DataError


def local_path(filename: str, data_dir: Optional[str]) -> Optional[str]:
  if not data_dir:
    return None
  path = os.path.join(os.path.expanduser(str(data_dir)), filename)
  return path if os.path.isfile(path) else None


def locate(filename: str, urls: Sequence[str], data_dir: Optional[str],
           cache_dir: Optional[str] = None) -> str:
  """Path of ``filename``: from ``data_dir``, else downloaded from the first URL that works."""
  if data_dir:
    path = local_path(filename, data_dir)
    if path is None:
      if not os.path.isdir(os.path.expanduser(str(data_dir))):
        raise DataError(f"data_dir {data_dir} does not exist; create it and put {filename} "
                        f"there (from {urls[0]}), or pass no data_dir to download it")
      raise DataError(f"{filename} not found in data_dir {data_dir}; download it from "
                      f"{urls[0]} into that folder, or pass no data_dir to download it")
    return path
  return download(filename, urls, cache_dir)


def download(filename: str, urls: Sequence[str], cache_dir: Optional[str] = None) -> str:
  """Downloads with the TFDS download manager (needs network; not exercised offline)."""
  folder = os.path.join(cache.cache_dir(cache_dir), "downloads")
  done = os.path.join(folder, filename)
  if os.path.isfile(done):
    return done
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError as e:  # pragma: no cover
    raise DataError(f"cannot download {filename}: tensorflow_datasets is not importable "
                    f"({e}); put the file in a folder and pass data_dir") from None
  dm = tfds.download.DownloadManager(download_dir=os.path.join(folder, "tfds"),
                                     force_checksums_validation=False,
                                     register_checksums=False)
  errors = []
  for url in urls:
    try:
      path = os.fspath(dm.download(url))
    except Exception as e:  # pylint: disable=broad-except  # network errors vary
      errors.append(f"{url}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
      continue
    def _copy(f, src=path):
      with open(src, "rb") as g:
        while chunk := g.read(1 << 22):
          f.write(chunk)
    cache.atomic_write(done, _copy)
    return done
  raise DataError(f"could not download {filename} ({'; '.join(errors)}); download it by "
                  f"hand into a folder and pass data_dir=that folder")


def sha256(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    while chunk := f.read(1 << 22):
      h.update(chunk)
  return h.hexdigest()


def fingerprint(path: str) -> dict:
  st = os.stat(path)
  return {"file": os.path.basename(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
