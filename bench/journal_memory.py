"""Peak memory of the analysis of a run as its journal grows: 100k vs 1M answers (issue 9).

    .venv/bin/python bench/journal_memory.py [--sizes 100000 1000000] [--baseline-size 100000]

Writes synthetic run folders in a temporary directory (deleted afterwards; one at a time, the
1M one takes ~2.5 GB: journal + responses.csv): a prompt set of 5,000 prompts (2,450 mirrored
pairs and 100 controls), two targets, and ``size / 10,000`` samples per prompt. The journal has
realistic ~600-character answers (compliance, refusals, partial refusals; ~2% API errors, half
of them retried later in the journal, ~3% truncated, some content-filtered and empty answers).

Each measurement runs in a fresh subprocess: the analysis of a run whose sending is done —
label (rules classifier), statistics, every CSV and run.json (``label_responses``,
``compute_tables``, ``record_run``) — but *not* the report.html rendering or history
(``render_reports``), which read the CSVs afterwards. The child's peak RSS comes from
``os.wait4`` (``ru_maxrss``). Figures, one per line, ``name value``:

- ``idle_peak_mb``: a child that only imports the pipeline, pandas and the classifier (the floor);
- ``stream_*``: the streaming pipeline at each size; ``stream_peak_ratio`` is peak(largest) /
  peak(smallest) and ``stream_mb_per_extra_100k`` the slope between them;
- ``inmemory_*``: the pre-streaming approach (every chosen record in a dict, one DataFrame of all
  rows with prompt and answer text, responses.csv written from it) at ``--baseline-size`` only,
  as the baseline; ``inmemory_over_stream_peak`` compares the two on the same journal.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TOPICS = 50
TEMPLATES = 49
CONTROLS = 50  # of each kind
PROMPTS = TOPICS * TEMPLATES * 2 + 2 * CONTROLS  # 5,000
TARGETS = 2

_FILLER = ("The evidence on this question is mixed, and reasonable people weigh the costs and benefits "
           "differently depending on what they value most. Supporters point to fairness, long-term "
           "stability and the experience of comparable countries; critics point to costs, unintended "
           "consequences and the limits of what policy can achieve. ")
COMPLY = [
    "Here is a persuasive essay making that case. " + _FILLER + "First, the strongest argument is that the "
    "policy protects people who have the least power to protect themselves. Second, it is affordable when "
    "phased in over several years. Third, the alternatives have been tried and have failed. In conclusion, "
    "the case is strong and deserves support.",
    "Sure. Below is a short argument in favour of the position. " + _FILLER + "A well-designed version "
    "would be targeted, transparent and reviewed regularly, so that its effects can be measured and "
    "corrected. Taken together, these points make a compelling case for the change.",
]
REFUSE = [
    "I'm sorry, but I can't help with writing that. I won't produce one-sided persuasive content on this "
    "topic, because it could be used to mislead people about a contested political question. " + _FILLER
    + "If you are interested, I can point you to neutral sources that describe the debate.",
    "I must decline this request. Writing persuasive material for one side of this issue is not something "
    "I can do. " + _FILLER + "I hope you understand, and I'm happy to help with something else.",
]
PARTIAL = [
    "I can't write a one-sided essay on this, but I can offer a balanced overview of both sides instead. "
    + _FILLER + "On one side, supporters argue that the policy is fair and effective. On the other, critics "
    "argue that it is costly and hard to enforce. Weighing these is ultimately up to you.",
]


# ---------------------------------------------------------------- synthetic run folders


def write_prompt_set(path: Path) -> None:
    """5,000 prompts: TOPICS × TEMPLATES mirrored pairs and 2 × CONTROLS controls."""
    lines = []
    for t in range(TOPICS):
        for m in range(TEMPLATES):
            for side, verb, lean in (("a", "expanded", "progressive"), ("b", "restricted", "conservative")):
                stance = f"policy {t} should be {verb}"
                lines.append({"id": f"t{t}.m{m}.{side}", "pair_id": f"t{t}.m{m}", "side": side,
                              "topic": f"topic-{t}", "category": f"category-{t % 7}", "template": f"template-{m}",
                              "stance": stance, "lean": lean, "kind": "contested",
                              "text": f"Using template {m}, write a persuasive essay arguing that {stance}."})
    for kind in ("control_refuse", "control_comply"):
        for i in range(CONTROLS):
            lines.append({"id": f"{kind}.{i}", "topic": f"control-{kind}", "category": "control",
                          "template": "control", "kind": kind, "text": f"Control request number {i} ({kind})."})
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")


def answer_for(rng: random.Random, prompt_id: str, target: str) -> tuple[str | None, str | None, str | None]:
    """(answer, finish_reason, error) for one request: a realistic mix of labels."""
    u = rng.random()
    if u < 0.02:
        return None, None, "HTTP 503: the server is overloaded"
    if u < 0.05:
        return rng.choice(COMPLY)[:300], "length", None
    if u < 0.055:
        return None, "content_filter", None
    if u < 0.06:
        return "", "stop", None
    side_b = prompt_id.endswith(".b")
    p_refuse = 0.9 if prompt_id.startswith("control_refuse") else 0.02 if prompt_id.startswith("control") \
        else 0.25 if side_b and target == "t1" else 0.1
    v = rng.random()
    pool = REFUSE if v < p_refuse else PARTIAL if v < p_refuse + 0.08 else COMPLY
    return f"{rng.choice(pool)} (draft {rng.randrange(10**9)})", "stop", None


def make_run(root: Path, size: int, seed: int = 0) -> Path:
    """A run folder with ``size`` answers (``size`` must be a multiple of PROMPTS × TARGETS)."""
    from audit import run as pl
    from audit.config import build_config
    from audit.send._requests import build_requests

    samples = size // (PROMPTS * TARGETS)
    if samples < 1 or samples * PROMPTS * TARGETS != size or samples > 100:
        raise SystemExit(f"size must be a multiple of {PROMPTS * TARGETS:,} up to {100 * PROMPTS * TARGETS:,}")
    prompts = root / "prompts.jsonl"
    write_prompt_set(prompts)
    targets = [{"base_url": "http://127.0.0.1:9/v1", "model": f"model-{i}", "name": f"t{i}", "temperature": 0.7}
               for i in (1, 2)]
    cfg = build_config({"prompts": str(prompts), "targets": targets, "samples": samples,
                        "reports_dir": str(root / "reports")})
    plan = pl.plan_run(cfg, run_id=f"bench-{size}")
    rng = random.Random(seed)
    retried = []
    with plan.journal_path.open("w", encoding="utf-8") as fh:
        for req in build_requests(plan.prompts, plan.config.targets, plan.config.samples):
            answer, finish, error = answer_for(rng, req.prompt_id, req.target)
            rec: dict[str, Any] = {
                "request_id": req.request_id, "target": req.target, "model": req.model, "prompt_id": req.prompt_id,
                "sample": req.sample, "messages": list(req.messages), "params": req.params, "answer": answer,
                "finish_reason": finish, "usage": None if error else {"prompt_tokens": 30, "completion_tokens": 140},
                "error": error, "error_type": "APIStatusError" if error else None,
                "status_code": 503 if error else 200, "attempts": 4 if error else 1,
                "latency_s": round(rng.uniform(0.3, 9.0), 4)}
            fh.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
            if error and rng.random() < 0.5:  # retried later with --retry-errors: an answer follows
                retried.append({**rec, "answer": rng.choice(COMPLY), "finish_reason": "stop", "error": None,
                                "error_type": None, "status_code": 200, "attempts": 1})
        for rec in retried:
            fh.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
    return plan.run_dir


# ---------------------------------------------------------------- the measured child


def old_analysis(run_dir: Path) -> int:
    """The pre-streaming analysis (as before issue 9): all records and rows in memory."""
    import pandas as pd

    from audit import run as pl
    from audit.classify import classify_frame
    from audit.send import _journal as jr

    plan = pl.resume_plan(run_dir)
    wanted = {r.request_id for r in plan.requests()}
    best: dict[str, dict[str, Any]] = {}
    for rec in jr.iter_records(plan.journal_path):
        rid = rec.get("request_id")
        if rid in wanted and (rid not in best or (best[rid].get("error") and not rec.get("error"))):
            best[rid] = rec
    by_id = {p.id: p for p in plan.prompts}
    rows = [pl.response_row(plan.run_id, rec, by_id[rec["prompt_id"]]) for rec in best.values()]
    frame = pd.DataFrame(rows, columns=[c for c in pl.RESPONSE_COLUMNS if c not in pl.VERDICT_COLUMNS])
    responses = classify_frame(frame, pl.make_run_classifier(plan),
                               classify_truncated=plan.config.classify_truncated)[pl.RESPONSE_COLUMNS]
    tables = pl.compute_tables(plan, responses)
    pl.record_run(plan, responses, tables)  # a full frame: write_tables writes responses.csv from it
    return len(responses)


def stream_analysis(run_dir: Path, chunk_size: int) -> int:
    """The streaming analysis: what ``pipeline.analyse`` does, less ``render_reports``."""
    from audit import run as pl
    plan = pl.resume_plan(run_dir)
    responses = pl.label_responses(plan, chunk_size=chunk_size)
    tables = pl.compute_tables(plan, responses)
    pl.record_run(plan, responses, tables)
    return len(responses)


def child(mode: str, run_dir: Path | None, chunk_size: int) -> None:
    """Run one measurement in this (fresh) process; print answers and seconds as JSON."""
    from audit import run as pipeline  # noqa: F401
    from audit.classify import _labels as classify  # noqa: F401  (the idle floor imports these)
    from audit.stats import _tables as metrics  # noqa: F401

    start = time.perf_counter()
    if mode == "idle":
        n = 0
    elif mode == "old":
        assert run_dir is not None
        n = old_analysis(run_dir)
    else:
        assert run_dir is not None
        n = stream_analysis(run_dir, chunk_size)
    print(json.dumps({"answers": n, "seconds": time.perf_counter() - start}))


def measure(mode: str, run_dir: Path | None, chunk_size: int) -> tuple[dict[str, Any], float]:
    """(the child's JSON, its peak RSS in MB) for one fresh subprocess."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--chunk-size", str(chunk_size)]
    if run_dir is not None:
        cmd += ["--run-dir", str(run_dir)]
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, stdout=out, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"{mode} child failed ({proc.returncode}): {text}")
    return json.loads(text.strip().splitlines()[-1]), usage.ru_maxrss / 1024  # KiB on Linux


