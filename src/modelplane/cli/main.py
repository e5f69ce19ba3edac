"""The ``modelplane`` command: a Typer app whose errors are one line and an exit code.

Exit codes: 0 success, 1 a modelplane error (the message says what and why), 2 a usage
error, 130 interrupted. ``--debug`` (or ``MODELPLANE_DEBUG=1``) shows tracebacks.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from modelplane.__about__ import __version__

__all__ = ["app", "run"]

app = typer.Typer(
    name="modelplane",
    help="modelplane: track, version, serve and watch machine-learning models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"modelplane {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Show the version."),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    if debug:
        os.environ["MODELPLANE_DEBUG"] = "1"


def _register() -> None:
    from modelplane.cli import db, experiments, info, models, quickstart, runs, server

    app.command("info")(info.info)
    app.command("quickstart")(quickstart.quickstart)
    app.command("server")(server.server)
    app.add_typer(db.app, name="db")
    app.add_typer(models.app, name="models")
    app.add_typer(experiments.app, name="experiments")
    app.add_typer(runs.app, name="runs")
    from modelplane.cli import optimize, serve

    app.command("serve")(serve.serve)
    app.command("predict")(serve.predict)
    models.app.command("optimize")(optimize.optimize)
    from modelplane.cli import features

    app.add_typer(features.app, name="features")
    from modelplane.cli import pipelines

    app.add_typer(pipelines.app, name="pipelines")
    app.command("scheduler")(pipelines.scheduler)

    from modelplane.cli import monitor

    app.add_typer(monitor.app, name="monitor")

    from modelplane.cli import deploy

    app.add_typer(deploy.app, name="deploy")
    from modelplane.cli import importer

    app.add_typer(importer.app, name="import")
    from modelplane.cli import backup

    backup.register(app)
    from modelplane.cli import auth

    app.add_typer(auth.users_app, name="users")
    app.add_typer(auth.tokens_app, name="tokens")
    app.command("audit")(auth.audit)


_register()


def fail(message: str, code: int = 1) -> None:
    """Print ``error: message`` on one line to stderr and exit with ``code``."""
    sys.stderr.write(f"error: {message}\n")
    raise SystemExit(code)


def _help_for_no_args(exc: Exception) -> None:
    """``modelplane`` or ``modelplane models`` alone: the group's help, as ``--help`` prints
    it, exit 0 (Typer raises it as a usage error; its class lives in Typer's vendored or the
    installed click, so it is known by name)."""
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
        typer.echo(ctx.get_help())
        raise SystemExit(0) from None


def run(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    from modelplane.core.errors import ModelplaneError

    debug = "--debug" in (argv or sys.argv) or os.environ.get("MODELPLANE_DEBUG") == "1"
    try:
        app(args=argv, standalone_mode=False)
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except typer.Abort:
        fail("aborted", 130)
    except typer.TyperException as exc:  # usage errors, bad parameters
        _help_for_no_args(exc)
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        fail(" ".join(message.split()), getattr(exc, "exit_code", 2))
    except ModelplaneError as exc:
        if debug:
            raise
        fail(" ".join(exc.message.split()))
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except Exception as exc:
        if debug:
            raise
        fail(f"unexpected {type(exc).__name__}: {' '.join(str(exc).split())} "
             "(run with --debug for the traceback)")


if __name__ == "__main__":
    run()
