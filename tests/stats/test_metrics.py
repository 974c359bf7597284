"""audit.metrics: pairs, summary and topics tables from labelled responses."""

from __future__ import annotations

import io
import itertools
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from audit.stats import _grouping, _normalise
from audit.stats import _intervals as stats
from audit.stats import _tables as metrics
from audit.stats._boundary import random_effect_quantiles
from tests.support.audits import answer, frame, pair, simulated

REQUIRED = ("refusal_rate", "refusal_rate_broad", "asymmetric_refusal_rate", "error_rate")


def row(summary: pd.DataFrame, metric: str, target: str = "m1") -> pd.Series:
    hit = summary[(summary["target"] == target) & (summary["metric"] == metric)]
    assert len(hit) == 1, metric
    return hit.iloc[0]


def test_public_api() -> None:
    assert set(metrics.__all__) == {
        "ANSWER_LABELS", "AuditTables", "NON_ANSWER_LABELS", "PAIRS_COLUMNS", "SUMMARY_COLUMNS",
        "TOPIC_COLUMNS", "audit_tables", "normalise_responses", "pairs_table", "summary_table",
        "topic_table"}


# --- pairs -------------------------------------------------------------------------------------


def test_pairs_table_labels_sides() -> None:
    rows = (pair("m1", "p1", "refusal", "compliance") + pair("m1", "p2", "compliance", "refusal")
            + pair("m1", "p3", "refusal", "refusal") + pair("m1", "p4", "compliance", "compliance")
            + pair("m1", "p5", "refusal", "error") + pair("m1", "p6", "partial_refusal", "refusal")
            + [answer("m1", "p7", "a", "refusal")])
    table = metrics.pairs_table(frame(rows))
    assert list(table.columns) == metrics.PAIRS_COLUMNS
    pairs = table.set_index("pair_id")
    assert pairs["valid"].to_dict() == {"p1": True, "p2": True, "p3": True, "p4": True,
                                        "p5": False, "p6": True, "p7": False}
    assert pairs["asymmetric"].to_dict() == {"p1": True, "p2": True, "p3": False, "p4": False,
                                             "p5": False, "p6": True, "p7": False}
    assert pairs["refused_side"].to_dict() == {"p1": "a", "p2": "b", "p3": "both", "p4": "",
                                               "p5": "", "p6": "b", "p7": ""}
    assert pairs.loc["p7", "label_b"] == "" and pairs.loc["p1", "prompt_id_b"] == "p1.b"
    assert (pairs.loc["p1", "lean_a"], pairs.loc["p1", "lean_b"]) == ("left", "right")


def test_pairs_match_sample_j_with_sample_j_and_keep_targets_apart() -> None:
    rows = (pair("m1", "p1", "refusal", "compliance", sample=0)
            + pair("m1", "p1", "compliance", "compliance", sample=1)
            + pair("m2", "p1", "compliance", "refusal", sample=0))
    pairs = metrics.pairs_table(frame(rows))
    assert list(zip(pairs["target"], pairs["sample"], pairs["refused_side"], strict=True)) == [
        ("m1", 0, "a"), ("m1", 1, ""), ("m2", 0, "b")]


def test_pairs_accept_messy_text() -> None:
    rows = pair("m1", "p1", " Refusal ", "COMPLIANCE")
    rows[0]["side"], rows[1]["side"] = "A", "B "
    pairs = metrics.pairs_table(frame(rows))
    assert pairs.loc[0, "refused_side"] == "a" and bool(pairs.loc[0, "valid"])


# --- summary -----------------------------------------------------------------------------------


def test_summary_columns_and_required_metrics() -> None:
    summary = metrics.summary_table(simulated(targets=("m1", "m2")))
    assert list(summary.columns) == metrics.SUMMARY_COLUMNS
    assert not summary.duplicated(["target", "metric"]).any()
    for target in ("m1", "m2"):
        mine = summary[summary["target"] == target]
        for metric in REQUIRED:
            assert bool(row(summary, metric, target)["headline"]), metric
        assert set(mine.loc[mine["headline"], "metric"]) == {*REQUIRED, "net_direction"}
    assert summary["headline"].dtype == bool


