"""TFDS builders for the ``original`` sources, so ``tfds.builder``/``tfds.data_source`` work.

One configurable builder, ``sdae_vincent2010``, with one config per dataset (``mnist``,
``mnist_basic``, ..., ``convex``). It downloads the published files with the TFDS download
manager, or reads them from ``manual_dir`` under their published names, and parses them with
the same readers as :func:`sdae.data.load` (checksums, row counts, column-major variants
transposed). Examples: ``{"image": float32 [784] in [0, 1], "label": ClassLabel}``.

Needs no TensorFlow with ``file_format="array_record"``::

    import tensorflow_datasets as tfds
    import sdae.data.tfds_builders  # registers the builder
    b = tfds.builder("sdae_vincent2010/rectangles", data_dir=D, file_format="array_record")
    b.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=FILES))
    ds = b.as_data_source()["test"]

Importing this module imports tensorflow_datasets; ``sdae.data`` does not import it.
"""

from __future__ import annotations

import os

from etils import epath
import numpy as np
import tensorflow_datasets as tfds

from sdae.data import idx, original, registry

# tzanetakis is the user's own; natural_patches is unlabelled and built from images, not files.
_NAMES = [n for n, s in registry.DATASETS.items() if s.name not in ("tzanetakis",
                                                                     "natural_patches")]


def _manual(dl_manager, filename):
  try:
    folder = dl_manager.manual_dir
  except Exception:  # pylint: disable=broad-except  # no manual_dir configured
    return None
  if folder is None:
    return None
  path = os.path.join(os.fspath(folder), filename)
  return path if os.path.isfile(path) else None


def _fetch(dl_manager, filename, url):
  return _manual(dl_manager, filename) or os.fspath(dl_manager.download(url))


def split_arrays(name: str, dl_manager) -> dict:
  """``{"train": (x, y), "valid": ..., "test": ...}`` read through ``dl_manager``."""
  spec = registry.DATASETS[name]
  if name == "mnist":
    arrays = [idx.read_verified(_fetch(dl_manager, f, idx.MNIST_URLS[0] + f), f)
              for f in idx.MNIST_FILES]
    xtr, ytr, xte, yte = arrays
    flat = lambda a: a.reshape(len(a), 784).astype(np.float32) / np.float32(255)
    xtr, xte = flat(xtr), flat(xte)
    ytr, yte = ytr.astype(np.int64), yte.astype(np.int64)
  else:
    path = _fetch(dl_manager, spec.zip.name, spec.zip.url)
    original.verify_zip(path, spec.zip)
    xtr, ytr, xte, yte = original.read_zip(path, spec)
  n = spec.n_train
  return {"train": (xtr[:n], ytr[:n]), "valid": (xtr[n:], ytr[n:]), "test": (xte, yte)}


class SdaeVincent2010(tfds.core.GeneratorBasedBuilder):
  """MNIST and the Larochelle et al. (2007) sets with the splits of Vincent et al. (2010)."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=n, description=registry.DATASETS[n].description)
                     for n in _NAMES]
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Optional: put the published files (train-images-idx3-ubyte.gz ..., rectangles.zip, "
      "convex.zip, ...) in manual_dir; otherwise they are downloaded from "
      f"{registry.LISA_URL} and {idx.MNIST_URLS[0]}.")

  # TFDS 4.9.10 resolves a packaged builder's code path through the `importlib_resources`
  # backport, which is not a dependency here; the file's own path is what it needs.
  @tfds.core.utils.classproperty
  @classmethod
  def code_path(cls):
    return epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    spec = registry.DATASETS[self.builder_config.name]
    return tfds.core.DatasetInfo(
        builder=self,
        description=spec.description,
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Tensor(shape=(784,), dtype=np.float32),
            "label": tfds.features.ClassLabel(num_classes=spec.n_classes),
        }),
        supervised_keys=("image", "label"),
        homepage=registry.LISA_URL if spec.zip else idx.MNIST_URLS[-1],
    )

  def _split_generators(self, dl_manager):
    arrays = split_arrays(self.builder_config.name, dl_manager)
    return {s: self._generate_examples(x, y) for s, (x, y) in arrays.items()}

  def _generate_examples(self, x, y):
    for i in range(len(x)):
      yield i, {"image": x[i], "label": int(y[i])}
