"""Text for the rules classifier: normalising an answer, its opening, its words and tokens."""

from __future__ import annotations

import re

__all__ = ["normalise"]

_CLAUSE_END = re.compile(r"[,;:]\s|(?<=[.!?。！？])\s+|[，。！？]|\n+")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])|\n+")
_TRANSLATE = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u00b4": "'",
                            "\u201c": '"', "\u201d": '"', "\u00a0": " ", "\u2009": " ",
})
_CJK = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
_SPACES = re.compile(r"[ \t\r\f\v]+")
_LEAD = re.compile(r"^[\s>*_#\"'`~-]+")
_PUNCTUATION = str.maketrans({c: " " for c in '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\n\t'})
_CONTRACTIONS = ((" do not ", " don't "), (" can not ", " cannot "), (" will not ", " won't "))


def normalise(text: str) -> str:
    """Lower-case, straighten quotes, collapse spaces, strip leading markdown.

    Newlines are kept; "do not", "can not" and "will not" are contracted.
    """
    text = text.lower()
    if not text.isascii():
        text = text.translate(_TRANSLATE)
    if "  " in text or "\t" in text or "\r" in text or "\f" in text or "\v" in text:
        text = _SPACES.sub(" ", text)
    for long, short in _CONTRACTIONS:
        if long in text:
            text = text.replace(long, short)
    return _LEAD.sub("", text).strip()


def _opening(text: str, sentences: int = 2, limit: int = 400) -> int:
    """The end offset of the answer's first ``sentences`` sentences (at most ``limit``)."""
    end = 0
    for _ in range(sentences):
        m = _SENTENCE_END.search(text, end + 1 if end else 0)
        if m is None:
            return min(len(text), limit)
        end = m.end()
    return min(end, limit)


def _tokens(text: str) -> frozenset[str]:
    """The words of normalised text (punctuation except apostrophes split words)."""
    return frozenset(text.translate(_PUNCTUATION).split())


def _count_words(text: str) -> int:
    """Words, approximated by spaces and line breaks (fast; normalised text has single spaces);
    in Chinese or Japanese, two characters count as a word."""
    stripped = text.strip()
    if not stripped:
        return 0
    words = stripped.count(" ") + stripped.count("\n") + 1
    return words if stripped.isascii() else words + len(_CJK.findall(stripped)) // 2


def _is_english(text: str) -> bool:
    """Whether ``text`` reads as English (then the other languages' rules are skipped)."""
    return " the " in text or " and " in text or " you " in text
