"""The worker: claims due steps of incidents and runs them, one incident at a time.

Steps, in pipeline order: ``triage`` (provider → proposal → policy decision), then
``notify`` (needs_approval or blocked: humans always hear), ``execute`` and ``verify``
(execute/verify stages). Each step ends by naming the next one in the same transaction
that records its result, so a crash between steps loses nothing and repeats nothing.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import structlog

from warden import audit
from warden.approval import expire_overdue
from warden.changes import with_changes
from warden.domain import Decision, MalformedProposal, Outcome, Proposal, Step
from warden.investigate import build_investigator, investigate
from warden.policy import DecisionInputs, decide, decision_json, parse_proposal
from warden.store import incident_from_row, incident_with_alerts
from warden.store.claims import (
    MAX_STEP_ATTEMPTS,
    Claim,
    back_off,
    claim_next,
    lock_owned,
    release,
    renew,
)
from warden.store.history import history_for
from warden.store.tables import IncidentRow, LedgerRow
from warden.triage import spend
from warden.trust import record_decision, trust_marks
from warden.words import is_shadow

if TYPE_CHECKING:
    from warden.app import Warden
    from warden.policy import Policy
    from warden.triage.provider import TriageProvider, TriageReply, TriageRequest
    from warden.web.metrics import Metrics

log = structlog.get_logger("warden.worker")

StepHandler = Callable[["Worker", Claim], None]

# How often an idle worker looks for approval requests that expired unanswered.
_EXPIRY_SWEEP_S = 2.0


def next_step_after(decision: Decision) -> str:
    """Execute what the policy allows; tell a human about everything else."""
    return Step.EXECUTE if decision.outcome is Outcome.EXECUTE else Step.NOTIFY


def proposal_json(proposal: Proposal | MalformedProposal) -> dict[str, Any]:
    if isinstance(proposal, MalformedProposal):
        return {"malformed": proposal.detail, "category": None}
    body = asdict(proposal)
    body["severity"] = proposal.severity.value
    if proposal.suggested_action is not None:
        body["suggested_action"]["params"] = dict(proposal.suggested_action.params)
    return body


class Worker:
    """Runs due steps until stopped. Several workers (threads, processes, hosts) may share
    one store: leases make sure each step of an incident runs in one of them at a time."""

    def __init__(self, warden: Warden) -> None:
        from warden.triage import build_provider
        from warden.triage.providers.rules import RulesProvider

        self.warden = warden
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._build_provider = build_provider
        self._provider_policy = warden.policy.current
        self.provider: TriageProvider = build_provider(warden.settings, self._provider_policy)
        self.rules: TriageProvider = RulesProvider()
        self.investigator = build_investigator(warden.settings, warden.store.session,
                                               warden.redact_patterns)
        self.steps: dict[str, StepHandler] = {Step.TRIAGE: triage_step}
        self.steps.update(_later_steps())
        self._expiry_swept_at = float("-inf")

    # The loop ------------------------------------------------------------------------------

    def run(self, stopping: threading.Event, wake: threading.Event) -> None:
        while not stopping.is_set():
            try:
                worked = self.run_once()
            except Exception:  # the store itself failed; logged, and the loop goes on
                log.exception("worker.claim_failed")
                worked = False
            if not worked:
                wake.wait(self.warden.settings.worker_poll_s)
                wake.clear()

    def run_once(self) -> bool:
        """Claim and run one due step; False when nothing was due."""
        settings = self.warden.settings
        with self.warden.store.session() as session:
            claim = claim_next(session, owner=self.owner, now=self.warden.clock(),
                               lease_s=settings.lease_s)
        if claim is None:
            self._expire_overdue_requests()
            return False
        handler = self.steps.get(claim.step)
        if handler is None or claim.attempt > MAX_STEP_ATTEMPTS:
            self._abandon(claim, "no handler for this step" if handler is None
                          else f"failed {MAX_STEP_ATTEMPTS} times")
            return True
        try:
            with self._heartbeat(claim):
                handler(self, claim)
        except Exception:  # one bad incident must not stop the worker: retry it later
            log.exception("worker.step_failed", incident_id=claim.incident_id,
                          step=claim.step, attempt=claim.attempt)
            with self.warden.store.session() as session:
                back_off(session, claim, owner=self.owner, now=self.warden.clock())
        return True

    def _expire_overdue_requests(self) -> None:
        """When idle, at most every few seconds: approval requests nobody answered expire
        and their humans are told (approval stage), instead of waiting until someone next
        opens them."""
        now = time.monotonic()
        if now - self._expiry_swept_at < _EXPIRY_SWEEP_S:
            return
        self._expiry_swept_at = now
        with self.warden.store.session() as session:
            expired = expire_overdue(session, now=self.warden.clock())
        if expired:
            log.info("worker.approvals_expired", count=expired)

    def _abandon(self, claim: Claim, why: str) -> None:
        """Stop retrying a step; the audit log and the console show it for a human."""
        log.error("worker.step_abandoned", incident_id=claim.incident_id, step=claim.step,
                  why=why)
        with self.warden.store.session() as session:
            row = lock_owned(session, claim, owner=self.owner)
            if row is None:
                return
            audit.record(session, incident_id=claim.incident_id, actor="worker",
                         kind="step.abandoned", data={"step": claim.step, "why": why},
                         now=self.warden.clock())
            release(row, next_step=None)

    def provider_for(self, policy: Policy) -> TriageProvider:
        """The provider, rebuilt after a policy reload (its prompt lists the policy's actions)."""
        if policy is not self._provider_policy:
            self.provider = self._build_provider(self.warden.settings, policy)
            self._provider_policy = policy
        return self.provider

    def _heartbeat(self, claim: Claim) -> _Heartbeat:
        return _Heartbeat(self, claim)

    # Health ----------------------------------------------------------------------------------

    def breaker_states(self) -> dict[str, str]:
        states: Callable[[], dict[str, str]] | None = getattr(self.provider, "breaker_states",
                                                              None)
        return states() if states else {}

    def degraded_parts(self) -> list[str]:
        states = self.breaker_states()
        if states and all(s == "open" for s in states.values()):
            return ["llm: every model's circuit breaker is open; triage falls back to rules"]
        return [f"llm model {m}: circuit open" for m, s in states.items() if s == "open"]

    def export_gauges(self, metrics: Metrics) -> None:
        states = self.breaker_states()
        for model, state in states.items():
            metrics.breaker_open.labels(model=model).set(1 if state == "open" else 0)
        metrics.degraded.set(1 if self.degraded_parts() else 0)


class _Heartbeat:
    """Renews the claim's lease in the background while a step runs."""

    def __init__(self, worker: Worker, claim: Claim) -> None:
        self.worker = worker
        self.claim = claim
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="warden-lease")

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _beat(self) -> None:
        warden = self.worker.warden
        interval = warden.settings.lease_s / 3
        while not self._done.wait(interval):
            with warden.store.session() as session:
                if not renew(session, self.claim, owner=self.worker.owner, now=warden.clock(),
                             lease_s=warden.settings.lease_s):
                    log.warning("worker.lease_lost", incident_id=self.claim.incident_id)
                    return


