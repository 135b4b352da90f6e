"""The trust ladder (ARCHITECTURE.md): what each decision was given, replayed under a new
policy (``replay``), and how often the machine and the humans agreed (``stats``).

``record_decision`` is called wherever the policy decides (triage, the re-checks); the
rest only reads the store.
"""

from warden.trust.record import record_decision, trust_marks

__all__ = ["record_decision", "trust_marks"]
