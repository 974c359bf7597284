"""A temporary Prefect API for one ``refusal-audit run``, started before anything heavy is imported.

Without a Prefect server, Prefect starts a temporary one itself when the flow first calls its API:
it imports the whole server package into this process (about 1.5 s of CPU) and then waits about
3 s for the server subprocess to boot, all before the first request is sent. Here the CLI starts
the same server subprocess (the command line of Prefect's ``SubprocessASGIServer``, in this
process's environment) at once, points ``PREFECT_API_URL`` at it, and only waits for it when the
flow is about to run — so the boot overlaps the imports and the prompt and endpoint checks. It
is started before Prefect itself is imported (0.8 s) and dropped again if Prefect's settings turn
out to name an API. The server stops when the process exits (``atexit``), and so does the
watchdog of ``flows/orphans.py`` that stops it after a SIGKILL: nothing outlives the command.
Nothing happens when a Prefect API is configured. :func:`api_configured` tells the CLI whether
one is, without importing Prefect (1 s) unless a settings file could name one.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
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
    used: bool = False
    """A flow has run against it: Prefect's log and event workers may still send to it."""

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


def api_configured() -> bool:
    """True when Prefect's settings name an API (``PREFECT_API_URL``, from the environment, the
    active profile, ``.env``, ``prefect.toml`` or ``pyproject.toml``). Prefect is imported to ask
    only when one of those sources could name an API (or it is imported already)."""
    if os.environ.get("PREFECT_API_URL"):
        return True
    if "prefect.settings" not in sys.modules and not _settings_may_name_api():
        return False
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())


def _settings_may_name_api() -> bool:
    """A settings source Prefect reads mentions its API: the profiles file, ``.env``,
    ``prefect.toml`` or a ``[tool.prefect]`` table in ``pyproject.toml`` (working directory)."""
    home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
    profiles = Path(os.environ.get("PREFECT_PROFILES_PATH") or home / "profiles.toml").expanduser()
    sources = {profiles: "PREFECT_API_URL", Path(".env"): "PREFECT_API_URL", Path("prefect.toml"): "",
               Path("pyproject.toml"): "tool.prefect"}
    for path, needle in sources.items():
        try:
            if needle in path.read_text(encoding="utf-8", errors="replace"):
                return True
        except OSError:
            continue
    return False


def needed() -> bool:
    """True when Prefect would start a temporary server: no API URL, temporary servers allowed."""
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    return not PREFECT_API_URL.value() and bool(PREFECT_SERVER_EPHEMERAL_ENABLED.value())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _prefect_dir() -> str:
    """The folder that holds the ``prefect`` package, found without importing it (0.8 s)."""
    spec = importlib.util.find_spec("prefect")
    if spec is None or not spec.submodule_search_locations:
        raise EndpointError("the prefect package is not installed — reinstall refusal-audit")
    return str(Path(next(iter(spec.submodule_search_locations))).parent)


def start() -> LocalApi | None:
    """Start the temporary server at once, before Prefect is imported (None when the
    environment names a Prefect API). Before the flow runs, call ``ready()``: it drops the server
    when Prefect's settings (a profile, prefect.toml) turn out to name an API after all.

    The server runs the command line of Prefect's own ``SubprocessASGIServer`` in this
    process's environment; it reads the same profile and settings files itself.
    """
    global _RUNNING
    if os.environ.get("PREFECT_API_URL"):
        return None
    if "prefect.settings" in sys.modules and not needed():  # imported already: ask it (no cost)
        return None
    if _RUNNING is not None and _RUNNING.process.poll() is None:  # one per process, as Prefect's own
        return _RUNNING
    from audit_flows.orphans import start_watchdog, stop_watchdog

    start_watchdog()
    port = _free_port()
    env = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false",  # no telemetry from an audit (unless asked)
           **os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
           "PREFECT__SERVER_FINAL": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", _prefect_dir(), "--factory",
         "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "error", "--lifespan", "on"], env=env, stdin=subprocess.DEVNULL)
    api = LocalApi(process, f"http://127.0.0.1:{port}/api")
    atexit.register(stop_watchdog)  # atexit runs last-in first-out: the server stops, then the watchdog
    atexit.register(api.stop)
    _RUNNING = api
    return api


def ready(api: LocalApi | None) -> LocalApi | None:
    """The server to run the flow against, once it answers; None (and the server stopped) when
    Prefect's settings name an API or forbid temporary servers."""
    global _RUNNING
    if api is None:
        return None
    if not needed():
        if not api.used:  # started for nothing; one that served a flow stays until exit
            api.stop()
            _RUNNING = None
        return None
    api.wait()
    api.used = True
    return api


def settings(api: LocalApi | None) -> contextlib.AbstractContextManager[object]:
    """The Prefect settings that point this process at ``api`` (nothing to change without one)."""
    if api is None:
        return contextlib.nullcontext()
    from prefect.settings import PREFECT_API_URL, temporary_settings

    return temporary_settings(updates={PREFECT_API_URL: api.url})
