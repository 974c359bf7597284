"""The shipped set prompts/contested-v1.jsonl: coverage, symmetry, balance, reproducibility."""

from __future__ import annotations

import importlib.util
import re
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from audit.prompts._check import check_file
from audit.prompts._schema import Prompt, PromptSet, load_prompt_set, pairs_of

ROOT = Path(__file__).resolve().parents[2]
SET_PATH = ROOT / "prompts" / "contested-v1.jsonl"
CATEGORIES = {
    "social issues",
    "economics",
    "immigration",
    "crime and policing",
    "health and bioethics",
    "environment and energy",
    "guns",
    "religion and state",
    "gender and sexuality",
    "speech and media",
    "foreign affairs and conflicts",
    "elections and democracy",
    "technology and AI policy",
    "history and memory",
}
LEANS = {"progressive", "conservative", "libertarian", "other", "n/a"}


@pytest.fixture(scope="module")
def prompt_set() -> PromptSet:
    return load_prompt_set(SET_PATH)


@pytest.fixture(scope="module")
def contested(prompt_set: PromptSet) -> list[Prompt]:
    return [p for p in prompt_set.prompts if p.kind == "contested"]


def build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "build_contested", ROOT / "prompts" / "src" / "build_contested.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_identity(prompt_set: PromptSet) -> None:
    assert (prompt_set.name, prompt_set.version) == ("contested-v1", "1")
    assert len(prompt_set.sha256) == 64


def test_passes_the_balance_checker() -> None:
    report = check_file(SET_PATH)
    assert report.ok, [p.message for p in report.problems]


def test_file_is_what_the_generator_builds(tmp_path: Path) -> None:
    out = tmp_path / "contested-v1.jsonl"
    build_script().build(out)
    assert out.read_bytes() == SET_PATH.read_bytes(), "rerun prompts/src/build_contested.py"


def test_coverage(contested: list[Prompt]) -> None:
    topics = {p.topic for p in contested}
    assert len(topics) >= 80
    assert {p.category for p in contested} == CATEGORIES
    assert len({p.template for p in contested}) >= 8
    per_topic = Counter(p.topic for p in contested)
    assert len(set(per_topic.values())) == 1, "every topic has every template"


def test_not_only_us_politics(contested: list[Prompt]) -> None:
    regions = {p.topic: p.meta["region"] for p in contested}
    us_only = [t for t, r in regions.items() if r == "United States"]
    assert len(us_only) < len(regions) / 4
    text = " ".join(regions.values())
    for place in ("Europe", "India", "China", "Africa", "Brazil", "Argentina", "Japan", "Nigeria"):
        assert place in text


def test_controls(prompt_set: PromptSet) -> None:
    kinds = Counter(p.kind for p in prompt_set.prompts)
    assert kinds["control_refuse"] >= 50 and kinds["control_comply"] >= 50
    for p in prompt_set.prompts:
        if p.kind != "contested":
            assert p.pair_id is None and p.side is None and p.lean is None
            assert re.fullmatch(r"control\.(refuse|comply)\.[a-z-]+\.\d\d", p.id)


def test_ids_are_topic_template_side(contested: list[Prompt]) -> None:
    for p in contested:
        assert p.id == f"{p.topic}.{p.template}.{p.side}" and p.pair_id == f"{p.topic}.{p.template}"


def test_sides_use_the_same_template_text(contested: list[Prompt]) -> None:
    for sides in pairs_of(contested).values():
        a, b = sides["a"], sides["b"]
        assert a.stance != b.stance and a.stance in a.text and b.stance in b.text
        assert a.text.replace(a.stance, "{stance}") == b.text.replace(b.stance, "{stance}")


def test_stances_are_the_same_length_class(contested: list[Prompt]) -> None:
    for sides in pairs_of(contested).values():
        lengths = sorted(len(s.stance) for s in sides.values())
        assert lengths[1] / lengths[0] <= 1.3, sides["a"].pair_id


def test_each_topic_keeps_its_stance_on_one_side(contested: list[Prompt]) -> None:
    stances = {(p.topic, p.side): set() for p in contested}
    for p in contested:
        stances[(p.topic, p.side)].add(p.stance)
    assert all(len(s) == 1 for s in stances.values())


def test_side_a_is_not_always_the_same_lean(contested: list[Prompt]) -> None:
    assert {p.lean for p in contested} <= LEANS
    lean_a = Counter(p.lean for p in contested if p.side == "a")
    lean_b = Counter(p.lean for p in contested if p.side == "b")
    assert lean_a["progressive"] == lean_b["progressive"] > 0
    assert abs(lean_a["conservative"] - lean_b["conservative"]) <= 10


def test_readme_documents_every_topic_and_the_hash(prompt_set: PromptSet) -> None:
    readme = (ROOT / "prompts" / "README.md").read_text(encoding="utf-8")
    for topic in {p.topic for p in prompt_set.prompts if p.kind == "contested"}:
        assert f"`{topic}`" in readme, topic
    assert prompt_set.sha256 in readme, "update the sha256 in prompts/README.md"
