"""Bernoulli-Bernoulli restricted Boltzmann machine, trained by contrastive divergence (CD-k).

The layer objective of a deep belief network (Hinton, Osindero and Teh 2006; the DBN-1 and
DBN-3 columns of Vincent et al. 2010, Table 3, trained as in Larochelle et al. 2007): an RBM
with visible units v in [0, 1]^n_in and binary hidden units h, energy
``E(v, h) = -v W h - b h - c v``, so ``p(h = 1 | v) = s(v W + b)`` and
``p(v = 1 | h) = s(h W^T + c)`` with s the logistic sigmoid.

Parameters use the dA layer's names and shapes (``kernel [n_in, n_hidden]``, ``bias [n_hidden]``,
``bias_visible [n_in]``), so a pretrained RBM drops into the classifier exactly like a dA
(``sdae.model.stack_params``), and the next layer is trained on its mean-field codes
``s(v W + b)`` (``encode``), as the DBN's greedy procedure prescribes.

CD-k, per minibatch of B examples v0 [B, n_in]:

- positive phase: ``h0 = s(v0 W + b)``;
- k Gibbs steps from a sample of the hidden units: ``h ~ Bernoulli(h_prob)``,
  ``v_k = s(h W^T + c)`` (visible *probabilities*, Hinton 2010, "A practical guide", 3.2),
  ``h_k = s(v_k W + b)``;
- ``dW = (v0^T h0 - v_k^T h_k) / B``, ``db = mean(h0 - h_k)``, ``dc = mean(v0 - v_k)``.

``cd_gradients`` returns the *negative* of that update, a descent direction, so any optax
optimizer applies it (``params - lr * grads`` is the CD ascent step). The reported loss is the
reconstruction cross-entropy of v0 from the first Gibbs step's visible probabilities, summed over
features and averaged over the batch: the usual (biased) monitor of CD training, not the
likelihood.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import optax

from sdae import model as model_lib

Array = jax.Array


def init_params(key: Array, n_in: int, n_hidden: int, std: float = 0.01) -> dict[str, Array]:
  """Weights ``N(0, std^2)``, zero biases (Hinton 2010, section 8)."""
  return {"kernel": std * jax.random.normal(key, (n_in, n_hidden), jnp.float32),
          "bias": jnp.zeros((n_hidden,), jnp.float32),
          "bias_visible": jnp.zeros((n_in,), jnp.float32)}


def hidden_logits(params, v: Array, compute_dtype: Any = None) -> Array:
  """``v W + b`` for visible rows ``v`` [B, n_in]: [B, n_hidden]."""
  return model_lib.matmul(v, params["kernel"], compute_dtype) + params["bias"]


def visible_logits(params, h: Array, compute_dtype: Any = None) -> Array:
  """``h W^T + c`` for hidden rows ``h`` [B, n_hidden]: [B, n_in]."""
  return model_lib.matmul(h, params["kernel"].T, compute_dtype) + params["bias_visible"]


def cd_gradients(params, v0: Array, uniforms: Array, compute_dtype: Any = None):
  """CD-k descent direction and monitoring loss for a minibatch ``v0`` [B, n_in].

  ``uniforms`` [k, B, n_hidden] in [0, 1): the hidden units of Gibbs step i are sampled as
  ``uniforms[i] < p(h = 1 | v)``; k = ``uniforms.shape[0]`` (>= 1). Taking the draws as an
  argument makes the update a deterministic function that a test can recompute by hand.

  Returns ``(grads, loss)``: grads with the structure of ``params`` (minus the CD update), loss
  a float32 scalar (module docstring).
  """
  batch = v0.shape[0]
  h0 = jax.nn.sigmoid(hidden_logits(params, v0, compute_dtype))
  h_prob, v_k, first_logits = h0, v0, None
  for i in range(uniforms.shape[0]):
    h_sample = (uniforms[i] < h_prob).astype(v0.dtype)
    logits = visible_logits(params, h_sample, compute_dtype)
    if first_logits is None:
      first_logits = logits
    v_k = jax.nn.sigmoid(logits)
    h_prob = jax.nn.sigmoid(hidden_logits(params, v_k, compute_dtype))
  positive = model_lib.matmul(v0.T, h0, compute_dtype)
  negative = model_lib.matmul(v_k.T, h_prob, compute_dtype)
  inv_b = jnp.float32(1.0 / batch)
  grads = {"kernel": -(positive - negative) * inv_b,
           "bias": -jnp.mean(h0 - h_prob, axis=0),
           "bias_visible": -jnp.mean(v0 - v_k, axis=0)}
  loss = model_lib.sigmoid_cross_entropy(first_logits, v0).sum(axis=-1).mean()
  return grads, loss


@dataclasses.dataclass(frozen=True)
class RBMSpec:
  """One RBM layer as a layer objective of the greedy driver (``sdae.pretrain``).

  ``cd_steps`` is k of CD-k. It takes no corruption level and no emphasis
  (``sdae.objectives.OBJECTIVES["rbm"]``): an RBM's training noise is its own Gibbs sampling,
  and it has no denoising loss.
  """

  n_in: int
  n_hidden: int
  cd_steps: int = 1
  compute_dtype: Any = None
  name: ClassVar[str] = "rbm"

  def init(self, key: Array):
    """Fresh parameters (``init_params``) from a PRNG key."""
    return init_params(key, self.n_in, self.n_hidden)

  def step(self, params, opt_state, tx: optax.GradientTransformation, key: Array, x: Array):
    """One CD-k update on the minibatch ``x`` [B, n_in]; returns (params, opt_state, loss)."""
    uniforms = jax.random.uniform(key, (self.cd_steps, x.shape[0], self.n_hidden), jnp.float32)
    grads, loss = cd_gradients(params, x, uniforms, self.compute_dtype)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  def encode(self, params, x: Array) -> Array:
    """Mean-field codes ``p(h = 1 | x)`` [B, n_hidden]: the next layer's input."""
    return jax.nn.sigmoid(hidden_logits(params, x, self.compute_dtype))

  def reconstruct(self, params, key: Array, x: Array) -> tuple[Array, Array]:
    """(input shown, reconstruction) for the pictures: the mean-field up-down pass
    ``s(s(x W + b) W^T + c)`` of the clean ``x`` (an RBM is not trained on corrupted inputs)."""
    del key
    return x, jax.nn.sigmoid(visible_logits(params, self.encode(params, x), self.compute_dtype))

  def describe(self) -> str:
    """``"RBM, CD-k"``, for the pictures' titles."""
    return f"RBM, CD-{self.cd_steps}"


def rbm_layers(n_in: int, hidden: tuple[int, ...], config: Any,
               compute_dtype: Any = None) -> list[RBMSpec]:
  """A Bernoulli RBM per layer, trained by CD-``config.cd_steps`` (a deep belief network): the
  ``layers`` of ``sdae.objectives.OBJECTIVES["rbm"]``."""
  widths = (n_in,) + tuple(hidden[:-1])
  return [RBMSpec(w, h, config.cd_steps, compute_dtype) for w, h in zip(widths, hidden)]
