"""The settings a command runs with, and the database it opens, for every command.

``warden --database URL COMMAND`` overrides ``WARDEN_DATABASE_URL`` for one command; read
commands open only a database that exists (a mistyped path or another working directory
must not silently create an empty one and show zero incidents).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

if TYPE_CHECKING:
    from warden.app import Warden
    from warden.config import Settings

# ``warden --database URL``: set once by the command line's callback, before the command.
_database_override: list[str] = []


def override_database(url: str | None) -> None:
    _database_override[:] = [url] if url else []


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"warden: {message}", err=True)
    raise typer.Exit(code)


def cli_settings(**overrides: Any) -> Settings:
    """``Settings()`` from the environment, with the global ``--database`` and ``overrides``
    (options given on the command line); exit 2 with the reason when they are invalid."""
    from pydantic import ValidationError

    from warden.config import Settings

    if _database_override:
        overrides = {"database_url": _database_override[0], **overrides}
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            (f"WARDEN_{str(e['loc'][0]).upper()}: " if e["loc"] else "")
            + e["msg"].removeprefix("Value error, ")
            for e in exc.errors()
        )
        fail(f"the settings are invalid: {problems}", 2)


def database_label(url: str) -> str:
    """The database URL as it may be shown: the password hidden."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(an unparseable database URL)"


def database_source(settings: Settings) -> str:
    """Where the database URL came from, to tell a user which one to change."""
    if "database_url" in settings.model_fields_set:
        return "from --database or WARDEN_DATABASE_URL"
    return "the default; set WARDEN_DATABASE_URL or --database"


def missing_sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL when it does not exist (None for other databases)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(parsed.database)
    return None if path.exists() else path.absolute()


def open_existing(settings: Settings, *, create_audit_key: bool = True) -> Warden:
    """The Warden of an existing store (migrated, no worker): exit 1 with one line when the
    database is missing or does not answer, 2 when the configuration is refused.
    ``create_audit_key=False``: a missing audit key file is an error, not made anew."""
    from sqlalchemy.exc import SQLAlchemyError

    from warden.app import Warden
    from warden.errors import ConfigError

    label = database_label(settings.database_url)
    missing = missing_sqlite_file(settings.database_url)
    if missing is not None:
        fail(f"no database at {missing} ({label}, {database_source(settings)}); "
             "`warden serve` creates it on its first start")
    try:
        warden = Warden(settings, create_audit_key=create_audit_key)
    except ConfigError as exc:
        fail(f"unusable configuration: {exc}", 2)
    try:
        warden.store.migrate()
    except SQLAlchemyError as exc:
        warden.store.dispose()
        fail(f"cannot open {label}: {driver_message(exc)}")
    return warden


def driver_message(exc: BaseException) -> str:
    """The first line of the database driver's own message."""
    from sqlalchemy.exc import DBAPIError

    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__
