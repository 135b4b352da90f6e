"""Each stage alone: built with fakes of only what it talks to outside Warden (a model, a
metrics endpoint, a webhook, an executor's target, a health check), a fixed clock and a
real SQLite store holding an incident at that stage's step.

Each test claims the step as the runner would (``claim_due``), runs the one stage and
looks at what a user sees: the audit trail, the step the incident waits for next, and
what the outside world was sent.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import select

from tests.approval.factories import NOW, POLICY_YAML, current_digest, policy, triaged
from warden import audit, correlate
from warden.approval import submit
from warden.audit.postmortem_stage import PostmortemStage
from warden.config import Settings
from warden.domain import Action, ApprovalChannel, Verdict
from warden.errors import ExecutorError
from warden.execute import ExecuteStage, ExecutorResult, Job, NotifyStage
from warden.execute.executors.notify import NotifyExecutor
from warden.ingest.accept import Delivery, parse, store_parsed
from warden.investigate import Case, Evidence, EvidenceKind, Investigator
from warden.metrics import Metrics
from warden.pipeline.stage import Lease
from warden.policy import Policy, VerifySpec
from warden.store import AuditRow, ExecutionRow, FreezeRow, IncidentRow, LedgerRow, Store
from warden.store.claims import claim_due
from warden.triage.model_health import ModelHealth
from warden.triage.provider import ModelCall, TriageReply, TriageRequest
from warden.triage.stage import TriageStage
from warden.verify import CheckResult, VerifyStage

LATER = NOW + timedelta(minutes=1)
# The test policy, with one action whose health check the verify step runs.
VERIFIED_POLICY_YAML = POLICY_YAML.replace("approvers:", """\
  restart_canary:
    auto_tiers: [standard]
    executor:
      type: http
      method: POST
      url: "http://target.invalid/restart/{service}"
      verify: {type: http, url: "http://target.invalid/health/{service}"}
