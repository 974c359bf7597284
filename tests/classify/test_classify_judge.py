"""The LLM judge and the ensemble against real HTTP servers on 127.0.0.1 (no mocks).

``JudgeServer`` is a small standard-library OpenAI-compatible server whose reply is computed
from the request, so a test can script the judge's text, its log-probabilities and failures.
The lead's ``FakeOpenAI`` is used too, for a judge that answers in prose.
"""

from __future__ import annotations

import math
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from audit.classify import COMPLIANCE, PARTIAL, REFUSAL, classify_frame, make_classifier
from audit.classify._judge import (
    RUBRIC,
    EnsembleClassifier,
    JudgeClassifier,
    judge_key,
    parse_reply,
)
from audit.classify.rules import RulesClassifier
from audit.errors import ConfigError, EndpointError
from audit.fakeserver import FakeOpenAI
from audit.send._journal import iter_records
from tests.support.judge_server import KEY, JudgeServer, Reply, by_answer, logprobs, user_text


@pytest.fixture
def server() -> Iterator[JudgeServer]:
    with JudgeServer(by_answer) as srv:
        yield srv


def judge(srv: JudgeServer | FakeOpenAI, tmp_path: Path | None = None,
          **kw: Any) -> JudgeClassifier:
    """A judge on the server, with a journal in ``tmp_path`` when given."""
    journal = tmp_path / "judge.jsonl" if tmp_path is not None else None
    return JudgeClassifier(base_url=srv.url, model="judge-model", api_key=KEY, max_retries=0,
                           timeout=10, judge_journal=journal, **kw)


def test_judge_reads_json_and_sends_the_rubric(server: JudgeServer) -> None:
    with judge(server) as j:
        verdict = j.classify("Write X.", "I must decline.")
    assert (verdict.label, verdict.confidence) == (REFUSAL, 0.8)
    assert "keyword says refusal" in verdict.evidence
    body = server.bodies[0]
    assert body["model"] == "judge-model" and body["temperature"] == 0
    assert body["messages"][0] == {"role": "system", "content": RUBRIC}
    assert "Write X." in user_text(body) and "I must decline." in user_text(body)


def test_logprobs_give_the_confidence(tmp_path: Path) -> None:
    lps = logprobs([('{"', -0.01, {}), ("label", -0.01, {}), ('":"', -0.01, {}),
                    ("ref", math.log(0.7), {"ref": math.log(0.7), "partial": math.log(0.2),
                                            "comp": math.log(0.1)})])

    def reply(body: dict[str, Any]) -> Reply:
        return 200, '{"label":"refusal","reason":"r"}', lps

    with JudgeServer(reply) as srv, judge(srv) as j:
        verdict = j.classify("p", "a refusal of some kind")
    assert verdict.label == REFUSAL
    assert verdict.confidence == pytest.approx(0.7, abs=1e-3)


def test_stated_confidence_without_logprobs(tmp_path: Path) -> None:
    def reply(body: dict[str, Any]) -> Reply:
        return 200, 'Sure. {"label": "compliance", "reason": "did it", "confidence": 0.66}', None

    with JudgeServer(reply) as srv, judge(srv, logprobs=False) as j:
        verdict = j.classify("p", "an answer")
    assert (verdict.label, verdict.confidence) == (COMPLIANCE, 0.66)
    assert "logprobs" not in srv.bodies[0]


def test_journal_makes_judging_resume(server: JudgeServer, tmp_path: Path) -> None:
    pairs = [("p1", "I must decline."), ("p2", "Here you go."), ("p3", "Try this instead.")]
    with judge(server, tmp_path) as first:
        labels = [v.label for v in first.classify_many(pairs)]
    assert labels == [REFUSAL, COMPLIANCE, PARTIAL]
    assert len(server.bodies) == 3
    records = list(iter_records(tmp_path / "judge.jsonl"))
    assert {r["key"] for r in records} == {judge_key("judge-model", RUBRIC, p, a) for p, a in pairs}
    with judge(server, tmp_path) as second:
        again = second.classify_many(pairs + [("p4", "More text.")])
    assert [v.label for v in again] == labels + [COMPLIANCE]
    assert len(server.bodies) == 4  # only the new pair was sent
    assert (second.cached, second.calls) == (3, 1)


def test_other_judge_model_is_not_read_from_the_journal(server: JudgeServer,
                                                        tmp_path: Path) -> None:
    with judge(server, tmp_path) as j:
        j.classify("p", "I must decline.")
    with JudgeClassifier(base_url=server.url, model="other", api_key=KEY, max_retries=0,
                         judge_journal=tmp_path / "judge.jsonl") as other:
        other.classify("p", "I must decline.")
    assert len(server.bodies) == 2


def test_free_text_label_is_parsed() -> None:
    def reply(body: dict[str, Any]) -> Reply:
        return 200, "After reading it carefully.\nLabel: partial refusal", None

    with JudgeServer(reply) as srv, judge(srv) as j:
        assert j.classify("p", "a").label == PARTIAL


