"""What a training run prints while it works: a header, one progress line per phase, a summary.

``Progress`` is driven by the training loops (``sdae.experiment``, ``sdae.restore.run``)::

    p = Progress()
    p.header({"dataset": "mnist (original files)", "model": "784-500 dA + softmax", ...})
    for i in range(1, n + 1):
      ...                                          # one epoch, dt seconds
      p.epoch("pretrain layer 1/3", i, n, seconds=dt, loss=62.1, examples_per_s=9000.0)
    p.end_phase(note="...")                        # the phase's time, and why it ended
    p.summary("test error 1.45%", {"results": ["DIR/results.json"], "pictures": [...]})

On a terminal each phase is one line rewritten in place (carriage return); elsewhere (a log
file, CI) full lines, but not one per epoch: the first epoch, every tenth of the phase, the last
one, and at least one every ``every_s`` seconds of wall time.

The ETA of a phase comes from its steady-state speed: the mean time of its epochs after the
first, because the first epoch of a phase (of a run, and after a resume) includes compiling it,
often several times a steady epoch. Until a second epoch has run there is no ETA.

Output is on by default only where the ``sdae`` logger is enabled for INFO (the entry points set
that up), so library calls stay quiet unless asked.
"""

from __future__ import annotations

import logging
import math
import shutil
import sys
import time
from typing import Any, Callable, Mapping, Sequence, TextIO

import numpy as np

from sdae import objectives as objectives_lib

_BAR = 20  # characters of the terminal progress bar


def format_seconds(s: float | None) -> str:
  """``75.3`` -> ``'1m15s'``; under a minute ``'8.2s'``; None -> ``'--'``."""
  if s is None or not math.isfinite(s):
    return "--"
  if s < 60:
    return f"{s:.1f}s"
  m, sec = divmod(int(round(s)), 60)
  if m < 60:
    return f"{m}m{sec:02d}s"
  h, m = divmod(m, 60)
  return f"{h}h{m:02d}m"


def format_value(v: Any, pct: bool = False) -> str:
  """A metric for a progress line: scalars as 4 significant digits (2 decimals with ``pct``);
  one value per model (a sweep) as the values, or their range when there are more than 4."""
  a = np.asarray(v, np.float64).reshape(-1)
  one = (lambda x: f"{x:.2f}%") if pct else (lambda x: f"{x:#.4g}")
  if a.size == 1:
    return one(float(a[0]))
  if a.size <= 4:
    return " ".join(one(float(x)) for x in a)
  shown = a[~np.isnan(a)] if not np.isnan(a).all() else a  # NaN: a model stopped or diverged
  return f"{one(float(shown.min()))}..{one(float(shown.max()))} ({a.size} models)"


class _Phase:

  def __init__(self, name: str, total: int, started: float):
    self.name, self.total, self.started = name, total, started
    self.seconds: list[float] = []
    self.last_epoch = 0  # 1-based; a resumed phase starts past 0
    self.last_line = ""
    self.last_printed_epoch = 0
    self.last_printed_at = -math.inf
    self.bucket = -1  # tenths of the phase already reported (non-terminal output)


