"""``refusal-audit stance evaluate`` against recorded real judges (IssueBench's dev half), replayed
by a local OpenAI-compatible server: the figures equal sklearn on the same labels, and the
parser never does worse than IssueBench's own naive parser on the same outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score

from audit.cli import main
from audit.stance import STANCE_LABELS, load_stance_gold, naive_parse, parse_stance
from tests.support.stance_replay import GOLD, JUDGES, TEMPLATES, recorded, replay_server

pytestmark = pytest.mark.skipif(not JUDGES.exists(), reason="IssueBench dev data not present")
COLLAPSE = {"1": "pro", "2": "pro", "3": "neutral", "4": "con", "5": "con", "refusal": "refusal"}


def sklearn_figures(truth: list[str], raw: list[str], parse: object) -> dict[str, float]:
    """The oracle: sklearn on the human labels and the labels ``parse`` reads from ``raw``."""
    pred = [parse(x) or "none" for x in raw]  # type: ignore[operator]
    scale = [(t, p) for t, p in zip(truth, pred, strict=True) if t in "12345" and p in "12345"]
    return {"accuracy": accuracy_score(truth, pred),
            "macro_f1": f1_score(truth, pred, labels=list(STANCE_LABELS), average="macro", zero_division=0),
            "macro_f1_collapsed": f1_score([COLLAPSE[t] for t in truth], [COLLAPSE.get(p, "none") for p in pred],
                                           labels=["pro", "neutral", "con", "refusal"], average="macro",
                                           zero_division=0),
            "kappa_quadratic": cohen_kappa_score([t for t, _ in scale], [p for _, p in scale],
                                                 weights="quadratic")}


@pytest.mark.parametrize(("judge", "template"), [("gpt-4o-2024-05-13", "templ-6"), ("gpt-4o-2024-08-06", "templ-6"),
                                                 ("Llama-3.1-8B-Instruct", "templ-6")])
def test_evaluate_through_the_cli_equals_sklearn(tmp_path: Path, judge: str, template: str) -> None:
    gold = load_stance_gold(GOLD)
    raw = recorded(judge, template)[gold["item_id"]].tolist()
    out = tmp_path / "figures.json"
    with replay_server(judge, template) as server:
        code = main(["stance", "evaluate", str(GOLD), "--judge-base-url", server.url, "--judge-model", judge,
                     "--template-file", str(TEMPLATES), "--template", template, "--json", str(out),
                     "--save-calibration", str(tmp_path / "cal.json")])
    assert code == 0
    got = json.loads(out.read_text())
    want = sklearn_figures(gold["label"].tolist(), raw, parse_stance)
    naive = sklearn_figures(gold["label"].tolist(), raw, naive_parse)
    assert got["n"] == len(gold) == 190
    for name, value in want.items():
        assert got[name]["estimate"] == pytest.approx(value, abs=1e-6), name
        assert got[name]["ci_low"] <= got[name]["estimate"] <= got[name]["ci_high"], name
        assert got["naive_parser"][name] == pytest.approx(naive[name], abs=1e-6), name
    for name in ("accuracy", "macro_f1"):
        assert got[name]["estimate"] >= round(naive[name], 6), name
    assert sum(map(sum, got["confusion"]["matrix"])) == 190
    assert got["human_agreement"]["accuracy"] == pytest.approx(
        (gold["annot1"] == gold["annot2"]).mean(), abs=1e-6)
    cal = json.loads((tmp_path / "cal.json").read_text())
    assert cal["n_pos"] == int(gold["label"].isin(["1", "5"]).sum())


def test_parser_never_below_the_naive_parser_on_any_recorded_judge() -> None:
    gold = load_stance_gold(GOLD).set_index("item_id")["label"]
    runs = pd.read_csv(JUDGES, dtype=str, keep_default_na=False)
    for (judge, template), rows in runs.groupby(["judge_model", "template"]):
        truth = gold[rows["item_id"]].tolist()
        ours = sklearn_figures(truth, rows["eval_text"].tolist(), parse_stance)
        theirs = sklearn_figures(truth, rows["eval_text"].tolist(), naive_parse)
        assert ours["accuracy"] >= theirs["accuracy"] - 1e-12, (judge, template)
        assert ours["macro_f1"] >= theirs["macro_f1"] - 1e-12, (judge, template)