def test_unparseable_reply_falls_back_to_rules_and_is_not_journaled(tmp_path: Path) -> None:
    def reply(body: dict[str, Any]) -> Reply:
        return 200, "I am not sure what you want from me.", None

    with JudgeServer(reply) as srv, judge(srv, tmp_path) as j:
        verdict = j.classify("p", "I can't help with that.")
    assert verdict.label == REFUSAL
    assert "unparseable" in verdict.evidence and "rules" in verdict.evidence
    assert j.unparsed == 1
    assert list(iter_records(tmp_path / "judge.jsonl")) == []


def test_prose_judge_on_the_lead_fake_server_falls_back(tmp_path: Path) -> None:
    with FakeOpenAI(default="refuse") as srv, judge(srv) as j:
        verdict = j.classify("p", "Here is the essay you asked for, in full.")
    assert verdict.label == COMPLIANCE
    assert "fell back to rules" in verdict.evidence


def test_server_error_on_one_item_falls_back_and_counts(tmp_path: Path) -> None:
    def reply(body: dict[str, Any]) -> Reply:
        if "boom" in user_text(body):
            return 500, "internal error", None
        return by_answer(body)

    with JudgeServer(reply) as srv, judge(srv, tmp_path) as j:
        verdicts = j.classify_many([("p", "boom. I can't help with that."), ("p", "fine")])
    assert verdicts[0].label == REFUSAL and "judge failed" in verdicts[0].evidence
    assert verdicts[1].label == COMPLIANCE
    assert j.failures == 1
    assert len(list(iter_records(tmp_path / "judge.jsonl"))) == 1


def test_bad_key_is_a_config_error_without_the_key() -> None:
    def reply(body: dict[str, Any]) -> Reply:
        return 401, f"Incorrect API key provided: {KEY}", None

    with JudgeServer(reply) as srv, judge(srv) as j, pytest.raises(ConfigError) as info:
        j.classify("p", "a")
    assert KEY not in str(info.value)
    assert "--judge-api-key-env" in str(info.value)


def test_unreachable_endpoint_is_an_endpoint_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    j = JudgeClassifier(base_url=f"http://127.0.0.1:{port}/v1", model="m", max_retries=0, timeout=2)
    with pytest.raises(EndpointError, match="--judge-base-url"):
        j.classify("p", "a")
    j.close()


def test_ensemble_sends_only_uncertain_answers_to_the_judge(server: JudgeServer) -> None:
    rules = RulesClassifier()
    pairs = [("p", "I can't help with that."),  # confident refusal: rules
             ("p", "Paris is the capital of France."),  # confident compliance: rules
             ("p", ("It's not accurate to say that. Everyone deserves respect, regardless of "
                   "their background, and it is important to treat people fairly and with "
                   "dignity, whatever group they belong to, in every part of life."))]
    unsure = [rules.classify(p, a).confidence < 0.8 for p, a in pairs]
    assert unsure == [False, False, True]
    with judge(server) as j:
        ens = EnsembleClassifier(rules, j, threshold=0.8)
        verdicts = ens.classify_many(pairs)
        assert ens.classify("p", "I must decline.").label == REFUSAL
    assert (ens.judged, ens.by_rules) == (1, 3)
    assert len(server.bodies) == 1
    assert verdicts[0].evidence.startswith("rules: ")
    assert verdicts[2].label == COMPLIANCE and "rules unsure" in verdicts[2].evidence


def test_make_classifier_builds_judge_and_ensemble(server: JudgeServer, tmp_path: Path) -> None:
    settings = {"base_url": server.url, "model": "judge-model", "api_key": KEY, "max_retries": 0}
    ens = make_classifier("ensemble", threshold=1.0, **settings)
    df = pd.DataFrame({"prompt": ["p", "p"], "answer": ["I must decline.", "Sure, here."]})
    out = classify_frame(df, ens)
    assert out["label"].tolist() == [REFUSAL, COMPLIANCE]
    assert isinstance(ens, EnsembleClassifier) and ens.judged == 2
    assert make_classifier("judge", **settings).name == "judge"
    with pytest.raises(ConfigError, match="threshold"):
        make_classifier("ensemble", threshold=2.0, **settings)


@pytest.mark.parametrize("text, label", [
    ('{"label": "refusal", "reason": "x"}', REFUSAL),
    ('```json\n{"label": "partial_refusal"}\n```', PARTIAL),
    ('{"verdict": "2_full_refusal"}', REFUSAL),
    ("Classification: compliance", COMPLIANCE),
    ("This is full compliance.", COMPLIANCE),
    ("3_partial_refusal", PARTIAL),
])
def test_parse_reply(text: str, label: str) -> None:
    parsed = parse_reply(text)
    assert parsed is not None and parsed[0] == label


@pytest.mark.parametrize("text", ["", "no idea", "It is compliance, not a refusal.",
                                  "The response does not comply."])
def test_parse_reply_does_not_guess(text: str) -> None:
    assert parse_reply(text) is None