class Progress:
  """Prints a run's header, per-phase progress and closing summary (see the module docstring).

  Args:
    stream: where to write (default: ``sys.stderr`` at the time of writing).
    tty: one rewritten line per phase (True) or compact full lines (False); default: whether
      ``stream`` is a terminal.
    enabled: print at all; default: whether the ``sdae`` logger is enabled for INFO.
    every_s: on non-terminal output, the longest wall time between two progress lines.
    clock: monotonic seconds (tests pass a fake one).
  """

  def __init__(self, stream: TextIO | None = None, *, tty: bool | None = None,
               enabled: bool | None = None, every_s: float = 60.0,
               clock: Callable[[], float] = time.monotonic):
    self._stream = stream
    self._tty = tty
    self.enabled = (logging.getLogger("sdae").isEnabledFor(logging.INFO)
                    if enabled is None else enabled)
    self.every_s = every_s
    self._clock = clock
    self._phase: _Phase | None = None
    self._open = False  # a terminal line is being rewritten

  # --- output ---

  @property
  def stream(self) -> TextIO:
    return self._stream if self._stream is not None else sys.stderr

  @property
  def tty(self) -> bool:
    if self._tty is not None:
      return self._tty
    isatty = getattr(self.stream, "isatty", None)
    return bool(isatty and isatty())

  def _line(self, text: str) -> None:
    """A full line (timestamped when not on a terminal, as the entry points' log lines)."""
    if not self.enabled:
      return
    if self._open:
      self.stream.write("\n")
      self._open = False
    prefix = "" if self.tty else time.strftime("%H:%M:%S ")
    self.stream.write(prefix + text + "\n")
    self.stream.flush()

  def _rewrite(self, text: str) -> None:
    if not self.enabled:
      return
    # A line wider than the terminal wraps, and the carriage return would then rewrite only its
    # last row: cut it to the width.
    width = shutil.get_terminal_size((200, 24)).columns
    self.stream.write("\r" + text[:max(width - 1, 20)] + "\x1b[K")
    self.stream.flush()
    self._open = True

  def message(self, text: str) -> None:
    """Any other line (a resume, a phase boundary)."""
    self._line(text)

  # --- the run ---

  def header(self, fields: Mapping[str, str]) -> None:
    """One line per field, names aligned: what runs, on what, where."""
    width = max((len(k) for k in fields), default=0)
    for k, v in fields.items():
      self._line(f"{k:<{width}}  {v}")

  def eta(self) -> float | None:
    """Seconds left in the current phase at its steady-state speed (None: not known yet)."""
    p = self._phase
    if p is None or len(p.seconds) < 2:
      return None
    steady = float(np.mean(p.seconds[1:]))  # the first epoch includes compilation
    return steady * max(p.total - p.last_epoch, 0)

  def epoch(self, phase: str, i: int, n: int, *, seconds: float, at_most: bool = False,
            examples_per_s: float | None = None, **metrics: Any) -> None:
    """Epoch ``i`` of ``n`` (1-based) of ``phase`` took ``seconds``.

    ``at_most``: the phase may end before ``n`` (early stopping), so the ETA is a bound.
    ``metrics``: shown in order; names ending in ``_pct`` are percentages.
    """
    if self._phase is None or self._phase.name != phase:
      self.end_phase()
      self._phase = _Phase(phase, n, self._clock())
    p = self._phase
    p.total = n
    p.seconds.append(float(seconds))
    p.last_epoch = i
    parts = [f"epoch {i}/{n}"]
    for k, v in metrics.items():
      pct = k.endswith("_pct")
      name = (k[:-4] if pct else k).replace("_", " ")
      parts.append(f"{name} {format_value(v, pct)}")
    if examples_per_s is not None:
      parts.append(f"{examples_per_s:,.0f} ex/s")
    eta = self.eta()
    parts.append(f"ETA {'<= ' if at_most and eta is not None else ''}{format_seconds(eta)}")
    body = "  ".join(parts)
    if self.tty:
      done = int(_BAR * i / max(n, 1))
      p.last_line = f"{phase} [{'#' * done}{'.' * (_BAR - done)}] {body}"
      self._rewrite(p.last_line)
      p.last_printed_epoch = i
      return
    p.last_line = f"{phase}  {body}"
    now = self._clock()
    bucket = (10 * i) // max(n, 1)
    if i == 1 or i >= n or bucket > p.bucket or now - p.last_printed_at >= self.every_s:
      self._line(p.last_line)
      p.bucket, p.last_printed_epoch, p.last_printed_at = bucket, i, now

  def end_phase(self, note: str | None = None) -> None:
    """Closes the current phase (if any): its last state, its time, and ``note`` (e.g. why
    fine-tuning stopped)."""
    p, self._phase = self._phase, None
    if p is None:
      if note:
        self._line(note)
      return
    if not self.tty and p.last_printed_epoch != p.last_epoch:
      self._line(p.last_line)  # an early-stopped phase: its last epoch
    total = float(np.sum(p.seconds))
    k = len(p.seconds)
    timing = f"{k} epoch{'s' * (k != 1)} in {format_seconds(total)}"
    if k > 1:
      timing += (f" (first {format_seconds(p.seconds[0])} incl. compilation, then "
                 f"{format_seconds(float(np.mean(p.seconds[1:])))}/epoch)")
    self._line(f"{p.name} done: {timing}" + (f"; {note}" if note else ""))

  def summary(self, title: str, paths: Mapping[str, Sequence[str]]) -> None:
    """The closing lines: ``title`` (the result) and where each output is."""
    self.end_phase()
    self._line(title)
    width = max((len(k) for k in paths), default=0)
    for k, ps in paths.items():
      if ps:
        self._line(f"  {k:<{width}}  {', '.join(_pair_vectors(ps))}")


