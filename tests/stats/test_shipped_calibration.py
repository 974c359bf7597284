"""The shipped classifier calibration (audit/data/calibration.json): what it says, that the
claims' classifier check uses it (and only that check), that a run's own calibration file
overrides it, and that scripts/make_calibration.py reproduces it from the development data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from scipy.stats import beta

from audit import run as pl
from audit.config import build_config
from audit.fakeserver import FakeOpenAI
from audit.send._runner import RetryPolicy
from audit.stats import _misclassification as mis
from audit.stats._claims import evaluate_claims, parse_claim
from tests.support.prompt_sets import mini_set

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "audit" / "data" / "calibration.json"
DATA = ROOT.parent / "shared" / "data"
ALPHA = 0.05


def shipped_file() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SHIPPED.read_text(encoding="utf-8"))
    return data


def pct(value: float) -> str:
    return f"{value * 100:.3g}%"


def test_the_package_finds_its_calibration_and_says_what_it_measures() -> None:
    data = shipped_file()
    found = mis.shipped_calibration()
    assert found == data | {"origin": mis.SHIPPED}
    assert data["classifier"] == "rules" and data["positive"] == "refusal or partial_refusal"
    assert "XSTest" in data["description"] and "may not represent the audited model" in data["description"]
    assert "never corrects summary.csv" in data["used_for"]
    for part in (data, data["strict"]):
        assert part["sensitivity"] == part["tp"] / part["n_pos"]
        assert part["specificity"] == part["tn"] / part["n_neg"]
    sources = data["provenance"]["sources"]
    assert [s["file"] for s in sources] == data["gold"]
    for key in ("n_pos", "tp", "n_neg", "tn"):
        assert sum(s[key] for s in sources) == data[key]
        assert sum(s[f"strict_{key}"] for s in sources) == data["strict"][key]


def corrected(p: float, se: float, sp: float) -> float:
    """Rogan–Gladen by hand: (p + Sp − 1)/(Se + Sp − 1), clipped to [0, 1]."""
    return min(1.0, max(0.0, (p + sp - 1) / (se + sp - 1)))


def kind_below(v: float, low: float, high: float) -> str:
    return "consistent" if high < v else "contradicts" if low > v else "inconclusive"


def check(k: int, n: int, v: float) -> tuple[pd.Series, str, str, str]:
    """The claims.csv row of "refusal_rate < v" on k of n, with the package's default
    calibration; and by hand: the verdict, the corrected verdict and the corrected bounds."""
    row = evaluate_claims({"refusal_rate": (k, n)}, [parse_claim(f"refusal_rate < {v}")]).iloc[0]
    low, high = beta.ppf(ALPHA, k, n - k + 1), beta.ppf(1 - ALPHA, k + 1, n - k)  # exact CP
    se, sp = shipped_file()["strict"]["sensitivity"], shipped_file()["strict"]["specificity"]
    c_low, c_high = corrected(low, se, sp), corrected(high, se, sp)
    return (row, kind_below(v, low, high), kind_below(v, c_low, c_high),
            f"Se {se:.3f}, Sp {sp:.3f} from {mis.SHIPPED}: corrected bounds {pct(c_low)}–{pct(c_high)}")


def test_a_verdict_at_its_boundary_flips_and_a_far_one_survives() -> None:
    n, v = 2000, 0.02
    # the smallest count whose lower bound is above 2%: "contradicts" by a hair
    k = next(k for k in range(n) if beta.ppf(ALPHA, k, n - k + 1) > v)
    row, kind, fixed, words = check(k, n, v)
    assert kind == "contradicts" and row["verdict"] == "contradicts the claim"
    assert fixed != kind, "the shipped Se/Sp no longer move a boundary verdict: pick another case"
    assert row["classifier_check"] == f"depends on the classifier ({words}, {fixed})"
    assert (f"but it depends on the classifier: corrected for the classifier's measured error "
            f"(per {mis.SHIPPED}) the verdict would be {fixed}") in row["explanation"]

    far, kind, fixed, words = check(600, n, v)  # 30% against "< 2%"
    assert kind == fixed == "contradicts"
    assert far["classifier_check"] == f"survives the classifier's error ({words}, {fixed})"
    assert f"and it survives the classifier's measured error (per {mis.SHIPPED})" in far["explanation"]


def test_the_shipped_calibration_is_for_the_rules_classifier_only() -> None:
    assert mis.claims_calibration(None, None, "rules") == mis.shipped_calibration()
    # a run's own file wins even when it says nothing usable (and names itself)
    assert mis.claims_calibration({}, "cal/empty.json", "rules") == {"origin": "the calibration file empty.json"}
    judge = mis.claims_calibration(None, None, "judge")
    row = evaluate_claims({"refusal_rate": (5, 1000)}, [parse_claim("refusal_rate < 2%")],
                          calibration=judge).iloc[0]
    assert row["classifier_check"].startswith(f"{mis.NOT_CHECKED} (the shipped one measures the rules "
                                              "classifier, not judge;")
    assert "classifier" not in row["explanation"]


FAST = RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.02)


def audit(tmp_path: Path, url: str, name: str, **extra: Any) -> pl.Tables:
    prompts = mini_set(tmp_path / f"{name}.jsonl", refuse_b=("guns",))
    target = {"base_url": url, "model": "fake-model", "name": name, "concurrency": 4, "timeout": 2}
    config = build_config({"prompts": str(prompts), "targets": [target], "batch_size": 5,
                           "reports_dir": str(tmp_path / name), "drift_alpha": None, **extra})
    return pl.run_audit(config, {name: None}, policy=FAST)[1]


def test_a_runs_own_calibration_overrides_the_shipped_one_which_corrects_no_rate(
        tmp_path: Path, fake_server: FakeOpenAI) -> None:
    plain = audit(tmp_path, fake_server.url, "plain")
    assert not plain.summary["metric"].str.endswith("_corrected").any()  # the shipped one: claims only
    checks = plain.claims.loc[plain.claims["metric"] == "refusal_rate", "classifier_check"]
    assert len(checks) >= 1 and all(f"from {mis.SHIPPED}:" in c for c in checks)

    own = tmp_path / "mine.json"
    own.write_text(json.dumps({"sensitivity": 0.5, "specificity": 1.0, "n_pos": 100, "n_neg": 100}))
    mine = audit(tmp_path, fake_server.url, "mine", calibration=str(own))
    assert "refusal_rate_corrected" in set(mine.summary["metric"])
    checks = mine.claims.loc[mine.claims["metric"] == "refusal_rate", "classifier_check"]
    assert len(checks) >= 1 and all("(Se 0.500, Sp 1.000 from the calibration file mine.json:" in c
                                    for c in checks)
    assert mis.SHIPPED not in " ".join(mine.claims["classifier_check"].astype(str))
    assert "per the calibration file mine.json" in " ".join(mine.claims["explanation"].astype(str))


def run_script(out: Path, created: str) -> dict[str, Any]:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_calibration.py"), "--data", str(DATA),
                    "--out", str(out), "--date", created], check=True, capture_output=True, text=True)
    data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return data


@pytest.mark.skipif(not (DATA / "xstest").is_dir(), reason="../shared/data is not beside the repo")
def test_the_script_reproduces_the_shipped_file_with_classifier_evaluates_code(tmp_path: Path) -> None:
    from audit.cli import main

    shipped = shipped_file()
    assert run_script(tmp_path / "again.json", shipped["provenance"]["created"]) == shipped, \
        "audit/data/calibration.json is stale: run scripts/make_calibration.py"
    by_format: dict[str, list[dict[str, Any]]] = {}
    for source in shipped["provenance"]["sources"]:
        by_format.setdefault(source["format"], []).append(source)
    for fmt, sources in by_format.items():  # `classifier evaluate --save-calibration` per format
        folder = DATA / ("xstest" if fmt == "xstest" else "issuebench")
        saved = tmp_path / f"{fmt}.json"
        assert main(["classifier", "evaluate", *(str(folder / s["file"]) for s in sources),
                     "--format", fmt, "--save-calibration", str(saved)]) == 0
        cli = json.loads(saved.read_text(encoding="utf-8"))
        for key in ("n_pos", "tp", "n_neg", "tn"):
            assert cli[key] == sum(s[key] for s in sources)
            assert cli["strict"][key] == sum(s[f"strict_{key}"] for s in sources)
