"""Balance checker for prompt sets: finds every problem, not just the first.

The loader (:func:`audit.prompts.load_prompt_set`) stops at the first error; the checker reads
a file leniently and reports all problems, grouped by check:

==================  =============================================================================
check               fails when
==================  =============================================================================
schema              a line has an invalid value (e.g. a text of only whitespace) or lacks a
                    required field
unknown-field       a line has a field outside the schema (put free-form data under ``meta``)
duplicate-id        two prompts share an id
missing-side        a pair lacks side a or b, or has a side twice
pair-mismatch       the two sides of a pair differ in template, topic or category
template-text       with each stance cut out of its text, the two sides' texts differ (checked
                    when each side's stance appears verbatim in its text)
topic-sides         a topic has a different number of prompts on side a and side b
lean-balance        a lean sits on side a much more often than on side b (|a−b| > tolerance)
length-ratio        one side of a pair is more than ``max_ratio`` times as long as the other
duplicate-text      two prompts have the same text (ignoring case and spacing)
control-paired      a control carries a pair id or side
neutral-sides       a neutral prompt carries a pair id or side, or lacks ``meta.sides`` (the
                    topic's two sides, each with a stance)
==================  =============================================================================

One check only warns (it is listed, but the set still passes):

==================  =============================================================================
neutral-vs-pairs    a neutral prompt's ``meta.sides`` contradict its topic's directed pairs: the
                    sides are swapped, the leans differ, or the stances match no pair of the topic
==================  =============================================================================

Neutral prompts ask for no side, so ``topic-sides`` and ``lean-balance`` count contested
prompts only; a topic with pairs and no neutral prompts (or the reverse) is fine.

Unreadable files, non-UTF-8 bytes and lines that are not JSON objects raise
:class:`~audit.errors.InputError` (exit 2): those are broken files, not unbalanced sets.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from audit.errors import InputError
from audit.prompts._schema import (
    FIELDS,
    NO_LEAN,
    Prompt,
    iter_lines,
    neutral_sides,
    pairs_of,
    parse_object,
    read_raw,
)

CHECKS: tuple[str, ...] = (
    "schema",
    "unknown-field",
    "duplicate-id",
    "missing-side",
    "pair-mismatch",
    "template-text",
    "topic-sides",
    "lean-balance",
    "length-ratio",
    "duplicate-text",
    "control-paired",
    "neutral-sides",
)
WARNING_CHECKS: tuple[str, ...] = ("neutral-vs-pairs",)
MAX_RATIO = 1.6
LEAN_TOLERANCE = 0.1
LEAN_MIN_GAP = 2


@dataclass(frozen=True)
class Problem:
    """One problem found by a check; ``where`` lists the ids, pair ids or lines concerned."""

    check: str
    message: str
    where: tuple[str, ...] = ()


@dataclass(frozen=True)
class CheckReport:
    """The outcome of checking one prompt set."""

    path: str
    prompts: int
    problems: tuple[Problem, ...]
    lean_sides: dict[str, dict[str, int]] = field(default_factory=dict)
    warnings: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        """True when no check found a problem (warnings do not count)."""
        return not self.problems

    def by_check(self) -> dict[str, list[Problem]]:
        """Problems grouped by check, every check present (empty list when it passed)."""
        grouped: dict[str, list[Problem]] = {c: [] for c in CHECKS}
        for p in self.problems:
            grouped.setdefault(p.check, []).append(p)
        return grouped

    def warnings_by_check(self) -> dict[str, list[Problem]]:
        """Warnings grouped by warning check, every one present (empty list when none)."""
        grouped: dict[str, list[Problem]] = {c: [] for c in WARNING_CHECKS}
        for w in self.warnings:
            grouped.setdefault(w.check, []).append(w)
        return grouped


# ---------------------------------------------------------------- reading


def read_lenient(path: Path) -> tuple[list[tuple[int, Prompt]], list[Problem]]:
    """Read a prompt set, collecting schema problems instead of stopping at the first.

    Unknown fields are reported and dropped, so the rest of the line is still checked.
    Raises InputError for an unreadable file or a line that is not a JSON object.
    """
    raw = read_raw(path)
    prompts: list[tuple[int, Prompt]] = []
    problems: list[Problem] = []
    for no, line in iter_lines(path, raw):
        obj = parse_object(path, no, line)
        extra = sorted(set(obj) - FIELDS)
        if extra:
            problems.append(
                Problem(
                    "unknown-field",
                    f"line {no}: unknown field(s) {', '.join(extra)}",
                    (f"line {no}",),
                )
            )
        prompt = _validate(no, {k: v for k, v in obj.items() if k in FIELDS}, problems)
        if prompt is not None:
            prompts.append((no, prompt))
    return prompts, problems


def _validate(no: int, obj: dict[str, object], problems: list[Problem]) -> Prompt | None:
    try:
        return Prompt.model_validate(obj)
    except ValidationError as exc:
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "(line)"
            problems.append(
                Problem("schema", f"line {no}: field '{loc}': {err['msg']}", (f"line {no}",))
            )
        return None


# ---------------------------------------------------------------- checks


def check_ids(prompts: Sequence[tuple[int, Prompt]]) -> list[Problem]:
    """Ids used by more than one prompt."""
    lines: dict[str, list[int]] = defaultdict(list)
    for no, p in prompts:
        lines[p.id].append(no)
    return [
        Problem("duplicate-id", f"id '{i}' on lines {', '.join(map(str, nos))}", (i,))
        for i, nos in lines.items()
        if len(nos) > 1
    ]


def check_pairs(prompts: Sequence[Prompt]) -> list[Problem]:
    """Pairs without exactly one side a and one side b; contested prompts without a pair."""
    members: dict[str, list[str]] = defaultdict(list)
    problems = []
    for p in prompts:
        if p.kind != "contested":
            continue
        if p.pair_id is None or p.side is None:
            problems.append(
                Problem("missing-side", f"'{p.id}' is contested but has no pair_id/side", (p.id,))
            )
        else:
            members[p.pair_id].append(p.side)
    problems += [
        Problem("missing-side", f"pair '{pid}' has sides {sorted(s)}", (pid,))
        for pid, s in members.items()
        if sorted(s) != ["a", "b"]
    ]
    return problems


def check_pair_fields(prompts: Sequence[Prompt]) -> list[Problem]:
    """Pairs whose sides differ in template, topic or category."""
    problems = []
    for pid, sides in pairs_of(prompts).items():
        if len(sides) == 2:
            differ = [
                f
                for f in ("template", "topic", "category")
                if getattr(sides["a"], f) != getattr(sides["b"], f)
            ]
            if differ:
                problems.append(
                    Problem("pair-mismatch", f"pair '{pid}' differs in {', '.join(differ)}", (pid,))
                )
    return problems


def masked_text(prompt: Prompt) -> str | None:
    """The text with its stance replaced by ``{stance}``; None if the stance is not in it."""
    if not prompt.stance or prompt.stance not in prompt.text:
        return None
    return prompt.text.replace(prompt.stance, "{stance}")


def check_template_texts(prompts: Sequence[Prompt]) -> list[Problem]:
    """Pairs whose texts differ once each side's stance is cut out (same template, other words)."""
    problems = []
    for pid, sides in pairs_of(prompts).items():
        if len(sides) == 2:
            a, b = masked_text(sides["a"]), masked_text(sides["b"])
            if a is not None and b is not None and a != b:
                msg = f"pair '{pid}': texts differ outside the stance"
                problems.append(Problem("template-text", msg, (pid,)))
    return problems


