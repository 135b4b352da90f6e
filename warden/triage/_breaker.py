"""A circuit breaker for one model: stop calling a model that keeps failing.

Deterministic given its clock: ``now`` is injected (monotonic seconds), nothing else is
read. States:

- ``closed``: calls go through; ``failure_threshold`` consecutive failures open it.
- ``open``: calls are refused until ``reset_s`` have passed since it opened.
- ``half_open``: one trial call is let through; its success closes the breaker, its
  failure opens it again for another ``reset_s``. A trial that never reports back (its
  caller died) is given up after ``reset_s`` and another trial is allowed.

Thread-safe: one provider serves several workers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Literal

BreakerState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Counts consecutive failures of one dependency and refuses calls while it is down."""

    def __init__(
        self, *, failure_threshold: int, reset_s: float, now: Callable[[], float]
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if reset_s <= 0:
            raise ValueError("reset_s must be positive")
        self._threshold = failure_threshold
        self._reset_s = reset_s
        self._now = now
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_started_at: float | None = None

    @property
    def state(self) -> BreakerState:
        """The state at this moment (an open breaker whose wait is over reads half_open)."""
        with self._lock:
            return self._state(self._now())

    def allow(self) -> bool:
        """Whether a call may be made now. In half_open, True for one trial at a time;
        the caller must then report with ``record_success`` or ``record_failure``."""
        with self._lock:
            now = self._now()
            state = self._state(now)
            if state == "closed":
                return True
            if state == "open":
                return False
            trial = self._trial_started_at
            if trial is not None and now - trial < self._reset_s:
                return False
            self._trial_started_at = now
            return True

    def record_success(self) -> None:
        """The call worked: close the breaker and forget past failures."""
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_started_at = None

    def record_failure(self) -> None:
        """The call failed: count it; open at the threshold, or reopen after a failed trial."""
        with self._lock:
            now = self._now()
            self._trial_started_at = None
            if self._opened_at is not None:
                # A failed half-open trial (or a late report while open) restarts the wait.
                self._opened_at = now
                return
            self._failures += 1
            if self._failures >= self._threshold:
                self._opened_at = now

    def _state(self, now: float) -> BreakerState:
        if self._opened_at is None:
            return "closed"
        if now - self._opened_at < self._reset_s:
            return "open"
        return "half_open"
