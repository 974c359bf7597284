"""``refusal-audit run``: audit one or more endpoints and write a run folder."""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, cast

import typer

from audit.cli import _heap as heap
from audit.cli import _interrupt as interrupt
from audit.cli._runs import print_dry_run, print_run_summary
from audit.config import AuditConfig, load_config
from audit.errors import ConfigError, ThresholdError
from audit.report._console import print_headline
from audit.run._precheck import precheck

Opt = typer.Option
AllowDuplicates = Annotated[bool | None, Opt(help="Run a prompt set whose prompts repeat a text (one answer per "
                                                  "text: request ids are content hashes); refused otherwise.")]


def register(app: typer.Typer) -> None:
    """Add ``run`` to the main app."""
    app.command("run")(run)


def run(
    config_file: Annotated[Path | None, typer.Argument(help="TOML config file (flags override it).")] = None,
    base_url: Annotated[str | None, Opt(help="Endpoint base URL, e.g. http://127.0.0.1:8000/v1 (default: "
                                             "$OPENAI_BASE_URL, as the OpenAI SDK).")] = None,
    model: Annotated[str | None, Opt(help="Model name to audit.")] = None,
    name: Annotated[str | None, Opt(help="Short target name for reports (default: the model).")] = None,
    prompts: Annotated[str | None, Opt(help="Prompt set JSONL (default prompts/contested-v2.jsonl).")] = None,
    concurrency: Annotated[int | None, Opt(help="Requests in flight at most, per target.")] = None,
    max_tokens: Annotated[int | None, Opt(help="Maximum tokens per answer.")] = None,
    temperature: Annotated[float | None, Opt(help="Sampling temperature.")] = None,
    timeout: Annotated[float | None, Opt(help="Seconds a request attempt may take as a whole (default 60).")] = None,
    api_key_env: Annotated[str | None, Opt(help="Env variable holding the API key (default OPENAI_API_KEY).")] = None,
    samples: Annotated[int | None, Opt(help="Samples per prompt (temperature > 0).")] = None,
    sample_pairs: Annotated[int | None, Opt("--sample-pairs", "--sample", help="Audit a stratified sample of N "
                                            "pairs (pairs kept whole; TOML sample_pairs).")] = None,
    seed: Annotated[int | None, Opt(help="Seed for --sample-pairs.")] = None,
    limit: Annotated[int | None, Opt(min=1, help="Only the first N prompts of the file (a pair cut in half "
                                                 "is completed: N + 1 at most).")] = None,
    classify_truncated: Annotated[bool | None, Opt(help="Classify the prefix of answers cut at max_tokens.")] = None,
    allow_duplicate_texts: AllowDuplicates = None,
    max_error_rate: Annotated[float | None, Opt(help="Fail the run (exit 1) above this share of API errors "
                                                     "(default 0.05; 1 never fails).")] = None,
    classifier: Annotated[str | None, Opt(help="rules, judge or ensemble (these two need a judge: a [judge] table "
                                               "or --judge-base-url and --judge-model).")] = None,
    judge_base_url: Annotated[str | None, Opt(help="The judge's endpoint base URL ([judge] base_url).")] = None,
    judge_model: Annotated[str | None, Opt(help="The judge model ([judge] model).")] = None,
    judge_api_key_env: Annotated[str | None, Opt(help="Env variable holding the judge's key ([judge] api_key_env).")] = None,
    reports_dir: Annotated[str | None, Opt(help="Where run folders go (default reports/).")] = None,
    run_id: Annotated[str | None, Opt(help="Name of the run folder (default: UTC time + target).")] = None,
    resume: Annotated[Path | None, Opt(help="Resume this run folder: send only what its journal lacks (its settings "
                                            "come from its run.json; --classifier and --judge-* correct them).")] = None,
    retry_errors: Annotated[bool, Opt(help="With --resume: also re-send requests that ended in an API error.")] = False,
    progress: Annotated[bool, Opt(help="Show progress: a bar on a terminal, a line every 5 s in a log.")] = True,
    dry_run: Annotated[bool, Opt(help="Print what would be sent (requests, estimated tokens); send nothing.")] = False,
    json_out: Annotated[bool, Opt("--json", help="Print a JSON summary on stdout (the table goes to stderr).")] = False,
    prefect: Annotated[bool | None, Opt("--prefect/--no-prefect", help="Run as a Prefect flow (a temporary server "
                                        "without PREFECT_API_URL) or not (default: when an API is set).")] = None,
) -> int:
    """Audit an OpenAI-compatible endpoint for refusals and asymmetric refusals.

    Writes reports/<run-id>/ (journal, CSVs, run.json, report.html) and prints the headline.
    The API key is read from the environment variable named by --api-key-env; never pass it as a flag.
    """
    overrides = {"prompts": prompts, "samples": samples, "sample_pairs": sample_pairs, "seed": seed, "limit": limit,
                 "classify_truncated": classify_truncated, "max_error_rate": max_error_rate,
                 "reports_dir": reports_dir, "allow_duplicate_texts": allow_duplicate_texts}
    target = {"base_url": base_url, "model": model, "name": name, "concurrency": concurrency,
              "max_tokens": max_tokens, "temperature": temperature, "timeout": timeout, "api_key_env": api_key_env}
    classify = {"classifier": classifier, "judge": {"base_url": judge_base_url, "model": judge_model,
                                                    "api_key_env": judge_api_key_env}}
    if resume is not None:
        resume_alone(bool(config_file or run_id or dry_run) or any(v is not None for v in (*overrides.values(),
                                                                                          *target.values())))
        return execute(None, str(resume), None, progress, retry_errors, resume_changes(classify), json_out, prefect)
    if retry_errors:
        raise ConfigError("--retry-errors goes with --resume RUN_DIR")
    config = load_config(config_file, {**overrides, **classify}, target)
    if dry_run:
        return print_dry_run(config, json_out)
    return execute(config, None, run_id, progress, json_out=json_out, prefect=prefect)


