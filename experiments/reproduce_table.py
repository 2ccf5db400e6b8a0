r"""usage: python -m experiments.reproduce_table --datasets=NAME,...|all --workdir=DIR [--budget=quick|cpu|paper] [flags]

example: python -m experiments.reproduce_table --datasets=rect --workdir=runs/table   # quick budget

Reproduces Table 3 of Vincent et al. (2010): all five columns, each selected on validation.

    python -m experiments.reproduce_table --datasets=rect,convex --workdir=runs/table \
        --budget=quick
    python -m experiments.reproduce_table --datasets=all --workdir=DIR --budget=cpu \
        --methods=svm_rbf,dbn1,sae3,dbn3,sda3 --data_dir=data

For each dataset and method (svm_rbf, dbn1, sae3, dbn3, sda3; mlp3 on request), the budget's
grid (sdae/configs/table.py) is trained, network grid points sharing shapes together as one
vmapped program (a member group, in DIR/<dataset>/<method>/<group>/); the model with the lowest
validation error is chosen (ties: lower validation cross-entropy, or the SVM's larger margin)
and its test error reported with a 95% interval next to the paper's figure for that column.
Writes DIR/table.md, DIR/table.png (and .pdf) and DIR/table.json ({"rows": [{"dataset",
"method", "paper_error_pct", "paper_ci95_pct", "paper_level", "test_error_pct",
"test_ci95_pct", "valid_error_pct", "chosen", "data_source", "verdict", ...}]}), rewritten after
each dataset. Datasets whose data is not here become "unavailable" rows with a note. Rerun with
the same --workdir after an interruption: finished groups are read back, the unfinished one
resumes from its checkpoint. Training flags given (e.g. --pretrain_epochs, --n_train, --hidden)
override every grid point's setting.
"""

from absl import flags

from experiments import _cli
from experiments import _train_flags

# The global FLAGS when run as a program; a private FlagValues when imported (tests), so entry
# points imported into one process never clash.
FLAGS = _train_flags.define(_train_flags.flag_values(__name__))
_d = dict(flag_values=FLAGS)
flags.DEFINE_list("datasets", None, "Datasets (names or paper aliases), or 'all'.", **_d)
flags.DEFINE_string("budget", "quick", "quick (minutes per dataset on a CPU), cpu (each "
                    "dataset's preset, the paper's masking levels, small grids for the other "
                    "columns: on 2 cores ~20 min for rect, 20-30 min for a 10000-example set, "
                    "~1 h for MNIST, ~4 h for the whole table; BUILD_NOTES.md) or paper (the "
                    "paper's grid; for a GPU).", **_d)
flags.DEFINE_list("methods", ["svm_rbf", "dbn1", "sae3", "dbn3", "sda3"],
                  "Table 3's columns to reproduce: svm_rbf, dbn1, sae3, dbn3, sda3 (the paper's "
                  "five), and mlp3 (no pretraining).", **_d)
flags.DEFINE_boolean("print_grid", False, "Print what would train (every group's settings and "
                     "points, the SVM's grid) and exit without training.", **_d)
flags.DEFINE_string("prune", None, "Stop a network grid's losing models early: none, or "
                    "median (Optuna's median rule: a model whose best validation error lags the "
                    "median of the cell's finished models at the same fine-tuning epoch stops; "
                    "sdae/pruning.py). Default: median at --budget=paper, none otherwise.", **_d)
flags.DEFINE_integer("grid_seeds", 1, "Seeds per grid point (0..N-1), all candidates for "
                     "selection.", **_d)

_NOT_HERE = ("dataset", "level", "layer_levels", "seed", "preset")
for _name in _NOT_HERE:  # defined with the shared training flags; refused here (the grid sets them)
  FLAGS[_name].help = ("Not taken by reproduce_table: the grid sets it (use --datasets and "
                       "--budget).")


