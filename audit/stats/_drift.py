"""Drift: compare a run with the previous run of the same target and prompt set.

For every target of a finished run, the previous run is the latest *other* finished run folder
under the same reports root that audited a target of the same name, the same model and the same
endpoint (host and path of its base URL: a server restarted on another port is the same
endpoint) on the same prompt set (same sha256): a name reused for another endpoint or model is
not a change of behaviour. It is looked up in ``reports/history.csv`` when that file names one whose folder
still exists, else by scanning the run folders' ``run.json``.

The comparison is ``audit.compare.compare_runs`` (methods note §5): paired on the prompts
(``prompt_id`` × ``sample``) answered in both runs — for the strict and broad refusal rates the
unit is a contested prompt answered in both, for the asymmetric refusal rate a mirrored pair
valid in both — with the topic-clustered Bonett–Price CI of the change ``now − before`` and the
Durkalski test (exact McNemar with fewer than two topics); runs sharing too few prompts are
compared as independent samples. On top of that, a Holm adjustment over every test of the run
(targets × metrics), so a nightly audit of several targets does not alarm more often than
``alpha`` when nothing changed.

An alert is raised for a significant change (Holm-adjusted p < ``alpha``) in the direction that
``fail_on`` names (``any``, ``increase`` or ``decrease``; a change the other way is a note), and
for an increase threshold breached *on the CI*: ``thresholds`` keys ``max_refusal_rate_increase``,
``max_refusal_rate_broad_increase`` and ``max_asymmetric_rate_increase`` (absolute proportions)
are breached when the CI's lower bound of the increase is above the limit.

Library code: no Prefect. ``flows/`` publishes the result and fails the flow run on an alert.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from audit.csvio import read_csv, write_csv

__all__ = ["DEFAULT_ALPHA", "DRIFT_COLUMNS", "DRIFT_METRICS", "DRIFT_NAME", "FAIL_ON", "DriftReport", "RunInfo",
           "check_drift", "compare_target", "endpoint_identity", "find_previous", "holm", "increase_limits",
           "run_info", "write_drift"]

DRIFT_NAME = "drift.csv"
DEFAULT_ALPHA = 0.05
FAIL_ON = ("any", "increase", "decrease")
DRIFT_METRICS = ("refusal_rate", "refusal_rate_broad", "asymmetric_refusal_rate")
DRIFT_COLUMNS = ["target", "metric", "previous_run", "previous_model", "model", "design", "unit", "n_shared",
                 "before", "now", "change", "ci_low", "ci_high", "b", "c", "test", "p_value", "p_holm",
                 "significant", "limit", "breach", "detail"]
_RESPONSE_COLUMNS = ("target", "model", "prompt_id", "pair_id", "side", "topic", "category", "template",
                     "stance", "lean", "kind", "sample", "label", "truncated")
_UNIT = {"refusal_rate": "contested prompts", "refusal_rate_broad": "contested prompts",
         "asymmetric_refusal_rate": "mirrored pairs"}


@dataclass(frozen=True)
class RunInfo:
    """What drift needs to know about a finished run folder."""

    run_id: str
    run_dir: Path
    finished_at: str
    prompt_set_sha256: str
    targets: Mapping[str, str]  # name -> model
    endpoints: Mapping[str, str] = field(default_factory=dict)  # name -> host/path of its base URL

    def same_target(self, other: RunInfo, name: str) -> bool:
        """Whether ``other`` audited target ``name`` with the same model on the same endpoint (an
        endpoint unknown to either run, as in old run folders, is not held against it)."""
        if name not in self.targets or name not in other.targets or self.targets[name] != other.targets[name]:
            return False
        mine, theirs = self.endpoints.get(name, ""), other.endpoints.get(name, "")
        return not mine or not theirs or mine == theirs


def endpoint_identity(base_url: str) -> str:
    """A base URL's host and path, lower-cased host, no port, credentials or query:
    ``https://API.example.com:443/v1/`` → ``api.example.com/v1``."""
    parts = urlsplit(base_url.strip())
    return f"{(parts.hostname or '').lower()}/{parts.path.strip('/')}".rstrip("/")


def _endpoints(meta: Mapping[str, Any]) -> dict[str, str]:
    """Target name → endpoint identity, from run.json's configuration (else the recorded host)."""
    out = {}
    config = meta.get("config")
    config = config if isinstance(config, dict) else {}
    for t in config.get("targets") or []:
        if isinstance(t, dict) and t.get("base_url"):
            out[str(t.get("name") or t.get("model"))] = endpoint_identity(str(t["base_url"]))
    for t in meta.get("targets") or []:
        if isinstance(t, dict) and t.get("host") and str(t.get("name")) not in out:
            out[str(t.get("name"))] = endpoint_identity(f"http://{t['host']}")
    return out


