"""What ``/readyz`` says about the model: unverified until a call succeeds (the cheap
models list at start, or the first real triage call), degraded while every configured
model's latest call failed. With the rules provider there is no model to verify.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Literal

import httpx

from warden.config import Settings
from warden.triage.provider import ModelCall

ModelState = Literal["none", "unverified", "ok", "degraded"]


class ModelHealth:
    """The latest outcome per model, shared by the worker (writes) and ``/readyz`` (reads)."""

    def __init__(self, models: Iterable[str], *, enabled: bool) -> None:
        self.models = tuple(models)
        self.enabled = enabled
        self._lock = threading.Lock()
        self._latest_ok: dict[str, bool] = {}
        self._listed = False
        self.last_error: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelHealth:
        return cls(settings.llm_models, enabled=settings.triage_provider == "openai")

    def record(self, calls: Iterable[ModelCall]) -> None:
        with self._lock:
            for call in calls:
                self._latest_ok[call.model] = call.outcome == "ok"
                if call.outcome != "ok":
                    self.last_error = f"{call.model}: {call.outcome} {call.error or ''}".strip()

    def listed(self) -> None:
        """The models list answered: the server and key work."""
        with self._lock:
            self._listed = True

    def state(self) -> ModelState:
        if not self.enabled:
            return "none"
        with self._lock:
            if self.models and all(self._latest_ok.get(m) is False for m in self.models):
                return "degraded"
            if self._listed or any(self._latest_ok.values()):
                return "ok"
            return "unverified"

    def probe(self, settings: Settings) -> None:
        """GET the models list once (OpenAI-compatible servers answer it without spending
        tokens); a failure leaves the model unverified until a real call succeeds."""
        if not self.enabled:
            return
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else ""
        try:
            response = httpx.get(f"{settings.llm_base_url.rstrip('/')}/models",
                                 headers={"Authorization": f"Bearer {key}"},
                                 timeout=settings.llm_timeout_s)
        except httpx.HTTPError as exc:
            self.last_error = f"models list: {type(exc).__name__}"
            return
        if response.is_success:
            self.listed()
        else:
            self.last_error = f"models list: HTTP {response.status_code}"