def resume_alone(settings_given: bool) -> None:
    """ConfigError when settings come with --resume (a resumed run keeps those of its run.json)."""
    if settings_given:
        raise ConfigError("--resume takes the run folder only (its settings are in its run.json), and "
                          "--classifier and --judge-* options to correct how its answers are labelled")


def resume_changes(classify: dict[str, Any]) -> dict[str, Any]:
    """The classifier/judge settings given with --resume (None when none was)."""
    judge = {k: v for k, v in classify["judge"].items() if v is not None}
    changes = {"classifier": classify["classifier"]} if classify["classifier"] is not None else {}
    return {**changes, "judge": judge} if judge else changes


def execute(config: AuditConfig | None, resume_dir: str | None, run_id: str | None, progress: bool,
            retry_errors: bool = False, changes: dict[str, Any] | None = None, json_out: bool = False,
            prefect: bool | None = None) -> int:
    """Run the audit and print the headline; ``changes``: corrected classifier and judge
    settings for a resumed run (recorded in its run.json once they pass the checks). A resumed
    run folder is locked from the checks to the reports (``RunFolderBusy``, exit 2, when another
    process is sending to it). ``json_out``: the headline table goes to stderr and a JSON
    summary of the run to stdout (``run --json``). ``prefect``: run the Prefect flow (True), the
    same stages without Prefect (False), or the flow only when a Prefect API is configured."""
    job = Job(config, resume_dir, run_id, progress, retry_errors, changes or None)
    with resume_lock(resume_dir):
        try:
            result = run_job(job, prefect)
        except ThresholdError:
            with table_stream(json_out):
                folder = print_saved_headline(resume_dir, config, job.run_id)
            print_warnings(folder)
            if json_out:
                print_run_summary(folder)
            raise
    with table_stream(json_out):
        print_headline(result)
    print_warnings(Path(result["run_dir"]))
    if json_out:
        print_run_summary(Path(result["run_dir"]))
    return 0


@dataclass
class Job:
    """What ``run`` was asked to do (the run id is filled in once the run folder is named)."""

    config: AuditConfig | None
    resume_dir: str | None
    run_id: str | None
    progress: bool
    retry_errors: bool = False
    changes: dict[str, Any] | None = None


def resume_lock(resume_dir: str | None) -> contextlib.AbstractContextManager[None]:
    """The sending lock of a run folder to resume (none for a new run, whose flow takes it, or
    for a folder without run.json, which the checks reject)."""
    from audit.run._lock import run_lock

    if resume_dir and (Path(resume_dir) / "run.json").is_file():
        return run_lock(Path(resume_dir))
    return contextlib.nullcontext()


