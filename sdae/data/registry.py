"""Dataset names, aliases, split sizes, and what is known of the published files."""

from __future__ import annotations

import dataclasses
import math
from typing import Optional

from sdae.data.errors import DataError

LISA_URL = "http://www.iro.umontreal.ca/~lisa/icml2007data/"
MNIST_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"


@dataclasses.dataclass(frozen=True)
class ZipFile:
  """One Larochelle et al. (2007) zip of ``.amat`` text.

  ``train_member``/``test_member`` are the published inner names; the reader also
  accepts any member ending in ``train.amat``/``train_valid.amat``/``test.amat``.
  """
  name: str
  train_member: str
  test_member: str
  transposed: bool           # images stored column-major
  size: Optional[int] = None  # bytes, where known
  sha256: Optional[str] = None

  @property
  def url(self) -> str:
    return LISA_URL + self.name


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  """One dataset. What the code outside the data package asks of a set is a field or property
  here, never its name: ``images`` (square images, or feature vectors when ``dim`` is None),
  ``labelled`` (``n_classes`` > 0), ``unlabelled_use`` and ``unavailable`` (the words of the
  messages that refuse or skip it), ``label_names`` and ``label_meaning`` (for pictures)."""

  name: str
  alias: str
  n_train: int
  n_valid: int
  n_test: int
  n_classes: int  # 0: unlabelled (no classifier is trained on it)
  sources: tuple[str, ...]
  description: str
  zip: Optional[ZipFile] = None
  dim: Optional[int] = 784   # None: feature vectors of their own width (tzanetakis)
  # An unlabelled set: what it is used for instead, for the message that refuses to train a
  # classifier on it.
  unlabelled_use: str = ""
  # Why a table row of the set has no data, with "{error}" the loader's message; empty: the
  # generic "data not available (...)".
  unavailable: str = ""
  # What the labels mean: a name per class index (rectangles: label 0 is wide, 1 tall;
  # reference/dataset-facts.md), or in words for all of them ("the digit"); neither: the class
  # index.
  label_names: tuple[str, ...] = ()
  label_meaning: str = ""

  @property
  def images(self) -> bool:
    """Whether the examples are flattened square images (False: feature vectors, ``dim`` None)."""
    return self.dim is not None and math.isqrt(self.dim) ** 2 == self.dim

  @property
  def labelled(self) -> bool:
    return self.n_classes > 0


def _zip(name, train, test, transposed, size=None, sha256=None):
  return ZipFile(name, train, test, transposed, size, sha256)


DIGIT = "the digit"  # label_meaning of the MNIST family

DATASETS: dict[str, DatasetSpec] = {s.name: s for s in [
    DatasetSpec("mnist", "MNIST", 50000, 10000, 10000, 10, ("original",),
                "MNIST digits (LeCun et al.): first 50000 of the IDX train file, "
                "last 10000 as validation, t10k as test.", label_meaning=DIGIT),
    DatasetSpec("mnist_basic", "basic", 10000, 2000, 50000, 10,
                ("original", "regenerated"),
                "A 62000-digit subset of MNIST (Larochelle et al. 2007).",
                _zip("mnist.zip", "mnist_train.amat", "mnist_test.amat", False),
                label_meaning=DIGIT),
    DatasetSpec("mnist_rot", "rot", 10000, 2000, 50000, 10, ("original", "regenerated"),
                "MNIST digits rotated by an angle uniform in [0, 2*pi).",
                _zip("mnist_rotation_new.zip",
                     "mnist_all_rotation_normalized_float_train_valid.amat",
                     "mnist_all_rotation_normalized_float_test.amat", True),
                label_meaning=DIGIT),
    DatasetSpec("mnist_bg_rand", "bg-rand", 10000, 2000, 50000, 10,
                ("original", "regenerated"),
                "MNIST digits over a background of uniform random pixels.",
                _zip("mnist_background_random.zip", "mnist_background_random_train.amat",
                     "mnist_background_random_test.amat", True),
                label_meaning=DIGIT),
    DatasetSpec("mnist_bg_img", "bg-img", 10000, 2000, 50000, 10,
                ("original", "regenerated"),
                "MNIST digits over patches of natural photographs.",
                _zip("mnist_background_images.zip", "mnist_background_images_train.amat",
                     "mnist_background_images_test.amat", True),
                label_meaning=DIGIT),
    DatasetSpec("mnist_bg_img_rot", "bg-img-rot", 10000, 2000, 50000, 10,
                ("original", "regenerated"),
                "Rotated MNIST digits over patches of natural photographs.",
                _zip("mnist_rotation_back_image_new.zip",
                     "mnist_all_background_images_rotation_normalized_train_valid.amat",
                     "mnist_all_background_images_rotation_normalized_test.amat",
                     True), label_meaning=DIGIT),
    DatasetSpec("rectangles", "rect", 1000, 200, 50000, 2, ("original", "regenerated"),
                "White rectangle outlines on black; label 1 = tall, 0 = wide.",
                _zip("rectangles.zip", "rectangles_train.amat", "rectangles_test.amat",
                     False, 2740555,
                     "72952122784584f7a1aab68f74d8a06047a972596575a3a5a68cf32cc39daf8d"),
                label_names=("wide", "tall")),
    DatasetSpec("rectangles_images", "rect-img", 10000, 2000, 50000, 2,
                ("original", "regenerated"),
                "A rectangle of one image patch over another patch; 1 = tall, 0 = wide.",
                _zip("rectangles_images.zip", "rectangles_im_train.amat",
                     "rectangles_im_test.amat", False), label_names=("wide", "tall")),
    DatasetSpec("convex", "convex", 6000, 2000, 50000, 2, ("original", "regenerated"),
                "White convex region (label 1) or non-convex union of convex sets (0).",
                _zip("convex.zip", "convex_train.amat", "convex_test.amat", False),
                label_names=("non-convex", "convex")),
    DatasetSpec("tzanetakis", "tzanetakis", 0, 0, 0, 10, ("original",),
                "User-supplied music-genre features (tzanetakis.npz or tzanetakis.amat "
                "in data_dir); seeded stratified 60/20/20 split unless the file gives one.",
                dim=None, unavailable="no tzanetakis features here ({error}); put tzanetakis.npz "
                "or tzanetakis.amat in --data_dir"),
    DatasetSpec("natural_patches", "natural", 100000, 10000, 10000, 0,
                ("original", "regenerated"),
                "12x12 patches of whitened natural images (Olshausen & Field 1996): scikit-image "
                "photographs, or Olshausen's IMAGES.mat in data_dir; unlabelled (y: the "
                "image a patch came from).", dim=144,
                unlabelled_use="its filters: python -m experiments.filters --figure=natural"),
]}

_ALIASES = {}
for _s in DATASETS.values():
  for _n in {_s.name, _s.alias, _s.name.replace("_", "-"), _s.alias.replace("-", "_")}:
    _ALIASES[_n.lower()] = _s.name


def resolve_name(name: str) -> str:
  """Canonical dataset name for a canonical name or paper alias (case-insensitive)."""
  key = str(name).strip().lower()
  if key not in _ALIASES:
    accepted = ", ".join(f"{s.name} ({s.alias})" if s.alias.lower() != s.name else s.name
                         for s in DATASETS.values())
    raise DataError(f"unknown dataset {name!r}; accepted names (aliases): {accepted}")
  return _ALIASES[key]


def spec(name: str) -> DatasetSpec:
  return DATASETS[resolve_name(name)]
