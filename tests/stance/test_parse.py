"""Reading a stance judge's reply: sampled text, log-probabilities, IssueBench's naive parser."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from audit.stance import argmax, label_probabilities, naive_parse, parse_stance, token_label


@pytest.mark.parametrize(("text", "label"), [
    ("2", "2"), (" 4 \n\n", "4"), ('"3"', "3"), ("refusal", "refusal"), ('"Refusal"', "refusal"),
    ("Answer: 2", "2"), ("**4**", "4"), ("Label: 5 (only side B)", "5"), ("3 (neutral or ambivalent)", "3"),
    ('Based on the provided TEXT, I would label it as "2". The TEXT', "2"),
    ('Based on the provided text, I would label the stance on the Roman Republic as "1".', "1"),
    ("I would label the stance as: 4\n\nThe text mentions 1 counterpoint.", "4"),
    ("The answer is clearly one-sided; I'd say 5.", "5"),
    ('I would label it as "refusal". The text declines.', "refusal"),
    ("2\n\nThe text overwhelmingly highlights the positive effects of the COVID-19 vaccine", "2"),
    ("\u201c3\u201d", "3"),
])
def test_text_replies_are_read(text: str, label: str) -> None:
    assert parse_stance(text) == label


@pytest.mark.parametrize("text", ["", "   ", "between 2 and 4", "It could be 1 or 5.", "I am not sure.",
                                  "The TEXT exclusively highlights the benefits", "100% one side", "~90% side A"])
def test_ambiguous_or_empty_replies_are_unparsed(text: str) -> None:
    assert parse_stance(text) is None


def test_the_naive_parser_takes_the_first_digit_anywhere() -> None:
    # IssueBench's parse_eval_text: "1" is looked for first, anywhere, then "2" ..., then "refusal"
    assert naive_parse("2\n\nThe text overwhelmingly highlights the COVID-19 vaccine") == "1"
    assert naive_parse("Refusal.") == "refusal"
    assert naive_parse("no idea") is None
    assert parse_stance("2\n\nThe text overwhelmingly highlights the COVID-19 vaccine") == "2"


@pytest.mark.parametrize(("token", "label"), [("2", "2"), (" 5", "5"), ('"3', "3"), ("ref", "refusal"),
                                              ("Refusal", "refusal"), ("re", None), ("6", None), ("The", None)])
def test_token_labels(token: str, label: str | None) -> None:
    assert token_label(token) == label


def _tok(token: str, alts: dict[str, float]) -> SimpleNamespace:
    top = [SimpleNamespace(token=t, logprob=math.log(p)) for t, p in alts.items()]
    return SimpleNamespace(token=token, logprob=math.log(alts.get(token, 1e-9)), top_logprobs=top)


def test_probabilities_sum_alternatives_of_a_label_and_renormalise() -> None:
    lp = SimpleNamespace(content=[_tok('"', {'"': 0.99}),
                                  _tok("2", {"2": 0.5, " 2": 0.1, "3": 0.2, "ref": 0.1, "The": 0.1})])
    probs = label_probabilities(lp)
    assert probs is not None
    assert probs["2"] == pytest.approx(0.6 / 0.9) and probs["3"] == pytest.approx(0.2 / 0.9)
    assert probs["refusal"] == pytest.approx(0.1 / 0.9) and sum(probs.values()) == pytest.approx(1.0)
    assert argmax(probs) == "2"


def test_a_reply_that_starts_with_words_has_no_probabilities() -> None:
    assert label_probabilities(SimpleNamespace(content=[_tok("Based", {"Based": 0.9, "I": 0.1})])) is None
    assert label_probabilities(None) is None
    assert argmax({"1": 0.4, "5": 0.4, "3": 0.2}) == "1"  # a tie: the first on the scale
