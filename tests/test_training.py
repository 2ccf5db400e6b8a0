"""Pretraining and fine-tuning: losses fall, errors beat chance, determinism, resume, sweeps."""

import json
import os
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sdae import config as C
from sdae import experiment as E
from sdae import finetune as ft
from sdae import pretrain as pt
from sdae import sharding
from helpers import count_epochs, toy_splits


TINY = C.TrainConfig(dataset="toy", hidden=(16, 8), pretrain_epochs=3, finetune_epochs=6,
                     batch_size=10, level=0.2, patience=6)


def test_da_loss_falls():
  x = jnp.asarray(toy_splits()["train"][0])
  spec = pt.layer_specs(36, (16,))[0]
  tx = pt.make_optimizer("sgd")
  p = pt.init_layer(spec, 0, 0)
  s = pt.init_opt_state(tx, p, 0.1)
  epoch = pt.compiled_pretrain_epoch(spec, tx, 10)
  means = []
  for e in range(6):
    p, s, losses = epoch(p, s, x, jnp.int32(0), jnp.int32(0), jnp.int32(e), jnp.float32(0.25))
    means.append(float(losses.mean()))
  assert means[-1] < 0.9 * means[0], means


def test_pretraining_is_what_makes_one_finetuning_epoch_enough():
  """The toy problem is easy enough for an unpretrained network to solve in a few epochs, so
  beating chance proves nothing about pretraining. After ONE fine-tuning epoch, the SdA starts
  from its pretrained encoders and is confident (validation cross-entropy ~0.2 nats), while the
  same network from its random initialisation is still near the prior (~0.56; ln 2 = 0.69)."""
  one = TINY.replace(finetune_epochs=1, patience=1)
  sda = E.train_and_evaluate(one, None, splits=toy_splits())
  mlp = E.train_and_evaluate(one.replace(pretraining="none"), None, splits=toy_splits())
  assert sda["test_error_pct"] < 10.0 and sda["valid_error_pct"] < 10.0  # chance is 50%
  assert 0 <= sda["test_ci95_pct"] < 5
  assert sda["valid_xent"] < 0.3, sda["valid_xent"]
  assert mlp["valid_xent"] > 1.5 * sda["valid_xent"], (mlp["valid_xent"], sda["valid_xent"])


def test_finetune_batch_size_is_its_own(monkeypatch):
  """--finetune_batch_size sets the fine-tuning minibatch only: pretraining is unchanged, the
  fine-tuning epoch runs n // B steps of B examples, and the model still learns."""
  seen = []
  real = ft.compiled_finetune_epoch
  monkeypatch.setattr(ft, "compiled_finetune_epoch",
                      lambda module, tx, batch_size, *a, **k: (seen.append(batch_size),
                                                               real(module, tx, batch_size, *a,
                                                                    **k))[1])
  cfg = TINY.replace(finetune_batch_size=30)
  r = E.train_and_evaluate(cfg, None, splits=toy_splits())
  E.train_and_evaluate(TINY, None, splits=toy_splits())
  assert seen == [30, 10]
  assert r["test_error_pct"] < 10.0
  assert cfg.ft_batch_size() == 30 and TINY.ft_batch_size() == 10
  # One fine-tuning epoch of 300 examples: 10 steps of 30 rather than 30 steps of 10.
  module = ft.classifier(TINY.hidden, 2)
  tx = pt.make_optimizer("sgd")
  params = ft.init_classifier(module, jnp.int32(0), 36)
  x, y = (jnp.asarray(a) for a in toy_splits()["train"])
  for b, steps in ((30, 10), (10, 30)):
    p = jax.tree.map(jnp.copy, params)
    _, _, losses = real(module, tx, b)(p, pt.init_opt_state(tx, p, 0.1), x, y, jnp.int32(0),
                                       jnp.int32(0))
    assert losses.shape == (steps,)


