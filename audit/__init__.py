"""refusal-audit: audit LLMs for refusals and viewpoint bias on contested topics.

The library never imports prefect; Prefect flows live in the top-level ``flows`` package.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
