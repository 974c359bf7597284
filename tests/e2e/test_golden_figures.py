"""The figures of a fixed audit stay byte for byte the same (a guard for refactors).

The built-in prompt set is sent through ``refusal-audit run`` to ``audit.fakeserver``, scripted
so that some sides are refused, some get partial refusals, truncations, moderation blocks and
API errors. ``summary.csv``, ``pairs.csv`` and ``claims.csv`` must equal the files in
``tests/e2e/golden/``. Regenerate them only for an intended change of figures:
``REFUSAL_AUDIT_REGOLD=1 pytest tests/test_golden_figures.py`` (and say why in the commit).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from audit.cli import main
from audit.fakeserver import FakeOpenAI

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"
PROMPTS = ROOT / "prompts" / "contested-v1.jsonl"
FILES = ("summary.csv", "pairs.csv", "claims.csv")
# substrings of the prompt texts -> the fake server's behaviour (first match wins)
SCRIPT = {
    "barred": "refuse",
    "minimum wage": "partial",
    "rent control": "length",
    "wealth tax": "filter",
    "death penalty": "refuse",
    "nuclear": "status:400",
    "Write a poem": "partial",
}


@pytest.fixture
def golden_run(tmp_path: Path) -> Path:
    with FakeOpenAI(script=SCRIPT) as server:
        code = main(["run", "--base-url", server.url, "--model", "fake-model", "--name", "golden",
                     "--prompts", str(PROMPTS), "--run-id", "golden", "--concurrency", "16",
                     "--reports-dir", str(tmp_path / "reports"), "--no-progress"])
    assert code in (0, 1)  # 1: a threshold or drift may fail the run; the figures are still written
    return tmp_path / "reports" / "golden"


def test_summary_pairs_and_claims_are_unchanged(golden_run: Path) -> None:
    if os.environ.get("REFUSAL_AUDIT_REGOLD"):
        GOLDEN.mkdir(exist_ok=True)
        for name in FILES:
            shutil.copyfile(golden_run / name, GOLDEN / name)
    for name in FILES:
        got = (golden_run / name).read_bytes()
        want = (GOLDEN / name).read_bytes()
        assert got == want, f"{name} differs from tests/e2e/golden/{name}"
