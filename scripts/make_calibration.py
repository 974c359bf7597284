"""Write ``audit/data/calibration.json``: the shipped calibration of the ``rules`` classifier.

    .venv/bin/python scripts/make_calibration.py [--data ../shared/data] [--out FILE]

It runs the code of ``refusal-audit classifier evaluate --save-calibration`` (``load_gold_files``,
``classify_frame`` with the ``rules`` classifier, ``score_sources``, ``Evaluation.calibration``)
on the development data, pooled: XSTest v2's three completion files (``--format xstest``, GPT-4,
Llama-2 and Mistral-Instruct answers, 1,350) and IssueBench's ``stance_dev.csv``
(``--format issuebench``, 190 answers of five models). Beside the figures the file says where
they come from (files, formats, per-file counts, the command, the date) and what they are for:
the claims' classifier check (``claims.csv`` ``classifier_check``) when a run configures no
``calibration`` of its own. They never correct ``summary.csv``'s rates (docs/methods.md).

The rules were written by reading errors on these very files, so the figures are in-sample and
rather optimistic, and they measure other models' answers, which may not represent the audited
model's. Run this again whenever the rules change: tests/stats/test_shipped_calibration.py
fails while the shipped file no longer matches what this script computes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd

from audit import __version__
from audit.classify import classify_frame, make_classifier
from audit.classify._gold import Evaluation, load_gold_files
from audit.cli._classifier import score_sources

DEFAULT_DATA = ROOT.parent / "shared" / "data"
DEFAULT_OUT = ROOT / "audit" / "data" / "calibration.json"
XSTEST = ("xstest_v2_completions_gpt4.csv", "xstest_v2_completions_llama2new.csv",
          "xstest_v2_completions_mistralinstruct.csv")
ISSUEBENCH = "stance_dev.csv"
ABOUT = {
    "description": (
        "Sensitivity and specificity of the rules classifier, measured on human-labelled answers "
        "of other models: XSTest v2 (Röttger et al., NAACL 2024; GPT-4, Llama-2, Mistral-Instruct) "
        "and IssueBench stance_dev (Röttger et al., 2025). These answers may not represent the "
        "audited model's answers, and the rules were written by reading errors on these same "
        "files, so the figures are in-sample and rather optimistic."),
    "used_for": (
        "claims.csv classifier_check only (does a claim's verdict survive the classifier's "
        "error?), when a run configures no calibration of its own; it never corrects "
        "summary.csv's rates: set calibration = FILE (refusal-audit classifier evaluate "
        "--save-calibration FILE on answers like yours) for that."),
}


def gold_frame(data: Path) -> pd.DataFrame:
    """The pooled gold answers (XSTest and IssueBench), as ``classifier evaluate`` loads them."""
    xstest = [data / "xstest" / name for name in XSTEST]
    issuebench = [data / "issuebench" / ISSUEBENCH]
    missing = [str(p) for p in (*xstest, *issuebench) if not p.is_file()]
    if missing:
        raise SystemExit(f"no such file: {missing[0]} — pass --data (the shared data folder)")
    frames = [load_gold_files(xstest, "xstest"), load_gold_files(issuebench, "issuebench")]
    return pd.concat(frames, ignore_index=True).rename(columns={"label": "gold_label"})


def counts(ev: Evaluation) -> dict[str, Any]:
    """One source's gold counts and hits (broad and strict)."""
    return {"file": ev.gold[0], "format": "issuebench" if ev.gold[0] == ISSUEBENCH else "xstest",
            "n": ev.n, "n_pos": ev.sensitivity.n, "tp": ev.sensitivity.k,
            "n_neg": ev.specificity.n, "tn": ev.specificity.k,
            "strict_n_pos": ev.strict_sensitivity.n, "strict_tp": ev.strict_sensitivity.k,
            "strict_n_neg": ev.strict_specificity.n, "strict_tn": ev.strict_specificity.k}


def calibration(data: Path, created: str) -> dict[str, Any]:
    """The shipped calibration: the pooled figures, what they are for and where they come from."""
    classifier = make_classifier("rules")
    labelled = classify_frame(gold_frame(data), classifier, prompt_column="prompt",
                              answer_column="response")
    pooled, per_file = score_sources(labelled, classifier.name)
    provenance = {
        "made_by": "scripts/make_calibration.py (the code of refusal-audit classifier evaluate "
                   "--save-calibration, XSTest files with --format xstest, IssueBench with "
                   "--format issuebench, pooled)",
        "classifier_version": f"rules classifier of refusal-audit {__version__} "
                              "(audit/classify/rules: phrase and structure rules, nothing learned)",
        "created": created,
        "sources": [counts(ev) for ev in per_file],
    }
    return ABOUT | pooled.calibration().model_dump(mode="json") | {"provenance": provenance}


def main(argv: list[str] | None = None) -> int:
    """Write the calibration file; print its headline figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the file")
    parser.add_argument("--date", default=dt.date.today().isoformat(), help="the created date")
    args = parser.parse_args(argv)
    cal = calibration(args.data, args.date)
    args.out.write_text(json.dumps(cal, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    strict = cal["strict"]
    print(f"broad: Se {cal['sensitivity']:.3f} ({cal['tp']}/{cal['n_pos']}), Sp "
          f"{cal['specificity']:.3f} ({cal['tn']}/{cal['n_neg']}); strict: Se "
          f"{strict['sensitivity']:.3f} ({strict['tp']}/{strict['n_pos']}), Sp "
          f"{strict['specificity']:.3f} ({strict['tn']}/{strict['n_neg']}) → {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
