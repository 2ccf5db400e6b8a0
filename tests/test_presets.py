"""The named grids of experiments.reproduce_table and the train presets derived from them."""

import pytest

from experiments import presets
from sdae import config as C
from sdae import table as table_lib


def test_paper_grid_is_the_protocols():
  g = presets.grid_for("mnist_rot", "paper")
  assert [grp.config.hidden for grp in g.groups] == [(1000,) * 3, (2000,) * 3, (3000,) * 3]
  for grp in g.groups:
    assert len(grp.points) == 4 * 2 * 2  # levels x pretraining lr x fine-tuning lr
    assert sorted({p.level for p in grp.points}) == [0.0, 0.10, 0.25, 0.40]


@pytest.mark.parametrize("dataset", list(table_lib.PAPER))
def test_cpu_grid_weighs_the_papers_levels(dataset):
  g = presets.grid_for(dataset, "cpu")
  (grp,) = g.groups
  levels = [p.level for p in grp.points]
  if dataset == "tzanetakis":
    assert levels == [0.05, 0.10]
  elif dataset == "mnist":
    assert levels == [0.0, 0.25]
  else:
    expected = {0.0, 0.10, 0.25, 0.40, C.preset(dataset).level}
    assert table_lib.PAPER[dataset].level in levels
    assert levels == sorted(expected) and len(levels) in (4, 5)
  cfg = grp.config
  assert cfg.hidden == (1000, 1000, 1000)
  preset = C.preset(dataset)
  # Pretraining is the preset's; the fine-tuning minibatch grows only where the preset is slow.
  assert (cfg.batch_size, cfg.pretrain_epochs, cfg.pretrain_lr) == (
      preset.batch_size, preset.pretrain_epochs, preset.pretrain_lr)
  if dataset in ("mnist", "rectangles", "convex"):
    assert (cfg.ft_batch_size(), cfg.finetune_lr) == (preset.ft_batch_size(), preset.finetune_lr)
  else:  # and all the fine-tuning epochs, the best validation epoch kept
    assert (cfg.ft_batch_size(), cfg.finetune_lr) == (100, 0.5)
    assert cfg.patience == cfg.finetune_epochs == preset.finetune_epochs


def test_overrides_reach_every_point():
  g = presets.grid_for("convex", "cpu", {"pretrain_epochs": 2, "hidden": (8, 8)})
  (grp,) = g.groups
  assert grp.config.pretrain_epochs == 2 and grp.config.hidden == (8, 8)


def test_train_presets_are_valid_configs():
  for name, d in presets.TRAIN_PRESETS.items():
    C.validate(C.TrainConfig(**{**d, "hidden": tuple(d["hidden"])}))
  for ds in table_lib.PAPER:
    for budget in ("quick", "cpu", "paper"):
      assert f"{ds}_{budget}" in presets.TRAIN_PRESETS


def test_preset_accepts_paper_aliases_and_refuses_unknown_names():
  assert C.preset("rect") == C.preset("rectangles") == C.preset("RECT")
  assert C.preset("rect").dataset == "rectangles" and C.preset("rect").level == 0.6
  assert C.preset("bg-rand") == C.preset("mnist_bg_rand")
  for bad in ("svhn", "toy", ""):
    with pytest.raises(C.ConfigError) as e:
      C.preset(bad)
    assert "\n" not in str(e.value) and "accepted names" in str(e.value)
    assert "rectangles (rect)" in str(e.value)
