"""The README's first hour holds: its top runs the quick tests (with their time) while CI runs
every test; the output it quotes is what the code prints; "Getting the data" names every
published file with the checksum the code checks; reference parts live in docs/, linked."""

import pathlib
import re

from sdae.data import idx, published, registry
from sdae.io import progress

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _section(title):
  start = README.index(f"\n## {title}\n")
  end = README.find("\n## ", start + 1)
  return README[start:end if end > 0 else None]


def test_top_runs_the_quick_tests_and_ci_runs_them_all():
  top = README[README.index("```bash"):README.index("```", README.index("```bash") + 7)]
  commands = [l for l in top.splitlines()[1:] if l.strip()]
  assert commands[0].startswith("pip install -e '.[test]' && python -m experiments.train ")
  assert commands[1].startswith('python -m pytest -q -m "not slow"'), commands
  assert re.search(r"# the quick tests: [\d.]+ min", commands[1]), commands[1]
  assert 'python -m pytest -q                 # everything' in _section("Tests")
  ci = (ROOT / ".ci" / "run").read_text()
  assert ".venv/bin/python -m pytest -q\n" in ci and "not slow" not in ci  # CI: everything


def test_quoted_output_is_what_the_code_prints():
  results = {"seconds": {"total": 253.0}, "test_error_pct": 2.07, "test_ci95_pct": 0.12,
             "valid_error_pct": 1.5, "finetune_best_epoch": 14, "data_source": "regenerated"}
  assert f"    {progress.result_line(results)}\n" in README
  note = progress.early_stopping_note(150, 150, 14, 1.5, 150, initial_patience=150,
                                      patience_increase=2.0, improvement_threshold=0.995)
  assert f"    {note}\n" in README
  assert "It prints one line" not in README


def test_getting_the_data_names_every_file_and_its_checksum():
  text = _section("Getting the data")
  assert "python -m experiments.fetch_data --datasets=mnist,rect --data_dir=data" in text
  for name, md5 in idx.MNIST_FILES.items():
    assert name in text and md5 in text, name
  assert idx.MNIST_URLS[0] in text
  for spec in registry.DATASETS.values():
    for f in published.files(spec.name):
      assert f.name in text, f.name
      if f.sha256:
        assert f.sha256 in text and f"{f.size:,}" in text
  assert registry.LISA_URL in text


def test_reference_parts_are_in_docs_and_every_link_resolves():
  assert len(README.splitlines()) < 280
  for heading in ("## Layout", "## Many devices and hosts", "| `valid_xent` |"):
    assert heading not in README, heading
  anchors = {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-")
             for h in re.findall(r"^#+ (.+)$", README, re.M)}
  for target in re.findall(r"\]\(([^)]+)\)", README):
    if target.startswith("http"):
      continue
    path, _, anchor = target.partition("#")
    if path:
      assert (ROOT / path).exists(), target
    elif anchor:
      assert anchor in anchors, (target, sorted(anchors))
