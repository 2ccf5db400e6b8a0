"""The named configurations (sdae.configs.sda) and the grids of experiments.reproduce_table
built on them."""

import pytest

from sdae import config as C
from sdae.configs import table as table_configs
from sdae.configs import sda as registry
from sdae.reproduce import table as table_lib


def test_paper_grid_is_the_protocols():
  g = table_configs.grid_for("mnist_rot", "paper")
  # Each size at the default initialisation, then its twin at fan_in.
  assert [grp.config.hidden for grp in g.groups] == [(1000,) * 3, (2000,) * 3, (3000,) * 3] * 2
  assert [grp.config.init for grp in g.groups] == ["glorot"] * 3 + ["fan_in"] * 3
  for grp in g.groups:
    assert len(grp.points) == 3 * 2 * 2  # non-zero levels x pretraining lr x fine-tuning lr
    assert sorted({p.level for p in grp.points}) == [0.10, 0.25, 0.40]
  # SAE-3: the same grid at level 0 only (a column of its own).
  g = table_configs.grid_for("mnist_rot", "paper", method="sae3")
  assert [len(grp.points) for grp in g.groups] == [4] * 12  # each size: full and 5 epochs, x2 inits
  assert {p.level for grp in g.groups for p in grp.points} == {0.0}


def test_sae_also_tries_a_short_pretraining():
  """SAE-3's grid: {lr/2, lr} at the preset's epochs, and lr at 5 epochs, in two groups per
  layer size; not at the quick budget nor under --pretrain_epochs. On a small set (rect) the cpu
  budget also tries 500 units a layer and 3x the fine-tuning rate, and DBN-1 three sizes; the
  other methods keep one group per size."""
  g = table_configs.grid_for("rectangles", "cpu", method="sae3")
  names = ["hidden=500x500x500", "hidden=500x500x500,pretrain_epochs=5",
           "hidden=1000x1000x1000", "hidden=1000x1000x1000,pretrain_epochs=5"]
  assert [grp.name for grp in g.groups] == names + [f"{n},init=fan_in" for n in names]
  full, short = g.groups[2], g.groups[3]
  lr, epochs = full.config.pretrain_lr, full.config.pretrain_epochs
  flr = full.config.finetune_lr
  assert (epochs, short.config.pretrain_epochs) == (30, table_configs.SAE_SHORT_EPOCHS)
  assert sorted({p.pretrain_lr for p in full.points}) == [lr / 2, lr]
  assert sorted({p.finetune_lr for p in full.points}) == [flr, 3 * flr]
  assert len(full.points) == 4 and len(short.points) == 2
  assert {p.pretrain_lr for p in short.points} == {lr}
  assert short.config == full.config.replace(pretrain_epochs=5)
  assert [grp.config.hidden for grp in g.groups] == ([(500,) * 3] * 2 + [(1000,) * 3] * 2) * 2
  # convex's 6000 training examples are not a small set: the preset's size and rate only.
  c = table_configs.grid_for("convex", "cpu", method="sae3")
  assert len(c.groups) == 2 and {p.finetune_lr for p in c.groups[0].points} == {None}
  assert len(table_configs.grid_for("rectangles", "quick", method="sae3").groups) == 1
  assert len(table_configs.grid_for("rectangles", "cpu", {"pretrain_epochs": 20},
                              method="sae3").groups) == 4  # one per size and init, none short
  test = table_configs.grid_for("rectangles", "test", method="sae3")
  assert [grp.config.pretrain_epochs for grp in test.groups] == [2, 1]
  assert len(table_configs.grid_for("rectangles", "cpu", method="dbn3").groups) == 1
  assert len(table_configs.grid_for("rectangles", "cpu", method="sda3").groups) == 2  # 2 inits
  dbn1 = table_configs.grid_for("rectangles", "cpu", method="dbn1")
  assert [grp.config.hidden for grp in dbn1.groups] == [(1000,), (2000,), (3000,)]
  assert len(table_configs.grid_for("convex", "cpu", method="dbn1").groups) == 1
  none = table_configs.grid_for("rectangles", "cpu", {"pretraining": "none"}, method="sae3")
  assert len(none.groups) == 4  # nothing to pretrain: no short group; one per size and init


