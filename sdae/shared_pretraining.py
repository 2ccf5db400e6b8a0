"""Each distinct stack pretrained once: shared by the members, and by the runs, that need it.

Models that differ only in how they are fine-tuned (the fine-tuning learning rate, its epochs,
minibatch or patience) pretrain the very same stack: the same data, objective, seed, levels and
pretraining rate. A search that probes the fine-tuning rate (``sdae.reproduce.grow``) or grids
over it would pretrain that stack once per model. Instead:

- **within a run**, the driver pretrains each distinct stack once (``distinct``) and gives each
  member a copy before fine-tuning;
- **between runs**, a run whose every member's stack was pretrained by a run it is pointed to (a
  table cell's earlier groups: ``train_and_evaluate(pretrained_from=...)``) reads those layers from
  that run's newest checkpoint (``find``, ``load``) and goes straight to fine-tuning.

Neither changes a number. On CPU a member's arithmetic is the model's alone (``sdae.sharding``),
so a copied stack is, bit for bit, the one the member would have pretrained (tested); on an
accelerator the vmapped members may round differently, as they do anyway. Only the time changes,
and results.json says where each stack came from.

A stack's identity (``keys``) is the run's recorded configuration (``config.json``: the settings,
the data source and version read) less the fine-tuning settings, with the member's own seed,
levels, pretraining rate and emphasis: every other setting, known or added later, keeps stacks
apart, so sharing errs on the side of pretraining again.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Sequence

import numpy as np

log = logging.getLogger("sdae")

#: Settings that act on fine-tuning alone.
FINETUNE_ONLY = ("finetune_lr", "finetune_epochs", "finetune_batch_size", "patience",
                 "patience_increase", "improvement_threshold")
#: Settings a members run takes per member (``sdae.run_state.Members``), read from there.
PER_MEMBER = ("seed", "level", "layer_levels", "pretrain_lr", "emphasis", "members")


def keys(record: dict[str, Any]) -> list[str]:
  """The identity of each member's pretrained stack, from its run's record
  (``sdae.experiment.config_record``, as config.json holds it): equal keys, equal stacks."""
  from sdae import emphasis as emphasis_lib  # pylint: disable=g-import-not-at-top
  from sdae.io import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  shared = {k: v for k, v in workdir_lib.run_identity(record).items()
            if k not in FINETUNE_ONLY + PER_MEMBER}
  shared["data"] = [record.get("data_source_used"), record.get("data_version_used")]
  m = record.get("members")
  if m is None:  # a single model: its own settings
    n_layers = len(record.get("hidden", ()))
    levels = record.get("layer_levels") or [record.get("level")] * n_layers
    alpha, beta = emphasis_lib.weights(record.get("emphasis") or "none")
    m = {"seeds": [record.get("seed")], "levels": [list(levels)],
         "pretrain_lr": [record.get("pretrain_lr")], "alpha": [alpha], "beta": [beta]}
  n = len(m["seeds"])
  ones = [1.0] * n
  return [json.dumps({**shared, "seed": int(m["seeds"][i]),
                      "levels": [float(v) for v in m["levels"][i]],
                      "pretrain_lr": float(m["pretrain_lr"][i]),
                      "alpha": float((m.get("alpha") or ones)[i]),
                      "beta": float((m.get("beta") or ones)[i])}, sort_keys=True)
          for i in range(n)]


def distinct(member_keys: Sequence[str]) -> tuple[list[int], list[int]]:
  """(the members that pretrain: the first of each distinct key, in order; for every member,
  the position in that list of the one whose stack it takes)."""
  trained, position = [], {}
  for i, k in enumerate(member_keys):
    if k not in position:
      position[k] = len(trained)
      trained.append(i)
  return trained, [position[k] for k in member_keys]


def find(record: dict[str, Any], sources: Sequence[str]) -> list[dict[str, Any]] | None:
  """Where each member's stack was already pretrained: ``[{"workdir", "member"}]`` per member,
  the member's index in that run (None: a single model's), or None unless every member's is
  found among ``sources`` (other runs' workdirs; their config.json says what they trained)."""
  from sdae.io import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  wanted, where = keys(record), {}
  for src in sources:
    other = workdir_lib.recorded_config(src)  # None when absent or damaged: no source
    if other is None or "hidden" not in other:
      continue
    single = other.get("members") is None
    for j, k in enumerate(keys(other)):
      where.setdefault(k, {"workdir": os.path.abspath(src), "member": None if single else j})
  if not all(k in where for k in wanted):
    return None
  return [where[k] for k in wanted]


def load(found: Sequence[dict[str, Any]], n_layers: int) -> list[list[dict]] | None:
  """The pretrained layers of ``find``'s sources: ``[layer k][member i]`` nested dicts of numpy
  arrays (no member axis), read from each source's newest checkpoint (read only). None when a
  source's checkpoint is gone or unreadable, was written before its run fine-tuned (the layers
  of a run stopped while pretraining, some members' alone), or holds a stack that is not
  finite (a diverged member's): the run then pretrains."""
  from sdae import checkpoint as ckpt_lib  # pylint: disable=g-import-not-at-top
  states = {}
  for f in found:
    src = f["workdir"]
    if src not in states:
      read = ckpt_lib.read_latest(os.path.join(src, "checkpoints"))
      if (read is None or read[1].get("phase") != "finetune"
          or int(read[1].get("n_done_layers", 0)) != n_layers):
        log.info("%s holds no checkpoint of a run past its pretraining; pretraining instead", src)
        return None
      states[src] = read[0]
  take = lambda j: (lambda a: np.asarray(a) if j is None else np.asarray(a)[j])
  import jax  # pylint: disable=g-import-not-at-top
  layers = [[jax.tree.map(take(f["member"]), states[f["workdir"]][f"layer{k}"]) for f in found]
            for k in range(n_layers)]
  if not all(np.isfinite(a).all() for a in jax.tree.leaves(layers)):
    log.info("a stack read from %s is not finite; pretraining instead", found[0]["workdir"])
    return None
  return layers
