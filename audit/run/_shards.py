"""Sharded runs: split a run's requests into shards and merge the shards' journals back.

A sharded run has one run folder (written by the parent: ``run.json``, ``prompts.jsonl``); each
shard ``k`` of ``n`` sends the requests whose content-hash id falls in it (``shard_of``) and
appends them to its own journal ``<run>/shards/<k>/responses.jsonl``, so shards on different
machines never write the same file (the run folder must be on storage they all mount).
``merge_journals`` then takes the union of the shard journals into ``<run>/responses.jsonl``,
keyed by request id (as in ``pipeline.unique_records``: the first answer of an id wins, and an
error only stands for an id nobody answered); it is idempotent, so a merge after a retried shard
only adds what is new, and an answer to a request re-sent with ``retry_errors`` supersedes its
error. After the merge the run
folder is an ordinary run folder: labelling, statistics and reports run unchanged.

Library code: no Prefect (``flows/sharding.py`` runs the shards as Prefect deployments).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from audit.errors import ConfigError
from audit.run._plan import RunPlan, read_run_json, resume_plan, write_run_json
from audit.send import _journal as jr
from audit.send._requests import ChatRequest

__all__ = ["DEFAULT_SHARD_DEPLOYMENT", "SHARDS_DIR", "ShardPlan", "ShardSettings", "merge_journals", "open_shard",
           "record_restart", "resolve_settings", "save_settings", "shard_counts", "shard_journal", "shard_of",
           "shard_requests", "shard_sizes"]

SHARDS_DIR = "shards"
DEFAULT_SHARD_DEPLOYMENT = "refusal-audit-shard/shard"
ORCHESTRATION_KEY = "orchestration"


def shard_of(request_id: str, shards: int) -> int:
    """The shard of a request: its content hash modulo the number of shards (stable, balanced)."""
    return int(request_id[:12], 16) % shards


def shard_requests(requests: list[ChatRequest], shard: int, shards: int) -> list[ChatRequest]:
    """The requests of one shard, in the run's order."""
    return [r for r in requests if shard_of(r.request_id, shards) == shard]


def shard_journal(run_dir: Path, shard: int) -> Path:
    """The journal of shard ``shard`` of a run."""
    return Path(run_dir) / SHARDS_DIR / str(shard) / jr.JOURNAL_NAME


@dataclass(frozen=True)
class ShardPlan(RunPlan):
    """A run plan restricted to one shard: its own requests and its own journal.

    The pipeline's sending functions (``pending_requests``, ``open_senders``, ``batches``,
    ``send_batch``) work on it unchanged.
    """

    shard: int = 0
    shards: int = 1
    retry_errors: bool = False

    @property
    def journal_path(self) -> Path:
        """This shard's journal."""
        return shard_journal(self.run_dir, self.shard)

    def requests(self) -> list[ChatRequest]:
        """This shard's requests, less those the run's merged journal holds already (so a resumed
        run may use another number of shards: the parent merges before it starts them). With
        ``retry_errors``, requests whose merged records are all API errors are sent again."""
        merged = jr.done_ids(self.run_dir / jr.JOURNAL_NAME, answered_only=self.retry_errors)
        return [r for r in shard_requests(super().requests(), self.shard, self.shards) if r.request_id not in merged]


def open_shard(run_dir: Path, shard: int, shards: int, retry_errors: bool = False) -> ShardPlan:
    """Open shard ``shard`` of ``shards`` of a run folder written by ``pipeline.plan_run``."""
    if shards < 1 or not 0 <= shard < shards:
        raise ConfigError(f"shard {shard} of {shards}: the shard must be in 0..{shards - 1}")
    plan = resume_plan(Path(run_dir))
    return ShardPlan(plan.run_id, plan.run_dir, plan.config, plan.prompt_set, plan.prompts, shard, shards,
                     retry_errors)


def shard_journals(run_dir: Path) -> list[Path]:
    """Every shard journal of a run, in shard order."""
    base = Path(run_dir) / SHARDS_DIR
    if not base.is_dir():
        return []
    found = [d / jr.JOURNAL_NAME for d in base.iterdir() if d.is_dir() and d.name.isdigit()]
    return sorted((p for p in found if p.is_file()), key=lambda p: int(p.parent.name))