def _pair_vectors(paths: Sequence[str]) -> list[str]:
  """``['a.png', 'a.pdf']`` -> ``['a.png (+ .pdf)']``: a figure and its vector copy, once."""
  out, rest = [], set(paths)
  for p in paths:
    if p not in rest:
      continue
    rest.discard(p)
    stem, ext = p.rsplit(".", 1) if "." in p else (p, "")
    if ext == "png" and stem + ".pdf" in rest:
      rest.discard(stem + ".pdf")
      out.append(f"{p} (+ .pdf)")
    else:
      out.append(p)
  return out


# --- what the SdA driver says ----------------------------------------------------------------


def _levels_text(levels: Sequence[float]) -> str:
  return ", ".join(f"{float(l):g}" for l in levels)


def run_header(config, *, data_source: str | None, sizes: Sequence[int], n_in: int,
               n_classes: int, members=None, device: str = "",
               workdir: str | None = None) -> dict[str, str]:
  """The header fields of an SdA run (``sdae.config.TrainConfig`` ``config``; ``sizes`` =
  (train, valid, test) example counts of the splits, before ``config.n_train`` cuts the first; ``members``: ``sdae.experiment.Members`` or None)."""
  source = data_source or "arrays"
  where = f" from {config.data_dir}" if config.data_dir and source == "original" else ""
  layers = "-".join(str(h) for h in (n_in, *config.hidden))
  loss = config.loss if config.loss != "auto" else "auto loss"
  objective = objectives_lib.get(getattr(config, "pretraining", "denoising"))
  kind = objective.header_words(config)
  model = (f"{layers} ({len(config.hidden)} {kind} layer{'s' * (len(config.hidden) > 1)}) + "
           f"{n_classes}-way softmax; {'tied' if config.tied else 'untied'} weights, "
           f"{config.activation}, {loss}, {config.optimizer}")
  if members is not None:
    per_model = sorted({tuple(map(float, l)) for l in members.levels})
    if all(len(set(l)) == 1 for l in per_model):  # one level for every layer of a model
      lv = _levels_text([l[0] for l in per_model])
    else:
      lv = "; ".join(f"({_levels_text(l)})" for l in per_model)
    seeds = sorted(set(map(int, members.seeds)))
    corruption = (f"{config.corruption}, levels {lv} ({len(members)} models, "
                  f"seed{'s' * (len(seeds) > 1)} {_levels_text(seeds)})")
  else:
    lv = config.levels()
    corruption = (f"{config.corruption} {lv[0]:g}" if len(set(lv)) == 1
                  else f"{config.corruption}, per layer {_levels_text(lv)}")
  if members is not None and getattr(members, "emphasised", lambda: False)():
    pairs = sorted(set(zip(*members.emphasis())))
    corruption += "; emphasis (alpha, beta) " + ", ".join(f"({a:g}, {b:g})" for a, b in pairs)
  elif members is None and getattr(config, "emphasis", "none") != "none":
    corruption += f", emphasis {config.emphasis}"
  if not objective.uses_corruption:
    corruption = "none (corruption is the denoising objective's)"
  ft_batch = config.finetune_batch_size or config.batch_size
  plan = finetune_plan(config.finetune_epochs, config.patience, ft_batch, config.finetune_lr)
  training = (f"pretrain {config.pretrain_epochs} epochs per layer (minibatch "
              f"{config.batch_size}, lr {config.pretrain_lr:g}); {plan}")
  n_train = (f"{min(config.n_train, sizes[0])} (the first, of {sizes[0]})"
             if config.n_train and config.n_train < sizes[0] else f"{sizes[0]}")
  fields = {
      "dataset": f"{config.dataset}, {source} data{where}",
      "examples": f"train {n_train}, valid {sizes[1]}, test {sizes[2]}",
      "model": model,
      "corruption": corruption,
      "training": training,
      "device": device,
  }
  if workdir:
    fields["workdir"] = workdir
  return fields


