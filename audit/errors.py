"""Errors raised by refusal-audit.

Hierarchy::

    AuditError                 a user mistake or set-up problem; the message says the fix
    ├── InputError             a bad input file (prompt set, CSV, config): names file, line, field
    ├── ConfigError            a bad option or configuration value
    ├── EndpointError          the endpoint cannot be reached at start (connection refused, DNS)
    └── ThresholdError         the audit ran but failed a configured threshold (exit code 1)

The CLI shows ``AuditError`` messages as one line without a traceback.
"""

from __future__ import annotations


class AuditError(Exception):
    """A user-facing error; its message names the problem and the fix."""

    exit_code = 2


class InputError(AuditError):
    """A bad input file; the message names the file, the line and the field."""

    def __init__(self, path: object, line: int | None, message: str, fix: str = "") -> None:
        where = f"{path}:{line}" if line is not None else f"{path}"
        text = f"{where}: {message}"
        if fix:
            text += f" — {fix}"
        super().__init__(text)
        self.path = path
        self.line = line


class ConfigError(AuditError):
    """A bad option or configuration value."""


class EndpointError(AuditError):
    """The endpoint could not be reached when the run started."""


class ThresholdError(AuditError):
    """The audit completed but breached a configured threshold."""

    exit_code = 1
