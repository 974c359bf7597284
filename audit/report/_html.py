"""report.html: one self-contained page rendered from the files of a run folder alone.

``render_report(run_dir)`` reads ``run.json`` and the CSV tables (see ``reports/README.md``)
and writes ``report.html`` beside them, so a report can be re-rendered without the endpoint.
Reading the folder (``audit.report._load``) and building the page's data
(``audit.report._context``) happen beside this module; this module renders the page.

Safety rules, because model answers are hostile input:

* Jinja2 autoescaping is on for every template; model text is only ever element text, never
  an attribute value or a URL. Links point at fixed file names or ``#topic-N`` anchors.
* Bidirectional overrides in any shown value become visible markers (``[U+202E]``, see
  ``mark_bidi``), and elements showing model text are isolated (``dir="auto"``, CSS
  ``unicode-bidi: isolate``): an answer can neither display reversed nor reorder the page.
* The page makes no network request: inline CSS, inline SVG charts, one small inline script
  (progressive enhancement only) allowed by its sha256 in a strict Content-Security-Policy.
* Endpoints are shown as host[:port] only; error messages are scrubbed of key-like strings.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from audit import __version__
from audit.csvio import atomic_file
from audit.report._charts import fmt_value
from audit.report._context import report_context
from audit.report._format import mark_bidi, num
from audit.report._load import load_run
from audit.report._pairs_view import MAX_PAIRS

__all__ = ["REPORT_NAME", "content_security_policy", "render_page", "render_report"]

REPORT_NAME = "report.html"

_SCRIPT = """(function () {
  var box = document.getElementById('pair-filter-box');
  var input = document.getElementById('pair-filter');
  if (!box || !input) { return; }
  box.hidden = false;
  var groups = document.querySelectorAll('details.topic');
  input.addEventListener('input', function () {
    var q = input.value.trim().toLowerCase();
    for (var i = 0; i < groups.length; i++) {
      var s = groups[i].querySelector('summary');
      var hit = !q || (s !== null && s.textContent.toLowerCase().indexOf(q) !== -1);
      groups[i].hidden = !hit;
      if (q && hit) { groups[i].open = true; }
    }
  });
})();"""


# ---------------------------------------------------------------- page rendering


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("audit.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_no_bidi_overrides,
    )
    env.filters["pct"] = lambda v, digits=1: fmt_value(num(v), True, digits)
    env.filters["num"] = lambda v, digits=3: "–" if num(v) is None else f"{num(v):.{digits}g}"
    return env


def _no_bidi_overrides(value: Any) -> Any:
    """Every value the templates print, with bidirectional overrides made visible (a Markup value,
    e.g. an SVG chart, stays Markup: the markers hold no HTML)."""
    if not isinstance(value, str):
        return value
    marked = mark_bidi(value)
    if marked == value:
        return value
    return Markup(marked) if isinstance(value, Markup) else marked


def script_hash(script: str) -> str:
    """The CSP source for an inline script: ``'sha256-<base64>'``."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def content_security_policy(script: str = "") -> str:
    """A CSP that forbids every network fetch; the only script allowed is ``script`` by hash."""
    scripts = script_hash(script) if script else "'none'"
    return (
        f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src {scripts}; "
        "base-uri 'none'; form-action 'none'"
    )


def render_page(template: str, context: Mapping[str, Any], script: str = "") -> str:
    """Render one of the package templates with the shared head (CSP, CSS) around it."""
    env = _environment()
    csp = content_security_policy(script)
    # csp and script are this module's constants (no data in them), so they are marked safe
    return env.get_template(template).render(
        **context, csp=Markup(csp), script=Markup(script), tool_version=__version__
    )


def render_report(run_dir: Path, *, max_pairs: int = MAX_PAIRS, status: str | None = None) -> Path:
    """Write ``<run_dir>/report.html`` from the run folder's files and return its path;
    ``status``: the run's status to show, when run.json is to record it only after the page."""
    run = load_run(Path(run_dir))
    if status:
        run = dataclasses.replace(run, run={**run.run, "status": status})
    html = render_page("report.html.j2", report_context(run, max_pairs), _SCRIPT)
    out = run.path / REPORT_NAME
    with atomic_file(out) as fh:
        fh.write(html)
    return out