def finetune_plan(epochs: int, patience: int, batch: int, lr: float) -> str:
  """What fine-tuning will do, for the header: patience only grows (``sdae.finetune``), so a
  patience of at least the epoch count never stops a run early."""
  if patience >= epochs:
    return (f"fine-tune all {epochs} epoch{'s' * (epochs != 1)} (minibatch {batch}, lr {lr:g}; "
            f"patience {patience} >= epochs: no early stopping, the best validation epoch kept)")
  return (f"fine-tune at most {epochs} epochs (minibatch {batch}, lr {lr:g}; early stopping: "
          f"patience {patience} epochs at first, raised by each validation improvement)")


def resume_line(phase: str, layer: int, epoch: int, *, n_layers: int, pretrain_epochs: int,
                finetune_epochs: int) -> str:
  """The line a resumed run prints, naming the phase as the progress lines do (``layer``: the
  checkpoint's 0-based layer, meaningful in pretraining only; ``epoch``: epochs done)."""
  if phase == "pretrain":
    where = f"pretrain layer {layer + 1}/{n_layers}, epoch {epoch}/{pretrain_epochs} done"
  else:
    where = f"finetune, epoch {epoch}/{finetune_epochs} done"
  return f"resumed from checkpoint: {where}"


def result_line(results: Mapping[str, Any]) -> str:
  """The closing line of one model's run, from its results dict (``sdae.experiment``)."""
  secs = results.get("seconds", {})
  took = f" in {format_seconds(secs['total'])}" if "total" in secs else ""
  return (f"done{took}: test error {results['test_error_pct']:.2f}% +- "
          f"{results['test_ci95_pct']:.2f} (valid {results['valid_error_pct']:.2f}% at epoch "
          f"{results.get('finetune_best_epoch', results.get('best_epoch'))}, {results.get('data_source', '?')} data)")


def early_stopping_note(epochs_run: int, max_epochs: int, best_epoch, best_valid_pct,
                        patience, *, initial_patience: int, patience_increase: float,
                        improvement_threshold: float) -> str:
  """Why fine-tuning ended, and which epoch's parameters are kept.

  ``best_epoch`` (1-based), ``best_valid_pct`` and ``patience`` (the epoch count at which a
  model stops: ``initial_patience``, raised to ``patience_increase`` x the epoch of each
  validation improvement by more than ``1 - improvement_threshold``, the Theano rule of
  ``sdae.finetune``) are scalars, or one value per model of a sweep.
  """
  best = np.atleast_1d(np.asarray(best_epoch)).astype(int)
  valid = np.atleast_1d(np.asarray(best_valid_pct, np.float64))
  pat = np.atleast_1d(np.asarray(patience)).astype(int)
  ints = lambda a: ", ".join(str(int(x)) for x in a)  # pylint: disable=unnecessary-lambda-assignment
  kept = (f"best validation {format_value(valid, pct=True)} at epoch{'s' * (best.size > 1)} "
          f"{ints(best)}, {'whose' if best.size == 1 else 'their'} parameters are kept")
  rule = (f"patience = {patience_increase:g}x the epoch of the last validation improvement by "
          f"more than {100 * (1 - improvement_threshold):.2g}%, at least {initial_patience}")
  if epochs_run < max_epochs:
    who = "every model's patience" if pat.size > 1 else "patience"
    return (f"early stopping after epoch {epochs_run} of {max_epochs}: {who} ran out at epoch "
            f"{ints(pat)} ({rule}); {kept}")
  all_run = f"ran all {max_epochs} epoch{'s' * (max_epochs != 1)}"
  if np.all(pat > max_epochs):
    return f"{all_run} (patience {ints(pat)} not reached: {rule}); {kept}"
  return f"{all_run}; {kept}"
