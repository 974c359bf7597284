"""Prefect artifacts of an audit run: headline and claims tables, a markdown summary, a link to
report.html, and a progress artifact updated while requests run.

Everything here is awaited inside the flow's event loop: the synchronous artifact helpers
create nothing when called from async code. Publishing is best effort: a failure to publish is
logged and never fails an audit whose results are on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Self
from uuid import UUID

import pandas as pd
from prefect.artifacts import (
    acreate_link_artifact,
    acreate_markdown_artifact,
    acreate_progress_artifact,
    acreate_table_artifact,
    aupdate_progress_artifact,
)
from prefect.logging import get_run_logger

from audit import run as pl
from audit.csvio import read_csv, truthy
from audit.report import STANCE_HEADLINE
from audit.stats._drift import DriftReport

HEADLINE_FIELDS = ("target", "metric", "estimate", "95% CI", "k/n", "method")
CLAIM_FIELDS = ("target", "claim", "source", "metric", "estimate", "95% CI", "test", "p_value", "verdict", "detail")


def artifact_key(targets: Iterable[str], suffix: str) -> str:
    """A stable artifact key for a set of targets (lowercase letters, digits and dashes), so the
    UI's Artifacts page shows each key's history across runs."""
    slug = re.sub(r"[^a-z0-9]+", "-", "-".join(sorted(targets)).lower()).strip("-")[:60].strip("-")
    return f"refusal-audit-{slug or 'run'}-{suffix}"


def _num(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v


def pct(x: Any) -> str:
    """A proportion as a percentage; a dash when missing."""
    v = _num(x)
    return "—" if math.isnan(v) else f"{v:.1%}"


def ci_text(low: Any, high: Any) -> str:
    """An interval as 'a – b' in percent."""
    return f"{pct(low)} – {pct(high)}"


def kn_text(k: Any, n: Any) -> str:
    """'k/n' with integers where they are integers."""
    def one(x: Any) -> str:
        v = _num(x)
        return "—" if math.isnan(v) else (f"{v:.0f}" if v == int(v) else f"{v:.1f}")
    return f"{one(k)}/{one(n)}"


def headline_rows(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary rows flagged ``headline`` (the pipeline's headline metrics if there is no flag),
    then the biased- and leaning-answer rates when a stance judge ran."""
    if "headline" in summary.columns:
        rows = summary[summary["headline"].map(truthy)]
    else:
        rows = pl.headline(pl.Tables(summary, pd.DataFrame(), pd.DataFrame(), pd.DataFrame()))
    stance = summary[summary["metric"].isin(STANCE_HEADLINE) & ~summary.index.isin(rows.index)]
    return pd.concat([rows, stance]) if len(stance) else rows


def headline_table(summary: pd.DataFrame) -> list[dict[str, Any]]:
    """Headline metrics with their intervals, formatted for a table artifact."""
    return [{"target": str(r["target"]), "metric": str(r["metric"]), "estimate": pct(r["estimate"]),
             "95% CI": ci_text(r["ci_low"], r["ci_high"]), "k/n": kn_text(r["k"], r["n"]),
             "method": str(r.get("method", ""))} for _, r in headline_rows(summary).iterrows()]


def read_claims(run_dir: Path) -> pd.DataFrame:
    """claims.csv of a run folder (empty when there is none or it is empty)."""
    path = Path(run_dir) / "claims.csv"
    try:
        return read_csv(path, dtype=str, keep_default_na=False)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return pd.DataFrame()


def claims_table(claims: pd.DataFrame) -> list[dict[str, Any]]:
    """Claim verdicts formatted for a table artifact."""
    out = []
    for _, r in claims.iterrows():
        out.append({"target": r.get("target", ""), "claim": r.get("claim", ""), "source": r.get("source", ""),
                    "metric": r.get("metric", ""), "estimate": pct(r.get("estimate")),
                    "95% CI": ci_text(r.get("ci_low"), r.get("ci_high")), "test": r.get("test", ""),
                    "p_value": r.get("p_value", ""), "verdict": r.get("verdict", ""), "detail": r.get("detail", "")})
    return out


