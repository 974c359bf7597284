"""The audit's stages as plain functions: plan → send → label → statistics → reports.

The Prefect flow (``flows/audit_flow.py``) runs these as tasks; ``run_audit`` runs them with
plain asyncio (used by tests and by library users who do not want Prefect). Data flows one way;
each stage reads what the stage before it wrote.
"""

from __future__ import annotations

import asyncio
import json
import platform
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

import audit
from audit.send import _journal as jr
from audit.config import AuditConfig, Target, safe_name
from audit.errors import ConfigError, EndpointError, InputError, ThresholdError
from audit.prompts._schema import Prompt, PromptSet, load_prompt_set
from audit.send._requests import ChatRequest, build_requests
from audit.send._runner import AdaptiveLimiter, RetryPolicy, Sender, make_client, preflight

RUN_FORMAT = 1
Progress = Callable[[dict[str, Any]], None]


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
    """UTC timestamp + short target name, safe as a folder name."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    names = [t.label for t in config.targets]
    short = safe_name(names[0] if len(names) == 1 else f"{names[0]}+{len(names) - 1}", 32)
    return f"{stamp}-{short}"


def select_prompts(config: AuditConfig, prompt_set: PromptSet) -> tuple[Prompt, ...]:
    """All prompts, or a stratified pair-keeping sample when ``sample_pairs`` is set."""
    if config.sample_pairs is None:
        return prompt_set.prompts
    from audit.prompts._sampling import sample_pairs

    return tuple(sample_pairs(prompt_set, config.sample_pairs, seed=config.seed,
                              n_controls=config.sample_controls))


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


def resume_plan(run_dir: Path) -> RunPlan:
    """Re-open a run folder written by ``plan_run``."""
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
        config = AuditConfig.model_validate(meta["config"])
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
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
    (plan.run_dir / "prompts.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


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
    installed metadata, so nothing heavy is imported)."""
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
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)


# ---------------------------------------------------------------- sending


def pending_requests(plan: RunPlan, retry_errors: bool = False) -> list[ChatRequest]:
    """The requests whose id is not yet in the journal (resume = run what is missing); with
    ``retry_errors``, also those whose every attempt so far ended in an API error."""
    jr.repair(plan.journal_path)
    done = jr.done_ids(plan.journal_path, answered_only=retry_errors)
    return [r for r in plan.requests() if r.request_id not in done]


def batches(requests: Sequence[ChatRequest], size: int) -> list[list[ChatRequest]]:
    """Split requests into batches of at most ``size``, keeping each batch to one target."""
    out: list[list[ChatRequest]] = []
    for target in dict.fromkeys(r.target for r in requests):
        mine = [r for r in requests if r.target == target]
        out += [mine[i:i + size] for i in range(0, len(mine), size)]
    return out


@dataclass
class SendContext:
    """What sending needs, built once per process: clients, limiters and the journal."""

    senders: dict[str, Sender]
    journal: jr.Journal
    progress: Progress | None = None
    counts: dict[str, int] = field(default_factory=lambda: {"done": 0, "errors": 0})
    sent: set[str] = field(default_factory=set)

    def record(self, rec: dict[str, Any]) -> None:
        """Append a finished request to the journal at once, then report progress."""
        self.journal.append(rec)
        self.sent.add(rec["request_id"])
        self.counts["done"] += 1
        self.counts["errors"] += rec.get("error") is not None
        if self.progress:
            self.progress(rec)

    async def aclose(self) -> None:
        """Close the clients and the journal."""
        for s in self.senders.values():
            await s.client.close()
        self.journal.close()


def open_senders(plan: RunPlan, keys: Mapping[str, str | None], policy: RetryPolicy | None = None,
                 progress: Progress | None = None) -> SendContext:
    """One client and adaptive limiter per target; keys come from the entry point."""
    senders = {}
    secrets = tuple(k for k in keys.values() if k)
    for t in plan.config.targets:
        pol = policy or RetryPolicy(max_retries=t.max_retries)
        client = make_client(t.base_url, keys.get(t.label), t.timeout)
        senders[t.label] = Sender(client, AdaptiveLimiter(t.concurrency), pol, secrets)
    return SendContext(senders, jr.Journal(plan.journal_path), progress)


