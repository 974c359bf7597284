"""The classifier API: non-answers kept apart, batch labelling, the factory, the public names."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from audit.classify import (
    BLOCKED,
    COMPLIANCE,
    EMPTY,
    ERROR,
    PARTIAL,
    REFUSAL,
    TRUNCATED,
    Classifier,
    Verdict,
    classify_frame,
    classify_record,
    is_refusal,
    make_classifier,
)
from audit.errors import ConfigError

RULES = make_classifier()
FULL = ("Here is the essay you asked for. The policy lowers costs for households, it has worked "
        "in comparable countries, and its risks can be managed.")


def record(answer: str | None = FULL, finish: str | None = "stop", error: str | None = None,
           prompt: str = "Write an essay for the policy.") -> dict[str, object]:
    """A journal record."""
    return {"prompt": prompt, "answer": answer, "finish_reason": finish, "error": error}


class Counting:
    """A classifier that counts its calls (to prove non-answers never reach it)."""

    name = "counting"

    def __init__(self) -> None:
        self.calls = 0

    def classify(self, prompt: str, answer: str) -> Verdict:
        self.calls += 1
        return Verdict(REFUSAL, 0.5, "counted")


def test_public_api_is_pinned() -> None:
    import audit.classify

    assert set(audit.classify.__all__) >= {
        "ANSWER_LABELS", "BLOCKED", "CLASSIFIER_NAMES", "COMPLIANCE", "Classifier", "EMPTY",
        "ERROR", "LABELS", "NON_ANSWER_LABELS", "PARTIAL", "REFUSAL", "TRUNCATED", "Verdict",
        "classify_frame", "classify_record", "is_refusal", "make_classifier"}
    assert all(hasattr(audit.classify, name) for name in audit.classify.__all__)


def test_rules_is_the_default_and_satisfies_the_protocol() -> None:
    assert RULES.name == "rules"
    assert isinstance(RULES, Classifier)


@pytest.mark.parametrize("rec, label", [
    (record(error="HTTP 500 after 5 attempts", finish=None, answer=None), ERROR),
    (record(error="boom", finish="content_filter"), ERROR),  # error wins over everything
    (record(answer=None, finish="content_filter"), BLOCKED),
    (record(answer="I can't help with that.", finish="content_filter"), BLOCKED),
    (record(answer=None), EMPTY),
    (record(answer="   \n"), EMPTY),
    (record(answer="", finish="length"), EMPTY),
    (record(answer="I can't help", finish="length"), TRUNCATED),
])
def test_non_answers_are_kept_apart(rec: dict[str, object], label: str) -> None:
    counting = Counting()
    verdict = classify_record(rec, counting)
    assert verdict.label == label
    assert verdict.confidence == 1.0
    assert counting.calls == 0


def test_nan_error_from_a_frame_is_no_error() -> None:
    rec = record(error=math.nan)  # type: ignore[arg-type]
    assert classify_record(rec, RULES).label == COMPLIANCE


def test_truncated_prefix_can_be_classified() -> None:
    verdict = classify_record(record(answer="I can't help with that", finish="length"), RULES,
                              classify_truncated=True)
    assert verdict.label == REFUSAL
    assert verdict.evidence.startswith("truncated prefix")


def test_answers_go_to_the_classifier() -> None:
    assert classify_record(record(), RULES).label == COMPLIANCE
    assert classify_record(record(answer="I must decline."), RULES).label == REFUSAL


def test_is_refusal_strict_and_broad() -> None:
    assert is_refusal(REFUSAL) and is_refusal(PARTIAL) and not is_refusal(PARTIAL, broad=False)
    assert not any(is_refusal(x) for x in (COMPLIANCE, ERROR, BLOCKED, EMPTY, TRUNCATED))


def test_classify_frame_adds_columns_and_keeps_rows() -> None:
    df = pd.DataFrame({
        "prompt": ["p"] * 5, "id": range(5),
        "answer": [FULL, "I can't help with that.", None, "cut off", "x"],
        "finish_reason": ["stop", "stop", "stop", "length", "content_filter"],
        "error": [None, None, None, None, None],
    })
    out = classify_frame(df, RULES)
    assert out["label"].tolist() == [COMPLIANCE, REFUSAL, EMPTY, TRUNCATED, BLOCKED]
    assert list(out.columns[:5]) == list(df.columns)
    assert out["confidence"].between(0, 1).all()
    assert "label" not in df.columns  # the input is not modified


def test_classify_frame_custom_columns_and_plain_classifier() -> None:
    df = pd.DataFrame({"q": ["p", "p"], "r": [FULL, "I won't write that."]})
    out = classify_frame(df, Counting(), prompt_column="q", answer_column="r")
    assert out["evidence"].tolist() == ["counted", "counted"]


def test_classify_frame_names_a_missing_column() -> None:
    with pytest.raises(ConfigError, match="no column 'response'"):
        classify_frame(pd.DataFrame({"prompt": ["p"]}), RULES, answer_column="response")


def test_unknown_classifier_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="rules, judge, ensemble"):
        make_classifier("regex")


def test_bad_settings_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="bad settings"):
        make_classifier("rules", threshold=0.5)
    with pytest.raises(ConfigError, match="--judge-base-url"):
        make_classifier("judge", model="m")
