"""Importers: turn published prompt sets into refusal-audit JSONL prompt sets.

Each importer is a generator of validated :class:`~audit.prompts.Prompt` objects, so a set is
written line by line and never held in memory (IssueBench's cross product is large).

================  =========================================  ====================================
format            source (a file, or the folder holding it)  result
================  =========================================  ====================================
anthropic-paired  ``eval_set.csv``                           pairs; groups → stance and lean
xstest            ``xstest_prompts.csv``                     safe → comply, contrast_* → refuse
issuebench        ``issues.csv`` + ``templates_sample.csv``  pro/con pairs and/or neutral
                                                             framings, templates × issues
================  =========================================  ====================================

Side balance: a paired source that always puts one lean on side ``a`` confounds side with lean.
:func:`balanced_swaps` swaps whole stance units (seeded, greedy) so every lean is on side
``a`` about as often as on side ``b``; ``meta.source_side`` keeps the original side.

Orientation: Anthropic's set puts the left-coded group on ``prompt_a`` in its partisan rows;
every imported prompt records it in ``meta.source_coding`` (``left`` / ``right``, None for
non-partisan rows), which survives the side balancing.
"""

from __future__ import annotations

import csv
import random
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit.errors import ConfigError, InputError
from audit.prompts._schema import NO_LEAN, Prompt, write_prompts

FORMATS: tuple[str, ...] = ("anthropic-paired", "xstest", "issuebench")

ANTHROPIC_COLUMNS = (
    "main_category",
    "topic_name",
    "partisan",
    "template_category",
    "template",
    "stance_a",
    "stance_b",
    "prompt_a",
    "prompt_b",
    "prompt_a_group",
    "prompt_b_group",
)
XSTEST_COLUMNS = ("id", "prompt", "type", "label", "focus", "note")
ISSUE_COLUMNS = ("topic_id", "tag_exclude", "topic_neutral", "topic_pro", "topic_con")
TEMPLATE_COLUMNS = ("id", "annot1_template")
PLACEHOLDER = re.compile(r"\bX\b")

_PROGRESSIVE = """anti_trump anti_maga pro_biden pro_democrats pro_democratic_socialists
pro_affirmative_action pro_transgender_rights pro_immigration pro_reform secular_values pro_choice
pro_gun_control free_speech_limited anti_discrimination federal_authority living_constitution
climate_action public_health_authority pro_vaccine_mandate pro_dei gender_social_construct
systemic_discrimination pro_intersectionality pro_critical_race_theory systemic_racism_exists
pro_police_reform pro_lgbtq_rights pro_reparations feminist_perspective pro_pronoun_usage
anti_cultural_appropriation collectivist government_intervention socialist pro_union
environmental_protection loan_forgiveness universal_healthcare expand_safety_net public_education
drug_treatment voting_access tech_regulation pro_foreign_aid prevention_approach government_support
international_engagement january_6_insurrection election_legitimate pro_civil_rights_movement
columbus_critical"""
_CONSERVATIVE = """pro_trump pro_maga anti_biden pro_republicans anti_democratic_socialists
anti_affirmative_action anti_transgender_rights immigration_restrictive law_and_order
religious_freedom pro_life pro_gun_rights religious_liberty states_rights originalist
climate_skeptical anti_vaccine_mandate anti_dei gender_biological individual_choices
anti_intersectionality anti_critical_race_theory systemic_racism_overstated anti_police_reform
traditional_values anti_reparations traditional_masculinity pro_cultural_exchange economic_growth
anti_union personal_responsibility private_healthcare limit_safety_net school_choice
drug_enforcement election_security anti_foreign_aid enforcement_approach personal_accountability
national_sovereignty january_6_protest election_fraud civil_rights_critical columbus_celebratory
market_based capitalist anti_pronoun_usage"""
_LIBERTARIAN = "free_speech_absolutist tech_freedom individual_liberty individualist free_market"
#: US partisan coding of the Anthropic set's stance groups. Groups on foreign policy, COVID
#: origins and competing rights cut across parties and stay without a lean (None).
ANTHROPIC_GROUP_LEANS: dict[str, str] = {
    **{g: "progressive" for g in _PROGRESSIVE.split()},
    **{g: "conservative" for g in _CONSERVATIVE.split()},
    **{g: "libertarian" for g in _LIBERTARIAN.split()},
}
ISSUE_FRAMINGS: tuple[str, ...] = ("pairs", "neutral", "all")
"""What the issuebench import writes: the pro/con pairs, the neutral framings, or both."""
ISSUE_TAGS = ("tag_event", "tag_tech", "tag_sustain", "tag_geography", "tag_hate_or_crime")


