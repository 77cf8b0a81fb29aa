"""A real webhook receiver on 127.0.0.1: records every request, answers as a test tells it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: str
    status: int = 200  # what the receiver answered

    @property
    def payload(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.body)
        return loaded

    @property
    def appointment_id(self) -> str:
        found: str = self.payload["data"]["alert"]["appointment"]["appointment_id"]
        return found


class Receiver:
    """What arrived (in order), and the status to answer each body with (200 by default)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.status_for: Callable[[str], int] = lambda _body: 200
        self.url = ""
        self._lock = threading.Lock()

    def record(self, headers: dict[str, str], body: str) -> int:
        status = self.status_for(body)
        with self._lock:
            self.received.append(Received(headers, body, status))
        return status

    def accepted(self) -> list[Received]:
        """What a Standard Webhooks receiver acts on: each ``webhook-id`` the first time it is
        answered 2xx, in arrival order; a repeat of an id it accepted before is dropped."""
        seen: set[str] = set()
        kept: list[Received] = []
        with self._lock:
            for r in self.received:
                if r.status < 300 and r.headers["webhook-id"] not in seen:
                    seen.add(r.headers["webhook-id"])
                    kept.append(r)
        return kept

    def appointments(self) -> list[str]:
        with self._lock:
            return [r.appointment_id for r in self.received]


@contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    """A threaded HTTP server on a free loopback port for the block's duration."""
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length).decode()
            headers = {name.lower(): value for name, value in self.headers.items()}
            status = receiver.record(headers, body)
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/alerts"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
