"""``warden serve`` (API and worker), ``warden worker`` (worker only) and ``warden info``
(what a server started here would use)."""

from __future__ import annotations

import gc
import ipaddress
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from warden.cli._settings import cli_settings, database_label, driver_message, fail
from warden.errors import ConfigError

if TYPE_CHECKING:
    from warden.app import Warden
    from warden.config import Settings

PolicyOption = Annotated[
    Path | None, typer.Option(help="Policy YAML (default: WARDEN_POLICY, else built-in).")
]


def _build(settings: Settings) -> Warden:
    """The running Warden with a migrated database, or exit with one line saying why:
    2 when its configuration is refused, 1 when the database cannot be opened."""
    import structlog
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    from warden.app import Warden
    from warden.config.logging import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    try:
        warden = Warden(settings)
    except ConfigError as exc:
        fail(f"refusing to start: {exc}", 2)
    try:
        # Here, not in the app's start-up, so a database that cannot be opened or upgraded
        # is one line, not a traceback logged by the server.
        warden.store.migrate()
    except (SQLAlchemyError, CommandError) as exc:
        warden.store.dispose()
        structlog.get_logger("warden").error(
            "database.unusable", database=database_label(settings.database_url),
            error=driver_message(exc))
        fail(f"cannot open {database_label(settings.database_url)}: {driver_message(exc)}")
    _reload_on_sighup(warden)
    return warden


def serve(
    host: Annotated[str | None, typer.Option(
        help="Address to listen on (default: WARDEN_HOST, else 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(
        help="Port to listen on (default: WARDEN_PORT, else 8080).")] = None,
    policy: PolicyOption = None,
    worker: Annotated[bool, typer.Option(
        "--worker/--no-worker", help="Run the triage worker beside the API.")] = True,
    request_timeout: Annotated[float, typer.Option(
        min=0.1, help="Seconds a client has to send a whole request (headers and body); "
        "slower ones are disconnected.")] = 10.0,
    max_connections: Annotated[int | None, typer.Option(
        min=1, help="Open connections at most; at the bound a new connection displaces the "
        "one reading its request longest. Default: the descriptor limit less 128.")] = None,
) -> None:
    """Run the HTTP API, the console and the triage worker."""
    import structlog
    import uvicorn

    from warden.cli._guarded_http import guarded_protocol, max_connections_for_limit
    from warden.web.app import create_app

    settings = cli_settings(host=host, port=port, policy=policy,
                            worker_enabled=None if worker else False)
    warden = _build(settings)
    log = structlog.get_logger("warden")
    for line in banner(describe_setup(warden)):
        (log.warning if line.loud else log.info)(line.event, **line.fields)
    # The runner's step threads and the event loop share the GIL: a 1 ms switch interval
    # (5 ms by default) keeps /healthz and ingest answering quickly while many steps run.
    sys.setswitchinterval(0.001)
    http = guarded_protocol(read_timeout_s=request_timeout,
                            max_connections=max_connections or max_connections_for_limit())
    app = create_app(warden)
    # Everything built so far (modules, models, schemas) lives as long as the process:
    # kept out of the collector's generations, a full collection under a flood scans only
    # what requests create, not all of it (one such pause held /healthz for 200 ms).
    gc.freeze()
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None,
                timeout_graceful_shutdown=10, http=http)


def worker(policy: PolicyOption = None) -> None:
    """Run only the triage worker (for extra replicas beside `warden serve`)."""
    warden = _build(cli_settings(policy=policy))
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    warden.start(run_worker=True)
    done.wait()
    warden.stop()


