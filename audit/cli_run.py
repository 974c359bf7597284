"""``refusal-audit run``: audit one or more endpoints and write a run folder."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from audit.config import AuditConfig, load_config
from audit.errors import ConfigError

Opt = typer.Option


def register(app: typer.Typer) -> None:
    """Add ``run`` to the main app."""
    app.command("run")(run)


def run(
    config_file: Annotated[Optional[Path], typer.Argument(help="TOML config file (flags override it).")] = None,
    base_url: Annotated[Optional[str], Opt(help="Endpoint base URL, e.g. http://127.0.0.1:8000/v1.")] = None,
    model: Annotated[Optional[str], Opt(help="Model name to audit.")] = None,
    name: Annotated[Optional[str], Opt(help="Short target name for reports (default: the model).")] = None,
    prompts: Annotated[Optional[str], Opt(help="Prompt set JSONL (default prompts/contested-v1.jsonl).")] = None,
    concurrency: Annotated[Optional[int], Opt(help="Requests in flight at most, per target.")] = None,
    max_tokens: Annotated[Optional[int], Opt(help="Maximum tokens per answer.")] = None,
    temperature: Annotated[Optional[float], Opt(help="Sampling temperature.")] = None,
    timeout: Annotated[Optional[float], Opt(help="Per-request timeout in seconds.")] = None,
    api_key_env: Annotated[Optional[str], Opt(help="Env variable holding the API key (default OPENAI_API_KEY).")] = None,
    samples: Annotated[Optional[int], Opt(help="Samples per prompt (temperature > 0).")] = None,
    sample: Annotated[Optional[int], Opt(help="Audit a stratified sample of N pairs (pairs kept whole).")] = None,
    seed: Annotated[Optional[int], Opt(help="Seed for --sample.")] = None,
    classify_truncated: Annotated[Optional[bool], Opt(help="Classify the prefix of answers cut at max_tokens.")] = None,
    max_error_rate: Annotated[Optional[float], Opt(help="Fail the run (exit 1) above this error rate.")] = None,
    reports_dir: Annotated[Optional[str], Opt(help="Where run folders go (default reports/).")] = None,
    run_id: Annotated[Optional[str], Opt(help="Name of the run folder (default: UTC time + target).")] = None,
    resume: Annotated[Optional[Path], Opt(help="Resume this run folder: send only what its journal lacks.")] = None,
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
        if config_file or any(v is not None for v in (*overrides.values(), *target.values())):
            raise ConfigError("--resume takes the run folder only: its settings are in its run.json")
        return execute(None, str(resume), None, progress)
    config = load_config(config_file, overrides, target)
    return execute(config, None, run_id, progress)


def execute(config: AuditConfig | None, resume_dir: str | None, run_id: str | None, progress: bool) -> int:
    """Run the Prefect flow locally and print the headline."""
    # a busy 2-core machine needs more than Prefect's default to start its temporary server
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no telemetry from an audit
    precheck(config, resume_dir)
    from flows.audit_flow import audit_flow

    params: dict[str, Any] = {"config": config.public_dict() if config else None, "resume_dir": resume_dir,
                              "run_id": run_id, "show_progress": progress and sys.stderr.isatty()}
    result = asyncio.run(audit_flow(**params))
    print_headline(result)
    return 0


def precheck(config: AuditConfig | None, resume_dir: str | None) -> None:
    """Catch user mistakes before Prefect starts, so they show as one line, not a flow failure."""
    from audit import pipeline as pl
    from audit.prompts import load_prompt_set

    if resume_dir:
        pl.resume_plan(Path(resume_dir))
        return
    assert config is not None
    load_prompt_set(config.prompts)
    asyncio.run(pl.check_endpoints(config.targets))


def print_headline(result: dict[str, Any]) -> None:
    """The headline figures with their intervals, and where the report is."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"run {result['run_id']}")
    for col in ("target", "metric", "estimate", "95% CI", "k/n", "method"):
        table.add_column(col)
    for r in result["headline"]:
        table.add_row(str(r["target"]), str(r["metric"]), _pct(r["estimate"]),
                      f"{_pct(r['ci_low'])} – {_pct(r['ci_high'])}", f"{r['k']}/{r['n']}", str(r["method"]))
    console = Console()
    console.print(table)
    console.print(f"report: {Path(result['run_dir']) / 'report.html'}")


def _pct(x: Any) -> str:
    try:
        return f"{float(x):.1%}"
    except (TypeError, ValueError):
        return "—"
