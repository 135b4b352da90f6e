"""The post-mortem of one incident, in Markdown, from what the store recorded.

``render_report`` reads only; ``write_postmortem`` puts it in a file (for review in git).
Who approved and what ran come from the audit chain, verified first, never from the
approvals and executions tables (which the chain does not cover: a row forged there must
not pass for a verified approval). Everything the alert or the model wrote is untrusted
text: it is shown in code fences or as escaped table cells, never as Markdown of the
report's own.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from warden.audit.chain import ChainReport, verify
from warden.changes import RecordedChange, changes_before
from warden.domain import service_key
from warden.policy import INPUTS_EVENT, Policy
from warden.store import AuditRow, FreezeRow, IncidentRow
from warden.store.queries import IncidentDetail, incident_detail
from warden.words import outcome_words

_CELL_CHARS = 160


def render_report(
    session: Session, incident_id: int, *, change_lookback_minutes: float,
    policy: Policy | None = None, chain: ChainReport | None = None,
) -> str | None:
    """The post-mortem of incident ``incident_id``, or None when there is no such incident.

    Sections: summary, what went wrong, timeline (every audit event), the raw alert, the
    changes on the service in the ``change_lookback_minutes`` before the first alert, the
    proposal (provider, model, tokens, cost), the decision and every reason (re-checks
    included), approvals, executions and their output, verification. Approvals,
    executions and verification are built from the audit events; ``chain`` is the
    verification of the whole chain (done here when not given), and when it failed the
    report says so at the top and in those sections. ``policy`` only adds the service's
    tier. Deterministic for a given store.
    """
    detail = incident_detail(session, incident_id)
    if detail is None:
        return None
    if chain is None:
        chain = verify(session)
    row = detail.incident
    events = list(session.execute(
        select(AuditRow).where(AuditRow.incident_id == incident_id).order_by(AuditRow.id)
    ).scalars())
    follow_ups = list(session.execute(
        select(IncidentRow).where(IncidentRow.caused_by_incident_id == incident_id)
        .order_by(IncidentRow.id)
    ).scalars())
    frozen = session.get(FreezeRow, service_key(row.service))
    changes = changes_before(session, row.service, row.first_seen, change_lookback_minutes)
    warning = _unverified_warning(chain)
    executions = _executions_of(events)
    parts = [
        _summary(row, policy, follow_ups),
        *([warning] if warning else []),
        _went_wrong(detail, events, executions, follow_ups),
        _timeline(events),
        _raw_alert(detail),
        _changes(changes, row.first_seen, change_lookback_minutes),
        _evidence(row),
        _proposal(detail),
        _decision(row, events),
        _approvals(row, events, warning),
        _executions(executions, warning),
        _verification(executions, follow_ups, frozen, warning),
    ]
    return "\n\n".join(parts).rstrip() + "\n"


@dataclass(frozen=True, slots=True)
class _AuditedExecution:
    """One execution as the audit events tell it (``execution.*`` and ``verify.*``)."""

    execution_id: int
    action: Mapping[str, Any] | None
    executor: str
    automated: bool
    dry_run: bool
    idempotency_key: str
    started_at: datetime
    status: str = "started"
    finished_at: datetime | None = None
    output: str = ""
    check: str | None = None
    check_detail: str = ""
    check_at: datetime | None = None


def _executions_of(events: Iterable[AuditRow]) -> list[_AuditedExecution]:
    found: dict[int, _AuditedExecution] = {}
    for event in events:
        data = event.data
        key = data.get("execution_id")
        if event.kind == "execution.started" and isinstance(key, int):
            found[key] = _AuditedExecution(
                execution_id=key, action=data.get("action"),
                executor=str(data.get("executor")), automated=bool(data.get("automated")),
                dry_run=bool(data.get("dry_run")),
                idempotency_key=str(data.get("idempotency_key")), started_at=event.at)
            continue
        known = found.get(key) if isinstance(key, int) else None
        if known is None:
            continue
        if event.kind == "execution.finished":
            found[known.execution_id] = replace(
                known, status=str(data.get("status")), finished_at=event.at,
                output=str(data.get("output") or ""))
        elif event.kind == "execution.unknown":
            found[known.execution_id] = replace(known, status="unknown", finished_at=event.at)
        elif event.kind == "execution.late_result":
            found[known.execution_id] = replace(
                known, output=f"{known.output}\n[late result: {data.get('status')}]\n"
                              f"{data.get('output') or ''}".lstrip("\n"))
        elif event.kind in ("verify.passed", "verify.failed"):
            found[known.execution_id] = replace(
                known, check=event.kind.removeprefix("verify."),
                check_detail=str(data.get("detail") or ""), check_at=event.at)
    return list(found.values())


def postmortem_path(directory: Path, row: IncidentRow) -> Path:
    """``incident-000042-checkout-web.md``: sorted by id, readable by service."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", row.service).strip("._")[:60] or "service"
    return directory / f"incident-{row.id:06d}-{slug}.md"


