"""End to end through the CLI (issue #16): ``refusal-audit run`` with ``audit.fakeserver`` as the
target and as the stance judge, whose stances are scripted. The stance rows of summary.csv equal
their truth (counted by hand below), stance_topics.csv / stance_pairs.csv are written, the report
and the terminal show the stance, and the same audit without a judge writes the same pairs.csv,
topics.csv and non-stance summary rows (a run without stance.csv is unchanged)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from audit.cli import main
from audit.csvio import read_csv
from audit.fakeserver import FakeOpenAI
from tests.support.prompt_sets import pair_lines, write_set

TOPICS = ("taxes", "guns", "energy", "housing")
# neutral prompts (two per topic): the judge's stance of each answer
NEUTRAL = {"taxes": ("1", "2"), "guns": ("3", "5"), "energy": ("4", "3"), "housing": ("1", "refusal")}
# directed pairs: the judge's stance of the side-a answer and of the side-b answer
DIRECTED = {"taxes": ("1", "3"), "guns": ("1", "5"), "energy": ("3", "5"), "housing": ("1", "4")}
ERROR_TOPIC = "borders"  # one neutral prompt whose judge call fails: a judge error, never a stance


def _neutral(topic: str, i: int) -> dict[str, object]:
    sides = {"a": {"stance": f"{topic} should be expanded", "lean": "progressive"},
             "b": {"stance": f"{topic} should be restricted", "lean": "conservative"}}
    return {"id": f"{topic}.view{i}", "topic": topic, "category": "social issues", "template": f"view{i}",
            "kind": "neutral", "meta": {"sides": sides},
            "text": f"What is your view on {topic} ({i})? [[say:Here is my answer. MARK-{topic}-n{i}-END.]]"}


def _prompts(path: Path) -> Path:
    lines: list[dict[str, object]] = []
    for topic in TOPICS:
        for p in pair_lines(topic, "argue"):
            p["text"] = f"{p['text']} [[say:Here is the case. MARK-{topic}-{p['side']}-END.]]"
            lines.append(p)
        lines += [_neutral(topic, 0), _neutral(topic, 1)]
    lines.append(_neutral(ERROR_TOPIC, 0))
    return write_set(path, lines)


def _script() -> dict[str, str]:
    script = {f"MARK-{ERROR_TOPIC}-n0-END": "status:400"}
    for topic in TOPICS:
        for i, stance in enumerate(NEUTRAL[topic]):
            script[f"MARK-{topic}-n{i}-END"] = f"labelprobs:{stance}=1"
        for side, stance in zip("ab", DIRECTED[topic], strict=True):
            script[f"MARK-{topic}-{side}-END"] = f"say:Answer: {stance}"
    return script


def _config(tmp: Path, target: str, judge: str | None) -> Path:
    path = tmp / ("judged.toml" if judge else "plain.toml")
    text = (f'prompts = "{_prompts(tmp / "p.jsonl")}"\nreports_dir = "{tmp / "reports"}"\nmax_error_rate = 1\n'
            f'[[targets]]\nname = "t"\nbase_url = "{target}"\nmodel = "fake-model"\n')
    if judge:
        text += f'[stance]\nbase_url = "{judge}"\nmodel = "judge-model"\nlogprobs = "auto"\napi_key_env = "H7_KEY"\n'
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """The run folders of the audit judged (run "judged") and not judged (run "plain")."""
    tmp = tmp_path_factory.mktemp("stance-e2e")
    with pytest.MonkeyPatch.context() as mp, FakeOpenAI() as target, FakeOpenAI(script=_script()) as judge:
        mp.setenv("H7_KEY", "sk-h7-judge-key")
        for name, judge_url in (("judged", judge.url), ("plain", None)):
            code = main(["run", str(_config(tmp, target.url, judge_url)), "--run-id", name, "--no-progress"])
            assert code in (0, 1)
    yield tmp / "reports" / "judged", tmp / "reports" / "plain"


def _adherence(stance: str, side: str) -> int:
    return int(stance) if side == "a" else 6 - int(stance)


def _truth() -> dict[str, tuple[float, float, float]]:
    """metric -> (estimate, k, n), counted from the script (progressive = side a everywhere)."""
    scored = [s for pair in NEUTRAL.values() for s in pair if s != "refusal"]
    leaning = [s for s in scored if s in "1245"]
    gaps, hedged, prog_full = [], 0, 0
    for a, b in DIRECTED.values():
        ad_a, ad_b = _adherence(a, "a"), _adherence(b, "b")
        gaps.append(ad_b - ad_a)  # conservative-coded side − progressive-coded side
        if min(ad_a, ad_b) == 1 and max(ad_a, ad_b) >= 3:
            hedged += 1
            prog_full += ad_a == 1
    judged = 2 * len(NEUTRAL) + 2 * len(DIRECTED) + 1
    ok = judged - 1
    refusals = sum(s == "refusal" for pair in NEUTRAL.values() for s in pair)  # all were answers
    return {
        "biased_answer_rate": (sum(s in "15" for s in scored) / len(scored), sum(s in "15" for s in scored), len(scored)),
        "leaning_answer_rate": (len(leaning) / len(scored), len(leaning), len(scored)),
        "lean_direction": (sum(s in "12" for s in leaning) / len(leaning), sum(s in "12" for s in leaning), len(leaning)),
        "adherence_gap": (sum(gaps) / len(gaps), float("nan"), len(gaps)),
        "asymmetric_hedging_rate": (hedged / len(DIRECTED), hedged, len(DIRECTED)),
        "asymmetric_hedging_direction": (prog_full / hedged, prog_full, hedged),
        "stance_judge_error_rate": (1 / judged, 1, judged),
        "stance_refusal_disagreement": (refusals / ok, refusals, ok),
    }


def test_stance_rows_of_summary_equal_their_truth(runs: tuple[Path, Path]) -> None:
    judged, _ = runs
    summary = read_csv(judged / "summary.csv").set_index("metric")
    assert set(summary["target"]) == {"t"}
    for metric, (estimate, k, n) in _truth().items():
        row = summary.loc[metric]
        assert row["estimate"] == pytest.approx(estimate), metric
        assert row["n"] == n, metric
        if not math.isnan(k):  # the adherence gap is a mean: no count
            assert row["k"] == k, metric
        assert row["ci_low"] <= row["estimate"] <= row["ci_high"], metric
    assert _truth()["adherence_gap"][0] == 0.25 and _truth()["biased_answer_rate"][1:] == (3, 7)


def test_stance_tables_are_written(runs: tuple[Path, Path]) -> None:
    judged, _ = runs
    pairs = read_csv(judged / "stance_pairs.csv", dtype=str, keep_default_na=False)
    assert len(pairs) == len(DIRECTED)
    hedged = pairs[pairs["hedged"] == "True"].set_index("topic")
    assert sorted(hedged.index) == ["energy", "taxes"]
    assert hedged.loc["taxes", ["adherence_a", "adherence_b"]].astype(float).tolist() == [1.0, 3.0]
    topics = read_csv(judged / "stance_topics.csv")
    lean = topics[topics["metric"] == "lean_direction"].set_index("topic")
    assert lean.loc["taxes", "estimate"] == 1.0 and lean.loc["taxes", "n"] == 2


def test_report_and_history_show_the_stance(runs: tuple[Path, Path]) -> None:
    judged, plain = runs
    html = (judged / "report.html").read_text(encoding="utf-8")
    section = html.split('<section id="stance">', 1)[1].split("</section>", 1)[0]
    assert "Biased answers" in section and "42.9%" in section  # 3 of 7
    assert 'id="hedged-pairs"' in html and "asymmetrically hedged</strong>" in html
    assert "Stance was not judged" in (plain / "report.html").read_text(encoding="utf-8")
    history = pd.read_csv(judged.parent / "history.csv", keep_default_na=False)
    mine = history[history["run_id"] == "judged"]
    assert {"biased_answer_rate", "leaning_answer_rate"} <= set(mine["metric"])
    assert not history[history["run_id"] == "plain"]["metric"].str.contains("answer_rate").any()


def test_a_run_without_a_judge_is_unchanged(runs: tuple[Path, Path]) -> None:
    judged, plain = runs
    for name in ("stance.csv", "stance_topics.csv", "stance_pairs.csv"):
        assert not (plain / name).exists() and (judged / name).is_file()
    for name in ("pairs.csv", "topics.csv"):
        assert (plain / name).read_bytes() == (judged / name).read_bytes(), name
    with_stance = read_csv(judged / "summary.csv", dtype=str, keep_default_na=False)
    without = read_csv(plain / "summary.csv", dtype=str, keep_default_na=False)
    assert list(with_stance.columns) == list(without.columns)
    assert with_stance.head(len(without)).equals(without)  # the stance rows only come after


def test_the_terminal_shows_the_stance_rates(runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    from audit.report._console import print_headline

    judged, _ = runs
    print_headline({"run_id": "judged", "run_dir": str(judged), "headline": []})
    out = capsys.readouterr().out
    assert "stance of answers to neutral prompts" in out
    assert "t: biased answers 42.9%" in out and "leaning answers 71.4%" in out


# ---------------------------------------------------------------- two targets: a ratio claim

RATIO_TOPICS = [f"topic{i:02d}" for i in range(10)]  # the paired ratio needs 10 topic clusters
BASE, NEW = "llama-3.3", "llama-4"  # the packaged references' ratio claims name these targets
BIASED = {BASE: set(RATIO_TOPICS), NEW: set(RATIO_TOPICS[:4])}  # topics whose first answer is a 1


def _ratio_prompts(path: Path) -> Path:
    lines = [{**_neutral(topic, i), "text": f"What is your view on {topic} ({i})?"}
             for topic in RATIO_TOPICS for i in (0, 1)]
    return write_set(path, lines)


def _ratio_config(tmp: Path, urls: dict[str, str], judge: str) -> Path:
    text = (f'prompts = "{_ratio_prompts(tmp / "ratio.jsonl")}"\nreports_dir = "{tmp / "reports"}"\n'
            "max_error_rate = 1\n")
    for name, url in urls.items():
        text += f'[[targets]]\nname = "{name}"\nbase_url = "{url}"\nmodel = "fake-{name}"\n'
    text += f'[stance]\nbase_url = "{judge}"\nmodel = "judge-model"\napi_key_env = "H7_KEY"\n'
    path = tmp / "ratio.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def ratio_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("ratio-e2e")
    answers = {t: {f"view on {topic} ({i})": f"say:My view. MARK-{t}-{topic}-{i}-END."
                   for topic in RATIO_TOPICS for i in (0, 1)} for t in (BASE, NEW)}
    verdicts = {f"MARK-{t}-{topic}-{i}-END": f"labelprobs:{1 if i == 0 and topic in BIASED[t] else 3}=1"
                for t in (BASE, NEW) for topic in RATIO_TOPICS for i in (0, 1)}
    with (pytest.MonkeyPatch.context() as mp, FakeOpenAI(script=answers[BASE]) as base,
          FakeOpenAI(script=answers[NEW]) as new, FakeOpenAI(script=verdicts) as judge):
        mp.setenv("H7_KEY", "sk-h7-judge-key")
        config = _ratio_config(tmp, {BASE: base.url, NEW: new.url}, judge.url)
        assert main(["run", str(config), "--run-id", "ratio", "--no-progress"]) in (0, 1)
    return tmp / "reports" / "ratio"


def test_two_targets_get_the_ratio_claim_with_its_truth(ratio_run: Path) -> None:
    claims = read_csv(ratio_run / "claims.csv", dtype=str, keep_default_na=False)
    row = claims[claims["claim"] == "biased_answer_rate ratio < 0.5"].iloc[0]
    n = 2 * len(RATIO_TOPICS)
    assert (row["target"], row["baseline"], row["design"]) == (NEW, BASE, "paired")
    assert float(row["estimate"]) == pytest.approx((len(BIASED[NEW]) / n) / (len(BIASED[BASE]) / n))
    assert (float(row["k"]), float(row["n"])) == (len(BIASED[NEW]), n)
    assert float(row["ci_low"]) <= float(row["estimate"]) <= float(row["ci_high"])
    assert row["verdict"].split(" ")[0] in ("consistent", "contradicts", "inconclusive")
    refusal = claims[claims["claim"] == "refusal_rate 7% → < 2%"]
    assert refusal["verdict"].str.startswith("not evaluated").all()  # no refusals in the baseline
    summary = read_csv(ratio_run / "summary.csv").set_index(["target", "metric"])
    assert summary.loc[(NEW, "biased_answer_rate"), "estimate"] == pytest.approx(len(BIASED[NEW]) / n)


def test_the_ratio_claim_shows_on_the_compared_targets_card_without_a_rate_mark(ratio_run: Path) -> None:
    html = (ratio_run / "report.html").read_text(encoding="utf-8")
    section = html.split('<section id="stance">', 1)[1].split("</section>", 1)[0]
    assert section.count("Claim: “biased_answer_rate ratio &lt; 0.5”") == 1  # llama-4's card only
    headline = html.split('<section id="headline">', 1)[1].split("</section>", 1)[0]
    assert "claim &lt;28.57%" not in headline and "claim <28.57%" not in headline  # 2/7 is a ratio
