"""Pruning a search's losing models (sdae.pruning): Optuna's median rule against a cell's
finished models, a pruned member frozen and skipped, the others untouched, resumable."""

import json

import numpy as np
import pytest

from sdae import checkpoint as ckpt_lib
from sdae import experiment as E
from sdae import pruning
from sdae.configs import table as table_configs

from helpers import toy_splits
from test_training import TINY

# Ten fine-tuning epochs: pruning from the end of epoch 2 (WARMUP_FRACTION), then every epoch.
CFG = TINY.replace(finetune_epochs=10, patience=10, level=0.3)
# The references: five models that train well, finished before the pruned run.
REFERENCE_LRS = [0.1, 0.2, 0.3, 0.5, 1.0]
# The pruned run: two good learning rates, and one so small that the model stays near chance.
LRS = [0.3, 1e-4, 1.0]


def _splits():
  return toy_splits(signal=0.1)


def _members(lrs):
  return E.Members(seeds=[0] * len(lrs), levels=[[0.3, 0.3]] * len(lrs),
                   pretrain_lr=[0.05] * len(lrs), finetune_lr=lrs)


@pytest.fixture(scope="module")
def references(tmp_path_factory) -> str:
  d = tmp_path_factory.mktemp("pruning") / "references"
  E.train_and_evaluate(CFG, str(d), splits=_splits(), members=_members(REFERENCE_LRS),
                       write_images=False)
  return str(d)


def _curve(epochs):
  return {e + 1: v for e, v in enumerate(epochs)}


def test_the_median_rule_against_hand_computed_medians():
  """At an epoch past the warm-up, a member whose best so far is above the median of the
  references' errors at that epoch is pruned; at the median, or during the warm-up, it is not."""
  refs = [_curve([60, 40, v, v]) for v in (10, 20, 30, 40, 50)]  # median at epochs 3, 4: 30
  p = pruning.MedianPruner(refs, n_members=3, finetune_epochs=10)
  assert p.warmup == 2
  running = np.array([True, True, False])
  # Epoch 1 is inside the warm-up: nobody is pruned, however bad.
  assert not p.prune(1, np.array([90.0, 90.0, 90.0]), running).any()
  assert list(p.prune(3, np.array([30.5, 30.0, 99.0]), running)) == [True, False, False]
  # A member whose best so far came down below the median stays.
  p2 = pruning.MedianPruner(refs, n_members=1, finetune_epochs=10)
  assert not p2.prune(3, np.array([29.0]), np.array([True])).any()
  # Fewer finished references than N_STARTUP: no pruner at all.
  assert pruning.pruner(pruning.Pruning("median", ()), 3, 10) is None
  assert pruning.pruner(pruning.Pruning("none", ("x",)), 3, 10) is None
  with pytest.raises(ValueError, match="--prune='mean' is invalid; accepted: none, median"):
    pruning.check_rule("mean")


def test_reference_curves_keep_finished_members_up_to_their_stop(tmp_path):
  """A reference run's members that trained to their end, each curve cut at the epoch it
  stopped; pruned and diverged members, and runs without results, are left out."""
  d = tmp_path / "ref"
  d.mkdir()
  rows = [{"phase": "pretrain", "layer": 1, "epoch": 1, "loss": 0.5}] + [
      {"phase": "finetune", "epoch": e, "valid_error_pct": [10.0 + e, 20.0 + e, 30.0, 40.0]}
      for e in (1, 2, 3)]
  (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
  members = [{"epochs_run": 3, "pruned_at_epoch": None, "diverged": False},
             {"epochs_run": 2, "pruned_at_epoch": None, "diverged": False},
             {"epochs_run": 2, "pruned_at_epoch": 2, "diverged": False},
             {"epochs_run": 3, "pruned_at_epoch": None, "diverged": True}]
  (d / "results.json").write_text(json.dumps({"members": members}))
  (tmp_path / "unfinished").mkdir()
  got = pruning.reference_curves([str(d), str(tmp_path / "unfinished")])
  assert got == [{1: 11.0, 2: 12.0, 3: 13.0}, {1: 21.0, 2: 22.0}]


def test_a_lagging_member_is_pruned_and_the_others_train_as_without_pruning(tmp_path,
                                                                           references):
  plain = E.train_and_evaluate(CFG, None, splits=_splits(), members=_members(LRS))
  r = E.train_and_evaluate(CFG, str(tmp_path), splits=_splits(), members=_members(LRS),
                           write_images=False,
                           pruning=pruning.Pruning("median", (references,)))
  pruned = [m["pruned_at_epoch"] for m in r["members"]]
  assert pruned == [None, 2, None], pruned  # the first epoch past the warm-up
  assert r["pruning"] == {"rule": "median", "reference_runs": 1, "n_pruned": 1}
  assert r["members"][1]["epochs_run"] == 2
  # The slow member's best (its error after two epochs) is what it reports.
  assert plain["members"][1]["valid_error_pct"] <= r["members"][1]["valid_error_pct"]
  for i in (0, 2):  # the members that went on: the same models, to the last bit on CPU
    assert r["members"][i] == plain["members"][i]
  rows = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
  losses = [row["loss"][1] for row in rows if row["phase"] == "finetune"]
  assert all(v is not None for v in losses[:2]) and all(v is None for v in losses[2:])


class Stop(Exception):
  pass


def test_a_pruned_run_killed_after_pruning_resumes_to_the_same_result(tmp_path, references):
  prune = pruning.Pruning("median", (references,))
  whole = E.train_and_evaluate(CFG, str(tmp_path / "whole"), splits=_splits(),
                               members=_members(LRS), write_images=False, pruning=prune)
  seen = {"n": 0}

  def stop_at_epoch_4(event):
    seen["n"] += event == "finetune_epoch_end"
    if seen["n"] == 4:
      raise Stop

  d = tmp_path / "killed"
  with pytest.raises(Stop):
    E.train_and_evaluate(CFG.replace(checkpoint_every_secs=0.0), str(d), splits=_splits(),
                         members=_members(LRS), write_images=False, pruning=prune,
                         on_event=stop_at_epoch_4)
  _, meta = ckpt_lib.read_latest(str(d / "checkpoints"))
  assert meta["phase"] == "finetune" and meta["pruned"] == [None, 2, None], meta
  again = E.train_and_evaluate(CFG.replace(checkpoint_every_secs=0.0), str(d),
                               splits=_splits(), members=_members(LRS), write_images=False,
                               pruning=prune)
  assert again["resumed_from"]["phase"] == "finetune"
  assert again["members"] == whole["members"]


def test_the_paper_budget_prunes_and_the_cpu_budget_does_not():
  assert table_configs.grid_for("rectangles", "paper", method="sda3").prune == "median"
  assert table_configs.grid_for("rectangles", "cpu", method="sda3").prune == "none"
  assert table_configs.grid_for("rectangles", "cpu", method="sae3", prune="median").prune == \
      "median"