def write_postmortem(
    session: Session, incident_id: int, directory: Path, *, change_lookback_minutes: float,
    policy: Policy | None = None,
) -> Path | None:
    """Write the report of ``incident_id`` into ``directory`` (created if missing),
    replacing an earlier version atomically; returns the path, None for no incident."""
    text = render_report(session, incident_id, policy=policy,
                         change_lookback_minutes=change_lookback_minutes)
    row = session.get(IncidentRow, incident_id)
    if text is None or row is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    path = postmortem_path(directory, row)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".postmortem-", suffix=".md")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# Sections ---------------------------------------------------------------------------------

def _summary(row: IncidentRow, policy: Policy | None, follow_ups: list[IncidentRow]) -> str:
    tier = f" (tier {policy.tier_of(row.service)})" if policy is not None else ""
    decision = (outcome_words(row.decision, policy_mode=policy.mode if policy else "live")
                if row.decision else "not triaged")
    status = row.status + (f", resolved {_ts(row.resolved_at)}" if row.resolved_at else "")
    lines = [
        f"# Incident #{row.id}: {_inline(row.title)}",
        "",
        "| | |",
        "|---|---|",
        f"| Service | {_cell(row.service)}{tier} |",
        f"| Source | {_cell(row.source)} |",
        f"| Status | {status} |",
        f"| Severity | {row.severity or 'not given'} |",
        f"| Alerts | {row.alert_count} (first {_ts(row.first_seen)}, last {_ts(row.last_seen)}) |",
        f"| Decision | {decision} |",
        f"| Approval | {row.approval_state or 'not needed'} |",
    ]
    if row.acknowledged_by is not None:
        lines.append(f"| Acknowledged | by {_cell(row.acknowledged_by)} at "
                     f"{_ts(row.acknowledged_at)} |")
    if row.caused_by_incident_id is not None:
        lines.append(f"| Caused by | incident #{row.caused_by_incident_id} |")
    if follow_ups:
        lines.append("| Led to | " + ", ".join(f"incident #{f.id}" for f in follow_ups) + " |")
    return "\n".join(lines)


def _unverified_warning(chain: ChainReport) -> str | None:
    if chain.ok:
        return None
    where = f" at event {chain.first_broken_id}" if chain.first_broken_id else ""
    return (f"> **Unverified.** The audit chain does not verify{where}: "
            f"{_inline(chain.problem or '')}. The approvals, executions and checks below "
            "come from it and may have been altered.")


