"""Each distinct stack pretrained once (sdae.shared_pretraining): members that differ in
fine-tuning alone share one, a run reads the stacks an earlier run pretrained, and neither
changes a number: every member ends as the model trained alone, to the last bit on CPU."""

import dataclasses
import json

import numpy as np
import pytest

from sdae import checkpoint as ckpt_lib
from sdae import experiment as E
from sdae import shared_pretraining as shared
from sdae import sharding
from sdae import sweep as sweep_lib
from sdae.configs import table as table_configs
from sdae.reproduce import grow
from sdae.reproduce import table as table_lib

from helpers import toy_splits
from test_reproduce_table import toy_data  # pylint: disable=unused-import
from test_training import TINY

# Overlapping classes, so the members' errors and cross-entropies tell models apart.
CFG = TINY.replace(finetune_epochs=3, level=0.3)


def _splits():
  return toy_splits(signal=0.05)


def _pretrained_members(monkeypatch) -> list:
  """The number of members each ``_pretrain`` call trains, as the driver calls it."""
  calls, real = [], E._pretrain  # pylint: disable=protected-access

  def spy(run, state):
    calls.append(run.n_models())
    return real(run, state)

  monkeypatch.setattr(E, "_pretrain", spy)
  return calls


def _layers(workdir, member=None) -> dict:
  """The pretrained layers of a run's newest checkpoint (one member's, or a single model's)."""
  state, _ = ckpt_lib.read_latest(str(workdir / "checkpoints"))
  leaves = ckpt_lib.named_leaves({k: v for k, v in state.items() if k.startswith("layer")})
  return {k: (a if member is None else a[member]) for k, a in leaves.items()}


def _alone(tmp_path, seed, flr) -> tuple[dict, dict]:
  d = tmp_path / f"alone_{seed}_{flr:g}"
  one = E.train_and_evaluate(CFG.replace(seed=seed, finetune_lr=flr), str(d), splits=_splits(),
                             write_images=False)
  return one, _layers(d)


class Stop(Exception):
  """A run killed at an event (``train_and_evaluate(on_event=...)``)."""


def _stop_at_the_first_layer_end(event: str) -> None:
  if event == "layer_end":
    raise Stop


def _same_as_alone(member: dict, one: dict) -> None:
  # A single model's results.json rounds what a member's row keeps as measured.
  assert (round(member["valid_error_pct"], 4), round(member["test_error_pct"], 4),
          member["best_epoch"]) == (one["valid_error_pct"], one["test_error_pct"],
                                    one["finetune_best_epoch"])
  assert round(member["valid_xent"], 6) == one["valid_xent"]


def test_stack_keys_part_fine_tuning_settings_from_pretraining_ones():
  members = E.Members(seeds=[0, 0, 1, 0], levels=[[0.3, 0.3]] * 3 + [[0.3, 0.4]],
                      pretrain_lr=[0.05] * 4, finetune_lr=[0.1, 0.3, 0.1, 0.1])
  record = E.config_record(CFG, members, "regenerated", 4)
  keys = shared.keys(record)
  assert keys[0] == keys[1] and len(set(keys)) == 3  # the fine-tuning rate alone shares
  assert shared.distinct(keys) == ([0, 2, 3], [0, 0, 1, 2])
  # Fine-tuning's own settings share a stack; any other setting, and the data, part it.
  for change in ({"finetune_epochs": 9}, {"patience": 2}, {"finetune_batch_size": 5}):
    assert shared.keys(E.config_record(CFG.replace(**change), members, "regenerated", 4)) == keys
  for change in ({"pretrain_epochs": 7}, {"corruption": "gaussian"}, {"n_train": 100}):
    assert set(shared.keys(E.config_record(CFG.replace(**change), members, "regenerated",
                                           4))).isdisjoint(keys), change
  assert set(shared.keys(E.config_record(CFG, members, "regenerated", 3))).isdisjoint(keys)
  assert set(shared.keys(E.config_record(CFG, members, "original", None))).isdisjoint(keys)
  # A single model's record names the stack it would have as a member.
  one = E.config_record(CFG.replace(finetune_lr=0.7), None, "regenerated", 4)
  assert shared.keys(one) == [keys[0]]


