"""A network grid grows past an edge pick (sdae.reproduce.grow): the proposals one step out on
each edge axis, within the limits, and a toy table that grows, records it and reads it back."""

import dataclasses
import json

import pytest

from sdae import config as config_lib
from sdae import experiment as E
from sdae import sweep as sweep_lib
from sdae.configs import table as table_configs
from sdae.reproduce import grow
from sdae.reproduce import table as table_lib

from test_reproduce_table import toy_data  # pylint: disable=unused-import


def _group(name, **kw):
  cfg = config_lib.TrainConfig(dataset="rectangles", hidden=(1000, 1000, 1000), **kw)
  return table_lib.Group(name, cfg, ())


def _cand(group, level=0.0, hidden=(1000, 1000, 1000), plr=0.1, flr=0.1, epochs=30):
  return {"group": group, "level": level, "hidden": list(hidden), "pretrain_lr": plr,
          "finetune_lr": flr, "pretrain_epochs": epochs, "seed": 0, "diverged": False}


def _by_axis(proposals):
  return {p.axis: p for p in proposals}


def test_learning_rates_step_out_by_the_grids_own_ratio_in_the_chosen_group():
  g = {"hidden=1000x1000x1000": _group("hidden=1000x1000x1000")}
  cands = [_cand("hidden=1000x1000x1000", plr=p, flr=f) for p in (0.05, 0.1) for f in (0.1, 0.3)]
  chosen = _cand("hidden=1000x1000x1000", plr=0.05, flr=0.3)
  out = _by_axis(grow.beyond_edge(cands, chosen, g, step=1))
  assert sorted(out) == ["finetune_lr", "pretrain_lr"]
  assert out["pretrain_lr"].point.pretrain_lr == pytest.approx(0.025)
  assert out["pretrain_lr"].point.finetune_lr == 0.3           # one axis moves at a time
  assert out["finetune_lr"].point.finetune_lr == pytest.approx(0.9)
  assert {p.name for p in out.values()} == {"hidden=1000x1000x1000,grown1"}
  (only,) = grow.as_groups(out.values())                      # one program for both
  assert len(only.points) == 2
  # An interior pick proposes nothing.
  inner = [_cand("hidden=1000x1000x1000", flr=f) for f in (0.03, 0.1, 0.3)]
  assert grow.beyond_edge(inner, inner[1], g, step=1) == []


def test_levels_layers_and_epochs_respect_their_limits():
  name = "hidden=1000x1000x1000"
  g = {name: _group(name, corruption="masking"),
       "hidden=500x500x500,pretrain_epochs=5": _group("hidden=500x500x500,pretrain_epochs=5")}
  levels = [_cand(name, level=l) for l in (0.1, 0.25, 0.4, 0.6)]
  (p,) = grow.beyond_edge(levels, levels[-1], g, step=2)
  assert (p.axis, p.point.level, p.name) == ("level", 0.8, f"{name},grown2")
  # 0.8 -> 1.0 is past LEVEL_MAX: clipped to it, then no further; 0.1 -> -0.05 below zero: none.
  more = levels + [_cand(name, level=0.8)]
  (p,) = grow.beyond_edge(more, more[-1], g, 3)
  assert (p.axis, p.point.level) == ("level", grow.LEVEL_MAX)
  more.append(_cand(name, level=grow.LEVEL_MAX))
  assert grow.beyond_edge(more, more[-1], g, 4) == []
  assert grow.beyond_edge(levels, levels[0], g, 1) == []
  # Layers and epochs change the group's configuration: a group of their own, named for it.
  sizes = [_cand(name), _cand("hidden=500x500x500,pretrain_epochs=5", hidden=(500,) * 3,
                              epochs=5)]
  out = _by_axis(grow.beyond_edge(sizes, sizes[0], g, 1))
  assert out["hidden"].config.hidden == (2000, 2000, 2000)
  assert out["hidden"].name == "hidden=2000x2000x2000"
  assert out["pretrain_epochs"].config.pretrain_epochs == 180
  assert out["pretrain_epochs"].name == f"{name},pretrain_epochs=180"
  # 180 -> 1080 epochs and 4000 -> 16000 units pass the paper's range and the 2007 study's:
  # clipped to 300 and 6000; at the limit itself nothing more is proposed.
  far = [_cand(name, epochs=30), _cand(name, epochs=180)]
  (p,) = grow.beyond_edge(far, far[1], g, 1)
  assert p.config.pretrain_epochs == grow.EPOCHS_RANGE[1]
  far.append(_cand(name, epochs=grow.EPOCHS_RANGE[1]))
  assert grow.beyond_edge(far, far[-1], g, 2) == []
  big = [_cand(name, hidden=(1000,) * 3), _cand(name, hidden=(4000,) * 3)]
  (p,) = grow.beyond_edge(big, big[1], g, 1)
  assert p.config.hidden == (grow.MAX_HIDDEN,) * 3
  big.append(_cand(name, hidden=(grow.MAX_HIDDEN,) * 3))
  assert grow.beyond_edge(big, big[-1], g, 2) == []