@pytest.mark.parametrize("method", ["svm_rbf", "dbn1", "sae3", "dbn3", "sda3", "mlp3"])
def test_every_method_has_a_grid_of_its_own(method):
  for budget in ("test", "quick", "cpu", "paper"):
    g = table_configs.grid_for("convex", budget, method=method)
    assert g.method == method
    if method == "svm_rbf":
      assert not g.groups and len(g.svm.points()) >= 1
      continue
    cfgs = [grp.config for grp in g.groups]
    pre = {"dbn1": "rbm", "dbn3": "rbm", "mlp3": "none"}.get(method, "denoising")
    assert {c.pretraining for c in cfgs} == {pre}
    depth = 1 if method == "dbn1" else (2 if budget == "test" else 3)
    assert {len(c.hidden) for c in cfgs} == {depth}
    levels = {p.level for grp in g.groups for p in grp.points}
    assert (min(levels) > 0) if method == "sda3" else (levels == {0.0})


@pytest.mark.parametrize("dataset", list(table_lib.PAPER))
def test_cpu_grid_weighs_the_papers_levels(dataset):
  g = table_configs.grid_for(dataset, "cpu")
  grp = g.groups[0]
  # A small set (rect) also searches fan_in initial weights: a twin of the one group.
  assert [x.config.init for x in g.groups] == (
      ["glorot", "fan_in"] if table_configs.is_small(dataset) else ["glorot"])
  levels = [p.level for p in grp.points]
  if dataset == "tzanetakis":
    assert levels == [0.05, 0.10]
  elif dataset == "mnist":
    assert levels == [0.25]
  else:
    expected = {0.10, 0.25, 0.40, registry.for_dataset(dataset).level}
    assert table_lib.PAPER[dataset].level in levels
    assert levels == sorted(expected) and len(levels) in (3, 4)
  cfg = grp.config
  assert cfg.hidden == (1000, 1000, 1000)
  preset = registry.for_dataset(dataset)
  # Pretraining is the preset's; the fine-tuning minibatch grows only where the preset is slow.
  assert (cfg.batch_size, cfg.pretrain_epochs, cfg.pretrain_lr) == (
      preset.batch_size, preset.pretrain_epochs, preset.pretrain_lr)
  if dataset in ("mnist", "rectangles", "convex"):
    assert (cfg.ft_batch_size(), cfg.finetune_lr) == (preset.ft_batch_size(), preset.finetune_lr)
  else:  # and all the fine-tuning epochs, the best validation epoch kept
    assert (cfg.ft_batch_size(), cfg.finetune_lr) == (100, 0.5)
    assert cfg.patience == cfg.finetune_epochs == preset.finetune_epochs


def test_overrides_reach_every_point():
  g = table_configs.grid_for("convex", "cpu", {"pretrain_epochs": 2, "hidden": (8, 8)})
  (grp,) = g.groups
  assert grp.config.pretrain_epochs == 2 and grp.config.hidden == (8, 8)


def test_train_presets_are_valid_configs():
  for name, d in registry.TRAIN_PRESETS.items():
    C.validate(C.TrainConfig(**{**d, "hidden": tuple(d["hidden"])}))
  for ds in table_lib.PAPER:
    for budget in ("quick", "cpu", "paper"):
      assert f"{ds}_{budget}" in registry.TRAIN_PRESETS


def test_tutorial_filters_preset_is_the_theano_da_tutorial():
  """deeplearning.net/tutorial/dA.html: 784-500, tied sigmoid, cross-entropy, SGD lr 0.1,
  minibatch 20, 15 epochs over all 50000 training digits, masking 0.3 (and 0 to compare)."""
  d = registry.TRAIN_PRESETS["mnist_tutorial_filters"]
  cfg = C.validate(C.TrainConfig(**{**d, "hidden": tuple(d["hidden"])}))
  assert cfg.dataset == "mnist" and cfg.hidden == (500,) and cfg.n_train == 0
  assert (cfg.corruption, cfg.level, cfg.tied, cfg.activation, cfg.loss, cfg.optimizer) == (
      "masking", 0.3, True, "sigmoid", "cross_entropy", "sgd")
  assert (cfg.pretrain_lr, cfg.batch_size, cfg.pretrain_epochs) == (0.1, 20, 15)
  assert cfg.finetune_epochs == 1  # the tutorial does not fine-tune
  assert registry.TRAIN_PRESETS["mnist_filters"] == d


def test_preset_accepts_paper_aliases_and_refuses_unknown_names():
  for_dataset = registry.for_dataset
  assert for_dataset("rect") == for_dataset("rectangles") == for_dataset("RECT")
  assert for_dataset("rect").dataset == "rectangles" and for_dataset("rect").level == 0.6
  assert registry.for_dataset("bg-rand") == registry.for_dataset("mnist_bg_rand")
  for bad in ("svhn", "toy", ""):
    with pytest.raises(C.ConfigError) as e:
      registry.for_dataset(bad)
    assert "\n" not in str(e.value) and "accepted names" in str(e.value)
    assert "rectangles (rect)" in str(e.value)


