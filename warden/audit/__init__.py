"""Audit: the keyed, anchored event chain every stage appends to, and its verification."""

from warden.audit.chain import (
    SEAL_INFO_KEY,
    ChainReport,
    Event,
    hold_append_lock,
    lock_incident,
    record,
    record_many,
    verify,
)
from warden.audit.seal import AuditSeal, audit_seal_for, resolve_seal

__all__ = [
    "SEAL_INFO_KEY", "AuditSeal", "ChainReport", "Event", "audit_seal_for", "hold_append_lock",
    "lock_incident", "record",
    "record_many", "resolve_seal", "verify",
]
