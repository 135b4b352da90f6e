"""How outcomes read to people (CLI, notifications, post-mortems).

The contract's outcomes stay what ``decide()`` returns; a proposal that suggests no action
is ``blocked`` with the single reason ``no_action``, which people read as "nothing
suggested" (a human should look), not as something that was stopped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NOTHING_SUGGESTED = "nothing suggested"


def nothing_suggested(decision: Mapping[str, Any] | None) -> bool:
    """Whether ``decision`` (its JSON form) is ``blocked`` only because no action was
    proposed."""
    if not decision or decision.get("outcome") != "blocked":
        return False
    codes = {r.get("code") for r in decision.get("reasons") or [] if isinstance(r, Mapping)}
    return codes == {"no_action"}


def outcome_words(decision: Mapping[str, Any] | None, *, policy_mode: str) -> str:
    """The outcome as people read it: ``nothing suggested`` for a no-action proposal, and
    an ``execute`` decided in dry run (the decision's ``mode``, else ``policy_mode``)
    marked as such: nothing really runs."""
    if not decision:
        return "-"
    if nothing_suggested(decision):
        return NOTHING_SUGGESTED
    outcome = str(decision.get("outcome") or "-")
    dry_run = (decision.get("mode") or policy_mode) == "dry_run"
    return f"{outcome} (dry run)" if dry_run and outcome == "execute" else outcome


SHADOW_NOTE = "shadow: nothing will run; your verdict is recorded as agreement data"
"""Said wherever a shadow decision asks for a verdict (console, Slack, notifications, API)."""


def is_shadow(decision: Mapping[str, Any] | None) -> bool:
    """Whether ``decision`` (its stored JSON form) was made for a shadow action."""
    return bool(decision and decision.get("shadow"))