async def send_batch(ctx: SendContext, batch: Sequence[ChatRequest]) -> int:
    """Send one batch (all of one target) through that target's sender."""
    from audit.send._runner import run_requests

    todo = [r for r in batch if r.request_id not in ctx.sent]  # a retried batch resends nothing
    if not todo:
        return 0
    return await run_requests(todo, ctx.senders[todo[0].target], ctx.record)


async def gather_gated(jobs: Sequence[Callable[[], Any]], limit: int) -> list[Any]:
    """Run async jobs (zero-argument callables) with at most ``limit`` at once (batches in flight).

    Coroutines are created only when a job starts, so an interrupted run leaves none unawaited.
    """
    gate = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Any]) -> Any:
        async with gate:
            return await job()

    return list(await asyncio.gather(*(one(j) for j in jobs)))


def batch_parallelism(plan: RunPlan) -> int:
    """Batches in flight: enough to keep every target's limiter busy across batch tails."""
    return 2 * len(plan.config.targets) + 1


async def check_endpoints(targets: Sequence[Target]) -> None:
    """Fail fast (EndpointError, exit 2) when an endpoint cannot be reached at all."""
    for t in targets:
        if problem := await preflight(t.base_url):
            raise EndpointError(f"target '{t.label}': {problem} — is the server running and the --base-url right?")


def resolve_keys(config: AuditConfig, environ: Mapping[str, str]) -> dict[str, str | None]:
    """Read each target's key from the environment variable it names (entry points only)."""
    return {t.label: environ.get(t.api_key_env) or None for t in config.targets}


def resolve_judge_key(config: AuditConfig, environ: Mapping[str, str]) -> str | None:
    """The judge's key, from the environment variable its settings name (entry points only)."""
    return environ.get(config.judge.api_key_env) or None if config.judge else None


# ---------------------------------------------------------------- labelling


PROMPT_COLUMNS = ("pair_id", "side", "topic", "category", "template", "stance", "lean", "kind")
CHUNK_SIZE = 25_000  # answers labelled, written and compacted at a time (bounds peak memory)
ID_WIDTH = 32  # bytes of a request id (``requests.request_id``: 32 hex digits)
_BLOCK = 65_536  # journal records looked up at once in the first pass of ``unique_records``
_NONE = np.iinfo(np.int64).max


def _wanted_ids(plan: RunPlan) -> np.ndarray:
    """The request ids of the run, sorted, as fixed-width bytes (32 B each)."""
    count = -1
    if type(plan).requests is RunPlan.requests:  # stream them: no list of a million requests
        reqs: Iterable[ChatRequest] = build_requests(plan.prompts, plan.config.targets, plan.config.samples)
        count = len(plan.prompts) * len(plan.config.targets) * plan.config.samples
    else:  # a subclass (a shard) chooses its own requests
        reqs = plan.requests()
    ids = np.fromiter((r.request_id.encode("utf-8") for r in reqs), dtype=f"S{ID_WIDTH}", count=count)
    ids.sort()  # in place; a repeated id (identical requests) is harmless: the first copy is used
    return ids