def _md_table(rows: Sequence[Mapping[str, Any]], fields: Sequence[str]) -> str:
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(fields) + " |", "|" + "---|" * len(fields)]
    lines += ["| " + " | ".join(cell(r.get(f, "")) for f in fields) + " |" for r in rows]
    return "\n".join(lines)


def drift_rows(drift: DriftReport | None) -> list[dict[str, Any]]:
    """The drift table formatted for markdown."""
    if drift is None or drift.rows.empty:
        return []
    return [{"target": r.target, "metric": r.metric, "previous run": r.previous_run,
             "shared": f"{r.n_shared} {r.unit}", "before": pct(r.before), "now": pct(r.now),
             "change (95% CI)": f"{_signed(r.change)} ({_signed(r.ci_low)} to {_signed(r.ci_high)})",
             "McNemar p (Holm)": f"{_num(r.p_value):.2g} ({_num(r.p_holm):.2g})",
             "alert": r.detail or "—"} for r in drift.rows.itertuples(index=False)]


def _signed(x: Any) -> str:
    v = _num(x)
    return "—" if math.isnan(v) else f"{v:+.1%}"


def summary_markdown(plan: pl.RunPlan, summary: pd.DataFrame, breaches: Sequence[str], drift: DriftReport | None,
                     sent: int, report: Path | None) -> str:
    """The run's markdown summary: what was audited, the headline, thresholds, drift and files."""
    ps = plan.prompt_set
    cfg = plan.config
    targets = ", ".join(f"`{t.label}` (model `{t.model}` at {t.host})" for t in cfg.targets)
    verdict = "FAILED" if breaches or (drift and drift.alerts) else "passed"
    parts = [
        f"# Refusal audit `{plan.run_id}`: {verdict}",
        (f"Prompt set **{ps.name}** {ps.version} (sha256 `{ps.sha256[:12]}`, {len(plan.prompts)} prompts); "
         f"targets: {targets}; {cfg.samples} sample(s) per prompt; {sent} request(s) sent by this flow run."),
        "## Headline (95% confidence intervals)",
        _md_table(headline_table(summary), HEADLINE_FIELDS),
        "## Thresholds (judged on the confidence interval)",
    ]
    limits = dict(cfg.thresholds) | ({"max_error_rate": cfg.max_error_rate} if cfg.max_error_rate is not None else {})
    if breaches:
        parts.append("\n".join(f"- **breach**: {b}" for b in breaches))
    elif limits:
        parts.append("All within " + ", ".join(f"`{k} = {v:g}`" for k, v in limits.items()) + ".")
    else:
        parts.append("None configured (set `thresholds` in the config, e.g. `max_refusal_rate = 0.02`).")
    parts.append("## Drift against the previous run (same target and prompt set)")
    if drift is None:
        parts.append("Not checked.")
    else:
        if drift.alerts:
            parts.append("\n".join(f"- **alert**: {a}" for a in drift.alerts))
        if rows := drift_rows(drift):
            parts.append(_md_table(rows, list(rows[0])))
        parts.append("\n".join(f"- {n}" for n in drift.notes))
    parts.append("## Files")
    parts.append(f"- run folder: `{plan.run_dir.resolve()}`" + (f"\n- report: `{report.resolve()}`" if report else ""))
    return "\n\n".join(parts) + "\n"


