"""The changes stage: deploys and other changes beside alerts (issue 17).

Stored like alerts (before the sender's 2xx, once per redelivery); read back as an
incident's evidence (``changes_before``) and as the record of the versions a service
has run (``deployed_versions``), the only ground for a rollback target (policy.md,
*Grounded params*); a triage provider is told both (``triage.recent_changes``).
"""

from warden.changes._change import Change, ChangeKind, Ignored, RecordedChange
from warden.changes.accept import Recorded, accept_change, auth_source, parse_change, record
from warden.changes.queries import (
    ChangePage,
    changes_before,
    deployed_versions,
    list_changes,
)

__all__ = [
    "Change",
    "ChangeKind",
    "ChangePage",
    "Ignored",
    "Recorded",
    "RecordedChange",
    "accept_change",
    "auth_source",
    "changes_before",
    "deployed_versions",
    "list_changes",
    "parse_change",
    "record",
]
