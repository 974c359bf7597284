"""How a ratio claim is written (``_ratio_claims``): the two forms and their detection.

Kept apart so that ``_claims.load_references`` can skip ratio entries without importing the
ratio machinery.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["ARROW_RE", "RATIO_RE", "is_ratio_entry", "looks_like_ratio"]

_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)\s*(%?)"
_REL = r"(<=|>=|<|>)"
RATIO_RE = re.compile(rf"^\s*([A-Za-z_][A-Za-z0-9_]*)\s+ratio\s*{_REL}\s*{_NUMBER}\s*$")
ARROW_RE = re.compile(rf"^\s*([A-Za-z_][A-Za-z0-9_]*)\s+{_NUMBER}\s*(?:→|->)\s*{_REL}\s*"
                      rf"{_NUMBER}\s*$")


def looks_like_ratio(text: str) -> bool:
    """Whether a claim text uses the ratio syntax."""
    return bool(RATIO_RE.match(text or "") or ARROW_RE.match(text or ""))


def is_ratio_entry(entry: Any) -> bool:
    """Whether a ``[[claims]]`` table is a ratio claim (it has a baseline or ratio syntax)."""
    return isinstance(entry, dict) and ("baseline" in entry
                                        or looks_like_ratio(str(entry.get("claim", ""))))