def test_mnist_dbn1_at_the_cpu_budget_searches_wide_layers_and_grows_alone():
  """MNIST's DBN-1 searches 1000 and 3000 units, grows and probes its fine-tuning rate at the cpu
  budget; no other column or 10000-example row grows there, and the paper budget keeps its own
  growth."""
  def axes(dataset, method, budget="cpu"):
    g = table_configs.grid_for(dataset, budget, method=method)
    return sorted({grp.config.hidden for grp in g.groups}), g.grow
  assert axes("mnist", "dbn1") == ([(1000,), (3000,)], 5)
  assert table_configs.grid_for("mnist", "cpu", method="dbn1").probe == (("finetune_lr", 2.0),)
  # Small sets at the cpu budget probe the fine-tuning rate of every network column (a no-op
  # where the grid searches it); the 10000-example rows and the paper budget do not.
  for method in ("sda3", "dbn3", "sae3", "dbn1"):
    g = table_configs.grid_for("rectangles", "cpu", method=method)
    assert g.probe == table_configs.SMALL_PROBE and g.grow == table_configs.NETWORK_GROW["cpu"]
    assert table_configs.grid_for("rectangles", "paper", method=method).probe == ()
    assert table_configs.grid_for("mnist_bg_rand", "cpu", method=method).probe == ()
  # --print_grid names a probe only where the grid keeps that axis at one value.
  said = lambda m: "finetune_lr probed" in table_lib.describe(  # pylint: disable=unnecessary-lambda-assignment
      [table_configs.grid_for("rectangles", "cpu", method=m)])
  assert said("sda3") and said("dbn3") and not said("sae3") and not said("dbn1")
  for dataset, method in (("mnist", "dbn3"), ("mnist", "sae3"), ("mnist_bg_rand", "dbn1"),
                          ("convex", "dbn1")):
    assert axes(dataset, method)[1] == 0, (dataset, method)
  assert axes("mnist_bg_rand", "dbn1")[0] == [(1000,)]
  assert axes("mnist", "dbn1", "paper") == ([(1000,), (2000,), (3000,)],
                                            table_configs.NETWORK_GROW["paper"])


def test_a_probe_waits_for_an_interior_pick_then_brackets_it_once():
  """``next_models`` grows past edges first; a pick interior on every searched axis gets the
  probed axis at its value /f and x f, in the chosen group; an axis already searched (several
  values) is never probed, and an edge there grows as any other."""
  name = "hidden=1000x1000x1000"
  g = {name: _group(name)}
  probe = (("finetune_lr", 2.0),)
  edge = [_cand(name, plr=p) for p in (0.05, 0.1)]
  assert [p.axis for p in grow.next_models(edge, edge[1], g, 1, probe)] == ["pretrain_lr"]
  inner = edge + [_cand(name, plr=0.2)]
  probed = grow.next_models(inner, inner[1], g, 2, probe)
  assert [(p.name, p.axis, p.value) for p in probed] == [
      (f"{name},grown2", "finetune_lr", 0.05), (f"{name},grown2", "finetune_lr", 0.2)]
  assert all(p.point.pretrain_lr == 0.1 for p in probed)
  # The probes trained: the axis has three values; the middle pick stops the search, an edge
  # one grows past it by the probe's own ratio.
  after = inner + [_cand(f"{name},grown2", plr=0.1, flr=f) for f in (0.05, 0.2)]
  g[f"{name},grown2"] = _group(f"{name},grown2")
  assert grow.next_models(after, after[1], g, 3, probe) == []
  (out,) = grow.next_models(after, after[-1], g, 3, probe)
  assert (out.axis, out.value) == ("finetune_lr", 0.4)
  with pytest.raises(ValueError, match="learning-rate axis"):
    grow.probes(inner, inner[1], g, 2, (("hidden", 2.0),))
  with pytest.raises(ValueError, match="factor > 1"):
    grow.probes(inner, inner[1], g, 2, (("finetune_lr", 1.0),))


