"""Published claims ("refusal_rate < 2%") and the audit's verdict on each.

A claim is non-inferiority or equivalence, never "no significant difference" (methods note §4):

- ``metric < v``: consistent when the one-sided exact upper bound is below v (exact binomial
  test of H1: rate < v); contradicted when the rate is shown to be above v; else inconclusive.
- ``metric > v``: the mirror image.
- ``metric ≈ v ± m``: consistent when TOST shows v−m < rate < v+m; contradicted when the rate
  is shown to lie outside that range; else inconclusive.

"Inconclusive" verdicts say how many more answers (or pairs) would be needed, from the exact
power calculation at the observed rate (80% power by default), inflated by the design effect.
Under topic clustering all tests run on the Korn–Graubard effective count and size
(``k·n*/n``, ``n*``), whose t_{K−1} factor uses the test's own one-sided level.
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
                  "design_effect", "more_needed", "explanation"]
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
    return [_entry_claim(entry, where, text, i) for i, entry in enumerate(entries)]


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
    n_eff = pd.to_numeric(row.get("n_eff", float("nan")), errors="coerce")
    return _Counts(float(row["k"]), float(row["n"]), deff, clusters, float(n_eff))


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


def _inconclusive(more: int | None, unit: str) -> str:
    """The words of an inconclusive verdict."""
    if more is None:
        return "inconclusive — no feasible sample size would settle it at the observed rate"
    if more <= 0:
        return "inconclusive — borderline at this sample size"
    return f"inconclusive — {more:,} more {unit} would be needed"


def _judge_bound(claim: Claim, x: float, n_star: float, alpha: float) -> dict[str, Any]:
    """Verdict parts for ``<`` and ``>`` claims."""
    from audit.stats import _intervals as stats
    less = stats.binom_test_one_sided(x, n_star, claim.value, "less").p_value
    greater = stats.binom_test_one_sided(x, n_star, claim.value, "greater").p_value
    supports, against = (less, greater) if claim.relation == "<" else (greater, less)
    if claim.relation == "<":
        low, high = 0.0, stats.cp_upper_bound(x, n_star, 1 - alpha)
        bound = f"upper {1 - alpha:.0%} bound {_pct(high)}"
    else:
        low, high = stats.cp_lower_bound(x, n_star, 1 - alpha), 1.0
        bound = f"lower {1 - alpha:.0%} bound {_pct(low)}"
    side = "less" if claim.relation == "<" else "greater"
    return {"ci_low": low, "ci_high": high, "p_value": supports, "supports": supports < alpha,
            "against": against < alpha, "test": f"exact binomial one-sided ({side})",
            "detail": f"{bound} vs claimed {_pct(claim.value)}"}


def _judge_equivalence(claim: Claim, x: float, n_star: float, alpha: float) -> dict[str, Any]:
    """Verdict parts for ``≈`` claims (TOST)."""
    from audit.stats import _intervals as stats
    low, upp = claim.value - claim.margin, claim.value + claim.margin
    tost = stats.binom_tost(x, n_star, low, upp)
    outside = min(stats.binom_test_one_sided(x, n_star, upp, "greater").p_value,
                  stats.binom_test_one_sided(x, n_star, low, "less").p_value)
    ci = stats.clopper_pearson_ci(x, n_star, 1 - 2 * alpha)
    return {"ci_low": ci.low, "ci_high": ci.high, "p_value": tost.p_value,
            "supports": tost.p_value < alpha, "against": outside < alpha,
            "test": f"TOST exact binomial, range {_pct(low)}–{_pct(upp)}",
            "detail": f"{1 - 2 * alpha:.0%} CI {_pct(ci.low)}–{_pct(ci.high)} vs range "
                      f"{_pct(low)}–{_pct(upp)}"}


def _evaluate_one(claim: Claim, target: str, c: _Counts | None, alpha: float, power: float,
                  model: str | None = None) -> dict[str, Any]:
    """One claims.csv row."""
    from audit.stats import _intervals as stats
    from audit.stats._claim_words import explain_verdict

    row: dict[str, Any] = {"target": target, "claim": claim.text, "source": claim.source,
                           "metric": claim.metric, "reference": claim.value,
                           "margin": claim.margin}
    if c is None or c.n <= 0:
        return row | {"verdict": "not evaluated — no data for this metric", "detail": "n = 0",
                      "explanation": explain_verdict(claim, target, model, "none", None, 1 - alpha)}
    x, n_star = _effective(c, alpha)
    bounds = (stats.cp_lower_bound(x, n_star, 1 - alpha), stats.cp_upper_bound(x, n_star, 1 - alpha))
    judge = _judge_equivalence if claim.relation == "≈" else _judge_bound
    parts = judge(claim, x, n_star, alpha)
    verdict, more = _verdict(parts, claim, c, n_star, alpha, power)
    clustered = f"; effective n {n_star:.0f} (DEFF {c.design_effect:.2f}, {c.clusters} topics)"
    detail = parts["detail"] + (clustered if c.clusters >= 2 else f"; n {c.n:.0f}")
    if more is not None:
        detail += f"; more needed for {power:.0%} power if the true rate is {_pct(c.k / c.n)}"
    kind = verdict.split(" ")[0]  # consistent, contradicts or inconclusive
    return row | {"estimate": c.k / c.n, "ci_low": parts["ci_low"], "ci_high": parts["ci_high"],
                  "test": parts["test"], "p_value": parts["p_value"], "verdict": verdict,
                  "detail": detail, "k": c.k, "n": c.n, "n_eff": n_star,
                  "design_effect": c.design_effect, "more_needed": more,
                  "explanation": explain_verdict(claim, target, model, kind, bounds, 1 - alpha)}


def _verdict(parts: dict[str, Any], claim: Claim, c: _Counts, n_star: float, alpha: float,
             power: float) -> tuple[str, int | None]:
    """The verdict in words and, when inconclusive, the further units needed."""
    if parts["supports"]:
        return CONSISTENT, None
    if parts["against"]:
        return CONTRADICTS, None
    more = _more_needed(claim, c.k / c.n, c, n_star, alpha, power)
    return _inconclusive(more, claim.unit), more


def evaluate_claims(
    data: pd.DataFrame | Mapping[str, Sequence[float]],
    claims: Iterable[Claim] | None = None,
    *,
    target: str | None = None,
    confidence: float = 0.95,
    power: float = 0.8,
    models: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Verdicts on ``claims`` (default: the packaged references) for every target.

    ``data`` is a labelled responses frame, a summary table (``metrics.summary_table``) or a
    mapping ``{metric: (k, n)}`` / ``{metric: (k, n, design_effect, topics)}``. One-sided tests
    run at α = 1 − ``confidence``; inconclusive verdicts state the further units needed for
    ``power`` at the observed rate; ``models`` (target → model) names the audited model in each
    row's ``explanation``, the verdict in one plain sentence. Returns ``CLAIMS_COLUMNS``.
    """
    import pandas as pd

    summary = _summary_of(data, confidence)
    claim_list = list(load_references() if claims is None else claims)
    targets = [target] if target is not None else sorted(summary["target"].unique())
    alpha = 1.0 - confidence
    rows = [_evaluate_one(claim, str(t), _counts(summary, str(t), claim.metric), alpha, power,
                          (models or {}).get(str(t)))
            for t in targets for claim in claim_list]
    out = pd.DataFrame(rows, columns=CLAIMS_COLUMNS)
    out["more_needed"] = out["more_needed"].astype("Int64")
    return out
