"""The published files of each dataset: where they are served, how each is checked, and getting
them into a folder for ``--data_dir`` (``python -m experiments.fetch_data``).

MNIST's four IDX files are checked by the MD5 of their decompressed content (the official
figures; recompressed copies circulate, so the .gz bytes differ between mirrors); a Larochelle
et al. (2007) zip by its size and sha256 where they are known (``registry.ZipFile``), else only
reported (its sha256, for the record; the loader checks its content when it parses it). Every
file's sha256 is reported, so two machines can compare what they hold.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from typing import Callable, Optional, Sequence

from sdae.data import fetch, idx, registry
from sdae.data.errors import DataError


@dataclasses.dataclass(frozen=True)
class PublishedFile:
  """One published file: its name in ``--data_dir``, the URLs serving it (best first), and
  what is known of it."""
  dataset: str
  name: str
  urls: tuple[str, ...]
  md5_decompressed: Optional[str] = None  # MNIST
  size: Optional[int] = None
  sha256: Optional[str] = None


def files(dataset: str) -> list[PublishedFile]:
  """The published files of ``dataset`` (a name or paper alias); [] when it has none
  (tzanetakis: the user's own features)."""
  s = registry.spec(dataset)
  if s.name == "mnist":
    return [PublishedFile(s.name, f, tuple(u + f for u in idx.MNIST_URLS), md5)
            for f, md5 in idx.MNIST_FILES.items()]
  if s.zip is None:
    return []
  return [PublishedFile(s.name, s.zip.name, (s.zip.url,), size=s.zip.size,
                        sha256=s.zip.sha256)]


def verify(f: PublishedFile, path: str) -> str:
  """Checks ``path`` against what is known of ``f``; returns what was checked (one line).
  A mismatch is a ``DataError`` naming the file, the figure found and the one expected."""
  size = os.path.getsize(path)
  digest = fetch.sha256(path)
  if f.md5_decompressed is not None:
    md5 = hashlib.md5(idx.read_gz(path)).hexdigest()
    if md5 != f.md5_decompressed:
      raise DataError(f"{path}: MD5 of the decompressed content is {md5}, expected "
                      f"{f.md5_decompressed}; delete it and download it again from {f.urls[0]}")
    return f"MD5 of the decompressed content {md5} as published; sha256 {digest}"
  if f.size is not None and size != f.size:
    raise DataError(f"{path} is {size} bytes, the published {f.name} is {f.size}; delete it and "
                    f"download it again from {f.urls[0]}")
  if f.sha256 is not None:
    if digest != f.sha256:
      raise DataError(f"{path} has sha256 {digest}, expected {f.sha256}; delete it and download "
                      f"it again from {f.urls[0]}")
    return f"{size} bytes, sha256 {digest} as published"
  return (f"{size} bytes, sha256 {digest} (no published checksum known: the loader checks its "
          "content)")


def fetch_into(datasets: Sequence[str], data_dir: str,
               report: Callable[[str], None] = print) -> list[str]:
  """Puts the published files of ``datasets`` in ``data_dir`` and checks every one.

  Files already there are checked, not downloaded again. Missing ones are downloaded (TFDS's
  download manager, ``fetch.download``) after a probe of their hosts, so that with no network
  this fails within seconds, in one ``DataError`` naming every missing file. ``report`` gets one
  line per file. Returns the files' paths.
  """
  wanted: list[PublishedFile] = []
  for name in datasets:
    for f in files(name):
      if f.name not in {w.name for w in wanted}:
        wanted.append(f)
  if not wanted:
    raise DataError(f"{', '.join(datasets)}: no published files to fetch (tzanetakis' features "
                    "are your own: put tzanetakis.npz or tzanetakis.amat in --data_dir)")
  folder = os.path.expanduser(data_dir)
  missing = [f for f in wanted if not os.path.isfile(os.path.join(folder, f.name))]
  if missing:
    reason = fetch.unreachable([u for f in missing for u in f.urls])
    if reason is not None:
      where = "; ".join(f"{f.name} from {f.urls[0]}" for f in missing)
      raise DataError(f"cannot download {len(missing)} file{'s' * (len(missing) > 1)}: "
                      f"{reason}; on a machine with a network, download {where}, and put "
                      f"{'them' if len(missing) > 1 else 'it'} in {data_dir}")
  os.makedirs(folder, exist_ok=True)
  paths = []
  for f in wanted:
    path = os.path.join(folder, f.name)
    how = "present"
    if not os.path.isfile(path):
      fetch.download(f.name, f.urls, dest=path)
      how = "downloaded"
    try:
      checked = verify(f, path)
    except DataError:
      if how == "downloaded":  # a bad download is not left where the loaders would read it
        os.remove(path)
      raise
    report(f"{f.dataset}: {f.name} {how}, {checked}")
    paths.append(path)
  return paths
