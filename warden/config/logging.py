"""Logs (structlog), configured once at start: human-readable lines on a terminal, JSON
lines otherwise (``WARDEN_LOG_FORMAT=auto|console|json``)."""

from __future__ import annotations

import logging
import sys
from typing import TextIO, cast

import structlog


class _Stderr:
    """``sys.stderr`` as it is when a line is written, not when logging was configured: a
    host that swaps stderr for a while and closes its stand-in (a test runner invoking a
    CLI command, e.g. ``warden demo``) must not leave every later line, in every thread,
    raising on a closed file."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def renders_json(log_format: str, *, terminal: bool) -> bool:
    """Whether ``log_format`` means JSON lines on a stream that is (or is not) a terminal."""
    return log_format == "json" or (log_format == "auto" and not terminal)


def configure_logging(level: str = "INFO", log_format: str = "auto") -> None:
    """Send log lines to stderr for Warden and for the libraries it uses."""
    as_json = renders_json(log_format, terminal=sys.stderr.isatty())
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if as_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    # The console renderer formats exceptions itself; JSON needs them as a string field.
    exceptions = [structlog.processors.format_exc_info] if as_json else []
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, *exceptions, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # Only write and flush are ever called on it.
        logger_factory=structlog.PrintLoggerFactory(cast(TextIO, _Stderr())),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(_Stderr())
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processor=renderer, foreign_pre_chain=shared,
    ))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(numeric)
    # Uvicorn's access log would duplicate our request metrics line by line.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # Alembic announces its dialect at every start; only its problems are news.
    logging.getLogger("alembic").setLevel(max(numeric, logging.WARNING))
