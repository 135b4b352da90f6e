"""Payload samples: captured from the real sender where we have a capture (Alertmanager),
written to the sender's documented wire format otherwise (see the design's sources.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).parent / "samples"
RECEIVED_AT = datetime(2026, 11, 26, 17, 45, 0, tzinfo=UTC)


def sample(name: str) -> Any:
    """A fresh decoded copy of ``samples/<name>.json`` (tests may change it)."""
    return json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))
