r"""Regenerated sets beside the published ones: each set's statistics next to the facts measured
on the original files (../shared/reference/dataset-facts.md), and a preview.

    python -m experiments.data_report --datasets=convex,rect,rect-img --workdir=DIR \
        [--data_source=regenerated|original] [--data_dir=DIR] [--n=6000]

Prints one table per set (measure, published figure, ours, difference) and writes
DIR/data_report_<set>.md and .json and DIR/preview_<set>.png (+ .pdf). The measures are
defined in sdae/data/fidelity.py.
"""

from __future__ import annotations

from absl import flags

from experiments import _cli

# The global FLAGS when run as a program; a private FlagValues when imported (tests).
FLAGS = flags.FLAGS if __name__ == "__main__" else flags.FlagValues()
_d = dict(flag_values=FLAGS)
flags.DEFINE_list("datasets", None, "Sets to report: convex, rect (rectangles), rect-img "
                  "(rectangles_images: its rectangles' sizes beside the facts' leads).", **_d)
flags.DEFINE_string("workdir", None, "Output folder.", **_d)
flags.DEFINE_enum("data_source", "regenerated", ["regenerated", "original"],
                  "Which copy to measure (original: the published files in --data_dir).", **_d)
flags.DEFINE_string("data_dir", None, "Folder holding the published files.", **_d)
flags.DEFINE_string("cache_dir", None, "Cache folder for prepared arrays.", **_d)
flags.DEFINE_integer("n", 6000, "Images measured (train then valid rows).", **_d)
flags.DEFINE_integer("seed", 0, "Seed of the regenerated set.", **_d)
flags.DEFINE_integer("data_version", None, "Regenerated data only: the generator's version "
                     "(default: the newest).", **_d)


def main(argv):
  del argv
  from sdae import data
  from sdae.data import fidelity
  if not FLAGS.datasets:
    raise _cli.UsageError("--datasets is required; accepted: " + ", ".join(fidelity.MEASURES))
  if not FLAGS.workdir:
    raise _cli.UsageError("--workdir is required; expected a folder for the reports")
  _cli.check_output_dir("workdir", FLAGS.workdir)
  if FLAGS.n < 2:
    raise _cli.UsageError(f"--n={FLAGS.n} is invalid; accepted: an integer >= 2")
  names = [data.resolve_name(d) for d in FLAGS.datasets]  # DataError: one line
  for name in names:
    if name not in fidelity.MEASURES:
      raise _cli.UsageError(f"--datasets has {name!r}, for which no facts of the published "
                            f"files are measured; accepted: {', '.join(fidelity.MEASURES)}")
  from sdae.data import regenerate
  for name in names:  # before anything is loaded
    regenerate.check_flag(name, FLAGS.data_version, FLAGS.data_source)
  for name in names:
    splits = data.load(name, source=FLAGS.data_source, data_dir=FLAGS.data_dir,
                       seed=FLAGS.seed, cache_dir=FLAGS.cache_dir,
                       data_version=FLAGS.data_version)
    label = FLAGS.data_source + (f" v{splits.data_version}" if splits.data_version else "")
    out = fidelity.write_report(FLAGS.workdir, name, splits, FLAGS.data_source, FLAGS.n,
                                  FLAGS.seed)
    print(fidelity.report(name, out["measures"], label=label)[0])
    print(f"-> {FLAGS.workdir}/data_report_{name}.md, .json, preview_{name}.png\n")


if __name__ == "__main__":
  _cli.run(main)
