"""refusal-audit: audit LLMs for refusals and viewpoint bias on contested topics.

The public API for scripts and notebooks (everything else lives in the stage packages
``audit.prompts``, ``audit.send``, ``audit.classify``, ``audit.stats``, ``audit.report`` and
``audit.run``)::

    import audit
    config = audit.load_config("audit.toml")
    plan, tables = audit.run_audit(config)          # a script
    plan, tables = await audit.arun_audit(config)   # inside a running event loop (Jupyter)

Names are imported on first use, so ``import audit`` stays cheap. The library never imports
prefect; the Prefect flows live in the repository's ``flows/`` folder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audit._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "AuditConfig": "config",
    "Target": "config",
    "build_config": "config",
    "load_config": "config",
    "AuditError": "errors",
    "ConfigError": "errors",
    "DiskFullError": "errors",
    "EndpointError": "errors",
    "InputError": "errors",
    "KeyRejected": "errors",
    "RunFolderBusy": "errors",
    "ThresholdError": "errors",
    "Prompt": "prompts",
    "PromptSet": "prompts",
    "load_prompt_set": "prompts",
    "Verdict": "classify",
    "make_classifier": "classify",
    "RunPlan": "run",
    "Tables": "run",
    "arun_audit": "run",
    "run_audit": "run",
    "render_report": "report",
}
__all__ = [
    "AuditConfig",
    "AuditError",
    "ConfigError",
    "DiskFullError",
    "EndpointError",
    "InputError",
    "KeyRejected",
    "Prompt",
    "PromptSet",
    "RunFolderBusy",
    "RunPlan",
    "Tables",
    "Target",
    "ThresholdError",
    "Verdict",
    "__version__",
    "arun_audit",
    "build_config",
    "load_config",
    "load_prompt_set",
    "make_classifier",
    "render_report",
    "run_audit",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from audit.classify import Verdict, make_classifier
    from audit.config import AuditConfig, Target, build_config, load_config
    from audit.errors import (
        AuditError,
        ConfigError,
        DiskFullError,
        EndpointError,
        InputError,
        KeyRejected,
        RunFolderBusy,
        ThresholdError,
    )
    from audit.prompts import Prompt, PromptSet, load_prompt_set
    from audit.report import render_report
    from audit.run import RunPlan, Tables, arun_audit, run_audit
