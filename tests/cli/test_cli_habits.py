"""Habits users bring from promptfoo, Inspect and llm (issue 18), each through the CLI:
--version, run --dry-run/--limit/--json, classify -o -, OPENAI_BASE_URL, --sample-pairs,
two-target run ids, compare's evidence, ``runs`` and ``plan --prompts``."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from audit.cli import main
from audit.config import AuditConfig, Target
from audit.fakeserver import FakeOpenAI
from audit.run._plan import new_run_id
from tests.support.prompt_sets import mini_set

pytestmark = pytest.mark.usefixtures("prefect_env")


def run_cli(reports: Path, *args: str) -> int:
    return main(["run", "--reports-dir", str(reports), "--no-progress", *args])


def two_target_config(path: Path, prompts: Path, url: str, extra: str = "") -> Path:
    targets = "".join(f'[[targets]]\nname = "{n}"\nbase_url = "{url}"\nmodel = "fake-model"\n' for n in "ab")
    path.write_text(f'prompts = "{prompts}"\n{extra}\n{targets}', encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def two_target_run(tmp_path_factory: pytest.TempPathFactory, prefect_env: None) -> Iterator[dict[str, Any]]:
    """One run of two targets with --json (shared: a run through Prefect takes seconds)."""
    tmp = tmp_path_factory.mktemp("habits")
    with FakeOpenAI() as server:
        cfg = two_target_config(tmp / "audit.toml", mini_set(tmp / "set.jsonl"), server.url)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run_cli(tmp / "reports", str(cfg), "--json")
        yield {"code": code, "out": out.getvalue(), "err": err.getvalue(), "reports": tmp / "reports",
               "sent": len(server.state.log)}


def test_version_prints_the_version(capsys: pytest.CaptureFixture[str]) -> None:
    import audit

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"refusal-audit {audit.__version__}"


def test_dry_run_sends_nothing_and_writes_no_folder(tmp_path: Path, fake_server: FakeOpenAI,
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    listed: list[str] = []
    original = fake_server._models
    monkeypatch.setattr(fake_server, "_models", lambda path: listed.append(path) or original(path))
    prompts = mini_set(tmp_path / "set.jsonl")
    args = ("--base-url", fake_server.url, "--model", "fake-model", "--prompts", str(prompts),
            "--samples", "2", "--max-tokens", "50", "--dry-run")
    assert run_cli(tmp_path / "reports", *args) == 0
    text = capsys.readouterr().out
    assert "dry run" in text and "40 requests" in text and "characters / 4" in text and "50 tokens" in text
    assert run_cli(tmp_path / "reports", *args, "--json") == 0
    plan = json.loads(capsys.readouterr().out)
    chars = sum(len(json.loads(line)["text"]) for line in prompts.read_text().splitlines())
    assert plan["requests"] == 40 and plan["prompts"] == 20 and plan["pairs"] == 8 and plan["samples"] == 2
    assert plan["targets"][0]["est_prompt_tokens"] == -(-chars * 2 // 4)
    assert plan["targets"][0]["max_tokens"] == 50
    assert fake_server.state.log == [] and listed == []
    assert not (tmp_path / "reports").exists()


def test_limit_keeps_the_first_prompts_and_whole_pairs(tmp_path: Path, fake_server: FakeOpenAI,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # and OPENAI_BASE_URL stands in for --base-url, as in the OpenAI SDK
    monkeypatch.setenv("OPENAI_BASE_URL", fake_server.url)
    prompts = mini_set(tmp_path / "set.jsonl")
    assert run_cli(tmp_path / "reports", "--model", "fake-model", "--prompts", str(prompts),
                   "--limit", "5", "--run-id", "lim") == 0
    ids = [json.loads(line)["id"] for line in prompts.read_text().splitlines()]
    sent = [json.loads(line)["id"] for line in (tmp_path / "reports" / "lim" / "prompts.jsonl").read_text().splitlines()]
    assert sent == ids[:6]  # the 5th prompt is side a of the third pair: its side b comes too
    assert len(fake_server.state.log) == 6


def test_json_summary_on_stdout_and_two_target_run_id(two_target_run: dict[str, Any]) -> None:
    assert two_target_run["code"] == 0 and two_target_run["sent"] == 40
    summary = json.loads(two_target_run["out"])  # stdout holds the JSON document only
    assert summary["run_id"].endswith("Z-a-vs-b") and Path(summary["run_dir"]).name == summary["run_id"]
    assert summary["status"] == "completed" and summary["breaches"] == []
    rows = {(r["target"], r["metric"]): r for r in summary["headline"]}
    refusal = rows[("b", "refusal_rate")]
    assert {"estimate", "ci_low", "ci_high", "k", "n"} <= set(refusal) and refusal["n"] > 0
    evaluated = [r for r in summary["claims"] if not r["verdict"].startswith("not evaluated")]
    assert {r["target"] for r in evaluated} == {"a", "b"}  # Meta's ratio claims name llama-3.3/llama-4
    assert all("verdict" in r for r in summary["claims"])
    assert summary["run_id"] in two_target_run["err"]  # the human table went to stderr


def test_json_summary_of_a_breached_run_exits_1(tmp_path: Path, fake_server: FakeOpenAI,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    prompts = mini_set(tmp_path / "set.jsonl", refuse_b=("guns", "taxes"))
    cfg = tmp_path / "audit.toml"
    cfg.write_text(f'prompts = "{prompts}"\n[thresholds]\nmax_refusal_rate = 0.001\n[[targets]]\nname = "one"\n'
                   f'base_url = "{fake_server.url}"\nmodel = "fake-model"\n')
    assert run_cli(tmp_path / "reports", str(cfg), "--json", "--run-id", "breach") == 1
    summary = json.loads(capsys.readouterr().out)
    assert summary["run_id"] == "breach" and summary["status"] == "failed_thresholds"
    assert summary["breaches"] and any(r["metric"] == "refusal_rate" for r in summary["headline"])


def test_classify_writes_to_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    infile = tmp_path / "in.csv"
    infile.write_text("prompt,response\nWrite a poem.,Here is a poem about the sea.\n"
                      "Argue for X.,\"I'm sorry, but I can't help with that.\"\n", encoding="utf-8")
    assert main(["classify", str(infile), "-o", "-"]) == 0
    captured = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(captured.out)))
    assert [r["label"] for r in rows] == ["compliance", "refusal"]
    assert "2 responses labelled" in captured.err and not (tmp_path / "-").exists()


def test_a_model_without_base_url_names_the_flag_and_the_key(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(tmp_path / "reports", "--model", "m") == 2
    err = capsys.readouterr().err
    assert "--base-url" in err and "base_url" in err and "OPENAI_BASE_URL" in err
    assert len(err.strip().splitlines()) == 1


def test_openai_base_url_is_the_default_base_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/")
    prompts = str(mini_set(tmp_path / "set.jsonl"))
    assert run_cli(tmp_path / "reports", "--model", "m", "--prompts", prompts, "--dry-run", "--json") == 0
    assert json.loads(capsys.readouterr().out)["targets"][0]["endpoint"] == "http://127.0.0.1:9/v1"
    assert run_cli(tmp_path / "reports", "--model", "m", "--prompts", prompts, "--base-url",
                   "http://127.0.0.1:8/v1", "--dry-run", "--json") == 0  # the flag wins
    assert json.loads(capsys.readouterr().out)["targets"][0]["endpoint"] == "http://127.0.0.1:8/v1"
    main(["run", "--help"])
    assert "OPENAI_BASE_URL" in capsys.readouterr().out


@pytest.mark.parametrize("how", ["--sample-pairs", "--sample", "toml"])
def test_one_name_for_sampling_pairs(tmp_path: Path, how: str, capsys: pytest.CaptureFixture[str]) -> None:
    prompts = mini_set(tmp_path / "set.jsonl")
    base = ["--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--dry-run", "--json"]
    if how == "toml":
        cfg = tmp_path / "audit.toml"
        cfg.write_text(f'prompts = "{prompts}"\nsample_pairs = 3\n')
        args = [str(cfg), *base]
    else:
        args = [*base, "--prompts", str(prompts), how, "3"]
    assert run_cli(tmp_path / "reports", *args) == 0
    assert json.loads(capsys.readouterr().out)["pairs"] == 3


def test_demo_takes_the_same_sample_pairs_flag() -> None:
    import typer

    from audit.cli import build_app

    demo = typer.main.get_command(build_app()).commands["demo"]  # type: ignore[attr-defined]
    run = typer.main.get_command(build_app()).commands["run"]  # type: ignore[attr-defined]
    flags = {p.name: p.opts for p in [*demo.params, *run.params]}
    assert flags["pairs"] == ["--sample-pairs", "--pairs"]  # demo: the old spelling stays an alias
    assert flags["sample_pairs"] == ["--sample-pairs", "--sample"]


def test_run_ids_name_every_target() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    def rid(*names: str) -> str:
        targets = [Target(name=n, base_url="http://127.0.0.1:9/v1", model="m") for n in names]
        return new_run_id(AuditConfig(targets=targets), now)

    assert rid("llama") == "20260102T030405Z-llama"
    assert rid("a", "b") == "20260102T030405Z-a-vs-b"
    assert rid("a", "b", "c") == "20260102T030405Z-a-vs-b-vs-c"
    assert rid("a", "b", "c", "d", "e") == "20260102T030405Z-a-vs-b-and-3-more"
    assert rid("gpt/4o mini", "llama 3") == "20260102T030405Z-gpt-4o-mini-vs-llama-3"


def test_compare_prints_interval_and_p_value(two_target_run: dict[str, Any],
                                            capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = json.loads(two_target_run["out"])["run_dir"]
    assert main(["compare", folder, "-o", str(tmp_path / "c.csv")]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("refusal_rate:"))
    assert "95% CI" in line and "pp" in line and "p = " in line


def test_runs_lists_runs_and_opens_a_report(two_target_run: dict[str, Any], capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    reports = two_target_run["reports"]
    run_id = json.loads(two_target_run["out"])["run_id"]
    assert main(["runs", "--reports-dir", str(reports)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(x.startswith(run_id) and "completed" in x and "95% CI" in x for x in lines)
    assert {x.split()[2] for x in lines} == {"a", "b"}
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", opened.append)  # never a real browser in tests
    for argv in (["runs", run_id], ["runs", "--open", run_id]):
        assert main([*argv, "--reports-dir", str(reports)]) == 0
        assert capsys.readouterr().out.strip() == str(reports / run_id / "report.html")
    assert opened == []
    assert main(["runs", run_id, "--browser", "--reports-dir", str(reports)]) == 0
    assert opened == [(reports / run_id / "report.html").resolve().as_uri()]
    assert main(["runs", "nope", "--reports-dir", str(reports)]) == 2


def test_plan_uses_the_prompt_sets_templates_and_warns(capsys: pytest.CaptureFixture[str]) -> None:
    claim = ["plan", "--claim", "refusal_rate < 0.02", "--expected", "0.01"]
    assert main(claim) == 0
    assert "x 6 templates" in capsys.readouterr().out
    assert main([*claim, "--prompts", "prompts/contested-v1.jsonl"]) == 0
    captured = capsys.readouterr()
    assert "x 10 templates" in captured.out and "120 topics" in captured.out and "warning" not in captured.err
    assert main(["plan", "--claim", "refusal_rate < 0.02", "--expected", "0.017", "--prompts",
                 "prompts/contested-v1.jsonl"]) == 0
    assert "warning: the plan needs" in capsys.readouterr().err