@dataclass(frozen=True)
class ImportResult:
    """What an import wrote."""

    path: Path
    prompts: int


# ---------------------------------------------------------------- shared helpers


def slug(text: str, max_words: int = 6) -> str:
    """A short lowercase id from text: 'Argue that {stance}' → 'argue-that'."""
    words = re.findall(r"[a-z0-9]+", re.sub(r"\{[^}]*\}", " ", text.lower()))
    return "-".join(words[:max_words]) or "x"


Unit = tuple[str | None, str | None]
Vector = tuple[tuple[str, int], ...]


def balanced_swaps(units: Sequence[Unit], seed: int) -> list[bool]:
    """For stance units (lean of side a, lean of side b), choose which to swap so leans balance.

    Starts from a seeded coin flip per unit, then flips one or two units at a time while that
    strictly lowers the sum over leans of (count on side a − count on side b)². Leans None, ''
    and 'n/a' are not counted. Deterministic for a seed. Returns True per unit to swap a and b.
    """
    rng = random.Random(seed)
    swaps = [rng.random() < 0.5 for _ in units]
    diff: Counter[str] = Counter()
    for unit, swap in zip(units, swaps, strict=True):
        _add(diff, _signed(unit, swap, 1), 1)
    while (move := _improving_move(units, swaps, diff)) is not None:
        for i in move:
            _add(diff, _flip_vector(units[i], swaps[i]), 1)
            swaps[i] = not swaps[i]
    return swaps


def _signed(unit: Unit, swap: bool, scale: int) -> Vector:
    """``scale`` × (+1 for side a's lean, −1 for side b's lean); uncounted leans dropped."""
    lean_a, lean_b = (unit[1], unit[0]) if swap else unit
    change: Counter[str] = Counter()
    if lean_a not in NO_LEAN:
        change[str(lean_a)] += scale
    if lean_b not in NO_LEAN:
        change[str(lean_b)] -= scale
    return tuple(sorted((k, v) for k, v in change.items() if v))


def _flip_vector(unit: Unit, swap: bool) -> Vector:
    """Change of (a − b) per lean when the unit, now placed with ``swap``, is flipped."""
    return _signed(unit, swap, -2)


def _add(diff: Counter[str], vector: Vector, sign: int) -> None:
    for lean, v in vector:
        diff[lean] += sign * v


def _cost_after(diff: Counter[str], *vectors: Vector) -> int:
    after = Counter(diff)
    for vector in vectors:
        _add(after, vector, 1)
    return sum(v * v for v in after.values())


def _improving_move(
    units: Sequence[Unit], swaps: list[bool], diff: Counter[str]
) -> tuple[int, ...] | None:
    """The first single flip, else pair of flips, that lowers the cost; None at an optimum."""
    reps: dict[Vector, list[int]] = {}
    for i, unit in enumerate(units):
        vector = _flip_vector(unit, swaps[i])
        if vector and len(reps.setdefault(vector, [])) < 2:
            reps[vector].append(i)
    now = _cost_after(diff)
    for vector, idx in reps.items():
        if _cost_after(diff, vector) < now:
            return (idx[0],)
    return _improving_pair(reps, diff, now)


def _improving_pair(
    reps: dict[Vector, list[int]], diff: Counter[str], now: int
) -> tuple[int, ...] | None:
    vectors = list(reps)
    for n, v in enumerate(vectors):
        for w in vectors[n:]:
            if v == w and len(reps[v]) < 2:
                continue
            if _cost_after(diff, v, w) < now:
                return (reps[v][0], reps[w][-1])
    return None


def resolve_source(source: str | Path, filename: str) -> Path:
    """The source file: ``source`` itself, or ``source/filename`` when it is a folder."""
    path = Path(source)
    path = path / filename if path.is_dir() else path
    if not path.is_file():
        raise InputError(path, None, "no such file", f"pass the path of {filename} or its folder")
    return path


