"""Throughput: refusal-audit's runner against a bare AsyncOpenAI + semaphore loop, same run.

Starts the project's fake OpenAI-compatible server in a subprocess on 127.0.0.1, then measures
in this one run:
  1. baseline: a bare ``AsyncOpenAI`` + ``asyncio.Semaphore`` loop sending N requests at C;
  2. the library's runner alone (``audit.pipeline.send_all``), no Prefect;
  3. ``refusal-audit run`` on N prompts (journal, classifier, statistics and reports on), as a
     subprocess through the Prefect flow. Its send rate is taken from the journal (first to
     last record); its end-to-end rate includes Prefect's temporary-server start and reports.
Prints one figure per line and the ratios. Usage: python bench/throughput.py [N] [C]
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import openai

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "audit.fakeserver", "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.readline()
    return proc, f"http://127.0.0.1:{port}/v1"


async def baseline(url: str, n: int, c: int) -> float:
    client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0)
    sem = asyncio.Semaphore(c)

    async def one(i: int) -> None:
        async with sem:
            await client.chat.completions.create(
                model="fake", messages=[{"role": "user", "content": f"baseline prompt {i}"}],
                temperature=0.0, max_tokens=64)

    t = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    elapsed = time.perf_counter() - t
    await client.close()
    return n / elapsed


def write_prompts(path: Path, n: int) -> None:
    with path.open("w") as fh:
        for i in range(n // 2):
            for side in "ab":
                fh.write(json.dumps({"id": f"t{i % 50}.{i}.{side}", "pair_id": f"p{i}", "side": side,
                                     "topic": f"t{i % 50}", "template": "argue", "kind": "contested",
                                     "lean": "progressive" if side == "a" else "conservative",
                                     "text": f"Argue for side {side} of issue {i}."}) + "\n")


def audit_run(url: str, n: int, c: int, work: Path) -> tuple[float, float]:
    prompts = work / "bench-v1.jsonl"
    write_prompts(prompts, n)
    cmd = [str(ROOT / ".venv/bin/refusal-audit"), "run", "--base-url", url, "--model", "fake",
           "--prompts", str(prompts), "--concurrency", str(c), "--max-tokens", "64",
           "--reports-dir", str(work / "reports"), "--run-id", "bench", "--no-progress"]
    env = {**os.environ, "PREFECT_LOGGING_LEVEL": "WARNING"}
    t = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    return n / send_seconds(work / "reports" / "bench"), n / wall


def send_seconds(run_dir: Path) -> float:
    """From the run's start (run.json) to the last journal record."""
    started = datetime.fromisoformat(json.loads((run_dir / "run.json").read_text())["started_at"])
    last = max(datetime.fromisoformat(json.loads(line)["finished_at"])
               for line in (run_dir / "responses.jsonl").open())
    return (last - started).total_seconds()


def library_run(url: str, n: int, c: int, work: Path) -> float:
    """The runner alone (audit.pipeline.send_all: limiter, retries, journal), without Prefect."""
    from audit import pipeline as pl
    from audit.config import build_config

    prompts = work / "lib-v1.jsonl"
    write_prompts(prompts, n)
    cfg = build_config({"prompts": str(prompts), "reports_dir": str(work / "lib"),
                        "targets": [{"base_url": url, "model": "fake", "concurrency": c, "max_tokens": 64}]})
    plan = pl.plan_run(cfg)
    t = time.perf_counter()
    asyncio.run(pl.send_all(plan, {}))
    return n / (time.perf_counter() - t)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    c = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    proc, url = start_server()
    try:
        base = asyncio.run(baseline(url, n, c))
        with tempfile.TemporaryDirectory() as tmp:
            lib_rate = library_run(url, n, c, Path(tmp))
            send_rate, e2e_rate = audit_run(url, n, c, Path(tmp))
    finally:
        proc.terminate()
        proc.wait()
    print(f"requests: {n}, concurrency: {c}")
    print(f"baseline AsyncOpenAI+semaphore: {base:.1f} requests/s")
    print(f"library runner alone (journal on, no Prefect): {lib_rate:.1f} requests/s")
    print(f"refusal-audit run, sending (journal on): {send_rate:.1f} requests/s")
    print(f"refusal-audit run, end to end (Prefect start, classify, stats, reports): {e2e_rate:.1f} requests/s")
    print(f"ratio library runner/baseline: {lib_rate / base:.3f}")
    print(f"ratio sending/baseline: {send_rate / base:.3f} (target >= 0.90)")
    print(f"ratio end-to-end/baseline: {e2e_rate / base:.3f}")


if __name__ == "__main__":
    main()