@dataclass
class DriftReport:
    """The comparison of one run with its predecessors: a table, alerts and notes."""

    rows: pd.DataFrame
    alerts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    alpha: float | None = DEFAULT_ALPHA

    @property
    def compared(self) -> bool:
        """Whether any target had a previous run to compare with."""
        return not self.rows.empty


def run_info(run_dir: Path) -> RunInfo | None:
    """The run's identity, or None if the folder is not a finished run with its responses."""
    run_dir = Path(run_dir)
    try:
        meta = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or not meta.get("finished_at") or not (run_dir / "responses.csv").is_file():
        return None
    targets = {str(t.get("name")): str(t.get("model", "")) for t in meta.get("targets") or [] if isinstance(t, dict)}
    sha = str((meta.get("prompt_set") or {}).get("sha256") or "")
    return RunInfo(str(meta.get("run_id") or run_dir.name), run_dir, str(meta["finished_at"]), sha, targets,
                   _endpoints(meta))


def _when(text: str) -> pd.Timestamp:
    ts = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    return ts if not pd.isna(ts) else pd.Timestamp.min.tz_localize("UTC")


def _from_history(current: RunInfo, target: str, root: Path) -> list[RunInfo]:
    path = root / "history.csv"
    if not path.is_file():
        return []
    try:
        hist = read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError):
        return []
    if not {"run_id", "run_dir", "target", "prompt_set_sha256"} <= set(hist.columns):
        return []
    hits = hist[(hist["target"] == target) & (hist["prompt_set_sha256"] == current.prompt_set_sha256)
                & (hist["run_id"] != current.run_id)]
    found = (run_info(root / d) for d in dict.fromkeys(hits["run_dir"]))
    return [r for r in found if r is not None]


def _from_folders(current: RunInfo, root: Path) -> list[RunInfo]:
    if not root.is_dir():
        return []
    found = (run_info(d) for d in sorted(root.iterdir()) if d.is_dir() and (d / "run.json").is_file())
    return [r for r in found if r is not None]


def find_previous(run_dir: Path, target: str, reports_root: Path | None = None) -> RunInfo | None:
    """The latest other finished run of ``target`` (same name, model and endpoint) on the same prompt
    set, finished before this one."""
    current = run_info(run_dir)
    if current is None:
        return None
    root = Path(reports_root) if reports_root is not None else Path(run_dir).parent
    me = Path(run_dir).resolve()
    limit = _when(current.finished_at)

    def eligible(runs: Iterable[RunInfo]) -> list[RunInfo]:
        return [r for r in runs if r.run_id != current.run_id and r.run_dir.resolve() != me
                and current.same_target(r, target) and r.prompt_set_sha256 == current.prompt_set_sha256
                and _when(r.finished_at) <= limit]

    for source in (lambda: _from_history(current, target, root), lambda: _from_folders(current, root)):
        runs = eligible(source())
        if runs:
            return max(runs, key=lambda r: (_when(r.finished_at), r.run_id))
    return None


def read_responses(run_dir: Path, target: str) -> pd.DataFrame:
    """One target's rows of a run's responses.csv (only the columns the comparison needs)."""
    df = read_csv(Path(run_dir) / "responses.csv", dtype=str, keep_default_na=False,
                     usecols=lambda c: c in _RESPONSE_COLUMNS)
    return df[df["target"] == target].reset_index(drop=True)


def compare_target(previous: pd.DataFrame, current: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """The drift metrics of one target: ``audit.compare`` of the current run (A) with the previous (B)."""
    from audit.stats._compare import compare_runs

    table = compare_runs(current, previous, label_a="now", label_b="before", confidence=confidence)
    table = table[table["metric"].isin(DRIFT_METRICS)]
    return pd.DataFrame({
        "metric": table["metric"], "design": table["design"], "unit": table["metric"].map(_UNIT),
        "n_shared": table["n_paired"].astype(int), "before": table["estimate_b"], "now": table["estimate_a"],
        "change": table["difference"], "ci_low": table["ci_low"], "ci_high": table["ci_high"],
        "b": table["only_b"], "c": table["only_a"], "test": table["test"], "p_value": table["p_value"],
    }).reset_index(drop=True)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm-adjusted p-values (valid under any dependence between the tests); NaN stays NaN."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if ok.size == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    m = order.size
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adjusted, 1.0)
    return out


def increase_limits(thresholds: Mapping[str, float]) -> dict[str, float]:
    """``max_<metric>_increase`` thresholds by metric (``asymmetric_rate`` = the asymmetric refusal rate)."""
    out = {}
    for key, limit in thresholds.items():
        if key.startswith("max_") and key.endswith("_increase"):
            metric = key.removeprefix("max_").removesuffix("_increase")
            metric = metric.replace("asymmetric_rate", "asymmetric_refusal_rate")
            if metric in DRIFT_METRICS:
                out[metric] = float(limit)
    return out


