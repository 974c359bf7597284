"""Checks of a run's inputs before anything is sent or Prefect starts: the reports folder, the
run id, the prompt set, the references, the calibration file and the endpoints. A mistake is a
one-line :class:`ConfigError`/:class:`InputError`/:class:`EndpointError`, not a failed flow run.
The CLI and the flows both call :func:`precheck` (so neither imports the other for it)."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

from audit.config import AuditConfig
from audit.errors import ConfigError

__all__ = ["check_writable", "precheck"]


def precheck(config: AuditConfig | None, resume_dir: str | None, run_id: str | None = None) -> None:
    """Catch user mistakes before Prefect starts, so they show as one line, not a flow failure."""
    from audit.prompts._schema import load_prompt_set
    from audit.run._finish import read_calibration
    from audit.run._plan import resume_plan
    from audit.run._send import check_endpoints

    if resume_dir:
        from audit.send import _journal as jr
        plan = resume_plan(Path(resume_dir))
        if cut := jr.repair(plan.journal_path):  # a kill in the middle of a write
            print(f"{plan.journal_path}: cut a torn last line ({cut} bytes) left by an interrupted run; "
                  "that request will be sent again", file=sys.stderr)
        jr.done_ids(plan.journal_path)  # a damaged journal is one line here, not a failed flow run
        asyncio.run(check_endpoints(plan.config.targets))
        return
    assert config is not None
    check_writable(Path(config.reports_dir))
    from audit.config import safe_name
    from audit.stats._claims import load_references

    if run_id and (folder := Path(config.reports_dir) / safe_name(run_id, 80)).exists() and any(folder.iterdir()):
        raise ConfigError(f"{folder} exists already — resume it with --resume {folder}, or pick another --run-id")

    load_prompt_set(config.prompts)
    load_references(config.references)
    read_calibration(config.calibration)
    asyncio.run(check_endpoints(config.targets))


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
