"""The ``[stance]`` judge's part of the check before a run sends anything (issue #16).

The stance stage runs after every target answer is in, so a mistake in its set-up used to show
only once the targets were paid for. Checked here instead, each as one line naming the
``[stance]`` option (or the file and line) and the fix, never the key: the template (``template``,
``template_file``), the calibration file, the key's variable (``api_key_env``), and the endpoint
(``base_url``) and its ``model`` — the preflight of the targets and of the refusal judge.

An unset key variable: a judge that needs no key (a local server) runs without one, so a run
stops for it only when it cannot work — the variable is not the default ``OPENAI_API_KEY`` (a
variable named on purpose is meant to be set, as ``stance evaluate --judge-api-key-env``), or
the endpoint answers HTTP 401 without a key.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from audit.config import AuditConfig, StanceSettings
from audit.errors import ConfigError, EndpointError, InputError, KeyRejected

__all__ = ["check_stance", "check_stance_endpoint", "check_stance_files", "stance_api_key"]

DEFAULT_KEY_ENV = str(StanceSettings.model_fields["api_key_env"].default)
_TARGET_MODEL_FIX = "set the target's model to one of them"  # the end of preflight's wrong-model line


async def check_stance(config: AuditConfig, environ: Mapping[str, str] | None = None,
                       http_client: Any = None) -> None:
    """Nothing without a ``[stance]`` table; else its files, its key's variable, then its
    endpoint and model. ``environ``: where the key is read (default ``os.environ``)."""
    settings = config.stance
    if settings is None:
        return
    check_stance_files(settings)
    key = stance_api_key(settings, os.environ if environ is None else environ)
    await check_stance_endpoint(settings, key, http_client)


def check_stance_files(settings: StanceSettings) -> None:
    """The template exists (built-in id, or file + id, with ``{response_text}``) and the
    calibration file, if any, is a JSON object: InputError (file, line) or ConfigError."""
    from audit.stance._templates import load_template

    if settings.template_file is None and settings.template != "default":
        raise ConfigError(f"[stance] template = {settings.template[:80]!r}: there is no built-in template of that "
                          "name — use template = \"default\", or set template_file to a CSV in IssueBench's format "
                          "(id, eval_template, note) holding it")
    load_template(settings.template, Path(settings.template_file) if settings.template_file else None)
    if settings.calibration:
        _check_calibration(Path(settings.calibration))


def _check_calibration(path: Path) -> None:
    fix = "write it with 'refusal-audit stance evaluate --save-calibration', or drop calibration from [stance]"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(path, None, f"cannot read the stance judge's calibration file ({exc.strerror or exc})",
                         fix) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(path, None, f"the stance judge's calibration file is not JSON ({exc})", fix) from None
    if not isinstance(data, dict):
        raise InputError(path, None, "the stance judge's calibration file is not a JSON object", fix)


def stance_api_key(settings: StanceSettings, environ: Mapping[str, str]) -> str | None:
    """The stance judge's key from the variable ``api_key_env`` names; None when unset (then
    the endpoint's answer decides), ConfigError when a variable other than the default is unset."""
    key = environ.get(settings.api_key_env) or None
    if key is None and settings.api_key_env != DEFAULT_KEY_ENV:
        raise ConfigError(f"[stance] api_key_env: the environment variable {settings.api_key_env} is not set or "
                          "empty — export the stance judge's key in it, or remove api_key_env from [stance] for "
                          "an endpoint that needs no key")
    return key


async def check_stance_endpoint(settings: StanceSettings, api_key: str | None, http_client: Any = None) -> None:
    """The endpoint answers, serves ``model`` (EndpointError) and accepts the key (KeyRejected)."""
    from audit.send._preflight import preflight

    try:
        problem = await preflight(settings.base_url, http_client=http_client, model=settings.model,
                                  api_key=api_key)
    except KeyRejected as exc:
        var = f"the environment variable {settings.api_key_env}"
        fix = f"check the key in {var}" if api_key else f"{var} is not set or empty: export the judge's key in it"
        raise KeyRejected(f"[stance] api_key_env: {exc} — {fix}") from None
    if not problem:
        return
    if _TARGET_MODEL_FIX in problem:
        raise EndpointError(f"[stance] model: {problem.replace(_TARGET_MODEL_FIX, 'set [stance] model to one of them')}")
    fix = "" if " — " in problem else " — is the stance judge's server running, and is [stance] base_url right?"
    raise EndpointError(f"[stance] base_url: {problem}{fix}")
