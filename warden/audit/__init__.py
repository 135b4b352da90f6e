"""Audit: the hash-chained event log every stage appends to, and its verification."""

from warden.audit.chain import ChainReport, record, verify

__all__ = ["ChainReport", "record", "verify"]