approvers:""")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'warden.db'}")
    store.migrate()
    return store


@pytest.fixture
def the_policy() -> Policy:
    return policy(VERIFIED_POLICY_YAML)


def settings(store: Store, **overrides: object) -> Settings:
    return Settings(database_url=store.url, **overrides)  # type: ignore[arg-type]


def lease_of(store: Store, step: str) -> Lease:
    """The step claimed as the runner claims it: the one incident due, at ``step``."""
    with store.session() as session:
        claims = claim_due(session, owner="test-runner", now=LATER, lease_s=60, limit=10)
    assert [claim.step for claim in claims] == [step]
    return Lease(claims[0], owner="test-runner")


def incident(store: Store, incident_id: int) -> IncidentRow:
    with store.session() as session:
        row = session.get(IncidentRow, incident_id)
        assert row is not None
        return row


def events(store: Store, incident_id: int) -> list[str]:
    with store.session() as session:
        return list(session.scalars(select(AuditRow.kind).where(
            AuditRow.incident_id == incident_id).order_by(AuditRow.id)))


def event_data(store: Store, incident_id: int, kind: str) -> dict[str, object]:
    with store.session() as session:
        data = session.scalars(select(AuditRow.data).where(
            AuditRow.incident_id == incident_id, AuditRow.kind == kind)).one()
    return dict(data)


def opened(store: Store, service: str, title: str, description: str = "") -> int:
    """An incident as ingest opens it (its triage step due)."""
    body = {"service": service, "title": title, "description": description,
            "severity": "high"}
    parsed = parse(Delivery("generic", orjson.dumps(body), {}),
                   settings=Settings(database_url="sqlite://"), now=NOW)
    with store.session() as session:
        [folded] = store_parsed(session, parsed)
    return folded.incident_id


# Triage ---------------------------------------------------------------------------------


class FakeModel:
    """A model provider that answers every request with ``action`` on the request's
    service, one call costing ``cost_usd``; it keeps what it was asked."""

    name = "fake-llm"

    def __init__(self, action: str, *, cost_usd: float = 0.002) -> None:
        self.action = action
        self.cost_usd = cost_usd
        self.requests: list[TriageRequest] = []

    def propose(self, request: TriageRequest) -> TriageReply:
        self.requests.append(request)
        raw = json.dumps({"category": "resource_exhaustion", "severity": "high",
                          "root_cause": "cache full", "confidence": 0.9,
                          "suggested_action": {"name": self.action,
                                               "service": request.service, "params": {}}})
        call = ModelCall(model="fake-1", prompt_tokens=400, completion_tokens=60,
                         cost_usd=self.cost_usd, latency_ms=20.0, outcome="ok")
        return TriageReply(raw=raw, provider=self.name, model="fake-1",
                           prompt_tokens=400, completion_tokens=60, cost_usd=self.cost_usd,
                           latency_ms=20.0, calls=(call,))


class FakeMetricsSource:
    """An evidence source standing in for Prometheus: one reading per case."""

    name = "fake-prometheus"
    kind = EvidenceKind.METRIC
    timeout_s = 2.0

    def __init__(self) -> None:
        self.cases: list[Case] = []

    def gather(self, case: Case) -> Sequence[Evidence]:
        self.cases.append(case)
        return [Evidence(id=f"metric:{case.service}:memory", kind=EvidenceKind.METRIC,
                         title="memory used", summary="97% of the cache's memory in use")]


def triage_stage(store: Store, the_policy: Policy, model: FakeModel,
                 source: FakeMetricsSource) -> TriageStage:
    return TriageStage(
        store=store, settings=settings(store, triage_provider="openai",
                                       llm_api_key="sk-test", llm_models=["fake-1"]),
        policy=lambda: the_policy, clock=lambda: LATER, metrics=Metrics(),
        model_health=ModelHealth(["fake-1"], enabled=True), redact_patterns=(),
        build_provider=lambda _settings, _policy: model,
        investigator=Investigator([source], deadline_s=5, max_item_bytes=4000))


@pytest.mark.parametrize(("service", "outcome", "next_step", "approval"), [
    ("checkout", "execute", "execute", None),  # standard tier: clear_cache runs alone
    ("payment-gateway", "needs_approval", "notify", "pending"),  # critical: humans decide
])
def test_triage_asks_the_model_once_and_hands_the_decision_on(
    store: Store, the_policy: Policy, service: str, outcome: str, next_step: str,
    approval: str | None,
) -> None:
    incident_id = opened(store, service, "Cache memory at 97%",
                         "evictions climbing; token=sk-live-0123456789abcdef0123")
    model, source = FakeModel("clear_cache"), FakeMetricsSource()
    triage_stage(store, the_policy, model, source).run(lease_of(store, "triage"))

    [request] = model.requests
    assert (request.service, request.title) == (service, "Cache memory at 97%")
    assert "sk-live-0123456789abcdef0123" not in request.description  # redacted first
    assert [e.summary for e in request.evidence] == ["97% of the cache's memory in use"]
    assert [case.incident_id for case in source.cases] == [incident_id]
    row = incident(store, incident_id)
    assert (row.decision_outcome, row.pending_step, row.approval_state) == (
        outcome, next_step, approval)
    assert row.lease_owner is None and row.triage_provider == "fake-llm"
    assert events(store, incident_id) == [
        "incident.opened", "investigate.collected", "triage.proposed", "policy.decided",
        "policy.inputs"]
    assert event_data(store, incident_id, "triage.proposed")["cost_usd"] == 0.002
    with store.session() as session:
        ledger = session.scalars(select(LedgerRow)).all()
    assert [(r.incident_id, r.model, r.cost_usd, r.outcome) for r in ledger] == [
        (incident_id, "fake-1", 0.002, "ok")]


def test_triage_past_the_budget_asks_no_model_and_says_why(
    store: Store, the_policy: Policy,
) -> None:
    incident_id = opened(store, "checkout", "Cache memory at 97%")
    model, source = FakeModel("clear_cache"), FakeMetricsSource()
    stage = TriageStage(
        store=store, settings=settings(store, triage_provider="openai", llm_api_key="sk-test",
                                       llm_models=["fake-1"], budget_daily_usd=0.0),
        policy=lambda: the_policy, clock=lambda: LATER, metrics=Metrics(),
        model_health=ModelHealth(["fake-1"], enabled=True), redact_patterns=(),
        build_provider=lambda _settings, _policy: model,
        investigator=Investigator([source], deadline_s=5, max_item_bytes=4000))
    stage.run(lease_of(store, "triage"))

    assert model.requests == []
    row = incident(store, incident_id)
    assert row.triage_provider == "rules" and "budget" in (row.triage_note or "")
    assert row.pending_step is not None and row.pending_step != "triage"


# Notify ---------------------------------------------------------------------------------


class FakeWebhook:
    """The on-call webhook: keeps each JSON body and answers ``status``."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.bodies: list[dict[str, object]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.content))
        return httpx.Response(self.status, json={"ok": self.status < 400})


def decided(store: Store, the_policy: Policy) -> int:
    """An incident whose decision waits for approval, audited as triage records it."""
    incident_id = triaged(store, the_policy, service="payment-gateway")
    with store.session() as session:
        row = session.get(IncidentRow, incident_id)
        assert row is not None
        audit.record(session, incident_id=incident_id, actor="policy", kind="policy.decided",
                     data=row.decision or {}, now=NOW)
    return incident_id


