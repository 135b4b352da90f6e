"""The execute stage: a decided action runs at most once, through an allow-listed executor.

``run`` is the ``execute`` worker step; ``steps.STEPS`` maps every step after triage to
its handler; ``executors`` holds the ``Executor`` Protocol and its variants.
"""

from warden.execute.executors import Executor, ExecutorResult, Job
from warden.execute.run import executor_for, idempotency_key, run

__all__ = ["Executor", "ExecutorResult", "Job", "executor_for", "idempotency_key", "run"]