def test_second_run_of_the_same_shapes_compiles_no_epoch(monkeypatch):
  """The compiled epochs are cached on (spec, optimizer, batch size, ...): a second run with the
  same shapes reuses them (make_optimizer gives the same optimizer object), so XLA compiles no
  epoch, encoding or evaluation program again; the caches are bounded."""
  import logging
  compiled = []

  class Compiles(logging.Handler):
    def emit(self, record):
      words = record.getMessage().split()
      if words[:1] == ["Compiling"]:
        compiled.append(words[1])

  handler = Compiles()
  logging.getLogger("jax").addHandler(handler)
  cfg = TINY.replace(hidden=(12, 6), pretrain_epochs=1, finetune_epochs=1)  # shapes of its own
  epochs = {"jit(pretrain_epoch)", "jit(encode)", "jit(finetune_epoch)", "jit(error_count)"}
  try:
    with jax.log_compiles(True):
      E.train_and_evaluate(cfg, None, splits=toy_splits())
      first, compiled[:] = list(compiled), []
      misses = pt.compiled_pretrain_epoch.cache_info().misses
      E.train_and_evaluate(cfg.replace(seed=1, level=0.3), None, splits=toy_splits())
  finally:
    logging.getLogger("jax").removeHandler(handler)
  assert epochs <= set(first), first  # the first run did compile them (the log is read right)
  assert not epochs & set(compiled), compiled
  assert pt.compiled_pretrain_epoch.cache_info().misses == misses
  assert pt.make_optimizer("sgd") is pt.make_optimizer("sgd", momentum=0.5)
  assert pt.make_optimizer("momentum", 0.9) is not pt.make_optimizer("momentum", 0.5)
  for build in (pt.compiled_pretrain_epoch, pt.compiled_encode, ft.compiled_finetune_epoch,
                ft.compiled_error_count):
    assert build.cache_info().maxsize == 32


def test_same_seed_bitwise_same_parameters(tmp_path):
  a = E.train_and_evaluate(TINY, str(tmp_path / "a"), splits=toy_splits(), write_images=False)
  b = E.train_and_evaluate(TINY, str(tmp_path / "b"), splits=toy_splits(), write_images=False)
  assert a["test_error_pct"] == b["test_error_pct"]
  pa = _final_params(tmp_path / "a")
  pb = _final_params(tmp_path / "b")
  assert pa.keys() == pb.keys()
  for k in pa:
    np.testing.assert_array_equal(pa[k], pb[k])
  c = E.train_and_evaluate(TINY.replace(seed=1), str(tmp_path / "c"), splits=toy_splits(),
                           write_images=False)
  pc = _final_params(tmp_path / "c")
  assert any(not np.array_equal(pa[k], pc[k]) for k in pa)


def _final_params(workdir):
  from sdae import checkpoint as ck
  state, meta = ck.Checkpointer(str(workdir / "checkpoints")).restore_latest()
  assert meta["phase"] == "finetune"
  return {k: v for k, v in ck.named_leaves(state).items() if k.startswith(("ft/", "es/"))}


