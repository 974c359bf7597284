"""The ``refusal-audit`` command line. Commands stay thin: they parse options and call the library.

Exit codes: 0 ok, 1 the audit failed a threshold, 2 a usage or configuration error.
"""

from __future__ import annotations

import os
import sys

import click
import typer

from audit.cli import _heap as heap
from audit.cli._interrupt import Interrupted, Terminated, catch_sigterm
from audit.errors import AuditError

# typer 0.29 vendors its own click (typer._click) and raises typer.Exit/typer.Abort:
# catch those as well as click's own, whichever this typer uses. (The annotation names typer's
# class, imported below, so that mypy knows every member has ``show()``; it is never evaluated.)
CLICK_ERRORS: tuple[type[click.ClickException | _TyperClickException], ...] = (click.ClickException,)
ABORTS: tuple[type[BaseException], ...] = (click.exceptions.Abort, typer.Abort)
EXITS: tuple[type[BaseException], ...] = (click.exceptions.Exit, typer.Exit)
try:
    from typer._click.exceptions import ClickException as _TyperClickException

    CLICK_ERRORS += (_TyperClickException,)
except ImportError:  # pragma: no cover - a typer that uses click itself
    pass
INTERRUPTED = "interrupted: completed requests are in the journal; resume with 'refusal-audit run --resume RUN_DIR'"


def build_app() -> typer.Typer:
    """The typer app with every command registered."""
    from audit.cli import _classifier as cli_classifier
    from audit.cli import _local as cli_local
    from audit.cli import _prompts as cli_prompts
    from audit.cli import _report as cli_report
    from audit.cli import _review as cli_review
    from audit.cli import _run as cli_run
    from audit.cli import _runs as cli_runs
    from audit.cli import _schedule as cli_schedule
    from audit.cli import _stance as cli_stance
    from audit.cli import _stats as cli_stats

    app = typer.Typer(
        name="refusal-audit",
        help="Audit LLMs for refusals and viewpoint bias on contested topics.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.callback()(version_option)
    for module in (cli_run, cli_runs, cli_prompts, cli_classifier, cli_stats, cli_report, cli_review, cli_local, cli_schedule,
                   cli_stance):
        module.register(app)
    heap.freeze()  # the imported modules: out of every later collection (console command only)
    return app


def show_version(value: bool) -> None:
    """``--version``: print the version and exit 0."""
    if value:
        from audit import __version__

        typer.echo(f"refusal-audit {__version__}")
        raise typer.Exit(0)


def version_option(
    version: bool = typer.Option(False, "--version", callback=show_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Audit LLMs for refusals and viewpoint bias on contested topics."""


def start_prefect_early(args: list[str]) -> None:
    """For ``run --prefect``: start Prefect's temporary server before the command modules are
    imported, so its boot (about 3 s on another core) overlaps ours; ``run`` picks it up
    (flows/local_api). Without ``--prefect``, ``run`` uses Prefect only when an API is configured."""
    if args[:1] == ["run"] and "--prefect" in args and not {"--help", "-h", "--dry-run"} & set(args):
        from audit_flows import local_api

        local_api.start()


def quiet_prefect_analytics() -> None:
    """No telemetry from an audit, and no "Prefect collects anonymous usage data" notice: the
    server side reads PREFECT_SERVER_ANALYTICS_ENABLED, the client (which prints the notice on
    a terminal when prefect is first imported) DO_NOT_TRACK. A user's own setting wins."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; show user errors as one line (no traceback) and return the exit code."""
    quiet_prefect_analytics()
    try:
        start_prefect_early(sys.argv[1:] if argv is None else argv)
        result = build_app()(args=argv, standalone_mode=False)
    except Interrupted as exc:  # a run stopped by Ctrl-C or SIGTERM: its folder and the --resume command
        typer.echo(str(exc), err=True)
        return exc.exit_code
    except Terminated:
        typer.echo(INTERRUPTED, err=True)
        return 143
    except AuditError as exc:
        typer.secho(f"error: {exc}", err=True, fg="red")
        return exc.exit_code
    except ABORTS:
        typer.echo(INTERRUPTED, err=True)
        return 130
    except EXITS as exc:
        code = int(getattr(exc, "exit_code", 0) or 0)
        if code == 130:
            typer.echo(INTERRUPTED, err=True)
        return code
    except CLICK_ERRORS as exc:
        exc.show()
        return 2
    except KeyboardInterrupt:
        typer.echo(INTERRUPTED, err=True)
        return 130
    return result if isinstance(result, int) else 0


def entrypoint() -> None:
    """Console-script entry point."""
    catch_sigterm()  # SIGTERM ends a command as Ctrl-C does: one line, no traceback (exit 143)
    heap.pause()  # the collector restarts once the command modules are imported (build_app)
    code = main()
    heap.before_exit()
    sys.exit(code)


if __name__ == "__main__":
    entrypoint()