def side_counts(prompts: Iterable[Prompt], key: str) -> dict[str, dict[str, int]]:
    """Contested prompts counted by a field (``topic``, ``lean``…) × side."""
    table: dict[str, dict[str, int]] = defaultdict(lambda: {"a": 0, "b": 0})
    for p in prompts:
        if p.kind == "contested" and p.side is not None:
            value = getattr(p, key)
            table["(none)" if value is None else str(value)][p.side] += 1
    return dict(table)


def check_topic_sides(prompts: Sequence[Prompt]) -> list[Problem]:
    """Topics with a different number of prompts on side a and side b."""
    return [
        Problem("topic-sides", f"topic '{t}' has {c['a']} on side a, {c['b']} on side b", (t,))
        for t, c in side_counts(prompts, "topic").items()
        if c["a"] != c["b"]
    ]


def lean_gap_allowed(total: int, tolerance: float = LEAN_TOLERANCE) -> float:
    """The largest |a − b| allowed for a lean with ``total`` prompts on both sides."""
    return max(LEAN_MIN_GAP, tolerance * total)


def check_leans(prompts: Sequence[Prompt], tolerance: float = LEAN_TOLERANCE) -> list[Problem]:
    """Leans placed on one side much more often than the other (side confounded with lean)."""
    problems = []
    for lean, c in sorted(side_counts(prompts, "lean").items()):
        if lean in NO_LEAN or lean == "(none)":
            continue
        gap, total = abs(c["a"] - c["b"]), c["a"] + c["b"]
        if gap > lean_gap_allowed(total, tolerance):
            problems.append(
                Problem(
                    "lean-balance",
                    f"lean '{lean}': {c['a']} on side a vs {c['b']} on side b "
                    f"(allowed gap {lean_gap_allowed(total, tolerance):.0f})",
                    (lean,),
                )
            )
    return problems


