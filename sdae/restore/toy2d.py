"""The 2-D denoising example (Fleuret, course 7.3): an MLP R^2 -> R^2 trained to map points
plus Gaussian noise back to the clean points; drawn as the arrow field x -> phi(x).

Data lie on a curve (a spiral of 1.5 turns, or a circle); the corruption is isotropic Gaussian
noise (sigma 0.1) and the target the clean point, so phi(x) estimates E[clean | x]: arrows point
back towards the curve. Training reuses ``sdae.restore.train.fit`` (pure jitted epochs, ``lax.scan``
over minibatches, keys ``fold_in(fold_in(key, epoch), step)``).
"""

from __future__ import annotations

import dataclasses
import math
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from sdae import corruption as corruption_lib
from sdae.io import files as fileio
from sdae.restore.train import fit

SHAPES = ("spiral", "circle")


class Toy2dMLP(nn.Module):
  """R^2 -> R^2: one hidden layer of ReLU units, linear output."""

  hidden: int = 100

  @nn.compact
  def __call__(self, x, *, logits: bool = False):
    del logits  # linear output: the pre-activation is the output
    return nn.Dense(2)(nn.relu(nn.Dense(self.hidden)(x)))


def curve(shape: str, t: np.ndarray) -> np.ndarray:
  """Points of the data curve at parameters ``t`` in [0, 1]: [n, 2]."""
  t = np.asarray(t, np.float64)
  if shape == "circle":
    a = 2 * np.pi * t
    return np.stack([0.8 * np.cos(a), 0.8 * np.sin(a)], -1)
  if shape == "spiral":
    a = 3 * np.pi * t + 0.5
    r = 0.2 + 0.8 * t
    return np.stack([r * np.cos(a), r * np.sin(a)], -1)
  raise ValueError(f"unknown shape {shape!r}; accepted: {', '.join(SHAPES)}")


def sample(shape: str, n: int, seed: int) -> np.ndarray:
  """``n`` clean points drawn uniformly in the curve parameter: float32 [n, 2]."""
  return curve(shape, np.random.default_rng(seed).uniform(size=n)).astype(np.float32)


def distance_to_curve(shape: str, x: np.ndarray, resolution: int = 4000) -> np.ndarray:
  """Distance of each point of ``x`` [n, 2] to the curve (densely sampled polyline)."""
  c = curve(shape, np.linspace(0.0, 1.0, resolution))
  d = np.sqrt(((np.asarray(x, np.float64)[:, None, :] - c[None]) ** 2).sum(-1))
  return d.min(1)


@dataclasses.dataclass(frozen=True)
class Toy2dConfig:
  shape: str = "spiral"
  n_points: int = 2000
  sigma: float = 0.1
  hidden: int = 100
  epochs: int = 300
  batch_size: int = 100
  lr: float = 1e-2
  seed: int = 0


def validate(c: Toy2dConfig) -> Toy2dConfig:
  if c.shape not in SHAPES:
    raise ValueError(f"--shape={c.shape!r} is not accepted; accepted: {', '.join(SHAPES)}")
  for name in ("n_points", "hidden", "epochs", "batch_size"):
    if getattr(c, name) <= 0:
      raise ValueError(f"--{name}={getattr(c, name)} is not accepted; accepted: a positive integer")
  if not (math.isfinite(c.sigma) and c.sigma > 0):
    raise ValueError(f"--sigma={c.sigma} is not accepted; accepted: a positive number")
  if not (math.isfinite(c.lr) and c.lr > 0):
    raise ValueError(f"--lr={c.lr} is not accepted; accepted: a positive number")
  return c


def train(c: Toy2dConfig):
  """Trains phi; returns (model, params, clean training points, per-epoch losses)."""
  c = validate(c)
  x = sample(c.shape, c.n_points, c.seed)
  model = Toy2dMLP(c.hidden)
  pair = lambda key, x, level: (corruption_lib.gaussian(key, x, level), x)
  result = fit(model, x, pair, lambda z, t: jnp.mean(jnp.sum(jnp.square(z - t), -1)),
               key=jax.random.key(c.seed), epochs=c.epochs, batch_size=c.batch_size,
               lr=c.lr, level=c.sigma)
  return model, result.params, x, result.losses


def phi(model, params, x) -> np.ndarray:
  return np.asarray(model.apply({"params": params}, jnp.asarray(x, jnp.float32)))


def evaluate(c: Toy2dConfig, model, params, n: int = 2000) -> dict:
  """Mean distance to the curve of fresh noisy points, before and after phi."""
  clean = sample(c.shape, n, c.seed + 1)
  noisy = clean + c.sigma * np.random.default_rng(c.seed + 2).normal(size=clean.shape)
  noisy = noisy.astype(np.float32)
  before = distance_to_curve(c.shape, noisy)
  after = distance_to_curve(c.shape, phi(model, params, noisy))
  return {"mean_distance_noisy": float(before.mean()),
          "mean_distance_denoised": float(after.mean()), "n_eval": n}


def figure(c: Toy2dConfig, points: np.ndarray, grid: np.ndarray, mapped: np.ndarray,
           extent: float = 1.3, metrics: dict | None = None):
  """The ``toy2d.png`` figure: training points and the arrows grid -> phi(grid)."""
  from sdae import viz  # pylint: disable=g-import-not-at-top
  title = (f"2-D denoising field: {c.shape}, Gaussian noise σ={c.sigma:g}, "
           f"MLP 2-{c.hidden}-2")
  if metrics:
    title += (f"\nmean distance to the curve: noisy {metrics['mean_distance_noisy']:.3f} -> "
              f"denoised {metrics['mean_distance_denoised']:.3f}")
  return viz.arrow_field_figure(points, grid, mapped, title=title, extent=extent)


def run(c: Toy2dConfig, workdir: str, grid_n: int = 31, extent: float = 1.3,
        band: float = 2.5) -> dict:
  """Trains, evaluates, writes ``workdir/toy2d.png`` (and its PDF) and ``workdir/toy2d.json``.

  Arrows are drawn on the grid points within ``band * sigma`` of the curve: phi was trained on
  noisy points only, and far from them it extrapolates (long arbitrary arrows).
  """
  c = validate(c)
  os.makedirs(workdir, exist_ok=True)
  model, params, x, losses = train(c)
  g = np.linspace(-extent + 0.1, extent - 0.1, grid_n, dtype=np.float32)
  grid = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
  grid = grid[distance_to_curve(c.shape, grid) < band * c.sigma]
  results = {**evaluate(c, model, params), "config": dataclasses.asdict(c),
             "final_train_loss": float(losses[-1])}
  from sdae import viz  # pylint: disable=g-import-not-at-top
  viz.save_figure(figure(c, x, grid, phi(model, params, grid), extent, results),
                  os.path.join(workdir, "toy2d.png"))
  fileio.write_json(os.path.join(workdir, "toy2d.json"), results, sort_keys=True)
  return results
