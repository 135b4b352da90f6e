"""Helpers for the change-event tests: samples, GitHub signatures, what the store holds."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from sqlalchemy import create_engine, func, select

from warden.store.tables import ChangeRow, DeliveryRow

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def github_signature(body: bytes, secret: str) -> str:
    """What GitHub puts in X-Hub-Signature-256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def stored(database_url: str) -> tuple[int, int]:
    """How many changes and deliveries the store holds."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            changes = conn.execute(select(func.count()).select_from(ChangeRow)).scalar_one()
            deliveries = conn.execute(
                select(func.count()).select_from(DeliveryRow)).scalar_one()
    finally:
        engine.dispose()
    return changes, deliveries
