"""The ``refusal-audit`` command line: the typer app (``_app``) and one module per command group.

Only this package (and ``flows``) may import prefect or the flows; the library below never does.
"""

from audit.cli._app import build_app, entrypoint, main

__all__ = ["build_app", "entrypoint", "main"]
