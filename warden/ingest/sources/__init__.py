"""Source adapters: one module per sender, each turning its payload into ``Alert`` values.

A new source is one module here with a ``SourceAdapter`` and an entry in ``ADAPTERS``;
authentication, size limits and storing are the route's, written once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Protocol

from warden.domain import Alert
from warden.ingest.sources.alertmanager import AlertmanagerAdapter
from warden.ingest.sources.generic import GenericAdapter
from warden.ingest.sources.grafana import GrafanaAdapter
from warden.ingest.sources.pagerduty import PagerDutyAdapter
from warden.ingest.sources.selzee import SelzeeAdapter
from warden.ingest.sources.slack import SlackAdapter

__all__ = [
    "ADAPTERS",
    "AlertmanagerAdapter",
    "GenericAdapter",
    "GrafanaAdapter",
    "PagerDutyAdapter",
    "SelzeeAdapter",
    "SlackAdapter",
    "SourceAdapter",
]


class SourceAdapter(Protocol):
    """Turns one decoded request body from one source into its alerts."""

    def parse(self, body: object, *, received_at: datetime) -> list[Alert]:
        """Every alert of ``body`` (the decoded JSON value), in payload order.

        Pure: no clock but ``received_at`` (timezone-aware; used as the alert's start when
        the payload has no time of its own), no I/O, and the same body and time always give
        equal alerts, keys included. A body of the wrong shape raises ``PayloadError``
        whose ``where`` is the JSON path of the offending value (``$.alerts[2].labels``);
        nothing else is raised for any JSON value. An empty list means the body held no
        alerts (an Alertmanager group with ``alerts: []``).
        """
        ...


ADAPTERS: Mapping[str, SourceAdapter] = MappingProxyType({
    "alertmanager": AlertmanagerAdapter(),
    "grafana": GrafanaAdapter(),
    "pagerduty": PagerDutyAdapter(),
    "selzee": SelzeeAdapter(),
    "slack": SlackAdapter(),
    "generic": GenericAdapter(),
})
