"""The layer-objective registry (``sdae.objectives``) and the dataset properties (``DatasetSpec``):
a new objective or dataset needs no edit outside its own module and its registry entry, and the
messages, headers and titles of the existing ones are what they were when they were names in
``if``s."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from sdae import config as C
from sdae import experiment as E
from sdae import objectives
from sdae import pictures
from sdae import pretrain as pt
from sdae import rbm
from sdae import viz
from sdae.data import DataError
from sdae.data import registry
from sdae.io import progress as P
from sdae.reproduce import table as T
from helpers import toy_splits


# --- a new objective, defined here and registered by the test only ----------------------------


@dataclasses.dataclass(frozen=True)
class ToySpec:
  """A tanh autoencoder of clean inputs with tied weights, trained by squared error: a layer
  objective that takes no corruption level and no emphasis."""

  n_in: int
  n_hidden: int
  name: ClassVar[str] = "toy"

  def init(self, key):
    return {"kernel": 0.1 * jax.random.normal(key, (self.n_in, self.n_hidden), jnp.float32),
            "bias": jnp.zeros((self.n_hidden,), jnp.float32)}

  def step(self, params, opt_state, tx: optax.GradientTransformation, key, x):
    del key

    def loss(p):
      z = self.encode(p, x) @ p["kernel"].T
      return jnp.mean(jnp.sum((z - x) ** 2, axis=-1))

    value, grads = jax.value_and_grad(loss)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, value

  def encode(self, params, x):
    return jnp.tanh(x @ params["kernel"] + params["bias"])

  def reconstruct(self, params, key, x):
    del key
    return x, self.encode(params, x) @ params["kernel"].T

  def describe(self) -> str:
    return "toy autoencoder"


def toy_layers(n_in: int, hidden: tuple[int, ...], config: Any, compute_dtype: Any = None):
  del config, compute_dtype
  widths = (n_in,) + tuple(hidden[:-1])
  return [ToySpec(w, h) for w, h in zip(widths, hidden)]


TOY = objectives.Objective("toy", f"{__name__}:toy_layers", "toy AE ({activation})",
                           activations=("tanh",), activations_why="the toy's codes are tanh")


@pytest.fixture
def toy_registered(monkeypatch):
  monkeypatch.setitem(objectives.OBJECTIVES, "toy", TOY)


TINY = C.TrainConfig(dataset="toy", hidden=(16, 8), pretrain_epochs=2, finetune_epochs=2,
                     batch_size=10, pretraining="toy", activation="tanh", pretrain_lr=0.05,
                     patience=2, level=0.3)


def test_a_registered_objective_is_validated_from_its_entry(toy_registered):
  del toy_registered
  assert C.validate(TINY) is TINY
  with pytest.raises(C.ConfigError) as e:
    C.validate(TINY.replace(activation="sigmoid"))
  assert str(e.value) == ("--activation='sigmoid' with --pretraining=toy; accepted: tanh "
                          "(the toy's codes are tanh)")
  with pytest.raises(C.ConfigError) as e:
    C.validate(TINY.replace(emphasis="double"))
  assert str(e.value) == ("--emphasis=double with --pretraining=toy; accepted: --emphasis=none, "
                          "or --pretraining=denoising (emphasis weights the denoising loss)")
  with pytest.raises(C.ConfigError) as e:
    C.validate(TINY.replace(pretraining="boltzmann"))
  assert str(e.value) == "--pretraining='boltzmann' is invalid; accepted: denoising, rbm, none, toy"


def test_a_registered_objective_has_its_header_and_layers(toy_registered):
  del toy_registered
  h = P.run_header(TINY, data_source=None, sizes=(300, 100, 200), n_in=36, n_classes=2)
  assert h["model"].startswith("36-16-8 (2 toy AE (tanh) layers) + 2-way softmax")
  assert h["corruption"] == "none (corruption is the denoising objective's)"
  assert pt.objectives_of(TINY, 36) == [ToySpec(36, 16), ToySpec(16, 8)]
  assert pt.layer_objectives("toy", 36, (16, 8)) == [ToySpec(36, 16), ToySpec(16, 8)]
  assert pt.traced_args(ToySpec(36, 16), jnp.float32(0.3), None) == {}


def test_a_registered_objective_trains_end_to_end_with_its_pictures(toy_registered, tmp_path,
                                                                    monkeypatch):
  """The driver gives the toy no level (its step takes none), and the pictures are titled with
  its ``describe()`` and show no corrupted row."""
  del toy_registered
  titles = []
  real_rows, real_filters = viz.save_rows, viz.save_filters

  def save_rows(rows, path, title, *a, **k):
    titles.append(("rows", [r[0] for r in rows], title))
    return real_rows(rows, path, title, *a, **k)

  def save_filters(kernel, path, **k):
    titles.append(("filters", k["corruption"], k["level"]))
    return real_filters(kernel, path, **k)

  monkeypatch.setattr(viz, "save_rows", save_rows)
  monkeypatch.setattr(viz, "save_filters", save_filters)
  r = E.train_and_evaluate(TINY, str(tmp_path), splits=toy_splits())
  assert r["config"]["pretraining"] == "toy"
  assert np.isfinite(r["test_error_pct"])
  assert (tmp_path / "reconstructions.png").stat().st_size > 0
  assert titles == [
      ("filters", "toy autoencoder", None),
      ("rows", ["clean", "reconstructed"],
       "toy: layer 1 reconstructions of test images (16 units, toy autoencoder)")]


# --- the existing objectives: the same messages, header words and titles as before ------------


def test_existing_objectives_keep_their_messages():
  base = C.TrainConfig(dataset="rect", hidden=(8,))
  for bad, message in [
      (dict(pretraining="boltzmann"),
       "--pretraining='boltzmann' is invalid; accepted: denoising, rbm, none"),
      (dict(pretraining="rbm", emphasis="double"),
       "--emphasis=double with --pretraining=rbm; accepted: --emphasis=none, or "
       "--pretraining=denoising (emphasis weights the denoising loss)"),
      (dict(pretraining="none", emphasis="full"),
       "--emphasis=full with --pretraining=none; accepted: --emphasis=none, or "
       "--pretraining=denoising (emphasis weights the denoising loss)"),
      (dict(pretraining="rbm", activation="relu"),
       "--activation='relu' with --pretraining=rbm; accepted: sigmoid (an RBM's hidden units "
       "are Bernoulli, their mean a sigmoid)"),
  ]:
    with pytest.raises(C.ConfigError) as e:
      C.validate(base.replace(**bad))
    assert str(e.value) == message
  C.validate(base.replace(emphasis="double"))  # denoising takes emphasis
  C.validate(base.replace(pretraining="none", activation="relu"))  # any activation


def test_existing_objectives_keep_their_header_words():
  cfg = C.TrainConfig(dataset="rect", hidden=(8, 8), level=0.1, cd_steps=2)
  header = lambda c: P.run_header(c, data_source=None, sizes=(1, 2, 3), n_in=4, n_classes=2)
  assert "(2 dA layers)" in header(cfg)["model"]
  assert header(cfg)["corruption"] == "masking 0.1"
  assert "(2 RBM (CD-2) layers)" in header(cfg.replace(pretraining="rbm"))["model"]
  assert "(2 unpretrained layers)" in header(cfg.replace(pretraining="none"))["model"]
  for pre in ("rbm", "none"):
    assert header(cfg.replace(pretraining=pre))["corruption"] == (
        "none (corruption is the denoising objective's)")


def test_existing_objectives_describe_and_take_what_they_declare():
  da, r = pt.LayerSpec(4, 3, corruption="salt_pepper"), rbm.RBMSpec(4, 3, cd_steps=2)
  assert da.describe() == "salt_pepper" and r.describe() == "RBM, CD-2"
  level, emphasis = jnp.float32(0.3), pt.emphasis_of("double")
  assert pt.traced_args(da, level, emphasis) == {"level": level, "emphasis": emphasis}
  assert pt.traced_args(r, level, emphasis) == {}
  assert objectives.names() == ("denoising", "rbm", "none")
  with pytest.raises(ValueError, match="unknown pretraining 'x'; accepted: denoising, rbm, none"):
    pt.layer_objectives("x", 4, (3,))


@pytest.mark.parametrize("pretraining, level, want", [
    ("denoising", 0.25, [("filters", "masking 25%", None),
                         ("rows", ["clean", "corrupted\n(masking 25%)", "reconstructed"],
                          "rect: layer 1 reconstructions of test images (4 units, masking 25%)")]),
    ("rbm", 0.25, [("filters", "RBM, CD-1", None),
                   ("rows", ["clean", "reconstructed"],
                    "rect: layer 1 reconstructions of test images (4 units, RBM, CD-1)")]),
])
def test_picture_titles_of_existing_objectives(pretraining, level, want, tmp_path, monkeypatch):
  """The titles' words as before (the filters' title is ``viz.level_text`` of what is passed)."""
  got = []
  monkeypatch.setattr(viz, "save_rows", lambda rows, path, title, *a, **k: got.append(
      ("rows", [r[0] for r in rows], title)) or [])
  monkeypatch.setattr(viz, "save_filters", lambda kernel, path, **k: got.append(
      ("filters", viz.level_text(k["corruption"], k["level"]), None)) or [])
  obj = pt.layer_objectives(pretraining, 36, (4,))[0]
  params = pt.init_layer(obj, 0, 0)
  x = np.asarray(toy_splits()["test"][0][:3])
  pictures.write_pictures(str(tmp_path), params, obj, x, level, many=False, dataset="rect")
  assert got == want


# --- datasets: properties of the spec, not names ----------------------------------------------


def test_dataset_checks_keep_their_messages():
  with pytest.raises(C.ConfigError) as e:
    C.validate(C.TrainConfig(dataset="natural_patches"))
  assert str(e.value) == ("--dataset=natural_patches has no classes to train a classifier on; "
                          "accepted: a labelled dataset (its filters: python -m "
                          "experiments.filters --figure=natural)")
  with pytest.raises(C.ConfigError) as e:
    C.validate(C.TrainConfig(dataset="tzanetakis", corruption="blur", level=1.0))
  assert str(e.value) == "--corruption=blur needs square images; tzanetakis has feature vectors"
  C.validate(C.TrainConfig(dataset="rectangles", corruption="blur", level=1.0, hidden=(16,)))
  C.validate(C.TrainConfig(dataset="my_own_arrays", corruption="blur", level=1.0, hidden=(16,)))
  err = DataError("tzanetakis.npz not found\n in /x")
  assert T._unavailable_reason(err, "tzanetakis", None) == (  # pylint: disable=protected-access
      "no tzanetakis features here (tzanetakis.npz not found in /x); put tzanetakis.npz or "
      "tzanetakis.amat in --data_dir")
  assert T._unavailable_reason(err, "rectangles", None) == (  # pylint: disable=protected-access
      "data not available (tzanetakis.npz not found in /x); pass --data_dir")


def test_a_new_dataset_is_checked_by_its_properties(monkeypatch):
  """A set added to the registry only: feature vectors and unlabelled data are refused, and its
  missing files explained, by its spec's fields."""
  base = registry.DATASETS["rectangles"]
  monkeypatch.setitem(registry.DATASETS, "speech", dataclasses.replace(
      base, name="speech", alias="speech", dim=None,
      unavailable="no speech features ({error}); see the docs"))
  monkeypatch.setitem(registry.DATASETS, "clouds", dataclasses.replace(
      base, name="clouds", alias="clouds", n_classes=0))
  monkeypatch.setitem(registry._ALIASES, "speech", "speech")  # pylint: disable=protected-access
  monkeypatch.setitem(registry._ALIASES, "clouds", "clouds")  # pylint: disable=protected-access
  with pytest.raises(C.ConfigError) as e:
    C.validate(C.TrainConfig(dataset="speech", corruption="block", level=0.5))
  assert str(e.value) == "--corruption=block needs square images; speech has feature vectors"
  with pytest.raises(C.ConfigError) as e:
    C.validate(C.TrainConfig(dataset="clouds"))
  assert str(e.value) == ("--dataset=clouds has no classes to train a classifier on; accepted: "
                          "a labelled dataset")
  reason = T._unavailable_reason(DataError("gone"), "speech", "/d")  # pylint: disable=W0212
  assert reason == "no speech features (gone); see the docs"
