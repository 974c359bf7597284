"""Time report rendering on a 100k-answer run folder and report the page size.

Usage: .venv/bin/python bench/report_speed.py [--answers 100000] [--keep DIR]

Prints one figure per line (``name: value unit``). Target: render_report < 30 s and a
report.html of a few MB at most. The run folder comes from the test suite's generator
(tests/test_report_html.py: make_run_folder), so it has every file and hostile answers.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_report_html import make_run_folder

from audit.report._history import append_history, render_index
from audit.report._html import render_report

TARGETS = {"model-a": "acme-chat-7b", "model-b": "other-model-13b"}
TOPICS, TEMPLATES = 50, 10


def _timed(label: str, fn, *args):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn(*args)
    print(f"{label}: {time.perf_counter() - start:.2f} s", flush=True)
    return out


def run(answers: int, root: Path) -> None:
    """Generate, render and measure; print one figure per line."""
    samples = max(1, round(answers / (len(TARGETS) * TOPICS * TEMPLATES * 2)))
    run_dir = _timed(
        "generate run folder",
        lambda: make_run_folder(
            root,
            run_id="bench-100k",
            targets=TARGETS,
            topics=TOPICS,
            templates=TEMPLATES,
            samples=samples,
        ),
    )
    rows = sum(1 for _ in (run_dir / "responses.csv").open(encoding="utf-8")) - 1
    print(f"responses.csv rows: {rows}")
    print(f"responses.csv size: {(run_dir / 'responses.csv').stat().st_size / 1e6:.1f} MB")
    report = _timed("render_report", render_report, run_dir)
    print(f"report.html size: {report.stat().st_size / 1e6:.2f} MB")
    _timed("render_report again", render_report, run_dir)
    _timed("append_history", append_history, run_dir, root)
    index = _timed("render_index", render_index, root)
    print(f"index.html size: {index.stat().st_size / 1e3:.1f} kB")


def main() -> None:
    """Parse options and run the benchmark in a temporary (or kept) folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--answers", type=int, default=100_000, help="contested answers to generate (approx.)"
    )
    parser.add_argument(
        "--keep", type=Path, help="write the run folder here instead of a temporary folder"
    )
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        run(args.answers, args.keep)
        return
    with tempfile.TemporaryDirectory() as tmp:
        run(args.answers, Path(tmp))


if __name__ == "__main__":
    main()
