"""Errors of a run that cannot go on (kept import-light for the entry points)."""


class RunError(RuntimeError):
  """A run that cannot go on (workdir conflict, divergence); ``str(e)`` is one line."""


class DivergenceError(RunError):
  """A NaN or Inf loss; the message names the layer, epoch and step, and suggests a fix."""
