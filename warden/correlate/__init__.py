"""Correlate: fold each alert into its incident (dedup, repeats, resolve, reopen), and the
hand actions on an incident (acknowledge, resolve)."""

from warden.correlate.by_hand import HandState, acknowledge, resolve
from warden.correlate.fold import Arrival, Folded, fold, fold_many

__all__ = ["Arrival", "Folded", "HandState", "acknowledge", "fold", "fold_many", "resolve"]
