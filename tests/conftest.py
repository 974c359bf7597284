"""Fixtures: a real fake OpenAI-compatible server on 127.0.0.1, a Prefect test harness, temp dirs."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _private_prefect_home() -> Path:
    """Give the whole test session (and every subprocess it starts) a Prefect home of its own,
    set before prefect is imported: the developer's ~/.prefect (its database, profiles) is never
    read or written. Settings that would point Prefect elsewhere are dropped."""
    home = Path(tempfile.mkdtemp(prefix="refusal-audit-prefect-home-"))
    for name in ("PREFECT_API_URL", "PREFECT_API_KEY", "PREFECT_PROFILE", "PREFECT_PROFILES_PATH",
                 "PREFECT_API_DATABASE_CONNECTION_URL", "PREFECT_SERVER_DATABASE_CONNECTION_URL",
                 "PREFECT_LOCAL_STORAGE_PATH", "PREFECT_RESULTS_LOCAL_STORAGE_PATH"):
        os.environ.pop(name, None)
    os.environ["PREFECT_HOME"] = str(home)
    os.environ["PREFECT_PROFILES_PATH"] = str(home / "profiles.toml")
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    return home


PREFECT_HOME = _private_prefect_home()

import pytest

from audit.fakeserver import FakeOpenAI

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture(autouse=True)
def _no_user_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's real key (nor an OPENAI_BASE_URL, which targets default to)."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


@pytest.fixture(autouse=True)
def _prefect_console_on_real_stderr() -> Iterator[None]:
    """Keep Prefect's console handlers off per-test capture buffers (closed after each test)."""
    yield
    import sys

    if "prefect" in sys.modules:
        _console_to_real_stderr()


@pytest.fixture
def fake_server() -> Iterator[FakeOpenAI]:
    """A scripted OpenAI-compatible server (default: comply) on a free port."""
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="session")
def prefect_env() -> Iterator[None]:
    """One Prefect test harness for the session, with its state in a temp dir (the session's
    Prefect home, PREFECT_HOME above, is one already)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}), prefect_test_harness(server_startup_timeout=120):
        _console_to_real_stderr()
        yield


def _console_to_real_stderr() -> None:
    """Prefect's console handler keeps the stream it was built with; if that was a test's
    capsys buffer, later tests log into a closed file. Point it at the real stderr."""
    import logging
    import sys

    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger()] + [logging.getLogger(n) for n in logging.root.manager.loggerDict]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, PrefectConsoleHandler):
                handler.stream = sys.__stderr__
                handler.console.file = sys.__stderr__
