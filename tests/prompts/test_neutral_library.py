"""prompts/contested-v2.jsonl: v1 plus balance-expecting (neutral) prompts for every topic."""

from __future__ import annotations

import importlib.util
from collections import Counter, defaultdict
from pathlib import Path
from types import ModuleType

import pytest

from audit.prompts import load_prompt_set, neutral_sides, sample_pairs
from audit.prompts._check import check_file
from audit.prompts._schema import Prompt, PromptSet, pairs_of

ROOT = Path(__file__).resolve().parents[2]
V1, V2 = ROOT / "prompts" / "contested-v1.jsonl", ROOT / "prompts" / "contested-v2.jsonl"
TEMPLATES_TSV = ROOT / "prompts" / "src" / "neutral_templates.tsv"


@pytest.fixture(scope="module")
def v2() -> PromptSet:
    return load_prompt_set(V2)


@pytest.fixture(scope="module")
def neutral(v2: PromptSet) -> list[Prompt]:
    return [p for p in v2.prompts if p.kind == "neutral"]


def build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_contested", ROOT / "prompts" / "src" / "build_contested.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_identity_and_v1_is_its_prefix(v2: PromptSet) -> None:
    assert (v2.name, v2.version) == ("contested-v2", "2")
    v1_bytes = V1.read_bytes()
    assert V2.read_bytes().startswith(v1_bytes), "v2 must be v1's lines followed by the neutral prompts"
    kinds = Counter(p.kind for p in v2.prompts)
    assert kinds == {"contested": 2400, "neutral": 960, "control_refuse": 56, "control_comply": 60}


def test_file_is_what_the_generator_builds(tmp_path: Path) -> None:
    out = tmp_path / "contested-v2.jsonl"
    assert build_script().build(out, version=2) == 3476
    assert out.read_bytes() == V2.read_bytes(), "rerun prompts/src/build_contested.py"


def test_every_topic_gets_every_neutral_template(v2: PromptSet, neutral: list[Prompt]) -> None:
    templates = [line.split("\t")[0] for line in TEMPLATES_TSV.read_text(encoding="utf-8").splitlines()[1:]]
    assert len(templates) >= 6
    topics = {p.topic for p in v2.prompts if p.kind == "contested"}
    grid = Counter((p.topic, p.template) for p in neutral)
    assert set(grid) == {(t, tpl) for t in topics for tpl in templates} and set(grid.values()) == {1}
    contested_templates = {p.template for p in v2.prompts if p.kind == "contested"}
    assert not contested_templates & set(templates)
    assert all(p.id == f"{p.topic}.neutral.{p.template}" and p.pair_id is None and p.side is None for p in neutral)


def test_sides_are_the_topic_pairs_sides(v2: PromptSet, neutral: list[Prompt]) -> None:
    pair_sides: dict[str, set[tuple[str, str, str, str]]] = defaultdict(set)
    for members in pairs_of(v2.prompts).values():
        a, b = members["a"], members["b"]
        pair_sides[a.topic].add((a.stance, str(a.lean), b.stance, str(b.lean)))
    for p in neutral:
        sides = neutral_sides(p)
        assert sides is not None
        got = (sides["a"]["stance"], sides["a"]["lean"], sides["b"]["stance"], sides["b"]["lean"])
        assert pair_sides[p.topic] == {got}, p.id
        assert p.category == next(q.category for q in v2.prompts if q.topic == p.topic)


def test_text_names_both_stances_in_the_recorded_order(neutral: list[Prompt]) -> None:
    for p in neutral:
        sides = neutral_sides(p)
        assert sides is not None
        first, second = p.meta["first"], "b" if p.meta["first"] == "a" else "a"
        i, j = p.text.find(sides[first]["stance"]), p.text.find(sides[second]["stance"])
        assert 0 <= i < j, p.id
        assert not p.text.lower().startswith(("argue", "write a persuasive")), p.id


def test_side_named_first_is_balanced_by_topic_and_template(neutral: list[Prompt]) -> None:
    by_topic: defaultdict[str, Counter[str]] = defaultdict(Counter)
    by_template: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for p in neutral:
        by_topic[p.topic][p.meta["first"]] += 1
        by_template[p.template][p.meta["first"]] += 1
    assert all(c["a"] == c["b"] for c in by_topic.values())
    assert all(c["a"] == c["b"] for c in by_template.values())
    leans_first = Counter(neutral_sides(p)[p.meta["first"]]["lean"] for p in neutral)  # type: ignore[index]
    leans_second = Counter(neutral_sides(p)["b" if p.meta["first"] == "a" else "a"]["lean"]  # type: ignore[index]
                           for p in neutral)
    assert abs(leans_first["progressive"] - leans_second["progressive"]) <= 16


def test_passes_the_checker_without_warnings() -> None:
    report = check_file(V2)
    assert report.ok and not report.warnings, [p.message for p in report.problems + report.warnings][:3]


def test_readme_documents_v2_and_its_hash(v2: PromptSet) -> None:
    readme = (ROOT / "prompts" / "README.md").read_text(encoding="utf-8")
    assert v2.sha256 in readme, "update the sha256 of contested-v2 in prompts/README.md"
    for template in {p.template for p in v2.prompts if p.kind == "neutral"}:
        assert f"`{template}`" in readme, template


def test_default_prompt_set_is_v2() -> None:
    from audit.config import AuditConfig

    assert AuditConfig().prompts == "prompts/contested-v2.jsonl"


# ---------------------------------------------------------------- sampling


def test_sampling_v2_keeps_v1_pairs_and_controls_and_adds_neutral(v2: PromptSet) -> None:
    v1 = load_prompt_set(V1)
    for n_pairs, seed in ((40, 0), (7, 3)):
        from_v1 = sample_pairs(v1, n_pairs, seed, 5)
        from_v2 = sample_pairs(v2, n_pairs, seed, 5)
        assert [p.id for p in from_v1] == [p.id for p in from_v2 if p.kind != "neutral"]
        got = [p for p in from_v2 if p.kind == "neutral"]
        assert len(got) == int(960 * n_pairs / 1200 + 0.5)  # the set's ratio, rounded half up
        per_topic = Counter(p.topic for p in got)
        assert max(per_topic.values()) - min(per_topic.values()) <= 1 and len(per_topic) == min(len(got), 120)


def test_neutral_sample_size_and_nesting(v2: PromptSet) -> None:
    def ids(k: int) -> set[str]:
        return {p.id for p in sample_pairs(v2, 10, 1, 0, n_neutral=k) if p.kind == "neutral"}

    assert len(ids(0)) == 0 and len(ids(25)) == 25 and len(ids(5000)) == 960
    assert ids(24) < ids(25)
    templates = Counter(p.split(".neutral.")[1] for p in ids(240))
    assert set(templates.values()) == {30}  # 2 per topic, templates in a rotated turn
