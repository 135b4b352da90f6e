"""The order of the pipeline, written once: (step, what it ended with) → the next step.

A stage never names the step after it; it says how it ended (``StepResult``) and the
runner's lease hands the incident on through this table. A pair that is not listed is a
bug in the stage, and the step fails (and is retried, then abandoned) instead of
sending the incident somewhere nobody planned.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from warden.domain import Step


class StepResult(StrEnum):
    """How a step ended, as far as the order of steps cares."""

    AUTOMATED = "automated"  # the policy lets the action run without a human
    TELL_HUMANS = "tell_humans"  # needs approval, blocked, failed, unknown: a human hears
    APPROVED = "approved"  # an approval completed while humans were being told
    CHECK = "check"  # the action ran and has a health check
    DONE = "done"  # nothing more to do
    DONE_RESOLVED = "done_resolved"  # nothing more, and the post-mortem file is wanted
    ABANDONED = "abandoned"  # failed too often (or no stage for the step): left to a human


_FINISHED: Mapping[StepResult, Step | None] = {
    StepResult.DONE: None,
    StepResult.DONE_RESOLVED: Step.POSTMORTEM,
    StepResult.ABANDONED: None,
}

TRANSITIONS: Mapping[tuple[Step, StepResult], Step | None] = MappingProxyType({
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
})


def next_step(step: str, result: StepResult) -> Step | None:
    """The step due after ``step`` ended with ``result``; ``KeyError`` for an unplanned pair
    (an unknown step can only be abandoned)."""
    if result is StepResult.ABANDONED:
        return None
    return TRANSITIONS[(Step(step), result)]
