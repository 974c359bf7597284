"""Throughput: refusal-audit's runner against a bare AsyncOpenAI + semaphore loop, same run.

Starts the project's fake OpenAI-compatible server in a subprocess on 127.0.0.1, then measures
in this one run:
  1. baseline: a bare ``AsyncOpenAI`` + ``asyncio.Semaphore`` loop sending N requests at C;
  2. the library's runner alone (``audit.pipeline.send_all``), no Prefect;
  3. ``refusal-audit run`` on N prompts (journal, classifier, statistics and reports on), as a
     subprocess; without a Prefect API it runs the stages without Prefect (``--prefect`` would
     make it a flow run on a temporary server). Its send rate is taken from the journal: from the
     moment its first request started (finished_at - latency_s) to its last record; its
     end-to-end rate includes start-up (imports, checks) and reports.
The three are interleaved ``--reps`` times (default 3) and the medians reported, because a
2-core machine is noisy; each repetition's ratios are printed too. Then (unless
``--no-prefect-server``) a real ``prefect server start`` is started, as a team that schedules
audits has one, and ``refusal-audit run`` is timed again against it (``PREFECT_API_URL`` set: a
flow run, no temporary server to boot), interleaved with the baseline the same number of times.
Prints one figure per line and the ratios. Usage: python bench/throughput.py [N] [C] [--reps R]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

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


def start_prefect_server(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A ``prefect server start`` with its own PREFECT_HOME, once its API answers."""
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_ENABLED": "false", "PREFECT_API_URL": ""}
    proc = subprocess.Popen([str(ROOT / ".venv/bin/prefect"), "server", "start", "--host", "127.0.0.1",
                             "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("prefect server start did not answer within 180 s")


def audit_run(url: str, n: int, c: int, work: Path,
              api_url: str | None = None) -> tuple[float, float, dict[str, float]]:
    prompts = work / "bench-v1.jsonl"
    write_prompts(prompts, n)
    cmd = [str(ROOT / ".venv/bin/refusal-audit"), "run", "--base-url", url, "--model", "fake",
           "--prompts", str(prompts), "--concurrency", str(c), "--max-tokens", "64",
           "--reports-dir", str(work / "reports"), "--run-id", "bench", "--no-progress"]
    env = {**os.environ, "PREFECT_LOGGING_LEVEL": "WARNING"}
    if api_url:
        env["PREFECT_API_URL"] = api_url
    launched = datetime.now().astimezone()
    t = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    first, last = send_window(work / "reports" / "bench")
    phases = {"start-up before the first request": (first - launched).total_seconds(),
              "sending": (last - first).total_seconds()}
    phases["after the last answer (label, statistics, reports, exit)"] = wall - sum(phases.values())
    return n / phases["sending"], n / wall, phases


def send_window(run_dir: Path) -> tuple[datetime, datetime]:
    """When the first request started (its finish minus its latency) and the last one finished."""
    first = last = None
    for line in (run_dir / "responses.jsonl").open():
        rec = json.loads(line)
        end = datetime.fromisoformat(rec["finished_at"])
        start = end.timestamp() - float(rec["latency_s"])
        first = start if first is None else min(first, start)
        last = end if last is None else max(last, end)
    assert first is not None and last is not None, "the run journalled nothing"
    return datetime.fromtimestamp(first).astimezone(), last


def library_run(url: str, n: int, c: int, work: Path) -> float:
    """The runner alone (audit.pipeline.send_all: limiter, retries, journal), without Prefect."""
    from audit import run as pl
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=5000, help="requests (default 5000)")
    parser.add_argument("c", nargs="?", type=int, default=32, help="concurrency (default 32)")
    parser.add_argument("--reps", type=int, default=3, help="interleaved repetitions (default 3)")
    parser.add_argument("--no-prefect-server", action="store_true",
                        help="skip the runs against a running 'prefect server start'")
    args = parser.parse_args()
    n, c = args.n, args.c
    base, lib, send, e2e, phases = [], [], [], [], []
    proc, url = start_server()
    try:
        asyncio.run(baseline(url, min(n, 500), c))  # warm up the server and the client code paths
        for rep in range(args.reps):
            base.append(asyncio.run(baseline(url, n, c)))
            with tempfile.TemporaryDirectory() as tmp:
                lib.append(library_run(url, n, c, Path(tmp)))
                s, e, ph = audit_run(url, n, c, Path(tmp))
            send.append(s)
            e2e.append(e)
            phases.append(ph)
            print(f"rep {rep + 1}: baseline {base[-1]:.0f}, runner {lib[-1]:.0f}, refusal-audit run sending "
                  f"{send[-1]:.0f}, end to end {e2e[-1]:.0f} requests/s; ratios {lib[-1] / base[-1]:.3f}, "
                  f"{send[-1] / base[-1]:.3f}, {e2e[-1] / base[-1]:.3f}", flush=True)
        served = [] if args.no_prefect_server else with_prefect_server(url, n, c, args.reps)
    finally:
        proc.terminate()
        proc.wait()
    med = statistics.median
    print(f"requests: {n}, concurrency: {c}, repetitions: {args.reps} (medians below)")
    print(f"baseline AsyncOpenAI+semaphore: {med(base):.1f} requests/s")
    print(f"library runner alone (journal on, no Prefect): {med(lib):.1f} requests/s")
    print(f"refusal-audit run, sending (journal on): {med(send):.1f} requests/s")
    print(f"refusal-audit run, end to end (start-up, classify, stats, reports): {med(e2e):.1f} requests/s")
    for name in phases[0]:
        print(f"refusal-audit run, {name}: {med(p[name] for p in phases):.2f} s")
    print(f"ratio library runner/baseline: {med(x / b for x, b in zip(lib, base, strict=True)):.3f}")
    print(f"ratio refusal-audit run sending/baseline: {med(x / b for x, b in zip(send, base, strict=True)):.3f} "
          "(target >= 0.90)")
    print(f"ratio refusal-audit run end-to-end/baseline: {med(x / b for x, b in zip(e2e, base, strict=True)):.3f}")
    if served:
        print("with a running 'prefect server start' (PREFECT_API_URL set), medians of "
              f"{len(served)}:")
        print(f"baseline AsyncOpenAI+semaphore: {med(r['base'] for r in served):.1f} requests/s")
        print(f"refusal-audit run, sending: {med(r['send'] for r in served):.1f} requests/s")
        print(f"refusal-audit run, end to end: {med(r['e2e'] for r in served):.1f} requests/s")
        for name in served[0]["phases"]:
            print(f"refusal-audit run, {name}: {med(r['phases'][name] for r in served):.2f} s")
        print(f"ratio refusal-audit run sending/baseline: {med(r['send'] / r['base'] for r in served):.3f}")
        print(f"ratio refusal-audit run end-to-end/baseline: {med(r['e2e'] / r['base'] for r in served):.3f}")


def with_prefect_server(url: str, n: int, c: int, reps: int) -> list[dict[str, Any]]:
    """``reps`` runs against a running Prefect server, each after a baseline of its own."""
    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as home:
        server, api_url = start_prefect_server(Path(home))
        try:
            for rep in range(reps):
                b = asyncio.run(baseline(url, n, c))
                with tempfile.TemporaryDirectory() as tmp:
                    s, e, ph = audit_run(url, n, c, Path(tmp), api_url)
                out.append({"base": b, "send": s, "e2e": e, "phases": ph})
                print(f"prefect server rep {rep + 1}: baseline {b:.0f}, refusal-audit run sending {s:.0f}, "
                      f"end to end {e:.0f} requests/s; ratios {s / b:.3f}, {e / b:.3f}", flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
    return out


if __name__ == "__main__":
    main()
