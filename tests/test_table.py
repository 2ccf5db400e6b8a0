"""sdae.table: the paper's SdA-3 column, verdicts at their boundaries, table.md/table.json."""

import json
import pathlib

import pytest

from sdae import finetune as ft
from sdae import table as T

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


def test_paper_column_matches_reference_and_binomial_intervals():
  # The intervals are 1.96 sqrt(p(1-p)/n), n = 10000 for MNIST and 50000 for the others.
  for r in T.PAPER.values():
    if r.dataset == "tzanetakis":
      continue
    n = 10000 if r.dataset == "mnist" else 50000
    assert ft.ci95_pct(r.error_pct / 100, n) == pytest.approx(r.ci95_pct, abs=0.006), r
  if not REFERENCE.exists():
    pytest.skip("reference table not on this machine")
  text = REFERENCE.read_text()
  for r in T.PAPER.values():
    line = next(l for l in text.splitlines() if l.startswith(f"| {r.alias} |"))
    sda = line.strip("| ").split("|")[-1].strip()
    level = f"{r.level * 100:g}%" if r.corruption == "masking" else f"{r.level:g}"
    assert sda == f"{r.error_pct:.2f} ±{r.ci95_pct:.2f} ({level})", (sda, r)


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
  T.write_table(str(tmp_path), rows, title="t")
  with open(tmp_path / "table.json") as f:
    out = json.load(f)
  assert list(out) == ["rows"]
  required = {"dataset", "paper_error_pct", "paper_ci95_pct", "paper_level", "test_error_pct",
              "test_ci95_pct", "valid_error_pct", "chosen", "data_source", "verdict"}
  for r in out["rows"]:
    assert required <= set(r)
  assert [r["verdict"] for r in out["rows"]] == ["better", "within", "worse", "unavailable"]
  assert out["rows"][3]["note"] == "no tzanetakis features here; put them in --data_dir"
  assert "note" not in out["rows"][0]
  assert out["rows"][0]["paper_error_pct"] == 1.99 and out["rows"][0]["paper_level"] == 0.1
  md = (tmp_path / "table.md").read_text()
  assert "| rect | 1.99 ±0.12 | 0.1 | 1.50 ±0.11 |" in md
  assert "unavailable [1]" in md and "- tzanetakis: no tzanetakis features" in md
  assert not list(tmp_path.glob("*.tmp"))
