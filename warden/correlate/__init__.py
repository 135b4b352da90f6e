"""Correlate: fold each alert into its incident (dedup, repeats, resolve, reopen)."""

from warden.correlate.fold import STEP_TRIAGE, Folded, fold

__all__ = ["STEP_TRIAGE", "Folded", "fold"]
