"""The wheel a user installs: it carries the built-in prompt sets, the report templates and the
references, installs the flows as ``audit_flows`` (no generic top-level ``flows``), and works
outside the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_package_list_covers_every_package_in_the_tree() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "audit").rglob("__init__.py")}
    declared = set(config["packages"])
    assert found <= declared, f"add to [tool.setuptools] packages: {sorted(found - declared)}"
    assert config["package-dir"] == {"audit_flows": "flows", "audit.prompts.library": "prompts"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True, text=True)
    return next(out.glob("refusal_audit-*.whl"))


def test_the_wheel_holds_prompts_templates_and_no_top_level_flows(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "audit/prompts/library/contested-v1.jsonl" in names
    assert {f"audit/report/templates/{t}.html.j2" for t in ("base", "report", "index")} <= names
    assert "audit/data/references.toml" in names and "audit_flows/audit_flow.py" in names
    assert "audit/data/calibration.json" in names  # the claims' classifier check uses it
    tops = {n.split("/")[0] for n in names if not n.startswith("refusal_audit-")}
    assert tops == {"audit", "audit_flows"}


def test_the_installed_wheel_works_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, text=True)
    code = ("import importlib.util, audit, audit.prompts._schema as s, audit_flows.local_api\n"
            "p = audit.load_prompt_set('prompts/contested-v1.jsonl')\n"
            f"assert str(s.BUILTIN_DIR).startswith({str(site)!r}), s.BUILTIN_DIR\n"
            f"assert audit.__file__.startswith({str(site)!r})\n"
            "assert importlib.util.find_spec('flows') is None\n"
            "from audit.stats._misclassification import shipped_calibration\n"
            "assert shipped_calibration()['classifier'] == 'rules'\n"
            "print(len(p.prompts))")
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "2516"