def chosen_offsets(plan: RunPlan) -> np.ndarray:
    """Byte offsets in the journal of the record chosen for each of the run's request ids (the
    first answer, else the first error), ordered by where the id first appears in the journal.

    One streaming pass that keeps three int64 per request, never a record: a million answers
    cost ~56 MB here, whatever their length. The offsets come back as int32 when the journal
    is under 2 GiB (4 bytes per answer, held while labelling).
    """
    wanted = _wanted_ids(plan)
    n = len(wanted)
    first, answer, error = (np.full(n, _NONE, dtype=np.int64) for _ in range(3))

    def flush(ids: list[bytes], offs: list[int], errs: list[bool]) -> None:
        if not ids or not n:
            return
        key = np.array(ids, dtype=f"S{ID_WIDTH}")
        pos = np.minimum(np.searchsorted(wanted, key), n - 1)
        hit = wanted[pos] == key
        pos, off, err = pos[hit], np.array(offs, dtype=np.int64)[hit], np.array(errs, dtype=bool)[hit]
        np.minimum.at(first, pos, off)
        np.minimum.at(answer, pos[~err], off[~err])
        np.minimum.at(error, pos[err], off[err])
        ids.clear()
        offs.clear()
        errs.clear()

    ids: list[bytes] = []
    offs: list[int] = []
    errs: list[bool] = []
    for off, rec in jr.iter_offsets(plan.journal_path):
        rid = rec.get("request_id")
        raw = rid.encode("utf-8") if isinstance(rid, str) else b""
        if len(raw) != ID_WIDTH:  # not one of this run's ids (which are all ID_WIDTH bytes)
            continue
        ids.append(raw)
        offs.append(off)
        errs.append(bool(rec.get("error")))
        if len(ids) >= _BLOCK:
            flush(ids, offs, errs)
    flush(ids, offs, errs)
    seen = first < _NONE
    chosen = np.where(answer < _NONE, answer, error)[seen]
    chosen = chosen[np.argsort(first[seen], kind="stable")]
    return chosen.astype(np.int32) if chosen.max(initial=0) < 2**31 else chosen


def unique_records(plan: RunPlan) -> Iterator[dict[str, Any]]:
    """Journal records of this run's requests, one per request id: the first answer, or the
    first error when every attempt failed (errors are re-sent only with ``--retry-errors``).

    Streams: a first pass notes where each chosen record is (``chosen_offsets``), a second reads
    them back one at a time, in the order the ids first appear in the journal.
    """
    yield from records_at(plan, chosen_offsets(plan))


def records_at(plan: RunPlan, offsets: np.ndarray) -> Iterator[dict[str, Any]]:
    """The journal records at ``offsets`` (from ``chosen_offsets``), one at a time."""
    if len(offsets):
        yield from jr.read_at(plan.journal_path, (int(o) for o in offsets))


def make_run_classifier(plan: RunPlan, judge_key: str | None = None) -> Any:
    """The configured classifier; a judge journals its verdicts in the run folder (resumable)."""
    from audit.classify import make_classifier

    name, judge = plan.config.classifier, plan.config.judge
    if name == "rules":
        return make_classifier("rules")
    if judge is None:
        raise ConfigError(f"classifier '{name}' needs a [judge] table (base_url, model, api_key_env)")
    settings: dict[str, Any] = {"base_url": judge.base_url, "model": judge.model, "api_key": judge_key,
                                "judge_journal": plan.run_dir / "judge.jsonl", "timeout": judge.timeout,
                                "concurrency": judge.concurrency}
    if name == "ensemble":
        settings["threshold"] = judge.threshold
    return make_classifier(name, **settings)


def label_responses(plan: RunPlan, judge_key: str | None = None, *, chunk_size: int = CHUNK_SIZE) -> pd.DataFrame:
    """Label every answer of the journal, write ``responses.csv``, return the compact frame.

    Streams, ``chunk_size`` answers at a time: build the chunk's rows (with prompt and answer
    text), classify them (a judge journals its verdicts as it goes, so an interrupted run
    resumes), append them to responses.csv (written to a temp file, renamed at the end), keep
    only their ``COMPACT_COLUMNS``. Peak memory is one chunk plus ~60 bytes per answer.

    The returned frame has ``COMPACT_COLUMNS`` (every column of responses.csv but the
    free-text ``request_id``, ``prompt``, ``answer``, ``evidence``; repeated strings as
    categoricals), one row per answer in the order its request id first appears in the journal
    (as before streaming): what the statistics, comparisons and run.json need. ``write_tables`` does not rewrite responses.csv from it.
    """
    from audit.classify import classify_frame
    from audit.csvio import CsvWriter

    by_id = {p.id: p for p in plan.prompts}
    classifier = make_run_classifier(plan, judge_key)
    try:
        offsets = chosen_offsets(plan)
        compact = CompactFrame(len(offsets), prompt_categories(plan))  # allocated once, for every answer
        rows = (response_row(plan.run_id, rec, by_id[rec["prompt_id"]]) for rec in records_at(plan, offsets))
        with CsvWriter(plan.run_dir / RESPONSES_CSV, RESPONSE_COLUMNS) as out:
            for chunk in _chunks(rows, max(1, chunk_size)):
                labelled = classify_frame(_row_frame(chunk), classifier,
                                          classify_truncated=plan.config.classify_truncated)
                labelled = labelled[RESPONSE_COLUMNS]
                out.write(labelled)
                compact.add(labelled)
                del chunk, labelled
    finally:
        close = getattr(classifier, "close", None)
        if callable(close):
            close()
    write_run_json(plan, {"classifier": classifier_info(plan, classifier)})
    return compact.frame()


