"""Builds every stage once, and the runner that runs them: the one module that knows them all.

Each stage gets only what it uses; the runner gets a mapping of step → stage and knows
none of them. The order of the steps is in ``transitions.py``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog

from warden.approval import expire_overdue
from warden.audit.postmortem_stage import PostmortemStage
from warden.config import Settings
from warden.domain import Step
from warden.execute import ExecuteStage, NotifyStage, executor_for, notifier_for
from warden.investigate import build_investigator
from warden.metrics import Metrics
from warden.pipeline.runner import Runner, RunnerSettings
from warden.pipeline.stage import Stage
from warden.policy import Policy
from warden.store import Store
from warden.triage import build_provider
from warden.triage.model_health import ModelHealth
from warden.triage.stage import TriageStage
from warden.verify import VerifyStage, verifier_for

log = structlog.get_logger("warden.pipeline")

# How often an idle runner looks for approval requests that expired unanswered.
_EXPIRY_SWEEP_S = 2.0


@dataclass(frozen=True, slots=True)
class Pipeline:
    """The runner, and the triage stage whose model health ``/readyz`` reports."""

    runner: Runner
    triage: TriageStage


def build_pipeline(
    *, settings: Settings, store: Store, policy: Callable[[], Policy],
    clock: Callable[[], datetime], metrics: Metrics, model_health: ModelHealth,
    redact_patterns: Sequence[re.Pattern[str]],
) -> Pipeline:
    """Every stage, built once from what the process shares."""
    triage = TriageStage(store=store, settings=settings, policy=policy, clock=clock,
                         metrics=metrics, model_health=model_health,
                         redact_patterns=redact_patterns, build_provider=build_provider,
                         investigator=build_investigator(settings, store.session,
                                                         redact_patterns))
    stages: dict[str, Stage] = {
        Step.TRIAGE: triage,
        Step.NOTIFY: NotifyStage(store=store, settings=settings, policy=policy, clock=clock,
                                 notifier=notifier_for(settings)),
        Step.EXECUTE: ExecuteStage(
            store=store, settings=settings, policy=policy, clock=clock, metrics=metrics,
            executor_for=lambda spec, current: executor_for(spec, settings, policy=current)),
        Step.VERIFY: VerifyStage(store=store, postmortem_dir=settings.postmortem_dir,
                                 policy=policy, clock=clock,
                                 verifier_for=lambda spec: verifier_for(spec, settings)),
        Step.POSTMORTEM: PostmortemStage(
            store=store, directory=settings.postmortem_dir, policy=policy, clock=clock,
            change_lookback_minutes=settings.change_lookback_minutes),
    }
    runner = Runner(
        store=store, stages=stages, clock=clock,
        settings=RunnerSettings(concurrency=settings.worker_concurrency,
                                lease_s=settings.lease_s, poll_s=settings.worker_poll_s),
        idle=_expiry_sweep(store, clock))
    return Pipeline(runner=runner, triage=triage)


def _expiry_sweep(store: Store, clock: Callable[[], datetime]) -> Callable[[], None]:
    """At most every few seconds, when idle: approval requests nobody answered expire and
    their humans are told (approval stage), instead of waiting until someone next opens
    them."""
    swept_at = float("-inf")

    def sweep() -> None:
        nonlocal swept_at
        now = time.monotonic()
        if now - swept_at < _EXPIRY_SWEEP_S:
            return
        swept_at = now
        with store.session() as session:
            expired = expire_overdue(session, now=clock())
        if expired:
            log.info("pipeline.approvals_expired", count=expired)

    return sweep
