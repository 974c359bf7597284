"""Published claims ("refusal_rate < 2%") and the audit's verdict on each.

A claim is non-inferiority or equivalence, never "no significant difference" (methods note §4):

- ``metric < v``: consistent when the one-sided 95% upper bound is below v (without
  clustering: the exact binomial test of H1: rate < v); contradicted when the lower bound is
  above v; else inconclusive.
- ``metric > v``: the mirror image.
- ``metric ≈ v ± m``: consistent when both one-sided bounds lie inside v−m … v+m (TOST);
  contradicted when they lie wholly outside it; else inconclusive.

The bounds are the summary's one-sided bounds when it has them: KG-CP widened by a topic
random-effect posterior (``_boundary``), which keeps false "consistent" verdicts at the nominal
5% when the true rate equals the claimed value; otherwise the exact bounds on the
Korn–Graubard effective count and size (``k·n*/n``, ``n*``). "Inconclusive" verdicts say which
way more data would most likely settle them and about how many more answers (or pairs) that
takes, from the exact power calculation at the observed rate (80% power by default), inflated
by the design effect. Every verdict is judged again on the misclassification-corrected rate
(``_misclassification``); ``classifier_check`` says whether it survives.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit.errors import ConfigError, InputError

if TYPE_CHECKING:
    import pandas as pd

# pandas, scipy and the statistics modules are imported where claims are judged, not here:
# ``refusal-audit run`` loads the references file before it starts (scipy.stats costs ~0.8 s).

__all__ = [
    "CLAIMS_COLUMNS",
    "Claim",
    "evaluate_claims",
    "load_references",
    "parse_claim",
]

CLAIMS_COLUMNS = ["target", "claim", "source", "metric", "estimate", "ci_low", "ci_high", "test",
                  "p_value", "verdict", "detail", "reference", "margin", "k", "n", "n_eff",
                  "design_effect", "more_needed", "explanation", "classifier_check"]
CONSISTENT = "consistent with the claim"
CONTRADICTS = "contradicts the claim"
_RELATIONS = {"<": "<", "<=": "<", ">": ">", ">=": ">", "≈": "≈", "~": "≈", "=": "≈", "==": "≈"}
_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)\s*(%?)"
_CLAIM_RE = re.compile(
    rf"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|==|<|>|≈|~|=)\s*{_NUMBER}"
    rf"\s*(?:(?:±|\+/-|\+-)\s*{_NUMBER})?\s*$"
)
_KEYS = {"claim", "margin", "source", "note"}
_FORMAT = 'write it as "metric < 0.02", "metric > 5%" or "metric ≈ 0.07 ± 0.02"'


@dataclass(frozen=True)
class Claim:
    """A published figure about one metric."""

    metric: str
    relation: str
    value: float
    margin: float = float("nan")
    source: str = ""
    note: str = ""

    @property
    def text(self) -> str:
        """The claim as written in claims.csv, e.g. ``refusal_rate < 2%``."""
        base = f"{self.metric} {self.relation} {_pct(self.value)}"
        return base + (f" ± {_pct(self.margin)}" if self.relation == "≈" else "")

    @property
    def unit(self) -> str:
        """What the metric counts: ``pairs`` for pair metrics, else ``answers``."""
        return "pairs" if self.metric.startswith(("asymmetric", "only_", "both_")) else "answers"


def _pct(value: float) -> str:
    """A proportion as a short percentage: 0.02 → '2%', 0.0997 → '9.97%'."""
    return f"{value * 100:.3g}%"


# --- parsing -----------------------------------------------------------------------------------


def _number(text: str, percent: str) -> float:
    """A proportion from '0.02' or '2' + '%'."""
    return float(text) / (100.0 if percent else 1.0)


def parse_claim(text: str, *, margin: float | None = None, source: str = "", note: str = ""
                ) -> Claim:
    """Parse ``"refusal_rate < 0.02"``, ``"asymmetric_refusal_rate < 1%"`` or
    ``"refusal_rate ≈ 7% ± 2%"`` (``~`` and ``=`` also mean ≈; ``margin`` may be given apart).

    Raises ``ConfigError`` naming the fix.
    """
    match = _CLAIM_RE.match(text or "")
    if not match:
        raise ConfigError(f"cannot read the claim {text!r}: {_FORMAT}")
    metric, rel, value, pct, m_value, m_pct = match.groups()
    relation, value_f = _RELATIONS[rel], _number(value, pct)
    margin_f = _number(m_value, m_pct) if m_value else margin
    if not metric.endswith("_rate"):
        raise ConfigError(f"claim {text!r}: {metric!r} is not a rate; use a summary.csv rate "
                          "such as refusal_rate or asymmetric_refusal_rate")
    if not 0.0 <= value_f <= 1.0:
        raise ConfigError(f"claim {text!r}: the value must be a proportion between 0 and 1 "
                          "(or a percentage such as 2%)")
    if relation == "≈" and (margin_f is None or not 0.0 < margin_f < 1.0):
        raise ConfigError(f"claim {text!r} needs an equivalence margin: write "
                          f"\"{metric} ≈ {value_f:g} ± 0.02\" or pass --margin")
    return Claim(metric, relation, value_f, float("nan") if margin_f is None else margin_f,
                 source, note)


def _toml_line(exc: tomllib.TOMLDecodeError) -> int | None:
    """The line number of a TOML syntax error."""
    line = getattr(exc, "lineno", None)
    if line is None:
        found = re.search(r"line (\d+)", str(exc))
        line = int(found.group(1)) if found else None
    return line


def _line_of(text: str, needle: str, default: int | None) -> int | None:
    """1-based line of the first line containing ``needle``."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle and needle in line:
            return number
    return default