def prompt_categories(plan: RunPlan) -> dict[str, int]:
    """How many distinct values each prompt column of the run can take (at most)."""
    counts = {col: len({getattr(p, col) for p in plan.prompts}) for col in PROMPT_COLUMNS}
    return {**counts, "prompt_id": len(plan.prompts)}


def classifier_info(plan: RunPlan, classifier: Any) -> dict[str, Any]:
    """run.json's ``classifier``: which one labelled the run and, for a judge or an ensemble, how
    many answers the judge decided (asked now or read from judge.jsonl) and how many it could
    not parse (the rules decided those)."""
    info: dict[str, Any] = {"name": plan.config.classifier}
    judge = getattr(classifier, "judge", classifier if plan.config.classifier == "judge" else None)
    if plan.config.judge is not None and judge is not None:
        info["judge_model"] = plan.config.judge.model
        for key in ("calls", "cached", "unparsed", "failures"):
            info[f"judge_{key}"] = int(getattr(judge, key, 0))
    if hasattr(classifier, "judged"):
        info["to_judge"] = int(classifier.judged)
        info["by_rules"] = int(classifier.by_rules)
    return info


RESPONSES_CSV = "responses.csv"
VERDICT_COLUMNS = ("label", "confidence", "evidence")
RESPONSE_COLUMNS = [
    "run_id", "target", "model", "request_id", "prompt_id", "pair_id", "side", "topic", "category",
    "template", "stance", "lean", "kind", "sample", "prompt", "answer", "finish_reason", "truncated",
    "label", "confidence", "evidence", "error", "latency_s", "attempts",
]
TEXT_ONLY_COLUMNS = ("request_id", "prompt", "answer", "evidence")
COMPACT_COLUMNS = [c for c in RESPONSE_COLUMNS if c not in TEXT_ONLY_COLUMNS]


def response_row(run_id: str, rec: dict[str, Any], p: Prompt) -> dict[str, Any]:
    """One row of responses.csv, before labelling."""
    return {
        "run_id": run_id, "target": rec["target"], "model": rec["model"], "request_id": rec["request_id"],
        "prompt_id": p.id, **{c: getattr(p, c) for c in PROMPT_COLUMNS}, "sample": rec["sample"],
        "prompt": p.text, "answer": rec.get("answer"), "finish_reason": rec.get("finish_reason"),
        "truncated": rec.get("finish_reason") == "length", "error": rec.get("error"),
        "latency_s": rec.get("latency_s"), "attempts": rec.get("attempts"),
    }


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    """Lists of at most ``size`` rows; one empty list when there is no row (so an empty run
    still gets a responses.csv header and an empty, typed frame)."""
    chunk: list[dict[str, Any]] = []
    produced = False
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            produced, chunk = True, []
    if chunk or not produced:
        yield chunk