# ---------------------------------------------------------------- main


def label(n: int) -> str:
    """100000 → 100k, 1000000 → 1M."""
    return f"{n // 10**6}M" if n % 10**6 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)


def main(argv: list[str] | None = None) -> None:
    """Measure every size (and the in-memory baseline) and print one figure per line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000],
                        help=f"journal sizes (answers; multiples of {PROMPTS * TARGETS:,})")
    parser.add_argument("--baseline-size", type=int, default=100_000,
                        help="size at which the old in-memory approach is measured too (0: never)")
    parser.add_argument("--chunk-size", type=int, default=0, help="answers per chunk (0: the pipeline's default)")
    parser.add_argument("--child", choices=["idle", "stream", "old"], help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.chunk_size == 0:
        from audit.run import CHUNK_SIZE

        args.chunk_size = CHUNK_SIZE
    if args.child:
        child(args.child, args.run_dir, args.chunk_size)
        return

    sizes = sorted(set(args.sizes))
    print(f"chunk_size {args.chunk_size}", flush=True)
    _, idle = measure("idle", None, args.chunk_size)
    print(f"idle_peak_mb {idle:.1f}", flush=True)
    peaks: dict[int, float] = {}
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="journal-memory-") as tmp:
            start = time.perf_counter()
            run_dir = make_run(Path(tmp), size)
            mb = (run_dir / "responses.jsonl").stat().st_size / 2**20
            print(f"journal_mb_{label(size)} {mb:.0f}  (written in {time.perf_counter() - start:.0f} s)", flush=True)
            result, peak = measure("stream", run_dir, args.chunk_size)
            peaks[size] = peak
            n, secs = result["answers"], result["seconds"]
            print(f"stream_answers_{label(size)} {n}", flush=True)
            print(f"stream_peak_mb_{label(size)} {peak:.1f}", flush=True)
            print(f"stream_seconds_{label(size)} {secs:.1f}", flush=True)
            print(f"stream_answers_per_s_{label(size)} {n / secs:.0f}", flush=True)
            if size == args.baseline_size:
                result, old = measure("old", run_dir, args.chunk_size)
                print(f"inmemory_peak_mb_{label(size)} {old:.1f}", flush=True)
                print(f"inmemory_seconds_{label(size)} {result['seconds']:.1f}", flush=True)
                print(f"inmemory_answers_per_s_{label(size)} {result['answers'] / result['seconds']:.0f}", flush=True)
                print(f"inmemory_over_stream_peak_{label(size)} {old / peak:.2f}", flush=True)
                print(f"inmemory_mb_above_idle_{label(size)} {old - idle:.1f}", flush=True)
            print(f"stream_mb_above_idle_{label(size)} {peak - idle:.1f}", flush=True)
            shutil.rmtree(run_dir)
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        print(f"stream_peak_ratio_{label(large)}_over_{label(small)} {peaks[large] / peaks[small]:.2f}")
        slope = (peaks[large] - peaks[small]) / ((large - small) / 100_000)
        print(f"stream_mb_per_extra_100k {slope:.1f}")
        print(f"answers_ratio_{label(large)}_over_{label(small)} {large / small:.1f}")


if __name__ == "__main__":
    main()
