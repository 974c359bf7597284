"""The whole command against its peers: a bare loop, refusal-audit, promptfoo and Inspect AI (issue 20).

    .venv/bin/python bench/peers.py [--n 2000] [--small 20] [--rounds 3] [--concurrency 32]
                                    [--max-tokens 64] [--flow] [--skip promptfoo,inspect]
    make bench-peers      # installs the peers into build/bench-peers/ first, then runs this

One stub (``audit.fakeserver`` in a subprocess on 127.0.0.1, answering at once) serves every
client; it notes when the first and last chat request of each run arrive. Each client runs as a
command of its own, in interleaved rounds (bare, refusal-audit, promptfoo, Inspect AI, then
again), first with ``--small`` prompts (start-up, a short run), then with ``--n``. All send the
same prompt texts (the first N of prompts/contested-v1.jsonl, whole pairs) as one user message,
with the same ``max_tokens``, temperature 0 and ``--concurrency`` requests in flight.

Per client and size, medians over the rounds: wall time of the command; start-up (launch to the
first chat request the stub sees); end-to-end requests/s (N / wall) and steady requests/s (first
to last request seen by the stub), each with its ratio to the bare loop of the same round; CPU per
request (user + system time of the command and every child it waited for, ``os.wait4``, / N);
peak memory of the whole process tree (the sum of the resident set of the command and all its
descendants, sampled every 50 ms from /proc); and whether any process of the tree was still
alive 0.5 s after the command ended. Then each target of issue 20 with PASS or FAIL.

The peers are used when installed: Inspect AI from ``build/bench-peers/venv`` (``inspect``),
promptfoo from ``build/bench-peers/node`` (``npx promptfoo``); ``make bench-peers`` installs
them there, never into the project's environment. A peer that is not installed, or whose run
fails, is reported as skipped with the reason. ``--flow`` adds ``refusal-audit run --prefect``
(the Prefect flow on a temporary server) as a fifth client. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT / "build" / "bench-peers"
PROMPTS = ROOT / "prompts" / "contested-v1.jsonl"
SAMPLE_S = 0.05
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")

STUB = r"""
import json, sys, threading, time
from audit.fakeserver import FakeOpenAI, FakeState, Reply

class Timed(FakeState):
    def __init__(self):
        super().__init__()
        self.first = self.last = None
        self.count = 0
    def note(self, body):
        now = time.monotonic()
        with self.lock:
            self.first = now if self.first is None else self.first
            self.last = now
            self.count += 1
        return 1

class Stub(FakeOpenAI):
    def _route(self, method, path, raw):
        if "/bench/stats" in path:
            s = self.state
            with s.lock:
                out = {"first": s.first, "last": s.last, "count": s.count}
                if "reset" in path:
                    s.first = s.last = None
                    s.count = 0
            return Reply(200, json.dumps(out).encode(), {})
        return super()._route(method, path, raw)

server = Stub()
server.state = Timed()
server.start()
print(server.url, flush=True)
sys.stdin.read()
"""

BARE = r"""
import asyncio, json, sys
import openai

async def main(url, prompts, c, max_tokens):
    texts = [json.loads(line)["text"] for line in open(prompts, encoding="utf-8")]
    client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0)
    sem = asyncio.Semaphore(c)
    async def one(text):
        async with sem:
            await client.chat.completions.create(model="fake-model", messages=[{"role": "user", "content": text}],
                                                 temperature=0.0, max_tokens=max_tokens)
    await asyncio.gather(*(one(t) for t in texts))
    await client.close()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
"""

INSPECT_TASK = r"""
import json
from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.solver import generate

@task
def peers():
    texts = [json.loads(line)["text"] for line in open(PROMPTS_PATH, encoding="utf-8")]
    return Task(dataset=MemoryDataset([Sample(input=t) for t in texts]), solver=generate())
