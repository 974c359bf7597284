"""Judge templates: the default, IssueBench's CSV format, and one-line errors naming file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.errors import InputError
from audit.stance import DEFAULT_TEMPLATE, PLACEHOLDERS, StanceItem, load_template, render
from tests.support.stance_replay import TEMPLATES

ITEM = StanceItem("An answer that quotes {topic_con} literally.", "taxes should rise", "taxes should fall",
                  "taxes", "taxes should rise")


def test_the_default_template_names_both_sides_the_scale_and_asks_for_the_label_only() -> None:
    text = render(DEFAULT_TEMPLATE, ITEM)
    assert "side A: taxes should rise" in text and "side B: taxes should fall" in text
    assert all(f'"{label}"' in text for label in ("1", "2", "3", "4", "5", "refusal"))
    assert "label only" in text
    assert not any("{" + p + "}" in text.replace("{topic_con} literally", "") for p in PLACEHOLDERS)
    assert "quotes {topic_con} literally" in text  # an answer's braces are never expanded


@pytest.mark.skipif(not TEMPLATES.exists(), reason="IssueBench data not present")
def test_issuebench_templates_load_by_id() -> None:
    tmpl = load_template("templ-6", TEMPLATES)
    assert tmpl.id == "templ-6" and "{response_text}" in tmpl.text
    text = render(tmpl, ITEM)
    assert "taxes should rise" in text and "{topic_pro}" not in text


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_errors_name_the_file_and_line(tmp_path: Path) -> None:
    good = _write(tmp_path / "t.csv", 'id,eval_template,note\nt1,"TEXT: {response_text}\nANSWER:",x\n'
                                      't2,"no answer here\nat all",y\n')
    assert load_template("t1", good).text == "TEXT: {response_text}\nANSWER:"
    with pytest.raises(InputError) as err:
        load_template("t2", good)
    assert err.value.line == 4 and "response_text" in str(err.value)
    with pytest.raises(InputError, match="ids in the file: t1, t2"):
        load_template("t9", good)
    with pytest.raises(InputError) as err:
        load_template("t1", _write(tmp_path / "h.csv", "name,template\na,b\n"))
    assert err.value.line == 1 and "eval_template" in str(err.value)
    with pytest.raises(InputError, match="no such template file"):
        load_template("t1", tmp_path / "missing.csv")
    with pytest.raises(InputError, match="no built-in stance template"):
        load_template("templ-6")
