"""Notification groups as Alertmanager's webhook sends them (Grafana sends the same shape).

A group carries ``alerts[]``; each alert has ``status``, ``labels``, ``annotations``,
``startsAt``, ``endsAt`` and ``fingerprint``. The group is the incident: the operator's
routing already said which alerts belong together (``group_by``), so every alert of a
group gets ``incident_key = "{source}:{group}"``.

Field rules, per alert:

- service: the first non-empty label of ``service``, ``app``, ``job``, ``alertname``
  (``app`` before ``job`` because ``job`` is often the exporter, not the service), else
  ``unknown``;
- title: annotation ``summary``, else label ``alertname``, else ``"alert from {source}"``;
- description: annotation ``description``, else ``message``, else empty;
- severity: label ``severity`` mapped as ``_fields.severity_from_label``;
- fingerprint: the sender's, else a hash of source, service and labels;
- dedup_key: a hash of source, group, fingerprint, status and startsAt, so the same
  notification from every peer of an HA pair, or a retry, is one delivery.
"""

from __future__ import annotations

from collections.abc import Mapping

from warden.domain import Alert
from warden.errors import PayloadError
from warden.ingest._fingerprint import digest, incident_key
from warden.ingest.sources._fields import (
    MAX_NAME_CHARS,
    UNKNOWN_SERVICE,
    JSONObject,
    alert_status,
    as_object,
    child,
    optional_end,
    optional_string,
    required_list,
    service_name,
    severity_from_label,
    string_map,
    timestamp,
)

SERVICE_LABELS = ("service", "app", "job", "alertname")


def check_version(top: JSONObject, expected: str, sender: str) -> None:
    """Refuse a ``version`` other than ``expected``; a missing one is accepted."""
    version = optional_string(top, "version", "$")
    if version is not None and version != expected:
        raise PayloadError(
            f"{sender} webhook version {version[:32]!r} is not supported; "
            f"Warden reads version {expected!r}",
            "$.version",
        )


def group_alerts(top: JSONObject, *, source: str, group: str) -> list[Alert]:
    """Every alert of the group ``top``, in payload order; ``group`` identifies the group."""
    items = required_list(top, "alerts", "$")
    key = incident_key(source, group)
    where = child("$", "alerts")
    return [
        _alert(item, child(where, i), source=source, group=group, key=key)
        for i, item in enumerate(items)
    ]


def _service(labels: Mapping[str, str], labels_where: str) -> str:
    for name in SERVICE_LABELS:
        value = labels.get(name)
        if value:
            return service_name(value, child(labels_where, name))
    return UNKNOWN_SERVICE


def _alert(value: object, where: str, *, source: str, group: str, key: str) -> Alert:
    item = as_object(value, where, name="each alert")
    status = alert_status(item, "status", where)
    labels = string_map(item, "labels", where)
    annotations = string_map(item, "annotations", where)
    if item.get("startsAt") is None:
        raise PayloadError("startsAt is required", child(where, "startsAt"))
    starts_at = timestamp(item["startsAt"], child(where, "startsAt"), "startsAt")
    ends_at = optional_end(item, "endsAt", where)
    service = _service(labels, child(where, "labels"))
    fingerprint = (optional_string(item, "fingerprint", where, max_chars=MAX_NAME_CHARS)
                   or digest(source, service, labels))
    return Alert(
        source=source,
        service=service,
        title=annotations.get("summary") or labels.get("alertname") or f"alert from {source}",
        description=annotations.get("description") or annotations.get("message") or "",
        severity=severity_from_label(labels.get("severity")),
        labels=labels,
        fingerprint=fingerprint,
        incident_key=key,
        dedup_key=digest(source, group, fingerprint, status, starts_at),
        status=status,
        starts_at=starts_at,
        ends_at=ends_at,
        raw=item,
    )
