"""Stratified samples of a prompt set that keep pairs whole and topics and templates balanced.

The sampler builds one seeded *order* over all complete pairs and takes its first ``n``:

1. topics are shuffled; each topic is given an offset into a shuffled list of templates;
2. within a topic, pairs are sorted so its templates come in turn (a Latin-square rotation:
   in round ``r`` topic ``i`` asks template ``offset_i + r``), a template repeating only after
   every template of that topic has come once;
3. the topics are then visited round-robin, one pair each per round.

So any prefix has every topic within one pair of every other, templates spread evenly, and a
sample of ``n`` pairs is contained in the sample of ``n + 1`` for the same seed. Controls of
each kind are ordered the same way (round-robin over their topics) and taken per kind.
Neutral prompts (no pair) are ordered like pairs (topics round-robin, templates in a rotated
turn) after everything else is drawn, so adding them to a set leaves its pair and control
samples unchanged; by default a sample keeps the set's ratio of neutral prompts to pairs.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TypeVar

from audit.errors import ConfigError
from audit.prompts._schema import Prompt, PromptSet, pairs_of

CONTROL_KINDS: tuple[str, ...] = ("control_refuse", "control_comply")
T = TypeVar("T")


def sample_pairs(
    prompt_set_or_prompts: PromptSet | Iterable[Prompt],
    n_pairs: int,
    seed: int,
    n_controls: int | None = None,
    n_neutral: int | None = None,
) -> list[Prompt]:
    """A seeded stratified sample: ``n_pairs`` whole pairs plus controls of each kind.

    ``n_controls`` is per kind (that many ``control_refuse`` and that many ``control_comply``);
    None keeps the set's ratio of each kind to pairs. ``n_neutral`` is the number of neutral
    prompts (None: the set's ratio to pairs). Counts above what the set holds take
    everything. The result keeps the set's order, so it can be written as a prompt set.
    """
    prompts = _prompts(prompt_set_or_prompts)
    _check_counts(n_pairs, n_controls)
    _check_counts(n_pairs, n_neutral)
    rng = random.Random(seed)
    pairs = pair_order(prompts, rng)
    keep = {p.id for pair in pairs[:n_pairs] for p in pair}
    for ordered in control_order(prompts, rng).values():
        n = (
            default_controls(n_pairs, len(pairs), len(ordered))
            if n_controls is None
            else n_controls
        )
        keep |= {c.id for c in ordered[:n]}
    neutral = neutral_order(prompts, rng)
    n = default_controls(n_pairs, len(pairs), len(neutral)) if n_neutral is None else n_neutral
    keep |= {p.id for p in neutral[:n]}
    return [p for p in prompts if p.id in keep]


def _prompts(source: PromptSet | Iterable[Prompt]) -> list[Prompt]:
    return list(source.prompts) if isinstance(source, PromptSet) else list(source)


def _check_counts(n_pairs: int, n_controls: int | None) -> None:
    if n_pairs < 0 or (n_controls is not None and n_controls < 0):
        raise ConfigError("sample sizes must be ≥ 0 — pass --sample N with N ≥ 0")


def default_controls(n_pairs: int, total_pairs: int, total_controls: int) -> int:
    """Controls (of one kind) for a sample of ``n_pairs``: the set's ratio, rounded half up."""
    if total_pairs == 0:
        return total_controls
    return int(total_controls * min(n_pairs, total_pairs) / total_pairs + 0.5)


def pair_order(prompts: Sequence[Prompt], rng: random.Random) -> list[tuple[Prompt, Prompt]]:
    """All complete pairs (a, b) in a seeded, topic- and template-balanced order."""
    by_topic: dict[str, list[tuple[Prompt, Prompt]]] = defaultdict(list)
    for sides in pairs_of(prompts).values():
        if len(sides) == 2:
            by_topic[sides["a"].topic].append((sides["a"], sides["b"]))
    return _balanced_order(by_topic, rng)


def neutral_order(prompts: Sequence[Prompt], rng: random.Random) -> list[Prompt]:
    """Neutral prompts in a seeded order: topics round-robin, templates in a rotated turn
    (each prompt goes through the pairs' ordering as a pair of itself)."""
    by_topic: dict[str, list[tuple[Prompt, Prompt]]] = defaultdict(list)
    for p in prompts:
        if p.kind == "neutral":
            by_topic[p.topic].append((p, p))
    return [p for p, _ in _balanced_order(by_topic, rng)]


def _balanced_order(
    by_topic: dict[str, list[tuple[Prompt, Prompt]]], rng: random.Random
) -> list[tuple[Prompt, Prompt]]:
    """Shuffled topics visited round-robin, each topic's templates in a rotated turn."""
    templates = sorted({a.template for pairs in by_topic.values() for a, _ in pairs})
    rng.shuffle(templates)
    rank = {t: i for i, t in enumerate(templates)}
    topics = sorted(by_topic)
    rng.shuffle(topics)
    queues = [_rotate(by_topic[t], rank, offset, rng) for offset, t in enumerate(topics)]
    return round_robin(queues)


def _rotate(
    pairs: list[tuple[Prompt, Prompt]], rank: dict[str, int], offset: int, rng: random.Random
) -> list[tuple[Prompt, Prompt]]:
    """A topic's pairs, templates taken in turn starting at ``offset``; repeats come last."""
    shuffled = list(pairs)
    rng.shuffle(shuffled)
    seen: dict[str, int] = defaultdict(int)
    keyed = []
    for pos, pair in enumerate(shuffled):
        template = pair[0].template
        keyed.append(((seen[template], (rank[template] - offset) % len(rank), pos), pair))
        seen[template] += 1
    return [pair for _, pair in sorted(keyed, key=lambda kp: kp[0])]


def round_robin(queues: Sequence[Sequence[T]]) -> list[T]:
    """Interleave queues: first item of each, then second of each, …; exhausted ones drop out."""
    longest = max((len(q) for q in queues), default=0)
    return [q[i] for i in range(longest) for q in queues if i < len(q)]


def control_order(prompts: Sequence[Prompt], rng: random.Random) -> dict[str, list[Prompt]]:
    """Controls of each kind in a seeded order, round-robin over the kind's topics."""
    per_kind: dict[str, list[Prompt]] = {}
    for kind in CONTROL_KINDS:
        by_topic: dict[str, list[Prompt]] = defaultdict(list)
        for p in prompts:
            if p.kind == kind:
                by_topic[p.topic].append(p)
        topics = sorted(by_topic)
        rng.shuffle(topics)
        for t in topics:
            rng.shuffle(by_topic[t])
        per_kind[kind] = round_robin([by_topic[t] for t in topics])
    return per_kind
