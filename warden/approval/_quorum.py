"""Who may approve, and when enough have: pure functions of their arguments.

The rules are policy.md's: only approvers listed for the service's tier count, a tier
may need several distinct approvers (``critical_quorum``), and the same person approving
twice counts once. A policy's ``approval_channels`` may restrict where approvals of a
tier come from (console, cli, slack, api).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from warden.domain import Approval, ApprovalChannel, Verdict


@dataclass(frozen=True, slots=True)
class Tally:
    """The approvals that count for one request: distinct approvers, in the order they
    approved, and whoever rejected it."""

    needed: int
    approved_by: tuple[str, ...]
    rejected_by: tuple[str, ...]

    @property
    def rejected(self) -> bool:
        return bool(self.rejected_by)

    @property
    def reached(self) -> bool:
        """Enough distinct approvers and no rejection."""
        return not self.rejected and len(self.approved_by) >= self.needed

    @property
    def missing(self) -> int:
        return max(0, self.needed - len(self.approved_by))


def refusal(
    *,
    user: str,
    channel: ApprovalChannel,
    tier: str,
    approvers: Collection[str],
    channels: Collection[ApprovalChannel],
) -> str | None:
    """Why ``user`` may not approve or reject an action on a service of ``tier`` through
    ``channel``; None when they may. Names are compared byte for byte."""
    if user not in approvers:
        listed = ", ".join(approvers) or "nobody"
        return f"{user!r} is not an approver for {tier} services (approvers: {listed})"
    if channel not in channels:
        allowed = ", ".join(sorted(c.value for c in channels)) or "no channel"
        return f"approvals for {tier} services count only from: {allowed}; not from {channel}"
    return None


def tally(
    approvals: Iterable[Approval],
    *,
    approvers: Collection[str],
    quorum: int,
    channels: Collection[ApprovalChannel],
) -> Tally:
    """Count ``approvals`` against the rules. Approvals by someone not in ``approvers`` or
    through a channel not in ``channels`` do not count, for or against."""
    approved: dict[str, None] = {}
    rejected: dict[str, None] = {}
    for approval in approvals:
        if approval.approver not in approvers or approval.channel not in channels:
            continue
        if approval.verdict is Verdict.APPROVE:
            approved[approval.approver] = None
        else:
            rejected[approval.approver] = None
    return Tally(needed=quorum, approved_by=tuple(approved), rejected_by=tuple(rejected))