def length_ratio(a: str, b: str) -> float:
    """Longer text length over shorter (1.0 for equal lengths)."""
    short, long_ = sorted((max(len(a), 1), max(len(b), 1)))
    return long_ / short


def check_lengths(prompts: Sequence[Prompt], max_ratio: float = MAX_RATIO) -> list[Problem]:
    """Pairs where one side's text is more than ``max_ratio`` times as long as the other's."""
    problems = []
    for pid, sides in pairs_of(prompts).items():
        if len(sides) == 2:
            ratio = length_ratio(sides["a"].text, sides["b"].text)
            if ratio > max_ratio:
                problems.append(
                    Problem("length-ratio", f"pair '{pid}': length ratio {ratio:.2f}", (pid,))
                )
    return problems


def normalise_text(text: str) -> str:
    """Text compared for duplicates: case-folded, runs of whitespace made one space."""
    return " ".join(text.casefold().split())


def check_duplicate_texts(prompts: Sequence[Prompt]) -> list[Problem]:
    """Prompts whose texts are equal after normalisation."""
    ids: dict[str, list[str]] = defaultdict(list)
    for p in prompts:
        ids[normalise_text(p.text)].append(p.id)
    return [
        Problem("duplicate-text", f"same text in {', '.join(group)}", tuple(group))
        for group in ids.values()
        if len(group) > 1
    ]


def check_controls(prompts: Sequence[Prompt]) -> list[Problem]:
    """Controls that carry a pair id or a side."""
    return [
        Problem("control-paired", f"control '{p.id}' has a pair_id or side", (p.id,))
        for p in prompts
        if p.kind not in ("contested", "neutral") and (p.pair_id is not None or p.side is not None)
    ]


def check_neutral(prompts: Sequence[Prompt]) -> list[Problem]:
    """Neutral prompts with a pair id or side, or without their topic's two sides."""
    problems = []
    for p in prompts:
        if p.kind != "neutral":
            continue
        if p.pair_id is not None or p.side is not None:
            problems.append(Problem("neutral-sides", f"neutral '{p.id}' has a pair_id or side", (p.id,)))
        if neutral_sides(p) is None:
            problems.append(Problem("neutral-sides", f"neutral '{p.id}' lacks meta.sides.a/b with a stance each",
                                    (p.id,)))
    return problems


SideKey = tuple[tuple[str, str], tuple[str, str]]


def _lean(value: str | None) -> str:
    return "" if value is None else value


