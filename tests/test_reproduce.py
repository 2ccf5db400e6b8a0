"""experiments.reproduce (the paper's Tables 4-5 and Figures 10-11) in-process on toy data: each
condition selected on validation, the findings computed from the rows, resume, SVMs on the
chosen networks' codes, bad input."""

import json
import os

import numpy as np
import pytest

from sdae import data
from sdae import experiment as E
from sdae.configs import experiments as exp_configs
from sdae.reproduce.experiments import common, depth_width, masking_curve, noise_types, svm_codes
import helpers
from helpers import count_epochs, run_cli, toy_splits


@pytest.fixture
def toy_data(monkeypatch):
  from sdae.data import regenerate
  # Tagged as sdae.data.load tags what it reads (source and version): the results record them.
  fake = lambda c: data.Splits(toy_splits(seed=len(c.dataset)), "regenerated",
                               regenerate.resolve_version(c.dataset, c.data_version))
  monkeypatch.setattr(E, "load_data", lambda c: (fake(c), "regenerated"))


def entry():
  from experiments import reproduce
  return reproduce


def run_main(argv):
  return helpers.run_main(entry(), argv)


def output(workdir, name):
  with open(workdir / f"{name}.json") as f:
    out = json.load(f)
  for r in out["rows"]:
    r.pop("seconds", None)
  return out


# --- end to end on toy data ----------------------------------------------------------------------


@pytest.mark.slow
def test_masking_curve_selects_each_level_and_resumes(tmp_path, toy_data, monkeypatch):
  ref = tmp_path / "ref"
  run_main(["--experiment=masking_curve", "--budget=test", f"--workdir={ref}"])
  out = output(ref, "masking_curve")
  levels = exp_configs.MASKING_CURVE_LEVELS["test"]
  assert len(levels) >= 8 and max(levels) > 0.5
  assert [r["level"] for r in out["rows"]] == list(levels)
  # One program: every level is a member of the one group.
  group = json.loads((ref / "rectangles" / "masking" / "hidden=16x8" / "results.json").read_text())
  assert len(group["members"]) == len(levels)
  by_level = {m["levels"][0]: m for m in group["members"]}
  for r in out["rows"]:  # one model per level here: its figures are that member's
    m = by_level[r["level"]]
    assert r["valid_error_pct"] == pytest.approx(m["valid_error_pct"], abs=1e-4)
    assert r["test_error_pct"] == pytest.approx(m["test_error_pct"], abs=1e-4)
    assert r["paper_error_pct"] is None and r["verdict"] == "unavailable"
  assert out["findings"] == masking_curve.findings(out["rows"])
  assert {f["claim"].split(": ")[1] for f in out["findings"]} == {
      "the curve is flat between 10% and 40% masking",
      "masking noise beats none (level 0, plain autoencoders)",
      "the best level lies in the flat region"}
  for suffix in ("md", "png", "pdf"):
    assert (ref / f"masking_curve.{suffix}").exists()
  assert "budget test" in (ref / "masking_curve.md").read_text()

  cut = tmp_path / "cut"
  count_epochs(monkeypatch, stop_after=5)
  with pytest.raises(KeyboardInterrupt):
    run_main(["--experiment=masking_curve", "--budget=test", f"--workdir={cut}"])
  calls = count_epochs(monkeypatch)
  run_main(["--experiment=masking_curve", "--budget=test", f"--workdir={cut}"])
  assert 0 < calls["n"] < 2 * 2 + 3  # resumed from its checkpoint, not from the start
  assert output(cut, "masking_curve") == out


