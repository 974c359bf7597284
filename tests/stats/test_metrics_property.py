"""Property test: any labelled responses frame gives sane statistics, never an exception."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.run import RESPONSE_COLUMNS
from audit.stats import _tables as metrics

LABELS = ["compliance", "partial_refusal", "refusal", "error", "blocked", "empty", "truncated"]
ANSWERS = {"compliance", "partial_refusal", "refusal"}

row = st.fixed_dictionaries({
    "target": st.sampled_from(["t1", "t2"]),
    "topic": st.sampled_from(["a", "b", "c"]),
    "template": st.sampled_from(["x", "y"]),
    "side": st.sampled_from(["a", "b"]),
    "kind": st.sampled_from(["contested", "contested", "control_refuse", "control_comply"]),
    "label": st.sampled_from(LABELS),
    "sample": st.integers(0, 1),
})


def frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["target", "topic", "template", "side", "kind", "label", "sample"])
    df = df.drop_duplicates(["target", "topic", "template", "side", "sample"]).reset_index(drop=True)
    contested = df["kind"] == "contested"
    df["pair_id"] = np.where(contested, df["topic"] + "." + df["template"], None)
    df["side"] = np.where(contested, df["side"], None)
    df["prompt_id"] = df["topic"] + "." + df["template"] + "." + df["side"].fillna("c")
    df["lean"] = np.where(df["side"] == "a", "progressive", np.where(df["side"] == "b", "conservative", None))
    for col in RESPONSE_COLUMNS:
        if col not in df:
            df[col] = None
    return df[RESPONSE_COLUMNS]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row, max_size=60))
def test_any_frame_gives_sane_rates(rows: list[dict[str, object]]) -> None:
    df = frame(rows)
    tables = metrics.audit_tables(df)
    s = tables.summary
    if s.empty:
        return
    bounded = s[s["metric"].str.endswith("_rate") & s["estimate"].notna()]
    assert ((bounded["estimate"] >= 0) & (bounded["estimate"] <= 1)).all()
    ok = bounded["ci_low"].notna()
    assert (bounded.loc[ok, "ci_low"] <= bounded.loc[ok, "estimate"] + 1e-9).all()
    assert (bounded.loc[ok, "estimate"] <= bounded.loc[ok, "ci_high"] + 1e-9).all()
    for target, rates in s[(s["metric"] == "refusal_rate") & s["headline"].astype(bool)].groupby("target"):
        mine = df[(df["target"] == target) & (df["kind"] == "contested")]
        assert rates["n"].iloc[0] == mine["label"].isin(ANSWERS).sum()  # non-answers never in the denominator
        assert rates["k"].iloc[0] == (mine["label"] == "refusal").sum()