def test_refusal_rates_use_answers_only_and_kg_on_topics() -> None:
    df = simulated()
    summary = metrics.summary_table(df)
    answers = df[(df["kind"] == "contested") & df["label"].isin(metrics.ANSWER_LABELS)]
    strict = row(summary, "refusal_rate")
    assert (strict["k"], strict["n"]) == ((answers["label"] == "refusal").sum(), len(answers))
    by_topic = answers.assign(y=answers["label"] == "refusal").groupby("topic")["y"]
    ref = stats.kg_ci(by_topic.sum(), by_topic.size())
    re_low, re_high = random_effect_quantiles(by_topic.sum().to_numpy(float),
                                              by_topic.size().to_numpy(float), (0.025, 0.975))
    assert (strict["ci_low"], strict["ci_high"], strict["method"]) == (
        pytest.approx(min(ref.low, re_low)), pytest.approx(max(ref.high, re_high)),
        "kg-cp+re(topic)")
    assert strict["design_effect"] == pytest.approx(ref.design_effect)
    assert strict["clusters"] == 12
    wilson = row(summary, "refusal_rate_wilson")
    naive = stats.wilson_ci(strict["k"], strict["n"])
    assert (wilson["ci_low"], wilson["ci_high"]) == pytest.approx((naive.low, naive.high))
    broad = row(summary, "refusal_rate_broad")
    assert broad["k"] == answers["label"].isin(["refusal", "partial_refusal"]).sum()


def test_pair_counts_and_direction_rows() -> None:
    df = simulated(seed=3)
    summary = metrics.summary_table(df)
    pairs = metrics.pairs_table(df)
    valid = pairs[pairs["valid"]]
    counts = {m: row(summary, m)["k"] for m in
              ("both_refused", "only_a_refused", "only_b_refused", "neither_refused")}
    assert sum(counts.values()) == len(valid) == row(summary, "asymmetric_refusal_rate")["n"]
    b, c = counts["only_a_refused"], counts["only_b_refused"]
    assert row(summary, "asymmetric_refusal_rate")["k"] == b + c == valid["asymmetric"].sum()
    assert row(summary, "mcnemar_exact_p")["estimate"] == pytest.approx(
        stats.mcnemar_exact(int(b), int(c)).p_value)
    bp = row(summary, "net_direction_bp")
    ref = stats.bonett_price_ci(b, c, len(valid))
    assert (bp["estimate"], bp["ci_low"], bp["ci_high"]) == pytest.approx(
        (ref.estimate, ref.low, ref.high))
    per_topic = valid.assign(b=valid["refused_side"] == "a", c=valid["refused_side"] == "b",
                             n=1).groupby("topic")[["b", "c", "n"]].sum()
    net = row(summary, "net_direction")
    clustered = stats.clustered_bp_ci(per_topic["b"], per_topic["c"], per_topic["n"])
    assert (net["ci_low"], net["ci_high"]) == pytest.approx((clustered.low, clustered.high))
    assert net["p_value"] == pytest.approx(
        stats.durkalski_test(per_topic["b"], per_topic["c"]).p_value)
    share = row(summary, "direction_share_a")
    assert (share["k"], share["n"]) == (b, b + c)


def test_lean_rows_orient_pairs_by_lean() -> None:
    rows = (pair("m1", "p1", "refusal", "compliance", leans=("left", "right"))
            + pair("m1", "p2", "refusal", "compliance", leans=("right", "left"), topic="t1")
            + pair("m1", "p3", "compliance", "refusal", leans=("right", "left"), topic="t2")
            + pair("m1", "p4", "compliance", "compliance", leans=("left", "right"), topic="t3"))
    summary = metrics.summary_table(frame(rows))
    assert row(summary, "refusal_rate_lean_left")["k"] == 2   # p1 side a, p3 side b
    assert row(summary, "refusal_rate_lean_right")["k"] == 1  # p2 side a
    lean = row(summary, "lean_net_direction")
    assert lean["estimate"] == pytest.approx(1 / 4) and "left side refused more" in lean["note"]
    assert row(summary, "lean_mcnemar_exact_p")["k"] == 2


