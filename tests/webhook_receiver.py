"""A real HTTP server in a thread that receives webhook deliveries: it keeps each
request (headers and raw body) and answers the statuses queued in `answers`,
then 200 — while `gate` is cleared, only once it is set (a slow receiver)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from controller.delivery import EVENT_HEADER, SIGNATURE_HEADER, sign


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)

    def signed_with(self, secret: str) -> bool:
        return self.headers[SIGNATURE_HEADER] == sign(secret, self.body)

    @property
    def action(self) -> str:
        return self.headers[EVENT_HEADER]


class Receiver:
    def __init__(self, port: int = 0) -> None:
        self.got: list[Received] = []
        self.answers: list[int] = []
        self.gate = threading.Event()
        self.gate.set()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    status = receiver.answers.pop(0) if receiver.answers else 200
                    receiver.got.append(Received(dict(self.headers), body, status))
                receiver.gate.wait()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def delivered(self) -> list[Received]:
        """What was answered 200, in arrival order."""
        with self._lock:
            return [r for r in self.got if r.status == 200]

    def wait_for(self, done: Callable[[list[Received]], bool], timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done(self.delivered()):
                return True
            time.sleep(0.05)
        return done(self.delivered())

    def close(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()
