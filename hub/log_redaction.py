"""Keeping credentials out of the API's logs.

The hub never logs a header or a body, but uvicorn's access log writes each request's path
*with its query string*, and a caller may put a key there (``?api_key=...``, a token in a
link) however the documentation says not to. The query is replaced by ``?<redacted>`` before
the line is formatted: the path is enough to operate the service, and an access log is read
by more people, and kept longer, than the credentials it would leak.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from uvicorn.config import LOGGING_CONFIG


class RedactQuery(logging.Filter):
    """Drops the query string from uvicorn access-log records (args: client, method, path,
    HTTP version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            path, _, query = args[2].partition("?")
            if query:
                record.args = (args[0], args[1], f"{path}?<redacted>", *args[3:])
        return True


def uvicorn_log_config(level: str) -> dict[str, Any]:
    """uvicorn's own logging configuration, at ``level``, with :class:`RedactQuery` on the
    access log."""
    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact_query": {"()": RedactQuery}}
    config["handlers"]["access"]["filters"] = ["redact_query"]
    for logger in config["loggers"].values():
        logger["level"] = level.upper()
    return config
