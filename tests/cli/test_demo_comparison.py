"""The demo's terminal lines: the two targets compared, and how to add a stance judge."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.cli._local import COMPARED, comparison_lines, demo_config, demo_stance, stance_hint_lines
from audit.csvio import write_csv
from audit.errors import ConfigError
from audit.stats._compare import compare_targets
from tests.support.audits import simulated


def test_comparison_lines_show_each_headline_metric_of_comparison_csv(tmp_path: Path) -> None:
    table = compare_targets(simulated(seed=3, targets=("m1", "m2")), "m1", "m2")
    write_csv(table, tmp_path / "comparison.csv")
    lines = comparison_lines(tmp_path)
    assert lines[0].startswith("the two targets compared")
    shown = table[table["metric"].isin(COMPARED)].reset_index(drop=True)
    assert len(lines) == 1 + len(shown) and len(shown) == len(COMPARED)
    for line, row in zip(lines[1:], shown.itertuples(), strict=True):
        assert line.startswith(f"  {row.metric}: m1 {row.estimate_a:.1%} vs m2 {row.estimate_b:.1%}, ")
        assert f"difference {row.difference * 100:+.1f} pp [{row.ci_low * 100:+.1f} pp, " in line
        assert line.endswith(f"— {row.verdict}")


def test_no_comparison_csv_prints_nothing(tmp_path: Path) -> None:
    assert comparison_lines(tmp_path) == []
    (tmp_path / "comparison.csv").write_text("", encoding="utf-8")
    assert comparison_lines(tmp_path) == []


def test_stance_hint_names_the_flags_and_the_table_to_add(tmp_path: Path) -> None:
    config = demo_config(9, 2, 1, 32, "prompts/contested-v2.jsonl", str(tmp_path))
    assert config.stance is None
    (line,) = stance_hint_lines(config)
    assert "not judged" in line and "--stance-base-url" in line and "[stance]" in line
    assert "audit.example.toml" in line


def test_a_stance_judge_from_the_flags_is_configured_and_silences_the_hint(tmp_path: Path) -> None:
    stance = demo_stance("http://127.0.0.1:9/v1", "judge-model", "JUDGE_KEY")
    config = demo_config(9, 2, 1, 32, "prompts/contested-v2.jsonl", str(tmp_path), stance=stance)
    assert config.stance is not None and (config.stance.model, config.stance.api_key_env) == ("judge-model", "JUDGE_KEY")
    assert stance_hint_lines(config) == []
    assert demo_stance(None, None, "OPENAI_API_KEY") is None


@pytest.mark.parametrize(("args", "needle"), [
    ((None, "m", "K"), "needs both --stance-base-url and --stance-model"),
    (("http://127.0.0.1:9/v1", None, "K"), "needs both"),
    (("ftp://x", "m", "K"), "--stance-base-url:"),
    (("http://127.0.0.1:9/v1", "m", "sk-not-a-name"), "--stance-api-key-env:"),
])
def test_bad_stance_flags_are_one_line_config_errors(args: tuple[str | None, str | None, str], needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        demo_stance(*args)
    assert needle in str(err.value) and "\n" not in str(err.value) and "sk-not-a-name" not in str(err.value)