def run_job(job: Job, prefect: bool | None) -> dict[str, Any]:
    """Check, then run the stages: as a Prefect flow when asked (``--prefect``) or when a Prefect
    API is configured, else in this process without Prefect (no server, nothing left running).
    A target whose key is in a Prefect Secret block needs Prefect: its run is a flow (and
    ``--no-prefect`` is a ConfigError)."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no telemetry from an audit
    from audit_flows import local_api

    if prefect or (prefect is None and local_api.api_configured()):
        return run_flow(job)
    precheck(job.config, job.resume_dir, job.run_id, job.changes)  # a mistake exits here, in one line
    if secret := secret_block_target(job):
        if prefect is False:
            raise ConfigError(f"target '{secret}' reads its key from a Prefect Secret block (api_key_secret), "
                              "which needs Prefect — drop --no-prefect, or give the key in api_key_env")
        return run_flow(job, checked=True)
    folder = run_folder(job)  # names a new run (job.run_id) first: an interruption names its folder
    return interrupt.run(run_stages(job.config, job.resume_dir, job.run_id, job.progress, job.retry_errors),
                         folder)


async def run_stages(config: AuditConfig | None, resume_dir: str | None, run_id: str | None,
                     show_progress: bool, retry_errors: bool = False) -> dict[str, Any]:
    """The flow's stages without Prefect, in its order (plan, send, label, statistics, record,
    drift, reports), the run folder locked throughout; the flow's result. Raises
    ``ThresholdError`` after the reports when a threshold is breached or a metric drifted."""
    import asyncio

    from audit import run as pl
    from audit.run._finish import finish_stages

    plan = pl.resume_plan(Path(resume_dir)) if resume_dir else pl.plan_run(cast(AuditConfig, config), run_id)
    with pl.run_lock(plan.run_dir):
        pending = pl.pending_requests(plan, retry_errors)
        heap.freeze()  # the plan and the modules sending imported: out of later collections
        bar = progress_bar(len(plan.requests()), len(plan.requests()) - len(pending)) if show_progress else None
        try:
            sent = await pl.send_all(plan, pl.resolve_keys(plan.config, os.environ), retry_errors=retry_errors,
                                     pending=pending, progress=bar.update if bar else None)
        finally:
            if bar:
                bar.close()
        judge_key = pl.resolve_judge_key(plan.config, os.environ)
        # CPU work; in a thread because a judge classifier runs an event loop of its own
        result, problems = await asyncio.to_thread(finish_stages, plan, sent, judge_key)
    if problems:
        raise ThresholdError("; ".join(problems))
    return result


def progress_bar(total: int, done: int) -> Any:
    """A rich bar on a terminal; a plain line every few seconds when stderr is not one."""
    from audit_flows.progress import progress_reporter

    return progress_reporter(total, done)


def secret_block_target(job: Job) -> str | None:
    """The first target that reads its key from a Prefect Secret block (``api_key_secret``)."""
    from audit.run._plan import resume_plan

    config = job.config or resume_plan(Path(str(job.resume_dir))).config
    return next((t.label for t in config.targets if t.api_key_secret), None)


def run_flow(job: Job, checked: bool = False) -> dict[str, Any]:
    """Check (unless ``checked``), then run the Prefect flow: against the configured API, or a
    temporary server that boots while the CLI checks and imports; its result."""
    from audit_flows import local_api

    api = local_api.start()  # without a Prefect API: a temporary one boots while we check and import
    if not checked:
        precheck(job.config, job.resume_dir, job.run_id, job.changes)  # the server stops at exit (atexit)
    from audit_flows.audit_flow import audit_flow

    folder = run_folder(job)  # an interruption names it
    params: dict[str, Any] = {"config": job.config.public_dict() if job.config else None,
                              "resume_dir": job.resume_dir, "run_id": job.run_id,
                              "show_progress": job.progress, "retry_errors": job.retry_errors}
    api = local_api.ready(api)
    with local_api.settings(api):
        return interrupt.run(audit_flow(**params), folder)


def run_folder(job: Job) -> Path:
    """The run's folder, known before the run starts (so that an interruption can name it): a
    new run gets its run id here rather than in the flow or the plan."""
    if job.resume_dir:
        return Path(job.resume_dir)
    from audit.config import safe_name
    from audit.run._plan import new_run_id

    assert job.config is not None
    job.run_id = job.run_id or new_run_id(job.config)
    return Path(job.config.reports_dir) / safe_name(job.run_id, 80)


def table_stream(json_out: bool) -> contextlib.AbstractContextManager[Any]:
    """Where the headline table goes: stdout, or stderr when stdout carries ``--json``."""
    return contextlib.redirect_stdout(sys.stderr) if json_out else contextlib.nullcontext()


def print_warnings(folder: Path) -> None:
    """The run's warnings (run.json ``warnings``: a target whose requests mostly failed), one
    loud line each on stderr."""
    import json

    try:
        meta = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    warnings = meta.get("warnings") if isinstance(meta, dict) else None
    for line in warnings or []:
        typer.secho(f"warning: {line}", err=True, fg="yellow", bold=True)


def print_saved_headline(resume_dir: str | None, config: AuditConfig | None, run_id: str | None) -> Path:
    """After a failed threshold, the headline of the run as written to its folder (if found);
    return the folder."""
    from audit.csvio import read_csv

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
        s = read_csv(summary)
        rows = s[s["headline"].astype(bool)] if "headline" in s else s
        print_headline({"run_id": folder.name, "run_dir": str(folder), "headline": rows.to_dict("records")})
    return folder
