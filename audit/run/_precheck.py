"""Checks of a run's inputs before anything is sent or Prefect starts: the reports folder, the
run id, the prompt set, the references, the calibration file, the classifier (its ``[judge]``
table and the judge's endpoint) and the endpoints. A mistake is a one-line
:class:`ConfigError`/:class:`InputError`/:class:`EndpointError`, not a failed flow run.
The CLI and the flows both call :func:`precheck` (so neither imports the other for it)."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit.config import AuditConfig
from audit.errors import ConfigError, EndpointError, KeyRejected

if TYPE_CHECKING:
    from audit.prompts._schema import Prompt
    from audit.run._plan import RunPlan

__all__ = ["check_classifier", "check_writable", "precheck"]


def precheck(config: AuditConfig | None, resume_dir: str | None, run_id: str | None = None,
             changes: Mapping[str, Any] | None = None) -> None:
    """Catch user mistakes before Prefect starts, so they show as one line, not a flow failure.

    ``changes`` (with ``resume_dir``): corrected classifier/judge settings; once every check
    passes with them, they replace the run's own in its run.json (see :func:`record_changes`).
    """
    from audit.prompts._schema import load_prompt_set
    from audit.run._finish import read_calibration
    from audit.run._lock import check_free
    from audit.run._plan import resume_plan, select_prompts

    if resume_dir:
        from audit.send import _journal as jr
        plan = resume_plan(Path(resume_dir), changes)
        check_free(plan.run_dir)  # another process sending to it: one line, before the journal is touched
        if cut := jr.repair(plan.journal_path):  # a kill in the middle of a write
            print(f"{plan.journal_path}: cut a torn last line ({cut} bytes) left by an interrupted run; "
                  "that request will be sent again", file=sys.stderr)
        jr.done_ids(plan.journal_path)  # a damaged journal is one line here, not a failed flow run
        asyncio.run(check_services(plan.config))
        if changes:
            record_changes(plan)
        return
    assert config is not None
    check_writable(Path(config.reports_dir))
    from audit.config import safe_name
    from audit.stats._claims import load_references

    if run_id and (folder := Path(config.reports_dir) / safe_name(run_id, 80)).exists() and any(folder.iterdir()):
        raise ConfigError(f"{folder} exists already — resume it with --resume {folder}, or pick another --run-id")

    duplicate_notice(config, select_prompts(config, load_prompt_set(config.prompts)))
    load_references(config.references)
    read_calibration(config.calibration)
    asyncio.run(check_services(config))


def duplicate_notice(config: AuditConfig, prompts: Sequence[Prompt]) -> None:
    """With ``allow_duplicate_texts``, say on stderr how many prompts repeat a text (and are not
    answered: one answer per text); ``select_prompts`` has refused them otherwise."""
    from audit.prompts._duplicates import repeated_prompts

    if repeated := repeated_prompts(prompts):
        print(f"note: {repeated} of {len(prompts)} prompts repeat another's exact text "
              f"(allow_duplicate_texts): one answer is kept per text, {len(prompts) - repeated} answers per "
              "target and sample", file=sys.stderr)


async def check_services(config: AuditConfig) -> None:
    """The classifier's settings (no network), then every endpoint a run calls: targets, judge,
    stance judge (its template and key variable first)."""
    from audit.run._send import check_endpoints, preflight_keys, resolve_judge_key
    from audit.run._stance_precheck import check_stance

    check_judge_table(config)
    await check_endpoints(config.targets, keys=preflight_keys(config, os.environ))
    await check_classifier(config, resolve_judge_key(config, os.environ))
    await check_stance(config)


def check_judge_table(config: AuditConfig) -> None:
    """ConfigError when the ``judge`` or ``ensemble`` classifier has no ``[judge]`` table."""
    if config.classifier != "rules" and config.judge is None:
        raise ConfigError(f"classifier '{config.classifier}' needs a [judge] table (base_url, model, api_key_env) "
                          "— add one, give --judge-base-url and --judge-model, or use --classifier rules")


async def check_classifier(config: AuditConfig, api_key: str | None = None) -> None:
    """Before the first request, not after the last: the classifier's ``[judge]`` table is there
    when it needs one (ConfigError), and the judge's endpoint answers, serves its model
    (EndpointError) and accepts ``api_key`` (KeyRejected) — the preflight of the targets."""
    from audit.send._preflight import preflight

    check_judge_table(config)
    judge = config.judge
    if config.classifier == "rules" or judge is None:
        return
    try:
        problem = await preflight(judge.base_url, model=judge.model, api_key=api_key)
    except KeyRejected as exc:
        fix = "check the key in" if api_key else "put the judge's key in"
        raise KeyRejected(f"judge: {exc} — {fix} ${judge.api_key_env} ([judge] api_key_env)") from None
    if problem:
        fix = "" if " — " in problem else (" — is the judge server running, and are [judge] base_url and "
                                            "model (--judge-base-url, --judge-model) right?")
        raise EndpointError(f"judge: {problem}{fix}")


def record_changes(plan: RunPlan) -> None:
    """Write a resumed run's corrected classifier/judge settings into its run.json (``config``),
    with what they replaced and when under ``amendments``."""
    from audit.run._plan import now_iso, read_run_json, write_run_json

    meta = read_run_json(plan.run_dir)
    before, now = meta.get("config") or {}, plan.config.public_dict()
    changed = {k: now[k] for k in ("classifier", "judge") if before.get(k) != now[k]}
    if not changed:
        return
    amendments = list(meta.get("amendments") or [])
    amendments.append({"at": now_iso(), "set": changed, "was": {k: before.get(k) for k in changed}})
    write_run_json(plan, {"amendments": amendments})


def check_writable(folder: Path) -> None:
    """ConfigError unless run folders can be made in ``folder``; writes nothing (the folder is
    made when the run starts)."""
    probe = folder.absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(f"reports_dir {folder}: {probe} is a file, not a folder — pick a folder with --reports-dir")
    try:  # the real test (root passes os.access everywhere; /proc refuses even root)
        os.rmdir(tempfile.mkdtemp(prefix=".refusal-audit-probe-", dir=probe))
    except OSError as exc:
        raise ConfigError(f"reports_dir {folder}: cannot write in {probe} ({exc.strerror or exc}) — "
                          "pick a writable folder with --reports-dir") from None
