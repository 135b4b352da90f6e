"""Building blocks for the policy tests: incidents, replies and a policy with params."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from warden.domain import Incident, IncidentAlert, IncidentStatus
from warden.policy import Policy, load_policy_text

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

# The contract's example plus an automatic action with a param, so that a passing param
# can be mutated (the example's only param, rollback's version, always needs a human).
PARAM_POLICY_YAML = """
version: 1
services:
  payment-gateway: {tier: critical}
  "*": {tier: standard}
actions:
  clear_cache:
    auto_tiers: [standard]
    approval_tiers: [critical]
    executor: {type: http, method: POST, url: "http://127.0.0.1:9000/cache/{service}/clear"}
  scale_out:
    auto_tiers: [standard]
    params: {replicas: '^[1-9]\\d?$', zone: '^eu-(west|north)-\\d$'}
    executor: {type: command, argv: [kubectl, scale, "{service}", "--replicas={replicas}"]}
security:
  patterns: ['(?i)\\bintrusion\\b']
approvers:
  standard: [alice]
  critical: [alice, carol]
"""


def param_policy() -> Policy:
    return load_policy_text(PARAM_POLICY_YAML, "param-policy.yaml")


# The contract's second part: a grounded rollback, actions that need a precedent to run by
# themselves (one that may then wait for approval, one that may not) and a shadow action.
V2_POLICY_YAML = """
version: 1
mode: live
grounding_days: 14
services:
  payment-gateway: {tier: critical}
  "*": {tier: standard}
actions:
  clear_cache:
    auto_tiers: [standard]
    approval_tiers: [standard, critical]
    auto_requires_precedent: true
    executor: {type: http, method: POST, url: "http://127.0.0.1:9000/cache/{service}/clear"}
  restart_canary:
    auto_tiers: [standard]
    auto_requires_precedent: true
    executor: {type: command, argv: [systemctl, restart, "{service}-canary"]}
  rollback:
    approval_tiers: [standard, critical]
    params:
      version: {pattern: '^v\\d+\\.\\d+\\.\\d+$', from: deployed_versions}
    executor: {type: command, argv: [deployctl, rollback, "{service}", "{version}"]}
  purge_cdn:
    auto_tiers: [standard]
    shadow: true
    executor: {type: http, method: POST, url: "http://127.0.0.1:9000/cdn/{service}/purge"}
security:
  labels: {team: [security]}
  patterns: ['(?i)\\baccount takeover\\b']
approvers:
  standard: [alice, bob]
  critical: [alice, carol]
"""


def v2_policy() -> Policy:
    return load_policy_text(V2_POLICY_YAML, "v2-policy.yaml")


def incident(
    service: str = "checkout-web",
    *,
    title: str = "CheckoutLatencyHigh",
    description: str = "p99 latency 2.4s; cache hit ratio 31%",
    labels: Mapping[str, str] | None = None,
    alerts: tuple[IncidentAlert, ...] = (),
) -> Incident:
    """An open incident; ``alerts`` are every alert it holds (empty: only its own fields)."""
    return Incident(
        id=1,
        key="k",
        source="generic",
        service=service,
        title=title,
        description=description,
        severity=None,
        labels=dict(labels or {"alertname": "CheckoutLatencyHigh"}),
        status=IncidentStatus.OPEN,
        alert_count=1,
        first_seen=NOW,
        last_seen=NOW,
        alerts=alerts,
    )


def benign(title: str = "CheckoutLatencyHigh", **labels: str) -> IncidentAlert:
    return IncidentAlert(title=title, description="p99 latency 2.4s", labels=labels)


def reply(
    name: str | None = "clear_cache",
    service: str = "checkout-web",
    params: Mapping[str, str] | None = None,
    **overrides: Any,
) -> str:
    """A well-formed reply as the model would send it; ``overrides`` replace top-level keys."""
    body: dict[str, Any] = {
        "category": "latency",
        "severity": "high",
        "root_cause": "Stale cache entries after the deploy.",
        "suggested_action": None
        if name is None
        else {"name": name, "service": service, "params": dict(params or {})},
        "confidence": 0.8,
    }
    body.update(overrides)
    return json.dumps(body)