def _went_wrong(detail: IncidentDetail, events: list[AuditRow],
                executions: list[_AuditedExecution], follow_ups: list[IncidentRow]) -> str:
    row = detail.incident
    problems: list[str] = []
    if row.proposal and row.proposal.get("malformed"):
        problems.append(f"The model's reply was malformed: {_inline(row.proposal['malformed'])}")
    if row.triage_note:
        problems.append(f"Triage note: {_inline(row.triage_note)}")
    problems += [f"Model call to {_inline(c.model)} failed ({c.outcome}): {_inline(c.error or '')}"
                 for c in detail.ledger if c.outcome != "ok"]
    for event in events:
        data = event.data
        if event.kind == "approval.rejected":
            problems.append(f"Rejected by {_inline(event.actor)}: "
                            f"{_inline(data.get('reason', ''))}")
        elif event.kind == "approval.expired":
            problems.append(f"The approval request expired at {data.get('expires_at')}; "
                            "nothing ran.")
        elif event.kind == "policy.rechecked" and data.get("outcome") == "blocked":
            problems.append(f"The re-check ({data.get('stage')}) blocked the action: "
                            f"{_inline(_reasons(data))}")
        elif event.kind == "execution.skipped":
            problems.append(f"The action did not run: {_inline(str(data.get('why')))}")
        elif event.kind == "notify.failed":
            problems.append(f"A notification could not be delivered: "
                            f"{_inline(str(data.get('error') or data.get('response')))}")
        elif event.kind == "loop_breaker.frozen":
            problems.append(f"Automation for {_inline(str(data.get('service')))} was frozen: "
                            f"{_inline(str(data.get('reason')))}")
    for execution in executions:
        name = _inline(str((execution.action or {}).get("name")))
        if execution.status in ("failed", "unknown"):
            problems.append(f"Execution {execution.execution_id} ({name}) {execution.status}: "
                            f"{_inline(_first_line(execution.output))}")
        if execution.check == "failed":
            problems.append(f"The health check after execution {execution.execution_id} "
                            f"({name}) failed: {_inline(_first_line(execution.check_detail))}")
    problems += [f"Incident #{f.id} was opened because of this one: {_inline(f.title)}"
                 for f in follow_ups]
    body = "\n".join(f"- {p}" for p in problems) or "Nothing that Warden could see."
    return f"## What went wrong\n\n{body}"


def _timeline(events: Iterable[AuditRow]) -> str:
    lines = ["## Timeline", "", "| Time (UTC) | Actor | Event | Details |", "|---|---|---|---|"]
    lines += [f"| {_ts(e.at)} | {_cell(e.actor)} | {e.kind} | {_cell(_brief(_shown(e)))} |"
              for e in events]
    return "\n".join(lines)


def _shown(event: AuditRow) -> Mapping[str, Any]:
    """An event's details for the timeline. A decision's recorded inputs (for replay)
    repeat the alerts and the reply shown elsewhere: the timeline names the decision."""
    if event.kind != INPUTS_EVENT:
        return event.data
    decision = event.data.get("decision") or {}
    history = (event.data.get("inputs") or {}).get("history") or {}
    return {"stage": event.data.get("stage"), "outcome": decision.get("outcome"),
            "policy_digest": event.data.get("policy_digest"),
            "precedents": history.get("precedents")}


def _raw_alert(detail: IncidentDetail) -> str:
    if not detail.alerts:
        return "## Raw alert\n\nNo alert is stored for this incident."
    first = detail.alerts[0]
    text = json.dumps(first.raw, indent=2, sort_keys=True, ensure_ascii=False)
    more = len(detail.alerts) - 1
    tail = f"\n\n{more} more alert(s) folded into this incident." if more else ""
    return (f"## Raw alert\n\nAs received from {_inline(first.source)} at "
            f"{_ts(first.received_at)}:\n\n{_fence(text, 'json')}{tail}")


def _changes(changes: Sequence[RecordedChange], first_alert_at: datetime,
             lookback_minutes: float) -> str:
    heading = f"## Changes in the {lookback_minutes:g} minutes before the first alert"
    if not changes:
        return f"{heading}\n\nNone recorded on this service."
    lines = [heading, "", "As their senders reported them, newest first.", "",
             "| Time (UTC) | Before the first alert | Kind | Version | Summary | Author | "
             "Link | Source |", "|---|---|---|---|---|---|---|---|"]
    for recorded in changes:
        change = recorded.change
        minutes = (first_alert_at - change.at).total_seconds() / 60
        lines.append(
            f"| {_ts(change.at)} | {minutes:.1f} min | {change.kind} | "
            f"{_cell(change.version or '-')} | {_cell(change.summary or '-')} | "
            f"{_cell(change.author or '-')} | {_cell(change.link or '-')} | "
            f"{_cell(change.source)} |")
    return "\n".join(lines)


