"""The post-mortem report: untrusted text stays inert, and the file lands where asked."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.approval.factories import NOW, current_digest, policy, store_at, triaged
from warden import audit
from warden.approval import submit
from warden.audit.report import render_report, write_postmortem
from warden.domain import ApprovalChannel, Verdict
from warden.store import IncidentRow


def test_untrusted_text_cannot_shape_the_report(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    incident_id = triaged(store, policy(), service="payment-gateway",
                          title="<script>x</script> | **bold** `code`")
    submit(store, incident_id=incident_id, user="alice", verdict=Verdict.REJECT,
           reason="no |\n# not a heading", channel=ApprovalChannel.API,
           decision_digest=current_digest(store, incident_id), policy=policy(),
           now=NOW + timedelta(minutes=1))
    with store.session() as session:
        action = {"name": "clear_cache", "service": "payment-gateway", "params": {}}
        audit.record(session, incident_id=incident_id, actor="execute",
                     kind="execution.started",
                     data={"execution_id": 1, "idempotency_key": "k1", "action": action,
                           "executor": "http", "automated": False, "dry_run": False}, now=NOW)
        audit.record(session, incident_id=incident_id, actor="execute",
                     kind="execution.finished",
                     data={"execution_id": 1, "status": "failed",
                           "output": "```\n# injected heading\n```"}, now=NOW)
    with store.session() as session:
        text = render_report(session, incident_id, policy=policy(), change_lookback_minutes=120)
    assert text is not None
    assert text.startswith(f"# Incident #{incident_id}: \\<script\\>x\\</script\\> \\| "
                           "\\*\\*bold\\*\\* \\`code\\`\n")
    # The reason stays inside its table cell: no new line, no raw pipe.
    assert "| alice | reject | api | no \\| \\# not a heading |" in text
    # Output with a fence of its own sits in a longer fence.
    assert "````\n```\n# injected heading\n```\n````" in text
    assert "- Rejected by alice" in text
    assert "Execution 1 (clear\\_cache) failed" in text
    assert "| Service | payment-gateway (tier critical) |" in text
    with store.session() as session:
        assert render_report(session, 999, change_lookback_minutes=120) is None


def test_write_postmortem_replaces_the_file(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    incident_id = triaged(store, policy(), service="checkout/web ../x")
    out = tmp_path / "postmortems"
    with store.session() as session:
        first = write_postmortem(session, incident_id, out, change_lookback_minutes=120)
        row = session.get(IncidentRow, incident_id)
        assert row is not None
        row.status = "resolved"
        second = write_postmortem(session, incident_id, out, change_lookback_minutes=120)
    assert first == second == out / f"incident-{incident_id:06d}-checkout_web_.._x.md"
    assert [p.name for p in out.iterdir()] == [second.name]
    assert "| Status | resolved |" in second.read_text()
