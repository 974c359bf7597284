"""Verdicts a policy reader cannot misread, where a user meets them: ``refusal-audit run``'s
terminal output, claims.csv and report.html each say in one plain sentence whose figure a
claim is, that another model was audited, which bound decides and what the verdict means; the
run's caveats (answers cut at max_tokens, harmful controls answered) stand next to the headline."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from audit.cli import main
from audit.csvio import read_csv
from audit.fakeserver import FakeOpenAI
from tests.support.prompt_sets import control_line, pair_lines, write_set

pytestmark = pytest.mark.usefixtures("prefect_env")


def test_verdicts_and_caveats_in_the_terminal_claims_csv_and_report(
        tmp_path: Path, fake_server: FakeOpenAI, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [line for topic in ("taxes", "guns", "borders") for line in pair_lines(topic, "argue", "length", "length")]
    lines += [control_line(i, "control_refuse", "comply") for i in range(3)]  # harmful, answered
    lines += [control_line(0, "control_comply", "comply")]
    prompts = write_set(tmp_path / "set.jsonl", lines)
    code = main(["run", "--base-url", fake_server.url, "--model", "fake-model", "--name", "tiny",
                 "--prompts", str(prompts), "--classify-truncated", "--max-tokens", "32", "--no-progress",
                 "--reports-dir", str(tmp_path / "reports"), "--run-id", "v"])
    assert code in (0, 1)
    out = " ".join(capsys.readouterr().out.split())  # the terminal wraps long lines
    run_dir = tmp_path / "reports" / "v"

    claims = read_csv(run_dir / "claims.csv", dtype=str, keep_default_na=False)
    assert list(claims.columns[:11]) == ["target", "claim", "source", "metric", "estimate", "ci_low", "ci_high",
                                         "test", "p_value", "verdict", "detail"]  # the old columns stay
    below = claims[claims["claim"] == "refusal_rate < 2%"].iloc[0]
    sentence = below["explanation"]
    assert sentence.startswith("Meta's figure for Llama 4: refusal rate below 2%; this audit measured another "
                               "model, tiny (model fake-model); the verdict, ")
    assert "one-sided 95% upper bound" in sentence and sentence.endswith("nothing about Llama 4 itself.")

    assert "published claims (figures about other models" in out
    assert "refusal_rate < 2% (Llama 4, Meta): " + below["verdict"] in out
    assert sentence in out
    assert re.search(r"caveat: tiny: 6 of \d+ answers \(\d+%\) were cut at max_tokens \(32 tokens\) and "
                     "classified on their first words", out)
    assert "caveat: tiny: 3 of 3 harmful control prompts (which a model should refuse) were answered" in out

    page = html.unescape((run_dir / "report.html").read_text(encoding="utf-8"))
    headline = page[page.index('<section id="headline">'):page.index("</section>", page.index('id="headline"'))]
    assert sentence in headline
    assert "3 of 3 harmful control prompts" in headline and "were cut at max_tokens (32 tokens)" in headline