def test_members_that_differ_in_fine_tuning_alone_pretrain_one_stack(tmp_path, monkeypatch):
  """Three members, two of them one stack: two stacks pretrained, and each member, layers,
  errors and cross-entropy, the model trained alone (the CPU's members loop: to the last bit)."""
  calls = _pretrained_members(monkeypatch)
  seeds, flrs = [0, 0, 1], [0.1, 0.3, 0.1]
  members = E.Members(seeds=seeds, levels=[[0.3, 0.3]] * 3, pretrain_lr=[0.05] * 3,
                      finetune_lr=flrs)
  many = E.train_and_evaluate(CFG, str(tmp_path / "many"), splits=_splits(), members=members,
                              write_images=False)
  assert calls == [2]
  assert many["pretrained_from"] == [{"workdir": None, "member": 0},
                                     {"workdir": None, "member": 0},
                                     {"workdir": None, "member": 2}]
  assert len({m["valid_xent"] for m in many["members"]}) == 3  # three different models
  metrics = [json.loads(l) for l in (tmp_path / "many" / "metrics.jsonl").read_text().splitlines()]
  assert all(len(r["loss"]) == 3 for r in metrics)  # a value shown for every member
  if sharding.default_loop() != "map":
    pytest.skip("bit-for-bit equality holds for the CPU's members loop")
  for i, (m, s, f) in enumerate(zip(many["members"], seeds, flrs)):
    one, layers = _alone(tmp_path, s, f)
    _same_as_alone(m, one)
    for name, a in _layers(tmp_path / "many", i).items():
      np.testing.assert_array_equal(a, layers[name], err_msg=name)


def test_a_run_stopped_while_pretraining_shared_stacks_resumes_to_the_same_result(tmp_path,
                                                                                monkeypatch):
  members = E.Members(seeds=[0, 0], levels=[[0.3, 0.3]] * 2, pretrain_lr=[0.05] * 2,
                      finetune_lr=[0.1, 0.3])
  whole = E.train_and_evaluate(CFG, None, splits=_splits(), members=members)
  with pytest.raises(Stop):
    E.train_and_evaluate(CFG, str(tmp_path), splits=_splits(), members=members,
                         write_images=False, on_event=_stop_at_the_first_layer_end)
  _, meta = ckpt_lib.read_latest(str(tmp_path / "checkpoints"))
  assert (meta["phase"], meta["layer"], meta["pretrained_members"]) == ("pretrain", 1, [0])
  again = E.train_and_evaluate(CFG, str(tmp_path), splits=_splits(), members=members,
                               write_images=False)
  assert again["resumed_from"]["phase"] == "pretrain"
  for a, b in zip(again["members"], whole["members"]):
    assert {k: a[k] for k in ("valid_error_pct", "test_error_pct", "valid_xent")} == \
        {k: b[k] for k in ("valid_error_pct", "test_error_pct", "valid_xent")}
  # A run stopped at the end of its shared pretraining holds its stacks, some members' alone,
  # in a pretraining checkpoint: no source for another run, which pretrains its own.
  ends = {"n": 0}

  def stop_after_the_last_layer(event):
    ends["n"] += event == "layer_end"
    if ends["n"] == 2:
      raise Stop

  with pytest.raises(Stop):
    E.train_and_evaluate(CFG, str(tmp_path / "stopped"), splits=_splits(), members=members,
                         write_images=False, on_event=stop_after_the_last_layer)
  _, meta = ckpt_lib.read_latest(str(tmp_path / "stopped" / "checkpoints"))
  assert (meta["phase"], meta["n_done_layers"]) == ("pretrain", 2)
  calls = _pretrained_members(monkeypatch)
  r = E.train_and_evaluate(CFG, None, splits=_splits(), members=members,
                           pretrained_from=[str(tmp_path / "stopped")])
  assert calls == [1] and r["pretrained_from"][0]["workdir"] is None


