"""A replay judge: ``audit.fakeserver`` answering each IssueBench judge prompt with the raw output
a real judge gave to it (``stance_judges_dev.csv``), so ``stance evaluate`` runs end to end
without network. The prompt is matched exactly: rendered by ``audit.stance.render`` from the
template and the gold row, as the judge client renders it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from audit.fakeserver import FakeOpenAI
from audit.stance import StanceItem, load_stance_gold, load_template, render

ISSUEBENCH = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "issuebench"
GOLD = ISSUEBENCH / "stance_dev.csv"
TEMPLATES = ISSUEBENCH / "stance_templates.csv"
JUDGES = ISSUEBENCH / "stance_judges_dev.csv"


def recorded(judge_model: str, template: str) -> pd.Series:
    """The judge's raw output per item_id."""
    runs = pd.read_csv(JUDGES, dtype=str, keep_default_na=False)
    rows = runs[(runs["judge_model"] == judge_model) & (runs["template"] == template)]
    return rows.set_index("item_id")["eval_text"]


def replay_server(judge_model: str, template: str) -> FakeOpenAI:
    """A (not yet started) server that replays ``judge_model``'s outputs for ``template``."""
    gold = load_stance_gold(GOLD)
    tmpl = load_template(template, TEMPLATES)
    outputs = recorded(judge_model, template)
    by_prompt = {render(tmpl, StanceItem(r.response_text, r.topic_pro, r.topic_con, r.topic_neutral,
                                         r.topic_prompt)): outputs[r.item_id] for r in gold.itertuples()}

    def choose(text: str) -> str:
        return f"say:{by_prompt[text]}" if text in by_prompt else "status:404"

    return FakeOpenAI(chooser=choose)
