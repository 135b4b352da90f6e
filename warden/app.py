"""The wiring: one running Warden (settings, store, policy, ingest writer, pipeline).

The pipeline's stages are built in ``pipeline/builder.py`` and ordered by
``pipeline/transitions.py``; each stage lives in its folder.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog

from warden.audit import SEAL_INFO_KEY, audit_seal_for
from warden.config import Settings
from warden.ingest.accept import pending_work
from warden.ingest.writer import IngestWriter
from warden.metrics import Metrics
from warden.store import Store
from warden.triage.model_health import ModelHealth

if TYPE_CHECKING:
    from warden.pipeline.builder import Pipeline
    from warden.policy import Policy

log = structlog.get_logger("warden")


def utcnow() -> datetime:
    return datetime.now(UTC)


class PolicyHolder:
    """The policy in force, swapped atomically on reload; a bad file leaves the old one."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._current = self._load()

    def _load(self) -> Policy:
        from warden.policy import default_policy, load_policy

        return load_policy(self.path) if self.path else default_policy()

    @property
    def current(self) -> Policy:
        return self._current

    def reload(self) -> Policy:
        """Load the file again; raises ``PolicyLoadError`` and keeps the old policy on failure."""
        with self._lock:
            new = self._load()
            self._current = new
            return new


class Warden:
    """One Warden process: everything the API and the worker share."""

    def __init__(
        self, settings: Settings, *, clock: Callable[[], datetime] = utcnow,
        create_audit_key: bool = True,
    ) -> None:
        """``ConfigError`` when the audit key cannot be found (or, with
        ``create_audit_key``, created); see ``audit.resolve_seal``."""
        self.settings = settings
        self.clock = clock
        self.audit_seal = audit_seal_for(settings, create=create_audit_key)
        self.store = Store(settings.database_url,
                           session_info={SEAL_INFO_KEY: self.audit_seal})
        self.policy = PolicyHolder(str(settings.policy) if settings.policy else None)
        self.metrics = Metrics()
        self.redact_patterns = tuple(re.compile(p) for p in settings.redact_patterns)
        self.ingest_writer = IngestWriter(self.store)
        self.model_health = ModelHealth.from_settings(settings)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._worker_thread: threading.Thread | None = None
        self.pipeline: Pipeline | None = None

    # Lifecycle -------------------------------------------------------------------------

    def start(self, *, run_worker: bool | None = None) -> None:
        """Migrate the store, then start the pipeline's runner unless disabled."""
        self.store.migrate()
        self.ingest_writer.start()
        threading.Thread(target=self.model_health.probe, args=(self.settings,),
                         name="warden-model-probe", daemon=True).start()
        if self.settings.worker_enabled if run_worker is None else run_worker:
            from warden.pipeline.builder import build_pipeline

            policy = self.policy
            self.pipeline = build_pipeline(
                settings=self.settings, store=self.store, policy=lambda: policy.current,
                clock=self.clock, metrics=self.metrics, model_health=self.model_health,
                redact_patterns=self.redact_patterns)
            self._worker_thread = threading.Thread(
                target=self.pipeline.runner.run, args=(self._stopping, self._wake),
                name="warden-worker", daemon=True,
            )
            self._worker_thread.start()
        log.info("warden.started", database=self.store.dialect,
                 audit_key=self.audit_seal.key_origin,
                 audit_anchor=str(self.audit_seal.anchor or "none (a cut tail will not show)"),
                 policy=self.policy.path or "built-in example (dry_run)",
                 triage_provider=self.settings.triage_provider)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._worker_thread is not None:
            self._worker_thread.join(timeout=10)
        self.ingest_writer.stop()
        self.store.dispose()

    def wake_worker(self) -> None:
        self._wake.set()

    # Backpressure and health -------------------------------------------------------------

    def queue_full(self) -> bool:
        """Whether the work queue is at its bound (a count at most about a second old)."""
        return self.ingest_writer.pending_work >= self.settings.queue_max_pending

    def readiness(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ready": True, "store": "ok", "degraded": []}
        try:
            self.store.ping()
        except Exception as exc:  # any driver error means not ready; say which
            body.update(ready=False, store=f"error: {type(exc).__name__}")
        if self.pipeline is not None:
            body["degraded"] = self.pipeline.triage.degraded_parts()
        body["model"] = self.model_health.state()
        if body["model"] == "degraded" and not body["degraded"]:
            body["degraded"] = [f"llm: every model's latest call failed "
                                f"({self.model_health.last_error})"]
        body["status"] = "degraded" if body["degraded"] else ("ok" if body["ready"] else "down")
        return body

    def refresh_gauges(self) -> None:
        self.metrics.queue_depth.set(pending_work(self.store))
        if self.pipeline is not None:
            self.pipeline.triage.export_gauges(self.metrics)

