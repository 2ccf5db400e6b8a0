r"""usage: python -m experiments.preview --dataset=NAME [--out=runs/preview_NAME.png] [flags]

example: python -m experiments.preview --dataset=rect     # writes runs/preview_rectangles.png

Previews a dataset as a grid of examples, each labelled with its class and what it means.

    python -m experiments.preview --dataset=rect [--split=train] [--n=100] \
        [--data_source=original|regenerated] [--data_dir=DIR] [--cache_dir=DIR] \
        [--seed=0] [--out=runs/preview_rectangles.png]

Writes the PNG (default ``runs/preview_<canonical dataset name>.png``, under the current
folder: for ``--dataset=rect``, ``runs/preview_rectangles.png``) and a PDF beside it. Under each
example: its label, and for the two-class sets what the label means (rectangles: 0 wide, 1 tall;
convex: 0 non-convex, 1 convex); the MNIST sets' labels are the digits.
"""

from __future__ import annotations

import os

from absl import flags
import numpy as np

_DATASET = flags.DEFINE_string("dataset", None, "Dataset name or paper alias.")
_SPLIT = flags.DEFINE_enum("split", "train", ["train", "valid", "test"], "Split to show.")
_N = flags.DEFINE_integer("n", 100, "Number of examples (the first n of the split).")
_SOURCE = flags.DEFINE_enum("data_source", None, ["original", "regenerated"],
                            "Data source; default: original where the files are at hand.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Folder holding the published files.")
_CACHE_DIR = flags.DEFINE_string("cache_dir", None, "Cache folder for prepared arrays.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the regenerated set.")
_VERSION = flags.DEFINE_integer("data_version", None, "Regenerated data only: the generator's "
                                "version (default: the newest).")
_OUT = flags.DEFINE_string("out", None, "Output PNG (default runs/preview_<canonical dataset "
                           "name>.png, e.g. runs/preview_rectangles.png for --dataset=rect); a "
                           "PDF is written beside it.")



def default_out(name: str) -> str:
  """The PNG written when --out is not given, for the canonical dataset ``name``: in ``runs/``
  (created), as the README's runs, not among the repository's files."""
  return os.path.join("runs", f"preview_{name}.png")


def label_names(name: str) -> dict[int, str] | None:
  """The name of each label of dataset ``name`` where the registry gives them (rectangles: 0
  wide, 1 tall), else None."""
  from sdae.data import registry  # pylint: disable=g-import-not-at-top
  spec = registry.DATASETS.get(name)
  return dict(enumerate(spec.label_names)) if spec is not None and spec.label_names else None


def label_legend(name: str) -> str:
  """What the labels of dataset ``name`` mean, for the figure's title."""
  names = label_names(name)
  if names:
    return "label " + ", ".join(f"{k} = {v}" for k, v in sorted(names.items()))
  from sdae.data import registry  # pylint: disable=g-import-not-at-top
  spec = registry.DATASETS.get(name)
  if spec is not None and spec.label_meaning:
    return f"label = {spec.label_meaning}"
  return "label = class index"


def preview_figure(name: str, x: np.ndarray, y: np.ndarray, split: str, source: str):
  """The figure: examples ``x`` [n, d] (square images) with labels ``y`` [n]."""
  from sdae import viz  # pylint: disable=g-import-not-at-top
  title = (f"{name} ({source} data), {split} split: the first {len(x)} examples\n"
           f"{label_legend(name)}")
  return viz.examples_figure(x, y, title=title, label_names=label_names(name))


def preview(dataset: str, out: str | None = None, split: str = "train", n: int = 100,
            source: str | None = None, data_dir: str | None = None,
            cache_dir: str | None = None, seed: int = 0,
            data_version: int | None = None) -> str:
  """Loads ``dataset`` and writes the grid (PNG, and a PDF beside it); returns the PNG's path."""
  from sdae import data  # pylint: disable=g-import-not-at-top
  from sdae import viz  # pylint: disable=g-import-not-at-top
  name = data.resolve_name(dataset)
  if n < 1:
    raise data.DataError(f"--n={n}: need at least one example")
  src = data.pick_source(name, source, data_dir, cache_dir)
  splits = data.load(name, source=src, data_dir=data_dir, seed=seed, cache_dir=cache_dir,
                     data_version=data_version)
  x, y = splits[split]
  if splits.data_version is not None:
    src = f"{src} v{splits.data_version}"
  if viz.square_side(x.shape[1]) is None:
    raise data.DataError(f"{name} has {x.shape[1]} features per example, not a square "
                         f"image; nothing to preview")
  out = out or default_out(name)
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  viz.save_figure(preview_figure(name, x[:n], y[:n], split, src), os.path.abspath(out))
  return out


def main(argv):
  del argv
  from experiments import _cli  # pylint: disable=g-import-not-at-top
  from sdae import data  # pylint: disable=g-import-not-at-top
  if not _DATASET.value:
    raise _cli.UsageError("--dataset is required; accepted: "
                          + ", ".join(sorted(data.DATASETS)) + " or a paper alias (rect, ...)")
  name = data.resolve_name(_DATASET.value)  # an unknown name: one line, exit 2
  from sdae.data import regenerate  # pylint: disable=g-import-not-at-top
  regenerate.check_flag(name, _VERSION.value, _SOURCE.value)
  out = _OUT.value or default_out(name)
  if not out.lower().endswith(".png"):
    raise _cli.UsageError(f"--out={out} is invalid; accepted: a file name ending in .png")
  _cli.check_output_dir("out", os.path.dirname(os.path.abspath(out)))
  _cli.quiet_libraries()
  path = preview(name, out, _SPLIT.value, _N.value, _SOURCE.value, _DATA_DIR.value,
                 _CACHE_DIR.value, _SEED.value, _VERSION.value)
  print(path)


if __name__ == "__main__":
  from experiments import _cli as _entry  # pylint: disable=g-import-not-at-top
  _entry.run(main)