def _evidence(row: IncidentRow) -> str:
    """The investigate stage's items, as the model and the approvers saw them."""
    if row.evidence is None:
        return "## Evidence\n\nNot collected."
    parts = ["## Evidence", "", f"Collected {_ts(row.evidence_at)} UTC, redacted; the model "
             "saw the same items."]
    for item in row.evidence:
        source = _inline(item.get("source_url") or "Warden's store")
        failed = " (failed)" if item.get("error") else ""
        parts += ["", f"### {_inline(item.get('title', ''))}{failed}", "",
                  f"Kind {_inline(item.get('kind', ''))}; source {source}.", "",
                  _fence(str(item.get("summary", "")))]
    return "\n".join(parts)


def _proposal(detail: IncidentDetail) -> str:
    row = detail.incident
    if row.proposal is None:
        return "## Proposal\n\nNot triaged."
    lines = ["## Proposal", "",
             f"- Provider: {_inline(row.triage_provider or '?')}, model: "
             f"{_inline(row.triage_model or 'none')}"]
    if detail.ledger:
        prompt = sum(c.prompt_tokens for c in detail.ledger)
        completion = sum(c.completion_tokens for c in detail.ledger)
        cost = sum(c.cost_usd for c in detail.ledger)
        lines.append(f"- Model calls: {len(detail.ledger)}, tokens {prompt} in / {completion} "
                     f"out, cost ${cost:.6f}")
        lines += ["", "| Model | Tokens in | Tokens out | Cost (USD) | Latency (ms) | Outcome |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {_cell(c.model)} | {c.prompt_tokens} | {c.completion_tokens} | "
                  f"{c.cost_usd:.6f} | {c.latency_ms:.0f} | {_cell(c.outcome)} |"
                  for c in detail.ledger]
        lines.append("")
    else:
        lines.append("- Model calls: none (cost $0)")
    proposal = row.proposal
    if proposal.get("malformed"):
        lines.append(f"- Malformed: {_inline(str(proposal['malformed']))}")
    else:
        action = proposal.get("suggested_action")
        lines += [
            f"- Category: {_inline(str(proposal.get('category')))}; severity: "
            f"{proposal.get('severity')}; confidence: {proposal.get('confidence')}",
            f"- Root cause: {_inline(str(proposal.get('root_cause') or ''))}",
            f"- Suggested action: {_action(action)}",
        ]
    if row.proposal_raw is not None:
        lines += ["", "The model's raw reply:", "", _fence(row.proposal_raw)]
    return "\n".join(lines)


def _decision(row: IncidentRow, events: list[AuditRow]) -> str:
    if row.decision is None:
        return "## Decision\n\nNo decision yet."
    lines = ["## Decision", "", f"**{row.decision.get('outcome')}** for "
             f"{_action(row.decision.get('action'))}, decided {_ts(row.decided_at)}:", ""]
    lines += [f"{i}. `{r.get('code')}`: {_inline(str(r.get('detail')))}"
              for i, r in enumerate(row.decision.get("reasons") or [], start=1)]
    for event in events:
        if event.kind == "policy.rechecked":
            data = event.data
            lines += ["", f"Re-checked at {data.get('stage')} time ({_ts(event.at)}): "
                          f"**{data.get('outcome')}**", ""]
            lines += [f"{i}. `{r.get('code')}`: {_inline(str(r.get('detail')))}"
                      for i, r in enumerate(data.get("reasons") or [], start=1)]
    return "\n".join(lines)


_VERDICTS = {"approval.approved": "approve", "approval.rejected": "reject"}


