"""``warden serve`` (API and worker) and ``warden worker`` (worker only)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from warden.config import Settings
from warden.errors import ConfigError

if TYPE_CHECKING:
    from warden.app import Warden


def _settings(policy: Path | None) -> Settings:
    from pydantic import ValidationError

    try:
        settings = Settings()
    except ValidationError as exc:
        typer.echo(f"warden: refusing to start: the environment settings are invalid:\n{exc}",
                   err=True)
        raise typer.Exit(2) from exc
    if policy is not None:
        settings = settings.model_copy(update={"policy": policy})
    return settings


def _build(settings: Settings) -> Warden:
    """The running Warden, or exit 2 with the reason when its configuration is refused."""
    from warden.app import Warden
    from warden.config.logging import configure_logging

    configure_logging(settings.log_level)
    try:
        warden = Warden(settings)
    except ConfigError as exc:
        typer.echo(f"warden: refusing to start: {exc}", err=True)
        raise typer.Exit(2) from exc
    _reload_on_sighup(warden)
    return warden


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    policy: Annotated[
        Path | None, typer.Option(help="Policy YAML (default: WARDEN_POLICY, else built-in).")
    ] = None,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Serve the API only.")] = False,
    request_timeout: Annotated[float, typer.Option(
        min=0.1, help="Seconds a client has to send a whole request (headers and body); "
        "slower ones are disconnected.")] = 10.0,
    max_connections: Annotated[int | None, typer.Option(
        min=1, help="Open connections at most; at the bound a new connection displaces the "
        "one reading its request longest. Default: the descriptor limit less 128.")] = None,
) -> None:
    """Run the HTTP API and the triage worker."""
    import uvicorn

    from warden.cli._guarded_http import guarded_protocol, max_connections_for_limit
    from warden.web.app import create_app

    settings = _settings(policy)
    if no_worker:
        settings = settings.model_copy(update={"worker_enabled": False})
    warden = _build(settings)
    http = guarded_protocol(read_timeout_s=request_timeout,
                            max_connections=max_connections or max_connections_for_limit())
    uvicorn.run(create_app(warden), host=host, port=port, log_config=None,
                timeout_graceful_shutdown=10, http=http)


def worker(
    policy: Annotated[
        Path | None, typer.Option(help="Policy YAML (default: WARDEN_POLICY, else built-in).")
    ] = None,
) -> None:
    """Run only the triage worker (for extra replicas beside `warden serve`)."""
    warden = _build(_settings(policy))
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    warden.start(run_worker=True)
    done.wait()
    warden.stop()


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
