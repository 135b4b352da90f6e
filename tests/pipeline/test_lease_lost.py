"""A triage step that lost its lease does not ask the model: whoever holds the lease now
does, and the incident costs one model call, not two."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import update

from tests.fakes.llm_server import FakeLLMServer
from warden.config import Settings
from warden.domain import Step
from warden.ingest.accept import Delivery, parse, store_parsed
from warden.investigate import build_investigator
from warden.metrics import Metrics
from warden.pipeline.stage import Lease, LeaseLost
from warden.policy import default_policy
from warden.store import IncidentRow, Store
from warden.store.claims import claim_due
from warden.triage import build_provider
from warden.triage.model_health import ModelHealth
from warden.triage.stage import TriageStage


def test_a_step_whose_lease_passed_on_makes_no_model_call(
    tmp_path: Path, llm_server: FakeLLMServer
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'warden.db'}",
                        triage_provider="openai", llm_base_url=llm_server.base_url,
                        llm_api_key="test")
    store = Store(settings.database_url)
    store.migrate()
    now = datetime.now(UTC)
    parsed = parse(Delivery("generic", b'{"service": "checkout", "title": "p99 latency 3s"}',
                            {}), settings=settings, now=now)
    with store.session() as session:
        store_parsed(session, parsed)
    with store.session() as session:
        (claim,) = claim_due(session, owner="slow-worker", now=now, lease_s=30, limit=1)
    assert claim.step == Step.TRIAGE
    # The slow worker's lease lapsed and another worker claimed the step.
    with store.session() as session:
        session.execute(update(IncidentRow).values(lease_owner="other-worker"))
    policy = default_policy()
    stage = TriageStage(
        store=store, settings=settings, policy=lambda: policy, clock=lambda: now,
        metrics=Metrics(), model_health=ModelHealth.from_settings(settings),
        redact_patterns=(), build_provider=build_provider,
        investigator=build_investigator(settings, store.session))
    with pytest.raises(LeaseLost):
        stage.run(Lease(claim, "slow-worker"))
    assert llm_server.calls() == 0
    store.dispose()
