"""Where the audit key and anchor live, and that several writers keep the anchor true."""

from __future__ import annotations

import stat
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from warden import audit
from warden.app import Warden
from warden.audit.seal import Anchor, advance_anchor, read_anchor
from warden.config import Settings
from warden.errors import ConfigError
from warden.store import AuditRow

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_key_is_made_beside_the_sqlite_file_once_and_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WARDEN_AUDIT_KEY_FILE")
    (tmp_path / "data").mkdir()
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'data' / 'warden.db'}")
    first = Warden(settings)
    key_file = tmp_path / "data" / "warden-audit.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first.audit_seal.anchor == tmp_path / "data" / "warden-audit.anchor"
    first.store.migrate()
    with first.store.session() as session:
        audit.record(session, incident_id=None, actor="test", kind="a", data={}, now=NOW)
    first.store.dispose()
    # A restart reuses the key, so the events written before still verify.
    again = Warden(settings)
    assert again.audit_seal.key == first.audit_seal.key
    with again.store.session() as session:
        checked = audit.verify(session)
    assert checked.ok and checked.events == 1 and checked.anchored_seq == 1
    again.store.dispose()


def test_a_key_readable_by_others_is_refused(tmp_path: Path, audit_key_file: Path) -> None:
    audit_key_file.write_text("secret\n")
    audit_key_file.chmod(0o644)
    with pytest.raises(ConfigError, match=r"readable by others.*chmod 600"):
        Warden(Settings(database_url=f"sqlite:///{tmp_path / 'warden.db'}"))


def test_a_database_that_is_not_a_file_needs_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WARDEN_AUDIT_KEY_FILE")
    with pytest.raises(ConfigError, match="WARDEN_AUDIT_KEY or WARDEN_AUDIT_KEY_FILE"):
        Warden(Settings(database_url="postgresql+psycopg://postgres@127.0.0.1:5432/test"))


def test_verify_does_not_make_a_missing_key(tmp_path: Path, audit_key_file: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'warden.db'}")
    with pytest.raises(ConfigError, match="cannot read the audit key file"):
        Warden(settings, create_audit_key=False)
    assert not audit_key_file.exists()


def test_the_anchor_only_moves_forward(tmp_path: Path) -> None:
    path = tmp_path / "warden-audit.anchor"
    advance_anchor(path, Anchor(10, "b" * 64))
    advance_anchor(path, Anchor(7, "a" * 64))  # a writer that committed earlier, late
    assert read_anchor(path) == Anchor(10, "b" * 64)
    advance_anchor(path, Anchor(11, "c" * 64))
    assert read_anchor(path) == Anchor(11, "c" * 64)


def test_replicas_appending_at_once_leave_a_chain_that_verifies(store_url: str) -> None:
    """Two Warden processes' stores on one database and one anchor, each with writers in
    threads: whatever order their commits and anchor writes land in, verify passes and
    the anchor names the newest event."""
    replicas = [Warden(Settings(database_url=store_url)) for _ in range(2)]
    replicas[0].store.migrate()

    def append(replica: Warden) -> None:
        for n in range(15):
            with replica.store.session() as session:
                audit.record(session, incident_id=None, actor="test", kind="r", data={"n": n},
                             now=NOW)

    threads = [threading.Thread(target=append, args=(r,)) for r in replicas for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with replicas[1].store.session() as session:
        checked = audit.verify(session)
        newest = session.execute(select(func.max(AuditRow.id))).scalar_one()
    assert checked.ok, checked.problem
    assert checked.events == 60 and checked.anchored_seq == newest
    for replica in replicas:
        replica.store.dispose()


def test_an_event_of_a_rolled_back_savepoint_is_never_anchored(store_url: str) -> None:
    """Ingest writes each alert in a savepoint; when the last one fails, the anchor must
    name the last event that was committed, or verify would fail for nothing."""
    warden = Warden(Settings(database_url=store_url))
    warden.store.migrate()
    with warden.store.session() as session:
        audit.record(session, incident_id=None, actor="test", kind="kept", data={}, now=NOW)
        with pytest.raises(RuntimeError), session.begin_nested():
            audit.record(session, incident_id=None, actor="test", kind="undone", data={},
                         now=NOW)
            raise RuntimeError("this alert fails")
    with warden.store.session() as session:
        checked = audit.verify(session)
        newest = session.execute(select(func.max(AuditRow.id))).scalar_one()
    assert checked.ok, checked.problem
    assert checked.events == 1 and checked.anchored_seq == newest
    warden.store.dispose()
