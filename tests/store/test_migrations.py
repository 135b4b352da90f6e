"""A database from an older version upgrades in place, keeping its data."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
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
        changes = conn.execute(text("SELECT count(*) FROM changes")).scalar_one()
    store.dispose()
    assert tuple(row) == ("checkout-web", 3, "triage", 0)
    assert version == ScriptDirectory.from_config(config).get_current_head()
    assert changes == 0


def test_0003_keys_executions_and_freezes_by_service_key(store_url: str) -> None:
    store = Store(store_url)
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with store.engine.connect() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0002")
        conn.execute(text(
            "INSERT INTO incidents (key, source, service, title, description, labels, status,"
            " alert_count, first_seen, last_seen)"
            " VALUES ('k1', 'generic', 'Checkout-Web', 't', '', '{}', 'open', 1,"
            " '2026-11-26 10:00:00+00:00', '2026-11-26 10:00:00+00:00')"
        ))
        for n, service in enumerate(("Checkout-Web", "checkout-web", "\u212aelvin-API")):
            conn.execute(text(
                "INSERT INTO executions (incident_id, idempotency_key, service, action, executor,"
                " status, automated, dry_run, output, started_at)"
                " VALUES (1, :key, :service, '{}', 'http', 'succeeded', true, false, '',"
                " '2026-11-26 10:00:00+00:00')"
            ), {"key": f"k{n}", "service": service})
        for service, at in (("checkout-web", "10:02"), ("CHECKOUT-WEB", "10:01"),
                            ("Search-API", "10:03")):
            conn.execute(text(
                "INSERT INTO freezes (service, reason, frozen_by, at)"
                " VALUES (:service, :reason, 'loop_breaker', :at)"
            ), {"service": service, "reason": f"frozen as {service}",
                "at": f"2026-11-26 {at}:00+00:00"})
        conn.execute(text(
            "INSERT INTO cost_ledger (service, provider, model, prompt_tokens, completion_tokens,"
            " cost_usd, latency_ms, outcome, at) VALUES ('Checkout-WEB', 'openai', 'm', 1, 1,"
            " 0.01, 5, 'ok', '2026-11-26 10:00:00+00:00')"
        ))
        conn.commit()

    store.migrate()

    with store.engine.connect() as conn:
        ledger = conn.execute(text("SELECT service FROM cost_ledger")).scalar_one()
        keys = conn.execute(text("SELECT service_key FROM executions ORDER BY id")).scalars().all()
        freezes = conn.execute(text("SELECT service, reason FROM freezes ORDER BY service")).all()
    store.dispose()
    assert ledger == "checkout-web"
    # ASCII lower-casing only: the Kelvin sign stays what it is.
    assert list(keys) == ["checkout-web", "checkout-web", "\u212aelvin-api"]
    # Case variants frozen twice are one freeze, the oldest.
    assert [tuple(f) for f in freezes] == [("checkout-web", "frozen as CHECKOUT-WEB"),
                                           ("search-api", "frozen as Search-API")]