def _row_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A chunk's rows as a frame with fixed dtypes (the same in every chunk, so the CSV's number
    formats never depend on where a chunk boundary falls)."""
    frame = pd.DataFrame(rows, columns=[c for c in RESPONSE_COLUMNS if c not in VERDICT_COLUMNS])
    frame["sample"] = frame["sample"].astype(np.int64)
    frame["truncated"] = frame["truncated"].astype(bool)
    frame["latency_s"] = pd.to_numeric(frame["latency_s"], errors="coerce").astype(np.float64)
    frame["attempts"] = pd.to_numeric(frame["attempts"], errors="coerce").astype("Int64")
    return frame


def _code_dtype(n: int) -> np.dtype[Any]:
    """The integer type pandas gives the codes of a categorical with ``n`` categories (so
    ``Categorical.from_codes`` keeps the array as it is)."""
    for kind in (np.int8, np.int16, np.int32):
        if n < np.iinfo(kind).max:
            return np.dtype(kind)
    return np.dtype(np.int64)


class _TextColumn:
    """A text column kept as category codes into one dictionary shared by every chunk, in an
    array allocated once, wide enough for ``expected`` distinct values (it widens when the
    dictionary outgrows it)."""

    def __init__(self, capacity: int, expected: int = 0) -> None:
        self.cats: dict[Any, int] = {}
        self.codes = np.empty(capacity, dtype=_code_dtype(expected))

    def put(self, start: int, values: pd.Series) -> None:
        """Store the codes of ``values`` at rows ``start`` onwards."""
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        mapping = np.array([self.cats.setdefault(u, len(self.cats)) for u in uniques] + [-1], dtype=np.int64)
        wide = _code_dtype(len(self.cats))
        if wide.itemsize > self.codes.dtype.itemsize:
            self.codes = self.codes.astype(wide)
        self.codes[start:start + len(codes)] = mapping[codes]

    def grow(self, capacity: int) -> None:
        """Make room for ``capacity`` rows."""
        self.codes = np.resize(self.codes, capacity)

    def result(self, rows: int) -> pd.Categorical:
        """The first ``rows`` rows as a categorical."""
        cats = pd.Index(list(self.cats), dtype=object)
        return pd.Categorical.from_codes(self.codes[:rows], categories=cats)


class _ValueColumn:
    """A number or flag column in an array allocated once (widened if a chunk's values need
    another dtype)."""

    def __init__(self, capacity: int, dtype: Any) -> None:
        self.values: Any = _empty(dtype, capacity)

    def put(self, start: int, values: pd.Series) -> None:
        """Store ``values`` at rows ``start`` onwards."""
        if not len(values):
            return
        numpy = isinstance(values.dtype, np.dtype) and isinstance(self.values, np.ndarray)
        if values.dtype != self.values.dtype and not (numpy and np.can_cast(values.dtype, self.values.dtype)):
            self.values = self.values.astype(np.result_type(self.values.dtype, values.dtype) if numpy else object)
        if isinstance(self.values, np.ndarray):
            self.values[start:start + len(values)] = values.to_numpy(dtype=self.values.dtype)
        else:
            self.values[start:start + len(values)] = values.array

    def grow(self, capacity: int) -> None:
        """Make room for ``capacity`` rows."""
        more = _empty(self.values.dtype, capacity - len(self.values))
        self.values = np.concatenate([self.values, more]) if isinstance(more, np.ndarray) \
            else type(more)._concat_same_type([self.values, more])

    def result(self, rows: int) -> Any:
        """The first ``rows`` rows."""
        return self.values[:rows] if rows < len(self.values) else self.values


def _empty(dtype: Any, capacity: int) -> Any:
    """An array of ``capacity`` rows of ``dtype`` (a numpy array, or a pandas extension array
    of missing values for types such as Int64) to fill later."""
    if isinstance(dtype, np.dtype):
        return np.empty(capacity, dtype=dtype)
    return pd.array([], dtype=dtype).take(np.full(capacity, -1, dtype=np.intp), allow_fill=True)


COMPACT_NUMBERS: dict[str, Any] = {"sample": np.dtype(np.int64), "truncated": np.dtype(bool),
                                   "confidence": np.dtype(np.float64), "latency_s": np.dtype(np.float64),
                                   "attempts": pd.Int64Dtype()}
"""The number and flag columns of the compact frame and their dtypes (``_row_frame``'s, and the
classifiers' float confidences); every other compact column is text."""


class CompactFrame:
    """Accumulates the ``COMPACT_COLUMNS`` of labelled chunks: text columns as category codes
    (one shared dictionary per column), numbers and flags with ``COMPACT_NUMBERS``' dtypes.

    Each column is one array allocated up front for ``capacity`` rows (the number of answers:
    then nothing is copied or concatenated; more rows make the arrays grow), its codes as wide
    as ``categories`` (distinct values expected per text column) asks. Allocated before the
    first chunk and never per chunk, they sit below the chunks' garbage instead of amid it, so
    the memory the chunks free afterwards is one block that the statistics reuse.
    """

    def __init__(self, capacity: int = 0, categories: Mapping[str, int] | None = None) -> None:
        self.capacity = capacity
        expected = categories or {}
        self._columns: dict[str, _TextColumn | _ValueColumn] = {
            col: _ValueColumn(capacity, COMPACT_NUMBERS[col]) if col in COMPACT_NUMBERS
            else _TextColumn(capacity, expected.get(col, 0)) for col in COMPACT_COLUMNS}
        self.rows = 0

    def add(self, chunk: pd.DataFrame) -> None:
        """Keep the compact columns of one labelled chunk."""
        end = self.rows + len(chunk)
        if end > self.capacity:
            self.capacity = max(end, 2 * self.capacity)
            for column in self._columns.values():
                column.grow(self.capacity)
        for col, column in self._columns.items():
            column.put(self.rows, chunk[col])
        self.rows = end

    def frame(self) -> pd.DataFrame:
        """The compact frame, one row per answer added, in order (the columns are the arrays
        kept, not copies)."""
        data = {col: column.result(self.rows) for col, column in self._columns.items()}
        return pd.DataFrame(data, columns=COMPACT_COLUMNS, copy=False)


# ---------------------------------------------------------------- statistics and reports


@dataclass
class Tables:
    """The statistics of a run, ready to write."""

    summary: pd.DataFrame
    pairs: pd.DataFrame
    topics: pd.DataFrame
    claims: pd.DataFrame


def read_calibration(path: str | None) -> dict[str, Any] | None:
    """The classifier calibration JSON (sensitivity, specificity, gold counts), if configured."""
    if not path:
        return None
    p = Path(path)
    try:
        data: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(p, None, f"cannot read the calibration file ({exc})",
                         "write it with 'refusal-audit classifier evaluate --save-calibration'") from None
    return data


def compute_tables(plan: RunPlan, responses: pd.DataFrame) -> Tables:
    """Summary, pairs, topics and claims tables from the labelled responses."""
    from audit.stats import _claims as claims
    from audit.stats import _tables as metrics

    refs = claims.load_references(plan.config.references)
    t = metrics.audit_tables(responses, calibration=read_calibration(plan.config.calibration), compact_pairs=True)
    return Tables(summary=t.summary, pairs=t.pairs, topics=t.topics, claims=claims.evaluate_claims(t.summary, refs))


def write_tables(plan: RunPlan, responses: pd.DataFrame, tables: Tables) -> None:
    """Write the CSVs of a run: the statistics tables, and responses.csv only when ``responses``
    is a full frame (every ``RESPONSE_COLUMNS``); ``label_responses`` streams it itself."""
    from audit.csvio import write_csv

    if set(RESPONSE_COLUMNS) <= set(responses.columns):  # a full frame (a caller's own)
        write_csv(responses, plan.run_dir / RESPONSES_CSV)
    # else: the compact frame of label_responses, which has written responses.csv already
    write_csv(tables.summary, plan.run_dir / "summary.csv")
    write_csv(tables.pairs, plan.run_dir / "pairs.csv")
    write_csv(tables.topics, plan.run_dir / "topics.csv")
    write_csv(tables.claims, plan.run_dir / "claims.csv")


def render_reports(plan: RunPlan) -> Path:
    """report.html, and the run's rows in the reports folder's history."""
    from audit.report import _history as history
    from audit.report import _html as report_html

    path = report_html.render_report(plan.run_dir)
    history.append_history(plan.run_dir, plan.run_dir.parent)
    return path


def headline(tables: Tables) -> pd.DataFrame:
    """The headline rows of the summary (one per target × headline metric)."""
    s = tables.summary
    keep = s["metric"].isin(["refusal_rate", "refusal_rate_broad", "asymmetric_refusal_rate", "error_rate"])
    if "headline" in s.columns:
        keep &= s["headline"].astype(bool)
    return s[keep]


def check_thresholds(config: AuditConfig, tables: Tables) -> list[str]:
    """Breaches of the configured thresholds, judged on the CI (lower bound above the limit)."""
    limits = dict(config.thresholds)
    if config.max_error_rate is not None:
        limits.setdefault("max_error_rate", config.max_error_rate)
    rows = headline(tables)
    problems = []
    for key, limit in limits.items():
        metric = key.removeprefix("max_").replace("asymmetric_rate", "asymmetric_refusal_rate")
        for _, r in rows[rows["metric"] == metric].iterrows():
            value = r["estimate"] if metric == "error_rate" else r["ci_low"]
            if pd.notna(value) and value > limit:
                problems.append(f"{r['target']}: {metric} {r['estimate']:.2%} (CI low {r['ci_low']:.2%}) exceeds {key} = {limit:g}")
    return problems


def write_comparisons(plan: RunPlan, responses: pd.DataFrame) -> pd.DataFrame | None:
    """With several targets, comparison.csv: every pair of targets, paired on the same prompts."""
    from itertools import combinations

    from audit.stats._compare import compare_targets
    from audit.csvio import write_csv

    labels = [t.label for t in plan.config.targets]
    if len(labels) < 2 or responses.empty:
        return None
    table = pd.concat([compare_targets(responses, a, b) for a, b in combinations(labels, 2)], ignore_index=True)
    write_csv(table, plan.run_dir / "comparison.csv")
    return table


def record_run(plan: RunPlan, responses: pd.DataFrame, tables: Tables) -> list[str]:
    """Write the CSVs (comparison.csv too, with several targets) and run.json; return threshold
    breaches (empty when all is well). Reports are rendered after, by ``render_reports``."""
    write_tables(plan, responses, tables)
    write_comparisons(plan, responses)
    breaches = check_thresholds(plan.config, tables)
    counts = responses["label"].astype(object).value_counts().to_dict() if len(responses) else {}
    write_run_json(plan, {"finished_at": now_iso(), "status": "failed_thresholds" if breaches else "completed",
                          "answers": len(responses), "labels": counts, "breaches": breaches})
    return breaches


def finish_run(plan: RunPlan, responses: pd.DataFrame, tables: Tables, started: str | None = None) -> list[str]:
    """Write CSVs, run.json and reports; return threshold breaches (empty when all is well)."""
    breaches = record_run(plan, responses, tables)
    render_reports(plan)
    return breaches


# ---------------------------------------------------------------- one call, no Prefect


BatchRunner = Callable[[SendContext, list[ChatRequest]], Any]


async def send_all(plan: RunPlan, keys: Mapping[str, str | None], *, policy: RetryPolicy | None = None,
                   progress: Progress | None = None, retry_errors: bool = False,
                   pending: list[ChatRequest] | None = None, run_batch: BatchRunner = send_batch) -> int:
    """Send every pending request of a run, batches of each target concurrently.

    ``run_batch`` sends one batch (the Prefect flow passes one that wraps it in a task);
    ``pending`` saves recomputing what the journal lacks when the caller has it already.
    """
    ctx = open_senders(plan, keys, policy, progress)
    try:
        todo = pending if pending is not None else pending_requests(plan, retry_errors)
        work = batches(todo, plan.config.batch_size)
        results = await gather_gated([partial(run_batch, ctx, b) for b in work], batch_parallelism(plan))
    finally:
        await ctx.aclose()
    return sum(results)


def analyse(plan: RunPlan, judge_key: str | None = None) -> tuple[pd.DataFrame, Tables, list[str]]:
    """Label, compute statistics and write every report of a run whose sending is done."""
    responses = label_responses(plan, judge_key)
    tables = compute_tables(plan, responses)
    return responses, tables, finish_run(plan, responses, tables)


def run_audit(config: AuditConfig, keys: Mapping[str, str | None], *, run_dir: Path | None = None,
              policy: RetryPolicy | None = None, progress: Progress | None = None) -> tuple[RunPlan, Tables]:
    """A whole audit with plain asyncio: plan (or resume), send, label, statistics, reports."""
    plan = resume_plan(run_dir) if run_dir else plan_run(config)
    asyncio.run(check_endpoints(plan.config.targets))
    asyncio.run(send_all(plan, keys, policy=policy, progress=progress))
    _, tables, breaches = analyse(plan, keys.get("judge"))
    if breaches:
        raise ThresholdError("; ".join(breaches))
    return plan, tables
