"""The ``warden`` command: one typer app, each command group in its own module."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="warden",
    help="Incident triage: AI proposes, policy disposes, a human approves.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _quiet_logs() -> None:
    """Every command logs to stderr, warnings and worse: stdout carries only what a command
    prints (``warden eval --json`` is piped into other tools). ``serve`` and ``worker``
    raise the level to ``WARDEN_LOG_LEVEL``."""
    from warden.config.logging import configure_logging

    configure_logging("WARNING")


# Each command group registers itself here; modules import their heavy dependencies
# inside the commands so `warden policy check` starts fast.
from warden.cli.serve import serve, worker  # noqa: E402

app.command("serve")(serve)
app.command("worker")(worker)

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
