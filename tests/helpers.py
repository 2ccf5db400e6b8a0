"""Shared test helpers: a tiny separable problem, a simulated kill, in-process entry points."""

import numpy as np


def toy_splits(n_train=300, n_valid=100, n_test=200, d=36, seed=0):
  """Two classes of [0, 1] patterns: class k lights half k of the d features (plus noise)."""
  rng = np.random.default_rng(seed)

  def make(n):
    y = rng.integers(0, 2, n).astype(np.int32)
    x = rng.random((n, d)).astype(np.float32) * 0.4
    x[y == 1, : d // 2] += 0.5
    x[y == 0, d // 2:] += 0.5
    return np.clip(x, 0, 1), y

  return {"train": make(n_train), "valid": make(n_valid), "test": make(n_test)}


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