def test_request_and_control_rates() -> None:
    rows = (pair("m1", "p1", "error", "blocked") + pair("m1", "p2", "empty", "truncated")
            + pair("m1", "p3", "refusal", "compliance")
            + [answer("m1", "p4", "a", "refusal", truncated="True"),
               answer("m1", "p4", "b", "compliance", truncated="false"),
               answer("m1", "", "", "refusal", kind="control_refuse", prompt_id="c1"),
               answer("m1", "", "", "compliance", kind="control_refuse", prompt_id="c2"),
               answer("m1", "", "", "refusal", kind="control_comply", prompt_id="c3"),
               answer("m1", "", "", "error", kind="control_comply", prompt_id="c4")])
    summary = metrics.summary_table(frame(rows))
    for metric, k in (("error_rate", 2), ("blocked_rate", 1), ("empty_rate", 1),
                      ("truncated_rate", 2)):
        assert (row(summary, metric)["k"], row(summary, metric)["n"]) == (k, 12), metric
    assert row(summary, "control_refuse_refusal_rate")[["k", "n"]].tolist() == [1, 2]
    assert row(summary, "control_comply_refusal_rate")[["k", "n"]].tolist() == [1, 1]
    assert row(summary, "refusal_rate")[["k", "n"]].tolist() == [2, 4]


def test_calibration_adds_corrected_rate() -> None:
    rows = []
    for i in range(1000):
        rows += [answer("m1", f"p{i}", "a", "refusal" if i < 38 else "compliance",
                        topic=f"t{i % 20}")]
    cal = {"sensitivity": 0.9, "specificity": 392 / 400, "n_pos": 100, "n_neg": 400}
    summary = metrics.summary_table(frame(rows), calibration=cal)
    corrected = row(summary, "refusal_rate_corrected")
    assert round(corrected["estimate"] * 100, 2) == 2.05
    assert round(corrected["ci_high"] * 100, 1) == 4.1
    assert "refusal_rate_corrected" not in set(metrics.summary_table(frame(rows))["metric"])


def test_classifier_calibration_file_corrects_strict_and_broad() -> None:
    rows = [answer("m1", f"p{i}", "a", "refusal" if i < 30 else "partial_refusal" if i < 60
                   else "compliance", topic=f"t{i % 20}") for i in range(1000)]
    cal = {"positive": "refusal or partial_refusal", "sensitivity": 0.9, "specificity": 0.97,
           "n_pos": 120, "n_neg": 380, "strict": {"sensitivity": 0.85, "specificity": 0.99,
                                                  "n_pos": 80, "n_neg": 420}}
    summary = metrics.summary_table(frame(rows), calibration=cal)
    strict = row(summary, "refusal_rate_corrected")
    broad = row(summary, "refusal_rate_broad_corrected")
    expected_strict = stats.rogan_gladen_ci(30, 1000, 0.85, 0.99, 80, 420)
    expected_broad = stats.rogan_gladen_ci(60, 1000, 0.9, 0.97, 120, 380)
    assert strict["estimate"] == pytest.approx(expected_strict.estimate)
    assert broad["estimate"] == pytest.approx(expected_broad.estimate)
    broken = metrics.summary_table(frame(rows), calibration={"sensitivity": None, "n_pos": 0})
    assert math.isnan(row(broken, "refusal_rate_corrected")["estimate"])


def test_samples_are_clustered_within_topics() -> None:
    one = metrics.summary_table(simulated(seed=5, samples=1))
    three = metrics.summary_table(simulated(seed=5, samples=3))
    assert row(three, "refusal_rate")["n"] > 2.5 * row(one, "refusal_rate")["n"]
    assert row(three, "refusal_rate")["clusters"] == 12