@pytest.mark.slow
def test_svm_codes_fit_on_the_chosen_models_codes(tmp_path, toy_data, monkeypatch, capsys):
  work = tmp_path / "w"
  run_main(["--experiment=svm_codes", "--budget=test", f"--workdir={work}"])
  out = output(work, "svm_codes")
  reps = [(r["svm"], r["representation"]) for r in out["rows"]]
  assert reps == [("-", "SdA-3, fine-tuned"), ("linear", "pixels"), ("rbf", "pixels"),
                  ("linear", "layer 1"), ("rbf", "layer 1"), ("linear", "layer 2"),
                  ("rbf", "layer 2")]
  sda = out["rows"][0]
  assert sda["chosen"]["group"] == "hidden=16x8"
  for r in out["rows"][1:]:
    assert r["chosen"]["kernel"] == r["svm"] and r["trials"] == 2
  # The codes are the chosen member's pretrained encoders applied to the clean data.
  plan = svm_codes.plan(None, "test", {}, 1)
  cell = plan.cell("rectangles", "sda3")
  group = cell.grid.groups[0]
  codes = svm_codes.layer_codes(group, sda["chosen"], str(work / "rectangles" / "sda3" /
                                                           group.name), "regenerated")
  from sdae import checkpoint as ckpt_lib
  arrays, _ = ckpt_lib.Checkpointer(str(work / "rectangles" / "sda3" / group.name /
                                        "checkpoints")).restore_latest()
  index = [p.level for p in group.points].index(sda["chosen"]["level"])
  w, b = arrays["layer0"]["kernel"][index], arrays["layer0"]["bias"][index]
  x = toy_splits(seed=len("rectangles"))["valid"][0]
  np.testing.assert_allclose(codes[0]["valid"][0], 1 / (1 + np.exp(-(x @ w + b))), atol=1e-5)
  assert codes[1]["test"][0].shape == (200, 8)
  assert {r["codes"] for r in out["rows"][3:]} == {"SdA-3"}
  # The DBN-3's codes too: only it and its SVMs are new; the SdA-3's are read back.
  from sdae.reproduce import svm
  fitted, select_and_test = [], svm.select_and_test

  def record(data, grid, sub, **kw):
    fitted.append(os.path.basename(sub))
    return select_and_test(data, grid, sub, **kw)

  monkeypatch.setattr(svm, "select_and_test", record)
  both = ["--experiment=svm_codes", "--budget=test", "--code_models=dbn3,SdA3",
          f"--workdir={work}"]
  run_main(both)
  assert sorted(fitted) == sorted(f"dbn3-{kind}-layer{k}" for kind in ("linear", "rbf")
                                  for k in (1, 2))
  out2 = output(work, "svm_codes")
  assert out2["rows"][:3] == out["rows"][:3] and out2["rows"][4:8] == out["rows"][3:]
  dbn = out2["rows"][3]
  assert (dbn["cell"], dbn["representation"], dbn["paper_error_pct"]) == (
      "dbn3", "DBN-3, fine-tuned", 2.60)  # Table 3's rect DBN-3
  theirs = out2["rows"][8:]
  assert [(r["cell"], r["codes"], r["paper_error_pct"]) for r in theirs] == [
      (f"dbn3-{kind}-layer{k}", "DBN-3", None) for k in (1, 2) for kind in ("linear", "rbf")]
  for r in theirs:
    assert (work / "rectangles" / "svm_codes" / r["cell"] / "results.json").exists()
  assert out2["findings"] == svm_codes.findings(out2["rows"])
  assert "| codes |" in (work / "svm_codes.md").read_text()
  # The RBMs' codes: their mean-field hidden probabilities s(x W + b), layer by layer.
  plan = svm_codes.plan(None, "test", {}, 1, code_models=["dbn3"])
  group = plan.cell("rectangles", "dbn3").grid.groups[0]
  assert group.config.pretraining == "rbm"
  codes = svm_codes.layer_codes(group, dbn["chosen"], str(work / "rectangles" / "dbn3" /
                                                           group.name), "regenerated")
  arrays, _ = ckpt_lib.Checkpointer(str(work / "rectangles" / "dbn3" / group.name /
                                        "checkpoints")).restore_latest()
  index = [p.resolved(group.config).pretrain_lr for p in group.points].index(
      dbn["chosen"]["pretrain_lr"])
  h = x
  for k in range(2):
    w, b = arrays[f"layer{k}"]["kernel"][index], arrays[f"layer{k}"]["bias"][index]
    h = 1 / (1 + np.exp(-(h @ w + b)))
    np.testing.assert_allclose(codes[k]["valid"][0], h, atol=1e-5)
  # A rerun reads every SVM back: nothing is fitted again.
  monkeypatch.setattr(svm, "fit", lambda *a, **k: pytest.fail("refitted"))
  capsys.readouterr()
  run_main(both)
  assert output(work, "svm_codes") == out2
  printed = capsys.readouterr().out
  assert "finding: rect: every layer's codes beat raw pixels" in printed
  assert "finding: rect: the linear SVM does better on the SdA-3's codes than on the DBN-3's" \
      in printed
  assert "codes=DBN-3" in printed