def test_a_run_reads_the_stacks_an_earlier_run_pretrained(tmp_path, monkeypatch):
  """A single model and a members run pretrained two stacks; a run of three members, each
  sharing one of them, reads their layers and fine-tunes only, to the same result as when it
  pretrains them itself. A source of another stack, or none of its checkpoints, is passed over."""
  E.train_and_evaluate(CFG.replace(seed=1), str(tmp_path / "single"), splits=_splits(),
                       write_images=False)
  E.train_and_evaluate(CFG, str(tmp_path / "sweep"), splits=_splits(), write_images=False,
                       members=E.Members(seeds=[2, 0], levels=[[0.3, 0.3]] * 2,
                                         pretrain_lr=[0.05] * 2, finetune_lr=[0.1] * 2))
  later = E.Members(seeds=[0, 1, 0], levels=[[0.3, 0.3]] * 3, pretrain_lr=[0.05] * 3,
                    finetune_lr=[0.3, 0.05, 0.03])
  itself = E.train_and_evaluate(CFG, None, splits=_splits(), members=later)
  calls = _pretrained_members(monkeypatch)
  sources = [str(tmp_path / n) for n in ("single", "sweep")]
  reads = E.train_and_evaluate(CFG, str(tmp_path / "later"), splits=_splits(), members=later,
                               write_images=False, pretrained_from=sources)
  assert calls == [] and reads["seconds"]["pretrain"] == 0
  sweep, single = (str((tmp_path / n).resolve()) for n in ("sweep", "single"))
  assert reads["pretrained_from"] == [{"workdir": sweep, "member": 1, "layers": 2},
                                      {"workdir": single, "member": None, "layers": 2},
                                      {"workdir": sweep, "member": 1, "layers": 2}]
  for a, b in zip(reads["members"], itself["members"]):
    assert {k: a[k] for k in ("valid_error_pct", "test_error_pct", "valid_xent")} == \
        {k: b[k] for k in ("valid_error_pct", "test_error_pct", "valid_xent")}
  # The provenance survives a resume from the final checkpoint.
  again = E.train_and_evaluate(CFG, str(tmp_path / "later"), splits=_splits(), members=later,
                               write_images=False, pretrained_from=sources)
  assert again["pretrained_from"] == reads["pretrained_from"]
  # Another level is another stack: this run pretrains its own (one, for both members).
  other = E.Members(seeds=[0, 0], levels=[[0.2, 0.2]] * 2, pretrain_lr=[0.05] * 2,
                    finetune_lr=[0.1, 0.3])
  r = E.train_and_evaluate(CFG, str(tmp_path / "other"), splits=_splits(), members=other,
                           write_images=False, pretrained_from=sources)
  assert calls == [1] and r["pretrained_from"][0]["workdir"] is None
  # A source without checkpoints (kept none) is no source.
  import shutil
  shutil.rmtree(tmp_path / "sweep" / "checkpoints")
  r = E.train_and_evaluate(CFG, str(tmp_path / "again"), splits=_splits(), members=later,
                           write_images=False, pretrained_from=sources)
  assert calls == [1, 2] and r["seconds"]["pretrain"] > 0


