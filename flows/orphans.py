"""Stop Prefect's temporary server when the run that started it is killed.

``refusal-audit run --prefect`` (no API configured) runs its flow on a temporary Prefect server, a ``uvicorn`` child process
that Prefect stops at exit. A run killed with SIGKILL (or by the OOM killer) never reaches its
exit handlers, and the server would live on, holding a port and some CPU, forever. So the CLI
starts this watchdog first: ``python -m audit.orphans PID``. While PID lives, it notes PID's
children that are Prefect temporary servers; when PID is gone, it stops those (SIGTERM, then
SIGKILL) and exits; when the CLI ends normally, it stops the server and then the watchdog
(``stop_watchdog``), so nothing outlives the command. It touches nothing else. Linux only (it reads /proc); elsewhere it exits at
once and the old behaviour stays.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

MARKER = "prefect.server.api.server:create_app"  # in the temporary server's command line
POLL_S = 1.0


def _ppid_and_cmdline(pid: int) -> tuple[int, str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1]), cmdline


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def temporary_servers(parent: int) -> set[int]:
    """The children of ``parent`` that are Prefect temporary servers."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (info := _ppid_and_cmdline(int(entry))) and info[0] == parent and MARKER in info[1]:
            found.add(int(entry))
    return found


def stop(pids: set[int], grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL what is still there after ``grace`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(alive(p) for p in pids):
            time.sleep(0.1)


def watch(parent: int, poll: float = POLL_S) -> set[int]:
    """Wait for ``parent`` to end; stop the temporary servers it left. Returns their pids."""
    seen: set[int] = set()
    while alive(parent):
        seen |= temporary_servers(parent)
        time.sleep(poll)
    left = {p for p in seen if alive(p)}
    if left:
        stop(left)
    return left


_started: dict[int, subprocess.Popen[bytes]] = {}


def start_watchdog() -> subprocess.Popen[bytes] | None:
    """Start the watchdog for this process, once (Linux; None elsewhere). It outlives a SIGKILL of us."""
    if not Path("/proc/self/stat").exists():
        return None
    if os.getpid() in _started:
        return _started[os.getpid()]
    _started[os.getpid()] = subprocess.Popen([sys.executable, "-m", "audit_flows.orphans", str(os.getpid())],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # not in our process group: a Ctrl-C is ours alone
    return _started[os.getpid()]


def stop_watchdog() -> None:
    """Stop this process's watchdog (at exit, once its temporary server is stopped): it would
    otherwise poll on for up to a second after the command ends."""
    proc = _started.pop(os.getpid(), None)
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].isdigit() or not Path("/proc").is_dir():
        return 0
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch(int(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
