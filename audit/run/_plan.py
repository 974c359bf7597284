"""A run's plan: its folder, configuration and exact prompts (:class:`RunPlan`), new or
resumed from its run.json, and the run.json/prompts.jsonl it writes."""

from __future__ import annotations

import functools
import json
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

import audit
from audit.config import AuditConfig, merge_overrides, safe_name
from audit.csvio import atomic_file
from audit.errors import ConfigError, InputError
from audit.prompts._duplicates import refuse_duplicate_texts
from audit.prompts._schema import Prompt, PromptSet, load_prompt_set
from audit.send import _journal as jr
from audit.send._requests import ChatRequest, build_requests

RUN_FORMAT = 1


@dataclass(frozen=True)
class RunPlan:
    """A run: its folder, its configuration and the exact prompts it audits."""

    run_id: str
    run_dir: Path
    config: AuditConfig
    prompt_set: PromptSet
    prompts: tuple[Prompt, ...]

    @property
    def journal_path(self) -> Path:
        """The response journal of this run."""
        return self.run_dir / jr.JOURNAL_NAME

    def requests(self) -> list[ChatRequest]:
        """Every request of the run."""
        return list(build_requests(self.prompts, self.config.targets, self.config.samples))


def new_run_id(config: AuditConfig, now: datetime | None = None) -> str:
    """UTC timestamp + short target names, safe as a folder name: ``<stamp>-a``,
    ``<stamp>-a-vs-b``, ``<stamp>-a-vs-b-vs-c``, ``<stamp>-a-vs-b-and-2-more``."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    names = [t.label for t in config.targets]
    if len(names) == 1:
        return f"{stamp}-{safe_name(names[0], 32)}"
    shown = names if len(names) <= 3 else names[:2]
    short = "-vs-".join(safe_name(n, 48 // len(shown)) for n in shown)
    more = f"-and-{len(names) - len(shown)}-more" if len(names) > len(shown) else ""
    return f"{stamp}-{short}{more}"


def select_prompts(config: AuditConfig, prompt_set: PromptSet) -> tuple[Prompt, ...]:
    """All prompts, or a stratified pair-keeping sample when ``sample_pairs`` is set; then the
    first ``limit`` of them (``first_prompts``). InputError when prompts repeat another's exact
    text (one request id, so one answer, per text) unless ``allow_duplicate_texts``."""
    prompts = prompt_set.prompts
    if config.sample_pairs is not None:
        from audit.prompts._sampling import sample_pairs

        prompts = tuple(sample_pairs(prompt_set, config.sample_pairs, seed=config.seed,
                                     n_controls=config.sample_controls))
    prompts = prompts if config.limit is None else first_prompts(prompts, config.limit)
    refuse_duplicate_texts(prompts, prompt_set.path, allow=config.allow_duplicate_texts)  # one answer per text
    return prompts


def first_prompts(prompts: tuple[Prompt, ...], limit: int) -> tuple[Prompt, ...]:
    """The first ``limit`` prompts in file order, pairs kept whole: a pair the limit cuts in
    half is completed with its other side (so ``limit`` + 1 prompts at most when it is odd)."""
    head = prompts[:limit]
    cut = {p.pair_id for p in head if p.pair_id is not None}
    kept = {p.id for p in head}
    return head + tuple(p for p in prompts[limit:] if p.pair_id in cut and p.id not in kept)


def inside(root: Path, child: Path) -> bool:
    """Whether ``child`` resolves to a path inside ``root``."""
    try:
        child.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def plan_run(config: AuditConfig, run_id: str | None = None) -> RunPlan:
    """Load the prompt set, choose the prompts, make the run folder and write run.json."""
    prompt_set = load_prompt_set(config.prompts)
    prompts = select_prompts(config, prompt_set)
    root = Path(config.reports_dir)
    rid = safe_name(run_id, 80) if run_id else new_run_id(config)
    run_dir = root / rid
    if not inside(root, run_dir):
        raise ConfigError(f"run id '{run_id}' would write outside {root}/ — use letters, digits, '-', '_'")
    if run_dir.exists() and any(run_dir.iterdir()):
        raise ConfigError(f"{run_dir} exists already — resume it with --resume {run_dir}, or pick another run id")
    run_dir.mkdir(parents=True, exist_ok=True)
    plan = RunPlan(rid, run_dir, config, prompt_set, prompts)
    write_prompts(plan)
    write_run_json(plan, {"started_at": now_iso(), "status": "running"})
    return plan


def resume_plan(run_dir: Path, changes: Mapping[str, Any] | None = None) -> RunPlan:
    """Re-open a run folder written by ``plan_run``; ``changes`` (settings a resume may correct:
    the classifier and its judge) replace those of its run.json in the returned plan."""
    meta = read_run_json(run_dir)
    where = run_dir / "run.json"
    fix = "restore run.json from a backup, or start a new run"
    if not isinstance(meta, dict):
        raise InputError(where, None, "is not a JSON object", fix)
    fmt = meta.get("format", 0)
    if not isinstance(fmt, int) or isinstance(fmt, bool):
        raise InputError(where, None, f"field 'format' is {fmt!r}, not a number", fix)
    if fmt > RUN_FORMAT:
        raise InputError(where, None, f"written by a newer refusal-audit (format {fmt})", "upgrade refusal-audit to resume it")
    for key, kind in (("run_id", str), ("config", dict), ("prompt_set", dict)):
        if not isinstance(meta.get(key), kind):
            raise InputError(where, None, f"field '{key}' is missing or not a {kind.__name__}", fix)
    try:
        config = AuditConfig.model_validate(merge_overrides(meta["config"], dict(changes or {}), {}))
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        if changes and first["loc"][0] in changes:  # the correction is wrong, not the folder
            raise ConfigError(f"options: '{loc}': {first['msg'].removeprefix('Value error, ')}") from None
        if first["loc"][0] in ("classifier", "judge"):
            fix = "resume it with a corrected setting, e.g. --resume DIR --classifier rules"
        raise InputError(where, None, f"field 'config.{loc}': {first['msg']}", fix) from None
    path = run_dir / "prompts.jsonl"
    prompts = load_prompt_set(path).prompts
    ps = meta["prompt_set"]
    try:
        prompt_set = PromptSet(str(ps["name"]), str(ps["version"]), str(ps["sha256"]), str(ps["path"]), prompts)
    except KeyError as exc:
        raise InputError(where, None, f"field 'prompt_set.{exc.args[0]}' is missing", fix) from None
    return RunPlan(meta["run_id"], run_dir, config, prompt_set, prompts)


def now_iso() -> str:
    """The current UTC time as ISO 8601, to the millisecond."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def write_prompts(plan: RunPlan) -> None:
    """Keep the exact prompts of the run in its folder, so resume and re-rendering need nothing else."""
    lines = (p.model_dump_json(exclude_defaults=False) for p in plan.prompts)
    with atomic_file(plan.run_dir / "prompts.jsonl") as fh:
        fh.write("\n".join(lines) + "\n")


