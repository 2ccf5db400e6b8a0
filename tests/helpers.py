"""Shared test helpers: a tiny separable problem, labelled synthetic shapes in place of MNIST, a
simulated kill, in-process entry points."""

import numpy as np


def toy_splits(n_train=300, n_valid=100, n_test=200, d=36, seed=0, signal=0.5):
  """Two classes of [0, 1] patterns: class k lights half k of the d features by ``signal``, on
  uniform noise in [0, 0.4). At 0.5 every method solves it; at a few hundredths the classes
  overlap, and models of different seeds or levels make different errors."""
  rng = np.random.default_rng(seed)

  def make(n):
    y = rng.integers(0, 2, n).astype(np.int32)
    x = rng.random((n, d)).astype(np.float32) * 0.4
    x[y == 1, : d // 2] += signal
    x[y == 0, d // 2:] += signal
    return np.clip(x, 0, 1), y

  return {"train": make(n_train), "valid": make(n_valid), "test": make(n_test)}


def shapes(n: int, seed: int = 0, side: int = 28) -> tuple[np.ndarray, np.ndarray]:
  """(images [n, side*side] float32, labels int32 [n]) of 4 classes placed at random:
  0 a horizontal bar, 1 a vertical bar, 2 both (a cross), 3 a square outline; ink = 1."""
  rng = np.random.default_rng(seed)
  x = np.zeros((n, side, side), np.float32)
  y = rng.integers(0, 4, n).astype(np.int32)
  for i in range(n):
    r, c = rng.integers(6, side - 9, 2)
    if y[i] in (0, 2):
      x[i, r:r + 3, 4:side - 4] = 1.0
    if y[i] in (1, 2):
      x[i, 4:side - 4, c:c + 3] = 1.0
    if y[i] == 3:
      s = rng.integers(10, 16)
      r0, c0 = rng.integers(2, side - s - 2, 2)
      x[i, r0:r0 + s, c0:c0 + s] = 1.0
      x[i, r0 + 2:r0 + s - 2, c0 + 2:c0 + s - 2] = 0.0
  return x.reshape(n, -1), y


def fake_labelled_mnist(monkeypatch, cache_dir, n_test: int):
  """Labelled ``shapes`` (train 256, valid 64, test ``n_test``) in place of ``sdae.data.load``,
  JAX left as configured, and the reference classifier's cache in ``cache_dir``; returns the
  splits."""
  from experiments import _cli
  from sdae import data
  splits = data.Splits({"train": shapes(256, 0), "valid": shapes(64, 2),
                        "test": shapes(n_test, 1)}, "original")
  monkeypatch.setattr(data, "load", lambda name, **kw: splits)
  monkeypatch.setattr(_cli, "setup_jax", lambda *a, **k: None)
  monkeypatch.setenv("SDAE_CACHE_DIR", str(cache_dir))
  return splits


def count_epochs(monkeypatch, stop_after=None):
  """Counts metric lines (one per epoch); raises KeyboardInterrupt after ``stop_after``."""
  from sdae import experiment as E
  calls = {"n": 0}
  real_write = E.MetricsLog.write

  def write(self, **row):
    real_write(self, **row)
    calls["n"] += 1
    if calls["n"] == stop_after:
      raise KeyboardInterrupt("simulated kill")

  monkeypatch.setattr(E.MetricsLog, "write", write)
  return calls


def run_cli(module, argv):
  """Runs an entry point's ``main`` in-process as ``_cli.run`` does on the command line (one-line
  errors); returns the exit status."""
  from absl import flags
  from experiments import _cli
  from sdae.config import ConfigError
  from sdae.data import DataError
  module.FLAGS.unparse_flags()
  try:
    module.FLAGS(["prog"] + argv)
    module.main(["prog"])
  except (_cli.UsageError, ConfigError, DataError, flags.Error) as e:
    try:
      _cli.fail(str(e), 2)
    except SystemExit as exit_:
      return exit_.code
  finally:
    module.FLAGS.unparse_flags()
  return 0


def run_main(module, argv):
  """Parses ``argv`` into the entry point's flags and calls its ``main`` in-process (errors
  raise, as in a test they should)."""
  module.FLAGS.unparse_flags()
  try:
    module.FLAGS(["prog"] + argv)
    return module.main(["prog"])
  finally:
    module.FLAGS.unparse_flags()
