"""The stance judge client over real HTTP: log-probabilities, the ``auto`` fallback, errors as
data, the content-addressed journal, and keys kept out of errors and files."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from audit.errors import ConfigError
from audit.fakeserver import FakeOpenAI
from audit.stance import DEFAULT_TEMPLATE, JudgeTemplate, StanceItem, make_stance_judge, stance_key
from tests.support.judge_server import KEY, JudgeServer, Reply, logprobs, user_text

ITEMS = [StanceItem(f"Answer number {i}: LABEL-{label}", "side a", "side b", "topic")
         for i, label in enumerate(("1", "3", "5", "refusal", "none"))]


def by_marker(body: dict[str, Any]) -> Reply:
    """Reply with the label named in the answer; its log-probabilities when asked for."""
    label = user_text(body).split("LABEL-")[1].split('"')[0].split()[0]
    if label == "none":
        return 200, "I cannot tell.", None
    lps = logprobs([(label, math.log(0.8), {label: math.log(0.8), "2": math.log(0.15), "ref": math.log(0.05)})])
    return 200, label, lps if body.get("logprobs") else None


def test_logprobs_give_label_probabilities(tmp_path: Path) -> None:
    with JudgeServer(by_marker) as server, make_stance_judge(
            base_url=server.url, model="j", logprobs=True, journal=tmp_path / "s.jsonl") as judge:
        verdicts = judge.judge_many(ITEMS)
    assert [v.stance for v in verdicts] == ["1", "3", "5", "refusal", ""]
    assert [v.status for v in verdicts] == ["ok"] * 4 + ["unparsed"]
    assert verdicts[1].probs is not None and verdicts[1].probs["3"] == pytest.approx(0.8)
    assert verdicts[1].probs["2"] == pytest.approx(0.15) and verdicts[1].probs["refusal"] == pytest.approx(0.05)
    assert all(b["logprobs"] is True and b["max_tokens"] == 2 and b["temperature"] == 0 for b in server.bodies)


def test_auto_falls_back_to_text_when_the_endpoint_rejects_logprobs() -> None:
    def no_logprobs(body: dict[str, Any]) -> Reply:
        return (400, "logprobs is not supported", None) if body.get("logprobs") else by_marker(body)

    with JudgeServer(no_logprobs) as server, make_stance_judge(
            base_url=server.url, model="j", logprobs="auto", concurrency=1, max_retries=0) as judge:
        verdicts = judge.judge_many(ITEMS[:3])
    assert [v.stance for v in verdicts] == ["1", "3", "5"] and all(v.probs is None for v in verdicts)
    assert [bool(b.get("logprobs")) for b in server.bodies] == [True, False, False, False]


def test_errors_are_data_and_not_journaled(tmp_path: Path) -> None:
    journal = tmp_path / "s.jsonl"
    with JudgeServer(lambda body: (500, "overloaded", None)) as server, make_stance_judge(
            base_url=server.url, model="j", journal=journal, max_retries=0) as judge:
        verdict = judge.judge(ITEMS[0])
    assert (verdict.status, verdict.stance) == ("error", "") and "500" in verdict.raw
    assert not journal.exists() or journal.read_text() == ""


def test_the_journal_means_no_judgement_is_paid_twice(tmp_path: Path) -> None:
    journal = tmp_path / "s.jsonl"
    with JudgeServer(by_marker) as server:
        with make_stance_judge(base_url=server.url, model="j", journal=journal) as judge:
            first = judge.judge_many(ITEMS)
        with make_stance_judge(base_url=server.url, model="j", journal=journal) as judge:
            second = judge.judge_many(ITEMS)
            assert (judge.calls, judge.cached) == (0, len(ITEMS))
        with make_stance_judge(base_url=server.url, model="other", journal=journal) as judge:
            judge.judge(ITEMS[0])
            assert judge.calls == 1  # another judge model is another judgement
    assert [(v.status, v.stance, v.probs) for v in first] == [(v.status, v.stance, v.probs) for v in second]
    assert all(v.cached for v in second)


def test_the_key_is_content_addressed() -> None:
    other = JudgeTemplate("default", DEFAULT_TEMPLATE.text + " ")
    params = {"temperature": 0, "max_tokens": 2, "logprobs": True}
    keys = {stance_key("m", DEFAULT_TEMPLATE, "p", params), stance_key("m2", DEFAULT_TEMPLATE, "p", params),
            stance_key("m", other, "p", params), stance_key("m", DEFAULT_TEMPLATE, "p2", params),
            stance_key("m", DEFAULT_TEMPLATE, "p", {**params, "max_tokens": 16})}
    assert len(keys) == 5


def test_a_refused_key_is_a_config_error_that_never_shows_the_key(tmp_path: Path) -> None:
    with JudgeServer(lambda body: (401, f"Incorrect API key provided: {KEY}", None)) as server, \
            make_stance_judge(base_url=server.url, model="j", api_key=KEY, journal=tmp_path / "s.jsonl") as judge, \
            pytest.raises(ConfigError) as err:
        judge.judge(ITEMS[0])
    assert KEY not in str(err.value) and "api_key_env" in str(err.value)
    with pytest.raises(ConfigError, match="needs model"):
        make_stance_judge(base_url="http://127.0.0.1:9/v1", model="")


def test_the_fake_servers_labelprobs_directive() -> None:
    """audit.fakeserver's scripted judge: the argmax as text; log-probabilities only when asked."""
    script = {"LABEL-1": "labelprobs:1=0.2,4=0.5,refusal=0.3"}
    with FakeOpenAI(script=script) as server:
        with make_stance_judge(base_url=server.url, model="j", logprobs=False) as judge:
            plain = judge.judge(ITEMS[0])
        with make_stance_judge(base_url=server.url, model="j", logprobs=True) as judge:
            probs = judge.judge(ITEMS[0])
    assert (plain.stance, plain.probs, plain.raw) == ("4", None, "4")
    assert probs.stance == "4" and probs.probs == pytest.approx(
        {"1": 0.2, "2": 0.0, "3": 0.0, "4": 0.5, "5": 0.0, "refusal": 0.3})
