"""The values of the changes stage: a change as a sender reported it, and as recorded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from warden.domain import service_key


class ChangeKind(StrEnum):
    DEPLOY = "deploy"
    CONFIG = "config"
    FLAG = "flag"
    SCALE = "scale"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Change:
    """One change on one service, as a sender reported it.

    ``sender_key`` identifies the report across redeliveries: the sender's own id when it
    has one, else a hash of the body. ``at`` is when the change happened (aware UTC).
    """

    source: str
    sender_key: str
    service: str
    kind: ChangeKind
    at: datetime
    version: str | None = None
    summary: str = ""
    author: str | None = None
    link: str | None = None


@dataclass(frozen=True, slots=True)
class Ignored:
    """A delivery acknowledged and not recorded (a GitHub event that is no deploy)."""

    reason: str


@dataclass(frozen=True, slots=True)
class RecordedChange:
    """A change as the store holds it."""

    id: int
    change: Change
    received_at: datetime

    @property
    def service_key(self) -> str:
        return service_key(self.change.service)