def test_objective_defaults_reach_the_entry_point_and_the_table(tmp_path):
  """MNIST's DBN fine-tunes 50 epochs (its validation minimum), the SdA keeps its 90: from
  experiments.train's --pretraining and in the table's cpu and paper grids, not quick's."""
  from absl import flags
  from experiments import _train_flags

  def cfg(*argv):
    fv = _train_flags.define(flags.FlagValues())
    fv(["train", "--dataset=mnist", f"--workdir={tmp_path / 'w'}", *argv])
    return _train_flags.config_from_flags(fv)

  assert cfg("--pretraining=rbm").finetune_epochs == 50
  assert cfg("--pretraining=rbm", "--finetune_epochs=7").finetune_epochs == 7  # a flag wins
  assert cfg().finetune_epochs == cfg("--pretraining=denoising").finetune_epochs == 90
  assert cfg("--pretraining=rbm").pretrain_epochs == cfg().pretrain_epochs  # only fine-tuning
  for budget, dbn3, dbn1 in (("cpu", 50, 90), ("paper", 90, 90), ("quick", 4, 4)):
    for method, epochs in (("dbn3", dbn3), ("dbn1", dbn1)):
      g = table_configs.grid_for("mnist", budget, method=method)
      assert {grp.config.finetune_epochs for grp in g.groups} == {epochs}, (budget, method)
  sda = table_configs.grid_for("mnist", "cpu", method="sda3")
  assert {grp.config.finetune_epochs for grp in sda.groups} == {90}
  assert registry.for_dataset("rect", "rbm") == registry.for_dataset("rect").replace(
      pretraining="rbm")


@pytest.mark.parametrize("alias, canonical", [("rect_quick", "rectangles_quick"),
                                              ("RECT_cpu", "rectangles_cpu"),
                                              ("bg-rand_paper", "mnist_bg_rand_paper"),
                                              ("rect", "rectangles")])
def test_preset_names_take_the_dataset_aliases(alias, canonical, tmp_path):
  from experiments import train
  assert registry.resolve(alias) == canonical

  def config(preset):
    train.FLAGS.unparse_flags()
    try:
      train.FLAGS(["prog", f"--preset={preset}", f"--workdir={tmp_path / 'w'}"])
      return train.config_from_flags()
    finally:
      train.FLAGS.unparse_flags()

  assert config(alias) == config(canonical)


def test_unknown_preset_is_refused_naming_the_accepted(tmp_path, capsys):
  from experiments import train
  from helpers import run_cli
  assert registry.resolve("rect_fast") is None
  assert run_cli(train, ["--preset=rect_fast", f"--workdir={tmp_path / 'w'}"]) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "--preset='rect_fast' is unknown" in err[0]
  assert "rectangles_quick" in err[0] and "rect_quick" in err[0]


def test_autoencoder_columns_search_the_init_where_their_grid_is_wide():
  """SAE-3 and SdA-3 twin every group at fan_in on a small set at the cpu budget and at the
  paper budget; nowhere else, never for the DBNs, and not when --init is given."""
  from sdae.configs import table as T  # pylint: disable=g-import-not-at-top
  inits = lambda g: sorted(grp.config.init for grp in g.groups)
  sae = T.grid_for("rectangles", "cpu", method="sae3")
  assert inits(sae) == ["fan_in"] * 4 + ["glorot"] * 4
  twins = {grp.name: grp for grp in sae.groups}
  for grp in sae.groups:
    if grp.config.init == "glorot":
      twin = twins[f"{grp.name},init=fan_in"]
      assert twin.points == grp.points and twin.config == grp.config.replace(init="fan_in")
  assert inits(T.grid_for("rectangles", "paper", method="sda3")) == ["fan_in"] * 3 + ["glorot"] * 3
  assert inits(T.grid_for("mnist_rot", "cpu", method="sda3")) == ["glorot"]
  assert set(inits(T.grid_for("rectangles", "cpu", method="dbn1"))) == {"glorot"}
  given = T.grid_for("rectangles", "cpu", {"init": "fan_in"}, method="sae3")
  assert inits(given) == ["fan_in"] * 4 and not any("init=" in g.name for g in given.groups)
