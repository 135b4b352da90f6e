"""What the policy page shows: the policy in force and the services frozen by the loop breaker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from warden.store.tables import FreezeRow

if TYPE_CHECKING:
    from warden.app import Warden
    from warden.policy import FreezeWindow, Policy


@dataclass(frozen=True, slots=True)
class FreezeWindowView:
    window: FreezeWindow
    in_force: bool
    upcoming: bool


@dataclass(frozen=True, slots=True)
class PolicyPage:
    policy: Policy
    path: str | None
    windows: list[FreezeWindowView]
    frozen: list[FreezeRow]
    tiers: list[str]


def policy_page(warden: Warden) -> PolicyPage:
    """The active policy (as swapped in by the last reload) and every frozen service."""
    policy = warden.policy.current
    now = warden.clock()
    with warden.store.session() as session:
        frozen = list(session.execute(select(FreezeRow).order_by(FreezeRow.service)).scalars())
    tiers = sorted({*policy.services.values(), *policy.approvers,
                    *(t for a in policy.actions.values() for t in a.auto_tiers),
                    *(t for a in policy.actions.values() for t in a.approval_tiers)})
    return PolicyPage(
        policy=policy, path=warden.policy.path,
        windows=[FreezeWindowView(w, w.contains(now), now < w.start) for w in policy.freeze],
        frozen=frozen, tiers=tiers,
    )
