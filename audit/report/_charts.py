"""Static inline SVG charts for the HTML reports: no library, no script, no network.

Two chart kinds cover every figure in the reports:

* :func:`interval_plot` — one row per estimate with its confidence interval as a whisker
  (headline rates, the per-topic forest plot, breakdowns by lean, template and category),
  optional per-row reference marks (a published claim) and flags (BH-significant topics).
* :func:`trend_plot` — an estimate over time with its interval as a band and reference lines
  (the history index).

Every piece of text is escaped here, so callers may pass labels taken from data files.
No chart uses ``id`` attributes, links or event handlers; the output is a ``Markup`` string.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

__all__ = [
    "Interval",
    "RefLine",
    "TrendPoint",
    "fmt_value",
    "interval_plot",
    "nice_ticks",
    "trend_plot",
]

_FONT = "font-family:system-ui,sans-serif"
_LABEL_CHARS = 48
_ROW_H = 22
_WIDTH = 900


@dataclass(frozen=True)
class Interval:
    """One row of an interval plot."""

    label: str
    estimate: float
    low: float | None = None
    high: float | None = None
    flagged: bool = False
    reference: float | None = None
    reference_label: str = ""
    note: str = ""


@dataclass(frozen=True)
class RefLine:
    """A vertical (interval plot) or horizontal (trend plot) reference line."""

    value: float
    label: str


@dataclass(frozen=True)
class TrendPoint:
    """One run in a trend: when it finished and what it measured."""

    when: datetime
    estimate: float
    low: float | None = None
    high: float | None = None
    label: str = ""


def fmt_value(value: float | None, percent: bool = True, digits: int = 1) -> str:
    """Format a number for a chart or table: ``7.2%`` for proportions, ``2.31`` otherwise."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if percent:
        return f"{value * 100:.{digits}f}%"
    return f"{value:.{digits + 1}f}"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [low, high]."""
    if not high > low:
        high = low + 1e-3
    raw = (high - low) / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(low / step + 1e-9) * step
    ticks = [round(first, 12)]
    while ticks[-1] < high - step * 1e-9:
        ticks.append(round(first + step * len(ticks), 12))
    return ticks


def _clip(text: str, limit: int = _LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _finite(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None and not math.isnan(v)]


def _domain(
    rows: Sequence[Interval], refs: Sequence[RefLine], percent: bool
) -> tuple[float, float]:
    values = _finite([v for r in rows for v in (r.estimate, r.low, r.high, r.reference)])
    values += [r.value for r in refs]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if percent and low >= 0:
        low = 0.0
    pad = (high - low) * 0.05 or 0.01
    top = min(high + pad, 1.0) if percent and high <= 1.0 else high + pad
    return (low if low == 0 else low - pad), top


class _Scale:
    """Linear map from data values to pixels."""

    def __init__(self, d0: float, d1: float, p0: float, p1: float) -> None:
        self.d0, self.d1, self.p0, self.p1 = d0, d1, p0, p1

    def __call__(self, value: float) -> float:
        span = (self.d1 - self.d0) or 1.0
        return round(self.p0 + (value - self.d0) / span * (self.p1 - self.p0), 1)


def _text(
    x: float, y: float, body: str, anchor: str = "start", size: int = 12, extra: str = ""
) -> str:
    return (
        f'<text x="{x}" y="{y}" text-anchor="{anchor}" font-size="{size}" style="{_FONT}"{extra}>'
        f"{escape(body)}</text>"
    )


def _open(width: int, height: int, title: str) -> list[str]:
    return [
        (
            f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}"'
            ' class="chart" role="img">'
        ),
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fff"/>',
    ]


def _x_axis(
    scale: _Scale, ticks: list[float], top: float, bottom: float, percent: bool
) -> list[str]:
    out = [f'<line x1="{scale.p0}" y1="{bottom}" x2="{scale.p1}" y2="{bottom}" stroke="#333"/>']
    for tick in ticks:
        x = scale(tick)
        out.append(f'<line x1="{x}" y1="{top}" x2="{x}" y2="{bottom}" stroke="#e3e3e3"/>')
        out.append(f'<line x1="{x}" y1="{bottom}" x2="{x}" y2="{bottom + 4}" stroke="#333"/>')
        out.append(
            _text(
                x, bottom + 16, fmt_value(tick, percent, _tick_digits(ticks, percent)), "middle", 11
            )
        )
    return out


def _tick_digits(ticks: list[float], percent: bool) -> int:
    """Decimals needed to tell the ticks apart (2.5% steps need one, 10% steps none)."""
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
    step = step * 100 if percent else step
    return next((d for d in range(4) if abs(round(step, d) - step) < 1e-9 * max(step, 1)), 4)


def _ref_lines(refs: Sequence[RefLine], scale: _Scale, top: float, bottom: float) -> list[str]:
    out = []
    for i, ref in enumerate(refs):
        x = scale(ref.value)
        out.append(
            f'<line x1="{x}" y1="{top}" x2="{x}" y2="{bottom}" stroke="#b35900" '
            'stroke-width="1.5" stroke-dasharray="5 3"/>'
        )
        out.append(_text(x + 3, top - 4 - 12 * (i % 2), ref.label, "start", 11, ' fill="#b35900"'))
    return out


def _row(row: Interval, y: float, scale: _Scale, percent: bool) -> list[str]:
    colour = "#c0392b" if row.flagged else "#1f4e79"
    out = [f"<g><title>{escape(_row_tooltip(row, percent))}</title>"]
    label = ("★ " if row.flagged else "") + _clip(row.label)
    out.append(_text(scale.p0 - 8, y + 4, label, "end", 12, f' fill="{colour}"'))
    if row.low is not None and row.high is not None and not math.isnan(row.low + row.high):
        x0, x1 = scale(row.low), scale(row.high)
        out.append(
            f'<line x1="{x0}" y1="{y}" x2="{x1}" y2="{y}" stroke="{colour}" stroke-width="2"/>'
        )
        for x in (x0, x1):
            out.append(
                f'<line x1="{x}" y1="{y - 5}" x2="{x}" y2="{y + 5}" stroke="{colour}"'
                ' stroke-width="2"/>'
            )
    if row.reference is not None:
        xr = scale(row.reference)
        out.append(
            f'<line x1="{xr}" y1="{y - 9}" x2="{xr}" y2="{y + 9}" stroke="#b35900"'
            ' stroke-width="2"/>'
        )
    if not math.isnan(row.estimate):
        out.append(f'<circle cx="{scale(row.estimate)}" cy="{y}" r="4" fill="{colour}"/>')
    out.append(_text(scale.p1 + 8, y + 4, _row_note(row, percent), "start", 11, ' fill="#444"'))
    out.append("</g>")
    return out


def _row_note(row: Interval, percent: bool) -> str:
    text = fmt_value(row.estimate, percent)
    if row.reference is not None:
        text += f"  ({row.reference_label or 'claim ' + fmt_value(row.reference, percent)})"
    return text + (f"  {row.note}" if row.note else "")


def _row_tooltip(row: Interval, percent: bool) -> str:
    ci = (
        f" [{fmt_value(row.low, percent)}, {fmt_value(row.high, percent)}]"
        if row.low is not None
        else ""
    )
    return f"{row.label}: {fmt_value(row.estimate, percent)}{ci} {row.note}".strip()


def interval_plot(
    rows: Sequence[Interval],
    *,
    title: str,
    axis_label: str,
    refs: Sequence[RefLine] = (),
    percent: bool = True,
    legend: str = "",
) -> Markup:
    """A dot-and-whisker chart: one row per estimate, whiskers = interval, dashed = references."""
    left, right, top = 330, 220, 34 + 12 * min(len(refs), 2)
    height = top + max(len(rows), 1) * _ROW_H + 74
    bottom = height - 60
    lo, hi = _domain(rows, refs, percent)
    if percent:  # shares and their differences never leave −100% … 100%
        lo, hi = max(lo, -1.0), min(hi, 1.0)
    ticks = nice_ticks(lo, hi)
    if percent:
        ticks = [t for t in ticks if -1.0 - 1e-9 <= t <= 1.0 + 1e-9] or ticks
    scale = _Scale(ticks[0], ticks[-1], left, _WIDTH - right)
    parts = _open(_WIDTH, height, title)
    parts.append(_text(8, 16, title, "start", 13, ' font-weight="bold"'))
    parts += _x_axis(scale, ticks, top, bottom, percent)
    if percent and ticks[0] < 0 < ticks[-1]:
        parts.append(
            f'<line x1="{scale(0)}" y1="{top}" x2="{scale(0)}" y2="{bottom}" stroke="#777"/>'
        )
    parts += _ref_lines(refs, scale, top, bottom)
    for i, row in enumerate(rows):
        parts += _row(row, top + _ROW_H * (i + 0.5), scale, percent)
    parts.append(_text((scale.p0 + scale.p1) / 2, bottom + 33, axis_label, "middle", 12))
    if legend:
        parts.append(_text(8, height - 6, legend, "start", 11, ' fill="#555"'))
    parts.append("</svg>")
    return Markup("".join(parts))


def _time_scale(points: Sequence[TrendPoint], p0: float, p1: float) -> _Scale:
    stamps = [p.when.timestamp() for p in points]
    t0, t1 = min(stamps), max(stamps)
    if t1 == t0:
        return _Scale(t0 - 1, t1 + 1, p0, p1)
    pad = (t1 - t0) * 0.05
    return _Scale(t0 - pad, t1 + pad, p0, p1)


def _y_axis(
    scale: _Scale, ticks: list[float], left: float, right: float, percent: bool
) -> list[str]:
    out = [f'<line x1="{left}" y1="{scale.p0}" x2="{left}" y2="{scale.p1}" stroke="#333"/>']
    for tick in ticks:
        y = scale(tick)
        out.append(f'<line x1="{left}" y1="{y}" x2="{right}" y2="{y}" stroke="#e3e3e3"/>')
        out.append(
            _text(
                left - 6, y + 4, fmt_value(tick, percent, _tick_digits(ticks, percent)), "end", 11
            )
        )
    return out


def _band(points: Sequence[TrendPoint], xs: _Scale, ys: _Scale) -> list[str]:
    spans = [
        (p.when.timestamp(), p.low, p.high)
        for p in points
        if p.low is not None and p.high is not None
    ]
    if len(spans) < 2:
        return []
    upper = [f"{xs(t)},{ys(high)}" for t, _, high in spans]
    lower = [f"{xs(t)},{ys(low)}" for t, low, _ in reversed(spans)]
    points_attr = " ".join(upper + lower)
    return [f'<polygon points="{points_attr}" fill="#1f4e79" fill-opacity="0.15" stroke="none"/>']


def _trend_marks(points: Sequence[TrendPoint], xs: _Scale, ys: _Scale, percent: bool) -> list[str]:
    coords = [(xs(p.when.timestamp()), ys(p.estimate)) for p in points]
    out = []
    if len(coords) > 1:
        path = " ".join(f"{x},{y}" for x, y in coords)
        out.append(f'<polyline points="{path}" fill="none" stroke="#1f4e79" stroke-width="2"/>')
    for point, (x, y) in zip(points, coords, strict=True):
        tip = f"{point.label} {point.when:%Y-%m-%d %H:%M}: {fmt_value(point.estimate, percent)}"
        out.append(f"<g><title>{escape(tip.strip())}</title>")
        if point.low is not None and point.high is not None:
            out.append(
                f'<line x1="{x}" y1="{ys(point.low)}" x2="{x}" y2="{ys(point.high)}"'
                ' stroke="#1f4e79"/>'
            )
        out.append(f'<circle cx="{x}" cy="{y}" r="4" fill="#1f4e79"/></g>')
    return out


def _time_labels(points: Sequence[TrendPoint], xs: _Scale, y: float) -> list[str]:
    step = max(1, math.ceil(len(points) / 6))
    out = []
    for point in list(points)[::step]:
        out.append(_text(xs(point.when.timestamp()), y, f"{point.when:%Y-%m-%d}", "middle", 11))
    return out


def trend_plot(
    points: Sequence[TrendPoint],
    *,
    title: str,
    axis_label: str,
    refs: Sequence[RefLine] = (),
    percent: bool = True,
) -> Markup:
    """Estimates over time: a line through the runs, a shaded band for the intervals."""
    width, height, left, right, top, bottom = 560, 260, 70, 540, 30, 200
    rows = [Interval(p.label, p.estimate, p.low, p.high) for p in points]
    lo, hi = _domain(rows, refs, percent)
    ticks = nice_ticks(lo, hi, 4)
    ys = _Scale(ticks[0], ticks[-1], bottom, top)
    xs = _time_scale(points, left + 10, right - 10)
    parts = _open(width, height, title)
    parts.append(_text(8, 16, title, "start", 13, ' font-weight="bold"'))
    parts += _y_axis(ys, ticks, left, right, percent)
    parts.append(f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#333"/>')
    for ref in refs:
        y = ys(ref.value)
        parts.append(
            f'<line x1="{left}" y1="{y}" x2="{right}" y2="{y}" stroke="#b35900"'
            ' stroke-dasharray="5 3"/>'
        )
        parts.append(_text(right - 2, y - 4, ref.label, "end", 11, ' fill="#b35900"'))
    parts += _band(points, xs, ys) + _trend_marks(points, xs, ys, percent)
    parts += _time_labels(points, xs, bottom + 16)
    parts.append(_text((left + right) / 2, bottom + 36, "run finished (UTC date)", "middle", 12))
    parts.append(
        _text(
            14,
            (top + bottom) / 2,
            axis_label,
            "middle",
            12,
            f' transform="rotate(-90 14 {(top + bottom) / 2})"',
        )
    )
    parts.append("</svg>")
    return Markup("".join(parts))
