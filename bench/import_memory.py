"""Peak memory of the IssueBench importer: a small product vs the full cross product.

    .venv/bin/python bench/import_memory.py [--data ../shared/data/issuebench] [--small 5]

Runs ``import_prompts("issuebench", ...)`` twice under tracemalloc, writing to a temporary
folder (deleted afterwards): once with ``--small`` templates × ``--small`` issues, once with
every template × every issue. The importer streams, so peak traced memory should stay flat
(ratio near 1) although the full product is thousands of times larger.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
import tracemalloc
from pathlib import Path

from audit.prompts._importers import import_prompts

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "issuebench"


def measure(data: Path, out: Path, n: int | None) -> tuple[int, int, float, int]:
    """(prompts written, peak traced bytes, seconds, output bytes) of one import."""
    gc.collect()
    tracemalloc.start()
    start = time.perf_counter()
    result = import_prompts("issuebench", data, out, n_templates=n, n_issues=n, seed=0)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    size = out.stat().st_size
    out.unlink()
    return result.prompts, peak, seconds, size


def main(argv: list[str] | None = None) -> None:
    """Print both measurements and the ratio of peaks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="folder with issues.csv and templates_sample.csv",
    )
    parser.add_argument(
        "--small", type=int, default=5, help="templates and issues in the small run"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [
            ("small", *measure(args.data, Path(tmp) / "small.jsonl", args.small)),
            ("full", *measure(args.data, Path(tmp) / "full.jsonl", None)),
        ]
    print(f"{'run':<6} {'prompts':>9} {'peak MiB':>9} {'seconds':>8} {'file MiB':>9}")
    for name, prompts, peak, seconds, size in rows:
        print(f"{name:<6} {prompts:>9,} {peak / 2**20:>9.2f} {seconds:>8.1f} {size / 2**20:>9.1f}")
    (_, n_small, p_small, *_), (_, n_full, p_full, *_) = rows
    print(f"prompts ×{n_full / n_small:,.0f}, peak memory ×{p_full / p_small:.2f}")


if __name__ == "__main__":
    main()
