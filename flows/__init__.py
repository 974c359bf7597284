"""Prefect flows that wrap the refusal-audit library."""
