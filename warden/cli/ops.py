"""Operator commands on the host: approve, reject, unfreeze, audit verify, report, incidents.

They read the same settings as ``warden serve`` (``WARDEN_DATABASE_URL``,
``WARDEN_POLICY``) and act on its store directly, so ``--as USER`` is trusted as far as the
host is: the user must still be a listed approver. They open only a database that exists.
Exit codes: 0 done, 1 refused, not found or no database (the reason on stderr), 2 the
configuration is unusable.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from warden.app import Warden
    from warden.domain import Verdict

audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)

AsOption = Annotated[str, typer.Option("--as", help="Who you are: a listed approver.")]
PolicyOption = Annotated[
    Path | None,
    typer.Option("--policy", help="Policy YAML (default: WARDEN_POLICY, else built-in).",
                 dir_okay=False),
]


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"warden: {message}", err=True)
    raise typer.Exit(code)


def load_warden(policy: Path | None = None) -> Warden:
    """The store and policy ``warden serve`` would use (migrated, no worker started); the
    database must already exist."""
    from warden.cli._settings import cli_settings, open_existing

    return open_existing(cli_settings(policy=policy))


def _verdict(incident_id: int, user: str, verdict: Verdict, reason: str,
             policy: Path | None) -> None:
    from warden import approval
    from warden.domain import ApprovalChannel
    from warden.errors import ApprovalError

    warden = load_warden(policy)
    try:
        done = approval.submit(warden.store, incident_id=incident_id, user=user,
                               verdict=verdict, reason=reason, channel=ApprovalChannel.CLI,
                               policy=warden.policy.current, now=warden.clock())
    except ApprovalError as exc:
        _fail(f"refused: {exc}")
    finally:
        warden.store.dispose()
    counted = ", ".join(done.approved_by) or "nobody"
    if done.state is approval.ApprovalState.PENDING:
        typer.echo(f"incident {incident_id}: recorded; {len(done.approved_by)} of "
                   f"{done.needed} approvals ({counted}); still waiting")
    elif done.state is approval.ApprovalState.APPROVED:
        typer.echo(f"incident {incident_id}: approved by {counted}; the policy re-check "
                   "allows it; the worker runs it next")
    elif done.state is approval.ApprovalState.BLOCKED:
        reasons = "; ".join(f"{r['code']}: {r['detail']}"
                            for r in (done.recheck or {}).get("reasons", []))
        typer.echo(f"incident {incident_id}: approved, but the policy re-check blocks it: "
                   f"{reasons}; nothing will run")
    else:
        typer.echo(f"incident {incident_id}: {done.state}; nothing will run")


def approve(
    incident_id: Annotated[int, typer.Argument(help="The incident id.")],
    as_user: AsOption,
    reason: Annotated[str, typer.Option(help="Why (goes into the audit log).")] = "",
    policy: PolicyOption = None,
) -> None:
    """Approve the incident's pending action."""
    from warden.domain import Verdict

    _verdict(incident_id, as_user, Verdict.APPROVE, reason, policy)


def reject(
    incident_id: Annotated[int, typer.Argument(help="The incident id.")],
    as_user: AsOption,
    reason: Annotated[str, typer.Option(help="Why (required; goes into the audit log).")],
    policy: PolicyOption = None,
) -> None:
    """Reject the incident's pending action: nothing will run."""
    from warden.domain import Verdict

    if not reason.strip():
        _fail("a rejection needs a --reason", 2)
    _verdict(incident_id, as_user, Verdict.REJECT, reason, policy)


def unfreeze(
    service: Annotated[str, typer.Argument(help="The service, exactly as frozen.")],
    as_user: AsOption,
    policy: PolicyOption = None,
) -> None:
    """Lift the loop breaker's freeze of a service (audited)."""
    from warden.errors import NotAllowed
    from warden.verify import unfreeze as lift

    warden = load_warden(policy)
    try:
        with warden.store.session() as session:
            lifted = lift(session, service=service, user=as_user,
                          policy=warden.policy.current, now=warden.clock())
    except NotAllowed as exc:
        _fail(f"refused: {exc}")
    finally:
        warden.store.dispose()
    if lifted is None:
        _fail(f"{service!r} is not frozen")
    typer.echo(f"{service}: automation unfrozen by {as_user} (it was frozen "
               f"{lifted.at.isoformat()}: {lifted.reason})")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the whole hash chain; name the first event that does not verify."""
    from warden import audit

    warden = load_warden()
    try:
        with warden.store.session() as session:
            result = audit.verify(session)
    finally:
        warden.store.dispose()
    if not result.ok:
        _fail(f"audit chain broken at event {result.first_broken_id}: {result.problem} "
              f"({result.events} events read)")
    typer.echo(f"audit chain ok: {result.events} events")


def report(incident_id: Annotated[int, typer.Argument(help="The incident id.")]) -> None:
    """Print the incident's post-mortem (Markdown) to stdout."""
    from warden.audit.report import render_report

    warden = load_warden()
    try:
        with warden.store.session() as session:
            text = render_report(session, incident_id, policy=warden.policy.current)
    finally:
        warden.store.dispose()
    if text is None:
        _fail(f"no incident {incident_id}")
    typer.echo(text, nl=False)


def incidents(
    status: Annotated[str | None, typer.Option(help="open or resolved.")] = None,
    service: Annotated[str | None, typer.Option(help="Only this service.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many of the newest first.")] = 0,
) -> None:
    """List incidents, newest first, with their decision and approval state."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from warden.store.queries import list_incidents
    from warden.words import outcome_words

    if status not in (None, "open", "resolved"):
        _fail("--status is open or resolved", 2)
    warden = load_warden()
    try:
        with warden.store.session() as session:
            page = list_incidents(session, status=status, service=service, limit=limit,
                                  offset=offset)
    finally:
        warden.store.dispose()
    dry_run = warden.policy.current.mode == "dry_run"
    shown = f"{offset + 1}-{offset + len(page.items)}" if page.items else "none"
    table = Table(title=f"Incidents {shown} of {page.total}"
                  + (" - policy in dry run: nothing really runs" if dry_run else ""))
    for column in ("ID", "Status", "Service", "Severity", "Title", "Category", "Decision",
                   "Approval", "Next step", "Alerts", "Last seen (UTC)"):
        table.add_column(column, overflow="fold")
    for row in page.items:
        cells = (
            str(row.id), row.status, row.service, row.severity or "-", row.title[:80],
            str((row.proposal or {}).get("category") or "-"),
            outcome_words(row.decision, policy_mode=warden.policy.current.mode),
            row.approval_state or "-", row.pending_step or "-", str(row.alert_count),
            row.last_seen.strftime("%Y-%m-%d %H:%M:%S"),
        )
        # Text, not str: alert titles are untrusted and must not be read as rich markup.
        table.add_row(*(Text(cell) for cell in cells))
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # piped or captured: keep each incident on one line
    console.print(table)