def read_run_json(run_dir: Path) -> dict[str, Any]:
    """The run's metadata; a clear error when the folder is not a run folder."""
    path = run_dir / "run.json"
    if not path.is_file():
        raise InputError(run_dir, None, "not a run folder (no run.json)", "give a folder under reports/ written by 'refusal-audit run'")
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(path, None, f"not valid JSON ({exc})", "restore the file or start a new run") from None
    return data


def versions() -> dict[str, str]:
    """Versions of the tool and the libraries whose behaviour shapes the figures (read from the
    installed metadata, so nothing heavy is imported); looked up once per process (run.json is
    written four times a run)."""
    return dict(_versions())


@functools.cache
def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"refusal-audit": audit.__version__, "python": platform.python_version()}
    for name in ("openai", "pandas", "scipy", "statsmodels", "prefect"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def write_run_json(plan: RunPlan, updates: Mapping[str, Any]) -> None:
    """Write run.json (merged with what is there), atomically. It never holds a key."""
    path = plan.run_dir / "run.json"
    meta = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    meta.update({
        "format": RUN_FORMAT, "run_id": plan.run_id, "config": plan.config.public_dict(),
        "targets": [{"name": t.label, "model": t.model, "host": t.host} for t in plan.config.targets],
        "prompt_set": {"name": plan.prompt_set.name, "version": plan.prompt_set.version,
                       "sha256": plan.prompt_set.sha256, "path": plan.prompt_set.path,
                       "prompts": len(plan.prompts)},
        "versions": versions(),
    })
    meta.update(updates)
    with atomic_file(path) as fh:  # a unique temp file: a crash or a full disk leaves run.json as it was
        fh.write(json.dumps(meta, indent=2, ensure_ascii=False))
