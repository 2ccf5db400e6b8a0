"""Test settings: strict numerics (as equinox's tests), a persistent compilation cache, and
paths to the machine's offline data."""

import os
import pathlib

import jax
import pytest

# Catch accidental dtype promotion in library code (rank broadcasting such as `x @ w + b` is
# the idiom readers expect, so it stays allowed).
jax.config.update("jax_numpy_dtype_promotion", "strict")
# Repeat test runs (and CI on the same machine) skip most compilation.
_CACHE = os.environ.get("SDAE_JAX_CACHE",
                        os.path.join(os.path.expanduser("~"), ".cache", "sdae", "jax"))
if _CACHE != "0":
  jax.config.update("jax_compilation_cache_dir", _CACHE)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)

ROOT = pathlib.Path(__file__).resolve().parents[1]
MNIST_DIR = ROOT.parent / "shared" / "data" / "mnist"


@pytest.fixture
def mnist_dir():
  """The four MNIST IDX files, where this machine has them (skips elsewhere)."""
  if not (MNIST_DIR / "train-images-idx3-ubyte.gz").exists():
    pytest.skip("MNIST IDX files not available (../shared/data/mnist)")
  return str(MNIST_DIR)


@pytest.fixture
def key():
  return jax.random.key(0)