def _approvals(row: IncidentRow, events: list[AuditRow], warning: str | None) -> str:
    head = (f"## Approvals\n\nState: {row.approval_state or 'not needed'}"
            + (f"; expires {_ts(row.approval_expires_at)}" if row.approval_expires_at else ""))
    head += f"\n\n{warning}" if warning else ""
    verdicts = [e for e in events if e.kind in _VERDICTS]
    if not verdicts:
        return head + "\n\nNone given."
    lines = [head, "", "| When (UTC) | Who | Verdict | Channel | Reason |", "|---|---|---|---|---|"]
    lines += [f"| {_ts(e.at)} | {_cell(e.actor)} | {_VERDICTS[e.kind]} | "
              f"{_cell(str(e.data.get('channel')))} | {_cell(str(e.data.get('reason') or ''))} |"
              for e in verdicts]
    lines += [f"\nQuorum reached {_ts(e.at)}: approved by "
              f"{_inline(', '.join(map(str, e.data.get('approved_by') or [])))} "
              f"({e.data.get('needed')} needed); state {_inline(str(e.data.get('state')))}"
              for e in events if e.kind == "approval.quorum"]
    return "\n".join(lines)


def _executions(executions: list[_AuditedExecution], warning: str | None) -> str:
    if not executions:
        return "## Executions\n\n" + (f"{warning}\n\n" if warning else "") + \
            "Nothing was executed."
    parts = ["## Executions", *([warning] if warning else [])]
    for e in executions:
        parts.append("\n".join([
            f"### Execution {e.execution_id}: {_action(e.action)} ({e.status})", "",
            f"- Executor: {_inline(e.executor)}; automated: "
            f"{'yes' if e.automated else 'no (approved)'}; dry run: "
            f"{'yes' if e.dry_run else 'no'}",
            f"- Started {_ts(e.started_at)}, finished {_ts(e.finished_at)}",
            f"- Idempotency key: `{_inline(e.idempotency_key)}`", "",
            "Output as the audit log keeps it (it cuts long output):", "",
            _fence(e.output or "(no output)"),
        ]))
    return "\n\n".join(parts)


def _verification(executions: list[_AuditedExecution], follow_ups: list[IncidentRow],
                  frozen: FreezeRow | None, warning: str | None) -> str:
    lines = ["## Verification", "", *([warning, ""] if warning else [])]
    checked = [e for e in executions if e.check is not None]
    for e in checked:
        lines += [f"- Execution {e.execution_id}: {e.check} ({_ts(e.check_at)})", "",
                  _fence(e.check_detail), ""]
    if not checked:
        lines.append("No health check ran.")
    if follow_ups:
        lines.append("Follow-up incidents: " + ", ".join(f"#{f.id}" for f in follow_ups))
    if frozen is not None:
        lines.append(f"\nAutomation for {_inline(frozen.service)} is frozen since "
                     f"{_ts(frozen.at)}: {_inline(frozen.reason)}")
    return "\n".join(lines).rstrip()


# Formatting -------------------------------------------------------------------------------

def _ts(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _inline(text: str) -> str:
    """Untrusted text on one line, with Markdown and HTML characters escaped."""
    text = " ".join(str(text).split())
    return re.sub(r"([\\`*_\[\]<>#|!~])", r"\\\1", text)


def _cell(text: str) -> str:
    text = " ".join(str(text).split())
    if len(text) > _CELL_CHARS:
        text = text[:_CELL_CHARS] + "…"
    return _inline(text)


def _fence(text: str, lang: str = "") -> str:
    """``text`` in a code fence longer than any backtick run inside it."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text.rstrip()}\n{fence}"


def _first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def _reasons(data: Mapping[str, Any]) -> str:
    return "; ".join(f"{r.get('code')}: {r.get('detail')}" for r in data.get("reasons") or [])


def _action(action: object) -> str:
    if not isinstance(action, dict):
        return "no action"
    params = action.get("params") or {}
    shown = ", ".join(f"{k}={v}" for k, v in params.items())
    return (f"{_inline(str(action.get('name')))} on {_inline(str(action.get('service')))}"
            + (f" ({_inline(shown)})" if shown else ""))


def _brief(data: Mapping[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
