"""Judging the stance of answers to contested and neutral prompts (issue #16): the scale and the
columns of stance.csv, the judge templates, parsing the judge's reply, the journaled judge client
and evaluation against human stance labels.

Public names are re-exported here and imported on first use (importing the package stays
cheap); the modules inside are private.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audit._lazy import lazy_exports

_EXPORTS = {
    "GOLD_COLUMNS": "_gold",
    "calibration": "_gold",
    "evaluate_stance": "_gold",
    "human_agreement": "_gold",
    "load_stance_gold": "_gold",
    "normalise_stance": "_gold",
    "point_figures": "_gold",
    "RAW_CHARS": "_judge",
    "StanceJudge": "_judge",
    "StanceVerdict": "_judge",
    "make_stance_judge": "_judge",
    "stance_key": "_judge",
    "verdict_fields": "_judge",
    "JUDGE_STATUSES": "_labels",
    "STANCE_COLUMNS": "_labels",
    "STANCE_CSV": "_labels",
    "STANCE_JOURNAL": "_labels",
    "STANCE_LABELS": "_labels",
    "argmax": "_parse",
    "label_probabilities": "_parse",
    "naive_parse": "_parse",
    "parse_stance": "_parse",
    "token_label": "_parse",
    "DEFAULT_TEMPLATE": "_templates",
    "PLACEHOLDERS": "_templates",
    "JudgeTemplate": "_templates",
    "StanceItem": "_templates",
    "load_template": "_templates",
    "render": "_templates",
}
__all__ = [
    "DEFAULT_TEMPLATE",
    "GOLD_COLUMNS",
    "JUDGE_STATUSES",
    "PLACEHOLDERS",
    "RAW_CHARS",
    "STANCE_COLUMNS",
    "STANCE_CSV",
    "STANCE_JOURNAL",
    "STANCE_LABELS",
    "JudgeTemplate",
    "StanceItem",
    "StanceJudge",
    "StanceVerdict",
    "argmax",
    "calibration",
    "evaluate_stance",
    "human_agreement",
    "label_probabilities",
    "load_stance_gold",
    "load_template",
    "make_stance_judge",
    "naive_parse",
    "normalise_stance",
    "parse_stance",
    "point_figures",
    "render",
    "stance_key",
    "token_label",
    "verdict_fields",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from audit.stance._gold import (
        GOLD_COLUMNS,
        calibration,
        evaluate_stance,
        human_agreement,
        load_stance_gold,
        normalise_stance,
        point_figures,
    )
    from audit.stance._judge import (
        RAW_CHARS,
        StanceJudge,
        StanceVerdict,
        make_stance_judge,
        stance_key,
        verdict_fields,
    )
    from audit.stance._labels import (
        JUDGE_STATUSES,
        STANCE_COLUMNS,
        STANCE_CSV,
        STANCE_JOURNAL,
        STANCE_LABELS,
    )
    from audit.stance._parse import (
        argmax,
        label_probabilities,
        naive_parse,
        parse_stance,
        token_label,
    )
    from audit.stance._templates import (
        DEFAULT_TEMPLATE,
        PLACEHOLDERS,
        JudgeTemplate,
        StanceItem,
        load_template,
        render,
    )