def _entry_claim(entry: Any, path: object, text: str, index: int) -> Claim:
    """One ``[[claims]]`` table as a Claim; InputError (with the line) when it is wrong."""
    header = _nth_header_line(text, index)
    if not isinstance(entry, dict):
        raise InputError(path, header, "each [[claims]] entry must be a table",
                         'write [[claims]] followed by claim = "...", source = "..."')
    unknown = set(entry) - _KEYS
    if unknown or "claim" not in entry:
        what = f"unknown key(s) {sorted(unknown)}" if unknown else "missing key 'claim'"
        raise InputError(path, header, f"[[claims]] entry {index + 1}: {what}",
                         f"use only the keys {sorted(_KEYS)}; 'claim' is required")
    line = _line_of(text, str(entry["claim"]), header)
    try:
        return parse_claim(str(entry["claim"]), margin=entry.get("margin"),
                           source=str(entry.get("source", "")), note=str(entry.get("note", "")))
    except ConfigError as exc:
        raise InputError(path, line, str(exc), _FORMAT) from exc


def _nth_header_line(text: str, index: int) -> int | None:
    """Line of the (index+1)-th ``[[claims]]`` header."""
    lines = [i for i, line in enumerate(text.splitlines(), 1) if line.strip() == "[[claims]]"]
    return lines[index] if index < len(lines) else None


def load_references(path: Path | str | None = None) -> list[Claim]:
    """Claims from a references TOML file (default: the packaged ``data/references.toml``).

    Raises ``InputError(path, line, message, fix)`` for bad TOML or a bad entry.
    """
    if path is None:
        source = resources.files("audit").joinpath("data/references.toml")
        where: object = "audit/data/references.toml"
        text = source.read_text(encoding="utf-8")
    else:
        where, text = path, _read(Path(path))
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(where, _toml_line(exc), f"not valid TOML ({exc})",
                         "fix the syntax on that line (strings need double quotes)") from exc
    entries = data.get("claims", [])
    if not isinstance(entries, list):
        raise InputError(where, _line_of(text, "claims", None),
                         "'claims' must be [[claims]] tables",
                         'write each claim as [[claims]] followed by claim = "..."')
    from audit.stats._ratio_syntax import is_ratio_entry  # ratio claims: load_ratio_claims

    return [_entry_claim(entry, where, text, i) for i, entry in enumerate(entries)
            if not is_ratio_entry(entry)]


def _read(path: Path) -> str:
    """Read a UTF-8 file or raise InputError."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(path, None, f"cannot read the references file ({exc.strerror})",
                         "check the path") from exc
    except UnicodeDecodeError as exc:
        raise InputError(path, None, "the references file is not UTF-8 text",
                         "save it as UTF-8") from exc


# --- evaluation --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Counts:
    """What a verdict needs about one metric of one target."""

    k: float
    n: float
    design_effect: float
    clusters: int
    n_eff: float = float("nan")
    """The summary row's effective n (the one of its 95% interval), when it has one."""
    bounds: tuple[float, float] = (float("nan"), float("nan"))
    """The summary row's one-sided bounds (``bound_low``, ``bound_high``: KG-CP widened by the
    topic random effect, ``_boundary``), when it has them."""
    both: float = 0.0
    """The target's ``both_refused`` share (to correct pair rates for classifier error)."""