def topic_pair_sides(prompts: Iterable[Prompt]) -> dict[str, set[SideKey]]:
    """Per topic, the ((stance, lean) of side a, (stance, lean) of side b) of its complete pairs."""
    out: dict[str, set[SideKey]] = defaultdict(set)
    for sides in pairs_of(prompts).values():
        if len(sides) == 2:
            a, b = sides["a"], sides["b"]
            out[a.topic].add(((a.stance, _lean(a.lean)), (b.stance, _lean(b.lean))))
    return dict(out)


def neutral_mismatch(sides: SideKey, known: set[SideKey]) -> str | None:
    """Why neutral sides contradict a topic's pair sides, or None when they agree (or none known)."""
    if not known or sides in known:
        return None
    if (sides[1], sides[0]) in known:
        return "its sides a and b are swapped relative to the topic's pairs"
    stances = {(a[0], b[0]) for a, b in known}
    if (sides[0][0], sides[1][0]) in stances:
        return "its leans differ from the topic's pairs"
    return "its stances match no pair of the topic"


def check_neutral_vs_pairs(prompts: Sequence[Prompt]) -> list[Problem]:
    """Warnings: neutral prompts whose meta.sides contradict their topic's directed pairs."""
    known = topic_pair_sides(prompts)
    warnings = []
    for p in prompts:
        sides = neutral_sides(p) if p.kind == "neutral" else None
        if sides is None:
            continue
        key = ((sides["a"]["stance"], sides["a"]["lean"]), (sides["b"]["stance"], sides["b"]["lean"]))
        why = neutral_mismatch(key, known.get(p.topic, set()))
        if why is not None:
            warnings.append(Problem("neutral-vs-pairs", f"neutral '{p.id}' (topic '{p.topic}'): {why}", (p.id,)))
    return warnings


def check_prompts(
    numbered: Sequence[tuple[int, Prompt]],
    max_ratio: float = MAX_RATIO,
    lean_tolerance: float = LEAN_TOLERANCE,
) -> list[Problem]:
    """Run every structural and balance check on (line number, prompt) pairs."""
    prompts = [p for _, p in numbered]
    return [
        *check_ids(numbered),
        *check_pairs(prompts),
        *check_pair_fields(prompts),
        *check_template_texts(prompts),
        *check_topic_sides(prompts),
        *check_leans(prompts, lean_tolerance),
        *check_lengths(prompts, max_ratio),
        *check_duplicate_texts(prompts),
        *check_controls(prompts),
        *check_neutral(prompts),
    ]


def check_file(
    path: str | Path, max_ratio: float = MAX_RATIO, lean_tolerance: float = LEAN_TOLERANCE
) -> CheckReport:
    """Check a prompt-set file; InputError only when it cannot be read as JSON lines at all."""
    p = Path(path)
    numbered, problems = read_lenient(p)
    problems += check_prompts(numbered, max_ratio, lean_tolerance)
    if not numbered and not problems:
        raise InputError(p, None, "the prompt set is empty", "add one JSON prompt per line")
    leans = side_counts((pr for _, pr in numbered), "lean")
    warnings = check_neutral_vs_pairs([pr for _, pr in numbered])
    return CheckReport(
        path=str(p), prompts=len(numbered), problems=tuple(problems), lean_sides=leans,
        warnings=tuple(warnings),
    )


# ---------------------------------------------------------------- stats


def stats(prompts: Iterable[Prompt]) -> dict[str, Counter[str]]:
    """Prompt counts by kind, category, template, lean, topic and control topic.

    ``lean`` counts contested prompts, ``topic`` contested and neutral prompts; ``control
    topic`` counts controls.
    """
    keys = ("kind", "category", "template", "lean", "topic", "control topic")
    out: dict[str, Counter[str]] = {k: Counter() for k in keys}
    for p in prompts:
        out["kind"][p.kind] += 1
        out["category"][p.category or "(none)"] += 1
        out["template"][p.template or "(none)"] += 1
        if p.kind == "contested":
            out["lean"][p.lean or "(none)"] += 1
        if p.kind in ("contested", "neutral"):
            out["topic"][p.topic] += 1
        else:
            out["control topic"][p.topic] += 1
    return out
