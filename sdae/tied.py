"""The tied-weight dA forward pass with a hand-written backward pass (``jax.custom_vjp``).

A tied dA computes ``logits = s(x W + b) W^T + c`` with one kernel ``W [n_in, n_hidden]`` used
twice, so its gradient is the sum of two products over the minibatch:

    dW = x^T dpre + g^T h        (g = dL/dlogits [B, n_in], h the code, dpre = dL/d(x W + b))

which is the single product ``[x; g]^T [dpre; h]`` with a contraction over ``2B`` rows. Autodiff
writes the two products and their sum. On CPU a product whose contraction is a small minibatch
runs at half the speed of one over 64 rows or more (XLA's Eigen kernels pack the contraction
dimension; notes/perf.md, "The tied weight gradient as one product"), so for minibatches of 2 to
``CONCAT_MAX_BATCH`` rows the backward pass here stacks the operands and does one product of
twice the depth: the 8-model sweep's minibatch-20 step (each core trains one member at a time)
runs ~15% faster; a single model's, whose two products XLA already ran one per core, 1-4%.
Above that, stacking costs two copies that the (already efficient) products do not repay, and at
one row XLA turns each product into a fused outer product, so both keep autodiff's two products.

The gradient is the same sum, in a different order: results equal autodiff's to float32
rounding, not bit for bit (tests/test_tied.py checks both against each other).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from sdae import model as model_lib

Array = jax.Array

# Largest minibatch whose weight gradient is done as one stacked product (see the module
# docstring; measured on the 2-core CPU: 0.57-0.63x the time at 2-10 rows, 0.85x at 20, 0.92x at
# 32, 1.15x at 50).
CONCAT_MAX_BATCH = 32

_CONTRACT_INNER = (((1,), (0,)), ((), ()))  # a b for a [B, p], b [p, q]
_CONTRACT_ROWS = (((0,), (0,)), ((), ()))  # a^T b for a [B, p], b [B, q]
_CONTRACT_LAST = (((1,), (1,)), ((), ()))  # a b^T for a [B, q], b [p, q]


def _dot(a: Array, b: Array, dims, compute_dtype: Any) -> Array:
  """``dot_general`` in ``compute_dtype`` (None: the operands' own) accumulated in float32."""
  if compute_dtype is None:
    return jax.lax.dot_general(a, b, dims)
  return jax.lax.dot_general(a.astype(compute_dtype), b.astype(compute_dtype), dims,
                             preferred_element_type=jnp.float32)


def _forward(kernel, bias, bias_visible, x, activation, compute_dtype):
  pre = _dot(x, kernel, _CONTRACT_INNER, compute_dtype) + bias
  h = model_lib.ACTIVATIONS[activation](pre)
  # ``h W^T`` as one dot_general contracting the last axes of both: XLA:CPU made ``W.T`` a
  # physical transposed copy in every step, 5x the minibatch-1 step's time (notes/perf.md).
  return _dot(h, kernel, _CONTRACT_LAST, compute_dtype) + bias_visible, pre, h


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5))
def tied_logits(kernel: Array, bias: Array, bias_visible: Array, x: Array, activation: str,
                compute_dtype: Any = None) -> Array:
  """Decoder logits ``[B, n_in]`` of a tied dA on inputs ``x [B, n_in]``.

  ``kernel [n_in, n_hidden]``, ``bias [n_hidden]``, ``bias_visible [n_in]``; ``activation`` names
  the encoder units (``model.ACTIVATIONS``); ``compute_dtype`` (e.g. ``jnp.bfloat16``) casts the
  products' operands, accumulating in float32.
  """
  return _forward(kernel, bias, bias_visible, x, activation, compute_dtype)[0]


def _tied_logits_fwd(kernel, bias, bias_visible, x, activation, compute_dtype):
  logits, pre, h = _forward(kernel, bias, bias_visible, x, activation, compute_dtype)
  return logits, (kernel, x, pre, h)


def _tied_logits_bwd(activation, compute_dtype, residuals, g):
  kernel, x, pre, h = residuals
  batch = x.shape[0]
  d_bias_visible = g.sum(0)
  dh = _dot(g, kernel, _CONTRACT_INNER, compute_dtype)  # [B, n_hidden]
  _, act_vjp = jax.vjp(model_lib.ACTIVATIONS[activation], pre)
  dpre, = act_vjp(dh)
  d_bias = dpre.sum(0)
  if 1 < batch <= CONCAT_MAX_BATCH:
    d_kernel = _dot(jnp.concatenate([x, g], 0), jnp.concatenate([dpre, h], 0), _CONTRACT_ROWS,
                    compute_dtype)
  else:
    d_kernel = (_dot(x, dpre, _CONTRACT_ROWS, compute_dtype)
                + _dot(g, h, _CONTRACT_ROWS, compute_dtype))
  # The input's gradient (unused in training, where x is data; removed by XLA there).
  dx = _dot(dpre, kernel, _CONTRACT_LAST, compute_dtype)
  dtype = kernel.dtype  # the parameters share one dtype (float32, or float64 in tests)
  return (d_kernel.astype(dtype), d_bias.astype(dtype), d_bias_visible.astype(dtype),
          dx.astype(x.dtype))


tied_logits.defvjp(_tied_logits_fwd, _tied_logits_bwd)
