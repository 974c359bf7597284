"""Fixtures: a real fake OpenAI-compatible server on 127.0.0.1, a Prefect test harness, temp dirs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from audit.fakeserver import FakeOpenAI

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture(autouse=True)
def _no_user_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's real key."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


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
def prefect_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One Prefect test harness for the session, with its state in a temp dir."""
    home = tmp_path_factory.mktemp("prefect-home")
    os.environ["PREFECT_HOME"] = str(home)
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
