"""Operator commands: approve, reject, unfreeze, audit verify, report, incidents, changes.

Commands that change state (approve, reject, unfreeze, ``policy reload``) act only through
the running server's HTTP API (``WARDEN_URL``, default http://127.0.0.1:8080), as the
owner of ``WARDEN_TOKEN``: who you are comes from your token, never from a flag. The
read-only ones read the same settings as ``warden serve`` (``WARDEN_DATABASE_URL``,
``WARDEN_POLICY``) and its store. Exit codes: 0 done, 1 refused or not found (the reason
on stderr), 2 the configuration is unusable.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from warden.app import Warden

audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"warden: {message}", err=True)
    raise typer.Exit(code)


def load_warden(policy: Path | None = None, *, create_audit_key: bool = True) -> Warden:
    """The store and policy ``warden serve`` would use (migrated, no worker started); the
    database must already exist. ``create_audit_key=False``: a missing audit key file is an
    error, not made anew."""
    from warden.cli._settings import cli_settings, open_existing

    return open_existing(cli_settings(policy=policy), create_audit_key=create_audit_key)


def api_call(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Call the running server's API (``WARDEN_URL``) with ``WARDEN_TOKEN``; any refusal
    ends the command with one line saying why (exit 1; 2 when no token is set)."""
    import httpx

    from warden.config import Settings

    settings = Settings()
    if settings.cli_token is None or not settings.cli_token.get_secret_value().strip():
        _fail("set WARDEN_TOKEN to your API token (one of WARDEN_API_TOKENS on the server); "
              "this command acts through the server's API", 2)
    url = settings.cli_url.rstrip("/") + path
    headers = {"Authorization": f"Bearer {settings.cli_token.get_secret_value().strip()}",
               "X-Warden-Client": "cli"}
    try:
        response = httpx.request(method, url, json=body, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        _fail(f"cannot reach Warden at {settings.cli_url} (WARDEN_URL): {exc}")
    try:
        answer = response.json()
    except ValueError:
        answer = {"detail": response.text.strip()[:200]}
    if response.is_success and isinstance(answer, dict):
        return answer
    _fail(f"{response.status_code} {_WHY.get(response.status_code, 'refused')}: "
          f"{_detail(answer)}")


_WHY = {401: "not signed in (check WARDEN_TOKEN)", 403: "not allowed",
        404: "not found", 409: "refused", 422: "invalid request",
        429: "too many wrong tokens from this host"}


def _detail(answer: object) -> str:
    detail = answer.get("detail") if isinstance(answer, dict) else answer
    if isinstance(detail, list):  # a validation error: say which fields
        return "; ".join(f"{'.'.join(map(str, d.get('loc', [])))}: {d.get('msg')}"
                         for d in detail if isinstance(d, dict))
    return str(detail)


def _verdict(incident_id: int, verdict: str, reason: str, decision: str | None) -> None:
    if decision is None:
        shown = api_call("GET", f"/v1/incidents/{incident_id}")
        current = shown.get("decision") or {}
        action = current.get("action") or {}
        params = ", ".join(f"{k}={v}" for k, v in (action.get("params") or {}).items())
        _fail(f"incident {incident_id}'s decision {current.get('digest')}: "
              f"{current.get('outcome')} for {action.get('name') or 'no action'}"
              f"{f' ({params})' if params else ''} on {shown.get('service')}; to {verdict} "
              f"exactly this decision, run again with --decision {current.get('digest')}")
    done = api_call("POST", f"/v1/incidents/{incident_id}/{verdict}",
                    {"reason": reason, "decision_digest": decision})
    counted = ", ".join(done["approved_by"]) or "nobody"
    state = done["approval_state"]
    if state == "pending":
        typer.echo(f"incident {incident_id}: recorded; {len(done['approved_by'])} of "
                   f"{done['needed']} approvals ({counted}); still waiting")
    elif state == "approved":
        typer.echo(f"incident {incident_id}: approved by {counted}; the policy re-check "
                   "allows it; the worker runs it next")
    elif state == "blocked":
        reasons = "; ".join(f"{r['code']}: {r['detail']}"
                            for r in (done.get("recheck") or {}).get("reasons", []))
        typer.echo(f"incident {incident_id}: approved, but the policy re-check blocks it: "
                   f"{reasons}; nothing will run")
    else:
        typer.echo(f"incident {incident_id}: {state}; nothing will run")


DecisionOption = Annotated[
    str | None,
    typer.Option("--decision", help="decision.digest of the decision you judge (without "
                                     "it, the command shows the current decision and its "
                                     "digest, and records nothing)."),
]


def approve(
    incident_id: Annotated[int, typer.Argument(help="The incident id.")],
    decision: DecisionOption = None,
    reason: Annotated[str, typer.Option(help="Why (goes into the audit log).")] = "",
) -> None:
    """Approve the incident's pending action, as the owner of WARDEN_TOKEN."""
    _verdict(incident_id, "approve", reason, decision)


def reject(
    incident_id: Annotated[int, typer.Argument(help="The incident id.")],
    reason: Annotated[str, typer.Option(help="Why (required; goes into the audit log).")],
    decision: DecisionOption = None,
) -> None:
    """Reject the incident's pending action: nothing will run."""
    if not reason.strip():
        _fail("a rejection needs a --reason", 2)
    _verdict(incident_id, "reject", reason, decision)


def unfreeze(
    service: Annotated[str, typer.Argument(help="The service, exactly as frozen.")],
) -> None:
    """Lift the loop breaker's freeze of a service (an admin token; audited)."""
    from urllib.parse import quote

    lifted = api_call("POST", f"/v1/services/{quote(service, safe='')}/unfreeze")
    typer.echo(f"{service}: automation unfrozen by {lifted['unfrozen_by']} (it was frozen "
               f"{lifted['frozen_at']}: {lifted['reason']})")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the whole chain under the audit key, and that it still holds the event the
    anchor file names; name the first event that does not verify."""
    from warden import audit

    warden = load_warden(create_audit_key=False)
    try:
        with warden.store.session() as session:
            result = audit.verify(session)
    finally:
        warden.store.dispose()
    if not result.ok:
        where = f" at event {result.first_broken_id}" if result.first_broken_id else ""
        _fail(f"audit chain broken{where}: {result.problem} ({result.events} events read)")
    anchor = warden.audit_seal.anchor
    if result.anchored_seq is not None:
        typer.echo(f"audit chain ok: {result.events} events; the anchor ({anchor}) names "
                   f"event {result.anchored_seq}")
    else:
        typer.echo(f"audit chain ok: {result.events} events; no anchor "
                   f"({anchor or 'none configured'}), so deleted newest events would not show")


def report(
    incident_id: Annotated[int, typer.Argument(help="The incident id.")],
    unverified: Annotated[bool, typer.Option(
        "--unverified",
        help="Print the report even when the audit chain does not verify (it says so).",
    )] = False,
) -> None:
    """Print the incident's post-mortem (Markdown) to stdout. Its approvals and executions
    come from the audit chain; when the chain does not verify, refuse (exit 1) unless
    ``--unverified``."""
    from warden import audit
    from warden.audit.report import render_report

    warden = load_warden(create_audit_key=False)
    try:
        with warden.store.session() as session:
            chain = audit.verify(session)
            if not chain.ok and not unverified:
                _fail(f"the audit chain does not verify ({chain.problem}); its approvals and "
                      "executions cannot be trusted. Run `warden audit verify`, or pass "
                      "--unverified for a report that says so")
            text = render_report(
                session, incident_id, policy=warden.policy.current, chain=chain,
                change_lookback_minutes=warden.settings.change_lookback_minutes)
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


def changes(
    service: Annotated[str | None, typer.Option(help="Only this service (any case).")] = None,
    since: Annotated[str | None, typer.Option(
        help="Only changes at or after this ISO 8601 time (UTC without an offset).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 50,
) -> None:
    """List recorded changes (deploys, config, flags...), newest first."""
    from datetime import UTC, datetime

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from warden.changes import list_changes

    since_at = None
    if since is not None:
        try:
            since_at = datetime.fromisoformat(since)
        except ValueError:
            _fail(f"--since is not an ISO 8601 time: {since!r}", 2)
        if since_at.tzinfo is None:
            since_at = since_at.replace(tzinfo=UTC)
    warden = load_warden()
    try:
        with warden.store.session() as session:
            page = list_changes(session, service=service, since=since_at, limit=limit)
    finally:
        warden.store.dispose()
    table = Table(title=f"Changes ({len(page.items)} of {page.total})")
    for column in ("ID", "At (UTC)", "Service", "Kind", "Version", "Summary", "Author",
                   "Source", "Link"):
        table.add_column(column, overflow="fold")
    for recorded in page.items:
        change = recorded.change
        cells = (str(recorded.id), change.at.strftime("%Y-%m-%d %H:%M:%S"), change.service,
                 str(change.kind), change.version or "-", change.summary[:80] or "-",
                 change.author or "-", change.source, change.link or "-")
        # Text, not str: what senders wrote must not be read as rich markup.
        table.add_row(*(Text(cell) for cell in cells))
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # piped or captured: keep each change on one line
    console.print(table)