@pytest.mark.slow
def test_depth_width_trains_every_depth_and_pretraining(tmp_path, toy_data):
  work = tmp_path / "w"
  run_main(["--experiment=depth_width", "--budget=test", f"--workdir={work}"])
  out = output(work, "depth_width")
  got = {(r["pretraining"], r["depth"]) for r in out["rows"]}
  assert got == {(p, d) for p in exp_configs.DEPTH_WIDTH_PRETRAININGS
                 for d in exp_configs.DEPTH_WIDTH_DEPTHS}
  for r in out["rows"]:
    assert len(r["chosen"]["hidden"]) == r["depth"]
    assert r["chosen"]["pretraining"] == ("none" if r["pretraining"] == "none" else "denoising")
    assert (r["chosen"]["level"] == 0.0) == (r["pretraining"] != "denoising")
  assert out["findings"] == depth_width.findings(out["rows"])


@pytest.mark.slow
def test_noise_types_trains_each_emphasis_and_reads_them_back(tmp_path, toy_data, monkeypatch):
  work = tmp_path / "w"
  run_main(["--experiment=noise_types", "--budget=test", f"--workdir={work}"])
  out = output(work, "noise_types")
  assert [(r["corruption"], r["emphasis"]) for r in out["rows"]] == list(
      exp_configs.NOISE_TYPES_CONDITIONS)
  for r in out["rows"]:
    cfg = json.loads((work / "rectangles" / r["cell"] / "hidden=16x8" / "config.json").read_text())
    assert cfg["corruption"] == r["corruption"] and cfg["emphasis"] == r["emphasis"]
    alpha, beta = {"none": (1.0, 1.0), "double": (1.0, 0.5), "full": (1.0, 0.0)}[r["emphasis"]]
    assert cfg["members"].get("alpha", [1.0] * 2) == [alpha] * 2
    assert cfg["members"].get("beta", [1.0] * 2) == [beta] * 2
    assert r["chosen"]["level"] in exp_configs.NOISE_TYPES_LEVELS["test"][r["corruption"]]
  # Emphasis changes what is learnt: the rows are not one model's figures repeated.
  sp = {r["emphasis"]: r["valid_error_pct"] for r in out["rows"] if r["corruption"] == "salt_pepper"}
  group = lambda e: json.loads((work / "rectangles" / f"salt_pepper-{e}" / "hidden=16x8" /
                                "results.json").read_text())["members"]
  assert group("none")[0]["valid_xent"] != group("full")[0]["valid_xent"]
  calls = count_epochs(monkeypatch)
  run_main(["--experiment=noise_types", "--budget=test", f"--workdir={work}"])
  assert calls["n"] == 0 and output(work, "noise_types") == out  # every group read back
  del sp


# --- findings: computed from the rows, so they can fail ---------------------------------------------


def _row(alias="rot", e=10.0, c=0.26, **settings):
  return dict(alias=alias, test_error_pct=e, test_ci95_pct=c, **settings)


def test_masking_curve_flat_region():
  flat = [_row(level=l, e=e) for l, e in ((0.0, 12.0), (0.1, 10.1), (0.25, 10.0), (0.4, 10.3),
                                          (0.6, 13.0))]
  f = {x["claim"].split(": ")[1]: x["holds"] for x in masking_curve.findings(flat)}
  assert f["the curve is flat between 10% and 40% masking"] is True
  assert f["masking noise beats none (level 0, plain autoencoders)"] is True
  assert f["the best level lies in the flat region"] is True
  bumpy = [dict(r) for r in flat]
  bumpy[3]["test_error_pct"] = 11.5  # 1.5 points above the best, beyond the 0.37 interval
  bumpy[0]["test_error_pct"] = 9.0   # and no noise best
  f = {x["claim"].split(": ")[1]: x["holds"] for x in masking_curve.findings(bumpy)}
  assert f["the curve is flat between 10% and 40% masking"] is False
  assert f["masking noise beats none (level 0, plain autoencoders)"] is False