"""


# ------------------------------------------------------------------ the process tree

def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) of ``pid``; None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[1]), int(fields[19])) if fields[0] != "Z" else None


def _rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def descendants(root: int) -> dict[int, int]:
    """Every live descendant of ``root`` (and root): pid -> start time."""
    parents: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (info := _stat(int(entry))):
            parents.setdefault(info[0], []).append(int(entry))
            starts[int(entry)] = info[1]
    out, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in starts:
            out[pid] = starts[pid]
        todo.extend(parents.get(pid, []))
    return out


@dataclass
class Sampler:
    """Samples the resident memory of a process tree until stopped; remembers every member."""

    root: int
    peak: int = 0
    seen: dict[int, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.is_set():
            tree = descendants(self.root)
            self.seen.update(tree)
            self.peak = max(self.peak, sum(_rss(p) for p in tree))
            self._stop.wait(SAMPLE_S)

    def stop(self) -> None:
        self._stop.set()

    def survivors(self) -> list[int]:
        """Members of the tree (other than the root) still alive: same pid, same start time."""
        return [p for p, start in self.seen.items()
                if p != self.root and (info := _stat(p)) is not None and info[1] == start]


# ------------------------------------------------------------------ the stub and the clients

class Stub:
    """The fake OpenAI-compatible server in a subprocess; ``stats()`` per run."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", STUB], cwd=ROOT, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()

    def stats(self, reset: bool = False) -> dict[str, Any]:
        path = "/bench/stats/reset" if reset else "/bench/stats"
        with urllib.request.urlopen(self.url.removesuffix("/v1") + path, timeout=10) as r:
            return dict(json.loads(r.read()))

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.terminate()
        self.proc.wait(timeout=10)


@dataclass
class Setup:
    """What every client gets: the stub, the prompts file, concurrency and max_tokens."""

    url: str
    prompts: Path
    concurrency: int
    max_tokens: int
    work: Path


Command = Callable[[Setup, Path], tuple[list[str], dict[str, str]]]


def bare(s: Setup, work: Path) -> tuple[list[str], dict[str, str]]:
    return [sys.executable, "-c", BARE, s.url, str(s.prompts), str(s.concurrency), str(s.max_tokens)], {}


def clean_env() -> dict[str, str]:
    """This environment without a Prefect API and with the stub's key."""
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL",)}
    return {**env, "OPENAI_API_KEY": "x", "PREFECT_LOGGING_LEVEL": "WARNING"}


def refusal_audit(s: Setup, work: Path, flow: bool = False) -> tuple[list[str], dict[str, str]]:
    cmd = [str(ROOT / ".venv/bin/refusal-audit"), "run", "--base-url", s.url, "--model", "fake-model",
           "--prompts", str(s.prompts), "--concurrency", str(s.concurrency), "--max-tokens", str(s.max_tokens),
           "--temperature", "0", "--reports-dir", str(work / "reports"), "--no-progress"]
    return [*cmd, "--prefect"] if flow else cmd, {"PREFECT_HOME": str(s.work / "prefect-home")}


def promptfoo(s: Setup, work: Path) -> tuple[list[str], dict[str, str]]:
    texts = [json.loads(line)["text"] for line in s.prompts.open(encoding="utf-8")]
    config = {"prompts": ["{{text}}"],
              "providers": [{"id": "openai:chat:fake-model",
                             "config": {"apiBaseUrl": s.url, "apiKey": "x", "temperature": 0,
                                        "max_tokens": s.max_tokens}}],
              "tests": [{"vars": {"text": t}} for t in texts]}
    path = work / "promptfooconfig.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
    cmd = [str(PEERS / "node/node_modules/.bin/promptfoo"), "eval", "-c", str(path), "--max-concurrency",
           str(s.concurrency), "--no-cache", "--no-write", "--no-table", "--no-progress-bar"]
    env = {"PROMPTFOO_DISABLE_TELEMETRY": "1", "PROMPTFOO_DISABLE_UPDATE": "1",
           "PROMPTFOO_CONFIG_DIR": str(work / "promptfoo-home"), "PROMPTFOO_DISABLE_SHARING": "1"}
    return cmd, env


def inspect_ai(s: Setup, work: Path) -> tuple[list[str], dict[str, str]]:
    task_file = work / "peers_task.py"
    task_file.write_text(INSPECT_TASK.replace("PROMPTS_PATH", repr(str(s.prompts))), encoding="utf-8")
    cmd = [str(PEERS / "venv/bin/inspect"), "eval", task_file.name, "--model", "openai/fake-model",
           "--model-base-url", s.url, "-M", "responses_api=false", "--max-connections", str(s.concurrency), "--max-tokens",
           str(s.max_tokens), "--temperature", "0", "--log-dir", str(work / "logs"), "--display", "none"]
    return cmd, {"INSPECT_DISPLAY": "none"}  # responses_api=false: chat completions, as the others


