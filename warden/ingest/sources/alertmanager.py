"""Prometheus Alertmanager's webhook, version "4" (``notify/webhook/webhook.go``).

One delivery is one notification group; ``groupKey`` names it and becomes the incident
key ``alertmanager:{groupKey}``. A missing ``version`` is accepted, any other than "4" is
refused. The per-alert field rules are in ``_group``; the captured bodies in
``tests/ingest/samples/`` are the reference.
"""

from __future__ import annotations

from datetime import datetime

from warden.domain import Alert
from warden.ingest.sources._fields import as_object, required_string
from warden.ingest.sources._group import check_version, group_alerts

SOURCE = "alertmanager"


class AlertmanagerAdapter:
    """Parses an Alertmanager v4 webhook body into one ``Alert`` per ``alerts[]`` item."""

    def parse(self, body: object, *, received_at: datetime) -> list[Alert]:
        top = as_object(body, "$")
        check_version(top, "4", "Alertmanager")
        group = required_string(top, "groupKey", "$")
        return group_alerts(top, source=SOURCE, group=group)
