"""Evidence values, the one-method source interface, and what every item goes through
before it is stored, shown or sent: a size cap and secret redaction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from re import Pattern
from typing import Any, Protocol

from warden.redact import redact


class EvidenceKind(StrEnum):
    METRIC = "metric"
    SIMILAR = "similar_incidents"
    RUNBOOK = "runbook"


@dataclass(frozen=True, slots=True)
class AlertSeen:
    """What an investigation reads of one alert: its labels and annotations, the rule's
    ``generatorURL`` (Prometheus puts the expression there) and when it started."""

    title: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    generator_url: str | None
    starts_at: datetime


@dataclass(frozen=True, slots=True)
class Case:
    """The incident under investigation: ``now`` is passed in, never read from a clock."""

    incident_id: int
    service: str
    title: str
    description: str
    labels: Mapping[str, str]
    first_seen: datetime
    alerts: tuple[AlertSeen, ...]
    now: datetime


@dataclass(frozen=True, slots=True)
class Evidence:
    """One read-only finding. ``id`` is stable for the same finding (``kind:subject``);
    ``error`` is set, and ``data`` empty, when the source could not answer."""

    id: str
    kind: EvidenceKind
    title: str
    summary: str
    data: Mapping[str, Any] = field(default_factory=dict)
    source_url: str | None = None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind.value, "title": self.title,
                "summary": self.summary, "data": dict(self.data),
                "source_url": self.source_url, "error": self.error}

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Evidence:
        return cls(id=body["id"], kind=EvidenceKind(body["kind"]), title=body["title"],
                   summary=body["summary"], data=dict(body.get("data") or {}),
                   source_url=body.get("source_url"), error=body.get("error"))


class EvidenceSource(Protocol):
    """Finds evidence for one case, read-only.

    ``gather`` returns zero or more items (an item with ``error`` for an answer it could
    not get); it may raise, and may take long: the ``Investigator`` bounds it with
    ``timeout_s`` and turns a raise or a timeout into an item with ``error``. ``name``
    names the source in such items; ``kind`` is the kind of item it yields.
    """

    name: str
    kind: EvidenceKind
    timeout_s: float

    def gather(self, case: Case) -> Sequence[Evidence]: ...


def failed(source: EvidenceSource, why: str) -> Evidence:
    """The item a source yields when it has no answer: it says why."""
    return Evidence(id=f"{source.kind.value}:{source.name}", kind=source.kind,
                    title=f"{source.name}: no evidence", summary=why, error=why)


def cap(item: Evidence, max_bytes: int) -> Evidence:
    """The item within ``max_bytes`` of JSON: the data is dropped first (its summary stays),
    then the summary is cut; either way the item says it was cut."""
    if _size(item) <= max_bytes:
        return item
    slim = replace(item, data={"truncated": f"data over {max_bytes} bytes dropped"})
    if _size(slim) <= max_bytes:
        return slim
    room = max(0, max_bytes - _size(replace(slim, summary="")) - 16)
    return replace(slim, summary=item.summary[:room] + " [cut]")


def _size(item: Evidence) -> int:
    return len(json.dumps(item.as_json(), ensure_ascii=False).encode())


def redact_item(item: Evidence, patterns: Sequence[Pattern[str]]) -> Evidence:
    """Every string in the item (keys of ``data`` excepted) with secrets removed."""
    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return redact(value, patterns).text
        if isinstance(value, Mapping):
            return {key: clean(inner) for key, inner in value.items()}
        if isinstance(value, list | tuple):
            return [clean(inner) for inner in value]
        return value

    return replace(item, title=clean(item.title), summary=clean(item.summary),
                   data=clean(item.data), source_url=clean(item.source_url),
                   error=clean(item.error))