def grids_from_flags():
  """The datasets' grids, validated before anything is read or compiled."""
  from sdae import data as data_lib
  from sdae.configs import sda as sda_configs
  from sdae.configs import table as table_configs
  from sdae.reproduce import table as table_lib
  if not FLAGS.datasets:
    raise _cli.UsageError("--datasets is required; accepted: 'all' or comma-separated names "
                          "among " + ", ".join(r.alias for r in table_lib.PAPER.values()))
  for name in _NOT_HERE:
    if getattr(FLAGS, name) is not None:
      raise _cli.UsageError(f"--{name} does not apply to reproduce_table; the grid sets it "
                            "(use --datasets and --budget)")
  if FLAGS.budget not in sda_configs.BUDGETS + ("test",):
    raise _cli.UsageError(f"--budget={FLAGS.budget!r} is unknown; accepted: "
                          + ", ".join(sda_configs.BUDGETS))
  from sdae.reproduce import paper
  accepted = paper.METHODS + paper.EXTRA_METHODS
  methods = [m.strip().lower() for m in FLAGS.methods or []]
  for m in methods:
    if m not in accepted:
      raise _cli.UsageError(f"--methods has {m!r}; accepted: " + ", ".join(accepted))
  if not methods:
    raise _cli.UsageError("--methods is empty; accepted: " + ", ".join(accepted))
  methods = [m for m in accepted if m in methods]  # the paper's column order
  if FLAGS.grid_seeds is None or FLAGS.grid_seeds < 1:
    raise _cli.UsageError(f"--grid_seeds={FLAGS.grid_seeds} is invalid; accepted: a positive "
                          "integer")
  if FLAGS.prune is not None:
    from sdae import pruning
    try:
      pruning.check_rule(FLAGS.prune)
    except ValueError as e:
      raise _cli.UsageError(str(e)) from None
  _train_flags.require_workdir(FLAGS)
  if [d.strip().lower() for d in FLAGS.datasets] == ["all"]:
    names = list(table_lib.PAPER)
  else:
    names = []
    for d in FLAGS.datasets:
      name = data_lib.resolve_name(d)  # DataError: one line naming the value and the accepted
      if name not in names:
        names.append(name)
  overrides = _train_flags.overrides(FLAGS, exclude=_NOT_HERE)
  grids = [table_configs.grid_for(n, FLAGS.budget, overrides, FLAGS.grid_seeds, method=m,
                                  prune=FLAGS.prune)
           for n in names for m in methods]
  # A minibatch larger than a set's training split is refused now, not after the sets before it
  # have trained (sizes of the published splits; tzanetakis' is the user's, checked when read).
  table_lib.check_minibatches(grids)
  return grids


def main(argv):
  del argv
  grids = grids_from_flags()
  if FLAGS.print_grid:
    from sdae.reproduce import table as table_lib
    print(table_lib.describe(grids))
    return
  _cli.setup_jax(FLAGS.cpu_devices)
  _cli.init_distributed(FLAGS)  # --coordinator etc.: one process of several (docs/multihost.md)
  from sdae.configs import sda as sda_configs
  from sdae.reproduce import table as table_lib
  rows = table_lib.reproduce(grids, FLAGS.workdir, overwrite=FLAGS.overwrite,
                             data_dir=FLAGS.data_dir,
                             title=sda_configs.table_title(FLAGS.budget))
  from sdae.reproduce import paper
  for r in rows:
    ours = ("-" if r["test_error_pct"] is None
            else f"{r['test_error_pct']:.2f} +- {r['test_ci95_pct']:.2f}")
    theirs = ("-" if r["paper_error_pct"] is None
              else f"{r['paper_error_pct']:.2f} +- {r['paper_ci95_pct']:.2f}")
    print(f"{r['alias']} {paper.TITLES[r['method']]}: paper {theirs}, ours {ours}: "
          f"{r['verdict']}" + (f" ({r['note']})" if r.get("note") else ""))
  print(f"-> {FLAGS.workdir}/table.md, table.json, table.png")


if __name__ == "__main__":
  _cli.run(main)
