"""A target's system prompt: sent first, and part of every request's content hash."""

from __future__ import annotations

from pathlib import Path

from audit.config import Target, load_config
from audit.prompts._schema import Prompt
from audit.send._requests import build_requests, canonical_json, request_id

PROMPT = Prompt(id="p1", topic="t", kind="control_comply", text="What is rain?")


def _target(system_prompt: str | None) -> Target:
    return Target(name="same-name", base_url="http://127.0.0.1:9/v1", model="m", system_prompt=system_prompt)


def test_system_prompt_is_sent_first_and_changes_the_request_id() -> None:
    (plain,) = build_requests([PROMPT], [_target(None)])
    (cautious,) = build_requests([PROMPT], [_target("Be careful.")])
    (other,) = build_requests([PROMPT], [_target("Be very careful.")])
    assert plain.messages == ({"role": "user", "content": "What is rain?"},)
    assert cautious.messages[0] == {"role": "system", "content": "Be careful."}
    assert cautious.messages[1:] == plain.messages
    assert len({plain.request_id, cautious.request_id, other.request_id}) == 3
    # the id is the documented hash of the canonical request, system message included
    assert cautious.request_id == request_id("same-name", "m", list(cautious.messages), cautious.params, 0)
    assert "Be careful." in canonical_json({"messages": list(cautious.messages)})


def test_system_prompt_is_read_from_a_targets_table(tmp_path: Path) -> None:
    path = tmp_path / "audit.toml"
    path.write_text('[[targets]]\nname = "a"\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m"\n'
                    'system_prompt = """Line one.\n\nLine two."""\n', encoding="utf-8")
    (target,) = load_config(path).targets
    assert target.system_prompt == "Line one.\n\nLine two."
