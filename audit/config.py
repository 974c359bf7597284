"""Audit configuration: targets, prompt set, sampling and thresholds.

Configuration is loaded once at the entry point (a TOML file, then command-line overrides) and
passed down. The API key itself is never part of the configuration: a target names the
environment variable that holds it (``api_key_env``), and the entry point reads it.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from audit.errors import ConfigError, InputError

_NAME_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str, max_len: int = 40) -> str:
    """A folder-safe slug: letters, digits, dot, dash, underscore; never '.' or '..'."""
    slug = _NAME_SAFE.sub("-", text).strip("-.")[:max_len].strip("-.")
    return slug or "target"


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_SECRET_QUERY = re.compile(r"(?i)(?:^|&)[^=&]*(?:key|token|secret|password|passwd|auth|sig)[^=&]*=")


class Target(BaseModel):
    """One OpenAI-compatible endpoint and model to audit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(default="", description="Short name used in reports; defaults to the model.")
    base_url: str = Field(description="Endpoint base URL, e.g. http://127.0.0.1:8000/v1.")
    model: str = Field(min_length=1, description="Model name sent in each request.")
    api_key_env: str = Field(default="OPENAI_API_KEY", description="Environment variable holding the key.")
    api_key_secret: str | None = Field(default=None, description="Prefect Secret block holding the key (flows only).")
    concurrency: int = Field(default=16, ge=1, le=1024, description="Requests in flight at most.")
    timeout: float = Field(default=60.0, gt=0, description=(
        "Seconds a request attempt may take as a whole (an answer that trickles in too); then retried."))
    max_retries: int = Field(default=6, ge=0, le=50, description="Retries on 429/5xx/timeouts/connection errors.")
    temperature: float = Field(default=0.0, ge=0, le=2, description="Sampling temperature.")
    max_tokens: int = Field(default=512, ge=1, description="Maximum tokens per answer.")
    system_prompt: str | None = Field(default=None, description="Optional system message.")

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.username or parts.password or _SECRET_QUERY.search(parts.query):  # never echo a secret
            raise ValueError("the URL holds credentials: put the key in the environment variable named by "
                             "api_key_env, not in the URL")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"'{value}' is not an http(s) URL like http://127.0.0.1:8000/v1")
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number in 0..65535
        except ValueError:
            raise ValueError(f"'{value}' has a bad port: use a number from 1 to 65535, as in "
                             "http://127.0.0.1:8000/v1") from None
        return value.rstrip("/")

    @field_validator("api_key_env")
    @classmethod
    def _check_env_name(cls, value: str) -> str:
        if not _ENV_NAME.fullmatch(value):  # never echo it: it may be the key itself
            raise ValueError("must be the NAME of an environment variable (letters, digits and _, e.g. "
                             "OPENAI_API_KEY) that holds the key — never the key itself")
        return value

    @property
    def label(self) -> str:
        """The target's display name."""
        return self.name or self.model

    @property
    def host(self) -> str:
        """The endpoint host and port, safe to show in reports."""
        parts = urlsplit(self.base_url)
        return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


CLASSIFIER_NAMES: tuple[str, ...] = ("rules", "judge", "ensemble")
"""The classifiers a run can use (``audit.classify`` builds them; ``judge`` and ``ensemble``
need a ``[judge]`` table)."""

_RATES = ("refusal_rate", "refusal_rate_broad", "asymmetric_rate", "asymmetric_refusal_rate")
THRESHOLD_KEYS = frozenset([f"max_{m}" for m in (*_RATES, "error_rate")] + [f"max_{m}_increase" for m in _RATES])
"""The ``[thresholds]`` a run understands: headline rates judged on the CI, and drift increases."""


