"""The ``triage`` stage: the provider proposes, strictly parsed, and the policy decides.

Model calls are budgeted before they start: ``spend.reserve`` books an estimate of the
call's cost, so concurrent triages cannot all pass a cap that only one of them fits;
the reservation is settled with the call's real cost afterwards.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from warden import audit
from warden.approval import open_request
from warden.config import Settings
from warden.domain import Incident, MalformedProposal, Outcome, Proposal
from warden.investigate import Collected, Investigator, collect, investigate, keep
from warden.metrics import Metrics
from warden.pipeline.stage import Lease, LeaseLost, StepResult
from warden.policy import DecisionInputs, Policy, decide, decision_json, parse_proposal
from warden.promql import GENERATOR_URL_LABEL
from warden.store import AlertRow, Store, incident_from_row, incident_with_alerts
from warden.store.history import history_for
from warden.store.tables import IncidentRow, LedgerRow
from warden.triage import spend
from warden.triage.model_health import ModelHealth
from warden.triage.provider import TriageProvider, TriageReply, TriageRequest
from warden.triage.providers.rules import RulesProvider
from warden.triage.recent_changes import with_changes
from warden.triage.redact import redact_request
from warden.trust import record_decision, trust_marks
from warden.words import is_shadow

log = structlog.get_logger("warden.triage")

ProviderFactory = Callable[[Settings, Policy], TriageProvider]


def proposal_json(proposal: Proposal | MalformedProposal) -> dict[str, Any]:
    if isinstance(proposal, MalformedProposal):
        return {"malformed": proposal.detail, "category": None}
    body = asdict(proposal)
    body["severity"] = proposal.severity.value
    if proposal.suggested_action is not None:
        body["suggested_action"]["params"] = dict(proposal.suggested_action.params)
    return body


def request_for(
    incident: Incident, policy: Policy, first_raw: Mapping[str, Any] | None
) -> TriageRequest:
    """What the provider sees of ``incident``. Alertmanager and Grafana keep the rule's
    ``generatorURL`` in the alert body, not its labels: it is copied into the labels,
    where the rules provider reads the rule's expression."""
    labels = dict(incident.labels)
    url = (first_raw or {}).get(GENERATOR_URL_LABEL)
    if isinstance(url, str) and url and GENERATOR_URL_LABEL not in labels:
        labels[GENERATOR_URL_LABEL] = url
    return TriageRequest(
        service=incident.service, title=incident.title, description=incident.description,
        labels=labels, severity=incident.severity,
        allowed_actions=tuple(policy.actions), categories=tuple(policy.categories),
        grounded_actions=MappingProxyType({
            name: tuple(sorted(spec.params)) for name, spec in policy.actions.items()
            if spec.params and spec.grounded_params == set(spec.params)}),
    )


def decision_inputs(
    session: Session, row: IncidentRow, proposal: Proposal | MalformedProposal, *, raw: str,
    now: datetime, grounding_days: float,
) -> DecisionInputs:
    """What ``decide`` is given at triage: the incident with every alert it holds now,
    the raw reply, and the history including the proposed action's precedents."""
    incident = incident_with_alerts(session, row)
    action = None if isinstance(proposal, MalformedProposal) else proposal.suggested_action
    history = history_for(session, service=incident.service, now=now,
                          grounding_days=grounding_days, incident=incident,
                          action_name=None if action is None else action.name)
    return DecisionInputs(incident=incident, proposal_raw=raw, history=history, decided_at=now)


def _answers_at_once(provider: TriageProvider) -> bool:
    """Whether ``provider`` is the rules provider: no network, no cost, no waiting."""
    return provider.name == RulesProvider.name


@dataclass(frozen=True, slots=True)
class _Read:
    """An incident as read for triage, and the redacted request the provider gets."""

    lease: Lease
    incident: Incident
    request: TriageRequest
    redactions: Mapping[str, int]
    evidence: Collected  # stored with the decision when still new


@dataclass(frozen=True, slots=True)
class _Asked:
    """A provider's reply, with why a fallback answered and the ledger reservation."""

    reply: TriageReply
    note: str | None
    reservation: int | None


