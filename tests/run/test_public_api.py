"""The public API a notebook uses: ``audit.__all__`` pinned, ``run_audit`` from a script,
``await arun_audit`` inside a running event loop, and an injected HTTP client."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd
import pytest

import audit
from audit.fakeserver import FakeOpenAI
from tests.support.prompt_sets import mini_set

ROOT = Path(__file__).resolve().parents[2]


def test_all_is_pinned_and_every_name_resolves() -> None:
    assert set(audit.__all__) >= {"load_config", "build_config", "run_audit", "arun_audit",
                                  "load_prompt_set", "make_classifier", "AuditError"}
    assert all(hasattr(audit, name) for name in audit.__all__)
    with pytest.raises(AttributeError):
        audit.no_such_name  # noqa: B018


def test_import_audit_is_cheap() -> None:
    code = "import sys, audit; print(sorted(m for m in ('pandas', 'openai', 'prefect', 'scipy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def _config(tmp_path: Path, url: str) -> audit.AuditConfig:
    target = {"base_url": url, "model": "fake-model", "name": "fake", "concurrency": 4, "timeout": 5}
    return audit.build_config({"prompts": str(mini_set(tmp_path / "set.jsonl")), "targets": [target],
                               "reports_dir": str(tmp_path / "reports")})


def test_run_audit_from_a_script(tmp_path: Path, fake_server: FakeOpenAI) -> None:
    plan, tables = audit.run_audit(_config(tmp_path, fake_server.url))
    assert (plan.run_dir / "report.html").is_file()
    refusal = tables.summary.set_index("metric").loc["refusal_rate"]
    assert (refusal["k"], refusal["n"]) == (2, 16)  # mini_set: side b of 'guns' refused, 2 templates


def test_arun_audit_inside_a_running_loop(tmp_path: Path, fake_server: FakeOpenAI) -> None:
    async def cell() -> audit.Tables:  # what a Jupyter cell does: the loop is already running
        _, tables = await audit.arun_audit(_config(tmp_path, fake_server.url))
        return tables

    tables = asyncio.run(cell())
    assert len(tables.pairs) == 8 and int(tables.pairs["asymmetric"].sum()) == 2


def test_an_injected_http_client_carries_every_request(tmp_path: Path, fake_server: FakeOpenAI) -> None:
    seen: list[str] = []

    async def log(request: httpx.Request) -> None:
        seen.append(request.url.path)

    async def cell() -> Path:
        async with httpx.AsyncClient(event_hooks={"request": [log]}) as client:
            plan, _ = await audit.arun_audit(_config(tmp_path, fake_server.url), http_client=client)
            assert not client.is_closed  # the caller's client is left open
        return plan.run_dir

    run_dir = asyncio.run(cell())
    posts = [p for p in seen if p.endswith("/chat/completions")]
    assert len(posts) == len(pd.read_csv(run_dir / "responses.csv")) == 20
    assert any(p.endswith("/models") for p in seen)  # the preflight went through it too
