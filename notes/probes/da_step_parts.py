"""Where a dA step's time goes on this CPU: the probe behind notes/perf.md, "The tied weight
gradient as one product" and "The reconstruction loss".

    python notes/probes/da_step_parts.py [--batches=2,5,10,20,32,50,64,100,128]

Prints, in ms (best of 7 rounds, on a quiet machine):
1. the tied weight gradient plus its SGD update, as autodiff writes it (``x^T dpre + g^T h``,
   two products) and stacked (``[x; g]^T [dpre; h]``, one product over 2B rows), per minibatch;
2. the minibatch-128 dA step (784 -> 1000) built up part by part inside a ``lax.scan`` epoch:
   products and update only, + minibatch gather, + masking noise, + sigmoid, + the
   cross-entropy (optax's or ours), + biases;
3. value and gradient of the [128, 784] reconstruction loss: optax's against ours.
Not a test and not part of the package: a record of how the numbers were obtained.
"""

import sys
import time

import jax
import jax.numpy as jnp
import optax

from sdae import corruption
from sdae import model

N_IN, HIDDEN = 784, 1000
ROWS = (((0,), (0,)), ((), ()))  # a^T b
LAST = (((1,), (1,)), ((), ()))  # a b^T


def best_ms(f, *args, reps=200, donate=False):
  """Best of 7 rounds of ``reps`` calls; with ``donate``, the first argument is the carry."""
  f = jax.jit(f, donate_argnums=0 if donate else ())
  if donate:  # the caller's carry stays valid for its next probe
    args = (jax.tree.map(jnp.copy, args[0]),) + args[1:]
  out = f(*args)
  jax.block_until_ready(out)
  best = float("inf")
  for _ in range(7):
    t = time.perf_counter()
    for _ in range(reps):
      out = f(out, *args[1:]) if donate else f(*args)
    jax.block_until_ready(out)
    best = min(best, (time.perf_counter() - t) / reps)
  return best * 1e3


def weight_gradient(batches):
  print("1. tied weight gradient + SGD update, ms (two products | stacked | ratio)")
  for b in batches:
    k = jax.random.split(jax.random.key(b), 5)
    w = jax.random.uniform(k[0], (N_IN, HIDDEN))
    x, g = jax.random.uniform(k[1], (b, N_IN)), jax.random.normal(k[2], (b, N_IN))
    dpre, h = jax.random.normal(k[3], (b, HIDDEN)), jax.random.uniform(k[4], (b, HIDDEN))
    two = lambda w, x, g, dpre, h: w - 0.01 * (
        jax.lax.dot_general(x, dpre, ROWS) + jax.lax.dot_general(g, h, ROWS))
    stacked = lambda w, x, g, dpre, h: w - 0.01 * jax.lax.dot_general(
        jnp.concatenate([x, g], 0), jnp.concatenate([dpre, h], 0), ROWS)
    t2 = best_ms(two, w, x, g, dpre, h, donate=True)
    t1 = best_ms(stacked, w, x, g, dpre, h, donate=True)
    print(f"   B={b:4d}: {t2:.3f} | {t1:.3f} | {t1 / t2:.2f}")


def step_parts(batch=128, steps=50):
  print(f"2. dA step at minibatch {batch}, built up part by part, ms per step")
  data = jax.random.uniform(jax.random.key(0), (steps * batch, N_IN))

  def make(gather, mask, sigmoid, loss, biases):
    def step(carry, i):
      w, b, c = carry
      if gather:
        x = jnp.take(data, (jnp.arange(batch) * 7 + i * batch) % data.shape[0], axis=0)
      else:
        x = data[:batch]
      xt = corruption.masking(jax.random.fold_in(jax.random.key(1), i), x, 0.25) if mask else x
      pre = xt @ w + (b if biases else 0.0)
      h = jax.nn.sigmoid(pre) if sigmoid else pre
      z = jax.lax.dot_general(h, w, LAST) + (c if biases else 0.0)
      if loss:
        fn = (model.sigmoid_cross_entropy if loss == "ours"
              else optax.sigmoid_binary_cross_entropy)
        value, vjp = jax.vjp(lambda z: fn(z, x).sum(-1).mean(), z)
        g, = vjp(jnp.ones((), z.dtype))
      else:
        value, g = z[0, 0], z
      dh = g @ w
      dpre = dh * h * (1 - h) if sigmoid else dh
      w = w - 0.01 * (jax.lax.dot_general(xt, dpre, ROWS) + jax.lax.dot_general(g, h, ROWS))
      if biases:
        b, c = b - 0.01 * dpre.sum(0), c - 0.01 * g.sum(0)
      return (w, b, c), value

    def epoch(carry):
      return jax.lax.scan(step, carry, jnp.arange(steps))[0]
    return epoch

  carry = (jnp.full((N_IN, HIDDEN), 1e-4), jnp.zeros(HIDDEN), jnp.zeros(N_IN))
  for name, parts in [("products + update", (0, 0, 0, None, 0)),
                      ("+ gather", (1, 0, 0, None, 0)),
                      ("+ masking", (1, 1, 0, None, 0)),
                      ("+ sigmoid", (1, 1, 1, None, 0)),
                      ("+ optax cross-entropy", (1, 1, 1, "optax", 0)),
                      ("+ biases (optax loss)", (1, 1, 1, "optax", 1)),
                      ("+ biases (our loss)", (1, 1, 1, "ours", 1))]:
    ms = best_ms(make(*parts), carry, reps=5, donate=True) / steps
    print(f"   {name:24s} {ms:.3f}  ({batch / ms * 1e3:.0f} examples/s)")


def loss_only(batch=128):
  print(f"3. value and gradient of the [{batch}, {N_IN}] cross-entropy, ms")
  z = jax.random.normal(jax.random.key(0), (batch, N_IN)) * 3
  x = jax.random.uniform(jax.random.key(1), (batch, N_IN))
  for name, fn in (("optax", optax.sigmoid_binary_cross_entropy),
                   ("ours", model.sigmoid_cross_entropy)):
    vg = lambda z, x, fn=fn: jax.value_and_grad(lambda z: fn(z, x).sum(-1).mean())(z)
    print(f"   {name:6s} {best_ms(vg, z, x, reps=300):.3f}")


if __name__ == "__main__":
  arg = next((a for a in sys.argv[1:] if a.startswith("--batches=")), None)
  batches = [int(v) for v in arg.split("=")[1].split(",")] if arg else [
      1, 2, 5, 10, 20, 32, 50, 64, 100, 128]
  weight_gradient(batches)
  step_parts()
  loss_only()
