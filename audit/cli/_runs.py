"""``refusal-audit runs`` (past runs and their headline; open a report), and what ``run --dry-run``
and ``run --json`` print: the plan of a run that sends nothing, and a finished run's summary."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from audit.config import AuditConfig
from audit.errors import InputError

Opt = typer.Option

CHARS_PER_TOKEN = 4
"""Prompt tokens are estimated as characters / 4 (the usual rule of thumb for English text)."""
HEADLINE_KEYS = ("target", "metric", "estimate", "ci_low", "ci_high", "k", "n", "method")
CLAIM_KEYS = ("target", "claim", "source", "metric", "estimate", "ci_low", "ci_high", "test", "p_value", "verdict")


def dry_run_plan(config: AuditConfig) -> dict[str, Any]:
    """What a run would send, target by target: requests, samples, estimated prompt tokens
    (characters / 4, system prompt included) and the ceiling on answer tokens. Sends nothing and
    writes nothing."""
    from audit.prompts._schema import load_prompt_set
    from audit.run._plan import select_prompts

    prompt_set = load_prompt_set(config.prompts)
    prompts = select_prompts(config, prompt_set)
    pairs = len({p.pair_id for p in prompts if p.pair_id is not None})
    chars = sum(len(p.text) for p in prompts)
    targets = []
    for t in config.targets:
        requests = len(prompts) * config.samples
        system = len(t.system_prompt or "") * requests
        tokens = math.ceil((chars * config.samples + system) / CHARS_PER_TOKEN)
        targets.append({"target": t.label, "model": t.model, "endpoint": t.base_url, "requests": requests,
                        "est_prompt_tokens": tokens, "max_tokens": t.max_tokens,
                        "max_answer_tokens": requests * t.max_tokens})
    return {"dry_run": True, "prompt_set": prompt_set.name, "prompts_path": prompt_set.path,
            "prompts": len(prompts), "pairs": pairs, "controls": sum(p.pair_id is None for p in prompts),
            "samples": config.samples, "targets": targets,
            "requests": sum(t["requests"] for t in targets),
            "token_estimate": f"characters / {CHARS_PER_TOKEN}"}


def print_dry_run(config: AuditConfig, as_json: bool) -> int:
    """``run --dry-run``: the plan on stdout (JSON with ``--json``); exit 0."""
    plan = dry_run_plan(config)
    if as_json:
        typer.echo(json.dumps(plan, indent=2, ensure_ascii=False))
        return 0
    typer.echo(f"dry run: nothing sent, no run folder written\nprompt set: {plan['prompt_set']} "
               f"({plan['prompts_path']}): {plan['prompts']} prompts ({plan['pairs']} mirrored pairs, "
               f"{plan['controls']} controls) x {plan['samples']} sample(s)")
    for t in plan["targets"]:
        typer.echo(f"target {t['target']} (model {t['model']} at {t['endpoint']}): {t['requests']:,} requests, "
                   f"~{t['est_prompt_tokens']:,} prompt tokens, at most {t['max_tokens']:,} tokens per "
                   f"answer ({t['max_answer_tokens']:,} in all)")
    typer.echo(f"total: {plan['requests']:,} requests; prompt tokens estimated as characters / "
               f"{CHARS_PER_TOKEN} (system prompt included; the endpoint's tokenizer and chat template differ)")
    return 0


def _clean(value: Any) -> Any:
    """A CSV cell as JSON: NaN and blanks become null, numpy numbers plain numbers."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return None if value == "" else value


def _rows(path: Path, keys: tuple[str, ...], headline_only: bool = False) -> list[dict[str, Any]]:
    """Selected columns of a run's CSV as JSON-safe dicts (none when the file is absent)."""
    from audit.csvio import read_csv, truthy

    if not path.is_file():
        return []
    frame = read_csv(path)
    if headline_only and "headline" in frame:
        frame = frame[frame["headline"].map(truthy)]
    return [{k: _clean(row.get(k)) for k in keys if k in frame.columns} for row in frame.to_dict("records")]


def read_meta(folder: Path) -> dict[str, Any]:
    """A run folder's run.json ({} when it has none or it is unreadable)."""
    try:
        meta = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def run_summary(folder: Path) -> dict[str, Any]:
    """``run --json``: a finished run as data for CI, read back from its folder."""
    meta = read_meta(folder)
    return {"run_id": meta.get("run_id", folder.name), "run_dir": str(folder), "status": meta.get("status"),
            "report": str(folder / "report.html"),
            "headline": _rows(folder / "summary.csv", HEADLINE_KEYS, headline_only=True),
            "claims": _rows(folder / "claims.csv", CLAIM_KEYS),
            "breaches": meta.get("breaches") or [], "warnings": meta.get("warnings") or []}


def print_run_summary(folder: Path) -> None:
    """The JSON summary of a run folder on stdout, one document."""
    sys.stdout.write(json.dumps(run_summary(folder), indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    sys.stdout.flush()


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.1%}"


def run_lines(folder: Path) -> list[str]:
    """One line per target of a run folder: run id, status, target, refusal rate with its CI."""
    meta = read_meta(folder)
    status = str(meta.get("status", "?"))
    rows = [r for r in _rows(folder / "summary.csv", HEADLINE_KEYS) if r.get("metric") == "refusal_rate"]
    if not rows:
        names = ", ".join(str(t.get("name")) for t in meta.get("targets") or [] if isinstance(t, dict)) or "?"
        return [f"{folder.name:<44} {status:<18} {names:<20} refusal rate n/a"]
    return [f"{folder.name:<44} {status:<18} {r['target']!s:<20} refusal rate {_pct(r['estimate'])} "
            f"(95% CI {_pct(r['ci_low'])} – {_pct(r['ci_high'])}, {r.get('k')}/{r.get('n')})" for r in rows]


def find_run(reports_dir: Path, run: str) -> Path:
    """A run folder from its id (a folder of ``reports_dir``) or its path."""
    for folder in (reports_dir / run, Path(run)):
        if (folder / "run.json").is_file():
            return folder
    raise InputError(Path(run), None, f"no run folder of that name in {reports_dir}/",
                     "list the runs with 'refusal-audit runs' and give one of their ids")


def runs(
    run: Annotated[str | None, typer.Argument(help="A run id (or run folder): print the path of its report.")] = None,
    open_run: Annotated[str | None, Opt("--open", help="The same as the RUN argument.")] = None,
    browser: Annotated[bool, Opt("--browser", help="With RUN: also open the report in a web browser.")] = False,
    reports_dir: Annotated[Path, Opt(help="Where run folders are (default reports/).")] = Path("reports"),
) -> int:
    """List past runs (oldest first) with their status and refusal rate, or open one's report."""
    chosen = run or open_run
    if chosen is None:
        folders = sorted((p.parent for p in reports_dir.glob("*/run.json")),
                         key=lambda f: (str(read_meta(f).get("started_at", "")), f.name))
        if not folders:
            typer.echo(f"no runs in {reports_dir}/ (run 'refusal-audit run' first)", err=True)
        for folder in folders:
            for line in run_lines(folder):
                typer.echo(line)
        return 0
    report = find_run(reports_dir, chosen) / "report.html"
    if not report.is_file():
        raise InputError(report, None, "no report here", f"render it with 'refusal-audit report {report.parent}'")
    typer.echo(str(report))
    if browser:
        import webbrowser

        webbrowser.open(report.resolve().as_uri())
    return 0


def register(app: typer.Typer) -> None:
    """Add ``runs`` to the main app."""
    app.command("runs")(runs)
