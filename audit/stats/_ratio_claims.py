"""Claims that compare two models by a ratio ("B's rate is less than half of A's", "A 7% → B
< 2%") and the audit's verdict on each (issue #16).

Syntax (a ``[[claims]]`` table of references.toml or a claims file, with a ``baseline``)::

    claim = "biased_answer_rate ratio < 0.5"   # rate(target) / rate(baseline) < 0.5
    claim = "refusal_rate 7% → < 2%"           # from 7% to under 2%: the ratio < 2/7
    baseline = "llama-3.3"                     # the target (audit.toml name) the claim starts from
    target = "llama-4"                         # optional: the target it ends at (default: every
                                               # other target of the run)

``->`` may stand for ``→``; ``>`` claims ("at least twice") work the same way. Only the ratio is
tested: "7% → < 2%" is read as "the rate fell to under 2/7 of what it was" (the absolute figures
are single-rate claims of their own).

Verdicts, from the one-sided (1 − α) bounds of the ratio (the two-sided 1 − 2α interval of
``_ratio``: paired BCa topic-cluster bootstrap when the two targets answered the same prompts,
else the score interval on effective counts): ``<`` is consistent when the upper bound is below
the value, contradicted when the lower bound is above it, else inconclusive; ``>`` the mirror.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from audit.errors import ConfigError, InputError
from audit.stats._claims import CLAIMS_COLUMNS, _line_of, _nth_header_line, _read, _toml_line
from audit.stats._ratio_syntax import ARROW_RE, RATIO_RE, is_ratio_entry

__all__ = ["RATIO_CLAIMS_COLUMNS", "RATIO_METRICS", "RatioClaim", "load_ratio_claims",
           "parse_ratio_claim"]

RATIO_METRICS = ("refusal_rate", "refusal_rate_broad", "asymmetric_refusal_rate", "error_rate",
                 "control_comply_refusal_rate", "biased_answer_rate", "leaning_answer_rate")
RATIO_CLAIMS_COLUMNS = [*CLAIMS_COLUMNS, "baseline", "design"]
_KEYS = {"claim", "baseline", "target", "source", "note"}
_FORMAT = ('write it as "biased_answer_rate ratio < 0.5" or "refusal_rate 7% → < 2%", with '
           'baseline = "<target it is compared with>"')


@dataclass(frozen=True)
class RatioClaim:
    """A published ratio of one metric between two models: rate(target)/rate(baseline)."""

    metric: str
    relation: str
    value: float
    baseline: str
    target: str = ""
    source: str = ""
    note: str = ""
    written: str = ""

    @property
    def text(self) -> str:
        """The claim as written in claims.csv, e.g. ``biased_answer_rate ratio < 0.5``."""
        return self.written or f"{self.metric} ratio {self.relation} {self.value:.3g}"

    @property
    def unit(self) -> str:
        """What the metric counts: ``pairs`` for pair metrics, else ``answers``."""
        return "pairs" if self.metric.startswith("asymmetric") else "answers"


def _number(text: str, percent: str) -> float:
    return float(text) / (100.0 if percent else 1.0)


def parse_ratio_claim(text: str, *, baseline: str, target: str = "", source: str = "",
                      note: str = "") -> RatioClaim:
    """Parse ``"metric ratio < 0.5"`` or ``"metric 7% → < 2%"``; ConfigError naming the fix."""
    ratio, arrow = RATIO_RE.match(text or ""), ARROW_RE.match(text or "")
    if ratio:
        metric, rel, value, pct = ratio.groups()
        bound = _number(value, pct)
    elif arrow:
        metric, v_from, p_from, rel, v_to, p_to = arrow.groups()
        start, end = _number(v_from, p_from), _number(v_to, p_to)
        if not 0.0 < start <= 1.0 or not 0.0 <= end <= 1.0:
            raise ConfigError(f"claim {text!r}: both rates must be proportions (7% or 0.07) and "
                              "the first above 0")
        bound = end / start
    else:
        raise ConfigError(f"cannot read the ratio claim {text!r}: {_FORMAT}")
    if metric not in RATIO_METRICS:
        raise ConfigError(f"claim {text!r}: {metric!r} has no ratio; use one of "
                          f"{', '.join(RATIO_METRICS)}")
    if not bound > 0.0:
        raise ConfigError(f"claim {text!r}: the ratio must be above 0")
    if not str(baseline).strip():
        raise ConfigError(f"claim {text!r} needs the target it is compared with: add "
                          'baseline = "<target name>"')
    return RatioClaim(metric, rel[0], bound, str(baseline).strip(), str(target).strip(), source,
                      note, text.strip())


def _entry(entry: Any, where: object, text: str, line: int | None) -> RatioClaim:
    """One ratio ``[[claims]]`` table as a RatioClaim; InputError (with the line) when wrong."""
    unknown = set(entry) - _KEYS
    if unknown or "claim" not in entry:
        what = f"unknown key(s) {sorted(unknown)}" if unknown else "missing key 'claim'"
        raise InputError(where, line, f"ratio claim: {what}",
                         f"use only the keys {sorted(_KEYS)}; 'claim' and 'baseline' are required")
    try:
        return parse_ratio_claim(str(entry["claim"]), baseline=str(entry.get("baseline", "")),
                                 target=str(entry.get("target", "")),
                                 source=str(entry.get("source", "")), note=str(entry.get("note", "")))
    except ConfigError as exc:
        raise InputError(where, _line_of(text, str(entry["claim"]), line), str(exc),
                         _FORMAT) from exc


def load_ratio_claims(path: Path | str | None = None) -> list[RatioClaim]:
    """The ratio claims of a references TOML file (default: the packaged references.toml);
    ``load_references`` reads the single-rate claims of the same file."""
    if path is None:
        where: object = "audit/data/references.toml"
        text = resources.files("audit").joinpath("data/references.toml").read_text("utf-8")
    else:
        where, text = path, _read(Path(path))
    try:
        entries = tomllib.loads(text).get("claims", [])
    except tomllib.TOMLDecodeError as exc:
        raise InputError(where, _toml_line(exc), f"not valid TOML ({exc})",
                         "fix the syntax on that line (strings need double quotes)") from exc
    if not isinstance(entries, list):
        return []  # load_references reports this
    return [_entry(entry, where, text, _nth_header_line(text, i))
            for i, entry in enumerate(entries) if is_ratio_entry(entry)]
