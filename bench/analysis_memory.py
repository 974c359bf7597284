"""Peak memory and time of the analysis of 1M labelled answers (issue 20).

    .venv/bin/python bench/analysis_memory.py [--size 1000000] [--chunk-size 0] [--analysis-only]

Writes one synthetic run folder (``bench/journal_memory.py``'s: 5,000 prompts, two targets,
realistic ~600-character answers, errors, retries, truncations; ~1 GB of journal for 1M
answers) in a temporary directory, deleted afterwards. Every measurement is a fresh
subprocess; its peak resident memory is ``ru_maxrss`` from ``os.wait4``. Figures, one per line:

- ``idle_peak_mb``: a child that only imports what the analysis imports (the floor);
- ``pipeline_*``: one process doing what ``refusal-audit run`` does after sending, less the
  report: label the journal (rules classifier; writes responses.csv in chunks and keeps the
  compact frame), then the statistics, every CSV and run.json (``label_responses``,
  ``compute_tables``, ``record_run``). ``pipeline_peak_mb`` is that process's peak,
  ``label_peak_mb`` its peak when labelling ended; ``analysis_seconds`` is the statistics,
  CSVs and run.json of the labelled answers (labelling runs at the classifier's rate and is
  printed apart, ``label_seconds``);
- ``tables_*``: the same analysis (``compute_tables`` + ``record_run``) in a fresh process
  given the labelled compact frame (read from a pickle the pipeline child wrote);
- ``plain_*``, the baseline: the same analysis given the same rows as a plain frame (text as
  Python strings, numbers int64/float64 — what a caller passing ``read_csv`` output hands
  the statistics); ``plain_frame_mb`` and ``compact_frame_mb`` are the two inputs' sizes.

``--analysis-only`` (for iterating on the statistics): the run folder and the labelled compact
frame are built once (labelling included) and kept under ``build/analysis-memory-<size>/``; later
runs reuse them and measure only the ``tables_*`` child (no PASS/FAIL lines). Delete that folder
after a change to labelling or to the synthetic journal.

The last lines check issue 20's target with PASS/FAIL: the analysis of 1M labelled answers at
most 300 MB peak (``pipeline_peak_mb``: the whole process, labelling included) and under 5 s
(``analysis_seconds``).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

PEAK_MB = 300.0
SECONDS = 5.0


def _hwm_mb() -> float:
    """This process's peak resident memory so far (VmHWM), MB."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _imports() -> None:
    """What the analysis imports (the idle child's floor)."""
    from audit import run as pipeline  # noqa: F401
    from audit.classify import _labels  # noqa: F401
    from audit.run import _stance  # noqa: F401  (compute_tables imports it)
    from audit.stats import _tables  # noqa: F401


def _analyse(run_dir: Path, responses: Any) -> float:
    """compute_tables + record_run; their seconds."""
    from audit import run as pl

    plan = pl.resume_plan(run_dir)
    start = time.perf_counter()
    tables = pl.compute_tables(plan, responses)
    pl.record_run(plan, responses, tables)
    return time.perf_counter() - start


