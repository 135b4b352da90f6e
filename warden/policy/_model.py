"""The policy as a frozen value: what ``decide``, approval and execute read.

Built only by ``load_policy`` / ``load_policy_text`` (``_load.py``) from the policy file,
whose shape is the contract in ../shared/design/policy.md. Nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Literal, Protocol

from warden.domain import ApprovalChannel, Category, Incident

CRITICAL_TIER = "critical"
"""The tier every service gets when its name cannot be trusted (policy.md, Services)."""

DEFAULT_CATEGORIES: tuple[str, ...] = tuple(c.value for c in Category)

PolicyMode = Literal["dry_run", "live", "shadow"]
ExecutorType = Literal["http", "command", "notify"]
VerifyType = Literal["http", "command"]

# After ASCII lower-casing, a service name made of anything else fails closed.
_SERVICE_NAME = re.compile(r"[a-z0-9._-]+")
_ALL_CHANNELS = frozenset(ApprovalChannel)


class AlertText(Protocol):
    """What the security rules look at: an ``Alert`` or an ``Incident``, never the model's words."""

    @property
    def title(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def labels(self) -> Mapping[str, str]: ...


@dataclass(frozen=True, slots=True)
class VerifySpec:
    """A health check run after an action: ``http`` (``url`` answers ``expected_status``)
    or ``command`` (``argv`` exits 0). Templates take ``{service}`` and the action's params."""

    type: VerifyType
    url: str | None = None
    expected_status: int = 200
    argv: tuple[str, ...] = ()
    timeout_s: float | None = None


@dataclass(frozen=True, slots=True)
class ExecutorSpec:
    """How an action runs. Fields that do not belong to ``type`` are empty.

    - ``http``: ``method`` and ``url`` (a template), optional ``headers``.
    - ``command``: ``argv``, a template per element; never a shell.
    - ``notify``: optional ``message`` template.
    Templates take ``{service}`` and the action's declared params.
    """

    type: ExecutorType
    method: str | None = None
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    argv: tuple[str, ...] = ()
    message: str | None = None
    timeout_s: float | None = None
    verify: VerifySpec | None = None


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """One allowed action. ``params`` maps each declared param to its pattern, compiled
    with ASCII semantics and matched against the whole value (``fullmatch``).

    ``grounded_params`` names the params declared ``from: deployed_versions`` (check 5b);
    ``auto_requires_precedent`` makes running without approval wait for a precedent
    (check 10b); ``shadow`` means it is decided and recorded but never run.
    """

    name: str
    auto_tiers: tuple[str, ...]
    approval_tiers: tuple[str, ...]
    params: Mapping[str, re.Pattern[str]]
    executor: ExecutorSpec | None
    grounded_params: frozenset[str] = frozenset()
    auto_requires_precedent: bool = False
    shadow: bool = False


@dataclass(frozen=True, slots=True)
class SecurityRules:
    """An alert is a security incident when a label has a listed value or a pattern is
    found in its title or description."""

    labels: Mapping[str, frozenset[str]]
    patterns: tuple[re.Pattern[str], ...]


@dataclass(frozen=True, slots=True)
class Limits:
    per_service_per_hour: int = 3
    global_per_hour: int = 20
    cooldown_minutes: float = 30


@dataclass(frozen=True, slots=True)
class FreezeWindow:
    """A change freeze from ``start`` (inclusive) to ``end`` (exclusive), both aware."""

    start: datetime
    end: datetime

    def contains(self, now: datetime) -> bool:
        return self.start <= now < self.end


@dataclass(frozen=True, slots=True)
class Policy:
    """A validated policy file; immutable, so one value can be shared and swapped whole.

    ``source`` names where it came from (a path, or ``<default>``), for messages only.
    """

    version: int
    mode: PolicyMode
    services: Mapping[str, str]
    actions: Mapping[str, ActionSpec]
    security: SecurityRules
    limits: Limits
    approvers: Mapping[str, tuple[str, ...]]
    critical_quorum: int
    freeze: tuple[FreezeWindow, ...]
    categories: tuple[str, ...]
    approval_channels: Mapping[str, frozenset[ApprovalChannel]]
    grounding_days: float = 30
    source: str = "<text>"

    def tier_of(self, service: str) -> str:
        """The tier of ``service`` per policy.md: looked up after ASCII lower-casing; a name
        with anything outside ``[a-z0-9._-]`` (or empty) is ``critical``; otherwise the
        entry, else the ``"*"`` entry, else ``critical``."""
        # str.lower() also folds non-ASCII letters (e.g. the Kelvin sign to "k"), so the
        # ASCII check comes first.
        if not service.isascii():
            return CRITICAL_TIER
        name = service.lower()
        if _SERVICE_NAME.fullmatch(name) is None:
            return CRITICAL_TIER
        tier = self.services.get(name)
        if tier is None:
            tier = self.services.get("*", CRITICAL_TIER)
        return tier

    def is_security(self, alert: AlertText) -> bool:
        """Whether the alert (its labels, title and description) is a security incident."""
        return self.security_match(alert) is not None

    def security_match(self, alert: AlertText) -> str | None:
        """Which security rule the alert matches, for the reason's detail; None if none."""
        labels = alert.labels
        for name, values in self.security.labels.items():
            value = labels.get(name)
            if value is not None and value in values:
                return f"label {name}={value}"
        for pattern in self.security.patterns:
            for where, text in (("title", alert.title), ("description", alert.description)):
                found = pattern.search(text)
                if found is not None:
                    return f"{where} matches {found.group()!r}"
        return None

    def incident_security_match(self, incident: Incident) -> str | None:
        """Which security rule any alert of the incident matches (policy.md, "The incident,
        not the first alert"), naming the alert when the incident holds several; None if
        none. The incident's own fields (its first alert's) are always read too."""
        found = self.security_match(incident)
        if found is not None:
            return found
        for number, alert in enumerate(incident.alerts, 1):
            found = self.security_match(alert)
            if found is not None:
                return f"alert {number} of {len(incident.alerts)}: {found}"
        return None

    def is_shadow(self, action_name: str) -> bool:
        """Whether ``action_name`` is only ever decided, never run (policy.md, "Shadow"):
        the whole policy is in ``mode: shadow`` or the action says ``shadow: true``."""
        spec = self.actions.get(action_name)
        return self.mode == "shadow" or (spec is not None and spec.shadow)

    def approvers_for(self, tier: str) -> tuple[str, ...]:
        """Who may approve an action on a service of ``tier`` (empty: nobody)."""
        return self.approvers.get(tier, ())

    def quorum_for(self, tier: str) -> int:
        """Distinct approvals needed: ``critical_quorum`` for critical, else 1."""
        return self.critical_quorum if tier == CRITICAL_TIER else 1

    def channels_for(self, tier: str) -> frozenset[ApprovalChannel]:
        """Channels whose approvals count for ``tier``; all of them unless the policy's
        ``approval_channels`` lists the tier."""
        return self.approval_channels.get(tier, _ALL_CHANNELS)

    def freeze_at(self, now: datetime) -> FreezeWindow | None:
        """The change-freeze window in force at ``now`` (aware), if any."""
        for window in self.freeze:
            if window.contains(now):
                return window
        return None