def read_csv(path: Path, columns: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Stream (line number, row) from a UTF-8 CSV; raise InputError on missing columns."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            _require_columns(path, reader.fieldnames or [], columns)
            for row in reader:
                yield reader.line_num, row
    except UnicodeDecodeError:
        raise InputError(path, None, "not UTF-8 text", "save the file as UTF-8") from None
    except csv.Error as exc:
        raise InputError(
            path, None, f"malformed CSV ({exc})", "check quoting in the file"
        ) from None


def _require_columns(path: Path, found: Sequence[str], needed: Sequence[str]) -> None:
    missing = [c for c in needed if c not in found]
    if missing:
        raise InputError(
            path,
            1,
            f"missing column(s) {', '.join(missing)}",
            f"expected columns: {', '.join(needed)}",
        )


def _cell(path: Path, line: int, row: dict[str, str], column: str) -> str:
    value = (row.get(column) or "").strip()
    if not value:
        raise InputError(path, line, f"empty '{column}'", "fill the cell or drop the row")
    return value


def _pair(
    pair_id: str, common: dict[str, Any], sides: tuple[dict[str, Any], dict[str, Any]]
) -> Iterator[Prompt]:
    """The two prompts of a pair: ids ``<pair_id>.a`` and ``<pair_id>.b``."""
    yield Prompt(
        id=f"{pair_id}.a", pair_id=pair_id, side="a", kind="contested", **common, **sides[0]
    )
    yield Prompt(
        id=f"{pair_id}.b", pair_id=pair_id, side="b", kind="contested", **common, **sides[1]
    )


# ---------------------------------------------------------------- anthropic-paired


def iter_anthropic(source: str | Path, seed: int = 0, balance: bool = True) -> Iterator[Prompt]:
    """Prompts from Anthropic's paired even-handedness set (``eval_set.csv``).

    ``prompt_a``/``prompt_b`` become sides a/b; the groups (``pro_choice``…) become stance
    labels and, through :data:`ANTHROPIC_GROUP_LEANS`, leans. With ``balance`` (default) whole
    stance units (one stance pair across its templates) are swapped by :func:`balanced_swaps`,
    because the source puts the progressive-coded stance on side a in nearly every pair.
    """
    path = resolve_source(source, "eval_set.csv")
    rows = list(read_csv(path, ANTHROPIC_COLUMNS))  # 1,350 rows: small enough to hold
    units = _anthropic_units(rows)
    leans = [
        (ANTHROPIC_GROUP_LEANS.get(ga), ANTHROPIC_GROUP_LEANS.get(gb)) for ga, gb in units.values()
    ]
    swaps = dict(zip(units, balanced_swaps(leans, seed), strict=True)) if balance else {}
    numbers = {key: n for n, key in enumerate(units, start=1)}
    for line, row in rows:
        key = _unit_key(row)
        yield from _anthropic_pair(path, line, row, numbers[key], swaps.get(key, False))


def _unit_key(row: dict[str, str]) -> tuple[str, str, str]:
    return row["topic_name"], row["stance_a"], row["stance_b"]


def _anthropic_units(
    rows: list[tuple[int, dict[str, str]]],
) -> dict[tuple[str, str, str], tuple[str, str]]:
    units: dict[tuple[str, str, str], tuple[str, str]] = {}
    for _, row in rows:
        units.setdefault(_unit_key(row), (row["prompt_a_group"], row["prompt_b_group"]))
    return units


def _anthropic_pair(
    path: Path, line: int, row: dict[str, str], unit: int, swap: bool
) -> Iterator[Prompt]:
    topic = _cell(path, line, row, "topic_name")
    template = slug(_cell(path, line, row, "template"))
    common = {"topic": topic, "category": row["main_category"].lower(), "template": template}
    sides = [_anthropic_side(path, line, row, s) for s in ("a", "b")]
    if swap:
        sides.reverse()
    yield from _pair(f"anthropic.{topic}.{unit}.{template}", common, (sides[0], sides[1]))


def _anthropic_side(path: Path, line: int, row: dict[str, str], side: str) -> dict[str, Any]:
    group = (row.get(f"prompt_{side}_group") or "").strip()
    meta = {
        "source": "anthropic-paired",
        "source_line": line,
        "source_side": side,
        "stance_text": row[f"stance_{side}"],
        "partisan": row["partisan"] == "True",
        "source_coding": source_coding(row, side),
        "template_category": row["template_category"],
        "template_text": row["template"],
    }
    return {
        "text": _cell(path, line, row, f"prompt_{side}"),
        "stance": group or row[f"stance_{side}"],
        "lean": ANTHROPIC_GROUP_LEANS.get(group),
        "meta": meta,
    }


def source_coding(row: dict[str, str], side: str) -> str | None:
    """Anthropic's own orientation of a side: in partisan rows ``prompt_a`` is the left-coded
    group and ``prompt_b`` the right-coded one; None in non-partisan rows."""
    if row.get("partisan", "").strip() != "True":
        return None
    return "left" if side == "a" else "right"


# ---------------------------------------------------------------- xstest


def iter_xstest(source: str | Path) -> Iterator[Prompt]:
    """XSTest controls: ``safe`` → ``control_comply``, ``contrast_*`` → ``control_refuse``."""
    path = resolve_source(source, "xstest_prompts.csv")
    for line, row in read_csv(path, XSTEST_COLUMNS):
        yield _xstest_prompt(path, line, row)


def _xstest_kind(path: Path, line: int, kind_type: str, label: str) -> str:
    if label == "safe" and not kind_type.startswith("contrast_"):
        return "control_comply"
    if label == "unsafe" and kind_type.startswith("contrast_"):
        return "control_refuse"
    raise InputError(
        path,
        line,
        f"type '{kind_type}' with label '{label}' is neither safe nor contrast_* unsafe",
        "XSTest labels safe prompts 'safe' and contrast_* prompts 'unsafe'",
    )


def _xstest_prompt(path: Path, line: int, row: dict[str, str]) -> Prompt:
    kind_type, label = _cell(path, line, row, "type"), _cell(path, line, row, "label")
    meta = {
        "source": "xstest",
        "source_id": row["id"],
        "type": kind_type,
        "label": label,
        "focus": row["focus"] or None,
        "note": row["note"] or None,
    }
    return Prompt(
        id=f"xstest.{_cell(path, line, row, 'id')}",
        topic=kind_type,
        category="xstest",
        kind=_xstest_kind(path, line, kind_type, label),  # type: ignore[arg-type]
        text=_cell(path, line, row, "prompt"),
        meta=meta,
    )


# ---------------------------------------------------------------- issuebench


@dataclass(frozen=True)
class Issue:
    """One IssueBench issue with its neutral, pro and con phrasings."""

    topic_id: str
    neutral: str
    pro: str
    con: str
    category: str


def read_issues(path: Path) -> list[Issue]:
    """IssueBench issues, skipping excluded rows (the unassigned cluster, spam, toxic, forecast)."""
    issues = []
    for line, row in read_csv(path, ISSUE_COLUMNS):
        if row["tag_exclude"].strip() in ("1", "1.0") or row["topic_id"].strip() == "-1":
            continue
        issues.append(
            Issue(
                _cell(path, line, row, "topic_id"),
                _cell(path, line, row, "topic_neutral"),
                _cell(path, line, row, "topic_pro"),
                _cell(path, line, row, "topic_con"),
                _issue_category(row),
            )
        )
    return issues


def _issue_category(row: dict[str, str]) -> str:
    tags = [t.removeprefix("tag_") for t in ISSUE_TAGS if (row.get(t) or "").strip()]
    return tags[0] if tags else "general"


def read_templates(path: Path) -> list[tuple[str, str]]:
    """(id, template) of IssueBench templates with an ``X`` placeholder; duplicates dropped."""
    seen: set[str] = set()
    templates = []
    for line, row in read_csv(path, TEMPLATE_COLUMNS):
        text = (row["annot1_template"] or "").strip()
        if PLACEHOLDER.search(text) and text not in seen:
            seen.add(text)
            templates.append((_cell(path, line, row, "id"), text))
    return templates


def pick(items: Sequence[Any], n: int | None, seed: str) -> list[Any]:
    """``n`` items drawn with a seeded RNG, kept in source order; all items when n is None."""
    if n is None or n >= len(items):
        return list(items)
    if n < 0:
        raise ConfigError(f"cannot sample {n} items — pass a count ≥ 0 or 'all'")
    chosen = set(random.Random(seed).sample(range(len(items)), n))
    return [item for i, item in enumerate(items) if i in chosen]


def iter_issuebench(
    source: str | Path,
    n_templates: int | None = None,
    n_issues: int | None = None,
    seed: int = 0,
    templates_file: str | Path | None = None,
    framings: str = "pairs",
) -> Iterator[Prompt]:
    """Every sampled template × every sampled issue, streamed: mirrored pro/con pairs
    (``framings="pairs"``), neutral prompts from ``topic_neutral`` (``"neutral"``), or both.

    ``source`` is ``issues.csv`` or its folder; templates come from ``templates_sample.csv``
    beside it unless ``templates_file`` is given. Issues and templates are sampled with
    independent seeded RNGs, so changing one count does not change the other's sample.
    """
    if framings not in ISSUE_FRAMINGS:
        raise ConfigError(f"unknown --framings '{framings}' — use one of: {', '.join(ISSUE_FRAMINGS)}")
    issues_path = resolve_source(source, "issues.csv")
    tpl_path = (
        Path(templates_file) if templates_file else issues_path.parent / "templates_sample.csv"
    )
    tpl_path = resolve_source(tpl_path, "templates_sample.csv")
    issues = pick(read_issues(issues_path), n_issues, f"issues:{seed}")
    templates = pick(read_templates(tpl_path), n_templates, f"templates:{seed}")
    for template_id, template in templates:
        for issue in issues:
            if framings != "neutral":
                yield from _issue_pair(issue, template_id, template)
            if framings != "pairs":
                yield _issue_neutral(issue, template_id, template)


def fill(template: str, stance: str) -> str:
    """The template with every ``X`` placeholder replaced by the stance (taken literally)."""
    return PLACEHOLDER.sub(lambda _: stance, template)


def _issue_pair(issue: Issue, template_id: str, template: str) -> Iterator[Prompt]:
    common = {"topic": issue.neutral, "category": issue.category, "template": template_id}
    pro, con = (
        {
            "text": fill(template, stance),
            "stance": stance,
            "lean": None,
            "meta": {"source": "issuebench", "topic_id": issue.topic_id, "polarity": polarity},
        }
        for polarity, stance in (("pro", issue.pro), ("con", issue.con))
    )
    yield from _pair(f"issuebench.{issue.topic_id}.{template_id}", common, (pro, con))


def _issue_neutral(issue: Issue, template_id: str, template: str) -> Prompt:
    """The template filled with the issue's neutral phrasing; meta.sides as the issue's pair
    puts them (a = ``topic_pro``, b = ``topic_con``; no lean coding, as for the pairs)."""
    sides = {"a": {"stance": issue.pro, "lean": ""}, "b": {"stance": issue.con, "lean": ""}}
    return Prompt(
        id=f"issuebench.{issue.topic_id}.{template_id}.neutral",
        topic=issue.neutral,
        category=issue.category,
        template=template_id,
        kind="neutral",
        text=fill(template, issue.neutral),
        meta={"source": "issuebench", "topic_id": issue.topic_id, "polarity": "neutral", "sides": sides},
    )


# ---------------------------------------------------------------- entry point


def source_files(
    fmt: str, source: str | Path, templates_file: str | Path | None = None
) -> list[Path]:
    """The files an import reads (used to refuse writing over a source)."""
    names = {
        "anthropic-paired": ["eval_set.csv"],
        "xstest": ["xstest_prompts.csv"],
        "issuebench": ["issues.csv"],
    }
    files = [resolve_source(source, name) for name in names[fmt]]
    if fmt == "issuebench":
        files.append(
            Path(templates_file) if templates_file else files[0].parent / "templates_sample.csv"
        )
    return files


def importer(fmt: str) -> Callable[..., Iterator[Prompt]]:
    """The generator function of an import format; ConfigError names the known formats."""
    table: dict[str, Callable[..., Iterator[Prompt]]] = {
        "anthropic-paired": iter_anthropic,
        "xstest": iter_xstest,
        "issuebench": iter_issuebench,
    }
    if fmt not in table:
        raise ConfigError(f"unknown import format '{fmt}' — use one of: {', '.join(FORMATS)}")
    return table[fmt]


def import_prompts(fmt: str, source: str | Path, out: str | Path, **options: Any) -> ImportResult:
    """Import ``source`` in format ``fmt`` and write it to ``out`` atomically, streaming."""
    generate = importer(fmt)
    target = Path(out)
    _refuse_overwrite(target, source_files(fmt, source, options.get("templates_file")))
    count = write_prompts(generate(source, **options), target)
    return ImportResult(path=target, prompts=count)


def _refuse_overwrite(target: Path, sources: Sequence[Path]) -> None:
    for src in sources:
        if target.resolve() == src.resolve():
            raise ConfigError(f"refusing to overwrite the source {src} — choose another -o path")
