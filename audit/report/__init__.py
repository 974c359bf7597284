"""Reports: the run folder read back, view data, SVG charts, report.html, the history index.

Public names are re-exported here and imported on first use (importing the package stays
cheap); the modules inside are private.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audit._lazy import lazy_exports

_EXPORTS = {
    "Interval": "_charts",
    "RefLine": "_charts",
    "TrendPoint": "_charts",
    "fmt_value": "_charts",
    "interval_plot": "_charts",
    "nice_ticks": "_charts",
    "trend_plot": "_charts",
    "claim_reference": "_claims_view",
    "verdict_words": "_claims_view",
    "report_context": "_context",
    "endpoint_host": "_format",
    "metric_name": "_format",
    "num": "_format",
    "scrub": "_format",
    "header": "_header",
    "run_alerts": "_header",
    "run_status": "_header",
    "HEADLINE_METRICS": "_headline",
    "headline": "_headline",
    "upper_bound_sentence": "_headline",
    "HISTORY_COLUMNS": "_history",
    "HISTORY_NAME": "_history",
    "INDEX_NAME": "_history",
    "append_history": "_history",
    "history_rows": "_history",
    "read_history": "_history",
    "render_index": "_history",
    "REPORT_NAME": "_html",
    "content_security_policy": "_html",
    "render_page": "_html",
    "render_report": "_html",
    "RunFolder": "_load",
    "load_run": "_load",
    "read_table": "_load",
    "MAX_PAIRS": "_pairs_view",
    "ANSWER_LABELS": "_responses_view",
    "NON_ANSWER_LABELS": "_responses_view",
    "STANCE_FILES": "_stance_view",
    "STANCE_HEADLINE": "_stance_view",
    "STANCE_METRICS": "_stance_view",
    "StanceFiles": "_stance_view",
    "load_stance": "_stance_view",
    "stance_view": "_stance_view",
}
__all__ = [
    "ANSWER_LABELS",
    "HEADLINE_METRICS",
    "HISTORY_COLUMNS",
    "HISTORY_NAME",
    "INDEX_NAME",
    "MAX_PAIRS",
    "NON_ANSWER_LABELS",
    "REPORT_NAME",
    "STANCE_FILES",
    "STANCE_HEADLINE",
    "STANCE_METRICS",
    "Interval",
    "RefLine",
    "RunFolder",
    "StanceFiles",
    "TrendPoint",
    "append_history",
    "claim_reference",
    "content_security_policy",
    "endpoint_host",
    "fmt_value",
    "header",
    "headline",
    "history_rows",
    "interval_plot",
    "load_run",
    "load_stance",
    "metric_name",
    "nice_ticks",
    "num",
    "read_history",
    "read_table",
    "render_index",
    "render_page",
    "render_report",
    "report_context",
    "run_alerts",
    "run_status",
    "scrub",
    "stance_view",
    "trend_plot",
    "upper_bound_sentence",
    "verdict_words",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from audit.report._charts import (
        Interval,
        RefLine,
        TrendPoint,
        fmt_value,
        interval_plot,
        nice_ticks,
        trend_plot,
    )
    from audit.report._claims_view import (
        claim_reference,
        verdict_words,
    )
    from audit.report._context import (
        report_context,
    )
    from audit.report._format import (
        endpoint_host,
        metric_name,
        num,
        scrub,
    )
    from audit.report._header import (
        header,
        run_alerts,
        run_status,
    )
    from audit.report._headline import (
        HEADLINE_METRICS,
        headline,
        upper_bound_sentence,
    )
    from audit.report._history import (
        HISTORY_COLUMNS,
        HISTORY_NAME,
        INDEX_NAME,
        append_history,
        history_rows,
        read_history,
        render_index,
    )
    from audit.report._html import (
        REPORT_NAME,
        content_security_policy,
        render_page,
        render_report,
    )
    from audit.report._load import (
        RunFolder,
        load_run,
        read_table,
    )
    from audit.report._pairs_view import (
        MAX_PAIRS,
    )
    from audit.report._responses_view import (
        ANSWER_LABELS,
        NON_ANSWER_LABELS,
    )
    from audit.report._stance_view import (
        STANCE_FILES,
        STANCE_HEADLINE,
        STANCE_METRICS,
        StanceFiles,
        load_stance,
        stance_view,
    )
