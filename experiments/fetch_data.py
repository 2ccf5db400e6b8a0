r"""usage: python -m experiments.fetch_data --datasets=NAME,... --data_dir=DIR

example: python -m experiments.fetch_data --datasets=mnist,rect --data_dir=data

Downloads the published files of each dataset into DIR (the folder the other entry points then
take as --data_dir) and checks every file: MNIST's four IDX files by the MD5 of their
decompressed content, the Larochelle et al. (2007) zips by size and sha256 where known; every
file's sha256 is printed. Files already in DIR are checked, not downloaded again. With no
network it fails within seconds, in one line naming the files and where to get them. The URLs,
checksums and folder layout are in the README ("Getting the data").
"""

from __future__ import annotations

from absl import flags

from experiments import _cli

# The global FLAGS when run as a program; a private FlagValues when imported (tests), so entry
# points imported into one process never clash over --data_dir.
FLAGS = flags.FLAGS if __name__ == "__main__" else flags.FlagValues()
flags.DEFINE_list("datasets", None, "Required: datasets (names or paper aliases: mnist, rect, "
                  "convex, basic, ...) or 'all'.", flag_values=FLAGS)
flags.DEFINE_string("data_dir", None, "Required: the folder to put the files in (created); pass "
                    "the same folder as --data_dir to the runs.", flag_values=FLAGS)


def names_from_flags() -> list[str]:
  """The canonical dataset names of --datasets, validated before any file is touched."""
  from sdae.data import published, registry
  if not FLAGS.datasets:
    raise _cli.UsageError("--datasets is required; accepted: 'all' or comma-separated names "
                          "among " + ", ".join(registry.DATASETS))
  if not FLAGS.data_dir:
    raise _cli.UsageError("--data_dir is required: the folder to put the files in")
  _cli.check_output_dir("data_dir", FLAGS.data_dir)
  if [d.strip().lower() for d in FLAGS.datasets] == ["all"]:
    return [n for n in registry.DATASETS if published.files(n)]
  return list(dict.fromkeys(registry.resolve_name(d) for d in FLAGS.datasets))


def main(argv):
  del argv
  names = names_from_flags()
  from sdae.data import published
  paths = published.fetch_into(names, FLAGS.data_dir)
  print(f"{len(paths)} file{'s' * (len(paths) != 1)} checked in {FLAGS.data_dir}: pass "
        f"--data_dir={FLAGS.data_dir} to the runs")


if __name__ == "__main__":
  _cli.run(main)
