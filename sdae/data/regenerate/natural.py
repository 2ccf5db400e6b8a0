"""Whitened natural-image patches (Olshausen & Field 1996), the input of the filter figures.

Two sources of images, the same patches after them:

* ``regenerated``: ten photographs of natural scenes and textures that ship inside
  scikit-image's wheel (``PHOTOS``), converted to grey (Pillow's ITU-R 601-2 luma), scaled to
  [0, 1], mean-subtracted, whitened with Olshausen & Field's zero-phase filter
  ``R(f) = f exp(-(f / f0)^4)`` (``f`` in cycles per pixel, ``f0 = 0.4``: flattens the
  ``1/f`` amplitude spectrum of natural images and rolls off before Nyquist), with a ``MARGIN``
  cut off each border (the FFT's wrap-around is felt there);
* ``original``: Olshausen's ``IMAGES.mat`` (ten 512x512 images, already whitened with the same
  filter; key ``IMAGES``, ``[h, w, n_images]``) when it is in ``--data_dir``.

Each image is then scaled to variance ``VARIANCE`` (Olshausen's own normalisation,
``sqrt(0.1) * I / sqrt(mean(var(I)))``), so that a corruption level means the same on either
source, and ``size x size`` patches are cut at uniform positions of uniformly chosen images
(numpy ``Generator``: a fixed seed gives the same patches). Labels are the index of the image a
patch came from (there are no classes).
"""

from __future__ import annotations

import numpy as np

from sdae.data.errors import DataError

# Bump when the images, the filter or the sampling change: the cache key carries it.
VERSION = 1
PHOTOS = ("astronaut.png", "brick.png", "camera.png", "chelsea.png", "coffee.png",
          "grass.png", "gravel.png", "moon.png", "motorcycle_left.png", "rocket.jpg")
F0 = 0.4  # cycles per pixel (Olshausen's 0.4 N cycles per picture of side N)
MARGIN = 8  # pixels cut from each border after whitening
VARIANCE = 0.1  # of each whitened image, as Olshausen's IMAGES.mat
PATCH = 12
MAT_FILE = "IMAGES.mat"
MAT_KEY = "IMAGES"


def whitening_filter(shape: tuple[int, int], f0: float = F0) -> np.ndarray:
  """``f exp(-(f / f0)^4)`` on the ``numpy.fft.fft2`` grid of an image of ``shape`` [h, w]."""
  fy = np.fft.fftfreq(shape[0])[:, None]
  fx = np.fft.fftfreq(shape[1])[None, :]
  f = np.sqrt(fx * fx + fy * fy)
  return f * np.exp(-(f / f0) ** 4)


def whiten(image: np.ndarray, f0: float = F0) -> np.ndarray:
  """The whitened ``image`` [h, w] (float64, zero mean): its mean removed, then filtered by
  ``whitening_filter`` in the frequency domain (zero phase, so edges stay in place)."""
  x = np.asarray(image, np.float64)
  x = x - x.mean()
  return np.real(np.fft.ifft2(np.fft.fft2(x) * whitening_filter(x.shape, f0)))


def normalise(image: np.ndarray, variance: float = VARIANCE) -> np.ndarray:
  """``image`` scaled to the given variance (float32)."""
  x = np.asarray(image, np.float64)
  std = x.std()
  if not np.isfinite(std) or std == 0:
    raise DataError("a natural image is constant (or not finite) after whitening; supply "
                    "photographs, not flat fields")
  return (x * np.sqrt(variance) / std).astype(np.float32)


def photographs() -> list[np.ndarray]:
  """The regenerated source's images: ``PHOTOS`` whitened, cropped and normalised."""
  from sdae.data.regenerate import images  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  folder = images._skimage_data_dir()  # pylint: disable=protected-access
  out = []
  for name in PHOTOS:
    path = os.path.join(folder, name)
    try:
      with Image.open(path) as im:
        grey = np.asarray(im.convert("L"), dtype=np.float64) / 255.0
    except OSError as e:
      raise DataError(f"cannot read photograph {path} ({e}); reinstall scikit-image") from None
    out.append(normalise(whiten(grey)[MARGIN:-MARGIN, MARGIN:-MARGIN]))
  return out


def read_mat(path: str) -> list[np.ndarray]:
  """Olshausen's ``IMAGES.mat``: its ``IMAGES`` [h, w, n] (already whitened), each image
  normalised to ``VARIANCE``."""
  import scipy.io  # pylint: disable=g-import-not-at-top
  try:
    mat = scipy.io.loadmat(path)
  except (OSError, ValueError, TypeError, NotImplementedError) as e:
    raise DataError(f"cannot read {path} as a MATLAB file ({e}); supply Olshausen's "
                    f"{MAT_FILE} (a variable {MAT_KEY} of shape [h, w, n_images])") from None
  arr = mat.get(MAT_KEY)
  if arr is None or np.ndim(arr) not in (2, 3) or not np.issubdtype(np.asarray(arr).dtype,
                                                                     np.number):
    raise DataError(f"{path} has no numeric variable {MAT_KEY} of shape [h, w, n_images]; "
                    f"found: {', '.join(k for k in mat if not k.startswith('__')) or 'none'}")
  arr = np.asarray(arr, np.float64)
  if arr.ndim == 2:
    arr = arr[:, :, None]
  return [normalise(arr[:, :, i]) for i in range(arr.shape[2])]


def check_patch(images: list[np.ndarray], size: int) -> None:
  """Refuses a patch ``size`` that is not in [2, the smallest image side]."""
  smallest = min(min(im.shape) for im in images)
  if not 2 <= int(size) <= smallest:
    raise DataError(f"--patch_size={size} does not fit the images (the smallest is "
                    f"{'x'.join(map(str, min(images, key=lambda im: min(im.shape)).shape))}); "
                    f"accepted: 2 to {smallest}")


def sample(rng: np.random.Generator, images: list[np.ndarray], n: int,
           size: int = PATCH) -> tuple[np.ndarray, np.ndarray]:
  """``(patches [n, size * size] float32, image index [n] int32)``: ``n`` windows at uniform
  positions of uniformly chosen ``images``."""
  check_patch(images, size)
  pick = rng.integers(0, len(images), n)
  out = np.empty((n, size, size), np.float32)
  ar = np.arange(size)
  for j, im in enumerate(images):
    sel = np.flatnonzero(pick == j)
    r = rng.integers(0, im.shape[0] - size + 1, sel.size)
    c = rng.integers(0, im.shape[1] - size + 1, sel.size)
    out[sel] = im[r[:, None, None] + ar[None, :, None], c[:, None, None] + ar[None, None, :]]
  return out.reshape(n, size * size), pick.astype(np.int32)


def splits(rng: np.random.Generator, images: list[np.ndarray], sizes: tuple[int, int, int],
           size: int = PATCH) -> dict:
  """``{"train": (x, y), "valid": ..., "test": ...}`` of ``sample`` d patches."""
  x, y = sample(rng, images, sum(sizes), size)
  a, b = sizes[0], sizes[0] + sizes[1]
  return {"train": (x[:a], y[:a]), "valid": (x[a:b], y[a:b]), "test": (x[b:], y[b:])}