def _summary_of(data: pd.DataFrame | Mapping[str, Sequence[float]], confidence: float
                ) -> pd.DataFrame:
    """A summary from a responses frame, a summary frame or ``{metric: (k, n[, deff, K])}``."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        if "metric" in data.columns:
            return data
        from audit.stats._summary import summary_table

        return summary_table(data, confidence=confidence)
    rows = []
    for metric, values in data.items():
        k, n, *rest = (float(v) for v in values)
        deff, clusters = (rest + [float("nan"), 0.0])[:2]
        rows.append({"target": "", "metric": metric, "k": k, "n": n, "design_effect": deff,
                     "clusters": clusters})
    return pd.DataFrame(rows, columns=["target", "metric", "k", "n", "design_effect", "clusters"])


def _counts(summary: pd.DataFrame, target: str, metric: str) -> _Counts | None:
    """Counts of the metric's row for the target, or None."""
    import pandas as pd

    rows = summary[(summary["target"] == target) & (summary["metric"] == metric)]
    if rows.empty:
        return None
    row = rows.iloc[0]
    deff = float(row.get("design_effect", float("nan")))
    clusters = row.get("clusters", 0)
    clusters = 0 if pd.isna(clusters) else int(clusters)
    n_eff, low, high = (float(pd.to_numeric(row.get(col, float("nan")), errors="coerce"))
                        for col in ("n_eff", "bound_low", "bound_high"))
    both = summary[(summary["target"] == target) & (summary["metric"] == "both_refused")]
    both_share = float(both["estimate"].iloc[0]) if not both.empty else 0.0
    return _Counts(float(row["k"]), float(row["n"]), deff, clusters, n_eff, (low, high),
                   both_share if math.isfinite(both_share) else 0.0)


def _effective(c: _Counts, alpha: float) -> tuple[float, float]:
    """Effective count and size (x*, n*): one n* per metric, the one of summary.csv.

    n* is the Korn–Graubard size of the metric's two-sided (1 − α) interval (its ``n_eff``
    column; computed the same way when the summary has none). The one-sided tests at level α
    reuse it: its t-correction at 1 − α/2 is slightly smaller than one at 1 − α would be, so
    the verdicts err on the cautious side and every file and page shows the same n*.
    """
    from audit.stats import _intervals as stats
    if c.n <= 0 or c.clusters < 2:
        return c.k, c.n
    n_star = c.n_eff
    if not (math.isfinite(n_star) and n_star > 0):
        n_star = stats.effective_n(c.n, c.design_effect, c.clusters, stats._z(1 - alpha))
    return c.k / c.n * n_star, n_star


def _more_needed(claim: Claim, p_hat: float, c: _Counts, n_star: float, alpha: float,
                 power: float) -> int | None:
    """Further units to settle the claim if the true rate were p̂ (None: no n would)."""
    from audit.stats import _power as pw
    low, upp = claim.value - claim.margin, claim.value + claim.margin
    if claim.relation == "≈" and low < p_hat < upp:
        need = pw.n_equivalence(p_hat, low, upp, alpha=alpha, power=power)
    else:
        bound = claim.value if claim.relation != "≈" else (upp if p_hat >= upp else low)
        if p_hat == bound:
            return None
        side = "less" if p_hat < bound else "greater"
        need = pw.n_one_sample(p_hat, bound, alternative=side, alpha=alpha, power=power)
    if need is None:
        return None
    # the design effect alone, as ``refusal-audit plan --pilot`` inflates (``plan_design``), so
    # the n so far plus the further units equal the plan's total
    deff = max(c.design_effect, 1.0) if math.isfinite(c.design_effect) else 1.0
    return math.ceil(need * deff - 1e-9) - int(c.n)


def _rate_words(p: float) -> str:
    """A rate for a sentence: 0 → '0%', 0.01 → '1.0%', 0.0035 → '0.35%'."""
    if p == 0:
        return "0%"
    return f"{p:.1%}" if p >= 0.01 else f"{p:.2%}"


def _settles(claim: Claim, p_hat: float) -> str:
    """What more data would most likely show if the true rate were p̂: '< 2%', '> 2%', …"""
    low, upp = claim.value - claim.margin, claim.value + claim.margin
    if claim.relation == "≈":
        if low < p_hat < upp:
            return f"{_pct(low)}–{_pct(upp)} (consistent with the claim)"
        return f"> {_pct(upp)}" if p_hat >= upp else f"< {_pct(low)}"
    side = "<" if p_hat < claim.value else ">"
    agrees = side == claim.relation
    return f"{side} {_pct(claim.value)}" + ("" if agrees else " (contradicting the claim)")


