"""sdae.reproduce.table and sdae.reproduce.paper: the paper's five columns, verdicts at their
boundaries, the table's files."""

import json
import pathlib

import pytest

from sdae import finetune as ft
from sdae.reproduce import table as T

REFERENCE = pathlib.Path(__file__).resolve().parents[2] / "shared" / "reference" / \
    "vincent2010-table3.md"


@pytest.mark.parametrize("ours, expected", [
    (1.87, "within"),     # exactly the lower bound 1.99 - 0.12 (float rounding aside)
    (2.11, "within"),     # exactly the upper bound
    (1.99, "within"),
    (1.8699, "better"),
    (1.0, "better"),
    (2.1101, "worse"),
    (50.0, "worse"),
    (None, "unavailable"),
])
def test_verdict_boundaries(ours, expected):
  assert T.verdict(ours, 1.99, 0.12) == expected


def test_verdict_bounds_of_every_paper_row_are_within():
  for r in T.PAPER.values():
    assert T.verdict(r.error_pct - r.ci95_pct, r.error_pct, r.ci95_pct) == "within"
    assert T.verdict(r.error_pct + r.ci95_pct, r.error_pct, r.ci95_pct) == "within"
    assert T.verdict(r.error_pct - r.ci95_pct - 0.002, r.error_pct, r.ci95_pct) == "better"
    assert T.verdict(r.error_pct + r.ci95_pct + 0.002, r.error_pct, r.ci95_pct) == "worse"


def test_paper_columns_match_reference_and_binomial_intervals():
  # The intervals are 1.96 sqrt(p(1-p)/n), n = 10000 for MNIST and 50000 for the others.
  from sdae.reproduce import paper
  for r in T.PAPER.values():
    if r.dataset == "tzanetakis":
      continue
    n = 10000 if r.dataset == "mnist" else 50000
    for m in paper.METHODS:
      c = r.cells[m]
      assert ft.ci95_pct(c.error_pct / 100, n) == pytest.approx(c.ci95_pct, abs=0.006), (r, m)
  if not REFERENCE.exists():
    pytest.skip("reference table not on this machine")
  text = REFERENCE.read_text()
  for r in T.PAPER.values():
    line = next(l for l in text.splitlines() if l.startswith(f"| {r.alias} |"))
    cells = [c.strip() for c in line.strip("| ").split("|")[1:]]
    level = f"{r.level * 100:g}%" if r.corruption == "masking" else f"{r.level:g}"
    assert cells[-1] == f"{r.error_pct:.2f} ±{r.ci95_pct:.2f} ({level})", (cells, r)
    for m, got in zip(paper.METHODS[:-1], cells[:-1]):
      c = r.cells[m]
      assert got == f"{c.error_pct:.2f} ±{c.ci95_pct:.2f}", (r.alias, m, got)


def test_difference_interval():
  from sdae.reproduce import paper
  d, c = paper.difference(2.0, 0.3, 3.0, 0.4)
  assert d == pytest.approx(-1.0) and c == pytest.approx(0.5)
  assert paper.difference(None, None, 1.0, 0.1) is None


def test_writers_rows_and_keys(tmp_path):
  rows = [
      T.result_row("rectangles", test_error_pct=1.5, test_ci95_pct=0.11, valid_error_pct=1.0,
                   chosen={"level": 0.1, "hidden": [1000, 1000, 1000]}, data_source="regenerated"),
      T.result_row("convex", test_error_pct=19.40, test_ci95_pct=0.35, valid_error_pct=19.0,
                   chosen={"level": 0.25}, data_source="regenerated"),
      T.result_row("mnist_basic", test_error_pct=4.0, test_ci95_pct=0.17, valid_error_pct=3.9,
                   chosen={"level": 0.0}, data_source="original"),
      T.unavailable_row("tzanetakis", "no tzanetakis features here;\n put them in --data_dir"),
  ]
  rows += [T.result_row("rectangles", method="svm_rbf", test_error_pct=2.1, test_ci95_pct=0.12,
                        valid_error_pct=1.5, chosen={"C": 10.0, "gamma": 0.02},
                        data_source="regenerated", seconds=120.0),
           T.result_row("rectangles", method="sae3", test_error_pct=2.5, test_ci95_pct=0.14,
                        valid_error_pct=2.0, chosen={"level": 0.0, "pretrain_epochs": 5},
                        data_source="regenerated", seconds=600.0),
           T.result_row("rectangles", method="mlp3", test_error_pct=3.0, test_ci95_pct=0.15,
                        valid_error_pct=2.5, chosen={"level": 0.0}, data_source="regenerated")]
  T.write_table(str(tmp_path), rows, title="t")
  with open(tmp_path / "table.json") as f:
    out = json.load(f)
  assert list(out) == ["rows"]
  required = {"dataset", "paper_error_pct", "paper_ci95_pct", "paper_level", "test_error_pct",
              "test_ci95_pct", "valid_error_pct", "chosen", "data_source", "verdict"}
  for r in out["rows"]:
    assert required <= set(r)
  required.add("method")
  assert [r["verdict"] for r in out["rows"]] == ["better", "within", "worse", "unavailable",
                                                 "within", "within", "unavailable"]
  assert [r["method"] for r in out["rows"]] == ["sda3"] * 4 + ["svm_rbf", "sae3", "mlp3"]
  assert out["rows"][4]["paper_error_pct"] == 2.15 and out["rows"][4]["paper_level"] is None
  assert out["rows"][6]["paper_error_pct"] is None and "no MLP-3 column" in out["rows"][6]["note"]
  assert out["rows"][3]["note"] == "no tzanetakis features here; put them in --data_dir"
  assert "note" not in out["rows"][0]
  assert out["rows"][0]["paper_error_pct"] == 1.99 and out["rows"][0]["paper_level"] == 0.1
  md = (tmp_path / "table.md").read_text()
  # The five columns side by side (and mlp3 after them), the paper's figure under ours.
  assert "| dataset | SVM_rbf | SAE-3 | SdA-3 | MLP-3 | data |" in md
  rect = next(l for l in md.splitlines() if l.startswith("| rect |"))
  assert rect.startswith("| rect | 2.10 ±0.12 =<br>paper 2.15 ±0.13 | 2.50 ±0.14 =<br>paper "
                         "2.41 ±0.13 | 1.50 ±0.11 ▲<br>paper 1.99 ±0.12 |"), rect
  # The finding: SdA-3 - SAE-3, ours (1.50 - 2.50) and the paper's (1.99 - 2.41).
  assert "| rect | -1.00 ±0.18 | -0.42 ±0.18 | - | -0.61 ±0.18 |" in md
  assert "- tzanetakis, SdA-3: no tzanetakis features" in md
  # Each grid's minutes as its runs recorded them, and their sum.
  sae = next(l for l in md.splitlines() if l.startswith("| rect | SAE-3 |"))
  assert "| level=0, pretrain_epochs=5 | - | - | 10.0 | regenerated |" in sae, sae
  assert "12.0 in all." in md
  assert (tmp_path / "table.png").stat().st_size > 10000
  assert (tmp_path / "table.pdf").stat().st_size > 1000
  assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*tmp"))