def info(policy: PolicyOption = None) -> None:
    """Print what `warden serve` would use here: database, policy, mode, provider, URL."""
    from warden.cli._settings import database_source, missing_sqlite_file

    settings = cli_settings(policy=policy)
    try:
        from warden.app import PolicyHolder

        holder = PolicyHolder(str(settings.policy) if settings.policy else None)
    except ConfigError as exc:
        fail(f"policy refused: {exc}", 2)
    setup = setup_of(settings, mode=holder.current.mode, policy_source=holder.current.source)
    missing = missing_sqlite_file(settings.database_url)
    typer.echo(f"database   {setup.database} ({database_source(settings)})"
               + (" - does not exist yet" if missing else ""))
    for line in banner(setup):
        if line.event != "warden.database":
            typer.echo(f"{line.label:<10} {line.text}")


@dataclass(frozen=True, slots=True)
class Setup:
    """What a started Warden is running with, as the banner shows it."""

    host: str
    console_url: str
    policy_source: str
    mode: str
    provider: str
    models: tuple[str, ...]
    database: str
    api_tokens: int
    sources_with_credentials: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BannerLine:
    """One start-up log line: its event name and fields, and a label and text for people."""

    event: str
    label: str
    text: str
    fields: dict[str, object]
    loud: bool = False


def setup_of(settings: Settings, *, mode: str, policy_source: str) -> Setup:
    sources = sorted({*settings.source_tokens, *settings.source_basic_auth,
                      *settings.source_hmac_secrets})
    return Setup(
        host=settings.host, console_url=settings.public_url.rstrip("/") + "/",
        policy_source=policy_source, mode=mode, provider=settings.triage_provider,
        models=tuple(settings.llm_models) if settings.triage_provider == "openai" else (),
        database=database_label(settings.database_url), api_tokens=len(settings.api_tokens),
        sources_with_credentials=tuple(sources),
    )


def describe_setup(warden: Warden) -> Setup:
    policy = warden.policy.current
    return setup_of(warden.settings, mode=policy.mode, policy_source=policy.source)


def banner(setup: Setup) -> list[BannerLine]:
    """The start-up lines: where the console is, which policy in which mode, which model,
    which database, and what anyone who can reach the port may do."""
    models = ", ".join(setup.models) or "none: rules only"
    lines = [
        BannerLine("warden.console", "console", setup.console_url,
                   {"url": setup.console_url, "listen": setup.host}),
        BannerLine("warden.policy", "policy",
                   f"{setup.policy_source} ({setup.mode}"
                   + (": nothing runs, every action is only recorded)" if setup.mode == "dry_run"
                      else ": allowed actions really run)"),
                   {"source": setup.policy_source, "mode": setup.mode}),
        BannerLine("warden.triage", "triage", f"{setup.provider} (models: {models})",
                   {"provider": setup.provider, "models": list(setup.models)}),
        BannerLine("warden.database", "database", setup.database, {"url": setup.database}),
    ]
    open_parts = []
    if setup.api_tokens == 0:
        open_parts.append("reads and approvals need no API token (WARDEN_API_TOKENS is empty)")
    if not setup.sources_with_credentials:
        open_parts.append("every source takes alerts without credentials "
                          "(WARDEN_SOURCE_TOKENS and the like are empty)")
    exposed = not _loopback(setup.host)
    if open_parts and exposed:
        text = (f"listening on {setup.host}, reachable from other machines, and "
                + "; ".join(open_parts) + ": anyone who reaches the port can use them")
        lines.append(BannerLine("warden.open_to_the_network", "OPEN", text,
                                {"listen": setup.host, "open": open_parts}, loud=True))
    else:
        text = "; ".join(open_parts) or "API tokens and source credentials are configured"
        lines.append(BannerLine("warden.access", "access", text,
                                {"api_tokens": setup.api_tokens,
                                 "sources_with_credentials": list(
                                     setup.sources_with_credentials)}))
    return lines


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


def _reload_on_sighup(warden: Warden) -> None:
    import structlog

    log = structlog.get_logger("warden")

    def reload(*_: object) -> None:
        try:
            warden.policy.reload()
            log.info("policy.reloaded", path=warden.policy.path)
        except ConfigError as exc:
            log.error("policy.reload_refused", error=str(exc))

    signal.signal(signal.SIGHUP, reload)
