"""A database from an older version upgrades in place, keeping its data."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from warden.store import Store
from warden.store.db import _MIGRATIONS


def test_a_database_at_the_first_revision_upgrades_in_place(store_url: str) -> None:
    store = Store(store_url)
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with store.engine.connect() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.execute(text(
            "INSERT INTO incidents (key, source, service, title, description, labels, status,"
            " alert_count, first_seen, last_seen, pending_step)"
            " VALUES ('k1', 'generic', 'checkout-web', 'disk full', '', '{}', 'open', 3,"
            " '2026-11-26 10:00:00+00:00', '2026-11-26 10:05:00+00:00', 'triage')"
        ))
        conn.commit()

    store.migrate()
    store.migrate()  # a second start finds nothing to do

    with store.engine.connect() as conn:
        row = conn.execute(text(
            "SELECT service, alert_count, pending_step, step_attempts FROM incidents"
        )).one()
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    store.dispose()
    assert tuple(row) == ("checkout-web", 3, "triage", 0)
    assert version == "0004"  # the newest revision (sessions, verdicts naming decisions)
