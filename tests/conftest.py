"""Test settings: four CPU devices, strict numerics (as equinox's tests), a persistent
compilation cache, and paths to the machine's offline data."""

import os
import pathlib

import jax
import pytest

# Four CPU devices in this process (set before JAX starts its backend), so the multi-device
# checks (``@pytest.mark.multi_device``, tests/test_sharding.py) run in-process. Arrays and jitted
# programs go to device 0 unless a mesh says otherwise, so a single model's numbers are those of a
# one-device process. Subprocesses are not affected (no environment variable is set).
N_DEVICES = 4
jax.config.update("jax_num_cpu_devices", N_DEVICES)

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


@pytest.fixture(autouse=True)
def one_device_unless_marked(request, monkeypatch):
  """Meshes the library builds by itself (a sweep's or a table's members, ``sharding.member_mesh``
  and ``data_mesh`` without devices) take the first device only, unless the test is marked
  ``multi_device``: the sweeps, tables and entry points run in-process here as in a one-device
  process (on this suite's small problems, splitting members over fake devices of a 2-core machine
  costs time and checks nothing the multi-device tests do not)."""
  if request.node.get_closest_marker("multi_device") is None:
    from sdae import sharding
    real = sharding._devices  # pylint: disable=protected-access
    monkeypatch.setattr(sharding, "_devices",
                        lambda devices: real(jax.devices()[:1] if devices is None else devices))


@pytest.fixture
def mnist_dir():
  """The four MNIST IDX files, where this machine has them (skips elsewhere)."""
  if not (MNIST_DIR / "train-images-idx3-ubyte.gz").exists():
    pytest.skip("MNIST IDX files not available (../shared/data/mnist)")
  return str(MNIST_DIR)


@pytest.fixture
def key():
  return jax.random.key(0)
