"""Grafana unified alerting's webhook (``webhookMessage``, version "1").

The body is Alertmanager's group shape (see ``_group``) plus Grafana's own fields:
``orgId``, ``title``, ``state``, ``message`` at the top and ``silenceURL``,
``dashboardURL``, ``panelURL``, ``values``, ``valueString``, ``imageURL``... per alert,
all kept in each alert's ``raw``. One Grafana serves several organisations whose group
keys can coincide, so the incident key is ``grafana:{orgId}:{groupKey}``
(``grafana:{groupKey}`` without an ``orgId``). Grafana's legacy alerting body
(``ruleName``, ``evalMatches``, no ``alerts``) and custom payload templates are refused.
"""

from __future__ import annotations

from datetime import datetime

from warden.domain import Alert
from warden.errors import PayloadError
from warden.ingest.sources._fields import as_object, json_type, required_string
from warden.ingest.sources._group import check_version, group_alerts

SOURCE = "grafana"


class GrafanaAdapter:
    """Parses a Grafana alerting webhook body into one ``Alert`` per ``alerts[]`` item."""

    def parse(self, body: object, *, received_at: datetime) -> list[Alert]:
        top = as_object(body, "$")
        if "alerts" not in top and "evalMatches" in top:
            raise PayloadError(
                "this is Grafana's legacy alerting webhook; Warden reads unified alerting's",
                "$.alerts",
            )
        check_version(top, "1", "Grafana")
        group = required_string(top, "groupKey", "$")
        org = top.get("orgId")
        if org is not None:
            # Grafana's orgId is a Go int64.
            if not isinstance(org, int) or isinstance(org, bool) or not -2**63 <= org < 2**63:
                raise PayloadError(f"orgId must be a 64-bit integer, got {json_type(org)}",
                                   "$.orgId")
            group = f"{org}:{group}"
        return group_alerts(top, source=SOURCE, group=group)