def test_noise_types_emphasis_finding():
  rows = [_row(corruption="salt_pepper", emphasis="none", e=10.0),
          _row(corruption="salt_pepper", emphasis="double", e=9.6),
          _row(corruption="salt_pepper", emphasis="full", e=9.0)]
  (f,) = noise_types.findings(rows)
  assert f["holds"] is True and "full emphasis 9.00%" in f["detail"]
  rows[2]["test_error_pct"] = rows[1]["test_error_pct"] = 10.5
  assert noise_types.findings(rows)[0]["holds"] is False


def test_depth_width_ordering_findings():
  rows = [_row(pretraining=p, depth=d, width=1000, e=e)
          for d in (1, 2, 3) for p, e in (("denoising", 40 - d), ("autoencoder", 45 - d),
                                          ("none", 48 + d))]
  f = [x["holds"] for x in depth_width.findings(rows)]
  assert f == [True, True, True]
  rows[3]["test_error_pct"] = 60.0  # denoising at depth 2 now below plain autoencoders
  assert [x["holds"] for x in depth_width.findings(rows)] == [False, True, True]
  rows[8]["test_error_pct"] = 30.0  # no pretraining at depth 3 now best of all
  assert [x["holds"] for x in depth_width.findings(rows)] == [False, False, False]


def test_svm_codes_findings():
  rows = [_row(svm="linear", representation="pixels", e=43.5),
          _row(svm="linear", representation="layer 1", codes="SdA-3", e=20.0),
          _row(svm="linear", representation="layer 3", codes="SdA-3", e=10.0),
          _row(svm="rbf", representation="pixels", e=11.1),
          _row(svm="rbf", representation="layer 2", codes="SdA-3", e=8.3)]
  assert [f["holds"] for f in svm_codes.findings(rows)] == [True, True]
  rows[1]["test_error_pct"] = 50.0
  assert svm_codes.findings(rows)[0]["holds"] is False


def test_svm_codes_finding_against_other_networks_codes():
  rows = [_row(svm="linear", representation="pixels", e=43.5),
          _row(svm="linear", representation="layer 1", codes="SdA-3", e=20.0),
          _row(svm="linear", representation="layer 2", codes="SdA-3", e=12.0),
          _row(svm="rbf", representation="pixels", e=11.1),
          _row(svm="rbf", representation="layer 1", codes="SdA-3", e=8.3),
          # The DBN-3's codes: worse than pixels and than the SdA-3's, layer 3 alone of its own.
          _row(svm="linear", representation="layer 1", codes="DBN-3", e=45.0),
          _row(svm="linear", representation="layer 2", codes="DBN-3", e=15.0),
          _row(svm="linear", representation="layer 3", codes="DBN-3", e=5.0),
          _row(svm="rbf", representation="layer 1", codes="DBN-3", e=5.0),
          _row(svm="linear", representation="layer 3", codes="SAE-3", e=14.0)]
  f = svm_codes.findings(rows)
  # The paper's two claims read the SdA-3's codes alone.
  assert [x["holds"] for x in f[:2]] == [True, True] and "layer 3" not in f[0]["detail"]
  # Then one per other network, in ``CODE_MODELS``' order: the SAE-3's shares no
  # layer with the SdA-3's here.
  assert f[2]["claim"].endswith("than on the SAE-3's at every layer") and f[2]["holds"] is None
  assert f[3] == {"claim": "rot: the linear SVM does better on the SdA-3's codes than on the "
                           "DBN-3's at every layer", "holds": True,
                  "detail": "layer 1: SdA-3 20.00%, DBN-3 45.00%; "
                            "layer 2: SdA-3 12.00%, DBN-3 15.00%"}
  rows[6]["test_error_pct"] = 11.0  # the DBN-3's layer 2 now beats the SdA-3's
  assert svm_codes.findings(rows)[3]["holds"] is False


