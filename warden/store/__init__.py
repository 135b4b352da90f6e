"""The store: the schema, migrations and the database every stage reads and writes."""

from warden.store.convert import incident_from_row, incident_with_alerts
from warden.store.db import Store
from warden.store.insert import insert_rows
from warden.store.tables import (
    AlertRow,
    ApprovalRow,
    AuditRow,
    ChangeRow,
    DeliveryRow,
    ExecutionRow,
    FreezeRow,
    IncidentRow,
    LedgerRow,
    SessionRow,
)

__all__ = [
    "AlertRow",
    "ApprovalRow",
    "AuditRow",
    "ChangeRow",
    "DeliveryRow",
    "ExecutionRow",
    "FreezeRow",
    "IncidentRow",
    "LedgerRow",
    "SessionRow",
    "Store",
    "incident_from_row",
    "incident_with_alerts",
    "insert_rows",
]
