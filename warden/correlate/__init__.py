"""Correlate: fold each alert into its incident (dedup, repeats, resolve, reopen), and the
hand actions on an incident (acknowledge, resolve)."""

from warden.correlate.by_hand import HandState, acknowledge, resolve
from warden.correlate.fold import Folded, fold

__all__ = ["Folded", "HandState", "acknowledge", "fold", "resolve"]
