"""The collector in the console command (issue 20): paused for the start-up imports, the heap
frozen after them and before exit, only when the console entry point turned it on."""

from __future__ import annotations

import gc
import subprocess
import sys

from audit.cli import _heap as heap

CONSOLE = """
import gc, sys
from audit.cli import _app, _heap as heap
heap.pause()
assert not gc.isenabled()
_app.build_app()  # the command modules import with the collector off, then it restarts
assert gc.isenabled() and gc.get_freeze_count() > 10_000, gc.get_freeze_count()
garbage = []
garbage.append(garbage)  # a cycle made after the freeze is still collected
del garbage
assert gc.collect() >= 1
sys.argv = ["refusal-audit", "--version"]
_app.entrypoint()
"""


def test_in_process_the_collector_is_left_as_it_is() -> None:
    frozen = gc.get_freeze_count()
    heap.freeze()
    heap.before_exit()
    assert gc.isenabled() and gc.get_freeze_count() == frozen


def test_the_console_command_pauses_then_freezes_and_still_exits_cleanly() -> None:
    proc = subprocess.run([sys.executable, "-c", CONSOLE], check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("refusal-audit "), proc.stdout