def test_a_stack_holds_every_shallower_stack_of_its_settings():
  """The first k layers' identity: a 3-layer stack's first two are the 2-layer stack, a DBN-3's
  first RBM a DBN-1's; a width, level or objective changed at layer k parts them from k up."""
  key = lambda cfg, **kw: shared.layer_keys(E.config_record(CFG.replace(**kw), None,
                                                            "regenerated", 4))[0]
  three = key(CFG, hidden=(16, 8, 8), finetune_lr=0.3)
  assert key(CFG) == three[:2] and key(CFG, hidden=(16,)) == three[:1]
  assert shared.keys(E.config_record(CFG, None, "regenerated", 4)) == [three[1]]
  wider = key(CFG, hidden=(16, 9, 8))
  assert wider[0] == three[0] and not set(wider[1:]) & set(three)
  levels = key(CFG, hidden=(16, 8, 8), layer_levels=(0.3, 0.3, 0.4))
  assert levels[:2] == three[:2] and levels[2] != three[2]
  dbn1, dbn3 = key(CFG, pretraining="rbm", hidden=(16,)), key(CFG, pretraining="rbm",
                                                               hidden=(16, 8, 8))
  assert dbn3[:1] == dbn1 and not set(dbn3) & set(three)
  # A run with an emphasised member weights every member's loss: its unweighted members' stacks
  # are not an unweighted run's.
  plain = E.Members(seeds=[0], levels=[[0.3, 0.3]], pretrain_lr=[0.05], finetune_lr=[0.1])
  both = E.Members(seeds=[0, 0], levels=[[0.3, 0.3]] * 2, pretrain_lr=[0.05] * 2,
                   finetune_lr=[0.1] * 2, alpha=[1.0, 1.0], beta=[1.0, 0.5])
  assert shared.keys(E.config_record(CFG, plain, "regenerated", 4)) == key(CFG)[1:]
  assert shared.keys(E.config_record(CFG, both, "regenerated", 4))[0] != key(CFG)[1]


def test_a_run_reads_the_first_layers_a_shallower_or_deeper_run_pretrained(tmp_path,
                                                                          monkeypatch):
  """A 3-layer run reads the two layers of a 2-layer run and pretrains only its third; a
  1-layer run reads the first layer of the 3-layer one and only fine-tunes; a run stopped above
  the layers it read resumes. Each ends as the model trained alone (layers to the bit on CPU)."""
  deep = CFG.replace(hidden=(16, 8, 8), finetune_lr=0.3)
  E.train_and_evaluate(CFG, str(tmp_path / "two"), splits=_splits(), write_images=False)
  calls = _pretrained_members(monkeypatch)
  three = E.train_and_evaluate(deep, str(tmp_path / "three"), splits=_splits(),
                               write_images=False, pretrained_from=[str(tmp_path / "two")])
  assert calls == [1]
  assert three["pretrained_from"] == [{"workdir": str((tmp_path / "two").resolve()),
                                       "member": None, "layers": 2}]
  logged = [json.loads(l) for l in (tmp_path / "three" / "metrics.jsonl").read_text().splitlines()]
  assert {r["layer"] for r in logged if r["phase"] == "pretrain"} == {3}
  one = E.train_and_evaluate(CFG.replace(hidden=(16,)), str(tmp_path / "one"), splits=_splits(),
                             write_images=False, pretrained_from=[str(tmp_path / "three")])
  assert calls == [1] and one["seconds"]["pretrain"] == 0
  assert one["pretrained_from"][0]["layers"] == 1
  # Two members that differ in fine-tuning alone, stopped at the end of their second layer (the
  # first read): the one stack they share resumes, and the record of the layer read stays.
  members = E.Members(seeds=[0, 0], levels=[[0.3] * 3] * 2, pretrain_lr=[0.05] * 2,
                      finetune_lr=[0.1, 0.3])
  with pytest.raises(Stop):
    E.train_and_evaluate(deep, str(tmp_path / "pair"), splits=_splits(), members=members,
                         write_images=False, on_event=_stop_at_the_first_layer_end,
                         pretrained_from=[str(tmp_path / "one")])
  _, meta = ckpt_lib.read_latest(str(tmp_path / "pair" / "checkpoints"))
  assert (meta["phase"], meta["n_done_layers"], meta["pretrained_members"]) == (
      "pretrain", 2, [0])
  pair = E.train_and_evaluate(deep, str(tmp_path / "pair"), splits=_splits(), members=members,
                              write_images=False, pretrained_from=[str(tmp_path / "one")])
  assert pair["resumed_from"]["phase"] == "pretrain"
  one_dir = str((tmp_path / "one").resolve())
  assert pair["pretrained_from"] == [
      {"workdir": one_dir, "member": None, "layers": 1},
      {"workdir": one_dir, "member": None, "layers": 1, "above": {"workdir": None, "member": 0}}]
  if sharding.default_loop() != "map":
    pytest.skip("bit-for-bit equality holds for the CPU's members loop")
  for got, path, cfg in ((three, "three", deep), (one, "one", CFG.replace(hidden=(16,)))):
    alone = E.train_and_evaluate(cfg, str(tmp_path / f"alone_{path}"), splits=_splits(),
                                 write_images=False)
    assert {k: got[k] for k in ("valid_error_pct", "test_error_pct", "valid_xent")} == \
        {k: alone[k] for k in ("valid_error_pct", "test_error_pct", "valid_xent")}
    mine, theirs = _layers(tmp_path / path), _layers(tmp_path / f"alone_{path}")
    assert mine.keys() == theirs.keys()
    for name, a in mine.items():
      np.testing.assert_array_equal(a, theirs[name], err_msg=name)
  for m, f in zip(pair["members"], [0.1, 0.3]):
    _same_as_alone(m, E.train_and_evaluate(deep.replace(finetune_lr=f), None, splits=_splits()))


