"""Correlate: fold each alert into its incident (dedup, repeats, resolve, reopen)."""

from warden.correlate.fold import Arrival, Folded, fold, fold_many

__all__ = ["Arrival", "Folded", "fold", "fold_many"]