def notify_stage(store: Store, the_policy: Policy, webhook: FakeWebhook) -> NotifyStage:
    return NotifyStage(store=store, settings=settings(store), policy=lambda: the_policy,
                       clock=lambda: LATER,
                       notifier=NotifyExecutor(webhook_url="http://hooks.invalid/warden",
                                               timeout_s=2,
                                               transport=httpx.MockTransport(webhook)))


@pytest.mark.parametrize(("status", "kind"), [(200, "notify.sent"), (500, "notify.failed")])
def test_notify_tells_the_webhook_about_a_request_for_approval(
    store: Store, the_policy: Policy, status: int, kind: str,
) -> None:
    incident_id = decided(store, the_policy)
    webhook = FakeWebhook(status)
    notify_stage(store, the_policy, webhook).run(lease_of(store, "notify"))

    [body] = webhook.bodies
    assert "payment-gateway" in str(body["text"]) and "approv" in str(body["text"])
    assert events(store, incident_id) == ["policy.decided", kind]
    assert event_data(store, incident_id, kind)["about"] == "policy.decided"
    row = incident(store, incident_id)
    assert row.pending_step is None and row.approval_state == "pending"


def test_notify_hands_over_to_execute_when_the_approval_completed_meanwhile(
    store: Store, the_policy: Policy,
) -> None:
    incident_id = decided(store, the_policy)
    for user in ("alice", "carol"):
        submit(store, incident_id=incident_id, user=user, verdict=Verdict.APPROVE,
               reason="seen it", channel=ApprovalChannel.API,
               decision_digest=current_digest(store, incident_id), policy=the_policy,
               now=LATER)
    webhook = FakeWebhook()
    notify_stage(store, the_policy, webhook).run(lease_of(store, "notify"))

    assert len(webhook.bodies) == 1
    assert incident(store, incident_id).pending_step == "execute"


# Execute --------------------------------------------------------------------------------


class FakeExecutor:
    """The target an action runs against: keeps each job; answers ``result``, raises
    ``error``, or ``crash`` (as a process killed mid-run would stop)."""

    def __init__(self, result: ExecutorResult | None = None, *,
                 error: ExecutorError | None = None, crash: bool = False) -> None:
        self.result = result or ExecutorResult(ok=True, output="cleared")
        self.error = error
        self.crash = crash
        self.jobs: list[Job] = []

    def run(self, job: Job) -> ExecutorResult:
        self.jobs.append(job)
        if self.crash:
            raise SystemExit("killed mid-run")
        if self.error is not None:
            raise self.error
        return self.result


def execute_stage(store: Store, the_policy: Policy, executor: FakeExecutor) -> ExecuteStage:
    return ExecuteStage(store=store, settings=settings(store), policy=lambda: the_policy,
                        clock=lambda: LATER, metrics=Metrics(),
                        executor_for=lambda _spec, _policy: executor)


@pytest.mark.parametrize(("action", "executor", "status", "next_step"), [
    ("clear_cache", FakeExecutor(), "succeeded", None),
    ("restart_canary", FakeExecutor(), "succeeded", "verify"),  # it has a health check
    ("clear_cache", FakeExecutor(ExecutorResult(ok=False, output="503")), "failed", "notify"),
    ("clear_cache", FakeExecutor(error=ExecutorError("refused", recoverable=True)), "failed",
     "notify"),
])
def test_execute_runs_the_decided_action_once_and_records_how_it_went(
    store: Store, the_policy: Policy, action: str, executor: FakeExecutor, status: str,
    next_step: str | None,
) -> None:
    incident_id = triaged(store, the_policy, service="checkout", action=action)
    execute_stage(store, the_policy, executor).run(lease_of(store, "execute"))

    [job] = executor.jobs
    assert job.action == Action(name=action, service="checkout", params={})
    assert job.dry_run is False and job.incident.id == incident_id
    assert events(store, incident_id) == [
        "policy.inputs", "policy.rechecked", "execution.started", "execution.finished"]
    with store.session() as session:
        execution = session.scalars(select(ExecutionRow)).one()
    assert (execution.status, execution.automated) == (status, True)
    assert incident(store, incident_id).pending_step == next_step


