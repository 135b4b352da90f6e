"""The approval rules as pure functions: one row per rule."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from warden.approval import refusal, tally
from warden.domain import Approval, ApprovalChannel, Verdict

AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ALL = frozenset(ApprovalChannel)
API, CLI, SLACK = ApprovalChannel.API, ApprovalChannel.CLI, ApprovalChannel.SLACK


def given(*votes: tuple[str, str] | tuple[str, str, ApprovalChannel]) -> list[Approval]:
    out = []
    for vote in votes:
        who, verdict = vote[0], vote[1]
        channel = vote[2] if len(vote) == 3 else API
        out.append(Approval(incident_id=1, approver=who, verdict=Verdict(verdict), reason="",
                            channel=channel, at=AT))
    return out


@pytest.mark.parametrize(
    ("votes", "quorum", "counted", "reached", "rejected"),
    [
        ((), 2, (), False, False),
        ((("alice", "approve"),), 1, ("alice",), True, False),
        ((("alice", "approve"),), 2, ("alice",), False, False),
        # The same person twice counts once.
        ((("alice", "approve"), ("alice", "approve")), 2, ("alice",), False, False),
        ((("alice", "approve"), ("carol", "approve")), 2, ("alice", "carol"), True, False),
        # Someone not listed counts for nothing.
        ((("alice", "approve"), ("mallory", "approve")), 2, ("alice",), False, False),
        # Names are compared byte for byte.
        ((("alice", "approve"), ("Carol", "approve"), ("carol ", "approve")), 2,
         ("alice",), False, False),
        # A rejection ends it, whatever else was given.
        ((("alice", "approve"), ("carol", "reject")), 2, ("alice",), False, True),
        ((("alice", "approve"), ("carol", "approve"), ("carol", "reject")), 2,
         ("alice", "carol"), False, True),
        # A rejection by someone not listed is no rejection.
        ((("alice", "approve"), ("mallory", "reject")), 1, ("alice",), True, False),
    ],
)
def test_tally(votes: tuple[tuple[str, str], ...], quorum: int, counted: tuple[str, ...],
               reached: bool, rejected: bool) -> None:
    result = tally(given(*votes), approvers=("alice", "carol"), quorum=quorum, channels=ALL)
    assert result.approved_by == counted
    assert result.reached is reached
    assert result.rejected is rejected
    assert result.missing == max(0, quorum - len(counted))


def test_only_allowed_channels_count() -> None:
    votes = given(("alice", "approve", SLACK), ("carol", "approve", CLI))
    result = tally(votes, approvers=("alice", "carol"), quorum=2, channels={SLACK})
    assert result.approved_by == ("alice",)
    assert not result.reached


@pytest.mark.parametrize(
    ("user", "channel", "allowed"),
    [
        ("alice", API, True),
        ("bob", API, False),  # listed for another tier only
        ("ALICE", API, False),
        ("alice", CLI, False),  # the tier takes approvals from slack and api only
        ("", API, False),
    ],
)
def test_refusal(user: str, channel: ApprovalChannel, allowed: bool) -> None:
    why = refusal(user=user, channel=channel, tier="critical", approvers=("alice", "carol"),
                  channels={SLACK, API})
    assert (why is None) is allowed
    if why is not None:
        assert "critical" in why


def test_no_approvers_means_nobody() -> None:
    why = refusal(user="alice", channel=API, tier="standard", approvers=(), channels=ALL)
    assert why is not None and "nobody" in why
