"""The approval stage: a decision that needs a human waits here for listed approvers.

``submit`` records one verdict (from the API, the console, Slack or the CLI); ``tally`` and
``refusal`` are the pure rules it applies; ``recheck`` runs the policy again on the state
of the moment the quorum is reached (and at execution time). Every verdict names the
decision it judged by ``digest_of`` (kept with the recorded decisions, ``trust.digest``).
"""

from warden.approval._quorum import Tally, refusal, tally
from warden.approval._recheck import recheck
from warden.approval._submit import (
    ApprovalState,
    Submitted,
    expire_if_due,
    expire_overdue,
    open_request,
    submit,
    tally_for,
)
from warden.trust.digest import decision_digest, digest_of

__all__ = [
    "ApprovalState",
    "Submitted",
    "Tally",
    "decision_digest",
    "digest_of",
    "expire_if_due",
    "expire_overdue",
    "open_request",
    "recheck",
    "refusal",
    "submit",
    "tally",
    "tally_for",
]
