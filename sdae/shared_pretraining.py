"""Each distinct stack pretrained once: shared by the members, and by the runs, that need it.

Models that differ only in how they are fine-tuned (the fine-tuning learning rate, its epochs,
minibatch or patience) pretrain the very same stack: the same data, objective, seed, levels and
pretraining rate. A search that probes the fine-tuning rate (``sdae.reproduce.grow``) or grids
over it would pretrain that stack once per model. Instead:

- **within a run**, the driver pretrains each distinct stack once (``distinct``) and gives each
  member a copy before fine-tuning;
- **between runs**, a run whose members' stacks were pretrained by a run it is pointed to (a
  table row's earlier groups: ``train_and_evaluate(pretrained_from=...)``) reads those layers from
  that run's newest checkpoint (``find``, ``load``) and goes straight to fine-tuning. A greedy
  stack's first layers are the shallower stack of the same settings, so a run also reads the
  first layers it shares with a deeper or shallower run (a DBN-3's first RBM is a DBN-1's; a
  3-layer SdA's first two layers are the 2-layer SdA's) and pretrains only the layers above.

Neither changes a number. On CPU a member's arithmetic is the model's alone (``sdae.sharding``),
so a copied stack is, bit for bit, the one the member would have pretrained (tested); on an
accelerator the vmapped members may round differently, as they do anyway. Only the time changes,
and results.json says where each stack came from.

The identity of a stack's first k layers (``layer_keys``) is the run's recorded configuration
(``config.json``: the settings, the data source and version read) less the fine-tuning settings,
with the first k layer sizes and the member's own seed, first k levels, pretraining rate and
emphasis: every other setting, known or added later, keeps stacks apart, so sharing errs on the
side of pretraining again.
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


def layer_keys(record: dict[str, Any]) -> list[list[str]]:
  """For each member of the run ``record`` describes (``sdae.experiment.config_record``, as
  config.json holds it), the identity of its stack's first k layers, k = 1 .. its depth: equal
  keys, equal layers. Layer k of a greedy stack depends on the layers below it and on nothing
  above (its initialisation and noise are derived from the seed and the layer's index,
  ``sdae.pretrain.derive_key``), so a deeper stack holds every shallower one of its settings."""
  from sdae import emphasis as emphasis_lib  # pylint: disable=g-import-not-at-top
  from sdae.io import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  shared = {k: v for k, v in workdir_lib.run_identity(record).items()
            if k not in FINETUNE_ONLY + PER_MEMBER + ("hidden",)}
  shared["data"] = [record.get("data_source_used"), record.get("data_version_used")]
  hidden = [int(h) for h in record.get("hidden", ())]
  m = record.get("members")
  if m is None:  # a single model: its own settings
    levels = record.get("layer_levels") or [record.get("level")] * len(hidden)
    alpha, beta = emphasis_lib.weights(record.get("emphasis") or "none")
    m = {"seeds": [record.get("seed")], "levels": [list(levels)],
         "pretrain_lr": [record.get("pretrain_lr")], "alpha": [alpha], "beta": [beta]}
  n = len(m["seeds"])
  ones = [1.0] * n
  alphas, betas = m.get("alpha") or ones, m.get("beta") or ones
  # A run with an emphasised member trains every member with the weighted loss, which at
  # alpha = beta = 1 rounds squared error differently from the unweighted one (sdae.model).
  shared["weighted"] = any((a, b) != (1.0, 1.0) for a, b in zip(alphas, betas))
  out = []
  for i in range(n):
    member = {"seed": int(m["seeds"][i]), "pretrain_lr": float(m["pretrain_lr"][i]),
              "alpha": float(alphas[i]), "beta": float(betas[i])}
    levels = [float(v) for v in m["levels"][i]]
    out.append([json.dumps({**shared, **member, "hidden": hidden[:k], "levels": levels[:k]},
                           sort_keys=True) for k in range(1, len(hidden) + 1)])
  return out


def keys(record: dict[str, Any]) -> list[str]:
  """The identity of each member's whole pretrained stack (``layer_keys``' deepest)."""
  return [ks[-1] if ks else "" for ks in layer_keys(record)]


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
  """Where the deepest part of every member's stack that ``sources`` (other runs' workdirs;
  their config.json says what they trained) hold was already pretrained: per member
  ``{"workdir", "member", "layers"}``, the member's index in that run (None: a single model's)
  and the number of layers, from the first up, that it holds: the same for every member (the
  run pretrains the rest of its stacks together). None when some member's first layer is in
  none of them. A source may be deeper than the run, or shallower."""
  from sdae.io import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  wanted, where = layer_keys(record), {}
  for src in sources:
    other = workdir_lib.recorded_config(src)  # None when absent or damaged: no source
    if other is None or "hidden" not in other:
      continue
    single = other.get("members") is None
    for j, prefixes in enumerate(layer_keys(other)):
      for k in prefixes:
        where.setdefault(k, {"workdir": os.path.abspath(src), "member": None if single else j})
  held = [sum(k in where for k in prefixes) for prefixes in wanted]  # nested: a prefix's count
  n = min(held, default=0)
  if n == 0:
    return None
  return [{**where[prefixes[n - 1]], "layers": n} for prefixes in wanted]


def load(found: Sequence[dict[str, Any]]) -> list[list[dict]] | None:
  """The pretrained layers of ``find``'s sources (their first ``layers``): ``[layer k][member
  i]`` nested dicts of numpy arrays (no member axis), read from each source's newest checkpoint
  (read only). None when a source's checkpoint is gone or unreadable, was written before its run
  fine-tuned (the layers of a run stopped while pretraining, some members' alone), or holds
  layers that are not finite (a diverged member's): the run then pretrains."""
  from sdae import checkpoint as ckpt_lib  # pylint: disable=g-import-not-at-top
  states, n_layers = {}, found[0]["layers"] if found else 0
  for f in found:
    src = f["workdir"]
    if src not in states:
      read = ckpt_lib.read_latest(os.path.join(src, "checkpoints"))
      if (read is None or read[1].get("phase") != "finetune"
          or int(read[1].get("n_done_layers", 0)) < n_layers):
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
