"""The values passed between pipeline stages.

Every stage reads and writes these frozen, slotted dataclasses; pydantic stays at the
edges (request bodies, the policy file, model replies) and is converted to these there.
Change one with ``dataclasses.replace``.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def service_key(service: str) -> str:
    """The service key: the name ASCII-lower-cased, nothing else (policy.md, "One service,
    one key"). Everything counted or remembered about a service uses it; ``str.lower``
    would also fold non-ASCII letters (the Kelvin sign to "k") and merge services the
    policy keeps apart."""
    return service.translate(_ASCII_LOWER)


class Severity(StrEnum):
    """How bad an alert or incident is, in the proposal's vocabulary (policy.md)."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        """Higher is worse; used to tell whether an incident escalated."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}


class Category(StrEnum):
    """The default categories of the contract; a policy may add more (as plain strings)."""

    LATENCY = "latency"
    CONNECTIVITY = "connectivity"
    RESOURCE_EXHAUSTION = "resource_exhaustion"
    UNKNOWN = "unknown"


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class IncidentStatus(StrEnum):
    """Only open or resolved: pipeline progress lives in its own fields (ARCHITECTURE.md)."""

    OPEN = "open"
    RESOLVED = "resolved"


class Step(StrEnum):
    """``IncidentRow.pending_step``: the worker step due next for an incident, in pipeline
    order (the pipeline runs them; pipeline/transitions.py orders them)."""

    TRIAGE = "triage"
    NOTIFY = "notify"  # needs_approval or blocked: humans always hear
    EXECUTE = "execute"
    VERIFY = "verify"
    POSTMORTEM = "postmortem"  # the report file of a resolved incident


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert as a source adapter normalised it.

    ``fingerprint`` identifies the alert itself, ``incident_key`` the incident it folds
    into (a notification group, a dedup_key or a hash), and ``dedup_key`` one delivery of
    it: two deliveries with the same ``dedup_key`` from the same source are one alert.
    ``raw`` is the alert's own object from the payload, unmodified.
    """

    source: str
    service: str
    title: str
    description: str
    severity: Severity | None
    labels: Mapping[str, str]
    fingerprint: str
    incident_key: str
    dedup_key: str
    status: AlertStatus
    starts_at: datetime
    ends_at: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class IncidentAlert:
    """One alert of an incident as the policy's security check reads it (never the
    model's words)."""

    title: str
    description: str
    labels: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Incident:
    """An open or resolved incident: every alert with one incident key while it is open.

    ``title``, ``description`` and ``labels`` are the first alert's. ``alerts`` holds every
    alert of the incident as read at one moment (a group, repeats), for the policy, which
    judges the incident as a whole; empty when only the first alert's fields were read.
    """

    id: int
    key: str
    source: str
    service: str
    title: str
    description: str
    severity: Severity | None
    labels: Mapping[str, str]
    status: IncidentStatus
    alert_count: int
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None = None
    alerts: tuple[IncidentAlert, ...] = ()

    @property
    def service_key(self) -> str:
        return service_key(self.service)


@dataclass(frozen=True, slots=True)
class Action:
    """A suggested remediation: an action name from the policy, its target and params."""

    name: str
    service: str
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Proposal:
    """A well-formed triage reply, exactly the contract's shape (policy.md)."""

    category: str
    severity: Severity
    root_cause: str
    suggested_action: Action | None
    confidence: float


@dataclass(frozen=True, slots=True)
class MalformedProposal:
    """A reply that is not a well-formed proposal; ``detail`` says what was wrong."""

    detail: str


class Outcome(StrEnum):
    EXECUTE = "execute"
    NEEDS_APPROVAL = "needs_approval"
    BLOCKED = "blocked"


class ReasonCode(StrEnum):
    """Why the policy decided as it did, in the contract's order of checks (policy.md)."""

    MALFORMED_PROPOSAL = "malformed_proposal"
    NO_ACTION = "no_action"
    ACTION_NOT_ALLOWED = "action_not_allowed"
    TARGET_MISMATCH = "target_mismatch"
    INVALID_PARAMS = "invalid_params"
    PARAM_NOT_GROUNDED = "param_not_grounded"
    TIER_NOT_ALLOWED = "tier_not_allowed"
    CHANGE_FREEZE = "change_freeze"
    SECURITY_INCIDENT = "security_incident"
    LOOP_BREAKER = "loop_breaker"
    RATE_LIMITED = "rate_limited"
    NO_PRECEDENT = "no_precedent"
    APPROVAL_REQUIRED = "approval_required"
    ALLOWED = "allowed"


@dataclass(frozen=True, slots=True)
class Reason:
    code: ReasonCode
    detail: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The policy's verdict: the deciding reason first, then any later ones that applied."""

    outcome: Outcome
    reasons: tuple[Reason, ...]
    action: Action | None


@dataclass(frozen=True, slots=True)
class History:
    """What the policy needs to know about the past (policy.md, cases), all of it for the
    incident's service key.

    Counts are of automated executions (dry runs included, approved ones not).
    ``deployed_versions`` are the versions recorded for the service within the policy's
    ``grounding_days``, oldest first, the last one current (check 5b); ``precedents``
    counts earlier incidents of the same alert identity fixed by the same action and
    verified healthy (check 10b).
    """

    automated_executions_last_hour: int = 0
    service_executions_last_hour: int = 0
    last_automated_minutes_ago: float | None = None
    frozen: bool = False
    deployed_versions: tuple[str, ...] = ()
    precedents: int = 0


class Verdict(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class ApprovalChannel(StrEnum):
    CONSOLE = "console"
    CLI = "cli"
    SLACK = "slack"
    API = "api"


@dataclass(frozen=True, slots=True)
class Approval:
    incident_id: int
    approver: str
    verdict: Verdict
    reason: str
    channel: ApprovalChannel
    at: datetime


class ExecutionStatus(StrEnum):
    STARTED = "started"
    DRY_RUN = "dry_run"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Execution:
    incident_id: int
    idempotency_key: str
    action: Action
    executor: str
    status: ExecutionStatus
    automated: bool
    output: str
    started_at: datetime
    finished_at: datetime | None = None
