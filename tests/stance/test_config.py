"""The ``[stance]`` table and the ``stance evaluate`` command's user errors: one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.cli import main
from audit.config import build_config
from audit.errors import ConfigError


def test_the_stance_table_defaults_and_validates() -> None:
    cfg = build_config({"stance": {"base_url": "http://127.0.0.1:8000/v1/", "model": "judge"}}).stance
    assert cfg is not None
    assert (cfg.base_url, cfg.template, cfg.template_file, cfg.logprobs, cfg.max_tokens, cfg.concurrency) == \
        ("http://127.0.0.1:8000/v1", "default", None, "auto", None, 4)
    assert build_config({}).stance is None
    bad: list[tuple[dict[str, object], str]] = [({"logprobs": "sometimes"}, "stance.logprobs"), ({"concurrency": 0}, "stance.concurrency"),
           ({"base_url": "http://u:p@h/v1"}, "credentials"), ({"api_key_env": "sk-123-abc"}, "NAME"),
           ({"temperature": 1}, "unknown key 'stance.temperature'")]
    for extra, words in bad:
        with pytest.raises(ConfigError, match=words) as err:
            build_config({"stance": {"base_url": "http://127.0.0.1:8000/v1", "model": "j", **extra}})
        assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="missing 'stance.model'"):
        build_config({"stance": {"base_url": "http://127.0.0.1:8000/v1"}})


def test_evaluate_user_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gold = tmp_path / "gold.csv"
    gold.write_text("response_text,final_label\nx,1\n", encoding="utf-8")
    args = ["stance", "evaluate", str(gold), "--judge-base-url", "http://127.0.0.1:9/v1", "--judge-model", "j"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {gold}:1:") and "topic_pro" in err and "\n" not in err
    assert main([*args, "--logprobs", "maybe"]) == 2
    assert "--logprobs" in capsys.readouterr().err
