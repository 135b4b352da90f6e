"""The rules provider remembers: when the last incident of the same alert on the service
was fixed by an action that verified healthy, it proposes that action again and says so,
and the policy's precedent check (10b) counts the same records."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningWarden
from warden.store import ExecutionRow, IncidentRow

POLICY = """\
version: 1
mode: dry_run
services:
  "*": {tier: standard}
actions:
  clear_cache:
    auto_tiers: [standard]
    approval_tiers: [standard]
    auto_requires_precedent: true
    executor: {type: http, method: POST, url: "http://127.0.0.1:9/cache/{service}/clear"}
limits: {per_service_per_hour: 3, global_per_hour: 20, cooldown_minutes: 30}
approvers:
  standard: [alice]
"""


def remember(running: RunningWarden, *, verification: str) -> int:
    """An earlier incident of CheckoutErrors on Checkout-Web, fixed by clear_cache."""
    at = datetime.now(UTC) - timedelta(days=3)
    with running.warden.store.session() as session:
        past = IncidentRow(key="past", source="generic", service="Checkout-Web",
                           title="checkout errors elevated", description="",
                           labels={"alertname": "CheckoutErrors"}, status="resolved",
                           first_seen=at, last_seen=at, resolved_at=at + timedelta(minutes=9))
        session.add(past)
        session.flush()
        session.add(ExecutionRow(
            incident_id=past.id, idempotency_key="past-1", service="Checkout-Web",
            action={"name": "clear_cache", "service": "Checkout-Web", "params": {}},
            executor="http", status="succeeded", automated=False, dry_run=False,
            started_at=at, finished_at=at, verification={"status": verification}))
        return past.id


@pytest.mark.parametrize(("title", "verification", "outcome", "remembered"), [
    # The words alone suggest nothing: the memory does, and it is a precedent.
    ("checkout errors elevated", "passed", "execute", True),
    # The words suggest clear_cache, but it did not verify last time: no precedent.
    ("Redis cache out of memory", "failed", "needs_approval", False),
])
def test_a_verified_fix_is_proposed_again_and_counts_as_precedent(
    warden_server: Callable[..., RunningWarden], tmp_path: Path, title: str,
    verification: str, outcome: str, remembered: bool,
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    running = warden_server(policy=str(policy))
    past_id = remember(running, verification=verification)
    with running.client() as client:
        answer = client.post("/v1/alerts/generic", json={
            "service": "checkout-web", "title": title,
            "labels": {"alertname": "CheckoutErrors"}})
        assert answer.status_code == 202, answer.text
        incident_id = answer.json()["alerts"][0]["incident_id"]
        running.wait_for(lambda: client.get(f"/v1/incidents/{incident_id}").json()[
            "decision"] is not None)
        incident: dict[str, Any] = client.get(f"/v1/incidents/{incident_id}").json()

    proposal = incident["proposal"]
    assert proposal["suggested_action"]["name"] == "clear_cache"
    assert proposal["suggested_action"]["service"] == "checkout-web"
    sentence = (f"The same alert on this service (incident #{past_id}) was fixed by "
                "clear_cache, verified healthy: proposing it again.")
    assert (sentence in proposal["root_cause"]) is remembered
    assert incident["decision"]["outcome"] == outcome
    codes = [r["code"] for r in incident["decision"]["reasons"]]
    assert ("no_precedent" in codes) is not remembered
    (memory,) = [e for e in incident["evidence"] if e["kind"] == "similar_incidents"]
    assert memory["data"]["incidents"][0]["id"] == past_id
    assert memory["data"]["frequency"] == "frequent"
