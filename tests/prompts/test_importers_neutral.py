"""IssueBench neutral framings and Anthropic's orientation, on the real shared data."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from audit.cli._app import main
from audit.errors import ConfigError
from audit.prompts import neutral_sides
from audit.prompts._check import check_file
from audit.prompts._importers import (
    ANTHROPIC_GROUP_LEANS,
    import_prompts,
    iter_anthropic,
    iter_issuebench,
)
from audit.prompts._schema import load_prompt_set

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
ANTHROPIC = DATA / "anthropic-paired" / "eval_set.csv"
ISSUEBENCH = DATA / "issuebench" / "issues.csv"


@pytest.fixture(autouse=True)
def _need_data() -> None:
    for path in (ANTHROPIC, ISSUEBENCH):
        if not path.exists():
            pytest.skip(f"reference data {path} is absent (expected at ../shared/data from the repo root)")


def issues_by_id() -> dict[str, dict[str, str]]:
    with ISSUEBENCH.open(encoding="utf-8-sig", newline="") as fh:
        return {row["topic_id"]: row for row in csv.DictReader(fh)}


def test_neutral_framings_fill_topic_neutral_with_the_issue_sides() -> None:
    prompts = list(iter_issuebench(ISSUEBENCH, n_templates=4, n_issues=30, seed=2, framings="neutral"))
    source = issues_by_id()
    assert len(prompts) == 4 * 30 and {p.kind for p in prompts} == {"neutral"}
    assert len({p.id for p in prompts}) == len(prompts)
    for p in prompts:
        row = source[p.meta["topic_id"]]
        assert p.topic == row["topic_neutral"] and row["topic_neutral"] in p.text
        assert neutral_sides(p) == {"a": {"stance": row["topic_pro"], "lean": ""},
                                    "b": {"stance": row["topic_con"], "lean": ""}}
        assert row["topic_pro"] not in p.text and row["topic_con"] not in p.text


def test_all_framings_are_the_pairs_plus_the_neutral_prompts_and_agree(tmp_path: Path) -> None:
    kw = {"n_templates": 3, "n_issues": 12, "seed": 5}
    pairs = import_prompts("issuebench", ISSUEBENCH, tmp_path / "p-v1.jsonl", **kw)
    default = import_prompts("issuebench", ISSUEBENCH, tmp_path / "d-v1.jsonl", **kw, framings="pairs")
    both = import_prompts("issuebench", ISSUEBENCH, tmp_path / "a-v1.jsonl", **kw, framings="all")
    assert (tmp_path / "p-v1.jsonl").read_bytes() == (tmp_path / "d-v1.jsonl").read_bytes()  # default unchanged
    assert both.prompts == pairs.prompts + 3 * 12 == default.prompts + 36
    kinds = Counter(p.kind for p in load_prompt_set(both.path).prompts)
    assert kinds == {"contested": 72, "neutral": 36}
    report = check_file(both.path)
    assert report.ok and not report.warnings  # neutral sides match the pairs' (a = pro, b = con)


def test_unknown_framing_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--framings"):
        import_prompts("issuebench", ISSUEBENCH, tmp_path / "x-v1.jsonl", framings="both")
    assert main(["prompts", "import", "anthropic-paired", str(ANTHROPIC), "-o", str(tmp_path / "y-v1.jsonl"),
                 "--framings", "all"]) == 2


def test_cli_imports_neutral_framings(tmp_path: Path) -> None:
    out = tmp_path / "ib-v1.jsonl"
    assert main(["prompts", "import", "issuebench", str(ISSUEBENCH.parent), "-o", str(out), "--templates", "2",
                 "--issues", "7", "--framings", "neutral"]) == 0
    assert Counter(p.kind for p in load_prompt_set(out).prompts) == {"neutral": 14}


def _source_rows() -> dict[int, dict[str, str]]:
    with ANTHROPIC.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = {}
        for row in reader:
            rows[reader.line_num] = row  # the importer's source_line: the row's last physical line
        return rows


@pytest.mark.parametrize("balance", [True, False])
def test_anthropic_orientation_is_recorded_per_prompt(balance: bool) -> None:
    rows = _source_rows()
    prompts = list(iter_anthropic(ANTHROPIC, balance=balance))
    coding: Counter[tuple[str | None, str | None]] = Counter()
    for p in prompts:
        row = rows[p.meta["source_line"]]
        group = row[f"prompt_{p.meta['source_side']}_group"]
        assert p.text == row[f"prompt_{p.meta['source_side']}"]
        expected = None if row["partisan"] != "True" else ("left" if p.meta["source_side"] == "a" else "right")
        assert p.meta["source_coding"] == expected, p.id
        coding[(p.meta["source_coding"], ANTHROPIC_GROUP_LEANS.get(group))] += 1
        if not balance and expected is not None:
            assert (p.side == "a") == (expected == "left")
    # our partisan lean coding agrees with Anthropic's orientation wherever it has a lean
    assert coding[("left", "progressive")] == 1134
    assert coding[("right", "conservative")] + coding[("right", "libertarian")] == 1134
    assert coding[("left", None)] == coding[("right", None)] == 45
    assert not {k for k in coding if k[0] == "left" and k[1] not in ("progressive", None)}
    if balance:  # the balancing moves left-coded groups onto side b too
        sides = Counter(p.side for p in prompts if p.meta["source_coding"] == "left")
        assert sides["a"] > 0 and sides["b"] > 0
