r"""usage: python -m experiments.sweep --dataset=NAME --levels=L1,L2,... --workdir=DIR [--seeds=N] [flags]

example: python -m experiments.sweep --dataset=rect --levels=0,0.25 --workdir=runs/sweep   # 2 models

Sweeps corruption levels x seeds (x learning rates), every model in one vmapped program:

    python -m experiments.sweep --dataset=rect --levels=0,0.1,0.25,0.4 --seeds=2 --workdir=runs/sweep
    python -m experiments.sweep --dataset=mnist_basic --levels=0,0.25 --workdir=runs/basic \
        --data_dir=data
    python -m experiments.sweep ... --one_by_one      # the same models, one at a time

Trains every (level, seed) model (seeds 0..N-1 per level; with --pretrain_lrs/--finetune_lrs,
every learning-rate pair too; with --emphases=none,double,full, every emphasis too) as one
vmapped XLA program per epoch (sdae.sweep), and writes
DIR/sweep.json (a list of {"level", "seed", "valid_error_pct", "test_error_pct",
"test_ci95_pct", "best_epoch", "pretrain_lr", "finetune_lr", "layer_levels", "diverged",
"emphasis"}; a
model whose loss became NaN or Inf is "diverged", with null errors, and the others go on),
DIR/sweep_run.json (mode, wall time, config, per-level summary), DIR/sweep.png (validation and
test error against level, mean over seeds with 95% intervals) and DIR/filters.png (first-layer
filters of seed 0 at each level, side by side, lowest level left, each panel titled with its
level), each figure with a PDF beside it (sweep.pdf, filters.pdf). The models train in
DIR/members (DIR/one_by_one/NNN_... with --one_by_one); rerun with the same --workdir to resume.
Every other training flag (experiments.train's) applies to all models.

Several processes (hosts) train one sweep together when SDAE_COORDINATOR, SDAE_NUM_PROCESSES and
SDAE_PROCESS_ID are set (sdae.distributed; one command per process, the same flags and a shared
--workdir): the models are split over the devices of all processes and only process 0 writes.
"""

from absl import flags

from experiments import _cli
from experiments import _train_flags

# The global FLAGS when run as a program; a private FlagValues when imported (tests), so entry
# points imported into one process never clash.
FLAGS = _train_flags.define(_train_flags.flag_values(__name__))
_d = dict(flag_values=FLAGS)
flags.DEFINE_list("levels", None, "Corruption levels to sweep, e.g. 0,0.1,0.25,0.4.", **_d)
flags.DEFINE_integer("seeds", 1, "Seeds per level: 0..N-1.", **_d)
flags.DEFINE_list("pretrain_lrs", None, "Pretraining learning rates to sweep (default: "
                  "--pretrain_lr).", **_d)
flags.DEFINE_list("finetune_lrs", None, "Fine-tuning learning rates to sweep (default: "
                  "--finetune_lr).", **_d)
flags.DEFINE_list("emphases", None, "Emphases of the denoising loss to sweep, e.g. "
                  "none,double,full (default: --emphasis); one program for all of them.", **_d)
flags.DEFINE_boolean("one_by_one", False, "Train the same models one at a time (reference and "
                     "wall-time comparison).", **_d)


def sweep_from_flags():
  """(config, points), validated before anything is read or compiled."""
  from sdae import sweep as sweep_lib
  if FLAGS.levels is None:
    raise _cli.UsageError("--levels is required; accepted: comma-separated corruption levels, "
                          "e.g. 0,0.1,0.25,0.4")
  levels = _cli.float_list("levels", FLAGS.levels)
  if len(set(levels)) != len(levels):
    raise _cli.UsageError(f"--levels={','.join(FLAGS.levels)} repeats a level; accepted: "
                          "distinct levels")
  if FLAGS.seeds is None or FLAGS.seeds < 1:
    raise _cli.UsageError(f"--seeds={FLAGS.seeds} is invalid; accepted: a positive integer "
                          "(seeds 0..N-1 per level)")
  if FLAGS.level is not None or FLAGS.layer_levels is not None or FLAGS.seed is not None:
    raise _cli.UsageError("--level/--layer_levels/--seed do not apply to a sweep; use --levels "
                          "and --seeds")
  plrs = _cli.float_list("pretrain_lrs", FLAGS.pretrain_lrs)
  flrs = _cli.float_list("finetune_lrs", FLAGS.finetune_lrs)
  emphases = _emphases()
  config = _train_flags.base_config(FLAGS)
  from sdae import corruption as corruption_lib
  try:
    corruption_lib.validate(config.corruption, list(levels))
  except ValueError as e:
    raise _cli.UsageError(f"--levels={','.join(FLAGS.levels)}: {e}") from None
  points = sweep_lib.grid(levels, FLAGS.seeds, plrs, flrs, emphases)
  # levels in range, learning rates positive, each emphasis allowed with the corruption
  sweep_lib.validate_points(config, points)
  return config, points


def _emphases() -> list[str] | None:
  """The checked ``--emphases`` (None: not given, every model takes ``--emphasis``)."""
  if FLAGS.emphases is None:
    return None
  if FLAGS.emphasis is not None:
    raise _cli.UsageError("--emphasis and --emphases together; accepted: one of them "
                          "(--emphases sweeps, --emphasis sets every model's)")
  from sdae import emphasis as emphasis_lib
  given = [e.strip() for e in FLAGS.emphases]
  for e in given:
    try:
      emphasis_lib.check_name(e)
    except ValueError as err:
      raise _cli.UsageError(f"--emphases={','.join(FLAGS.emphases)}: {err}") from None
  if not given or len(set(given)) != len(given):
    raise _cli.UsageError(f"--emphases={','.join(FLAGS.emphases)} is empty or repeats an "
                          "emphasis; accepted: distinct names of none, double, full")
  return given


def main(argv):
  del argv
  config, points = sweep_from_flags()
  _cli.setup_jax(FLAGS.cpu_devices)  # settings and logging only: no computation yet
  _cli.init_distributed(FLAGS)  # --coordinator etc.: one process of several (docs/multihost.md)
  from sdae import sweep as sweep_lib
  outcome = sweep_lib.run(config, points, FLAGS.workdir, one_by_one=FLAGS.one_by_one,
                          overwrite=FLAGS.overwrite)
  sweep_lib.write_outputs(FLAGS.workdir, config, points, outcome)
  for r in outcome["rows"]:
    model = f"level {r['level']:g} seed {r['seed']} lr {r['pretrain_lr']:g}/{r['finetune_lr']:g}"
    if r["emphasis"] != "none":
      model += f" emphasis {r['emphasis']}"
    if r["diverged"]:
      print(f"{model}: diverged (non-finite loss; never selected)")
      continue
    print(f"{model}: valid {r['valid_error_pct']:.2f}% test {r['test_error_pct']:.2f}% "
          f"+- {r['test_ci95_pct']:.2f}")
  print(f"{len(points)} models ({outcome['mode']}) in {outcome['seconds']:.1f}s "
        f"-> {FLAGS.workdir}/sweep.json, sweep.png, filters.png (+ .pdf)")


if __name__ == "__main__":
  _cli.run(main)
