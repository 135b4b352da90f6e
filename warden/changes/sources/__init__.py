"""Change senders: one module per sender, each turning its delivery into a ``Change``.

A new sender is one module here with a ``ChangeAdapter`` and an entry in
``change_adapters``; authentication, size limits and storing are written once
(``warden.changes.accept``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from warden.changes._change import Change, Ignored
from warden.changes.sources.generic import GenericChangeAdapter
from warden.changes.sources.github import GitHubChangeAdapter
from warden.changes.sources.pagerduty import PagerDutyChangeAdapter
from warden.config import Settings
from warden.ingest.accept import Delivery

__all__ = [
    "ChangeAdapter",
    "GenericChangeAdapter",
    "GitHubChangeAdapter",
    "PagerDutyChangeAdapter",
    "change_adapters",
]


class ChangeAdapter(Protocol):
    """Turns one delivery from one sender into the change it reports."""

    def parse(self, delivery: Delivery, *, received_at: datetime) -> Change | Ignored:
        """The change ``delivery`` reports, or ``Ignored`` for a delivery that reports none.

        Pure but for the settings the adapter was built with: ``received_at`` (aware) is
        the time of a change that carries none, and the same delivery always gives an
        equal change, ``sender_key`` included. Raises ``PayloadError`` (``where`` the JSON
        path at fault) for a body of the wrong shape and ``AuthError`` for a sender
        signature that does not verify; nothing else.
        """
        ...


def change_adapters(settings: Settings) -> Mapping[str, ChangeAdapter]:
    """Every sender by the name in its URL (``/v1/changes/{name}``)."""
    return {
        "generic": GenericChangeAdapter(),
        "pagerduty": PagerDutyChangeAdapter(settings.pagerduty_routing_keys),
        "github": GitHubChangeAdapter(settings.github_webhook_secret),
    }