def test_svm_codes_plan_adds_the_other_networks_after_the_pixels():
  plan = svm_codes.plan(None, "cpu", {}, code_models=["DBN3", "sda3", "dbn3"])
  assert [c.label for c in plan.cells] == ["sda3", "svm_linear", "svm_rbf", "dbn3"]
  dbn = plan.cells[3]
  assert dbn.settings == {"svm": "-", "representation": "DBN-3, fine-tuned"}
  assert dbn.paper == (10.30, 0.27) and dbn.grid.groups[0].config.pretraining == "rbm"
  assert "SdA-3's and DBN-3's layer codes" in plan.title
  assert [c.label for c in svm_codes.plan(None, "cpu", {}).cells] == [
      "sda3", "svm_linear", "svm_rbf"]
  with pytest.raises(ValueError, match="accepted: sda3, sae3, dbn3"):
    svm_codes.plan(None, "cpu", {}, code_models=["mlp3"])


def test_svm_codes_print_grid_lists_each_networks_grid(tmp_path, capsys):
  work = tmp_path / "w"
  run_main(["--experiment=svm_codes", "--budget=test", "--code_models=sda3,sae3,dbn3",
            "--print_grid", f"--workdir={work}"])
  heads = [l.split(":")[0] for l in capsys.readouterr().out.splitlines() if l.startswith("rect")]
  assert heads == ["rectangles " + m for m in ("sda3", "svm_linear", "svm_rbf", "sae3", "dbn3")]
  assert not work.exists()


def test_known_cells_carry_the_paper_figure_and_unknown_ones_none():
  plan = noise_types.plan(None, "cpu", {})
  figs = {(c.grid.dataset, c.label): c.paper for c in plan.cells}
  assert figs[("mnist_rot", "salt_pepper-full")] == (8.76, 0.25)  # 1.96 sqrt(p(1-p)/50000)
  assert figs[("mnist_bg_rand", "salt_pepper-full")][0] == 8.52
  assert sum(f is not None for f in figs.values()) == 2
  assert not any("gaussian-double" in c.label or "gaussian-full" in c.label for c in plan.cells)
  sc = svm_codes.plan(None, "cpu", {})
  figs = {c.label: c.paper for c in sc.cells}
  assert figs["svm_rbf"] == (11.11, 0.28) and figs["svm_linear"][0] == 43.47


def test_cpu_budgets_state_their_cuts():
  for mod in (noise_types, svm_codes, depth_width, masking_curve):
    plan = mod.plan(None, "cpu", {})
    assert plan.cuts and plan.cuts in common.render_markdown(plan, [], [])
  # svm_codes names the networks whose codes it leaves out, and only those.
  assert "not the SAE-3's or DBN-3's codes" in svm_codes.plan(None, "cpu", {}).cuts
  assert "not the DBN-3's codes" in svm_codes.plan(None, "cpu", {}, 1, ("sda3", "sae3")).cuts
  assert "codes" not in svm_codes.plan(None, "cpu", {}, 1, svm_codes.CODE_MODELS).cuts
  assert "codes" not in svm_codes.plan(None, "paper", {}).cuts


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("argv, words", [
    (["--experiment=table6"], "--experiment='table6' is unknown; accepted: noise_types"),
    (["--experiment=svm_codes", "--budget=huge"], "--budget='huge' is unknown"),
    (["--experiment=svm_codes", "--level=0.3"], "--level does not apply"),
    (["--experiment=masking_curve", "--code_models=sae3"],
     "--code_models applies to --experiment=svm_codes only"),
    (["--experiment=svm_codes", "--code_models=svm_rbf"],
     "--code_models has 'svm_rbf'; accepted: sda3, sae3, dbn3"),
    (["--experiment=depth_width", "--datasets=tzanetakis"], "image sets"),
    (["--experiment=depth_width", "--datasets=rectangle"], "'rectangle'"),
    ([], "--experiment is required"),
])
def test_bad_input_is_one_line(argv, words, tmp_path, capsys):
  work = tmp_path / "w"
  assert run_cli(entry(), argv + [f"--workdir={work}"]) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and words in err[0], err
  assert not work.exists()
