"""The ``warden`` command: one typer app, each command group in its own module.

``main`` is the entry point: an error nobody caught becomes one or two lines on stderr
(``warden: cannot open sqlite:////x/w.db: unable to open database file``) and exit 1; the
traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import version as installed_version
from typing import Annotated

import typer

app = typer.Typer(
    name="warden",
    help="Incident triage: AI proposes, policy disposes, a human approves.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    # main() prints uncaught errors as one line; --debug shows Python's own traceback.
    pretty_exceptions_enable=False,
)

_DEBUG_FLAG = "--debug"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"warden {installed_version('incident-warden')}")
        raise typer.Exit()


@app.callback()
def _start(
    database: Annotated[str | None, typer.Option(
        "--database", metavar="URL",
        help="The database for this command (default: WARDEN_DATABASE_URL, else "
             "sqlite:///./warden.db).")] = None,
    _debug: Annotated[bool, typer.Option(
        _DEBUG_FLAG, help="Show the full traceback when a command fails.")] = False,
    _version: Annotated[bool, typer.Option(
        "--version", callback=_show_version, is_eager=True,
        help="Print the installed version and exit.")] = False,
) -> None:
    """Every command logs to stderr, warnings and worse: stdout carries only what a command
    prints (``warden eval --json`` is piped into other tools). ``serve`` and ``worker``
    raise the level to ``WARDEN_LOG_LEVEL``."""
    from warden.cli._settings import override_database
    from warden.config.logging import configure_logging
    from warden.config.settings import unknown_variables

    override_database(database)
    configure_logging("WARNING")
    for name, nearest in unknown_variables(os.environ):
        hint = f" (did you mean {nearest}?)" if nearest else ""
        typer.echo(f"warden: warning: {name} is not a Warden setting and is ignored{hint}",
                   err=True)


def main() -> None:
    """Run the command line; uncaught errors as one line, exit 1 (``--debug``: traceback)."""
    try:
        app()
    except Exception as exc:
        if _DEBUG_FLAG in sys.argv[1:]:
            raise
        typer.echo(f"warden: {describe_error(exc)}", err=True)
        typer.echo(f"warden: run with {_DEBUG_FLAG} for the traceback", err=True)
        sys.exit(1)


def describe_error(exc: BaseException) -> str:
    """One line for an error no command handled: what failed, in the words of its cause."""
    from sqlalchemy.exc import SQLAlchemyError

    from warden.cli._settings import driver_message

    if isinstance(exc, SQLAlchemyError):
        return f"database error: {driver_message(exc)}"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


# Each command group registers itself here; modules import their heavy dependencies
# inside the commands so `warden policy check` starts fast.
from warden.cli.serve import info, serve, worker  # noqa: E402

app.command("serve")(serve)
app.command("worker")(worker)
app.command("info")(info)

from warden.cli.policy import policy_app  # noqa: E402

app.add_typer(policy_app, name="policy")

from warden.cli.eval import eval_command  # noqa: E402

app.command("eval")(eval_command)

from warden.cli import ops  # noqa: E402

app.command("approve")(ops.approve)
app.command("reject")(ops.reject)
app.command("unfreeze")(ops.unfreeze)
app.command("report")(ops.report)
app.command("incidents")(ops.incidents)
app.command("changes")(ops.changes)
app.add_typer(ops.audit_app, name="audit")

from warden.cli.cost import cost  # noqa: E402

app.command("cost")(cost)

from warden.cli.demo import demo  # noqa: E402

app.command("demo")(demo)
