"""The ``refusal-audit`` command line. Commands stay thin: they parse options and call the library.

Exit codes: 0 ok, 1 the audit failed a threshold, 2 a usage or configuration error.
"""

from __future__ import annotations

import sys

import click
import typer

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
    from audit.cli import _run as cli_run
    from audit.cli import _schedule as cli_schedule
    from audit.cli import _stats as cli_stats

    app = typer.Typer(
        name="refusal-audit",
        help="Audit LLMs for refusals and viewpoint bias on contested topics.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    for module in (cli_run, cli_prompts, cli_classifier, cli_stats, cli_report, cli_local, cli_schedule):
        module.register(app)
    return app


def start_prefect_early(args: list[str]) -> None:
    """For ``run``: start Prefect's temporary server before the command modules are imported,
    so its boot (about 3 s on another core) overlaps ours; ``run`` picks it up (flows/local_api)."""
    if args[:1] == ["run"] and not {"--help", "-h"} & set(args):
        from audit_flows import local_api

        local_api.start()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; show user errors as one line (no traceback) and return the exit code."""
    try:
        start_prefect_early(sys.argv[1:] if argv is None else argv)
        result = build_app()(args=argv, standalone_mode=False)
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
    sys.exit(main())


if __name__ == "__main__":
    entrypoint()
