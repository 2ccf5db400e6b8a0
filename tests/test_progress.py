"""sdae.io.progress: the ETA leaves out each phase's first (compiling) epoch, log-file output stays
compact, a terminal gets one rewritten line per phase, fine-tuning says why it stopped, and the
driver prints a header and a closing summary that names the pictures."""

import io
import json
import logging

import numpy as np
import pytest

from sdae.io import progress as P
from helpers import toy_splits


class FakeClock:

  def __init__(self):
    self.t = 0.0

  def __call__(self):
    return self.t


def run_phase(p, clock, n, first=30.0, steady=2.0, name="pretrain layer 1/1", stop=None):
  for i in range(1, (stop or n) + 1):
    dt = first if i == 1 else steady
    clock.t += dt
    p.epoch(name, i, n, seconds=dt, loss=1.0 / i)


def test_eta_is_steady_state_speed_without_the_first_epoch():
  clock, out = FakeClock(), io.StringIO()
  p = P.Progress(out, tty=False, enabled=True, clock=clock)
  p.epoch("finetune", 1, 10, seconds=50.0, loss=0.5)  # compilation
  assert p.eta() is None  # no steady epoch yet: no guess from the compiling one
  p.epoch("finetune", 2, 10, seconds=2.0, loss=0.4)
  p.epoch("finetune", 3, 10, seconds=4.0, loss=0.3)
  assert p.eta() == pytest.approx(3.0 * 7)  # mean of epochs 2-3, 7 epochs left
  # A new phase compiles again: its first epoch does not count either.
  p.epoch("other", 1, 4, seconds=99.0)
  assert p.eta() is None
  p.epoch("other", 2, 4, seconds=1.0)
  assert p.eta() == pytest.approx(2.0)
  assert "ETA 21.0s" in out.getvalue() and "ETA --" in out.getvalue()


def test_resumed_phase_counts_the_epochs_left():
  p = P.Progress(io.StringIO(), tty=False, enabled=True, clock=FakeClock())
  p.epoch("pretrain layer 2/3", 7, 15, seconds=40.0)  # resumed at epoch 7: compiles
  p.epoch("pretrain layer 2/3", 8, 15, seconds=3.0)
  assert p.eta() == pytest.approx(3.0 * 7)


def test_log_output_of_a_100_epoch_phase_is_compact():
  clock, out = FakeClock(), io.StringIO()
  p = P.Progress(out, tty=False, enabled=True, clock=clock, every_s=1e9)
  run_phase(p, clock, 100)
  p.end_phase()
  lines = out.getvalue().splitlines()
  assert 10 <= len(lines) <= 13, lines  # first, every tenth, last, and the phase's time
  assert "epoch 1/100" in lines[0] and "epoch 100/100" in lines[-2]
  assert "100 epochs in" in lines[-1] and "incl. compilation" in lines[-1]
  assert "\r" not in out.getvalue()


def test_log_output_is_rate_limited_not_silent_on_slow_epochs():
  clock, out = FakeClock(), io.StringIO()
  p = P.Progress(out, tty=False, enabled=True, clock=clock, every_s=60.0)
  run_phase(p, clock, 100, steady=61.0)  # each epoch longer than every_s: each one shown
  assert len(out.getvalue().splitlines()) == 100


def test_terminal_output_is_one_line_per_phase():
  clock, out = FakeClock(), io.StringIO()
  p = P.Progress(out, tty=True, enabled=True, clock=clock)
  run_phase(p, clock, 100)
  run_phase(p, clock, 50, name="finetune")
  p.end_phase()
  text = out.getvalue()
  assert text.count("\r") == 150  # every epoch rewrites its phase's line
  # Per phase: its last state, then its time (the second phase starts the first's close).
  assert text.count("\n") == 4
  assert "[####################] epoch 100/100" in text


