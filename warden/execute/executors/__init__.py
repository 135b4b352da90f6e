"""The executors a policy names (``executor.type``): one module each, one Protocol.

- ``http.HttpExecutor``: a fixed method and URL template; params fill URL parts encoded.
- ``command.CommandExecutor``: an argv template; never a shell.
- ``notify.NotifyExecutor``: a JSON webhook for humans.

Each executor renders its template first and refuses what does not fit (deny first);
in a dry run it stops there and says what it would have done.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from warden.domain import Action, Incident
from warden.policy import ExecutorSpec

OUTPUT_LIMIT_BYTES = 64 * 1024
"""What an execution keeps of a command's output or a response body; the rest is cut."""


@dataclass(frozen=True, slots=True)
class Job:
    """One action to run once: ``spec`` is the policy's executor for ``action.name``, and
    ``idempotency_key`` identifies this decision's execution (sent along where the wire
    allows, so a target can drop a repeat too)."""

    incident: Incident
    idempotency_key: str
    action: Action
    spec: ExecutorSpec
    dry_run: bool
    timeout_s: float


@dataclass(frozen=True, slots=True)
class ExecutorResult:
    """The outcome of a job that was attempted: whether it worked, and what it said."""

    ok: bool
    output: str


class Executor(Protocol):
    """Runs a ``Job``: at most one attempt, never a retry (the caller guarantees the job
    runs at most once, so retrying is a human's call).

    Returns an ``ExecutorResult`` when the action was attempted and answered (``ok`` False
    for a refusal or a non-zero exit). Raises ``ExecutorError`` when it could not be
    attempted or its outcome is unknown (a template that does not fit, a timeout, a
    connection error); ``recoverable`` says whether trying again later might help. With
    ``job.dry_run`` everything happens except the side effect.
    """

    def run(self, job: Job) -> ExecutorResult: ...


def cap(data: bytes, limit: int = OUTPUT_LIMIT_BYTES) -> str:
    """``data`` as text, cut at ``limit`` bytes with a note saying how much was dropped."""
    text = data[:limit].decode("utf-8", errors="replace")
    if len(data) > limit:
        text += f"\n[... {len(data) - limit} more bytes not kept]"
    return text
