"""How the API is served: uvicorn, with every wait bounded.

uvicorn bounds an idle keep-alive connection (``timeout_keep_alive``) and the open connections
(``limit_concurrency``: beyond it, 503), but not the time a client takes to send a request's
headers: its keep-alive timer is cancelled by the first byte that arrives and a connection that
never sends any is never timed (uvicorn issue 157, "--timeout-request-start", still open). 150
connections that opened and never finished their headers stayed open for ever (issue 17).
:class:`HeaderDeadlineProtocol` is uvicorn's h11 protocol with that one deadline added: the
headers must be complete within ``HUB_HTTP_HEADER_TIMEOUT_SECONDS`` of the connection opening
or of the previous response, or the connection is closed. Bodies are bounded by size
(hub/http/body_limits.py), so a deadline on them is not needed to bound memory.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from typing import Any

import h11
import uvicorn
from uvicorn.config import LOGGING_CONFIG
from uvicorn.protocols.http.h11_impl import H11Protocol

from hub.log_redaction import redact_path
from hub.settings import Settings

log = logging.getLogger(__name__)


class HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol; a request's headers must arrive within ``header_timeout``."""

    header_timeout: float = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def _arm(self) -> None:
        self._header_deadline: asyncio.TimerHandle | None = self.loop.call_later(
            self.header_timeout, self._headers_too_slow
        )

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:  # the headers are in: a request is under way
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._disarm()
            self._arm()  # the next request's headers get the same time

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            log.info("closing an HTTP connection from %s: no complete headers", self.client)
            self.transport.close()


def api_server(app: Any, settings: Settings) -> uvicorn.Server:
    """The uvicorn server ``hub api`` runs: limits and timeouts from the settings."""
    protocol = type(
        "HubHttpProtocol",
        (HeaderDeadlineProtocol,),
        {"header_timeout": settings.http_header_timeout_seconds},
    )
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_config=uvicorn_log_config(settings.log_level),
        http=protocol,
        timeout_keep_alive=settings.http_keep_alive_seconds,
        limit_concurrency=settings.http_max_connections,
        backlog=settings.http_backlog,
        # asyncio's loop, as before uvloop was installed for the worker (uvicorn's "auto" would
        # take it just for being installed): the API's loop was not what was measured (ADR 0044).
        loop="asyncio",
    )
    return uvicorn.Server(config)


class RedactPath(logging.Filter):
    """Redacts the path of uvicorn access-log records (args: client, method, path, HTTP
    version, status) with :func:`redact_path`."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], redact_path(args[2]), *args[3:])
        return True


def uvicorn_log_config(level: str) -> dict[str, Any]:
    """uvicorn's own logging configuration, at ``level``, with :class:`RedactPath` on the
    access log."""
    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact_path": {"()": RedactPath}}
    config["handlers"]["access"]["filters"] = ["redact_path"]
    for logger in config["loggers"].values():
        logger["level"] = level.upper()
    return config
