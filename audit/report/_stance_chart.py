"""The stance distribution as stacked bars (inline SVG, no script): one bar per row, one segment
per stance label (1 only side A … 5 only side B, refusal), each segment's share and count in
its tooltip. Every piece of text is escaped here, as in ``audit.report._charts``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from audit.report._charts import _clip, _open, _text

__all__: list[str] = []

SEGMENTS: tuple[tuple[str, str, str], ...] = (
    ("1", "1 only side A", "#1f4e79"),
    ("2", "2 mostly side A", "#7fa7cf"),
    ("3", "3 neutral / balanced", "#d9d9d9"),
    ("4", "4 mostly side B", "#f0b27a"),
    ("5", "5 only side B", "#b35900"),
    ("refusal", "refusal (judge)", "#555555"),
)
_WIDTH, _LEFT, _RIGHT, _ROW_H = 900, 300, 80, 26


@dataclass(frozen=True)
class Bar:
    """One stacked bar: a label and the count of each stance label."""

    label: str
    counts: Mapping[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.get(key, 0) for key, _, _ in SEGMENTS)


def _segments(bar: Bar, y: float, span: float) -> list[str]:
    out, x = [], float(_LEFT)
    for key, name, colour in SEGMENTS:
        count = bar.counts.get(key, 0)
        if not count or not bar.total:
            continue
        width = round(span * count / bar.total, 1)
        tip = f"{bar.label}: {name}: {count} of {bar.total} ({count / bar.total:.1%})"
        out.append(f"<g><title>{escape(tip)}</title><rect x=\"{round(x, 1)}\" y=\"{y - 8}\" "
                   f"width=\"{width}\" height=\"16\" fill=\"{colour}\"/></g>")
        x += width
    return out


def _legend(y: float) -> list[str]:
    out, x = [], 8.0
    for _, name, colour in SEGMENTS:
        out.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{colour}"/>')
        out.append(_text(x + 14, y, name, "start", 11))
        x += 14 + 7 * len(name) + 12
    return out


def stacked_bars(bars: Sequence[Bar], *, title: str) -> Markup:
    """Stacked horizontal bars of stance shares, each bar summing to 100% of its judged answers."""
    top = 34
    height = top + max(len(bars), 1) * _ROW_H + 40
    span = _WIDTH - _LEFT - _RIGHT
    parts = _open(_WIDTH, height, title)
    parts.append(_text(8, 16, title, "start", 13, ' font-weight="bold"'))
    for i, bar in enumerate(bars):
        y = top + _ROW_H * (i + 0.5)
        parts.append(_text(_LEFT - 8, y + 4, _clip(bar.label), "end", 12))
        parts += _segments(bar, y, span)
        parts.append(_text(_WIDTH - _RIGHT + 6, y + 4, f"n = {bar.total:,}", "start", 11, ' fill="#444"'))
    parts += _legend(height - 12)
    parts.append("</svg>")
    return Markup("".join(parts))
