"""The post-mortem file lands in WARDEN_POSTMORTEM_DIR when a resolved incident's last
step ends."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.stack import Stack, clear_cache, stack

__all__ = ["stack"]  # the fixture


def test_resolved_while_the_action_ran_writes_the_postmortem(stack: Stack, tmp_path: Path) -> None:
    out = tmp_path / "postmortems"
    stack.target.hold("/cache/checkout-web/clear")
    running = stack.start(postmortem_dir=out)
    incident_id = stack.alert(running, "checkout-web", "pm-1", clear_cache("checkout-web"))
    assert stack.target.arrived.wait(10)
    # The fault goes away while the fix is still running.
    with running.client() as client:
        resolved = client.post("/v1/alerts/generic", json={
            "service": "checkout-web", "title": "Cache memory at 97% [pm-1]",
            "status": "resolved"})
    assert resolved.status_code == 202
    stack.target.release()

    path = out / f"incident-{incident_id:06d}-checkout-web.md"
    running.wait_for(path.exists)
    text = path.read_text()
    assert text.startswith(f"# Incident #{incident_id}: Cache memory at 97%")
    assert "| Status | resolved" in text and "(succeeded)" in text
    running.wait_for(lambda: stack.incident(running, incident_id)["pending_step"] is None)


def test_resolved_while_waiting_for_approval_writes_the_postmortem(
        stack: Stack, tmp_path: Path) -> None:
    out = tmp_path / "postmortems"
    running = stack.start(postmortem_dir=out)
    incident_id = stack.alert(running, "payment-gateway", "pm-2", clear_cache("payment-gateway"))
    waiting = stack.settled(running, incident_id,
                            lambda seen: seen["decision"] is not None)
    assert waiting["decision"]["outcome"] == "needs_approval"
    path = out / f"incident-{incident_id:06d}-payment-gateway.md"
    assert not path.exists()  # still open: no post-mortem yet

    with running.client() as client:
        resolved = client.post("/v1/alerts/generic", json={
            "service": "payment-gateway", "title": "Cache memory at 97% [pm-2]",
            "status": "resolved"})
    assert resolved.status_code == 202

    running.wait_for(path.exists)
    text = path.read_text()
    assert "| Status | resolved" in text and "needs_approval" in text
    assert stack.target.requests("/cache/payment-gateway/clear") == []
