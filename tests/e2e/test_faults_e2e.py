"""Every fault kind end to end: `refusal-audit run` (CLI → Prefect flow → runner → journal →
labels → run folder) against the fake server, with one prompt set that stages each fault."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from audit.cli import main
from audit.fakeserver import FakeOpenAI, decide, last_user_text
from tests.support.prompt_sets import control_line, pair_lines, write_set

MAX_RETRIES = 2  # so a request that always fails is sent 3 times

# pair topic -> (directive on side a, directive on side b)
PAIRS = {
    "rates": ("429x:1:1", "429nora:1"),  # 429 with Retry-After: 1, then without; then success
    "fives": ("5xx:1:500", "5xx:1:502"),  # 500 / 502 once, then success
    "overload": ("5xx:1", "resetx:1"),  # 503 once / connection reset once, then success
    "hangs": ("hang", "reset"),  # client timeout every time / reset mid-response every time
    "broken": ("malformed", "nochoices"),  # 200 with a body that is not JSON / with no choices
    "blanks": ("empty", "length"),  # empty content / cut at max_tokens
    "filters": ("filter", "comply"),  # content_filter / a plain answer
    "answers": ("refuse", "partial"),  # a refusal / a partial refusal
}
# directive -> (label, how many times the server sees the request)
EXPECTED = {
    "429x:1:1": ("compliance", 2), "429nora:1": ("compliance", 2),
    "5xx:1:500": ("compliance", 2), "5xx:1:502": ("compliance", 2),
    "5xx:1": ("compliance", 2), "resetx:1": ("compliance", 2),
    "hang": ("error", MAX_RETRIES + 1), "reset": ("error", MAX_RETRIES + 1),
    "malformed": ("error", MAX_RETRIES + 1), "nochoices": ("error", MAX_RETRIES + 1),
    "empty": ("empty", 1), "length": ("truncated", 1), "filter": ("blocked", 1),
    "comply": ("compliance", 1), "refuse": ("refusal", 1), "partial": ("partial_refusal", 1),
}


def fault_set(path: Path) -> tuple[Path, dict[str, str]]:
    """The prompt set, and the directive of each prompt id."""
    lines: list[dict[str, object]] = []
    for topic, (a, b) in PAIRS.items():
        lines += pair_lines(topic, "argue", a, b)
    lines += [control_line(0, "control_refuse", "refuse"), control_line(0, "control_comply", "comply")]
    directive = {str(x["id"]): str(x["text"]).split("[[")[1].rstrip("].") for x in lines}
    return write_set(path, lines), directive


@pytest.mark.usefixtures("prefect_env")
def test_every_fault_kind_through_the_cli(tmp_path: Path, fake_server: FakeOpenAI) -> None:
    prompts, directive_of = fault_set(tmp_path / "faults.jsonl")
    cfg = tmp_path / "audit.toml"
    cfg.write_text(f'prompts = "{prompts}"\nmax_error_rate = 1  # the faults are staged: 4 of 18 fail\n'
                   f'[[targets]]\nname = "fake"\nbase_url = "{fake_server.url}"\n'
                   f'model = "fake-model"\ntimeout = 0.5\nmax_retries = {MAX_RETRIES}\nconcurrency = 8\n')
    code = main(["run", str(cfg), "--reports-dir", str(tmp_path / "reports"), "--no-progress", "--run-id", "faults"])
    assert code == 0
    run_dir = tmp_path / "reports" / "faults"

    # one row per request, each labelled as what it is; a non-answer is never a refusal
    responses = pd.read_csv(run_dir / "responses.csv", keep_default_na=False)
    assert len(responses) == len(directive_of) == 18 and responses["request_id"].is_unique
    got = {pid: directive_of[pid] for pid in responses["prompt_id"]}
    labels = dict(zip(responses["prompt_id"], responses["label"], strict=True))
    assert {pid: labels[pid] for pid in got} == {pid: EXPECTED[d][0] for pid, d in got.items()}
    errors = responses.set_index("prompt_id")["error"]
    assert all(errors[pid] != "" for pid, d in got.items() if EXPECTED[d][0] == "error")
    assert all(errors[pid] == "" for pid, d in got.items() if EXPECTED[d][0] != "error")

    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "completed" and meta["answers"] == 18
    counts = {k: v for k, v in meta["labels"].items() if v}
    assert counts == {"compliance": 8, "refusal": 2, "partial_refusal": 1,
                      "error": 4, "empty": 1, "truncated": 1, "blocked": 1}

    # the server saw each request exactly as often as staged: N failures, then exactly one
    # success (nothing sent again after it); a request that always fails, 1 + max_retries times
    bodies = Counter(json.dumps(b, sort_keys=True) for b in fake_server.state.log)
    assert len(bodies) == 18  # one distinct body per request: counting by prompt text is the same
    seen = Counter(last_user_text(b) for b in fake_server.state.log)
    text_of = dict(zip(responses["prompt_id"], responses["prompt"], strict=True))
    assert {pid: seen[text_of[pid]] for pid in got} == {pid: EXPECTED[d][1] for pid, d in got.items()}
    attempts = dict(zip(responses["prompt_id"], responses["attempts"], strict=True))
    assert attempts == {pid: seen[text_of[pid]] for pid in got}  # the client counted the same
    latency = dict(zip(responses["prompt_id"], responses["latency_s"], strict=True))
    assert latency["rates.argue.a"] >= 1.0  # Retry-After: 1 was waited out
    assert latency["hangs.argue.a"] >= 0.5 * (MAX_RETRIES + 1)  # each attempt waited out its timeout

    # the report shows the non-answers apart
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "Errors and non-answers" in html
    for needle in ("APITimeoutError", "JSONDecodeError", "BadResponse", "APIConnectionError"):
        assert needle in html, needle


@pytest.mark.usefixtures("prefect_env")
def test_the_timeout_bounds_an_answer_that_trickles_in(tmp_path: Path, fake_server: FakeOpenAI) -> None:
    """httpx's timeout is per read: a body sent a byte every 0.3 s never trips it (this one would
    take 2-3 minutes). ``--timeout`` bounds each attempt as a whole, and counts as a timeout."""
    import time

    lines = pair_lines("drip", "argue", "trickle:0.3", "comply")
    lines += [control_line(0, "control_refuse", "refuse"), control_line(0, "control_comply", "comply")]
    prompts = write_set(tmp_path / "drip.jsonl", lines)
    cfg = tmp_path / "audit.toml"
    cfg.write_text(f'prompts = "{prompts}"\n[[targets]]\nname = "drip"\nbase_url = "{fake_server.url}"\n'
                   'model = "fake-model"\nmax_retries = 1\n')
    started = time.monotonic()
    code = main(["run", str(cfg), "--timeout", "1", "--max-error-rate", "1", "--reports-dir",
                 str(tmp_path / "reports"), "--no-progress", "--run-id", "drip"])
    elapsed = time.monotonic() - started
    assert code == 0 and elapsed < 30, elapsed
    responses = pd.read_csv(tmp_path / "reports" / "drip" / "responses.csv", keep_default_na=False).set_index("prompt_id")
    slow = responses.loc["drip.argue.a"]
    assert slow["label"] == "error" and slow["error"].startswith("APITimeoutError") and slow["attempts"] == 2
    assert 2.0 <= slow["latency_s"] < 5.0  # two attempts of 1 s, and the backoff between them
    assert set(responses.drop(index="drip.argue.a")["label"]) == {"compliance", "refusal"}


@pytest.mark.parametrize("directive,arg,seen,status,header", [
    ("429x", "2", 2, 429, ("retry-after", "0")),  # unchanged: Retry-After 0
    ("429x", "2", 3, 200, None),
    ("429x", "2:3", 1, 429, ("retry-after", "3")),
    ("429ms", "1:250", 1, 429, ("retry-after-ms", "250")),
    ("429nora", "1", 1, 429, None),
    ("5xx", "2", 2, 503, None),  # unchanged: 503
    ("5xx", "1:502", 1, 502, None),
    ("5xx", "1:500", 2, 200, None),
    ("status", "502", 9, 502, None),
])
def test_fake_server_fault_directives(directive: str, arg: str, seen: int, status: int,
                                      header: tuple[str, str] | None) -> None:
    reply = decide(directive, arg, seen, "m", "text")
    assert reply.status == status
    if header:
        assert reply.headers == dict([header])
    else:
        assert "retry-after" not in reply.headers and "retry-after-ms" not in reply.headers


def test_fake_server_say_answers_verbatim() -> None:
    text = '=HYPERLINK("http://x.example/a:b","go")'
    body = json.loads(decide("say", text, 1, "m", "prompt").body)
    assert body["choices"][0]["message"]["content"] == text
    assert body["choices"][0]["finish_reason"] == "stop"
