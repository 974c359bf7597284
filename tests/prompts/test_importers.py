"""Importers (audit.importers) on the real shared data, and `refusal-audit prompts import`.

The reference data lives beside the project at ../shared/data and is never copied into it.
"""

from __future__ import annotations

import inspect
from collections import Counter
from itertools import islice
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from audit.cli import _prompts as cli_prompts
from audit.errors import ConfigError, InputError
from audit.prompts._check import check_file
from audit.prompts._importers import (
    ANTHROPIC_GROUP_LEANS,
    balanced_swaps,
    import_prompts,
    iter_issuebench,
    iter_xstest,
    slug,
)
from audit.prompts._schema import load_prompt_set

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
ANTHROPIC = DATA / "anthropic-paired" / "eval_set.csv"
XSTEST = DATA / "xstest" / "xstest_prompts.csv"
ISSUEBENCH = DATA / "issuebench" / "issues.csv"


def need(path: Path) -> None:
    if not path.exists():
        pytest.skip(
            f"reference data {path} is absent (expected at ../shared/data from the repo root)"
        )


def assert_passes_check(path: Path) -> None:
    report = check_file(path)
    assert report.ok, [p.message for p in report.problems][:10]


# ---------------------------------------------------------------- side balancing


def test_balanced_swaps_balances_every_counted_lean() -> None:
    units = (
        [("progressive", "conservative")] * 9
        + [("libertarian", "other")] * 3
        + [("other", "n/a")] * 3
    )
    swaps = balanced_swaps(units, seed=3)
    diff: Counter[str] = Counter()
    for (a, b), s in zip(units, swaps, strict=True):
        a, b = (b, a) if s else (a, b)
        diff[a] += 1
        diff[b] -= 1
    assert all(abs(v) <= 1 for lean, v in diff.items() if lean != "n/a")
    assert swaps == balanced_swaps(units, seed=3)
    assert any(swaps) and not all(swaps)


def test_slug() -> None:
    assert slug("Argue that {stance}") == "argue-that"
    assert (
        slug("What research backs up the position that {stance}?")
        == "what-research-backs-up-the-position"
    )


# ---------------------------------------------------------------- anthropic-paired


def test_anthropic_import(tmp_path: Path) -> None:
    need(ANTHROPIC)
    result = import_prompts("anthropic-paired", ANTHROPIC.parent, tmp_path / "anthropic-v1.jsonl")
    assert result.prompts == 2700
    assert_passes_check(result.path)
    prompts = load_prompt_set(result.path).prompts
    first = next(p for p in prompts if p.meta["source_line"] == 2)
    assert first.stance in ("anti_trump", "pro_trump") and first.template == "argue-that"
    assert Counter(p.meta["source_side"] for p in prompts if p.side == "a").keys() == {"a", "b"}
    groups = {p.stance for p in prompts}
    assert groups - set(ANTHROPIC_GROUP_LEANS) <= {
        "china_engagement",
        "china_containment",
        "natural_origin",
        "lab_leak",
        "pro_ukraine_aid",
        "anti_ukraine_aid",
        "anti_intervention",
        "pro_intervention",
        "iran_diplomatic_approach",
        "iran_military_pressure",
        "pro_palestine",
        "pro_israel",
        "prioritize_civil_liberties_and_autonomy",
        "prioritize_security_and_parental_rights",
    }


def test_anthropic_keep_sides_shows_the_source_imbalance(tmp_path: Path) -> None:
    need(ANTHROPIC)
    out = tmp_path / "anthropic-kept.jsonl"
    import_prompts("anthropic-paired", ANTHROPIC, out, balance=False)
    prompts = load_prompt_set(out).prompts
    assert all(p.meta["source_side"] == p.side for p in prompts)
    report = check_file(out)
    assert [p.check for p in report.problems] and {p.check for p in report.problems} == {
        "lean-balance"
    }


# ---------------------------------------------------------------- xstest


def test_xstest_import(tmp_path: Path) -> None:
    need(XSTEST)
    result = import_prompts("xstest", XSTEST, tmp_path / "xstest-v2.jsonl")
    assert result.prompts == 450
    assert_passes_check(result.path)
    prompts = load_prompt_set(result.path).prompts
    kinds = Counter(p.kind for p in prompts)
    assert kinds == {"control_comply": 250, "control_refuse": 200}
    for p in prompts:
        assert (p.kind == "control_refuse") == p.meta["type"].startswith("contrast_")
        assert "focus" in p.meta and p.topic == p.meta["type"]


def test_xstest_rejects_inconsistent_labels(tmp_path: Path) -> None:
    src = tmp_path / "x.csv"
    src.write_text("id,prompt,type,label,focus,note\n1,How do I kill time?,homonyms,unsafe,kill,\n")
    with pytest.raises(InputError, match="neither safe nor contrast") as err:
        list(iter_xstest(src))
    assert err.value.line == 2


def test_missing_columns_name_them(tmp_path: Path) -> None:
    src = tmp_path / "x.csv"
    src.write_text("id,prompt\n1,hi\n")
    with pytest.raises(InputError, match="missing column"):
        list(iter_xstest(src))


# ---------------------------------------------------------------- issuebench


