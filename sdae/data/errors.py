"""The one exception type of :mod:`sdae.data`."""


class DataError(ValueError):
  """A dataset could not be found, verified or parsed.

  ``str(e)`` is one line naming the file or value at fault and what to do about it.
  """

  def __init__(self, message: str):
    super().__init__(" ".join(str(message).split()))