def installed() -> dict[str, str | None]:
    """Each peer: None when usable, else why not."""
    why: dict[str, str | None] = {}
    why["promptfoo 0.121.20"] = (None if (PEERS / "node/node_modules/.bin/promptfoo").exists() else
                                 "not installed in build/bench-peers/node (make bench-peers installs it; "
                                 f"node: {shutil.which('node') or 'missing'})")
    why["Inspect AI 0.3.285"] = (None if (PEERS / "venv/bin/inspect").exists() else
                                 "not installed in build/bench-peers/venv (make bench-peers installs it)")
    return why


# ------------------------------------------------------------------ one run

@dataclass
class Result:
    wall: float
    startup: float
    steady: float
    cpu_ms: float
    peak_mb: float
    survivors: int
    count: int


def measure(stub: Stub, cmd: list[str], env: dict[str, str], n: int, cwd: Path) -> Result:
    """Run one command to its end with its tree sampled; the stub's view of its requests."""
    stub.stats(reset=True)
    launched = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, env={**clean_env(), **env}, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sampler = Sampler(proc.pid)
    thread = threading.Thread(target=sampler.run, daemon=True)
    thread.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - launched
    sampler.stop()
    thread.join()
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    time.sleep(0.5)
    seen = stub.stats()
    if proc.returncode not in (0, 1) or seen["count"] < n:  # 1: refusal-audit's failed thresholds
        raise RuntimeError(f"exit {proc.returncode}, {seen['count']} requests; {stderr.strip()[-400:]}")
    steady = (seen["count"] - 1) / (seen["last"] - seen["first"]) if seen["count"] > 1 else float("nan")
    return Result(wall, seen["first"] - launched, steady, (usage.ru_utime + usage.ru_stime) * 1000 / n,
                  sampler.peak / 2**20, len(sampler.survivors()), seen["count"])


def write_prompts(path: Path, n: int) -> None:
    """The first ``n`` prompts of the contested set (whole pairs), as refusal-audit reads them."""
    lines = PROMPTS.read_text(encoding="utf-8").splitlines()[:n]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# ------------------------------------------------------------------ the table and the targets

def table(results: dict[str, list[Result]], bases: list[Result], n: int) -> list[str]:
    med = statistics.median
    head = (f"N={n}: | client | wall s | start-up s | end-to-end req/s (x bare) | steady req/s (x bare) | "
            "CPU ms/req | peak tree MB | left running |")
    out = [head, "|---|---|---|---|---|---|---|---|"]
    for name, rs in results.items():
        e2e = [n / r.wall for r in rs]
        ratio = med(n / r.wall / (n / b.wall) for r, b in zip(rs, bases, strict=False))
        sratio = med(r.steady / b.steady for r, b in zip(rs, bases, strict=False))
        out.append(f"| {name} | {med(r.wall for r in rs):.2f} | {med(r.startup for r in rs):.2f} | "
                   f"{med(e2e):.0f} ({ratio:.2f}) | {med(r.steady for r in rs):.0f} ({sratio:.2f}) | "
                   f"{med(r.cpu_ms for r in rs):.2f} | {max(r.peak_mb for r in rs):.0f} | "
                   f"{max(r.survivors for r in rs)} |")
    return out


