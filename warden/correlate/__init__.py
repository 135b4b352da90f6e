"""Correlate: fold each alert into its incident (dedup, repeats, resolve, reopen)."""

from warden.correlate.fold import Folded, fold

__all__ = ["Folded", "fold"]