def test_on_edge_names_the_axes_whose_choice_is_first_or_last():
  axes = {"level": [0.1, 0.25, 0.4, 0.1], "pretrain_lr": [0.05, 0.1, 0.05, 0.1],
          "hidden": [[1000], [2000], [3000], [1000]], "finetune_lr": [0.1] * 4}
  assert T.on_edge(axes, {"level": 0.25, "pretrain_lr": 0.05, "hidden": [2000],
                          "finetune_lr": 0.1}) == ["pretrain_lr"]
  assert T.on_edge(axes, {"level": 0.4, "pretrain_lr": 0.1, "hidden": [1000],
                          "finetune_lr": 0.1}) == ["level", "pretrain_lr", "hidden"]
  # One value tried: not searched, never on its edge; an axis the choice lacks is skipped.
  assert T.on_edge({"C": [10.0], "gamma_factor": [0.5, 1.0, 2.0]}, {"C": 10.0,
                                                                   "gamma_factor": 1.0}) == []
  assert T.on_edge({"level": [0.1, 0.2]}, {}) == []


def test_table_md_marks_edge_picks_trials_and_the_data_version(tmp_path):
  rows = [T.result_row("rectangles", method="svm_rbf", test_error_pct=2.8, test_ci95_pct=0.15,
                       valid_error_pct=5.0, chosen={"C": 10.0, "gamma_factor": 2.0},
                       data_source="regenerated", trials=56, on_edge=[], data_version=3),
          T.result_row("rectangles", test_error_pct=2.6, test_ci95_pct=0.14, valid_error_pct=1.5,
                       chosen={"level": 0.6}, data_source="regenerated", trials=4,
                       on_edge=["level"], data_version=3)]
  T.write_table(str(tmp_path), rows)
  md = (tmp_path / "table.md").read_text()
  lines = [l for l in md.splitlines() if l.startswith("| rect | ")]
  assert lines[-2].endswith("| 56 | - | - | regenerated v3 |"), lines
  assert lines[-1].endswith("| 4 | level | - | regenerated v3 |"), lines
  assert "On edge: 1 of 2 choices" in md


def test_quick_budget_table_says_it_is_a_smoke_run(tmp_path, monkeypatch):
  # The quick budget's verdicts (4 of 5 "worse" on rect) are not a finding: table.md's heading
  # and paragraph, and table.png's title, say it is a smoke run not expected to match.
  from sdae.configs import sda as presets
  from sdae.reproduce import table_report
  rows = [T.result_row("rectangles", test_error_pct=5.0, test_ci95_pct=0.2,
                       valid_error_pct=4.0, chosen={"level": 0.1}, data_source="regenerated")]
  titles = []
  monkeypatch.setattr(table_report, "_save", lambda fig, path: titles.append(
      fig._suptitle.get_text()))  # pylint: disable=protected-access
  T.write_table(str(tmp_path), rows, title=presets.table_title("quick"))
  md = (tmp_path / "table.md").read_text().splitlines()
  assert md[0] == "# Table 3, budget quick: a smoke run, not expected to match the paper"
  assert md[2].startswith("The quick budget is a smoke run") and "--budget=cpu" in md[2]
  assert titles == ["Table 3, budget quick: a smoke run, not expected to match the paper"]
  assert presets.table_title("cpu") == "Table 3, budget cpu"  # a comparison: no caveat
