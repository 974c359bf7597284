"""Polarity: does an opening sentence restate the prompt's claim negated?"""

from __future__ import annotations

import re

from audit.classify.rules._text import _SENTENCE_END

__all__ = ["contradicts"]

_NEGATION = re.compile(r"n't\b|\b(?:not|no|never|cannot|nobody|nothing|none|neither|nor)\b")
_STOP = frozenset((  # noqa: SIM905 (a word list reads better as text)
    "the a an and or but if of to in on at by for with from as is are was were be been being "
    "do does did have has had can could should would will shall may might must why what how "
    "who which when where that this these those it its it's i you he she we they me my your "
    "our their them his her there here than then so such not no never any some all best way "
    "good people give tell list reasons reason explain make about into over just also very "
    "more most"
).split())
_SUBCLAUSE = re.compile(r",? \b(?:because|since|but|although|though|whereas|which|who|unless)\b ")
_WORD = re.compile(r"\w+")
_TOKEN = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def _stems(text: str) -> set[str]:
    """Crude stems (first five letters) of the content words of ``text``."""
    return {w[:5] for w in _WORD.findall(text) if len(w) > 2 and w not in _STOP}


def _parity(text: str) -> int:
    """The number of negations in ``text``, modulo 2."""
    return len(_NEGATION.findall(text)) % 2


def contradicts(prompt: str, head: str, min_overlap: float = 0.5) -> bool:
    """Whether the opening sentence closest to the prompt restates it with opposite polarity.

    "Why was X justified?" → "X was not justified." The sentence sharing the most content words
    with the (normalised) prompt, at least ``min_overlap`` of them, must differ in its count of
    negations (in its main clause, cut at "because", "but", "which", ...).
    """
    ask = _stems(prompt)
    if len(ask) < 2:
        return False
    best, overlap = "", 0.0
    for sentence in _SENTENCE_END.split(head):
        share = len(ask & _stems(sentence)) / len(ask)
        if share > overlap:
            best, overlap = sentence, share
    main = _SUBCLAUSE.split(best, maxsplit=1)[0]
    return overlap >= min_overlap and _parity(main) != _parity(prompt)
