"""Agreement figures: how often the policy and the humans agreed, per action, tier and
model, and the promotion hints they earn. Pure: the facts are read elsewhere.

Agreement, per human verdict: the policy would run the action and the human approved it,
or it would not and the human rejected it. The policy *would run* it when the decision is
``execute``, or ``needs_approval`` for no reason but the tier's own approval rule
(``approval_required``): nothing but the habit of asking stood in its way. Any other
``needs_approval`` (security, loop breaker, limits, freeze, precedent) or ``blocked``
means it would not.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from warden.domain import Outcome, ReasonCode, Verdict
from warden.policy import Policy

HINT_MIN_VERDICTS = 20
HINT_MIN_AGREEMENT = 0.95


@dataclass(frozen=True, slots=True)
class DecisionFacts:
    """One decided proposal that named an action, and what followed it."""

    action: str
    tier: str
    model: str
    outcome: Outcome
    reason_codes: tuple[str, ...]
    verdicts: tuple[Verdict, ...]
    executions: int
    verified_healthy: int


def policy_would_run(outcome: Outcome, reason_codes: Iterable[str]) -> bool:
    """Whether the policy let the action run, but for the tier's own approval rule."""
    if outcome is Outcome.EXECUTE:
        return True
    return outcome is Outcome.NEEDS_APPROVAL and set(reason_codes) == {
        ReasonCode.APPROVAL_REQUIRED.value}


def agreement_figures(facts: Iterable[DecisionFacts], policy: Policy) -> dict[str, Any]:
    """``{"actions": [...], "hints": [...]}`` (the shape of ``warden policy stats --json``):
    one row per action, tier and model; hints per action and tier, over every model."""
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    by_tier: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for fact in facts:
        row = rows.setdefault((fact.action, fact.tier, fact.model), {
            "action": fact.action, "tier": fact.tier, "model": fact.model, "proposals": 0,
            "policy": {o.value: 0 for o in Outcome}, "verdicts": {v.value: 0 for v in Verdict},
            "agreed": 0, "executions": 0, "verified_healthy": 0})
        row["proposals"] += 1
        row["policy"][fact.outcome.value] += 1
        would_run = policy_would_run(fact.outcome, fact.reason_codes)
        for verdict in fact.verdicts:
            row["verdicts"][verdict.value] += 1
            agreed = (verdict is Verdict.APPROVE) == would_run
            row["agreed"] += agreed
            counts = by_tier[(fact.action, fact.tier)]
            counts[0] += 1
            counts[1] += agreed
        row["executions"] += fact.executions
        row["verified_healthy"] += fact.verified_healthy
    actions = []
    for key in sorted(rows):
        row = rows[key]
        given = sum(row["verdicts"].values())
        agreed = row.pop("agreed")
        row["agreement"] = round(agreed / given, 4) if given else None
        actions.append(row)
    hints = [hint for (action, tier), (given, agreed) in sorted(by_tier.items())
             if (hint := promotion_hint(action, tier, given, agreed, policy)) is not None]
    return {"actions": actions, "hints": hints}


def promotion_hint(
    action: str, tier: str, verdicts: int, agreed: int, policy: Policy
) -> Mapping[str, Any] | None:
    """The suggested policy change, never applied, once humans agreed with the policy on
    ``action`` on ``tier`` often enough; None when not earned or nothing is left to move."""
    if verdicts < HINT_MIN_VERDICTS or agreed / verdicts < HINT_MIN_AGREEMENT:
        return None
    spec = policy.actions.get(action)
    if spec is None:
        return None
    share = f"{action} on {tier}: {verdicts} verdicts, {agreed / verdicts:.0%} agree"
    if tier not in spec.auto_tiers:
        after = [*spec.auto_tiers, tier]
        diff = (f" actions:\n   {action}:\n-    auto_tiers: [{', '.join(spec.auto_tiers)}]\n"
                f"+    auto_tiers: [{', '.join(after)}]\n")
        message = f"{share} — consider moving it to auto_tiers"
    elif spec.shadow:
        diff = f" actions:\n   {action}:\n-    shadow: true\n"
        message = f"{share} — consider taking it out of shadow"
    elif policy.mode == "shadow":
        diff = "-mode: shadow\n+mode: live\n"
        message = f"{share} — consider leaving mode: shadow"
    else:
        return None
    return {"action": action, "tier": tier, "verdicts": verdicts,
            "agreement": round(agreed / verdicts, 4), "message": message, "diff": diff}
