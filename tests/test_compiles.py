"""The epochs compile once per layer (and once for fine-tuning): the state a fresh layer or
fine-tuning starts from is laid out on the mesh as the epochs lay out their outputs."""

import jax
import jax.monitoring

from sdae import config as C
from sdae import experiment as E
from sdae import sharding
from sdae import sweep as S
from helpers import toy_splits

# Lowered to XLA (a new program, or a known one for new input layouts); fires whether or not the
# persistent compilation cache then serves the executable.
_LOWERED = "/jax/core/compile/jaxpr_to_mlir_module_duration"


def test_members_on_a_mesh_compile_each_epoch_once(monkeypatch):
  lowered = {"n": 0}

  def listen(event, duration, **kwargs):
    del duration, kwargs
    lowered["n"] += event == _LOWERED

  jax.monitoring.register_event_duration_secs_listener(listen)
  at_epoch_end = []
  write = E.MetricsLog.write

  def record(self, **row):
    at_epoch_end.append((row["phase"], row.get("layer"), row["epoch"], lowered["n"]))
    write(self, **row)

  monkeypatch.setattr(E.MetricsLog, "write", record)
  cfg = C.TrainConfig(dataset="rect", hidden=(16, 8), pretrain_epochs=3, finetune_epochs=3,
                      patience=3, batch_size=10)
  points = S.grid([0.0, 0.3], 1)
  E.train_and_evaluate(cfg, None, splits=toy_splits(), data_source="arrays",
                       members=S.members_of(cfg, points), mesh=sharding.member_mesh(2))
  by_phase = {}
  for phase, layer, epoch, n in at_epoch_end:
    by_phase.setdefault((phase, layer), []).append(n)
  assert len(by_phase) == 3
  for key, counts in by_phase.items():  # nothing lowered after each phase's first epoch
    assert counts == [counts[0]] * 3, (key, counts)