def child(mode: str, run_dir: Path, frame: Path, chunk_size: int) -> dict[str, Any]:
    """One measurement in this (fresh) process."""
    _imports()
    if mode == "idle":
        return {}
    from audit import run as pl

    if mode == "pipeline":
        start = time.perf_counter()
        responses = pl.label_responses(pl.resume_plan(run_dir), chunk_size=chunk_size)
        out = {"label_seconds": time.perf_counter() - start, "label_peak_mb": _hwm_mb(),
               "answers": len(responses)}
        out["analysis_seconds"] = _analyse(run_dir, responses)
        with frame.open("wb") as fh:  # for the tables and plain children (after the peak)
            pickle.dump(responses, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return out
    with frame.open("rb") as fh:
        responses = pickle.load(fh)
    if mode == "plain":
        responses = plain_frame(responses)
    size = float(responses.memory_usage(deep=True).sum()) / 2**20
    return {"frame_mb": size, "seconds": _analyse(run_dir, responses)}


def plain_frame(compact: Any) -> Any:
    """The compact frame's rows with text as Python strings and numbers as read_csv gives them."""
    import pandas as pd

    data = {c: compact[c].astype(object) if isinstance(compact[c].dtype, pd.CategoricalDtype) else compact[c]
            for c in compact.columns}
    return pd.DataFrame(data)


def measure(mode: str, run_dir: Path, frame: Path, chunk_size: int) -> tuple[dict[str, Any], float]:
    """(the child's JSON, its peak RSS in MB) for one fresh subprocess."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--run-dir", str(run_dir),
           "--frame", str(frame), "--chunk-size", str(chunk_size)]
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, stdout=out, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        _, status, usage = os.wait4(proc.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode()
    if code != 0:
        raise SystemExit(f"{mode} child failed ({code}): {text}")
    return json.loads(text.strip().splitlines()[-1]), usage.ru_maxrss / 1024  # KiB on Linux


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def run(size: int, chunk_size: int) -> None:
    """Build the run folder, measure every child, print the figures and the targets."""
    import journal_memory

    print(f"size {size}  chunk_size {chunk_size}  load average {os.getloadavg()[0]:.1f}", flush=True)
    _, idle = measure("idle", ROOT, ROOT / "none", chunk_size)
    print(f"idle_peak_mb {idle:.1f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="analysis-memory-") as tmp:
        start = time.perf_counter()
        run_dir = journal_memory.make_run(Path(tmp), size)
        frame = Path(tmp) / "compact.pickle"
        mb = (run_dir / "responses.jsonl").stat().st_size / 2**20
        print(f"journal_mb {mb:.0f}  (written in {time.perf_counter() - start:.0f} s)", flush=True)
        got, peak = measure("pipeline", run_dir, frame, chunk_size)
        for key in ("answers", "label_seconds", "label_peak_mb", "analysis_seconds"):
            print(f"pipeline_{key} {got[key]:.1f}" if key != "answers" else f"answers {got[key]}", flush=True)
        print(f"pipeline_peak_mb {peak:.1f}", flush=True)
        results = {"pipeline": (got, peak)}
        for mode in ("tables", "plain"):
            res, mode_peak = measure(mode, run_dir, frame, chunk_size)
            results[mode] = (res, mode_peak)
            name = "compact" if mode == "tables" else "plain"
            print(f"{name}_frame_mb {res['frame_mb']:.1f}", flush=True)
            print(f"{mode}_peak_mb {mode_peak:.1f}", flush=True)
            print(f"{mode}_seconds {res['seconds']:.2f}", flush=True)
    plain_peak, tables_peak = results["plain"][1], results["tables"][1]
    print(f"plain_over_tables_peak {plain_peak / tables_peak:.2f}")
    print(f"load average {os.getloadavg()[0]:.1f}")
    n = f"{size / 1e6:g}M" if size >= 10**6 else f"{size:,}"
    print(f"{verdict(peak <= PEAK_MB)}  the analysis of {n} labelled answers <= {PEAK_MB:.0f} MB peak "
          f"(label + statistics + CSVs + run.json, one process): {peak:.0f} MB")
    secs = got["analysis_seconds"]
    print(f"{verdict(secs < SECONDS)}  the analysis of {n} labelled answers < {SECONDS:.0f} s "
          f"(statistics + CSVs + run.json): {secs:.2f} s")


def analysis_only(size: int, chunk_size: int) -> None:
    """The ``tables_*`` figures on the run folder and compact frame kept under build/ (made once)."""
    import journal_memory

    cache = ROOT / "build" / f"analysis-memory-{size}"
    frame = cache / "compact.pickle"
    print(f"size {size}  analysis only  load average {os.getloadavg()[0]:.1f}", flush=True)
    if not frame.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        journal_memory.make_run(cache, size)
        measure("pipeline", _run_dir(cache), frame, chunk_size)
        print(f"labelled compact frame kept in {frame}", flush=True)
    res, peak = measure("tables", _run_dir(cache), frame, chunk_size)
    print(f"compact_frame_mb {res['frame_mb']:.1f}\ntables_peak_mb {peak:.1f}\n"
          f"tables_seconds {res['seconds']:.2f}\nload average {os.getloadavg()[0]:.1f}")


def _run_dir(cache: Path) -> Path:
    """The one run folder ``journal_memory.make_run`` wrote under ``cache``."""
    return next(p.parent for p in cache.rglob("responses.jsonl"))


def main(argv: list[str] | None = None) -> None:
    """Measure and print one figure per line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="answers (a multiple of 10,000)")
    parser.add_argument("--chunk-size", type=int, default=0, help="answers per chunk (0: the pipeline's default)")
    parser.add_argument("--analysis-only", action="store_true",
                        help="label once, keep the frame under build/, measure only the analysis")
    parser.add_argument("--child", choices=["idle", "pipeline", "tables", "plain"], help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--frame", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.chunk_size == 0:
        from audit.run import CHUNK_SIZE

        args.chunk_size = CHUNK_SIZE
    if args.child:
        print(json.dumps(child(args.child, args.run_dir, args.frame, args.chunk_size)))
        return
    if args.analysis_only:
        analysis_only(args.size, args.chunk_size)
        return
    run(args.size, args.chunk_size)


if __name__ == "__main__":
    main()
