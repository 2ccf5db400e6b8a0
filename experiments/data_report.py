r"""Each set's statistics beside the facts measured on the published files
(../shared/reference/dataset-facts.md), and a preview.

    python -m experiments.data_report --datasets=SET,... --workdir=DIR \
        [--data_source=regenerated|original] [--data_dir=DIR] [--data_version=N] \
        [--against=original] [--n=6000]

Sets: convex, rect, rect-img, basic, rot, bg-rand, bg-img, bg-img-rot; mnist with
--data_source=original only (it is the published MNIST itself, with no regenerated copy).

Prints one table per set (measure, published figure, ours, difference) and writes
DIR/data_report_<set>.md and .json and DIR/preview_<set>.png (+ .pdf). Every set gets the pixel
measures (value histogram, zeros, ink, per-image standard deviation, mean image); convex,
rect and rect-img their own too. Nothing of the MNIST variants' published files is known: their
tables show ours alone. ``--against=original`` measures the published files in --data_dir too
(for an MNIST variant the folder also holds MNIST's IDX files, its regenerated digits) and sets
them beside the regenerated set, with the difference (and DIR/preview_<set>_original.png).
The measures are defined in sdae/data/fidelity.py.
"""

from __future__ import annotations

from absl import flags

from experiments import _cli

# The global FLAGS when run as a program; a private FlagValues when imported (tests).
FLAGS = flags.FLAGS if __name__ == "__main__" else flags.FlagValues()
_d = dict(flag_values=FLAGS)
flags.DEFINE_list("datasets", None, "Sets to report: convex, rect (rectangles), rect-img "
                  "(rectangles_images: its rectangles' sizes beside the facts' leads), basic, "
                  "rot, bg-rand, bg-img, bg-img-rot (pixel statistics, ours alone), mnist "
                  "(--data_source=original only).", **_d)
flags.DEFINE_string("workdir", None, "Output folder.", **_d)
flags.DEFINE_enum("data_source", "regenerated", ["regenerated", "original"],
                  "Which copy to measure (original: the published files in --data_dir).", **_d)
flags.DEFINE_string("data_dir", None, "Folder holding the published files.", **_d)
flags.DEFINE_string("cache_dir", None, "Cache folder for prepared arrays.", **_d)
flags.DEFINE_integer("n", 6000, "Images measured (train then valid rows).", **_d)
flags.DEFINE_integer("seed", 0, "Seed of the regenerated set.", **_d)
flags.DEFINE_enum("against", None, ["original"], "Also measure the published files (in "
                  "--data_dir) and set them beside the regenerated set, with the difference.",
                  **_d)
flags.DEFINE_integer("data_version", None, "Regenerated data only: the generator's version "
                     "(default: the newest).", **_d)


def main(argv):
  del argv
  from sdae import data
  from sdae.data import fidelity, regenerate
  if not FLAGS.datasets:
    raise _cli.UsageError("--datasets is required; accepted: " + ", ".join(fidelity.SETS))
  if not FLAGS.workdir:
    raise _cli.UsageError("--workdir is required; expected a folder for the reports")
  _cli.check_output_dir("workdir", FLAGS.workdir)
  if FLAGS.n < 2:
    raise _cli.UsageError(f"--n={FLAGS.n} is invalid; accepted: an integer >= 2")
  if FLAGS.against and FLAGS.data_source != "regenerated":
    raise _cli.UsageError(f"--against={FLAGS.against} sets the published files beside a "
                          f"regenerated set, and --data_source={FLAGS.data_source} reads them "
                          "already; accepted: --data_source=regenerated with --against")
  names = [data.resolve_name(d) for d in FLAGS.datasets]  # DataError: one line
  for name in names:  # before anything is loaded
    problem = fidelity.refusal(name, FLAGS.data_source)
    if problem:
      raise _cli.UsageError(problem)
    regenerate.check_flag(name, FLAGS.data_version, FLAGS.data_source)
  if FLAGS.against:
    data.check_data_dir(FLAGS.data_dir)
    fidelity.check_originals(names, FLAGS.data_dir)
  for name in names:
    kw = dict(data_dir=FLAGS.data_dir, seed=FLAGS.seed, cache_dir=FLAGS.cache_dir)
    splits = data.load(name, source=FLAGS.data_source, data_version=FLAGS.data_version, **kw)
    published = data.load(name, source="original", **kw) if FLAGS.against else None
    out = fidelity.write_report(FLAGS.workdir, name, splits, FLAGS.data_source, FLAGS.n,
                                FLAGS.seed, against=published)
    label = fidelity.source_label(FLAGS.data_source, out["data_version"])
    print(fidelity.report(name, out["measures"], label, out.get("against_measures"))[0])
    print(f"-> {FLAGS.workdir}/data_report_{name}.md, .json, preview_{name}.png\n")


if __name__ == "__main__":
  _cli.run(main)