def merge_journals(run_dir: Path) -> int:
    """Append every shard record whose request id the run's journal lacks — or that answers a
    request the journal holds only errors for; return how many.

    Records are copied as they are (one JSON line each), so the merged journal is what a
    single process would have written, in another order.
    """
    target = Path(run_dir) / jr.JOURNAL_NAME
    seen = jr.done_ids(target) if target.exists() else set()
    answered = jr.done_ids(target, answered_only=True) if target.exists() else set()
    added = 0
    with jr.Journal(target) as out:
        for path in shard_journals(run_dir):
            jr.repair(path)
            for rec in jr.iter_records(path):
                rid = rec.get("request_id")
                is_answer = not rec.get("error")
                if rid and (rid not in seen or (is_answer and rid not in answered)):
                    seen.add(rid)
                    if is_answer:
                        answered.add(rid)
                    out.append(rec)
                    added += 1
    return added


def shard_counts(run_dir: Path) -> dict[int, int]:
    """Records written so far by each shard (for progress); cheap: counts lines."""
    out = {}
    for path in shard_journals(run_dir):
        with path.open("rb") as fh:
            out[int(path.parent.name)] = sum(1 for line in fh if line.endswith(b"\n"))
    return out


def shard_sizes(run_dir: Path, shards: int) -> dict[int, int]:
    """Each shard journal's size in bytes (0 when absent): a cheap sign of progress, one stat each."""
    out = {}
    for k in range(shards):
        try:
            out[k] = shard_journal(run_dir, k).stat().st_size
        except FileNotFoundError:
            out[k] = 0
    return out


@dataclass(frozen=True)
class ShardSettings:
    """How a sharded run is orchestrated, kept in run.json (``orchestration``) so a resume
    reuses them: a resumed run keeps its shard count, its deployment, its global concurrency
    limit and its stall handling unless the resume names others."""

    shards: int = 2
    shard_deployment: str = DEFAULT_SHARD_DEPLOYMENT
    concurrency_limit: str | None = None
    stall_seconds: float = 300.0
    """A running shard whose journal has not grown and that has sent no heartbeat for this long
    is marked crashed and started again."""
    max_restarts: int = 2
    """How many times each shard may be started again after a crash or a stall."""

    def check(self) -> ShardSettings:
        """The settings, or ConfigError naming the first bad one."""
        if self.shards < 1:
            raise ConfigError(f"shards must be at least 1, not {self.shards}")
        if not self.stall_seconds > 0:
            raise ConfigError(f"stall_seconds must be positive, not {self.stall_seconds}")
        if self.max_restarts < 0:
            raise ConfigError(f"max_restarts must be 0 or more, not {self.max_restarts}")
        if not self.shard_deployment:
            raise ConfigError("shard_deployment is empty: name the shard flow's deployment, e.g. "
                              f"'{DEFAULT_SHARD_DEPLOYMENT}'")
        return self


def _saved_settings(run_dir: Path) -> dict[str, Any]:
    saved = read_run_json(Path(run_dir)).get(ORCHESTRATION_KEY)
    if not isinstance(saved, dict):
        return {}
    names = {f.name for f in fields(ShardSettings)}
    return {k: v for k, v in saved.items() if k in names}


def resolve_settings(resume_dir: Path | None, **given: Any) -> ShardSettings:
    """The settings of a sharded run: each one given (not None) wins; on a resume, the rest come
    from the run's run.json; anything else takes its default. ``concurrency_limit=""`` means no
    limit (to drop a saved one)."""
    base = ShardSettings(**_saved_settings(resume_dir)) if resume_dir else ShardSettings()
    chosen = {k: v for k, v in given.items() if v is not None}
    settings = replace(base, **chosen)
    if settings.concurrency_limit == "":
        settings = replace(settings, concurrency_limit=None)
    return settings.check()


def save_settings(plan: RunPlan, settings: ShardSettings) -> None:
    """Keep the settings in run.json (the restarts recorded so far stay)."""
    meta = read_run_json(plan.run_dir).get(ORCHESTRATION_KEY)
    restarts = meta.get("restarts", []) if isinstance(meta, dict) else []
    write_run_json(plan, {ORCHESTRATION_KEY: {"kind": "sharded", **asdict(settings), "restarts": restarts}})


def record_restart(plan: RunPlan, restart: dict[str, Any]) -> None:
    """Add one restart of a shard (which, why, after how long a silence) to run.json."""
    meta = read_run_json(plan.run_dir).get(ORCHESTRATION_KEY)
    meta = dict(meta) if isinstance(meta, dict) else {"kind": "sharded"}
    meta["restarts"] = [*meta.get("restarts", []), restart]
    write_run_json(plan, {ORCHESTRATION_KEY: meta})