def _later_steps() -> dict[str, StepHandler]:
    """The approval, execute and verify stages' steps, when those stages are installed."""
    try:
        from warden.execute.steps import STEPS
    except ImportError:
        return {}
    return dict(STEPS)


# The triage step ---------------------------------------------------------------------------

def triage_step(worker: Worker, claim: Claim) -> None:
    """Ask the provider once, parse its reply strictly, let the policy decide, record all."""
    from warden.triage.redact import redact_request

    warden = worker.warden
    policy = warden.policy.current
    with warden.store.session() as session:
        row = session.get(IncidentRow, claim.incident_id)
        if row is None:
            return
        incident = incident_from_row(row)
        request = with_changes(
            session, _request_for(incident, policy), first_alert_at=incident.first_seen,
            lookback_minutes=warden.settings.change_lookback_minutes,
            grounding_days=policy.grounding_days, now=warden.clock())
    # The investigate stage, run here until the pipeline gives it a step of its own.
    evidence = investigate(warden.store.session, worker.investigator,
                           incident_id=incident.id, now=warden.clock())
    request, redactions = redact_request(replace(request, evidence=evidence),
                                         warden.redact_patterns)

    provider, note, reservation = worker.provider_for(policy), None, None
    if provider.name != "rules":
        with warden.store.session() as session:
            reserved = spend.reserve(
                session, settings=warden.settings, service=incident.service_key,
                incident_id=incident.id, provider=provider.name,
                model=",".join(warden.settings.llm_models), now=warden.clock(),
            )
        if isinstance(reserved, str):
            provider, note = worker.rules, reserved
        else:
            reservation = reserved.id
    reply = provider.propose(request)
    note = "; ".join(n for n in (note, reply.fallback_reason) if n) or None

    now = warden.clock()
    proposal = parse_proposal(reply.raw, categories=policy.categories)
    with warden.store.session() as session:
        row = lock_owned(session, claim, owner=worker.owner)
        _record_calls(session, reply, provider=worker.provider.name, reservation=reservation,
                      incident=incident, now=now, metrics=warden.metrics)
        warden.model_health.record(reply.calls)
        if row is None:
            return  # the lease was lost; whoever holds it now does this step
        # Every alert the incident holds now, not only those the model was shown: a
        # security alert that joined the group meanwhile still sends it to a human.
        inputs = _decision_inputs(session, row, proposal, raw=reply.raw, now=now,
                                  grounding_days=policy.grounding_days)
        decision = decide(inputs.incident, proposal, policy, inputs.history, now)
        row.proposal_raw = reply.raw
        row.proposal = proposal_json(proposal)
        row.triage_provider = reply.provider
        row.triage_model = reply.model
        row.triage_note = note
        row.triaged_at = now
        row.triaged_severity = row.severity
        row.decision_outcome = decision.outcome.value
        # The mode decided under: an execute in dry_run runs nothing, whatever the policy
        # says later. The trust marks: the precedents weighed, and whether it is shadow.
        row.decision = {**decision_json(decision), "mode": policy.mode,
                        **trust_marks(decision, inputs.history, policy)}
        asks_shadow_verdict = is_shadow(row.decision)
        row.decided_at = now
        if decision.outcome is Outcome.NEEDS_APPROVAL or asks_shadow_verdict:
            row.approval_state = "pending"
            row.approval_expires_at = now + timedelta(
                minutes=warden.settings.approval_ttl_minutes)
        audit.record(session, incident_id=incident.id, actor=f"triage:{reply.provider}",
                     kind="triage.proposed",
                     data={"provider": reply.provider, "model": reply.model, "note": note,
                           "redactions": dict(redactions), "proposal": row.proposal,
                           "cost_usd": reply.cost_usd},
                     now=now)
        audit.record(session, incident_id=incident.id, actor="policy", kind="policy.decided",
                     data=row.decision, now=now)
        record_decision(session, stage="triage", inputs=inputs, decision=decision,
                        policy=policy, model=reply.model)
        release(row, next_step=Step.NOTIFY if asks_shadow_verdict
                else next_step_after(decision))
    warden.metrics.triage_total.labels(provider=reply.provider,
                                       outcome="fallback" if note else "ok").inc()
    warden.metrics.decisions.labels(outcome=decision.outcome.value).inc()
    log.info("incident.triaged", incident_id=incident.id, provider=reply.provider,
             model=reply.model, outcome=decision.outcome.value, note=note)


