"""Datasets of Vincent et al. (2010) by name: original files or regenerated on the machine.

    from sdae import data
    splits = data.load("rect")                 # {"train": (x, y), "valid": ..., "test": ...}
    splits.source                              # "regenerated": the source actually read
    data.pick_source("rect", data_dir=None)    # the source load would read, without loading

Modules: ``registry`` (names, aliases, sizes, published files), ``idx`` and ``amat``
(readers), ``original`` (published files), ``regenerate`` (generators), ``tzanetakis``
(user features), ``cache`` (prepared arrays), ``tfds_builders`` (TFDS builders; imports
tensorflow_datasets, so it is not imported here).
"""

from sdae.data.api import Splits, check_data_dir, from_arrays, load, pick_source
from sdae.data.errors import DataError
from sdae.data.registry import DATASETS, DatasetSpec, resolve_name

__all__ = ["DATASETS", "DataError", "DatasetSpec", "Splits", "check_data_dir", "from_arrays",
           "load", "pick_source", "resolve_name"]