def test_early_stopped_phase_shows_its_last_epoch_and_why():
  clock, out = FakeClock(), io.StringIO()
  p = P.Progress(out, tty=False, enabled=True, clock=clock, every_s=1e9)
  run_phase(p, clock, 200, name="finetune", stop=47)
  note = P.early_stopping_note(47, 200, 23, 1.44, 46, initial_patience=10,
                               patience_increase=2.0, improvement_threshold=0.995)
  p.end_phase(note)
  lines = out.getvalue().splitlines()
  assert "epoch 47/200" in lines[-2]
  assert "early stopping after epoch 47 of 200" in lines[-1]
  assert "ran out at epoch 46" in lines[-1] and "epoch 23" in lines[-1]
  assert "1.44%" in lines[-1]


def test_early_stopping_note_when_every_epoch_ran():
  note = P.early_stopping_note(200, 200, 64, 1.5, 1000, initial_patience=10,
                               patience_increase=2.0, improvement_threshold=0.995)
  assert note.startswith("ran all 200 epochs (patience 1000 not reached")
  assert "epoch 64" in note
  many = P.early_stopping_note(30, 60, np.array([10, 12]), np.array([2.0, 3.0]),
                               np.array([20, 30]), initial_patience=10, patience_increase=2.0,
                               improvement_threshold=0.995)
  assert "every model's patience ran out at epoch 20, 30" in many and "epochs 10, 12" in many


def test_disabled_progress_prints_nothing():
  out = io.StringIO()
  p = P.Progress(out, tty=False, enabled=False)
  p.header({"dataset": "x"})
  p.epoch("a", 1, 2, seconds=1.0)
  p.summary("done", {"results": ["r.json"]})
  assert out.getvalue() == ""


def test_driver_header_progress_and_summary(tmp_path, capsys, caplog):
  """One tiny run through train_and_evaluate: the header names the data, sizes, model and
  device; fine-tuning says why it ended; the summary names results and pictures (with their
  PDFs); metrics.jsonl keeps one JSON line per epoch."""
  from sdae import config as C
  from sdae import experiment as E
  caplog.set_level(logging.INFO, logger="sdae")  # as the entry points (restored after)
  from sdae import data
  splits = data.Splits(toy_splits(), "regenerated")  # as data.load tags what it read
  cfg = C.TrainConfig(dataset="rect", hidden=(16, 8), pretrain_epochs=2, finetune_epochs=3,
                      patience=3, batch_size=10, checkpoint_every_secs=0.0, level=0.3)
  E.train_and_evaluate(cfg, str(tmp_path), splits=splits)
  err = capsys.readouterr().err
  for text in ("dataset     rect, regenerated data", "train 300, valid 100, test 200",
               "36-16-8 (2 dA layers) + 2-way softmax", "masking 0.3", "device      cpu",
               "pretrain layer 2/2 done: 2 epochs", "finetune done:",
               "whose parameters are kept", "test error"):
    assert text in err, (text, err)
  summary = err[err.index("test error"):]
  for name in ("results.json", "filters.png (+ .pdf)", "reconstructions.png (+ .pdf)",
               "metrics.jsonl"):
    assert name in summary, (name, summary)
  # The picture that shows what was learnt (masked images filled in) is named first.
  assert summary.index("reconstructions.png") < summary.index("filters.png"), summary
  for name in ("filters.pdf", "reconstructions.pdf"):
    assert (tmp_path / name).read_bytes()[:4] == b"%PDF"
  rows = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert [r["phase"] for r in rows].count("pretrain") == 4 and rows[-1]["phase"] == "finetune"
  assert len(err.splitlines()) < 30