def test_a_grown_group_is_rebuilt_from_its_models():
  """``group_of``: a grid group as it is; a grown one as its parent's configuration at the layer
  sizes and epochs its models recorded, with their points in member order."""
  grid = table_configs.grid_for("rectangles", "test", method="sae3")
  short = next(g for g in grid.groups if "pretrain_epochs=" in g.name)
  assert grow.group_of(short.name, grid.groups, []) is short
  base = grid.groups[0]
  wide = "hidden=32x16"
  models = [{"group": wide, "hidden": [32, 16], "pretrain_epochs": base.config.pretrain_epochs,
             "level": 0.0, "seed": 0, "pretrain_lr": 0.1, "finetune_lr": 0.1}]
  models += [{"group": f"{short.name},grown2", "hidden": list(short.config.hidden),
              "pretrain_epochs": short.config.pretrain_epochs, "level": 0.0, "seed": 0,
              "pretrain_lr": p, "finetune_lr": 0.1} for p in (0.4, 0.025)]
  g = grow.group_of(wide, grid.groups, models)
  assert g.config == base.config.replace(hidden=(32, 16))
  assert g.points == (sweep_lib.Point(0.0, 0, 0.1, 0.1),)
  g = grow.group_of(f"{short.name},grown2", grid.groups, models)
  assert g.config == short.config
  assert [p.pretrain_lr for p in g.points] == [0.4, 0.025]
  with pytest.raises(KeyError, match="no model"):
    grow.group_of("hidden=1x1", grid.groups, models)


def test_a_model_already_trained_is_not_proposed_again():
  name = "hidden=1000x1000x1000"
  g = {name: _group(name)}
  cands = [_cand(name, flr=f) for f in (0.1, 0.3)] + [_cand(f"{name},grown1", flr=0.9)]
  assert grow.beyond_edge(cands, _cand(name, flr=0.3), g, step=1) == []


@pytest.mark.slow
def test_a_toy_table_grows_past_its_edge_records_it_and_reads_it_back(tmp_path, toy_data,
                                                                      monkeypatch):
  # SAE-3's test grid searches pretrain_lr {0.05, 0.1}: whichever wins sits on that axis's
  # edge, so one step trains the chosen group at 0.025 or 0.2.
  grid = dataclasses.replace(table_configs.grid_for("rectangles", "test", method="sae3"), grow=1)
  rows = table_lib.reproduce([grid], str(tmp_path))
  (row,) = rows
  assert row["grown"] and row["n_models"] == row["trials"] == grid.n_models() + len(
      [g for g in row["grid"] if g["group"] in row["grown"]])
  grown = [g for g in row["grid"] if g["group"] in row["grown"]]
  tried = {g["pretrain_lr"] for g in row["grid"] if g["group"] not in row["grown"]}
  assert any(g["pretrain_lr"] not in tried for g in grown)
  assert all(min(tried) / 2 <= g["pretrain_lr"] <= max(tried) * 2 for g in grown)
  for name in row["grown"]:
    assert (tmp_path / "rectangles" / "sae3" / name / "results.json").exists()
  assert row["valid_error_pct"] == min(g["valid_error_pct"] for g in row["grid"])
  # A rerun reads every group back, the grown ones too: nothing trains, the same row.
  monkeypatch.setattr(sweep_lib, "train_members",
                      lambda *a, **k: pytest.fail("a finished group trained again"))
  monkeypatch.setattr(E, "load_data", lambda c: pytest.fail("data read with nothing to train"))
  again = table_lib.reproduce([grid], str(tmp_path))
  drop = ("seconds", "training_seconds")
  assert [{k: v for k, v in r.items() if k not in drop} for r in again] == \
      [{k: v for k, v in r.items() if k not in drop} for r in rows]
  assert json.loads((tmp_path / "table.json").read_text())["rows"][0]["grown"] == row["grown"]
  assert f"| {row['trials']} (+{len(grown)} grown) |" in (tmp_path / "table.md").read_text()