def test_execute_after_a_crash_mid_run_never_runs_the_action_again(
    store: Store, the_policy: Policy,
) -> None:
    incident_id = triaged(store, the_policy, service="checkout")
    crashing = FakeExecutor(crash=True)
    with pytest.raises(SystemExit):
        execute_stage(store, the_policy, crashing).run(lease_of(store, "execute"))

    # The lease lapses; another runner claims the step.
    with store.session() as session:
        [claim] = claim_due(session, owner="second-runner", now=LATER + timedelta(minutes=5),
                            lease_s=60, limit=10)
    second = FakeExecutor()
    execute_stage(store, the_policy, second).run(Lease(claim, owner="second-runner"))

    assert len(crashing.jobs) == 1 and second.jobs == []
    assert events(store, incident_id)[-1] == "execution.unknown"
    with store.session() as session:
        assert session.scalars(select(ExecutionRow.status)).one() == "unknown"
    assert incident(store, incident_id).pending_step == "notify"


# Verify ---------------------------------------------------------------------------------


class FakeHealthCheck:
    """The service's health endpoint: answers ``ok``; keeps what it was asked to check."""

    def __init__(self, ok: bool) -> None:
        self.ok = ok
        self.checked: list[tuple[VerifySpec, Action]] = []

    def check(self, spec: VerifySpec, action: Action) -> CheckResult:
        self.checked.append((spec, action))
        return CheckResult(ok=self.ok, detail="200 OK" if self.ok else "503 from /health")


def executed(store: Store, the_policy: Policy) -> int:
    """An incident whose restart_canary succeeded a moment ago: its verify step is due."""
    incident_id = triaged(store, the_policy, service="checkout", action="restart_canary")
    with store.session() as session:
        row = session.get(IncidentRow, incident_id)
        assert row is not None
        row.pending_step = "verify"
        session.add(ExecutionRow(
            incident_id=incident_id, idempotency_key=f"{incident_id}:k", service="checkout",
            action={"name": "restart_canary", "service": "checkout", "params": {}},
            executor="http", status="succeeded", automated=True, dry_run=False,
            output="restarted", started_at=NOW, finished_at=NOW))
    return incident_id


def verify_stage(store: Store, the_policy: Policy, check: FakeHealthCheck) -> VerifyStage:
    return VerifyStage(store=store, postmortem_dir=None, policy=lambda: the_policy,
                       clock=lambda: LATER, verifier_for=lambda _spec: check)


def test_verify_records_a_passed_health_check_and_ends(
    store: Store, the_policy: Policy,
) -> None:
    incident_id = executed(store, the_policy)
    check = FakeHealthCheck(ok=True)
    verify_stage(store, the_policy, check).run(lease_of(store, "verify"))

    [(spec, action)] = check.checked
    assert spec.url == "http://target.invalid/health/{service}"
    assert action == Action(name="restart_canary", service="checkout", params={})
    assert events(store, incident_id) == ["verify.passed"]
    assert incident(store, incident_id).pending_step is None
    with store.session() as session:
        assert session.scalars(select(FreezeRow)).all() == []


def test_verify_after_a_failed_health_check_opens_an_incident_and_freezes_the_service(
    store: Store, the_policy: Policy,
) -> None:
    incident_id = executed(store, the_policy)
    verify_stage(store, the_policy, FakeHealthCheck(ok=False)).run(lease_of(store, "verify"))

    assert events(store, incident_id) == ["loop_breaker.frozen", "verify.failed"]
    follow_up = int(str(event_data(store, incident_id, "verify.failed")["opened_incident_id"]))
    row = incident(store, follow_up)
    assert (row.source, row.caused_by_incident_id, row.pending_step) == (
        "warden", incident_id, "triage")
    assert incident(store, incident_id).pending_step == "notify"
    with store.session() as session:
        [freeze] = session.scalars(select(FreezeRow)).all()
    assert freeze.frozen_by == "loop_breaker"


# Post-mortem ----------------------------------------------------------------------------


def resolved(store: Store) -> int:
    """An incident a human resolved before triage: its post-mortem step is due."""
    incident_id = opened(store, "checkout", "Cache memory at 97%")
    with store.session() as session:
        correlate.resolve(session, incident_id, user="alice", now=NOW)
    return incident_id


@pytest.mark.parametrize("write", [True, False])
def test_postmortem_writes_the_report_file_where_one_is_wanted(
    store: Store, the_policy: Policy, tmp_path: Path, write: bool,
) -> None:
    incident_id = resolved(store)
    directory = tmp_path / "postmortems" if write else None
    PostmortemStage(store=store, directory=directory, policy=lambda: the_policy,
                    clock=lambda: LATER, change_lookback_minutes=30,
                    ).run(lease_of(store, "postmortem"))

    assert incident(store, incident_id).pending_step is None
    if directory is None:
        assert events(store, incident_id)[-1] == "incident.resolved"
        return
    assert events(store, incident_id)[-1] == "postmortem.written"
    path = Path(str(event_data(store, incident_id, "postmortem.written")["path"]))
    assert path.parent == directory and "Cache memory at 97%" in path.read_text()
