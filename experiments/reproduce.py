r"""usage: python -m experiments.reproduce --experiment=noise_types|svm_codes|depth_width|masking_curve --workdir=DIR [--datasets=...] [--budget=quick|cpu|paper] [flags]

example: python -m experiments.reproduce --experiment=masking_curve --budget=cpu --workdir=runs/fig11

The paper's experiments beside Table 3 (Vincent et al., 2010), with the table's protocol:

- noise_types (Table 4): masking, salt-and-pepper and Gaussian noise, with and without
  emphasis (rot and bg-rand);
- svm_codes (Table 5): linear and RBF SVMs on raw pixels and on each layer's codes of the chosen
  SdA-3 (rot), and with --code_models=sda3,sae3,dbn3 of the chosen SAE-3 and DBN-3 too;
- depth_width (Figure 10): 1-3 layers of each width, with denoising, plain autoencoder or no
  pretraining (bg-img-rot);
- masking_curve (Figure 11): test error against the masking fraction (bg-img-rot).

Each condition's grid is trained as the table trains a column (member groups in
DIR/<dataset>/<condition>/<group>, one vmapped program each), its model chosen on validation
error alone and its test error reported with a 95% interval beside the paper's figure where the
paper prints one ('-' where it does not). Writes DIR/<experiment>.md, DIR/<experiment>.json
({"rows": [...], "findings": [{"claim", "holds", "detail"}]}) and DIR/<experiment>.png, and
prints one verdict line per finding of the paper. Budgets: cpu (each experiment within about an
hour on 2 cores; the cuts are stated in the outputs' header), paper (the paper's grids; for a
GPU), quick (minutes). Rerun with the same --workdir to resume. Training flags given (e.g.
--pretrain_epochs, --n_train) override every grid point's setting.
"""

from absl import flags

from experiments import _cli
from experiments import _train_flags

FLAGS = _train_flags.define(_train_flags.flag_values(__name__))
_d = dict(flag_values=FLAGS)
flags.DEFINE_string("experiment", None, "Required: noise_types (Table 4), svm_codes (Table 5), "
                    "depth_width (Figure 10) or masking_curve (Figure 11).", **_d)
flags.DEFINE_list("datasets", None, "Datasets (names or paper aliases); default: the "
                  "experiment's rows at the budget (noise_types: rot, bg-rand; svm_codes: rot; "
                  "depth_width and masking_curve: bg-img-rot).", **_d)
flags.DEFINE_string("budget", "cpu", "quick (minutes), cpu (each experiment within about an "
                    "hour on a 2-core CPU, with the cuts its header states) or paper (the "
                    "paper's grids; for a GPU).", **_d)
flags.DEFINE_list("code_models", None, "svm_codes only: the Table 3 networks whose layer codes "
                  "the SVMs are fitted on, among sda3, sae3, dbn3; default: the budget's "
                  "(all three at paper, sda3 otherwise).", **_d)
flags.DEFINE_boolean("print_grid", False, "Print what would train and exit.", **_d)
flags.DEFINE_integer("grid_seeds", 1, "Seeds per grid point (0..N-1), all candidates for "
                     "selection.", **_d)

# The grid sets these; --hidden is taken (the layer sizes of every condition; depth_width: the
# width), and so are the other training flags.
_NOT_HERE = ("dataset", "level", "layer_levels", "seed", "preset", "corruption", "pretraining")
for _name in _NOT_HERE:
  FLAGS[_name].help = "Not taken by reproduce: the experiment's grid sets it."


def plan_from_flags():
  """The experiment's module and plan, validated before anything is read or compiled."""
  from sdae import data as data_lib
  from sdae.configs import sda as sda_configs
  from sdae.reproduce import paper
  from sdae.reproduce import experiments as paper_experiments
  if not FLAGS.experiment:
    raise _cli.UsageError("--experiment is required; accepted: "
                          + ", ".join(paper_experiments.NAMES))
  experiment = FLAGS.experiment.strip().lower()
  try:
    module = paper_experiments.module(experiment)
  except ValueError as e:
    raise _cli.UsageError(str(e)) from None
  if FLAGS.budget not in sda_configs.BUDGETS + ("test",):
    raise _cli.UsageError(f"--budget={FLAGS.budget!r} is unknown; accepted: "
                          + ", ".join(sda_configs.BUDGETS))
  for name in _NOT_HERE:
    if getattr(FLAGS, name) is not None:
      raise _cli.UsageError(f"--{name} does not apply to reproduce; the experiment's grid sets "
                            "it (use --experiment, --datasets and --budget)")
  if FLAGS.grid_seeds is None or FLAGS.grid_seeds < 1:
    raise _cli.UsageError(f"--grid_seeds={FLAGS.grid_seeds} is invalid; accepted: a positive "
                          "integer")
  _train_flags.require_workdir(FLAGS)
  datasets = None
  if FLAGS.datasets:
    images = [d for d in paper.TABLE3 if data_lib.DATASETS[d].images]
    datasets = []
    for d in FLAGS.datasets:
      name = data_lib.resolve_name(d)  # DataError: one line naming the value and the accepted
      if name not in images:
        raise _cli.UsageError(f"--datasets has {d!r}; the paper's experiments are on its image "
                              "sets; accepted: " + ", ".join(paper.TABLE3[n].alias
                                                             for n in images))
      if name not in datasets:
        datasets.append(name)
  overrides = _train_flags.overrides(FLAGS, exclude=_NOT_HERE)
  extra = {}
  if FLAGS.code_models is not None:  # svm_codes' own: the other plans do not take it
    if experiment != "svm_codes":
      raise _cli.UsageError("--code_models applies to --experiment=svm_codes only")
    try:
      extra["code_models"] = module.models_of(FLAGS.code_models)
    except ValueError as e:
      raise _cli.UsageError(str(e)) from None
  plan = module.plan(datasets, FLAGS.budget, overrides, FLAGS.grid_seeds, **extra)
  from sdae.reproduce import table as table_lib
  table_lib.check_minibatches([cell.grid for cell in plan.cells])
  return module, plan


def main(argv):
  del argv
  module, plan = plan_from_flags()
  if FLAGS.print_grid:
    print(plan.describe())
    return
  _cli.setup_jax(FLAGS.cpu_devices)
  _cli.init_distributed(FLAGS)  # --coordinator etc.: one process of several (docs/multihost.md)
  from sdae.reproduce.experiments import common
  out = common.run(plan, module, FLAGS.workdir, overwrite=FLAGS.overwrite,
                   data_dir=FLAGS.data_dir)
  for r in out["rows"]:
    setting = ", ".join(f"{k}={r[k]}" for k in ("corruption", "emphasis", "pretraining", "depth",
                                                "width", "svm", "representation", "codes",
                                                "level")
                        if k in r)
    theirs = ("paper unknown" if r["paper_error_pct"] is None else
              f"paper {common.fmt_pct(r['paper_error_pct'], r['paper_ci95_pct'])}: {r['verdict']}")
    print(f"{r['alias']} {setting}: ours {common.fmt_pct(r['test_error_pct'], r['test_ci95_pct'])}"
          f", {theirs}")
  for f in out["findings"]:
    print(common.verdict_line(f))
  name = plan.experiment
  print(f"-> {FLAGS.workdir}/{name}.md, {name}.json, {name}.png")


if __name__ == "__main__":
  _cli.run(main)