def _pct(x: float) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1%}"


def _fails(change: float, fail_on: str) -> bool:
    """Whether a significant change of this sign fails the run under ``drift_fail_on``."""
    return fail_on == "any" or (change > 0 if fail_on == "increase" else change < 0)


def _alerts(rows: pd.DataFrame, alpha: float | None, fail_on: str = "any") -> tuple[list[str], list[str]]:
    """The alerts (they fail the run) and the notes (significant changes ``fail_on`` lets pass)."""
    out: list[str] = []
    notes: list[str] = []
    for r in rows.itertuples(index=False):
        since = f"since run {r.previous_run}" + (f" (model {r.previous_model} → {r.model})"
                                                 if r.previous_model != r.model else "")
        if r.significant:
            way = "rose" if r.change > 0 else "fell"
            on = (f"on {r.n_shared} shared {r.unit}" if r.design == "paired"
                  else f"(independent samples: the runs share few {r.unit})")
            flips = f"; {r.c:.0f} newly refused, {r.b:.0f} no longer" if r.design == "paired" else ""
            line = (f"drift: {r.target}: {r.metric} {way} from {_pct(r.before)} to {_pct(r.now)} {on} "
                    f"{since} — {r.test} p = {r.p_value:.2g} (Holm {r.p_holm:.2g} < {alpha}{flips})")
            if _fails(r.change, fail_on):
                out.append(line)
            else:
                notes.append(f"{line}; not a failure: drift_fail_on = {fail_on!r}")
        if r.breach:
            out.append(f"drift: {r.target}: {r.metric} rose by {r.change:+.1%} (95% CI {r.ci_low:+.1%} to "
                       f"{r.ci_high:+.1%}) {since}, above max_{_key(r.metric)}_increase = {r.limit:g}")
    return out, notes


def _key(metric: str) -> str:
    return metric.replace("asymmetric_refusal_rate", "asymmetric_rate")


def check_drift(run_dir: Path, thresholds: Mapping[str, float] | None = None, alpha: float | None = DEFAULT_ALPHA,
                reports_root: Path | None = None, targets: Sequence[str] | None = None,
                fail_on: str = "any") -> DriftReport:
    """Compare every target of a finished run with its previous run; alerts name what changed.

    ``alpha`` None turns the significance alert off (increase thresholds still apply); ``fail_on``
    (``any``, ``increase``, ``decrease``) is the direction of a significant change that alerts.
    """
    run_dir = Path(run_dir)
    current = run_info(run_dir)
    if current is None:
        return DriftReport(pd.DataFrame(columns=DRIFT_COLUMNS), notes=[f"{run_dir}: not a finished run"], alpha=alpha)
    limits = increase_limits(thresholds or {})
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for target in targets or list(current.targets):
        prev = find_previous(run_dir, target, reports_root)
        if prev is None:
            notes.append(f"{target}: no previous run of this target (same model and endpoint) on this prompt "
                         "set — nothing to compare")
            continue
        before, now = read_responses(prev.run_dir, target), read_responses(run_dir, target)
        for row in compare_target(before, now).to_dict("records"):
            rows.append({"target": target, "previous_run": prev.run_id,
                         "previous_model": prev.targets.get(target, ""),
                         "model": current.targets.get(target, ""), **row})
        notes.append(f"{target}: compared with run {prev.run_id}")
    table = pd.DataFrame(rows, columns=[c for c in DRIFT_COLUMNS if c not in ("p_holm", "significant", "limit",
                                                                              "breach", "detail")])
    table["p_holm"] = holm(table["p_value"].to_numpy(float)) if len(table) else []
    table["significant"] = (table["p_holm"] < alpha) if alpha is not None else False
    table["limit"] = table["metric"].map(limits).astype(float)
    table["breach"] = table["limit"].notna() & (table["ci_low"].astype(float) > table["limit"])
    table["detail"] = ""
    table = table[DRIFT_COLUMNS]
    alerts, passed = _alerts(table, alpha, fail_on)
    notes.extend(passed)
    table["detail"] = [_detail(r) for r in table.itertuples(index=False)]
    return DriftReport(table.reset_index(drop=True), alerts, notes, alpha)


def _detail(r: Any) -> str:
    parts = []
    if r.significant:
        parts.append("significant change")
    if r.breach:
        parts.append(f"increase above {r.limit:g}")
    if r.design != "paired":
        parts.append("independent samples")
    return "; ".join(parts)


def write_drift(report: DriftReport, run_dir: Path) -> Path:
    """Write ``drift.csv`` into the run folder (an empty table when there was nothing to compare)."""
    return write_csv(report.rows, Path(run_dir) / DRIFT_NAME)