def test_checkpoint_holds_the_state_by_name(tmp_path):
  from sdae import checkpoint as ck
  E.train_and_evaluate(TINY.replace(pretrain_epochs=1, finetune_epochs=2), str(tmp_path),
                       splits=toy_splits(), write_images=False)
  c = ck.Checkpointer(str(tmp_path / "checkpoints"))
  state, meta = c.restore_latest()
  c.close()
  assert meta["phase"] == "finetune" and meta["checkpoint_format"] == ck.FORMAT
  assert set(state) == {"layer0", "layer1", "ft", "opt", "es"}
  assert state["layer0"]["kernel"].shape == (36, 16) and state["layer1"]["kernel"].shape == (16, 8)
  assert state["layer0"]["bias_visible"].shape == (36,)
  assert set(state["es"]) == {"best_params", "best_valid", "best_epoch", "patience"}
  assert float(state["opt"]["hyperparams"]["learning_rate"]) == np.float32(TINY.finetune_lr)
  assert int(state["opt"]["count"]) == 2 * (300 // 10)  # fine-tuning steps taken
  names = ck.named_leaves(state)
  assert "es/best_params/" + next(iter(state["ft"])) + "/kernel" in names


def test_checkpoint_of_the_old_format_is_refused_in_one_line(tmp_path):
  """A workdir whose checkpoint stored its arrays by index (``layer0/0``, ...) is refused with a
  one-line message saying what to do, not a traceback from deep inside the restore."""
  import shutil
  import orbax.checkpoint as ocp
  cfg = TINY.replace(pretrain_epochs=1, finetune_epochs=1)
  E.train_and_evaluate(cfg, str(tmp_path), splits=toy_splits(), write_images=False)
  shutil.rmtree(tmp_path / "checkpoints")
  old = {f"layer0/{i}": np.zeros(s, np.float32) for i, s in enumerate([(16,), (36,), (36, 16)])}
  manager = ocp.CheckpointManager(str(tmp_path / "checkpoints"), options=ocp.CheckpointManagerOptions(
      enable_async_checkpointing=False, create=True))
  manager.save(3, args=ocp.args.Composite(state=ocp.args.StandardSave(old), meta=ocp.args.JsonSave(
      {"phase": "pretrain", "layer": 1, "epoch": 0, "n_done_layers": 1, "has_current": False,
       "seconds": {"pretrain": 0.0, "finetune": 0.0}})))
  manager.close()
  with pytest.raises(E.RunError, match="older format.*delete that folder") as e:
    E.train_and_evaluate(cfg, str(tmp_path), splits=toy_splits(), write_images=False)
  assert "\n" not in str(e.value)


def test_interrupted_run_resumes_to_identical_result(tmp_path, monkeypatch):
  cfg = TINY.replace(checkpoint_every_secs=0.0)
  ref = E.train_and_evaluate(cfg, str(tmp_path / "ref"), splits=toy_splits(), write_images=False)

  # Interrupt after the 5th epoch (layer 2 of pretraining), then again in fine-tuning epoch 2.
  for stop_after in (5, 3):  # counted from each (re)start
    count_epochs(monkeypatch, stop_after)
    with pytest.raises(KeyboardInterrupt):
      E.train_and_evaluate(cfg, str(tmp_path / "cut"), splits=toy_splits(), write_images=False)
    monkeypatch.undo()
    assert not os.path.exists(tmp_path / "cut" / "results.json")
  out = E.train_and_evaluate(cfg, str(tmp_path / "cut"), splits=toy_splits(), write_images=False)
  for k in ("test_error_pct", "valid_error_pct", "finetune_best_epoch"):
    assert out[k] == ref[k]
  pr, pc = _final_params(tmp_path / "ref"), _final_params(tmp_path / "cut")
  for k in pr:
    np.testing.assert_array_equal(pr[k], pc[k])
  # metrics.jsonl: each epoch once, as uninterrupted (the epochs logged after the checkpoint
  # that was resumed from are dropped, then logged again).
  assert _metrics(tmp_path / "cut") == _metrics(tmp_path / "ref")
  assert len(_metrics(tmp_path / "ref")) == 2 * 3 + out["finetune_epochs_run"]


def test_rerun_of_a_finished_run_reports_this_process_time(tmp_path, monkeypatch):
  # seconds.total is this process's wall time (README), training the checkpoints' sum: a rerun
  # of a finished run reads its clock, not the first run's training time. The rerun's clock is
  # a fake one that moves 100 s per reading.
  first = E.train_and_evaluate(TINY, str(tmp_path), splits=toy_splits(), write_images=False)
  ticks = iter(range(0, 10**6, 100))
  monkeypatch.setattr(E, "time", types.SimpleNamespace(monotonic=lambda: float(next(ticks))))
  again = E.train_and_evaluate(TINY, str(tmp_path), splits=toy_splits(), write_images=False)
  assert again["seconds"]["training"] == first["seconds"]["training"] < 100
  assert again["seconds"]["total"] >= 100 and again["seconds"]["total"] % 100 == 0
  assert json.loads((tmp_path / "results.json").read_text())["seconds"] == again["seconds"]


def _metrics(workdir):
  timing = ("seconds", "examples_per_s")
  with open(workdir / "metrics.jsonl") as f:
    return [{k: v for k, v in json.loads(l).items() if k not in timing} for l in f]


def test_metrics_log_keeps_the_rows_up_to_a_checkpoint(tmp_path):
  log = E.MetricsLog(str(tmp_path / "metrics.jsonl"))
  for layer in (1, 2):
    for epoch in (1, 2):
      log.write(phase="pretrain", layer=layer, epoch=epoch)
  log.write(phase="finetune", epoch=1)
  with open(log.path, "a") as f:
    f.write('{"phase": "finetune", "ep')  # a line cut short by a kill
  rows = lambda: [(r["phase"], r.get("layer"), r["epoch"]) for r in map(json.loads, open(log.path))]
  log.keep_until("finetune", 0, 1)
  assert rows() == [("pretrain", 1, 1), ("pretrain", 1, 2), ("pretrain", 2, 1), ("pretrain", 2, 2),
                    ("finetune", None, 1)]
  log.keep_until("pretrain", 1, 1)  # layer 2 (0-based 1) in progress, one epoch done
  assert rows() == [("pretrain", 1, 1), ("pretrain", 1, 2), ("pretrain", 2, 1)]
  log.keep_until("pretrain", 1, 0)  # at the boundary after layer 1
  assert rows() == [("pretrain", 1, 1), ("pretrain", 1, 2)]
  log.keep_until(None)  # no checkpoint: the run starts over
  assert rows() == []


def test_workdir_of_other_config_is_refused(tmp_path):
  E.train_and_evaluate(TINY.replace(finetune_epochs=1, pretrain_epochs=1), str(tmp_path),
                       splits=toy_splits(), write_images=False)
  with pytest.raises(E.RunError, match="another configuration.*--overwrite"):
    E.train_and_evaluate(TINY.replace(finetune_epochs=1, pretrain_epochs=1, seed=3), str(tmp_path),
                         splits=toy_splits(), write_images=False)
  r = E.train_and_evaluate(TINY.replace(finetune_epochs=1, pretrain_epochs=1, seed=3),
                           str(tmp_path), splits=toy_splits(), write_images=False, overwrite=True)
  with open(tmp_path / "results.json") as f:
    assert json.load(f)["config"]["seed"] == 3 == r["config"]["seed"]


def test_workdir_trained_on_other_data_is_refused(tmp_path):
  """A workdir resumes only on the data source it was trained on (e.g. not on the original files
  after a regenerated run, when --data_dir is added); asking for that same source resumes."""
  from sdae import data
  cfg = TINY.replace(finetune_epochs=1, pretrain_epochs=1)
  regenerated = lambda: data.Splits(toy_splits(), "regenerated")
  E.train_and_evaluate(cfg, str(tmp_path), splits=regenerated(), write_images=False)
  with open(tmp_path / "config.json") as f:
    assert json.load(f)["data_source_used"] == "regenerated"
  with pytest.raises(E.RunError, match="data_source_used: 'regenerated' -> 'original'"):
    E.train_and_evaluate(cfg, str(tmp_path), splits=data.Splits(toy_splits(), "original"),
                         write_images=False)
  # The source asked for is not the run's identity, the source read is: naming it resumes.
  r = E.train_and_evaluate(cfg.replace(data_source="regenerated"), str(tmp_path),
                           splits=regenerated(), write_images=False)
  assert r["data_source"] == "regenerated"
  # A workdir written before the source was recorded resumes as before.
  with open(tmp_path / "config.json") as f:
    old = json.load(f)
  del old["data_source_used"]
  with open(tmp_path / "config.json", "w") as f:
    json.dump(old, f)
  E.train_and_evaluate(cfg, str(tmp_path), splits=data.Splits(toy_splits(), "original"),
                       write_images=False)


def test_workdir_trained_on_another_data_version_is_refused(tmp_path):
  """The data version read is part of a run's identity, as the source is: results.json records
  it; a workdir trained on version 3 does not resume on version 4; one recorded before versions
  were (regenerated, no data_version_used) counts as regenerate.LEGACY_VERSION."""
  from sdae import data
  from sdae.data import regenerate
  cfg = TINY.replace(finetune_epochs=1, pretrain_epochs=1)
  v = lambda n: data.Splits(toy_splits(), "regenerated", n)
  r = E.train_and_evaluate(cfg, str(tmp_path), splits=v(3), write_images=False)
  assert r["data_version"] == r["config"]["data_version"] == 3
  with open(tmp_path / "results.json") as f:
    assert json.load(f)["data_version"] == 3
  with open(tmp_path / "config.json") as f:
    old = json.load(f)
  assert old["data_version_used"] == 3
  with pytest.raises(E.RunError, match="data_version_used: 3 -> 4"):
    E.train_and_evaluate(cfg, str(tmp_path), splits=v(4), write_images=False)
  del old["data_version_used"]
  with open(tmp_path / "config.json", "w") as f:
    json.dump(old, f)
  assert regenerate.LEGACY_VERSION == 3
  with pytest.raises(E.RunError, match="data_version_used: 3 -> 4"):
    E.train_and_evaluate(cfg, str(tmp_path), splits=v(4), write_images=False)
  E.train_and_evaluate(cfg, str(tmp_path), splits=v(3), write_images=False)
  # Original data carry no version.
  r = E.train_and_evaluate(cfg, None, splits=data.Splits(toy_splits(), "original", 3))
  assert r["data_version"] is None and r["config"]["data_version"] is None


def test_results_record_the_source_read_never_the_one_typed(caplog):
  """The splits of sdae.data.load carry their source, and that is what the results record; a
  source typed by the caller is not: a plain dict is "arrays"."""
  from sdae import data
  cfg = TINY.replace(finetune_epochs=1, pretrain_epochs=1)
  r = E.train_and_evaluate(cfg, None, splits=data.Splits(toy_splits(), "original"),
                           data_source="regenerated")
  assert r["data_source"] == r["config"]["data_source"] == "original"
  assert "'regenerated' was given" in caplog.text
  r = E.train_and_evaluate(cfg, None, splits=toy_splits(), data_source="regenerated")
  assert r["data_source"] == "arrays"
  r = E.train_and_evaluate(cfg, None, splits=data.from_arrays(*toy_splits()["train"],
                                                              *toy_splits()["valid"],
                                                              *toy_splits()["test"]))
  assert r["data_source"] == "arrays"


def test_members_equal_models_trained_one_by_one():
  """A vmapped sweep of (level, seed) members equals each member trained alone."""
  cfg = TINY.replace(finetune_epochs=3)
  levels, seeds = [0.0, 0.3, 0.3], [0, 0, 1]
  members = E.Members(seeds=seeds, levels=[[l, l] for l in levels],
                      pretrain_lr=[0.05] * 3, finetune_lr=[0.1] * 3)
  many = E.train_and_evaluate(cfg, None, splits=toy_splits(), members=members)
  for m, l, s in zip(many["members"], levels, seeds):
    one = E.train_and_evaluate(cfg.replace(level=l, seed=s), None, splits=toy_splits())
    # On CPU the members run one after another (sdae.sharding.default_loop), through the same
    # per-model programs as a model alone: equal to the last bit, so the errors are equal.
    assert m["test_error_pct"] == one["test_error_pct"]
    assert m["valid_error_pct"] == one["valid_error_pct"]
    assert m["best_epoch"] == one["finetune_best_epoch"]


def test_members_that_stop_at_different_epochs_equal_models_alone(tmp_path):
  """Members whose early stopping ends them at epochs 2, 6 and 12 each equal the model trained
  alone; a stopped member trains no more (its loss is null in metrics.jsonl from then on: on
  CPU its epochs are skipped, not computed and thrown away)."""
  cfg = TINY.replace(finetune_epochs=12, patience=2, patience_increase=1.5)
  flrs = [0.02, 0.3, 3.0]
  splits = toy_splits(signal=0.08)
  members = E.Members(seeds=[0] * 3, levels=[[0.2, 0.2]] * 3, pretrain_lr=[0.05] * 3,
                      finetune_lr=flrs)
  many = E.train_and_evaluate(cfg, str(tmp_path), splits=splits, members=members,
                              write_images=False)
  ran = []
  for m, f in zip(many["members"], flrs):
    one = E.train_and_evaluate(cfg.replace(finetune_lr=f), None, splits=splits)
    # The same count of errors (a member's rate is float32 x 100, a model's rounded to 4 places).
    assert m["test_error_pct"] == pytest.approx(one["test_error_pct"], abs=1e-4)
    assert m["valid_error_pct"] == pytest.approx(one["valid_error_pct"], abs=1e-4)
    assert m["best_epoch"] == one["finetune_best_epoch"]
    ran.append(one["finetune_epochs_run"])
  assert len(set(ran)) == 3 and max(ran) == 12, ran  # the case this test is about
  rows = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
  losses = [r["loss"] for r in rows if r["phase"] == "finetune"]
  for i, n in enumerate(ran):
    assert all(isinstance(epoch[i], float) for epoch in losses[:n]), (i, n)
    assert all(epoch[i] is None for epoch in losses[n:]), (i, n)


def test_a_stopped_member_skips_its_fine_tuning_epoch():
  """The members' fine-tuning epoch on CPU's loop once some member has stopped: an inactive
  member comes back unchanged with NaN losses; an active one equals the model's own program."""
  module = ft.classifier((8,), 2)
  tx = pt.make_optimizer("sgd")
  x, y = (jnp.asarray(a) for a in toy_splits()["train"])
  one = ft.init_classifier(module, jnp.int32(0), 36)
  params = jax.tree.map(lambda a: jnp.stack([a, a + 0.5]), one)
  opt = jax.vmap(lambda p: pt.init_opt_state(tx, p, 0.1))(params)
  before = jax.tree.map(np.asarray, params)
  got_p, got_o, losses = ft.compiled_finetune_epoch(module, tx, 10, True, loop="map")(
      params, opt, x, y, jnp.asarray([0, 0]), jnp.int32(0), jnp.asarray([True, False]), False)
  alone_p, _, alone_losses = ft.compiled_finetune_epoch(module, tx, 10)(
      jax.tree.map(jnp.copy, one), pt.init_opt_state(tx, one, 0.1), x, y, jnp.int32(0),
      jnp.int32(0))
  for a, b, p0 in zip(jax.tree.leaves(got_p), jax.tree.leaves(alone_p), jax.tree.leaves(before)):
    np.testing.assert_array_equal(a[0], b)
    np.testing.assert_array_equal(a[1], p0[1])
  np.testing.assert_array_equal(losses[0], alone_losses)
  assert losses.shape == (2, 30) and np.isnan(np.asarray(losses[1])).all()
  assert float(got_o.hyperparams["learning_rate"][1]) == pytest.approx(0.1)


def test_vmapped_members_equal_models_trained_one_by_one(monkeypatch):
  """The accelerators' loop (member_loop="vmap": batched products over the members, forced
  here on CPU) against each member alone, through pretraining, fine-tuning, early stopping and
  evaluation. Batched products may round differently, so: errors within one example."""
  cfg = TINY.replace(finetune_epochs=3)
  levels, seeds = [0.0, 0.3, 0.3], [0, 0, 1]
  members = E.Members(seeds=seeds, levels=[[l, l] for l in levels],
                      pretrain_lr=[0.05] * 3, finetune_lr=[0.1] * 3)
  loops, over_members = [], sharding.over_members

  def spy(fn, in_axes, loop=None, mesh=None, **kw):
    loops.append(loop)
    return over_members(fn, in_axes, loop, mesh, **kw)

  sharding.clear_program_caches()  # an earlier test may have built these vmap programs already
  with monkeypatch.context() as m:
    m.setattr(sharding, "over_members", spy)
    many = E.train_and_evaluate(cfg.replace(member_loop="vmap"), None, splits=toy_splits(),
                                members=members)
  # Programs built for this run (at least the two layers' and the fine-tuning epochs), all vmap:
  # none handed out from a cache filled with lax.map programs.
  assert len(loops) >= 3 and set(loops) == {"vmap"}, loops
  splits = toy_splits()
  one_example = {k: 100.0 / len(splits[k][1]) for k in ("valid", "test")}
  for mem, l, s in zip(many["members"], levels, seeds):
    one = E.train_and_evaluate(cfg.replace(level=l, seed=s), None, splits=toy_splits())
    for k in ("valid", "test"):
      assert abs(mem[f"{k}_error_pct"] - one[f"{k}_error_pct"]) <= one_example[k] + 1e-6, (k, mem, one)


def test_a_model_and_its_sweep_of_one_are_the_same_to_the_bit(tmp_path):
  """The driver trains a single model as a sweep of one (``Members.of_config``): the same
  config, run alone and as a one-member sweep, gives the same errors, best epoch, validation
  cross-entropy and final parameters, bit for bit. The member loop is forced to vmap, whose
  batched products round differently from the model alone at these shapes (200 inputs, 100
  units, minibatch 20: tests/test_sharding.py), so a member that were batched rather than run as
  the model itself would differ; per-layer levels, a seed and an emphasis check that the member
  takes each from the config."""
  from sdae import checkpoint as ck
  splits = toy_splits(n_train=200, n_valid=60, n_test=60, d=200, signal=0.1)
  cfg = TINY.replace(hidden=(100, 10), layer_levels=(0.1, 0.4), seed=3, emphasis="double",
                     pretrain_epochs=1, finetune_epochs=3, batch_size=20, patience=3,
                     member_loop="vmap")
  one = E.train_and_evaluate(cfg, str(tmp_path / "one"), splits=splits, write_images=False)
  sweep = E.train_and_evaluate(cfg, str(tmp_path / "sweep"), splits=splits, write_images=False,
                               members=E.Members.of_config(cfg))
  (m,) = sweep["members"]
  assert "members" not in one and not m["diverged"]
  # The single model's results.json rounds what the member's row keeps as measured.
  assert (one["test_error_pct"], one["valid_error_pct"], one["test_ci95_pct"]) == (
      round(m["test_error_pct"], 4), round(m["valid_error_pct"], 4), round(m["test_ci95_pct"], 4))
  assert (one["finetune_best_epoch"], one["valid_xent"]) == (m["best_epoch"],
                                                              round(m["valid_xent"], 6))
  arrays = {}
  for name in ("one", "sweep"):
    c = ck.Checkpointer(str(tmp_path / name / "checkpoints"))
    state, meta = c.restore_latest()
    c.close()
    assert meta["phase"] == "finetune"
    arrays[name] = ck.named_leaves(state)
  assert arrays["one"].keys() == arrays["sweep"].keys()
  for k, a in arrays["one"].items():  # a single model's checkpoint has no member axis
    np.testing.assert_array_equal(a, arrays["sweep"][k][0], err_msg=k)
    assert a.shape == arrays["sweep"][k].shape[1:], k


def test_member_loop_is_a_validated_config_field(monkeypatch):
  with pytest.raises(C.ConfigError, match="--member_loop='pmap' is invalid; accepted: auto, vmap"):
    C.validate(TINY.replace(member_loop="pmap"))
  for loop in (None, "auto", "vmap", "map"):
    C.validate(TINY.replace(member_loop=loop))
  assert TINY.replace(member_loop="auto").to_dict()["member_loop"] is None  # one spelling
  assert sharding.resolve_loop("auto") == sharding.resolve_loop(None) == sharding.default_loop()
  with pytest.raises(ValueError, match="loop='pmap'"):
    sharding.resolve_loop("pmap")
  # Neither the library nor the entry points read the environment: a variable of an older version
  # changes nothing, and --member_loop (default auto) is the one way to choose.
  monkeypatch.setenv("SDAE_MEMBER_LOOP", "vmap")
  assert sharding.resolve_loop(None) == sharding.default_loop()
  from absl import flags
  from experiments import _train_flags
  fv = _train_flags.define(flags.FlagValues())
  fv(["prog", "--dataset=rect", "--workdir=unused"])
  assert "member_loop" not in _train_flags.overrides(fv)
  fv(["prog", "--member_loop=vmap"])
  assert _train_flags.overrides(fv)["member_loop"] == "vmap"


def test_early_stopping_keeps_best_and_extends_patience():
  p = {"w": jnp.zeros(2)}
  es = ft.init_early_stopping(p, patience=3)
  es = ft.update_early_stopping(es, {"w": jnp.ones(2)}, 0.5, 0)
  assert float(es["best_valid"]) == 0.5 and int(es["best_epoch"]) == 0
  es = ft.update_early_stopping(es, {"w": 2 * jnp.ones(2)}, 0.3, 2)
  assert int(es["patience"]) == 6  # ceil(3 * 2)
  es = ft.update_early_stopping(es, {"w": 3 * jnp.ones(2)}, 0.4, 3)  # worse: best kept
  assert float(es["best_params"]["w"][0]) == 2.0 and int(es["best_epoch"]) == 2
  es = ft.update_early_stopping(es, {"w": 4 * jnp.ones(2)}, 0.2999, 4)  # tiny gain: no extension
  assert int(es["best_epoch"]) == 4 and int(es["patience"]) == 6
  assert not ft.should_stop(es, 5, 100) and ft.should_stop(es, 6, 100)
  assert ft.should_stop(es, 5, 5)


def test_ci95_matches_paper_table():
  # Table 3: MNIST 1.28 +- 0.22 with n = 10000; rect 1.99 +- 0.12 with n = 50000.
  assert ft.ci95_pct(0.0128, 10000) == pytest.approx(0.22, abs=0.005)
  assert ft.ci95_pct(0.0199, 50000) == pytest.approx(0.12, abs=0.005)


def test_divergence_stops_with_a_clear_message():
  # ReLU units with squared error and a huge step size overflow within the first epoch.
  cfg = TINY.replace(activation="relu", loss="squared", pretrain_lr=1e3, pretrain_epochs=2)
  with pytest.raises(E.DivergenceError, match="pretraining layer 1 epoch 1.*lower --pretrain_lr"):
    E.train_and_evaluate(cfg, None, splits=toy_splits())


def test_diverged_member_is_marked_never_selected_and_the_others_train_on(tmp_path):
  """A member whose loss becomes NaN is marked diverged (null errors, kept across a resume),
  is never selected, and the other member ends as it would have alone."""
  from sdae import sweep as S
  cfg = TINY.replace(activation="relu", loss="squared", pretrain_epochs=2, finetune_epochs=3)
  members = E.Members(seeds=[0, 0], levels=[[0.2, 0.2]] * 2, pretrain_lr=[0.05, 1e3],
                      finetune_lr=[0.1, 0.1])
  many = E.train_and_evaluate(cfg, str(tmp_path), splits=toy_splits(), members=members,
                              write_images=False)
  good, bad = many["members"]
  assert bad["diverged"] and many["n_diverged"] == 1
  assert bad["valid_error_pct"] is None and bad["test_error_pct"] is None
  assert not good["diverged"] and good["valid_error_pct"] is not None
  assert S.select(many["members"]) is good
  one = E.train_and_evaluate(cfg.replace(pretrain_lr=0.05), None, splits=toy_splits())
  if sharding.default_loop() == "map":  # each member as alone, to the last bit
    assert (good["valid_error_pct"], good["test_error_pct"]) == (
        one["valid_error_pct"], one["test_error_pct"])
  with open(tmp_path / "results.json") as f:
    assert json.load(f)["members"][1]["valid_error_pct"] is None
  again = E.train_and_evaluate(cfg, str(tmp_path), splits=toy_splits(), members=members,
                               write_images=False)  # restored from the final checkpoint
  assert [m["diverged"] for m in again["members"]] == [False, True]
  rows = [S.row(S.Point(0.2, 0, lr, 0.1), m, 2) for lr, m in zip((0.05, 1e3), again["members"])]
  assert rows[1]["diverged"] and rows[1]["valid_error_pct"] is None
  assert S.select(rows) is rows[0] and S.summarize(rows)["valid"][0] == [rows[0]["valid_error_pct"]]
  with pytest.raises(ValueError, match="no row"):
    S.select(rows[1:])


def test_stopped_member_is_frozen():
  """After its patience runs out, a member keeps its best parameters even if a later epoch (run
  only because other members of the sweep go on) would have been better."""
  es = ft.init_early_stopping({"w": jnp.zeros(1)}, patience=2)
  es = ft.update_early_stopping(es, {"w": jnp.ones(1)}, 0.5, 0)
  es = ft.update_early_stopping(es, {"w": 2 * jnp.ones(1)}, 0.6, 1)
  assert int(es["patience"]) == 2
  es = ft.update_early_stopping(es, {"w": 3 * jnp.ones(1)}, 0.1, 2)  # epoch 2 >= patience 2
  assert float(es["best_valid"]) == 0.5 and float(es["best_params"]["w"][0]) == 1.0