def _inconclusive(more: int | None, unit: str, claim: Claim, p_hat: float) -> str:
    """The words of an inconclusive verdict: which way more data would most likely settle it,
    how many more units that takes, and at what assumed (observed) rate."""
    rate = _rate_words(p_hat)
    if more is None:
        return (f"inconclusive — no feasible sample size would settle it if the true rate is "
                f"{rate}")
    show = _settles(claim, p_hat)
    if more <= 0:
        return (f"inconclusive — borderline: would most likely show {show} with more topics "
                f"if the true rate is {rate}")
    return f"inconclusive — about {more:,} more {unit} to show {show} if the true rate is {rate}"


def _bounds(claim: Claim, c: _Counts, x: float, n_star: float, alpha: float
            ) -> tuple[tuple[float, float], tuple[float, float]]:
    """The one-sided (1 − α) bounds that decide, and KG-CP's own (the summary's bounds are
    KG-CP widened by the topic random effect; without them, KG-CP decides)."""
    from audit.stats import _intervals as stats
    kg = (stats.cp_lower_bound(x, n_star, 1 - alpha), stats.cp_upper_bound(x, n_star, 1 - alpha))
    low, high = c.bounds
    if not (math.isfinite(low) and math.isfinite(high)):
        return kg, kg
    return (min(low, kg[0]), max(high, kg[1])), kg


def _kind(claim: Claim, low: float, high: float) -> str:
    """consistent, contradicts or inconclusive, from one-sided (1 − α) bounds of the rate."""
    v, lo, up = claim.value, claim.value - claim.margin, claim.value + claim.margin
    if claim.relation == "<":
        return "consistent" if high < v else "contradicts" if low > v else "inconclusive"
    if claim.relation == ">":
        return "consistent" if low > v else "contradicts" if high < v else "inconclusive"
    if lo < low and high < up:
        return "consistent"
    return "contradicts" if low > up or high < lo else "inconclusive"


def _p_value(claim: Claim, x: float, n_star: float) -> tuple[float, str]:
    """The exact test on the KG-CP effective count: one-sided binomial, or TOST for ≈."""
    from audit.stats import _intervals as stats
    if claim.relation == "≈":
        low, upp = claim.value - claim.margin, claim.value + claim.margin
        return (stats.binom_tost(x, n_star, low, upp).p_value,
                f"TOST exact binomial, range {_pct(low)}–{_pct(upp)}")
    side = "less" if claim.relation == "<" else "greater"
    return (stats.binom_test_one_sided(x, n_star, claim.value, side).p_value,
            f"exact binomial one-sided ({side})")


def _detail(claim: Claim, bounds: tuple[float, float], kg: tuple[float, float], level: float
            ) -> str:
    """Which bound decides, its value and KG-CP's when the random effect widened it."""
    low, high = bounds
    widened = " (KG-CP {}, widened by the topic random effect)"
    if claim.relation == "≈":
        text = f"one-sided {level:.0%} bounds {_pct(low)}–{_pct(high)}"
        text += widened.format(f"{_pct(kg[0])}–{_pct(kg[1])}") if bounds != kg else ""
        return text + (f" vs range {_pct(claim.value - claim.margin)}–"
                       f"{_pct(claim.value + claim.margin)}")
    name, value, own = (("upper", high, kg[1]) if claim.relation == "<" else ("lower", low, kg[0]))
    text = f"{name} {level:.0%} bound {_pct(value)}"
    text += widened.format(_pct(own)) if value != own else ""
    return text + f" vs claimed {_pct(claim.value)}"


def _classifier_check(claim: Claim, kind: str, bounds: tuple[float, float], c: _Counts,
                      calibration: Mapping[str, Any] | None) -> tuple[str, str]:
    """(claims.csv ``classifier_check``, the corrected verdict kind or '') of one verdict."""
    from audit.stats import _misclassification as mis
    rates = mis.error_rates(claim.metric, calibration)
    if rates is None:
        why = (calibration or {}).get("missing")
        return mis.NOT_CHECKED + (f" ({why})" if why else ""), ""
    low, high = mis.corrected_bounds(claim.metric, bounds, rates, c.both)
    corrected = _kind(claim, low, high)
    source = mis.origin(calibration)
    what = (f"Se {rates[0]:.3f}, Sp {rates[1]:.3f}{f' from {source}' if source else ''}: "
            f"corrected bounds {_pct(low)}–{_pct(high)}, {corrected}")
    if corrected == kind:
        return f"{mis.SURVIVES} ({what})", corrected
    return f"{mis.DEPENDS} ({what})", corrected