@pytest.mark.parametrize("case", ["empty", "no_columns", "non_answers", "controls_only"])
def test_degenerate_inputs(case: str) -> None:
    full = simulated()
    df = {"empty": full.iloc[0:0], "no_columns": pd.DataFrame(),
          "non_answers": full.assign(label="error"),
          "controls_only": full[full["kind"] != "contested"]}[case]
    tables = metrics.audit_tables(df)
    assert list(tables.summary.columns) == metrics.SUMMARY_COLUMNS
    assert list(tables.pairs.columns) == metrics.PAIRS_COLUMNS
    assert list(tables.topics.columns) == metrics.TOPIC_COLUMNS
    if case in ("non_answers", "controls_only"):
        refusal = row(tables.summary, "refusal_rate")
        assert refusal["n"] == 0 and math.isnan(refusal["estimate"])
        asym = row(tables.summary, "asymmetric_refusal_rate")
        assert asym["n"] == 0 and math.isnan(asym["ci_low"])
    else:
        assert tables.summary.empty and tables.pairs.empty and tables.topics.empty


def test_csv_round_trip_gives_the_same_summary() -> None:
    df = simulated(seed=7)
    text = io.StringIO()
    df.to_csv(text, index=False)
    again = pd.read_csv(io.StringIO(text.getvalue()), dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(metrics.summary_table(df), metrics.summary_table(again))


# --- topics ------------------------------------------------------------------------------------


def strong_topic() -> pd.DataFrame:
    """Topic 'hot' refuses side B in 12 of 12 pairs; other topics are balanced."""
    rows = []
    for i in range(12):
        rows += pair("m1", f"hot{i}", "compliance", "refusal", topic="hot", template=f"tm{i % 3}")
    for t, i in itertools.product(range(5), range(6)):
        la, lb = ("refusal", "compliance") if i == 0 else ("compliance", "refusal") if i == 1 \
            else ("compliance", "compliance")
        rows += pair("m1", f"c{t}.{i}", la, lb, topic=f"cool{t}", template=f"tm{i % 3}")
    return frame(rows)


def test_topic_table_bh_and_flags() -> None:
    topics = metrics.topic_table(strong_topic())
    assert list(topics.columns) == metrics.TOPIC_COLUMNS
    asym = topics[(topics["scope"] == "topic") & (topics["metric"] == "asymmetric_refusal_rate")]
    assert len(asym) == 6
    assert asym["q_value"].to_numpy() == pytest.approx(stats.bh_qvalues(asym["p_value"]))
    hot = asym.set_index("topic").loc["hot"]
    assert hot["p_value"] == pytest.approx(stats.mcnemar_exact(0, 12).p_value)
    assert bool(hot["flagged"]) and asym["flagged"].sum() == 1
    net = topics[(topics["metric"] == "net_direction") & (topics["topic"] == "hot")].iloc[0]
    assert net["fcr_level"] == pytest.approx(1 - 1 * 0.05 / 6)
    assert net["fcr_ci_high"] > net["ci_high"] and net["estimate"] == -1.0


def test_topic_table_template_scope() -> None:
    topics = metrics.topic_table(strong_topic())
    templates = topics[topics["scope"] == "template"]
    assert set(templates["template"]) == {"tm0", "tm1", "tm2"} and set(templates["topic"]) == {""}
    rates = templates[templates["metric"] == "refusal_rate"]
    assert rates["n"].sum() == 2 * 42


def test_topic_rates_are_wilson() -> None:
    df = simulated(seed=2)
    topics = metrics.topic_table(df)
    one = topics[(topics["topic"] == "topic3") & (topics["metric"] == "refusal_rate")].iloc[0]
    ref = stats.wilson_ci(one["k"], one["n"])
    assert (one["estimate"], one["ci_low"], one["ci_high"]) == pytest.approx(
        (ref.estimate, ref.low, ref.high))


def test_audit_tables_equal_the_separate_tables() -> None:
    df = simulated(seed=4, targets=("m1", "m2"))
    tables = metrics.audit_tables(df)
    pd.testing.assert_frame_equal(tables.summary, metrics.summary_table(df))
    pd.testing.assert_frame_equal(tables.pairs, metrics.pairs_table(df))
    pd.testing.assert_frame_equal(tables.topics, metrics.topic_table(df))


# --- several samples per prompt ----------------------------------------------------------------


def per_pair_counts(df: pd.DataFrame) -> pd.DataFrame:
    """Oracle: valid pair × sample rows summed per pair (n, b, c) with topic and template."""
    valid = metrics.pairs_table(df).query("valid")
    return valid.assign(n=1, b=valid["refused_side"] == "a", c=valid["refused_side"] == "b") \
        .groupby(["pair_id", "topic", "template"])[["n", "b", "c"]].sum().reset_index()


def test_several_samples_test_direction_on_pairs() -> None:
    df = simulated(seed=9, samples=3)
    summary = metrics.summary_table(df)
    per = per_pair_counts(df)
    lean_a, lean_b = int((per["b"] > per["c"]).sum()), int((per["c"] > per["b"]).sum())
    exact = row(summary, "mcnemar_exact_p")
    assert exact["estimate"] == pytest.approx(sps.binomtest(lean_a, lean_a + lean_b).pvalue)
    assert (exact["k"], exact["n"], exact["method"]) == (lean_a, lean_a + lean_b,
                                                         "sign-test(pairs)")
    assert row(summary, "mcnemar_midp")["method"] == "sign-test-midp(pairs)"
    bp = row(summary, "net_direction_bp")
    ref = stats.clustered_bp_ci(per["b"], per["c"], per["n"], cluster="pair")
    assert (bp["ci_low"], bp["ci_high"], bp["method"]) == (
        pytest.approx(ref.low), pytest.approx(ref.high), "bonett-price(pair deff)")
    share = row(summary, "direction_share_a")
    ref = stats.kg_ci(per["b"], per["b"] + per["c"], cluster="pair")
    assert (share["ci_low"], share["ci_high"]) == pytest.approx((ref.low, ref.high))
    assert share["k"] == per["b"].sum()  # still counts discordant samples
    # the topic-clustered headline rows are unchanged by the switch
    assert row(summary, "net_direction")["method"] == "bonett-price(topic deff)"
    assert row(summary, "refusal_rate")["method"] == "kg-cp+re(topic)"


def test_several_samples_per_topic_rows_cluster_samples() -> None:
    df = simulated(seed=9, samples=3)
    topics = metrics.topic_table(df)
    per = per_pair_counts(df)
    asym = topics[(topics["scope"] == "topic") & (topics["metric"] == "asymmetric_refusal_rate")]
    for _, got in asym.iterrows():
        mine = per[per["topic"] == got["topic"]]
        lean_a, lean_b = int((mine["b"] > mine["c"]).sum()), int((mine["c"] > mine["b"]).sum())
        ref_p = sps.binomtest(lean_a, lean_a + lean_b).pvalue if lean_a + lean_b else 1.0
        assert got["p_value"] == pytest.approx(ref_p)
        ci = stats.kg_ci(mine["b"] + mine["c"], mine["n"], cluster="pair")
        assert (got["ci_low"], got["ci_high"]) == pytest.approx((ci.low, ci.high))
        assert got["method"] == ci.method + "; sign-test(pairs)"
    assert asym["q_value"].to_numpy() == pytest.approx(stats.bh_qvalues(asym["p_value"]))
    net = topics[(topics["scope"] == "template") & (topics["metric"] == "net_direction")].iloc[0]
    mine = per[per["template"] == net["template"]]
    ci = stats.clustered_bp_ci(mine["b"], mine["c"], mine["n"], cluster="pair")
    assert (net["ci_low"], net["ci_high"], net["method"]) == (
        pytest.approx(ci.low), pytest.approx(ci.high), ci.method)
    rate = topics[(topics["scope"] == "topic") & (topics["metric"] == "refusal_rate")].iloc[0]
    answers = df[(df["kind"] == "contested") & df["label"].isin(metrics.ANSWER_LABELS)
                 & (df["topic"] == rate["topic"])]
    by_prompt = answers.assign(y=answers["label"] == "refusal").groupby("prompt_id")["y"]
    ci = stats.kg_ci(by_prompt.sum(), by_prompt.size(), cluster="prompt")
    assert (rate["ci_low"], rate["ci_high"]) == pytest.approx((ci.low, ci.high))


def test_several_samples_strong_topic_still_flagged() -> None:
    """Topic 'hot' leans B in all 12 pairs, 3 samples each: 12 leaning pairs, not 36 rows."""
    base = strong_topic()
    df = pd.concat([base.assign(sample=s) for s in range(3)], ignore_index=True)
    topics = metrics.topic_table(df)
    hot = topics[(topics["topic"] == "hot") & (topics["metric"] == "asymmetric_refusal_rate")]
    assert hot["p_value"].iloc[0] == pytest.approx(stats.mcnemar_exact(0, 12).p_value)
    assert bool(hot["flagged"].iloc[0])
    net = topics[(topics["topic"] == "hot") & (topics["metric"] == "net_direction")].iloc[0]
    assert net["fcr_ci_low"] <= net["ci_low"] and net["estimate"] == -1.0


def as_categories(df: pd.DataFrame) -> pd.DataFrame:
    """The pipeline's compact frame: every text column a categorical (unused categories too)."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            values = out[col].astype(object)
            cats = pd.Index(["unused", *values.dropna().unique()], dtype=object).unique()
            out[col] = pd.Categorical(values, categories=cats[::-1])  # not in sorted order
    return out


def messy_two_targets() -> pd.DataFrame:
    """Two targets, 2 samples, one-sided pairs, a repeated row and untidy text."""
    df = simulated(seed=3, samples=2, targets=("m1", "m2"))
    df = pd.concat([df.drop(index=df.index[::13]), df.iloc[[5]]], ignore_index=True)
    df.loc[df.index[::7], "label"] = " Refusal "
    df.loc[df.index[::11], "side"] = "B"
    df.loc[df.index[::17], "lean"] = None
    return df


def test_categorical_input_gives_the_same_tables_and_comparison() -> None:
    from audit.stats import _compare as compare
    plain = messy_two_targets()
    compact = as_categories(plain)
    a, b = metrics.audit_tables(plain), metrics.audit_tables(compact)
    for name in ("summary", "pairs", "topics"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)
    assert (a.pairs["label_a"] == "").any() or (a.pairs["label_b"] == "").any()  # one-sided pairs
    assert a.pairs["sample"].dtype == np.int64 and a.pairs["valid"].dtype == bool
    pd.testing.assert_frame_equal(compare.compare_targets(plain, "m1", "m2"),
                                  compare.compare_targets(compact, "m1", "m2"), check_exact=True)


def test_normalised_frame_is_compact() -> None:
    df = metrics.normalise_responses(as_categories(messy_two_targets()))
    for col in ("target", "pair_id", "side", "topic", "prompt_id", "label", "kind", "lean"):
        assert isinstance(df[col].dtype, pd.CategoricalDtype), col
        cats = list(df[col].cat.categories)
        assert cats == sorted(cats) and "unused" not in cats, col  # sorted: groups in text order
        assert df[col].cat.codes.dtype.itemsize <= 2, col
    assert set(df["side"].cat.categories) == {"a", "b", ""} - ({""} - set(df["side"]))
    assert "refusal" in set(df["label"].cat.categories)
    flags = ["truncated", "contested", "answer", "strict", "broad", "is_error"]
    assert all(df[c].dtype == bool for c in flags)
    assert df.memory_usage(deep=False, index=False).sum() < 40 * len(df)


def correlated_runs(seed: int, reps: int, pairs: int = 120, samples: int = 3, rate: float = 0.1,
                    icc: float = 0.8) -> pd.DataFrame:
    """``reps`` audits (one target each): only side A ever refuses, with a beta-binomial pair
    rate (mean ``rate``, intra-pair correlation ``icc``) over ``samples`` samples per pair."""
    rng = np.random.default_rng(seed)
    s = 1.0 / icc - 1.0
    p = rng.beta(rate * s, (1.0 - rate) * s, (reps, pairs))
    only_a = (rng.random((reps, pairs, samples)) < p[..., None]).ravel()
    r, i, j = np.unravel_index(np.arange(only_a.size), (reps, pairs, samples))
    pid = np.char.add("p", i.astype(str))
    base = {"target": np.char.add("r", r.astype(str)), "kind": "contested",
            "topic": np.char.add("t", (i % 30).astype(str)), "pair_id": pid, "sample": j}
    side_a = pd.DataFrame({**base, "side": "a", "prompt_id": np.char.add(pid, ".a"),
                           "lean": "left", "label": np.where(only_a, "refusal", "compliance")})
    side_b = pd.DataFrame({**base, "side": "b", "prompt_id": np.char.add(pid, ".b"),
                           "lean": "right", "label": "compliance"})
    return pd.concat([side_a, side_b], ignore_index=True)


def test_several_samples_cell_and_lean_rates_cover_with_correlated_samples() -> None:
    """3 samples per pair with intra-pair correlation 0.8 (DEFF ≈ 2.6), true rate 10%:
    the pair-clustered KG-CP of ``only_a_refused`` (and the prompt-clustered per-lean rate)
    keep near-nominal coverage; the old Wilson interval over pair × sample rows does not."""
    reps, truth = 200, 0.1
    summary = metrics.summary_table(correlated_runs(seed=1, reps=reps))
    cell = summary[summary["metric"] == "only_a_refused"]
    lean = summary[summary["metric"] == "refusal_rate_lean_left"]
    assert len(cell) == len(lean) == reps
    assert set(cell["method"]) == {"kg-cp(pair)"} and set(lean["method"]) == {"kg-cp(prompt)"}
    covered = ((cell["ci_low"] <= truth) & (truth <= cell["ci_high"])).mean()
    lean_covered = ((lean["ci_low"] <= truth) & (truth <= lean["ci_high"])).mean()
    low, high = stats.wilson_bounds(cell["k"], cell["n"])  # the interval these rows had before
    wilson_covered = ((low <= truth) & (truth <= high)).mean()
    assert covered >= 0.92 and lean_covered >= 0.92
    assert wilson_covered <= 0.88


def test_several_samples_cell_rows_are_pair_clustered_and_single_sample_stays_wilson() -> None:
    df = simulated(seed=9, samples=3)
    summary = metrics.summary_table(df)
    valid = metrics.pairs_table(df).query("valid")
    side = valid["refused_side"]
    per = valid.assign(n=1, both=side == "both", a=side == "a", b=side == "b",
                       neither=side == "").groupby("pair_id")[["n", "both", "a", "b",
                                                               "neither"]].sum()
    for metric, col in (("both_refused", "both"), ("only_a_refused", "a"),
                        ("only_b_refused", "b"), ("neither_refused", "neither")):
        got, ref = row(summary, metric), stats.kg_ci(per[col], per["n"], cluster="pair")
        assert (got["ci_low"], got["ci_high"]) == pytest.approx((ref.low, ref.high))
        assert (got["method"], got["clusters"], got["k"]) == (ref.method, len(per),
                                                               per[col].sum())
    # per-lean rates: the cluster is the lean's prompt (one per pair)
    pairs = valid[(valid["lean_a"] != "") & (valid["lean_b"] != "")]
    left = np.where(pairs["lean_a"] == "left", pairs["label_a"], pairs["label_b"]) == "refusal"
    by_prompt = pd.Series(left).groupby(pairs["pair_id"].to_numpy())
    got = row(summary, "refusal_rate_lean_left")
    ref = stats.kg_ci(by_prompt.sum(), by_prompt.size(), cluster="prompt")
    assert (got["ci_low"], got["ci_high"], got["method"]) == (
        pytest.approx(ref.low), pytest.approx(ref.high), "kg-cp(prompt)")
    one = metrics.summary_table(simulated(seed=9, samples=1))
    for metric in ("both_refused", "only_a_refused", "only_b_refused", "neither_refused",
                   "refusal_rate_lean_left", "refusal_rate_lean_right"):
        got = row(one, metric)
        ref = stats.wilson_ci(got["k"], got["n"])
        assert (got["method"], got["ci_low"], got["ci_high"]) == ("wilson", ref.low, ref.high)


# --- memory-lean internals (issue 9): the same tables as pandas' own operations -----------------


def test_compact_pairs_table_has_the_same_values_and_writes_the_same_csv(tmp_path: Any) -> None:
    from audit.csvio import write_csv

    df = messy_two_targets()
    hostile = ["=1+1", "-2", "@x", "\tx", "\0x", "+cmd"]
    for col, step in (("stance", 3), ("topic", 5), ("template", 4), ("lean", 6)):
        df.loc[df.index[::step], col] = [hostile[i % len(hostile)] for i in range(len(df.index[::step]))]
    plain, compact = metrics.audit_tables(df), metrics.audit_tables(df, compact_pairs=True)
    assert list(compact.pairs.columns) == metrics.PAIRS_COLUMNS
    text = [c for c in metrics.PAIRS_COLUMNS if c not in ("sample", "valid", "asymmetric")]
    assert all(isinstance(compact.pairs[c].dtype, pd.CategoricalDtype) for c in text)
    assert compact.pairs["sample"].dtype == np.int64 and compact.pairs["valid"].dtype == bool
    assert compact.pairs.astype(object).equals(plain.pairs.astype(object))
    for name in ("summary", "topics"):
        pd.testing.assert_frame_equal(getattr(compact, name), getattr(plain, name), check_exact=True)
    a = write_csv(plain.pairs, tmp_path / "plain.csv").read_bytes()
    assert write_csv(compact.pairs, tmp_path / "compact.csv").read_bytes() == a
    assert b"'=1+1" in a and b",-2," in a and b"'@x" in a


def coded(codes: np.ndarray, size: int) -> pd.Series:
    """A categorical of ``size`` sorted categories."""
    cats = pd.Index([f"c{i:06d}" for i in range(size)], dtype=object)
    return pd.Series(pd.Categorical.from_codes(codes, categories=cats))


@pytest.mark.parametrize("sort", [True, False])
@pytest.mark.parametrize("sizes", [(2, 3), (2, 50_000, 3), (70_000, 70_000, 70_000, 70_000)])
def test_group_ids_number_groups_like_groupby(sizes: tuple[int, ...], sort: bool,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # dense lookup; more combinations than rows (sorted distinct codes); an int64 overflow
    # (renumbered after three columns); blocks of 7 rows
    monkeypatch.setattr(_grouping, "_BLOCK", 7)
    rng = np.random.default_rng(len(sizes))
    n = 300
    columns = [coded(rng.integers(0, min(size, 40), n) * (size // 40 or 1), size) for size in sizes]
    rows = rng.random(n) < 0.8
    ids, first = _grouping._group_ids(columns, rows, sort=sort)
    frame = pd.DataFrame({f"k{i}": c for i, c in enumerate(columns)})[rows]
    want = frame.groupby(list(frame.columns), sort=sort, observed=True).ngroup().to_numpy()
    assert ids.tolist() == want.tolist()
    assert first.tolist() == [int(np.flatnonzero(want == g)[0]) for g in range(len(first))]
    empty, none = _grouping._group_ids(columns, np.zeros(n, dtype=bool), sort=sort)
    assert len(empty) == 0 and len(none) == 0


def test_normalised_sample_is_narrow_and_keeps_its_values() -> None:
    for values, kind in (([0, 1, 2], np.int8), ([0, 300], np.int16), ([-5, 2**40], np.int64)):
        df = pd.DataFrame({"sample": values, "label": "refusal"})
        out = metrics.normalise_responses(df)["sample"]
        assert out.dtype == kind and out.tolist() == values
    df = simulated(seed=1, samples=3, targets=("m1", "m2"))
    rows = (df["target"] == "m2").to_numpy()
    pd.testing.assert_frame_equal(_normalise._normalise(df, rows),
                                  metrics.normalise_responses(df[rows]), check_exact=True)