def test_run_header_says_data_sizes_model_and_levels():
  from sdae import config as C
  from sdae import experiment as E
  cfg = C.TrainConfig(dataset="mnist", hidden=(500,), level=0.3, n_train=20000,
                      data_dir="/data/mnist", finetune_epochs=1)
  h = P.run_header(cfg, data_source="original", sizes=(50000, 10000, 10000), n_in=784,
                   n_classes=10, device="cpu (2 devices)")
  assert h["dataset"] == "mnist, original data from /data/mnist"
  assert h["examples"] == "train 20000 (the first, of 50000), valid 10000, test 10000"
  assert h["model"].startswith("784-500 (1 dA layer) + 10-way softmax; tied weights")
  assert h["corruption"] == "masking 0.3" and "fine-tune all 1 epoch (" in h["training"]
  members = E.Members(seeds=[0, 1, 0, 1], levels=[[0.0], [0.0], [0.3], [0.3]],
                      pretrain_lr=[0.1] * 4, finetune_lr=[0.1] * 4)
  h = P.run_header(cfg.replace(n_train=0), data_source="regenerated", sizes=(1, 2, 3), n_in=4,
                   n_classes=2, members=members)
  assert h["corruption"] == "masking, levels 0, 0.3 (4 models, seeds 0, 1)"
  assert h["examples"] == "train 1, valid 2, test 3"


def test_header_says_what_fine_tuning_will_do():
  # Patience only grows, so patience >= the epoch count never stops early: the header says so
  # instead of promising early stopping.
  from sdae import config as C
  cfg = C.TrainConfig(dataset="rect", hidden=(8,), finetune_epochs=150)
  h = lambda c: P.run_header(c, data_source="regenerated", sizes=(1, 2, 3), n_in=4,
                             n_classes=2)["training"]
  full = h(cfg.replace(patience=150))
  assert "fine-tune all 150 epochs" in full and "no early stopping" in full, full
  early = h(cfg.replace(patience=20))
  assert "at most 150 epochs (minibatch 20, lr 0.1; early stopping: patience 20" in early, early
  assert "no early stopping" not in early


def test_resume_line_names_the_phase_as_the_progress_lines_do():
  sizes = dict(n_layers=3, pretrain_epochs=20, finetune_epochs=150)
  line = P.resume_line("finetune", 3, 150, **sizes)  # the checkpoint's layer is past the last
  assert line == "resumed from checkpoint: finetune, epoch 150/150 done", line
  assert "layer" not in line
  assert P.resume_line("pretrain", 1, 5, **sizes) == (
      "resumed from checkpoint: pretrain layer 2/3, epoch 5/20 done")


class _Stream:

  def __init__(self, tty):
    self.tty = tty

  def isatty(self):
    return self.tty


def test_summary_is_printed_once_on_a_terminal():
  # The run's summary goes to stderr; the entry points' stdout line repeats it, so it is left
  # out when both are the terminal, and kept when stdout goes to a file or a pipe (scripts).
  from experiments import _cli
  assert not _cli.summary_on_stdout(_Stream(True), _Stream(True))
  assert _cli.summary_on_stdout(_Stream(False), _Stream(True))
  assert _cli.summary_on_stdout(_Stream(True), _Stream(False))
  assert _cli.summary_on_stdout(io.StringIO(), io.StringIO())


def test_entry_points_stay_quiet_on_stdout_on_a_terminal(tmp_path, monkeypatch, capsys):
  # experiments.train on a terminal: the summary on stderr, nothing repeated on stdout.
  from experiments import _cli
  from experiments import train
  from sdae import experiment as E
  results = {"test_error_pct": 2.0, "test_ci95_pct": 0.1, "valid_error_pct": 1.5,
             "data_source": "regenerated"}
  monkeypatch.setattr(E, "train_and_evaluate", lambda *a, **k: results)
  monkeypatch.setattr(_cli, "setup_jax", lambda *a, **k: None)
  argv = ["prog", "--dataset=rect", f"--workdir={tmp_path}"]
  for tty, expected in ((True, ""), (False, "test error 2.00% +- 0.10")):
    monkeypatch.setattr(_cli, "summary_on_stdout", lambda tty=tty: not tty)
    train.FLAGS(argv)
    try:
      train.main(argv)
    finally:
      train.FLAGS.unparse_flags()
    out = capsys.readouterr().out
    assert (out.startswith(expected) if expected else out == ""), out
