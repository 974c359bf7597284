"""The judge's API key on the command line: named by ``--judge-api-key-env``, read from there."""

from __future__ import annotations

import os

from audit.errors import ConfigError

__all__ = ["judge_key"]


def judge_key(env: str | None) -> str | None:
    """The judge's API key from the environment variable ``env`` (None: no key)."""
    if not env:
        return None
    value = os.environ.get(env)
    if not value:
        raise ConfigError(f"environment variable {env} is not set — export it, or drop "
                          "--judge-api-key-env for an endpoint that needs no key")
    return value
