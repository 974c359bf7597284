"""The cyclic garbage collector in the ``refusal-audit`` process (issue 20).

A command's heap is mostly modules (pandas, scipy, openai: some 150,000 objects) that live
until it exits, and every full collection walks them again: about 0.35 s of a 2,000-request
run. The console entry point pauses the collector while the command modules import, then
freezes what is there (``gc.freeze``: left out of every later pass); ``run`` freezes again just
before sending, and the process collects and freezes once more before it exits. Only
``entrypoint`` turns this on: called in-process (``main()``, the tests) nothing changes.
"""

from __future__ import annotations

import gc

_STATE = {"on": False}


def pause() -> None:
    """The console entry point: no collection until ``freeze`` (the start-up imports)."""
    _STATE["on"] = True
    gc.disable()


def freeze() -> None:
    """Restart the collector and leave every object alive now out of its later passes. They
    are still freed by reference counting when dropped; only a cycle among them would stay
    until the process ends. A no-op unless ``pause`` was called."""
    if _STATE["on"]:
        gc.enable()
        gc.freeze()


def before_exit() -> None:
    """Collect the garbage now (its finalisers run, as at exit), then freeze the rest, so the
    interpreter's shutdown does not walk the whole heap again (0.1–0.2 s)."""
    if _STATE["on"]:
        gc.collect()
        freeze()