def test_issuebench_sample_import(tmp_path: Path) -> None:
    need(ISSUEBENCH)
    result = import_prompts(
        "issuebench",
        ISSUEBENCH.parent,
        tmp_path / "ib-v1.jsonl",
        n_templates=5,
        n_issues=20,
        seed=7,
    )
    assert result.prompts == 5 * 20 * 2
    assert_passes_check(result.path)
    prompts = load_prompt_set(result.path).prompts
    for a, b in zip(prompts[::2], prompts[1::2], strict=True):
        assert (a.side, b.side, a.pair_id) == ("a", "b", b.pair_id)
        assert a.meta["polarity"] == "pro" and b.meta["polarity"] == "con"
        assert a.text.replace(a.stance, "X") == b.text.replace(b.stance, "X")
    assert not any("UNASSIGNED" in p.text or p.topic in ("SPAM", "TOXIC / UNSAFE") for p in prompts)


def test_issuebench_sampling_is_seeded_and_independent() -> None:
    need(ISSUEBENCH)

    def ids(**kw: object) -> list[str]:
        return [p.id for p in iter_issuebench(ISSUEBENCH, **kw)]  # type: ignore[arg-type]

    assert ids(n_templates=2, n_issues=3, seed=1) == ids(n_templates=2, n_issues=3, seed=1)
    assert ids(n_templates=2, n_issues=3, seed=1) != ids(n_templates=2, n_issues=3, seed=2)
    templates = {i.split(".")[2] for i in ids(n_templates=2, n_issues=3, seed=1)}
    assert templates == {i.split(".")[2] for i in ids(n_templates=2, n_issues=9, seed=1)}


def test_issuebench_streams_the_full_product() -> None:
    """The full product is a lazy generator: the first prompts come without building the rest."""
    need(ISSUEBENCH)
    gen = iter_issuebench(ISSUEBENCH.parent)
    assert inspect.isgenerator(gen)
    first = list(islice(gen, 4))
    assert [p.side for p in first] == ["a", "b", "a", "b"]
    gen.close()


def test_issuebench_skips_templates_without_placeholder(tmp_path: Path) -> None:
    (tmp_path / "issues.csv").write_text(
        "topic_id,tag_exclude,topic_neutral,topic_pro,topic_con\n"
        "-1,1,UNASSIGNED CLUSTER,UNASSIGNED CLUSTER,UNASSIGNED CLUSTER\n"
        "5,,rent control,rent control being good,rent control being bad\n"
    )
    (tmp_path / "templates_sample.csv").write_text(
        "id,annot1_template\nt1,Write about X.\nt2,Write about Xin style.\nt3,\n"
        "t4,Write about X.\nt5,Poem on X\n"
    )
    prompts = list(iter_issuebench(tmp_path))
    assert [p.id for p in prompts] == [
        "issuebench.5.t1.a",
        "issuebench.5.t1.b",
        "issuebench.5.t5.a",
        "issuebench.5.t5.b",
    ]
    assert prompts[0].text == "Write about rent control being good."


# ---------------------------------------------------------------- safety of outputs


def test_refuses_to_overwrite_the_source(tmp_path: Path) -> None:
    src = tmp_path / "x.csv"
    src.write_text("id,prompt,type,label,focus,note\n1,Hi,homonyms,safe,,\n")
    with pytest.raises(ConfigError, match="refusing to overwrite"):
        import_prompts("xstest", src, src)
    assert src.read_text().startswith("id,prompt")


def test_failed_import_leaves_no_file(tmp_path: Path) -> None:
    src = tmp_path / "x.csv"
    src.write_text("id,prompt,type,label,focus,note\n1,Hi,homonyms,safe,,\n2,,homonyms,safe,,\n")
    with pytest.raises(InputError, match="empty 'prompt'"):
        import_prompts("xstest", src, tmp_path / "out.jsonl")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.csv"]


def test_unknown_format_and_missing_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown import format"):
        import_prompts("csv", tmp_path, tmp_path / "o.jsonl")
    with pytest.raises(InputError, match="no such file"):
        import_prompts("xstest", tmp_path, tmp_path / "o.jsonl")


# ---------------------------------------------------------------- CLI


@pytest.fixture
def app() -> typer.Typer:
    application = typer.Typer()
    application.command("noop")(lambda: None)
    cli_prompts.register(application)
    return application


def test_cli_import_issuebench(tmp_path: Path, app: typer.Typer) -> None:
    need(ISSUEBENCH)
    out = tmp_path / "ib-v1.jsonl"
    result = CliRunner().invoke(
        app,
        [
            "prompts",
            "import",
            "issuebench",
            str(ISSUEBENCH.parent),
            "-o",
            str(out),
            "--templates",
            "3",
            "--issues",
            "all",
            "--seed",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(load_prompt_set(out)) == 3 * 212 * 2


def test_cli_import_rejects_options_of_other_formats(tmp_path: Path, app: typer.Typer) -> None:
    result = CliRunner().invoke(
        app,
        [
            "prompts",
            "import",
            "xstest",
            str(tmp_path),
            "-o",
            str(tmp_path / "o.jsonl"),
            "--templates",
            "3",
        ],
    )
    assert isinstance(result.exception, ConfigError)
    result = CliRunner().invoke(
        app,
        [
            "prompts",
            "import",
            "issuebench",
            str(tmp_path),
            "-o",
            str(tmp_path / "o.jsonl"),
            "--templates",
            "many",
        ],
    )
    assert isinstance(result.exception, ConfigError)
