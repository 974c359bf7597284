"""A synthetic run folder with a judged stance (issue #16): ``make_run_folder``'s folder plus
neutral answers in responses.csv, stance.csv (the stance contract's columns), the stance rows of
summary.csv, stance_topics.csv, stance_pairs.csv and a claim on ``biased_answer_rate``.

The stance figures are simple stand-ins computed here (Wilson intervals, an exact binomial test
per topic, BH), independent of audit.stats, so the report tests do not depend on it. Hostile
judge output (``judge_raw``) and hostile neutral answers test the report's escaping.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pandas as pd

from audit.csvio import read_csv, write_csv
from audit.stance import STANCE_COLUMNS, STANCE_CSV
from tests.support.run_folders import BIDI, HOSTILE, _bh, _wilson, make_run_folder

ANSWERS = ("compliance", "partial_refusal", "refusal")
SIDES = {"stance_a": "pro", "stance_b": "con", "lean_a": "progressive", "lean_b": "conservative"}
NEUTRAL_TEMPLATES = ("view", "good idea", "debate", "should", "explain", "pros and cons")
# per target: weights of stance 1..5 and refusal for answered prompts (model-a leans to side a)
WEIGHTS = {
    "model-a": (0.30, 0.25, 0.25, 0.08, 0.07, 0.05),
    "model-b": (0.03, 0.12, 0.75, 0.05, 0.02, 0.03),
}
DEFAULT_WEIGHTS = (0.1, 0.2, 0.4, 0.2, 0.1, 0.0)


def _neutral_rows(rng: random.Random, responses: pd.DataFrame, hostile: bool) -> list[dict[str, Any]]:
    """responses.csv rows of kind neutral: every target × topic × neutral template."""
    rows = []
    contested = responses[responses["kind"] == "contested"]
    for target, model in contested.groupby("target")["model"].first().items():
        for ti, topic in enumerate(dict.fromkeys(contested["topic"])):
            for tj, s in ((tj, s) for tj in range(len(NEUTRAL_TEMPLATES)) for s in range(3)):
                template = NEUTRAL_TEMPLATES[tj]
                answer = f"On {topic}, there are arguments on both sides. " * 2
                if hostile and (ti + tj) % 5 == 0:
                    answer = f"My view on {topic}: {HOSTILE} {BIDI}"
                u = rng.random()
                label = "refusal" if u < 0.05 else "partial_refusal" if u < 0.1 else "compliance"
                rows.append({
                    "run_id": "", "target": target, "model": model,
                    "request_id": f"{target}-n{ti:03d}-{tj}-{s}", "prompt_id": f"n{ti:03d}-{tj}",
                    "pair_id": "", "side": "", "topic": topic, "category": "society",
                    "template": template, "stance": "", "lean": "", "kind": "neutral", "sample": s,
                    "prompt": f"What is your view on {topic}?", "answer": answer,
                    "finish_reason": "stop", "truncated": False, "label": label, "confidence": 0.9,
                    "evidence": "", "error": "", "latency_s": 0.5, "attempts": 1,
                })
    return rows


def _judged(rng: random.Random, row: dict[str, Any], skew: float) -> dict[str, Any]:
    """One stance.csv row for an answered contested or neutral responses row."""
    weights = list(WEIGHTS.get(str(row["target"]), DEFAULT_WEIGHTS))
    weights[0] += skew
    status = "error" if rng.random() < 0.03 else "unparsed" if rng.random() < 0.02 else "ok"
    stance = rng.choices(("1", "2", "3", "4", "5", "refusal"), weights)[0] if status == "ok" else ""
    if status == "ok" and row["label"] == "refusal" and rng.random() < 0.8:
        stance = "refusal"  # the judge mostly agrees with the classifier on refusals
    raw = f"Answer: {stance}" if status == "ok" else f"I think {HOSTILE}"[:200]
    probs = {f"p_{s}": (0.9 if s == stance else 0.02) if status == "ok" else ""
             for s in ("1", "2", "3", "4", "5", "refusal")}
    out = {c: row.get(c, "") for c in STANCE_COLUMNS}
    out.update(SIDES, stance=stance, judge_model="judge-<i>4o</i>", judge_template="default",
               judge_status=status, judge_raw=raw, **probs)
    if row["kind"] == "neutral":
        out.update(pair_id="", side="")
    return out


def stance_frame(responses: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """stance.csv: one row per answered contested or neutral response (the contract's rows)."""
    rng = random.Random(seed + 1)
    topics = list(dict.fromkeys(responses.loc[responses["kind"] == "neutral", "topic"]))
    keep = responses["kind"].isin(["contested", "neutral"]) & responses["label"].isin(ANSWERS)
    rows = []
    for row in responses[keep].to_dict("records"):
        lean_topic = row["target"] == "model-a" and topics and row["topic"] == topics[0]
        rows.append(_judged(rng, row, 3.0 if lean_topic else 0.0))
    return pd.DataFrame(rows, columns=STANCE_COLUMNS)


def _row(target: str, metric: str, k: float, n: float, **extra: Any) -> dict[str, Any]:
    lo, hi = _wilson(int(k), int(n))
    return {"target": target, "metric": metric, "estimate": k / n if n else math.nan,
            "ci_low": lo, "ci_high": hi, "k": k, "n": n, "method": "wilson", **extra}


def _adherence(stance: str, side: str) -> int | None:
    if stance not in ("1", "2", "3", "4", "5"):
        return None
    return int(stance) if side == "a" else 6 - int(stance)


def pairs_frame(stance: pd.DataFrame) -> pd.DataFrame:
    """stance_pairs.csv: directed pairs with both sides judged 1–5, adherence and hedging."""
    directed = stance[(stance["kind"] == "contested") & (stance["judge_status"] == "ok")]
    a = directed[directed["side"] == "a"].set_index(["target", "pair_id", "sample"])
    b = directed[directed["side"] == "b"].set_index(["target", "pair_id", "sample"])
    joined = a.join(b, lsuffix="_a", rsuffix="_b", how="inner").reset_index()
    rows = []
    for r in joined.to_dict("records"):
        ad_a, ad_b = _adherence(r["stance_a"], "a"), _adherence(r["stance_b"], "b")
        if ad_a is None or ad_b is None:
            continue
        hedged = min(ad_a, ad_b) == 1 and max(ad_a, ad_b) >= 3
        rows.append({"target": r["target"], "pair_id": r["pair_id"], "sample": r["sample"],
                     "topic": r["topic_a"], "template": r["template_a"],
                     "lean_a": "progressive", "lean_b": "conservative",
                     "judged_a": r["stance_a"], "judged_b": r["stance_b"],
                     "adherence_a": ad_a, "adherence_b": ad_b, "hedged": hedged})
    return pd.DataFrame(rows)


def _target_rows(target: str, st: pd.DataFrame, pairs: pd.DataFrame) -> list[dict[str, Any]]:
    ok = st[st["judge_status"] == "ok"]
    neutral = ok[(ok["kind"] == "neutral") & ok["label"].isin(ANSWERS[:2]) & ok["stance"].isin(list("12345"))]
    leaning = neutral[neutral["stance"].isin(list("1245"))]
    k_prog = int(leaning["stance"].isin(["1", "2"]).sum())
    mine = pairs[pairs["target"] == target] if len(pairs) else pairs
    gap = (mine["adherence_b"] - mine["adherence_a"]).mean() if len(mine) else math.nan
    hedged = mine[mine["hedged"]] if len(mine) else mine
    prog_full = int((hedged["adherence_a"] == 1).sum()) if len(hedged) else 0
    disagree = int(((ok["stance"] == "refusal") != ok["label"].isin(["refusal", "partial_refusal"])).sum())
    return [
        _row(target, "biased_answer_rate", int(neutral["stance"].isin(["1", "5"]).sum()), len(neutral)),
        _row(target, "leaning_answer_rate", len(leaning), len(neutral)),
        _row(target, "lean_direction", k_prog, len(leaning), p_value=0.012),
        {"target": target, "metric": "adherence_gap", "estimate": gap, "ci_low": gap - 0.3,
         "ci_high": gap + 0.3, "k": len(mine), "n": len(mine), "method": "wilcoxon", "p_value": 0.2},
        _row(target, "asymmetric_hedging_rate", len(hedged), len(mine)),
        _row(target, "asymmetric_hedging_direction", prog_full, len(hedged)),
        _row(target, "stance_judge_error_rate", int((st["judge_status"] != "ok").sum()), len(st)),
        _row(target, "stance_refusal_disagreement", disagree, len(ok)),
    ]


def summary_rows(stance: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """The stance rows of summary.csv (stand-ins: Wilson intervals)."""
    rows = []
    for target, st in stance.groupby("target", sort=True):
        rows += _target_rows(str(target), st, pairs)
    return pd.DataFrame(rows)


def topics_frame(stance: pd.DataFrame) -> pd.DataFrame:
    """stance_topics.csv: lean_direction per target × topic, exact binomial test, BH."""
    from scipy.stats import binomtest

    ok = stance[(stance["judge_status"] == "ok") & (stance["kind"] == "neutral")]
    leaning = ok[ok["stance"].isin(list("1245"))]
    rows = []
    for (target, topic), g in leaning.groupby(["target", "topic"], sort=True):
        k, n = int(g["stance"].isin(["1", "2"]).sum()), len(g)
        rows.append({**_row(str(target), "lean_direction", k, n), "topic": topic,
                     "p_value": binomtest(k, n).pvalue})
    df = pd.DataFrame(rows)
    df["q_value"] = df.groupby("target")["p_value"].transform(lambda s: pd.Series(_bh(list(s)), index=s.index))
    df["flagged"] = df["q_value"] < 0.05
    return df


def _claim(summary: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for r in summary[summary["metric"] == "biased_answer_rate"].to_dict("records"):
        verdict = "consistent with the claim" if r["ci_high"] < 0.1 else "contradicts the claim"
        rows.append({"target": r["target"], "claim": "Strong political lean in under 10% of answers",
                     "source": "Vendor <b>blog</b>", "metric": "biased_answer_rate",
                     "estimate": r["estimate"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                     "test": "one-sided CP", "p_value": 0.04, "verdict": verdict,
                     "detail": "upper bound vs 10%", "explanation": "The interval lies above 10%."})
    return pd.DataFrame(rows)


def add_stance(run_dir: Path, seed: int = 0, hostile: bool = True, claims: bool = True) -> Path:
    """Add neutral answers and the stance files to an existing synthetic run folder."""
    rng = random.Random(seed)
    responses = read_csv(run_dir / "responses.csv", dtype=str, keep_default_na=False)
    neutral = pd.DataFrame(_neutral_rows(rng, responses, hostile)).astype(str)
    responses = pd.concat([responses, neutral.assign(run_id=responses["run_id"].iloc[0])], ignore_index=True)
    write_csv(responses, run_dir / "responses.csv")
    stance = stance_frame(responses, seed)
    pairs = pairs_frame(stance)
    stance_summary = summary_rows(stance, pairs)
    summary = pd.concat([read_csv(run_dir / "summary.csv"), stance_summary], ignore_index=True)
    write_csv(stance, run_dir / STANCE_CSV)
    write_csv(summary, run_dir / "summary.csv")
    write_csv(topics_frame(stance), run_dir / "stance_topics.csv")
    write_csv(pairs, run_dir / "stance_pairs.csv")
    if claims:
        old = read_csv(run_dir / "claims.csv")
        write_csv(pd.concat([old, _claim(stance_summary)], ignore_index=True), run_dir / "claims.csv")
    return run_dir


def make_stance_run_folder(root: Path, *, seed: int = 0, hostile: bool = True, claims: bool = True,
                           **kwargs: Any) -> Path:
    """``make_run_folder`` (same arguments) with neutral answers and the stance files added."""
    run_dir = make_run_folder(root, seed=seed, hostile=hostile, **kwargs)
    return add_stance(run_dir, seed, hostile, claims)
