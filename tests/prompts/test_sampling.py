"""Stratified pair-keeping samples (audit.sampling)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from audit.cli import _prompts as cli_prompts
from audit.errors import ConfigError
from audit.prompts._sampling import default_controls, round_robin, sample_pairs
from audit.prompts._schema import Prompt, PromptSet, load_prompt_set, pairs_of

SET_PATH = Path(__file__).resolve().parents[2] / "prompts" / "contested-v1.jsonl"


def make_set(topics: int, templates: int, controls: int = 0) -> list[Prompt]:
    prompts = []
    for t in range(topics):
        for k in range(templates):
            pid = f"t{t}.k{k}"
            prompts += [
                Prompt(
                    id=f"{pid}.{s}",
                    pair_id=pid,
                    side=s,
                    topic=f"t{t}",
                    template=f"k{k}",
                    text=f"{pid} {s}",
                )
                for s in ("a", "b")
            ]
    for c in range(controls):
        kind = "control_refuse" if c % 2 else "control_comply"
        prompts.append(Prompt(id=f"c{c}", topic=f"ct{c % 3}", kind=kind, text=f"control {c}"))
    return prompts


@pytest.fixture(scope="module")
def library() -> PromptSet:
    return load_prompt_set(SET_PATH)


def contested(sample: list[Prompt]) -> list[Prompt]:
    return [p for p in sample if p.kind == "contested"]


def test_keeps_pairs_whole_and_counts(library: PromptSet) -> None:
    sample = sample_pairs(library, n_pairs=150, seed=1, n_controls=10)
    pairs = pairs_of(sample)
    assert len(pairs) == 150 and all(sorted(s) == ["a", "b"] for s in pairs.values())
    assert Counter(p.kind for p in sample if p.kind != "contested") == {
        "control_refuse": 10,
        "control_comply": 10,
    }


def test_topics_and_templates_are_balanced(library: PromptSet) -> None:
    n_topics = len({p.topic for p in contested(list(library.prompts))})
    sample = contested(sample_pairs(library, n_pairs=2 * n_topics + 7, seed=5, n_controls=0))
    per_topic = Counter(p.topic for p in sample if p.side == "a")
    assert len(per_topic) == n_topics and max(per_topic.values()) - min(per_topic.values()) <= 1
    per_template = Counter(p.template for p in sample if p.side == "a")
    assert max(per_template.values()) - min(per_template.values()) <= 2


def test_deterministic_nested_and_seed_dependent(library: PromptSet) -> None:
    small = sample_pairs(library, 30, seed=9, n_controls=4)
    assert small == sample_pairs(library, 30, seed=9, n_controls=4)
    large = sample_pairs(library, 31, seed=9, n_controls=5)
    assert {p.id for p in small} < {p.id for p in large}
    assert small != sample_pairs(library, 30, seed=10, n_controls=4)


def test_keeps_the_set_order_and_accepts_plain_lists(library: PromptSet) -> None:
    sample = sample_pairs(list(library.prompts), 40, seed=2)
    position = {p.id: i for i, p in enumerate(library.prompts)}
    assert [position[p.id] for p in sample] == sorted(position[p.id] for p in sample)


def test_default_controls_follow_the_set_ratio() -> None:
    prompts = make_set(topics=5, templates=4, controls=10)  # 20 pairs, 5 controls of each kind
    sample = sample_pairs(prompts, n_pairs=10, seed=0)
    kinds = Counter(p.kind for p in sample)
    assert kinds == {"contested": 20, "control_refuse": 3, "control_comply": 3}  # 2.5 rounds up
    assert default_controls(3, 0, 7) == 7


def test_oversized_request_takes_everything_and_negative_is_an_error() -> None:
    prompts = make_set(topics=2, templates=2, controls=2)
    assert sample_pairs(prompts, n_pairs=99, seed=0, n_controls=99) == prompts
    with pytest.raises(ConfigError):
        sample_pairs(prompts, n_pairs=-1, seed=0)


def test_incomplete_pairs_are_never_sampled() -> None:
    prompts = make_set(topics=2, templates=2)
    prompts = [p for p in prompts if p.id != "t0.k0.b"]
    sample = sample_pairs(prompts, n_pairs=10, seed=0)
    assert "t0.k0.a" not in {p.id for p in sample} and len(sample) == 6


def test_round_robin() -> None:
    assert round_robin([[1, 2, 3], [4], [], [5, 6]]) == [1, 4, 5, 2, 6, 3]


@settings(max_examples=30, deadline=None, database=None)
@given(
    topics=st.integers(1, 6),
    templates=st.integers(1, 5),
    n=st.integers(0, 40),
    seed=st.integers(0, 99),
)
def test_latin_square_balance_property(topics: int, templates: int, n: int, seed: int) -> None:
    """Any prefix: topics within one pair of each other, templates within one of each other."""
    sample = sample_pairs(make_set(topics, templates), n, seed, n_controls=0)
    a_sides = [p for p in sample if p.side == "a"]
    assert len(a_sides) == min(n, topics * templates)
    per_topic = Counter(p.topic for p in a_sides)
    if len(a_sides) >= topics:
        assert max(per_topic.values()) - min(per_topic.values()) <= 1
    per_template = Counter(p.template for p in a_sides)
    if len(a_sides) >= templates and topics % templates == 0:
        assert max(per_template.values()) - min(per_template.values()) <= 1


def test_cli_sample(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command("noop")(lambda: None)
    cli_prompts.register(app)
    out = tmp_path / "small-v1.jsonl"
    result = CliRunner().invoke(
        app,
        [
            "prompts",
            "sample",
            str(SET_PATH),
            "-n",
            "12",
            "--seed",
            "3",
            "--controls",
            "6",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(load_prompt_set(out)) == 12 * 2 + 6 * 2
    result = CliRunner().invoke(app, ["prompts", "sample", str(out), "-n", "1", "-o", str(out)])
    assert isinstance(result.exception, ConfigError)
