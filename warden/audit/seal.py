"""The audit chain's secret key and its anchor: both kept outside the database.

The key makes each event's MAC unforgeable by someone who can only write the database;
the anchor (the newest event's id and MAC, in a file) makes deleting the newest events show.
Reading the key and anchor files is here; deciding where they live is ``resolve_seal``.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

from warden.errors import ConfigError

if TYPE_CHECKING:
    from warden.config import Settings

KEY_FILE_NAME = "warden-audit.key"
ANCHOR_FILE_NAME = "warden-audit.anchor"
_KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class Anchor:
    """The newest event a process saw committed: its id (the chain's sequence) and MAC."""

    seq: int
    mac: str


@dataclass(frozen=True, slots=True)
class AuditSeal:
    """What every append and every verification needs: the HMAC key and the anchor file
    (None: no anchor is kept, so only edits show, not a cut tail)."""

    key: bytes
    anchor: Path | None
    key_origin: str = "given"

    def __repr__(self) -> str:  # the key never prints
        return f"AuditSeal(key=<{len(self.key)} bytes from {self.key_origin}>, " \
               f"anchor={self.anchor})"


def resolve_seal(
    *, database_url: str, key: str | None, key_file: Path | None, anchor: Path | None,
    create: bool,
) -> AuditSeal:
    """Where the key comes from, in order: ``key`` (``WARDEN_AUDIT_KEY``), ``key_file``
    (``WARDEN_AUDIT_KEY_FILE``, created when ``create`` and missing), else
    ``warden-audit.key`` beside a SQLite database file (created likewise). The anchor is
    ``anchor`` (``WARDEN_AUDIT_ANCHOR``), else ``warden-audit.anchor`` beside the key file,
    else beside the SQLite file, else none (a key from the environment and a database that
    is not a file: the caller says that a cut tail will not show). ``ConfigError`` for a
    database that is not a file when no key is given, and for a key file that is
    unreadable, empty or readable by others.
    """
    db_dir = _sqlite_dir(database_url)
    if key is not None:
        if not key.strip():
            raise ConfigError("WARDEN_AUDIT_KEY is set but empty")
        found = AuditSeal(key=key.encode(), anchor=None, key_origin="WARDEN_AUDIT_KEY")
        place = db_dir
    else:
        path = key_file or (db_dir / KEY_FILE_NAME if db_dir is not None else None)
        if path is None:
            raise ConfigError(
                "the audit chain needs a secret key kept outside the database: set "
                "WARDEN_AUDIT_KEY or WARDEN_AUDIT_KEY_FILE (the database is not a SQLite file, "
                "so no key file can be created beside it)")
        found = AuditSeal(key=_read_key(path, create=create), anchor=None, key_origin=str(path))
        place = path.parent
    anchor_path = anchor or (place / ANCHOR_FILE_NAME if place is not None else None)
    return AuditSeal(key=found.key, anchor=anchor_path, key_origin=found.key_origin)


def audit_seal_for(settings: Settings, *, create: bool) -> AuditSeal:
    """``resolve_seal`` with the settings ``WARDEN_AUDIT_KEY``, ``WARDEN_AUDIT_KEY_FILE``
    and ``WARDEN_AUDIT_ANCHOR``."""
    return resolve_seal(
        database_url=settings.database_url,
        key=settings.audit_key.get_secret_value() if settings.audit_key else None,
        key_file=settings.audit_key_file, anchor=settings.audit_anchor, create=create)


def _sqlite_dir(database_url: str) -> Path | None:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database).resolve().parent


def _read_key(path: Path, *, create: bool) -> bytes:
    if create:
        # No folder is made: a mistyped database path must fail, not grow a tree.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process (or an earlier start) made it: use that one
        except OSError as exc:
            raise ConfigError(
                f"cannot create the audit key file {path}: {exc.strerror}") from exc
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(_KEY_BYTES) + "\n")
    try:
        mode = path.stat().st_mode
        text = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the audit key file {path}: {exc.strerror}") from exc
    if mode & 0o077:
        raise ConfigError(f"the audit key file {path} is readable by others "
                          f"(mode {mode & 0o777:o}); run: chmod 600 {path}")
    if not text:
        raise ConfigError(f"the audit key file {path} is empty")
    return text.encode()


_RECORD_BYTES = 128  # one fixed-size record, rewritten in place: far below a page


def read_anchor(path: Path) -> Anchor | None:
    """The anchor in ``path``; None when there is no file. ``ValueError`` if unreadable."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    return _parse(raw, path)


def _parse(raw: bytes, path: Path) -> Anchor | None:
    if not raw.strip():
        return None
    try:
        body = json.loads(raw)
        return Anchor(seq=int(body["seq"]), mac=str(body["mac"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"the audit anchor {path} is not readable: {exc}") from exc


class _AnchorFile:
    """An anchor file kept open for the life of the process (reopening and replacing a
    file costs milliseconds on ext4; rewriting one record in place costs microseconds)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        # flock excludes other processes, not other threads sharing this descriptor.
        self.threads = threading.Lock()

    def advance(self, head: Anchor) -> None:
        record = json.dumps({"seq": head.seq, "mac": head.mac}).encode()
        with self.threads:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
            try:
                try:
                    current = _parse(os.pread(self.fd, _RECORD_BYTES * 2, 0), self.path)
                except ValueError:
                    current = None  # an unreadable anchor is replaced by a good one
                if current is None or current.seq < head.seq:
                    os.pwrite(self.fd, record.ljust(_RECORD_BYTES - 1) + b"\n", 0)
            finally:
                fcntl.flock(self.fd, fcntl.LOCK_UN)


_open_anchors: dict[Path, _AnchorFile] = {}
_open_anchors_lock = threading.Lock()


def advance_anchor(path: Path, head: Anchor) -> None:
    """Move the anchor in ``path`` to ``head`` unless it already names a later event.

    Called after a commit that appended events. Several processes and threads share the
    file: a lock orders them, and the anchor only moves forward, so one that committed
    first but writes last never moves it back. The record has a fixed size and is
    rewritten in place with one write; it is not fsynced, so a power cut may leave an
    older anchor (verification still passes), never a newer one.
    """
    with _open_anchors_lock:
        anchor_file = _open_anchors.get(path)
        if anchor_file is None:
            anchor_file = _open_anchors[path] = _AnchorFile(path)
    anchor_file.advance(head)