class TriageStage:
    """Asks the provider once per incident, lets the policy decide, records both."""

    def __init__(
        self, *, store: Store, settings: Settings, policy: Callable[[], Policy],
        clock: Callable[[], datetime], metrics: Metrics, model_health: ModelHealth,
        redact_patterns: Sequence[re.Pattern[str]], build_provider: ProviderFactory,
        investigator: Investigator,
    ) -> None:
        self._store = store
        self._investigator = investigator
        self._settings = settings
        self._policy = policy
        self._clock = clock
        self._metrics = metrics
        self._model_health = model_health
        self._redact_patterns = tuple(redact_patterns)
        self._build_provider = build_provider
        self._rules: TriageProvider = RulesProvider()
        self._provider_lock = threading.Lock()
        self._provider_policy = policy()
        self._provider = build_provider(settings, self._provider_policy)

    def provider_for(self, policy: Policy) -> TriageProvider:
        """The provider, rebuilt after a policy reload (its prompt lists the policy's
        actions); concurrent triages share one."""
        with self._provider_lock:
            if policy is not self._provider_policy:
                self._provider = self._build_provider(self._settings, policy)
                self._provider_policy = policy
            return self._provider

    def batches(self) -> bool:
        """Whether the provider needs no network (rules): then many incidents are decided
        in one transaction instead of a step each."""
        with self._provider_lock:
            return _answers_at_once(self._provider)

    def run(self, lease: Lease) -> None:
        self.run_many([lease])

    def run_many(self, leases: Sequence[Lease]) -> None:
        """Read every incident in one transaction, ask the provider for each, and record
        every proposal and decision in one transaction."""
        policy = self._policy()
        with self._store.session() as session:
            unread = [found for lease in leases
                      if (found := self._read(session, lease, policy)) is not None]
        provider = self.provider_for(policy)
        # Before a model call (seconds) the evidence is stored at once, so the console
        # shows it meanwhile; the rules provider answers at once, so a batch stores it
        # with the decisions, in the same single transaction.
        reads = [self._investigated(*found, keep_now=not _answers_at_once(provider))
                 for found in unread]
        asked = [self._ask(provider, read) for read in reads]
        now = self._clock()
        with self._store.session() as session:
            outcomes = [self._record(session, read, answer, policy=policy, now=now)
                        for read, answer in zip(reads, asked, strict=True)]
        for read, answer, outcome in zip(reads, asked, outcomes, strict=True):
            if outcome is not None:
                self._told(read, answer, outcome)

    def _read(self, session: Session, lease: Lease,
              policy: Policy) -> tuple[Lease, Incident, TriageRequest] | None:
        """The incident and the request about it, with its service's recent changes."""
        row = session.get(IncidentRow, lease.incident_id)
        if row is None:
            return None
        incident = incident_from_row(row)
        first_raw = session.execute(
            select(AlertRow.raw).where(AlertRow.incident_id == row.id)
            .order_by(AlertRow.id).limit(1)
        ).scalar_one_or_none()
        request = with_changes(
            session, request_for(incident, policy, first_raw), first_alert_at=incident.first_seen,
            lookback_minutes=self._settings.change_lookback_minutes,
            grounding_days=policy.grounding_days, now=self._clock())
        return lease, incident, request

    def _investigated(self, lease: Lease, incident: Incident, request: TriageRequest, *,
                      keep_now: bool) -> _Read:
        """The request with the incident's evidence (the investigate stage, which opens its
        own transactions, so outside the read), redacted as a whole."""
        collected = (
            Collected(investigate(self._store.session, self._investigator,
                                  incident_id=incident.id, now=self._clock()), new=False)
            if keep_now else collect(self._store.session, self._investigator,
                                     incident_id=incident.id, now=self._clock()))
        redacted, redactions = redact_request(replace(request, evidence=collected.evidence),
                                              self._redact_patterns)
        return _Read(lease, incident, redacted, redactions, collected)

    def _ask(self, provider: TriageProvider, read: _Read) -> _Asked:
        note, reservation, incident = None, None, read.incident
        if not _answers_at_once(provider):
            with self._store.session() as session:
                # A step slowed down past its lease has been handed to another worker, who
                # asks the model itself: a second paid call for the same incident.
                if not read.lease.held(session):
                    raise LeaseLost(read.lease.claim)
                reserved = spend.reserve(
                    session, settings=self._settings, service=incident.service_key,
                    incident_id=incident.id, provider=provider.name,
                    model=",".join(self._settings.llm_models), now=self._clock(),
                )
            if isinstance(reserved, str):
                provider, note = self._rules, reserved
            else:
                reservation = reserved.id
        reply = provider.propose(read.request)
        note = "; ".join(n for n in (note, reply.fallback_reason) if n) or None
        return _Asked(reply, note, reservation)

    def _record(
        self, session: Session, read: _Read, asked: _Asked, *, policy: Policy, now: datetime,
    ) -> Outcome | None:
        """Record the proposal and the policy's decision, and end the step; None when the
        lease was lost (whoever holds it now does this step)."""
        reply, note, incident = asked.reply, asked.note, read.incident
        proposal = parse_proposal(reply.raw, categories=policy.categories)
        row = read.lease.lock(session)
        self._settle(session, reply, reservation=asked.reservation, incident=incident,
                     now=now)
        self._model_health.record(reply.calls)
        if row is None:
            return None
        keep(session, read.evidence, incident_id=incident.id, now=now)
        # Every alert the incident holds now, not only those the model was shown: a
        # security alert that joined the group meanwhile still sends it to a human.
        inputs = decision_inputs(session, row, proposal, raw=reply.raw, now=now,
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
        # The mode decided under: an execute in dry_run runs nothing, whatever the
        # policy says later. The trust marks: the precedents weighed, and whether it is
        # shadow (then humans are asked for a verdict whatever the outcome).
        row.decision = {**decision_json(decision), "mode": policy.mode,
                        **trust_marks(decision, inputs.history, policy)}
        asks_shadow_verdict = is_shadow(row.decision)
        row.decided_at = now
        if decision.outcome is Outcome.NEEDS_APPROVAL or asks_shadow_verdict:
            open_request(row, now=now, ttl_minutes=self._settings.approval_ttl_minutes)
        audit.record(session, incident_id=incident.id, actor=f"triage:{reply.provider}",
                     kind="triage.proposed",
                     data={"provider": reply.provider, "model": reply.model,
                           "note": note, "redactions": dict(read.redactions),
                           "proposal": row.proposal, "cost_usd": reply.cost_usd},
                     now=now)
        audit.record(session, incident_id=incident.id, actor="policy",
                     kind="policy.decided", data=row.decision, now=now)
        record_decision(session, stage="triage", inputs=inputs, decision=decision,
                        policy=policy, model=reply.model)
        # Execute what the policy allows; tell a human about everything else.
        runs = decision.outcome is Outcome.EXECUTE and not asks_shadow_verdict
        read.lease.finish(row, StepResult.AUTOMATED if runs else StepResult.TELL_HUMANS)
        return decision.outcome

    def _told(self, read: _Read, asked: _Asked, outcome: Outcome) -> None:
        """Metrics and the log line, once the decision is committed."""
        reply, note = asked.reply, asked.note
        self._metrics.triage_total.labels(provider=reply.provider,
                                          outcome="fallback" if note else "ok").inc()
        self._metrics.decisions.labels(outcome=outcome.value).inc()
        log.info("incident.triaged", incident_id=read.incident.id, provider=reply.provider,
                 model=reply.model, outcome=outcome.value, note=note)

    def _settle(
        self, session: Session, reply: TriageReply, *, reservation: int | None,
        incident: Incident, now: datetime,
    ) -> None:
        """One ledger row per model call; the reservation (which held the estimate)
        becomes the first of them. The ledger keeps the service key, so the per-service
        model-call limit and spend count every spelling of a service as one."""
        reserved = session.get(LedgerRow, reservation) if reservation is not None else None
        if reserved is not None and not reply.calls:
            session.delete(reserved)  # the call never happened (budget or breaker stopped it)
        for index, call in enumerate(reply.calls):
            row = reserved if index == 0 and reserved is not None else LedgerRow(
                incident_id=incident.id, service=incident.service_key, at=now)
            row.provider = self._provider_name()
            row.model = call.model
            row.prompt_tokens = call.prompt_tokens
            row.completion_tokens = call.completion_tokens
            row.cost_usd = call.cost_usd
            row.latency_ms = call.latency_ms
            row.outcome = call.outcome
            row.error = call.error
            session.add(row)
            self._metrics.model_calls.labels(model=call.model, outcome=call.outcome).inc()
            if call.cost_usd:
                self._metrics.spend_usd.labels(model=call.model,
                                               service=incident.service_key).inc(call.cost_usd)

    def _provider_name(self) -> str:
        with self._provider_lock:
            return self._provider.name

    # Health ----------------------------------------------------------------------------

    def breaker_states(self) -> dict[str, str]:
        with self._provider_lock:
            provider = self._provider
        states: Callable[[], dict[str, str]] | None = getattr(provider, "breaker_states", None)
        return states() if states else {}

    def degraded_parts(self) -> list[str]:
        states = self.breaker_states()
        if states and all(s == "open" for s in states.values()):
            return ["llm: every model's circuit breaker is open; triage falls back to rules"]
        return [f"llm model {m}: circuit open" for m, s in states.items() if s == "open"]

    def export_gauges(self, metrics: Metrics) -> None:
        for model, state in self.breaker_states().items():
            metrics.breaker_open.labels(model=model).set(1 if state == "open" else 0)
        metrics.degraded.set(1 if self.degraded_parts() else 0)
