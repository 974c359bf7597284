"""A named rule (trigger words and a compiled pattern) and the search for the earliest match."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from audit.classify.rules._text import _tokens

__all__ = ["Rule"]


@dataclass(frozen=True)
class Rule:
    """One named rule: trigger words and a compiled pattern.

    The pattern runs only if one of the trigger words (``keys``) occurs in the text, or, for
    languages written without spaces, one of the trigger ``substrings``: every match must
    contain one. Patterns have no leading ``\\b`` (that would stop the regex engine's fast
    literal scan); the word boundary before a match is checked in Python (not for CJK).
    """

    name: str
    keys: frozenset[str]
    substrings: tuple[str, ...]
    pattern: re.Pattern[str]

    def search(self, text: str, start: int = 0, end: int | None = None) -> re.Match[str] | None:
        """The first match in ``text[start:end]`` (normalised text) at a word boundary."""
        stop = len(text) if end is None else end
        if not self.triggered(text, start, stop, _tokens(text[start:stop])):
            return None
        return self.match_at_boundary(text, start, stop)

    def triggered(self, text: str, start: int, stop: int, tokens: frozenset[str]) -> bool:
        """Whether a trigger occurs (else the pattern cannot match).

        ``tokens`` holds the words of the text (a superset of the segment's will do).
        """
        if self.keys:
            return not self.keys.isdisjoint(tokens)
        return any(map(text[start:stop].__contains__, self.substrings))

    def match_at_boundary(self, text: str, start: int, stop: int) -> re.Match[str] | None:
        """The first match in ``text[start:stop]`` that begins at a word boundary."""
        for m in self.pattern.finditer(text, start, stop):
            i = m.start()
            if not self.keys or i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_"):
                return m
        return None


def _rules(table: Iterable[tuple[str, str, str]], words: bool = True) -> tuple[Rule, ...]:
    """Compile a table of (name, space-separated triggers, pattern).

    The triggers are whole words, or substrings when ``words`` is false (CJK).
    """
    return tuple(Rule(name, frozenset(triggers.split()) if words else frozenset(),
                      () if words else tuple(triggers.split()), re.compile(pattern))
                 for name, triggers, pattern in table)


def _earliest(rules: tuple[Rule, ...], text: str, tokens: frozenset[str], start: int = 0,
              end: int | None = None) -> tuple[str, int] | None:
    """The (name, offset) of the earliest match of any rule in ``text[start:end]``, or None."""
    stop = len(text) if end is None else end
    best: tuple[str, int] | None = None
    for rule in rules:
        if not rule.triggered(text, start, stop, tokens):
            continue
        m = rule.match_at_boundary(text, start, stop)
        if m is not None and (best is None or m.start() < best[1]):
            best = (rule.name, m.start())
    return best


def _name(rules: tuple[Rule, ...], text: str, tokens: frozenset[str], start: int = 0,
          end: int | None = None) -> str | None:
    """The name of the earliest rule that matches ``text[start:end]``, if any."""
    hit = _earliest(rules, text, tokens, start, end)
    return hit[0] if hit else None


_SPEAKER = re.compile(r"[a-z][\w.'-]*(?: [\w.'-]+){0,3}(?: \([^)\n]{0,60}\))?: ")
"""A speaker's tag at the start of a line of dialogue ("detective: (calmly) i can't ...")."""
_NOT_SPEAKER = frozenset({"note", "answer", "response", "disclaimer", "warning", "update", "edit",
                          "summary", "conclusion", "important", "reminder", "ai", "assistant"})
"""Line labels that introduce the answer's own words, not a character's."""


def _quoted(text: str, offset: int) -> bool:
    """Whether ``offset`` lies inside double quotes on its line, or on a line of dialogue that
    opens with a speaker's tag (reported speech: a story's or a script's characters)."""
    line = text.rfind("\n", 0, offset) + 1
    if text.count('"', line, offset) % 2 == 1:
        return True
    tag = _SPEAKER.match(text, line, offset)
    return tag is not None and tag.group(0).split(" ")[0].rstrip(":") not in _NOT_SPEAKER


def _earliest_unquoted(rules: tuple[Rule, ...], text: str, tokens: frozenset[str],
                       start: int = 0, end: int | None = None) -> tuple[str, int] | None:
    """:func:`_earliest`, skipping reported speech: matches inside double quotes ("'I can't,' she
    said" is a story) or on a line that opens with a speaker's tag ("detective: i can't ...")."""
    hit = _earliest(rules, text, tokens, start, end)
    while hit is not None and _quoted(text, hit[1]):
        hit = _earliest(rules, text, tokens, hit[1] + 1, end)
    return hit

