"""`warden audit verify` and `warden report` notice tampering a database writer can do
without the audit key: a cut tail, an edit with every later hash recomputed, a forged
approval row. The commands run as a user runs them, on a real SQLite file."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.approval.factories import NOW, POLICY_YAML, current_digest, policy, triaged
from warden import audit
from warden.app import Warden
from warden.approval import submit
from warden.config import Settings
from warden.domain import ApprovalChannel, Verdict
from warden.store import AuditRow, Store

WARDEN = str(Path(sys.executable).parent / "warden")


@dataclass
class Deployment:
    """A Warden's database, key and anchor, as `warden serve` would leave them."""

    warden: Warden
    db: Path
    anchor: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([WARDEN, *args], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "WARDEN_DATABASE_URL": f"sqlite:///{self.db}"})

    def sql(self, statement: str, *params: object) -> list[tuple[object, ...]]:
        with sqlite3.connect(self.db) as conn:
            rows = conn.execute(statement, params).fetchall()
        conn.close()
        return rows


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    (tmp_path / "policy.yaml").write_text(POLICY_YAML)
    monkeypatch.setenv("WARDEN_POLICY", str(tmp_path / "policy.yaml"))
    db = tmp_path / "warden.db"
    warden = Warden(Settings(database_url=f"sqlite:///{db}"))
    warden.store.migrate()
    assert warden.audit_seal.anchor is not None
    yield Deployment(warden, db, warden.audit_seal.anchor)
    warden.store.dispose()


def _append(deployment: Deployment, count: int) -> None:
    """``count`` events, each committed on its own (as ingest writes one per alert)."""
    for n in range(count):
        with deployment.warden.store.session() as session:
            audit.record(session, incident_id=None, actor="test", kind="test.event",
                         data={"n": n}, now=NOW + timedelta(seconds=n))


def test_verify_fails_when_the_newest_events_are_deleted(deployment: Deployment) -> None:
    _append(deployment, 5)
    ok = deployment.cli("audit", "verify")
    assert ok.returncode == 0, ok.stderr
    assert "audit chain ok: 5 events" in ok.stdout and "names event 5" in ok.stdout

    # The newest two events go; the rest of the chain still links perfectly.
    deployment.sql("DELETE FROM audit_events WHERE id > 3")
    cut = deployment.cli("audit", "verify")
    assert cut.returncode == 1
    assert "names event 5, which the chain no longer holds" in cut.stderr
    assert "the newest events were deleted" in cut.stderr


def _unkeyed_hash(prev: str, row: AuditRow) -> str:
    """The hash of the old, unkeyed scheme: what anyone can recompute after an edit."""
    body = json.dumps({"incident_id": row.incident_id, "at": row.at.isoformat(),
                       "actor": row.actor, "kind": row.kind, "data": row.data},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256((prev + body).encode()).hexdigest()


def test_verify_fails_on_an_edit_with_every_later_hash_recomputed(
        deployment: Deployment) -> None:
    _append(deployment, 4)
    # A writer of the database, without the key, rewrites event 2 and re-links 2, 3, 4.
    intruder = Store(f"sqlite:///{deployment.db}")
    with intruder.session() as session:
        rows = session.execute(select(AuditRow).order_by(AuditRow.id)).scalars().all()
        rows[1].data = {"n": 99}
        prev = rows[0].hash
        for row in rows[1:]:
            row.prev_hash, row.hash = prev, _unkeyed_hash(prev, row)
            prev = row.hash
    intruder.dispose()
    # Even with the anchor rewritten to the new head, the MACs do not hold without the key.
    deployment.anchor.write_text(json.dumps({"seq": 4, "mac": prev}) + "\n")
    rehashed = deployment.cli("audit", "verify")
    assert rehashed.returncode == 1
    assert "audit chain broken at event 2" in rehashed.stderr
    assert "MAC does not match" in rehashed.stderr


def test_a_forged_approval_row_is_not_a_verified_approval(deployment: Deployment) -> None:
    store = deployment.warden.store
    incident_id = triaged(store, policy())
    submit(store, incident_id=incident_id, user="alice", verdict=Verdict.APPROVE,
           reason="cache is safe to clear", channel=ApprovalChannel.API,
           decision_digest=current_digest(store, incident_id), policy=policy(),
           now=NOW + timedelta(minutes=1))
    # carol's approval goes straight into the approvals table, past Warden.
    deployment.sql("INSERT INTO approvals (incident_id, approver, verdict, reason, channel, at) "
                   "VALUES (?, 'carol', 'approve', 'forged', 'api', ?)",
                   incident_id, "2026-06-01 12:02:00.000000")
    report = deployment.cli("report", str(incident_id))
    assert report.returncode == 0, report.stderr
    assert "| alice | approve | api | cache is safe to clear |" in report.stdout
    approvals = report.stdout.split("## Approvals")[1].split("## Executions")[0]
    assert "carol" not in approvals and "forged" not in report.stdout
    assert "Unverified" not in report.stdout


def test_report_refuses_or_flags_a_chain_that_does_not_verify(
        deployment: Deployment) -> None:
    store = deployment.warden.store
    incident_id = triaged(store, policy())
    submit(store, incident_id=incident_id, user="alice", verdict=Verdict.APPROVE,
           reason="ok", channel=ApprovalChannel.API,
           decision_digest=current_digest(store, incident_id), policy=policy(),
           now=NOW + timedelta(minutes=1))
    # A forged approval event, linked correctly but without the key.
    [(prev,)] = deployment.sql("SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1")
    deployment.sql("INSERT INTO audit_events (incident_id, at, actor, kind, data, prev_hash, "
                   "hash) VALUES (?, '2026-06-01 12:02:00.000000', 'carol', "
                   "'approval.approved', '{\"channel\": \"api\", \"reason\": \"forged\"}', ?, ?)",
                   incident_id, prev, "f" * 64)
    refused = deployment.cli("report", str(incident_id))
    assert refused.returncode == 1 and refused.stdout == ""
    assert "the audit chain does not verify" in refused.stderr
    flagged = deployment.cli("report", str(incident_id), "--unverified")
    assert flagged.returncode == 0, flagged.stderr
    assert "> **Unverified.** The audit chain does not verify at event" in flagged.stdout
    approvals = flagged.stdout.split("## Approvals")[1]
    assert approvals.index("**Unverified.**") < approvals.index("| carol |")