def verdicts(small: dict[str, list[Result]], big: dict[str, list[Result]], n: int, n_small: int) -> list[str]:
    med = statistics.median
    ra, ras, base = big["refusal-audit"], small["refusal-audit"], big["bare loop"]
    ratio = med(n / r.wall / (n / b.wall) for r, b in zip(ra, base, strict=False))
    peak, peak_small = max(r.peak_mb for r in ra), max(r.peak_mb for r in ras)
    checks = [
        (f"start-up to first request <= 1.5 s (N={n_small}, median)", med(r.startup for r in ras) <= 1.5,
         f"{med(r.startup for r in ras):.2f} s"),
        (f"a {n_small}-request run <= 3 s (median wall)", med(r.wall for r in ras) <= 3.0,
         f"{med(r.wall for r in ras):.2f} s"),
        (f"end to end at N={n} >= 0.7x the bare loop", ratio >= 0.7, f"{ratio:.2f}x"),
        (f"CPU per request <= 2.5 ms (N={n})", med(r.cpu_ms for r in ra) <= 2.5, f"{med(r.cpu_ms for r in ra):.2f} ms"),
        (f"peak memory of the process tree <= 250 MB (N={n})", peak <= 250, f"{peak:.0f} MB"),
        (f"flat in N: peak at N={n} within 10% of N={n_small}", peak <= 1.10 * peak_small,
         f"{peak:.0f} vs {peak_small:.0f} MB"),
        ("nothing outlives the command", all(r.survivors == 0 for r in ra + ras),
         f"{max(r.survivors for r in ra + ras)} process(es) left"),
    ]
    return [f"{'PASS' if ok else 'FAIL'}  {what}: {value}" for what, ok, value in checks]


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def run_size(stub: Stub, clients: dict[str, Command], n: int, rounds: int, args: argparse.Namespace,
             skipped: dict[str, str], work: Path) -> dict[str, list[Result]]:
    prompts = work / f"prompts-{n}.jsonl"
    write_prompts(prompts, n)
    setup = Setup(stub.url, prompts, args.concurrency, args.max_tokens, work)
    results: dict[str, list[Result]] = {name: [] for name in clients}
    for rnd in range(rounds):
        for name, make in clients.items():
            if name in skipped:
                continue
            with tempfile.TemporaryDirectory(dir=work) as tmp:
                cmd, env = make(setup, Path(tmp))
                try:
                    r = measure(stub, cmd, env, n, Path(tmp))
                except (RuntimeError, OSError) as exc:
                    skipped[name] = f"its run failed: {exc}"
                    results.pop(name, None)
                    print(f"  {name}: skipped — {skipped[name]}", flush=True)
                    continue
            results[name].append(r)
            print(f"  N={n} round {rnd + 1} {name}: wall {r.wall:.2f} s, start-up {r.startup:.2f} s, "
                  f"{r.count} requests, CPU {r.cpu_ms:.2f} ms/req, peak {r.peak_mb:.0f} MB", flush=True)
    return {k: v for k, v in results.items() if v and k not in skipped}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="prompts in the large run (default 2000)")
    parser.add_argument("--small", type=int, default=20, help="prompts in the start-up run (default 20)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--flow", action="store_true", help="also refusal-audit run --prefect (a Prefect flow run)")
    parser.add_argument("--skip", default="", help="comma-separated: promptfoo, inspect")
    args = parser.parse_args()
    clients: dict[str, Command] = {"bare loop": bare, "refusal-audit": refusal_audit}
    if args.flow:
        clients["refusal-audit --prefect"] = lambda s, w: refusal_audit(s, w, flow=True)
    clients.update({"promptfoo 0.121.20": promptfoo, "Inspect AI 0.3.285": inspect_ai})
    skipped = {k: v for k, v in installed().items() if v}
    for word in filter(None, args.skip.split(",")):
        skipped.update({k: "--skip" for k in clients if word.lower() in k.lower()})
    started = datetime.now(UTC)
    print(f"started {started:%Y-%m-%d %H:%M} UTC; {load()}", flush=True)
    stub = Stub()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
            small = run_size(stub, clients, args.small, args.rounds, args, skipped, Path(tmp))
            big = run_size(stub, clients, args.n, args.rounds, args, skipped, Path(tmp))
    finally:
        stub.close()
    print(f"\nfinished {datetime.now(UTC):%H:%M} UTC; {load()}; concurrency {args.concurrency}, "
          f"max_tokens {args.max_tokens}, {args.rounds} interleaved rounds, medians (peak: the largest)")
    for line in table(small, small["bare loop"], args.small) + [""] + table(big, big["bare loop"], args.n):
        print(line)
    for name, why in skipped.items():
        print(f"skipped {name}: {why}")
    print()
    lines = verdicts(small, big, args.n, args.small)
    print("\n".join(lines))
    return 0 if all(line.startswith("PASS") for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