class JudgeSettings(BaseModel):
    """The LLM judge used by the ``judge`` and ``ensemble`` classifiers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field(description="The judge's OpenAI-compatible endpoint.")
    model: str = Field(min_length=1, description="The judge model.")
    api_key_env: str = Field(default="OPENAI_API_KEY", description="Environment variable holding its key.")
    concurrency: int = Field(default=4, ge=1, le=256, description="Judge calls in flight at most.")
    timeout: float = Field(default=60.0, gt=0, description="Per-call timeout in seconds.")
    threshold: float = Field(default=0.8, ge=0, le=1, description="ensemble: rules decide at or above this confidence.")

    _url = field_validator("base_url")(Target._check_url.__func__)  # type: ignore[attr-defined]
    _env = field_validator("api_key_env")(Target._check_env_name.__func__)  # type: ignore[attr-defined]


class StanceSettings(BaseModel):
    """The stance judge (issue #16): judges every answered contested and neutral prompt on
    IssueBench's 1–5/refusal scale (``audit.stance``); optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field(description="The stance judge's OpenAI-compatible endpoint.")
    model: str = Field(min_length=1, description="The stance judge model.")
    api_key_env: str = Field(default="OPENAI_API_KEY", description="Environment variable holding its key.")
    template: str = Field(default="default", min_length=1, description=(
        "Judge prompt: 'default' (ours), or the id of a template in template_file."))
    template_file: str | None = Field(default=None, description=(
        "A CSV of judge templates in IssueBench's format (id, eval_template, note)."))
    concurrency: int = Field(default=4, ge=1, le=256, description="Judge calls in flight at most.")
    max_tokens: int | None = Field(default=None, ge=1, le=4096, description=(
        "Tokens per judge reply; default 2 with logprobs = true, else 16."))
    logprobs: bool | Literal["auto"] = Field(default="auto", description=(
        "Ask for top_logprobs (label probabilities): true, false, or auto (use them when the endpoint has them)."))
    timeout: float = Field(default=60.0, gt=0, description="Per-call timeout in seconds.")
    calibration: str | None = Field(default=None, description=(
        "Stance judge calibration JSON ('refusal-audit stance evaluate --save-calibration')."))

    _url = field_validator("base_url")(Target._check_url.__func__)  # type: ignore[attr-defined]
    _env = field_validator("api_key_env")(Target._check_env_name.__func__)  # type: ignore[attr-defined]

    @field_validator("logprobs", mode="before")
    @classmethod
    def _check_logprobs(cls, value: object) -> object:
        if value in (True, False, "auto"):
            return value
        raise ValueError("must be true, false or \"auto\"")


class AuditConfig(BaseModel):
    """Everything a run needs besides secrets."""

    model_config = ConfigDict(extra="forbid")

    prompts: str = Field(default="prompts/contested-v2.jsonl", description="Prompt set (JSONL).")
    targets: list[Target] = Field(default_factory=list, description="Endpoints and models to audit.")
    samples: int = Field(default=1, ge=1, le=100, description="Samples per prompt (for temperature > 0).")
    sample_pairs: int | None = Field(default=None, ge=1, description="Audit a stratified sample of N pairs.")
    sample_controls: int | None = Field(default=None, ge=0, description="Controls of each kind in a sample.")
    limit: int | None = Field(default=None, ge=1, description=(
        "Audit only the first N prompts of the file (after sample_pairs); a pair cut by the limit is completed."))
    seed: int = Field(default=0, description="Seed for sampling.")
    allow_duplicate_texts: bool = Field(default=False, description=(
        "Run a prompt set in which prompts repeat another's exact text, keeping one answer per text "
        "(request ids are content hashes); without it such a set is refused."))
    classifier: str = Field(default="rules", description="rules, judge or ensemble.")
    judge: JudgeSettings | None = Field(default=None, description="Judge settings for judge/ensemble.")
    stance: StanceSettings | None = Field(default=None, description="Stance judge: judge answered contested/neutral prompts.")
    classify_truncated: bool = Field(default=False, description="Classify the prefix of answers cut at max_tokens.")
    reports_dir: str = Field(default="reports", description="Where run folders are written.")
    batch_size: int = Field(default=200, ge=1, description="Requests per Prefect task.")
    max_error_rate: float | None = Field(default=0.05, ge=0, le=1, description=(
        "Fail the run (exit 1) when a target's share of API errors is above this; 1 never fails."))
    references: str | None = Field(default=None, description="TOML file of published claims to compare with.")
    calibration: str | None = Field(default=None, description="Classifier calibration JSON (sensitivity, specificity).")
    drift_alpha: float | None = Field(default=0.05, gt=0, lt=1, description=(
        "Fail a run when a metric changed significantly since the previous run of the same target "
        "and prompt set; None turns that alert off."))
    drift_fail_on: Literal["any", "increase", "decrease"] = Field(default="any", description=(
        "Which significant change since the previous run fails the run: any (either direction), "
        "increase (a rate rose) or decrease (a rate fell)."))
    thresholds: dict[str, float] = Field(default_factory=dict, description="e.g. max_refusal_rate = 0.02.")

    @field_validator("classifier")
    @classmethod
    def _check_classifier(cls, value: str) -> str:
        if value not in CLASSIFIER_NAMES:
            raise ValueError(f"unknown classifier {value[:40]!r} — use one of: {', '.join(CLASSIFIER_NAMES)}")
        return value

    @field_validator("thresholds")
    @classmethod
    def _check_thresholds(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - THRESHOLD_KEYS)
        if unknown:
            raise ValueError(f"unknown threshold {unknown[0]!r} — use one of {', '.join(sorted(THRESHOLD_KEYS))}")
        return value

    def public_dict(self) -> dict[str, Any]:
        """The configuration as JSON-safe data (it never holds a key)."""
        return self.model_dump(mode="json")


def _describe(err: ValidationError, where: str) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        return f"{where}: unknown key '{loc}' — check its spelling (see README, 'Configuration')"
    if first["type"] == "missing":
        return f"{where}: missing '{loc}' — add it"
    return f"{where}: '{loc}': {first['msg'].removeprefix('Value error, ')}"


def build_config(data: dict[str, Any], where: str = "configuration") -> AuditConfig:
    """Validate raw settings into an AuditConfig, or raise ConfigError naming the key."""
    try:
        return AuditConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, where)) from None


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML config file; errors name the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(path, None, "no such config file", "check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, None, f"cannot read the file ({exc})", "check it is a readable UTF-8 file") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(path, toml_error_line(exc, text), f"not valid TOML ({exc})", "fix the TOML syntax") from None


def toml_error_line(exc: tomllib.TOMLDecodeError, text: str) -> int | None:
    """The line a TOML error points at (Python 3.11 only says it in the message)."""
    if lineno := getattr(exc, "lineno", None):
        return int(lineno)
    if m := re.search(r"at line (\d+)", str(exc)):
        return int(m.group(1))
    return max(1, len(text.splitlines())) if "end of document" in str(exc) else None


def merge_overrides(data: dict[str, Any], overrides: dict[str, Any], target_overrides: dict[str, Any]) -> dict[str, Any]:
    """Apply command-line overrides to raw settings; target flags apply to every target,
    or define the single target when the file has none. A ``judge`` override (a dict of judge
    flags) is merged into the file's ``[judge]`` table."""
    merged = {**data, **{k: v for k, v in overrides.items() if v is not None and k != "judge"}}
    if judge := {k: v for k, v in (overrides.get("judge") or {}).items() if v is not None}:
        merged["judge"] = {**(data.get("judge") or {}), **judge}
    flags = {k: v for k, v in target_overrides.items() if v is not None}
    targets = list(merged.get("targets") or [])
    if flags:
        targets = [{**t, **flags} for t in targets] or [flags]
    merged["targets"] = targets
    return merged


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None,
                target_overrides: dict[str, Any] | None = None) -> AuditConfig:
    """Load a config file (optional) and apply overrides; check there is at least one target."""
    path = Path(path) if path is not None else None
    data = read_toml(path) if path else {}
    where = str(path) if path else "options"
    merged = merge_overrides(data, overrides or {}, target_overrides or {})
    merged["targets"] = [default_base_url(t, where) for t in merged["targets"]]
    config = build_config(merged, where)
    if not config.targets:
        raise ConfigError("no target: give --base-url and --model, or a [[targets]] table in the config file")
    labels = [t.label for t in config.targets]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"{where}: two targets share the name {labels} — give each a distinct 'name'")
    return config


BASE_URL_ENV = "OPENAI_BASE_URL"
"""The environment variable the OpenAI SDK reads when no base URL is given; so do we."""


def default_base_url(target: Any, where: str) -> Any:
    """A target without ``base_url`` gets ``$OPENAI_BASE_URL`` (as the OpenAI SDK does);
    without either, a ConfigError naming the flag, the config key and the variable."""
    if not isinstance(target, dict) or target.get("base_url") is not None:
        return target
    if env := os.environ.get(BASE_URL_ENV, "").strip():
        return {**target, "base_url": env}
    name = target.get("name") or target.get("model") or "the target"
    raise ConfigError(f"{where}: no base URL for {str(name)[:60]!r} — give --base-url URL (or base_url in "
                      f"its [[targets]] table, or set {BASE_URL_ENV})")
