"""``warden cost`` reads the ledger the worker wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_triage_e2e import decided, openai_settings, post
from tests.fakes.llm_server import FakeLLMServer, Reply, proposal

WARDEN = str(Path(sys.executable).parent / "warden")


def test_cost_shows_spend_by_model_and_service(warden_server: Any, sqlite_url: str,
                                               llm_server: FakeLLMServer) -> None:
    llm_server.set_default("model-a", Reply(proposal(), cost=0.0123))
    running = warden_server(**openai_settings(llm_server))
    decided(running, post(running, {"service": "search-api", "title": "p99 latency 3s"}))
    decided(running, post(running, {"service": "checkout-web", "title": "p99 latency 3s"}))
    result = subprocess.run([WARDEN, "cost", "--json"], capture_output=True, text=True,
                            env={**os.environ, "WARDEN_DATABASE_URL": sqlite_url},
                            check=True)
    spend = json.loads(result.stdout)
    assert spend["today_usd"] == pytest.approx(0.0246)
    assert spend["by_model"] == {"model-a": pytest.approx(0.0246)}
    assert spend["by_service"] == {"search-api": pytest.approx(0.0123),
                                   "checkout-web": pytest.approx(0.0123)}
    table = subprocess.run([WARDEN, "cost"], capture_output=True, text=True, check=True,
                           env={**os.environ, "WARDEN_DATABASE_URL": sqlite_url}).stdout
    assert "model-a" in table and "search-api" in table
