"""The execute stage: a decided action runs at most once, through an allow-listed executor.

``ExecuteStage`` runs the ``execute`` step, ``NotifyStage`` the ``notify`` step (humans
always hear); ``executors`` holds the ``Executor`` Protocol and its variants.
"""

from warden.execute._announce import NotifyStage, notifier_for
from warden.execute.executors import Executor, ExecutorResult, Job
from warden.execute.run import ExecuteStage, executor_for, idempotency_key

__all__ = [
    "ExecuteStage",
    "Executor",
    "ExecutorResult",
    "Job",
    "NotifyStage",
    "executor_for",
    "idempotency_key",
    "notifier_for",
]
