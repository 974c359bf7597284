"""``refusal-audit run``: audit one or more endpoints and write a run folder."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from audit.config import AuditConfig, load_config
from audit.errors import ConfigError, ThresholdError
from audit.run._precheck import precheck

Opt = typer.Option


def register(app: typer.Typer) -> None:
    """Add ``run`` to the main app."""
    app.command("run")(run)


def run(
    config_file: Annotated[Path | None, typer.Argument(help="TOML config file (flags override it).")] = None,
    base_url: Annotated[str | None, Opt(help="Endpoint base URL, e.g. http://127.0.0.1:8000/v1.")] = None,
    model: Annotated[str | None, Opt(help="Model name to audit.")] = None,
    name: Annotated[str | None, Opt(help="Short target name for reports (default: the model).")] = None,
    prompts: Annotated[str | None, Opt(help="Prompt set JSONL (default prompts/contested-v1.jsonl).")] = None,
    concurrency: Annotated[int | None, Opt(help="Requests in flight at most, per target.")] = None,
    max_tokens: Annotated[int | None, Opt(help="Maximum tokens per answer.")] = None,
    temperature: Annotated[float | None, Opt(help="Sampling temperature.")] = None,
    timeout: Annotated[float | None, Opt(help="Per-request timeout in seconds.")] = None,
    api_key_env: Annotated[str | None, Opt(help="Env variable holding the API key (default OPENAI_API_KEY).")] = None,
    samples: Annotated[int | None, Opt(help="Samples per prompt (temperature > 0).")] = None,
    sample: Annotated[int | None, Opt(help="Audit a stratified sample of N pairs (pairs kept whole).")] = None,
    seed: Annotated[int | None, Opt(help="Seed for --sample.")] = None,
    classify_truncated: Annotated[bool | None, Opt(help="Classify the prefix of answers cut at max_tokens.")] = None,
    max_error_rate: Annotated[float | None, Opt(help="Fail the run (exit 1) above this error rate.")] = None,
    reports_dir: Annotated[str | None, Opt(help="Where run folders go (default reports/).")] = None,
    run_id: Annotated[str | None, Opt(help="Name of the run folder (default: UTC time + target).")] = None,
    resume: Annotated[Path | None, Opt(help="Resume this run folder: send only what its journal lacks.")] = None,
    retry_errors: Annotated[bool, Opt(help="With --resume: also re-send requests that ended in an API error.")] = False,
    progress: Annotated[bool, Opt(help="Show a progress bar.")] = True,
) -> int:
    """Audit an OpenAI-compatible endpoint for refusals and asymmetric refusals.

    Writes reports/<run-id>/ (journal, CSVs, run.json, report.html) and prints the headline.
    The API key is read from the environment variable named by --api-key-env; never pass it as a flag.
    """
    overrides = {"prompts": prompts, "samples": samples, "sample_pairs": sample, "seed": seed,
                 "classify_truncated": classify_truncated, "max_error_rate": max_error_rate,
                 "reports_dir": reports_dir}
    target = {"base_url": base_url, "model": model, "name": name, "concurrency": concurrency,
              "max_tokens": max_tokens, "temperature": temperature, "timeout": timeout,
              "api_key_env": api_key_env}
    if resume is not None:
        if config_file or run_id or any(v is not None for v in (*overrides.values(), *target.values())):
            raise ConfigError("--resume takes the run folder only: its settings are in its run.json")
        return execute(None, str(resume), None, progress, retry_errors=retry_errors)
    if retry_errors:
        raise ConfigError("--retry-errors goes with --resume RUN_DIR")
    config = load_config(config_file, overrides, target)
    return execute(config, None, run_id, progress)


def execute(config: AuditConfig | None, resume_dir: str | None, run_id: str | None, progress: bool,
            retry_errors: bool = False) -> int:
    """Run the Prefect flow locally and print the headline."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no telemetry from an audit
    from audit_flows import local_api

    api = local_api.start()  # without a Prefect API: a temporary one boots while we check and import
    precheck(config, resume_dir, run_id)  # a mistake exits; the server stops at exit (atexit)
    from audit_flows.audit_flow import audit_flow

    params: dict[str, Any] = {"config": config.public_dict() if config else None, "resume_dir": resume_dir,
                              "run_id": run_id, "show_progress": progress and sys.stderr.isatty(),
                              "retry_errors": retry_errors}
    if api is not None:
        warm_up()  # while the temporary server boots (the CLI would otherwise wait idle)
    api = local_api.ready(api)
    try:
        with local_api.settings(api):
            result = asyncio.run(audit_flow(**params))
    except ThresholdError:
        print_saved_headline(resume_dir, config, run_id)
        raise
    print_headline(result)
    return 0


def warm_up() -> None:
    """Import what the flow needs after sending (classifier, statistics, reports: ~1.5 s of
    scipy, statsmodels and jinja2) while the CLI would otherwise wait for Prefect's server."""


def print_saved_headline(resume_dir: str | None, config: AuditConfig | None, run_id: str | None) -> None:
    """After a failed threshold, the headline of the run as written to its folder (if found)."""
    import pandas as pd

    if resume_dir:
        folder = Path(resume_dir)
    elif config and run_id:
        from audit.config import safe_name

        folder = Path(config.reports_dir) / safe_name(run_id, 80)
    else:
        runs = sorted(Path(config.reports_dir).glob("*/summary.csv"), key=lambda p: p.stat().st_mtime) if config else []
        folder = runs[-1].parent if runs else Path("-")
    summary = folder / "summary.csv"
    if summary.is_file():
        s = pd.read_csv(summary)
        rows = s[s["headline"].astype(bool)] if "headline" in s else s
        print_headline({"run_id": folder.name, "run_dir": str(folder), "headline": rows.to_dict("records")})


def print_headline(result: dict[str, Any]) -> None:
    """The headline figures with their intervals, and where the report is."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"run {result['run_id']}")
    for col in ("target", "metric", "estimate", "95% CI", "k/n", "method"):
        table.add_column(col, no_wrap=col != "target")
    for r in result["headline"]:
        table.add_row(str(r["target"]), str(r["metric"]), _pct(r["estimate"]),
                      f"{_pct(r['ci_low'])} – {_pct(r['ci_high'])}", f"{_int(r['k'])}/{_int(r['n'])}", short_method(str(r["method"])))
    console = Console(width=max(100, Console().width))
    console.print(table)
    for line in upper_bound_lines(result["headline"]):
        console.print(line)
    console.print(f"report: {Path(result['run_dir']) / 'report.html'}")


def upper_bound_lines(rows: list[dict[str, Any]]) -> list[str]:
    """What a zero (or near-zero) count means: the exact one-sided 95% upper bound."""
    from audit.stats._intervals import cp_upper_bound

    out = []
    for r in rows:
        k, n = r.get("k"), r.get("n")
        if str(r["metric"]).startswith(("refusal_rate", "asymmetric")) and n and k == 0:
            bound = cp_upper_bound(0, float(n))
            out.append(f"{r['target']}: {r['metric']} 0 of {int(n)}: below {bound:.1%} with 95% confidence "
                       f"(exact one-sided bound)")
    return out


def short_method(method: str) -> str:
    """The interval's name without its notes ('kg-cp(topic; deff=1 assumed…)' → 'kg-cp(topic)')."""
    return re.sub(r";[^)]*\)", ")", method)


def _int(x: Any) -> str:
    try:
        return f"{float(x):g}"
    except (TypeError, ValueError):
        return "—"


def _pct(x: Any) -> str:
    try:
        return f"{float(x):.1%}"
    except (TypeError, ValueError):
        return "—"