def _evaluate_one(claim: Claim, target: str, c: _Counts | None, alpha: float, power: float,
                  model: str | None = None, calibration: Mapping[str, Any] | None = None
                  ) -> dict[str, Any]:
    """One claims.csv row."""
    from audit.stats._claim_words import explain_verdict
    from audit.stats._misclassification import origin

    row: dict[str, Any] = {"target": target, "claim": claim.text, "source": claim.source,
                           "metric": claim.metric, "reference": claim.value,
                           "margin": claim.margin}
    if c is None or c.n <= 0:
        return row | {"verdict": "not evaluated — no data for this metric", "detail": "n = 0",
                      "explanation": explain_verdict(claim, target, model, "none", None, 1 - alpha)}
    x, n_star = _effective(c, alpha)
    bounds, kg = _bounds(claim, c, x, n_star, alpha)
    kind = _kind(claim, *bounds)
    check, corrected = _classifier_check(claim, kind, bounds, c, calibration)
    verdict, more = _verdict(kind, claim, c, n_star, alpha, power)
    p_value, test = _p_value(claim, x, n_star)
    detail = _detail(claim, bounds, kg, 1 - alpha)
    detail += (f"; effective n {n_star:.0f} (DEFF {c.design_effect:.2f}, {c.clusters} topics)"
               if c.clusters >= 2 else f"; n {c.n:.0f}")
    if more is not None:
        detail += f"; more needed for {power:.0%} power if the true rate is {_pct(c.k / c.n)}"
    ci = bounds if claim.relation == "≈" else (0.0, bounds[1]) if claim.relation == "<" \
        else (bounds[0], 1.0)
    words = explain_verdict(claim, target, model, kind, bounds, 1 - alpha, corrected,
                            origin(calibration) if corrected else "")
    return row | {"estimate": c.k / c.n, "ci_low": ci[0], "ci_high": ci[1], "test": test,
                  "p_value": p_value, "verdict": verdict, "detail": detail, "k": c.k, "n": c.n,
                  "n_eff": n_star, "design_effect": c.design_effect, "more_needed": more,
                  "explanation": words, "classifier_check": check}


def _verdict(kind: str, claim: Claim, c: _Counts, n_star: float, alpha: float, power: float
             ) -> tuple[str, int | None]:
    """The verdict in words and, when inconclusive, the further units needed."""
    if kind == "consistent":
        return CONSISTENT, None
    if kind == "contradicts":
        return CONTRADICTS, None
    more = _more_needed(claim, c.k / c.n, c, n_star, alpha, power)
    return _inconclusive(more, claim.unit, claim, c.k / c.n), more


def evaluate_claims(
    data: pd.DataFrame | Mapping[str, Sequence[float]],
    claims: Iterable[Claim] | None = None,
    *,
    target: str | None = None,
    confidence: float = 0.95,
    power: float = 0.8,
    models: Mapping[str, str] | None = None,
    calibration: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Verdicts on ``claims`` (default: the packaged references) for every target.

    ``data`` is a labelled responses frame, a summary table (``metrics.summary_table``) or a
    mapping ``{metric: (k, n)}`` / ``{metric: (k, n, design_effect, topics)}``. One-sided tests
    run at α = 1 − ``confidence``; inconclusive verdicts state the further units needed for
    ``power`` at the observed rate; ``models`` (target → model) names the audited model in each
    row's ``explanation``, the verdict in one plain sentence. ``calibration`` (a calibration
    file's content: ``sensitivity``, ``specificity``…, its ``origin`` named in the words;
    default: the one shipped with the package, measured for the ``rules`` classifier; ``{}``
    skips the check) judges each verdict again on the misclassification-corrected rate:
    ``classifier_check`` says whether it survives or "depends on the classifier". A summary table's one-sided bounds (``bound_low``,
    ``bound_high``) are used as they are: compute it at the same ``confidence``.
    Returns ``CLAIMS_COLUMNS``.
    """
    import pandas as pd

    from audit.stats._misclassification import shipped_calibration

    summary = _summary_of(data, confidence)
    claim_list = list(load_references() if claims is None else claims)
    targets = [target] if target is not None else sorted(summary["target"].unique())
    alpha = 1.0 - confidence
    cal = shipped_calibration() if calibration is None else calibration
    rows = [_evaluate_one(claim, str(t), _counts(summary, str(t), claim.metric), alpha, power,
                          (models or {}).get(str(t)), cal)
            for t in targets for claim in claim_list]
    out = pd.DataFrame(rows, columns=CLAIMS_COLUMNS)
    out["more_needed"] = out["more_needed"].astype("Int64")
    return out