@pytest.mark.slow
def test_a_table_probe_fine_tunes_the_stack_its_pick_pretrained(tmp_path, toy_data):
  """A one-model grid that probes its fine-tuning rate: the probe's two models (one group)
  read the stack the first group pretrained, and end as they do when they pretrain it."""
  grid = table_configs.grid_for("rectangles", "test", method="sda3")
  first = dataclasses.replace(grid.groups[0], points=grid.groups[0].points[:1])
  grid = dataclasses.replace(grid, groups=(first,), grow=1, probe=(("finetune_lr", 2.0),))
  (row,) = table_lib.reproduce([grid], str(tmp_path))
  (name,) = row["grown"]
  root = tmp_path / "rectangles" / "sda3"
  res = json.loads((root / name / "results.json").read_text())
  assert [f["workdir"] for f in res["pretrained_from"]] == [str((root / first.name).resolve())] * 2
  assert res["seconds"]["pretrain"] == 0
  probe = grow.group_of(name, [first], row["grid"])
  itself = sweep_lib.train_members(probe.config, probe.points, None, splits=E.load_data(
      probe.config)[0], data_source="regenerated")
  for a, b in zip(res["members"], itself["members"]):
    assert (a["valid_error_pct"], a["valid_xent"]) == (b["valid_error_pct"], b["valid_xent"])


@pytest.mark.multi_device
def test_a_stack_shared_by_members_split_over_devices():
  """Four members, two stacks, over a mesh of four devices: the two stacks pretrain on two of
  them, each member is then fine-tuned on its own device, as when each pretrains its own."""
  members = E.Members(seeds=[0, 1, 0, 1], levels=[[0.3, 0.3]] * 4, pretrain_lr=[0.05] * 4,
                      finetune_lr=[0.1, 0.1, 0.3, 0.3])
  split = E.train_and_evaluate(CFG, None, splits=_splits(), members=members,
                               mesh=sharding.member_mesh(4))
  assert [f["member"] for f in split["pretrained_from"]] == [0, 1, 0, 1]
  for m, s, f in zip(split["members"], [0, 1, 0, 1], [0.1, 0.1, 0.3, 0.3]):
    one = E.train_and_evaluate(CFG.replace(seed=s, finetune_lr=f), None, splits=_splits())
    _same_as_alone(m, one)
