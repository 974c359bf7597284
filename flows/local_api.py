"""A temporary Prefect API for one ``refusal-audit run``, started before anything heavy is imported.

Without a Prefect server, Prefect starts a temporary one itself when the flow first calls its API:
it imports the whole server package into this process (about 1.5 s of CPU) and then waits about
3 s for the server subprocess to boot, all before the first request is sent. Here the CLI starts
the same server subprocess (the same command line and environment as Prefect's
``SubprocessASGIServer``) at once, points ``PREFECT_API_URL`` at it, and only waits for it when the
flow is about to run — so the boot overlaps the imports and the prompt and endpoint checks. The
server stops when the process exits (``atexit``) and, after a SIGKILL, through the watchdog of
``audit/orphans.py``. Nothing happens when a Prefect API is configured.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from audit.errors import EndpointError


@dataclass
class LocalApi:
    """A started temporary server: its process and its API URL."""

    process: subprocess.Popen[bytes]
    url: str

    def wait(self, timeout: float = 120.0) -> None:
        """Block until the API answers /health; EndpointError if it dies or stays silent."""
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while True:
                if self.process.poll() is not None:
                    raise EndpointError(f"Prefect's temporary server exited at start (code {self.process.returncode})"
                                        " — run 'prefect server start' to see why, or set PREFECT_API_URL")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{self.url}/health").status_code == 200:
                        return
                if time.monotonic() > deadline:
                    self.stop()
                    raise EndpointError(f"Prefect's temporary server did not start within {timeout:g} s — "
                                        "a busy machine? Start one with 'prefect server start' and set PREFECT_API_URL")
                time.sleep(0.1)

    def stop(self) -> None:
        """Terminate the server (then kill it if it lingers)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


_RUNNING: LocalApi | None = None
"""This process's temporary server, reused by later runs in the same process."""


def needed() -> bool:
    """True when Prefect would start a temporary server: no API URL, temporary servers allowed."""
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    return not PREFECT_API_URL.value() and bool(PREFECT_SERVER_EPHEMERAL_ENABLED.value())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start() -> LocalApi | None:
    """Start the temporary server (None when a Prefect API is configured). Before the flow runs,
    call ``wait()`` and run the flow inside ``settings()``."""
    global _RUNNING
    if not needed():
        return None
    if _RUNNING is not None and _RUNNING.process.poll() is None:  # one per process, as Prefect's own
        return _RUNNING
    import prefect
    from prefect.settings import get_current_settings

    from audit.orphans import start_watchdog

    start_watchdog()
    port = _free_port()
    env = {**os.environ, **get_current_settings().to_environment_variables(exclude_unset=True),
           "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", str(Path(prefect.__module_path__).parent), "--factory",
         "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "error", "--lifespan", "on"], env=env, stdin=subprocess.DEVNULL)
    api = LocalApi(process, f"http://127.0.0.1:{port}/api")
    atexit.register(api.stop)
    _RUNNING = api
    return api


def settings(api: LocalApi | None) -> contextlib.AbstractContextManager[object]:
    """The Prefect settings that point this process at ``api`` (nothing to change without one)."""
    if api is None:
        return contextlib.nullcontext()
    from prefect.settings import PREFECT_API_URL, temporary_settings

    return temporary_settings(updates={PREFECT_API_URL: api.url})
