"""``python -m audit.cli``: the same as the ``refusal-audit`` command."""

from audit.cli._app import entrypoint

entrypoint()
