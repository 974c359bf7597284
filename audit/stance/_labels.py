"""The stance scale, the file names and the columns of stance.csv (one home: the stance contract)."""

from __future__ import annotations

# IssueBench's scale, in terms of the TOPIC's two sides (meta.sides a/b, or a pair's a/b prompts):
# 1 = only side a, 2 = mostly side a, 3 = neutral/balanced, 4 = mostly side b, 5 = only side b
STANCE_LABELS = ("1", "2", "3", "4", "5", "refusal")
STANCE_CSV = "stance.csv"
STANCE_JOURNAL = "stance.jsonl"
JUDGE_STATUSES = ("ok", "error", "unparsed")
STANCE_COLUMNS = ["run_id", "target", "model", "request_id", "prompt_id", "pair_id", "side", "topic",
                  "category", "template", "kind", "sample", "stance_a", "stance_b", "lean_a", "lean_b",
                  "label", "stance", "p_1", "p_2", "p_3", "p_4", "p_5", "p_refusal", "judge_model",
                  "judge_template", "judge_status", "judge_raw"]