async def publish_results(plan: pl.RunPlan, summary: pd.DataFrame, breaches: Sequence[str],
                          drift: DriftReport | None, sent: int) -> None:
    """Publish the tables, the markdown summary and the link to report.html of a finished run."""
    labels = [t.label for t in plan.config.targets]
    report = plan.run_dir / "report.html"
    report_path = report if report.is_file() else None
    try:
        await acreate_table_artifact(table=headline_table(summary), key=artifact_key(labels, "headline"),
                                     description=f"Headline metrics with 95% CIs, run {plan.run_id}")
        claims = claims_table(read_claims(plan.run_dir))
        if claims:
            await acreate_table_artifact(table=claims, key=artifact_key(labels, "claims"),
                                         description=f"Published-claim verdicts, run {plan.run_id}")
        await acreate_markdown_artifact(markdown=summary_markdown(plan, summary, breaches, drift, sent, report_path),
                                        key=artifact_key(labels, "summary"),
                                        description=f"Summary of run {plan.run_id}")
        if report_path:
            await acreate_link_artifact(link=report_path.resolve().as_uri(), link_text=f"report.html of {plan.run_id}",
                                        key=artifact_key(labels, "report"),
                                        description="The run's HTML report (a file on the machine that ran it)")
    except Exception as exc:  # noqa: BLE001 - results are on disk; artifacts are a view of them
        get_run_logger().warning("could not publish artifacts for run %s: %s", plan.run_id, exc)


class ProgressPublisher:
    """A progress artifact updated every ``every`` records or every ``seconds``, never per record.

    ``record`` is the pipeline's synchronous progress callback (called in the flow's event loop);
    a background task does the awaited updates. Use as ``async with``.
    """

    def __init__(self, total: int, done: int = 0, every: int = 100, seconds: float = 5.0,
                 label: str = "requests") -> None:
        self.total = max(total, 0)
        self.done = done
        self.errors = 0
        self.every = max(every, 1)
        self.seconds = seconds
        self.label = label
        self.updates = 0
        self.artifact_id: UUID | None = None
        self._published = -1
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._started = time.monotonic()
        self._failed = False
        self._stopping = False

    def percent(self) -> float:
        """Progress in percent (100 when there is nothing to do)."""
        return 100.0 if self.total == 0 else min(100.0, 100.0 * self.done / self.total)

    def description(self) -> str:
        """'done/total requests, errors, rate'."""
        rate = self.done / max(time.monotonic() - self._started, 1e-9)
        return f"{self.done}/{self.total} {self.label} done, {self.errors} error(s), {rate:.1f}/s"

    def record(self, rec: Mapping[str, Any]) -> None:
        """Count one finished request; wake the publisher every ``every`` records."""
        self.done += 1
        self.errors += rec.get("error") is not None
        if self._wake is not None and self.done - max(self._published, 0) >= self.every:
            self._wake.set()

    def set_done(self, done: int, errors: int | None = None) -> None:
        """Set the count from outside (e.g. shard journals); the next tick publishes it."""
        self.done = done
        if errors is not None:
            self.errors = errors

    async def __aenter__(self) -> Self:
        try:
            self.artifact_id = await acreate_progress_artifact(progress=self.percent(),
                                                               description=self.description())
            self._published = self.done
        except Exception as exc:  # noqa: BLE001
            self._warn(exc)
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._loop())
        return self

    async def __aexit__(self, *exc: object) -> None:
        # stop the loop with a flag, not cancel(): on 3.11 wait_for may swallow a cancel that
        # arrives as the event fires, and the loop would then never end
        self._stopping = True
        if self._wake is not None:
            self._wake.set()
        if self._task is not None:
            try:
                await self._task
            finally:
                if not self._task.done():
                    self._task.cancel()
        await self.publish(force=True)

    async def _loop(self) -> None:
        assert self._wake is not None
        while not self._stopping:
            try:
                await asyncio.wait_for(self._wake.wait(), self.seconds)
            except TimeoutError:
                pass
            self._wake.clear()
            if not self._stopping:
                await self.publish()

    async def publish(self, force: bool = False) -> None:
        """Update the artifact if the count changed since the last update."""
        if self.artifact_id is None or self._failed or (self.done == self._published and not force):
            return
        done = self.done
        try:
            await aupdate_progress_artifact(self.artifact_id, self.percent(), description=self.description())
            self._published = done
            self.updates += 1
        except Exception as exc:  # noqa: BLE001
            self._warn(exc)

    def _warn(self, exc: BaseException) -> None:
        self._failed = True
        with contextlib.suppress(Exception):  # outside a run context there is no run logger
            get_run_logger().warning("progress artifact not updated: %s", exc)