def _decision_inputs(
    session: Any, row: IncidentRow, proposal: Proposal | MalformedProposal, *, raw: str,
    now: Any, grounding_days: float,
) -> DecisionInputs:
    """What ``decide`` is given at triage: the incident with every alert it holds now,
    the raw reply, and the history including the proposed action's precedents."""
    incident = incident_with_alerts(session, row)
    action = None if isinstance(proposal, MalformedProposal) else proposal.suggested_action
    history = history_for(session, service=incident.service, now=now,
                          grounding_days=grounding_days, incident=incident,
                          action_name=None if action is None else action.name)
    return DecisionInputs(incident=incident, proposal_raw=raw, history=history, decided_at=now)


def _request_for(incident: Any, policy: Any) -> TriageRequest:
    from warden.triage.provider import TriageRequest

    return TriageRequest(
        service=incident.service, title=incident.title, description=incident.description,
        labels=dict(incident.labels), severity=incident.severity,
        allowed_actions=tuple(policy.actions), categories=tuple(policy.categories),
        grounded_actions=MappingProxyType({
            name: tuple(sorted(spec.params)) for name, spec in policy.actions.items()
            if spec.params and spec.grounded_params == set(spec.params)}),
    )


def _record_calls(
    session: Any, reply: TriageReply, *, provider: str, reservation: int | None, incident: Any,
    now: Any, metrics: Metrics,
) -> None:
    """One ledger row per model call; the reservation row becomes the first of them. The
    ledger keeps the service key, so the per-service model-call limit and spend count
    every spelling of a service as one."""
    calls = list(getattr(reply, "calls", ()))
    reserved = session.get(LedgerRow, reservation) if reservation is not None else None
    if reserved is not None and not calls:
        session.delete(reserved)  # the call never happened (budget or breaker stopped it)
    for index, call in enumerate(calls):
        row = reserved if index == 0 and reserved is not None else LedgerRow(
            incident_id=incident.id, service=incident.service_key, at=now)
        row.provider = provider
        row.model = call.model
        row.prompt_tokens = call.prompt_tokens
        row.completion_tokens = call.completion_tokens
        row.cost_usd = call.cost_usd
        row.latency_ms = call.latency_ms
        row.outcome = call.outcome
        row.error = call.error
        session.add(row)
        metrics.model_calls.labels(model=call.model, outcome=call.outcome).inc()
        if call.cost_usd:
            metrics.spend_usd.labels(model=call.model, service=incident.service_key).inc(
                call.cost_usd)

