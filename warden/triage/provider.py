"""The triage interface: what a provider is given and what it gives back.

Every provider (``rules``, ``openai``) implements ``TriageProvider``. The reply's ``raw``
text is untrusted whoever wrote it: ``policy.parse_proposal`` turns it into a ``Proposal``
or a ``MalformedProposal``, so a provider never hands the pipeline a parsed value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal, Protocol

from warden.domain import Severity

if TYPE_CHECKING:
    from warden.investigate import Evidence


@dataclass(frozen=True, slots=True)
class RecentChange:
    """A change recorded on the incident's service before its first alert, as a provider
    sees it: ``minutes_before`` the first alert (``at``); ``summary`` already redacted."""

    kind: str
    version: str | None
    summary: str
    at: datetime
    minutes_before: float


@dataclass(frozen=True, slots=True)
class TriageRequest:
    """One incident as a provider sees it: its text already redacted.

    ``allowed_actions`` are the action names of the policy, the only names a provider
    should suggest; ``categories`` the policy's category set. ``grounded_actions`` maps
    each allowed action whose params are all grounded (``from: deployed_versions``) to
    those params: a version Warden knows is all they need.

    ``changes`` are the service key's changes in the lookback before the first alert,
    newest first; ``deployed_versions`` the versions it has run within the policy's
    ``grounding_days``, oldest first, the last one current (what check 5b grounds on).
    ``evidence`` is what the investigate stage found, already redacted.
    """

    service: str
    title: str
    description: str
    labels: Mapping[str, str]
    severity: Severity | None
    allowed_actions: tuple[str, ...]
    categories: tuple[str, ...]
    grounded_actions: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({}))
    changes: tuple[RecentChange, ...] = ()
    deployed_versions: tuple[str, ...] = ()
    evidence: tuple[Evidence, ...] = ()


CallOutcome = Literal["ok", "error", "timeout", "rate_limited", "malformed"]


@dataclass(frozen=True, slots=True)
class ModelCall:
    """One request to a model, whatever came of it: one cost-ledger row.

    ``model`` is the model that served (OpenRouter may serve a fallback); tokens and
    dollars are zero for a call that got no reply; ``error`` says what went wrong.
    """

    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_ms: float
    outcome: CallOutcome
    error: str | None = None


@dataclass(frozen=True, slots=True)
class TriageReply:
    """A provider's answer and what it cost.

    ``raw`` is the reply text exactly as produced (JSON, for every provider), to be parsed
    by ``policy.parse_proposal``. ``fallback_reason`` says why a fallback provider answered
    instead of the one selected (``None`` when the selected one did). ``calls`` lists every
    model call made for this reply, failed ones included (empty for providers that call
    none); the token, dollar and latency totals above cover all of them.
    """

    raw: str
    provider: str
    model: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    fallback_reason: str | None = None
    calls: tuple[ModelCall, ...] = ()


class TriageProvider(Protocol):
    """Proposes a triage for one incident.

    ``propose`` returns a reply for every request, or raises ``TriageError`` when it cannot
    produce one at all; it never raises for a reply that merely fails to parse (that is the
    parser's verdict). It does not write to the store.
    """

    name: str

    def propose(self, request: TriageRequest) -> TriageReply: ...
