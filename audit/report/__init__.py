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
    "ANSWER_LABELS": "_data",
    "HEADLINE_METRICS": "_data",
    "MAX_PAIRS": "_data",
    "NON_ANSWER_LABELS": "_data",
    "RunFolder": "_data",
    "claim_reference": "_data",
    "endpoint_host": "_data",
    "header": "_data",
    "headline": "_data",
    "load_run": "_data",
    "metric_name": "_data",
    "num": "_data",
    "read_table": "_data",
    "report_context": "_data",
    "run_alerts": "_data",
    "run_status": "_data",
    "scrub": "_data",
    "upper_bound_sentence": "_data",
    "verdict_words": "_data",
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
}
__all__ = [
    "ANSWER_LABELS",
    "HEADLINE_METRICS",
    "HISTORY_COLUMNS",
    "HISTORY_NAME",
    "INDEX_NAME",
    "Interval",
    "MAX_PAIRS",
    "NON_ANSWER_LABELS",
    "REPORT_NAME",
    "RefLine",
    "RunFolder",
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
    from audit.report._data import (
        ANSWER_LABELS,
        HEADLINE_METRICS,
        MAX_PAIRS,
        NON_ANSWER_LABELS,
        RunFolder,
        claim_reference,
        endpoint_host,
        header,
        headline,
        load_run,
        metric_name,
        num,
        read_table,
        report_context,
        run_alerts,
        run_status,
        scrub,
        upper_bound_sentence,
        verdict_words,
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
