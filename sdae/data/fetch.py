"""Finding published files: in ``data_dir`` if one is given, else via the TFDS download manager.

With ``data_dir`` nothing is downloaded (so offline machines and tests never touch the
network): missing files are one :class:`DataError` naming every missing file, the folder and
where to get them. Without ``data_dir`` the files are downloaded into ``<cache_dir>/downloads``
(never into a user's data folder) by ``tfds.download.DownloadManager``, imported only then.

Before handing over to TFDS, the hosts are probed (name lookup and a TCP connection, a few
seconds at most): TFDS retries a failed connection for minutes per file, so a machine without
network would otherwise hang before failing. TFDS works in a temporary folder that is removed
whatever happens, so a failed download leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import tempfile
import threading
import urllib.parse
import urllib.request
from typing import Mapping, Optional, Sequence

from sdae.data import cache
from sdae.data.errors import DataError

PROBE_SECONDS = 5.0  # per host, all hosts probed at once


def local_path(filename: str, data_dir: Optional[str]) -> Optional[str]:
  if not data_dir:
    return None
  path = os.path.join(os.path.expanduser(str(data_dir)), filename)
  return path if os.path.isfile(path) else None


def _them(names: Sequence[str]) -> str:
  return "them" if len(names) > 1 else "it"


def _folder_of(url: str) -> str:
  return url.rsplit("/", 1)[0] + "/"


def locate(filename: str, urls: Sequence[str], data_dir: Optional[str],
           cache_dir: Optional[str] = None) -> str:
  """Path of ``filename``: from ``data_dir``, else downloaded from the first URL that works."""
  return locate_all([filename], {filename: urls}, data_dir, cache_dir)[0]


def locate_all(filenames: Sequence[str], urls: Mapping[str, Sequence[str]],
               data_dir: Optional[str], cache_dir: Optional[str] = None) -> list[str]:
  """Paths of ``filenames`` (in order): all from ``data_dir``, else downloaded.

  ``urls[name]`` lists the URLs to try for each file, best first. Every file is accounted for
  before anything is read or downloaded, so an error names all the missing ones at once.
  """
  where = _folder_of(urls[filenames[0]][0])
  if data_dir:
    folder = os.path.expanduser(str(data_dir))
    if not os.path.isdir(folder):
      raise DataError(f"--data_dir={data_dir} does not exist; create it and put "
                      f"{', '.join(filenames)} there (from {where}), or pass no --data_dir to "
                      f"download {_them(filenames)}")
    paths = [local_path(f, data_dir) for f in filenames]
    missing = [f for f, p in zip(filenames, paths) if p is None]
    if missing:
      raise DataError(f"{', '.join(missing)} not found in --data_dir={data_dir}; download "
                      f"{_them(missing)} from {_folder_of(urls[missing[0]][0])} into that "
                      f"folder, or pass no --data_dir to download {_them(missing)}")
    return paths
  done = [downloaded_path(f, cache_dir) for f in filenames]
  todo = [f for f, p in zip(filenames, done) if not os.path.isfile(p)]
  if todo:
    reason = unreachable([u for f in todo for u in urls[f]])
    if reason is not None:
      raise DataError(f"cannot download {', '.join(todo)}: {reason}; download "
                      f"{_them(todo)} from {_folder_of(urls[todo[0]][0])} into a folder and "
                      f"pass --data_dir=FOLDER")
    for f in todo:
      download(f, urls[f], cache_dir)
  return done


def downloaded_path(filename: str, cache_dir: Optional[str] = None) -> str:
  """Where a downloaded file is kept: ``<cache_dir>/downloads/<filename>``."""
  return os.path.join(cache.cache_dir(cache_dir), "downloads", filename)


def _endpoint(url: str) -> tuple[str, int]:
  """(host, port) a request for ``url`` connects to: the proxy's when one is configured."""
  parts = urllib.parse.urlsplit(url)
  proxy = urllib.request.getproxies().get(parts.scheme)
  if proxy and not urllib.request.proxy_bypass(parts.hostname or ""):
    parts = urllib.parse.urlsplit(proxy if "://" in proxy else "http://" + proxy)
  default = 443 if parts.scheme == "https" else 80
  return parts.hostname or "", parts.port or default


def unreachable(urls: Sequence[str], timeout: float = PROBE_SECONDS) -> Optional[str]:
  """None if any host of ``urls`` accepts a TCP connection, else why none does (short).

  Name lookups and connections run in background threads, all hosts at once, so a resolver
  that never answers costs ``timeout`` seconds, not minutes.
  """
  endpoints = list(dict.fromkeys(_endpoint(u) for u in urls))
  results: dict[tuple[str, int], Optional[str]] = {}

  def probe(host: str, port: int) -> None:
    try:
      addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
      results[(host, port)] = f"no network (name lookup of {host} failed: {_why(e)})"
      return
    why = "no address"
    for family, kind, proto, _, address in addresses:
      try:
        with socket.socket(family, kind, proto) as sock:
          sock.settimeout(timeout)
          sock.connect(address)
        results[(host, port)] = None
        return
      except OSError as e:
        why = _why(e)
    results[(host, port)] = f"no network ({host}:{port}: {why})"

  threads = [threading.Thread(target=probe, args=e, daemon=True) for e in endpoints]
  for t in threads:
    t.start()
  for t in threads:
    t.join(timeout + 1.0)
  if any(results.get(e, "") is None for e in endpoints):
    return None
  first = endpoints[0]
  return results.get(first) or f"no network ({first[0]}:{first[1]}: no answer in {timeout:g} s)"


def _why(e: BaseException) -> str:
  if isinstance(e, socket.timeout):
    return "timed out"
  return getattr(e, "strerror", None) or str(e) or type(e).__name__


def download(filename: str, urls: Sequence[str], cache_dir: Optional[str] = None,
             dest: Optional[str] = None) -> str:
  """Downloads with the TFDS download manager (needs network; not exercised offline) into
  ``dest`` (default ``downloaded_path``), atomically."""
  done = dest or downloaded_path(filename, cache_dir)
  if os.path.isfile(done):
    return done
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError as e:  # pragma: no cover
    raise DataError(f"cannot download {filename}: tensorflow_datasets is not importable "
                    f"({e}); put the file in a folder and pass --data_dir=FOLDER") from None
  folder = os.path.dirname(done)
  os.makedirs(folder, exist_ok=True)
  work = tempfile.mkdtemp(dir=folder, prefix=".tfds-")  # removed below, whatever happens
  errors = []
  try:
    dm = tfds.download.DownloadManager(download_dir=work, force_checksums_validation=False,
                                       register_checksums=False)
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
  finally:
    with contextlib.suppress(OSError):
      shutil.rmtree(work)
  raise DataError(f"could not download {filename} ({errors[0]}); download it from "
                  f"{_folder_of(urls[0])} into a folder and pass --data_dir=FOLDER")


def sha256(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    while chunk := f.read(1 << 22):
      h.update(chunk)
  return h.hexdigest()


def fingerprint(path: str) -> dict:
  st = os.stat(path)
  return {"file": os.path.basename(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
