"""The order of the pipeline, written once: (step, what it ended with) → the next step,
and (step due, what happened from outside) → the step due afterwards.

A stage never names the step after it; it says how it ended (``StepResult``) and the
runner's lease hands the incident on through this table. A pair that is not listed is a
bug in the stage, and the step fails (and is retried, then abandoned) instead of
sending the incident somewhere nobody planned.

The pipeline is also entered from outside: an alert opens an incident or raises its
severity, a human completes an approval or resolves it (``Entry``). Those callers say
what happened with ``enter`` (or ``entered``); this table says which step is then due.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum, StrEnum
from types import MappingProxyType

from warden.domain import Step
from warden.store.tables import IncidentRow


class StepResult(StrEnum):
    """How a step ended, as far as the order of steps cares."""

    AUTOMATED = "automated"  # the policy lets the action run without a human
    TELL_HUMANS = "tell_humans"  # needs approval, blocked, failed, unknown: a human hears
    APPROVED = "approved"  # an approval completed while humans were being told
    CHECK = "check"  # the action ran and has a health check
    DONE = "done"  # nothing more to do
    DONE_RESOLVED = "done_resolved"  # nothing more, and the post-mortem file is wanted
    ABANDONED = "abandoned"  # failed too often (or no stage for the step): left to a human


class Entry(Enum):
    """Something that happened to an incident outside the pipeline's steps.

    A plain ``Enum``, not a ``StrEnum``: its members share the table with ``StepResult``'s,
    and a ``StrEnum`` member equals any other of the same value (``APPROVED`` would
    silently replace ``StepResult.APPROVED``'s row)."""

    OPENED = "opened"  # an alert opened a new incident (a fault new, or back after resolve)
    OPENED_RESOLVED = "opened_resolved"  # a resolve nobody saw firing opened it, resolved
    ESCALATED = "escalated"  # a repeat raised the severity above the one triage saw
    APPROVED = "approved"  # the quorum approved and the re-check lets the action run
    APPROVAL_BLOCKED = "approval_blocked"  # the quorum approved, the re-check said blocked
    APPROVAL_EXPIRED = "approval_expired"  # the request's TTL passed unanswered
    RESOLVED = "resolved"  # the fault went away, or a human closed the incident


_FINISHED: Mapping[StepResult, Step | None] = {
    StepResult.DONE: None,
    StepResult.DONE_RESOLVED: Step.POSTMORTEM,
    StepResult.ABANDONED: None,
}

TRANSITIONS: Mapping[tuple[Step | None, StepResult | Entry], Step | None] = MappingProxyType({
    (Step.TRIAGE, StepResult.AUTOMATED): Step.EXECUTE,
    (Step.TRIAGE, StepResult.TELL_HUMANS): Step.NOTIFY,
    (Step.TRIAGE, StepResult.ABANDONED): None,
    (Step.NOTIFY, StepResult.APPROVED): Step.EXECUTE,
    **{(Step.NOTIFY, result): step for result, step in _FINISHED.items()},
    (Step.EXECUTE, StepResult.CHECK): Step.VERIFY,
    (Step.EXECUTE, StepResult.TELL_HUMANS): Step.NOTIFY,
    **{(Step.EXECUTE, result): step for result, step in _FINISHED.items()},
    (Step.VERIFY, StepResult.TELL_HUMANS): Step.NOTIFY,
    **{(Step.VERIFY, result): step for result, step in _FINISHED.items()},
    (Step.POSTMORTEM, StepResult.DONE): None,
    (Step.POSTMORTEM, StepResult.ABANDONED): None,
    # From outside: an entry never interrupts a step already due (it hands over itself
    # when it ends, seeing what happened), except where listed after this line.
    **{(step, entry): step for step in Step for entry in Entry},
    (None, Entry.OPENED): Step.TRIAGE,
    (None, Entry.OPENED_RESOLVED): None,
    (None, Entry.ESCALATED): Step.TRIAGE,
    (None, Entry.APPROVED): Step.EXECUTE,
    (None, Entry.APPROVAL_BLOCKED): Step.NOTIFY,
    (None, Entry.APPROVAL_EXPIRED): Step.NOTIFY,
    (None, Entry.RESOLVED): Step.POSTMORTEM,
    # Nothing left to triage: the fault went away (or a human closed it) before a model
    # was asked; its post-mortem is due instead.
    (Step.TRIAGE, Entry.RESOLVED): Step.POSTMORTEM,
})


def next_step(step: str, result: StepResult) -> Step | None:
    """The step due after ``step`` ended with ``result``; ``KeyError`` for an unplanned pair
    (an unknown step can only be abandoned)."""
    if result is StepResult.ABANDONED:
        return None
    return TRANSITIONS[(Step(step), result)]


def entered(due: str | None, entry: Entry) -> Step | None:
    """The step due once ``entry`` happened to an incident whose due step was ``due``."""
    return TRANSITIONS[(None if due is None else Step(due), entry)]


def enter(row: IncidentRow, entry: Entry) -> None:
    """Record in ``row`` (locked, in the caller's transaction) the step due after ``entry``."""
    row.pending_step = entered(row.pending_step, entry)
