"""sdae.cost: the FLOP formulas against XLA's own count, and a grid's work summed by hand."""

import jax
import jax.numpy as jnp
import pytest

from sdae import config as C
from sdae import cost
from sdae import sweep
from sdae import tied
from sdae.reproduce import table
from sdae.reproduce import svm


def test_flop_counts():
  # Tied dA: 5 products of 2 B n_in h.
  assert cost.da_flops(20, 784, 1000) == 5 * 2 * 20 * 784 * 1000
  # SdA-3: 3 x (forward) minus the first layer's input gradient.
  sizes = [(784, 1000), (1000, 1000), (1000, 1000), (1000, 10)]
  s = 784 * 1000 + 2 * 1000 * 1000 + 1000 * 10
  assert cost.finetune_flops(1, sizes) == 2 * (3 * s - 784 * 1000)
  assert cost.forward_flops(3, sizes) == 2 * 3 * s
  assert cost.layer_sizes(784, (1000, 1000, 1000), 10) == sizes


def _xla_flops(fn, *args) -> float:
  analysis = jax.jit(fn).lower(*args).compile().cost_analysis()
  analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
  return float(analysis["flops"])


def test_da_formula_counts_the_products_xla_runs():
  """The library's tied dA gradient (``sdae.tied``) on a minibatch: XLA's count of its
  products is the formula's, up to the elementwise work (sigmoids, sums: a few percent)."""
  b, n_in, h = 32, 256, 512
  k = jax.random.normal(jax.random.key(0), (n_in, h)) * 0.01
  bias, bias_v = jnp.zeros(h), jnp.zeros(n_in)
  x = jax.random.uniform(jax.random.key(1), (b, n_in))

  def grads(k, bias, bias_v, x):
    loss = lambda k, bi, bv: jnp.sum(tied.tied_logits(k, bi, bv, x, "sigmoid") ** 2)
    return jax.grad(loss, argnums=(0, 1, 2))(k, bias, bias_v)

  counted = _xla_flops(grads, k, bias, bias_v, x)
  assert counted == pytest.approx(cost.da_flops(b, n_in, h), rel=0.05)


def test_grid_work_is_every_member_every_epoch_each_stack_pretrained_once():
  cfg = C.TrainConfig(dataset="rectangles", hidden=(20, 10), pretrain_epochs=3,
                      finetune_epochs=4, batch_size=10)
  # Three models, two stacks: the last two differ in the fine-tuning rate alone.
  points = sweep.grid([0.1], seeds=1) + [sweep.Point(0.3, 0, None, f) for f in (0.1, 0.2)]
  group = table.network_group(cfg, (20, 10), points)
  none = table.network_group(cfg.replace(pretraining="none"), (20, 10), points[:1])
  grids = [table.DatasetGrid("rectangles", (group,)),
           table.DatasetGrid("rectangles", (none,), method="mlp3"),
           table.DatasetGrid("rectangles", (), method="svm_rbf", svm=svm.SVMGrid((1.0,), (1.0,)),
                             config=cfg)]
  n, nv = 1000, 200  # rectangles' published train and valid rows
  pre = 3 * (cost.da_flops(n, 784, 20) + cost.da_flops(n, 20, 10))
  sizes = [(784, 20), (20, 10), (10, 2)]
  fine = 4 * (cost.finetune_flops(n, sizes) + cost.forward_flops(nv, sizes))
  assert cost.grid_flops(grids) == pytest.approx(2 * pre + 3 * fine + fine, rel=1e-12)
  # A later, deeper group whose members' first two layers are those stacks pretrains only its
  # third layer, once per distinct stack; one whose member has no earlier first layer pretrains
  # every layer of its stacks.
  deeper = table.network_group(cfg.replace(hidden=(20, 10, 10)), (20, 10, 10), points)
  sizes3 = [(784, 20), (20, 10), (10, 10), (10, 2)]
  fine3 = 4 * (cost.finetune_flops(n, sizes3) + cost.forward_flops(nv, sizes3))
  third = 3 * cost.da_flops(n, 10, 10)
  assert cost.grid_flops(grids + [table.DatasetGrid("rectangles", (deeper,), method="sda4")]) \
      == pytest.approx(2 * pre + 4 * fine + 2 * third + 3 * fine3, rel=1e-12)
  other = table.network_group(cfg.replace(hidden=(20, 10, 10)), (20, 10, 10),
                              points + [sweep.Point(0.2, 0, None, 0.1)])
  assert cost.grid_flops(grids + [table.DatasetGrid("rectangles", (other,), method="sda4")]) \
      == pytest.approx(2 * pre + 4 * fine + 3 * (pre + third) + 4 * fine3, rel=1e-12)
  assert cost.describe(2.5e15) == "2.5 PFLOP" and cost.describe(3.2e10) == "32 GFLOP"
