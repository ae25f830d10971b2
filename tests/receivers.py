"""Real receivers on 127.0.0.1 for the executor's tests: a webhook endpoint (stdlib http.server,
checking every signature) and an SMTP server (aiosmtpd), each keeping what it received with its
idempotency key (the `Idempotency-Key` header, the `Message-ID`)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

from abmkit.act.webhooks import HEADER, verify
from abmkit.errors import ConnectorError


@dataclass(frozen=True)
class Request:
    path: str
    key: str
    body: bytes
    status: int  # what the receiver answered


class WebhookReceiver:
    """Answers POSTs with the scripted `answers` first, then 200; a POST to `/hook` whose
    signature does not verify under `secret` is answered 401."""

    def __init__(self, secret: str):
        self.secret = secret
        self.requests: list[Request] = []
        self.answers: deque[tuple[int, str]] = deque()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.receiver = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, path: str, headers, body: bytes) -> tuple[int, str]:
        if path == "/hook":
            try:
                verify(self.secret, body, headers.get(HEADER, ""), now=int(time.time()))
            except ConnectorError as exc:
                return 401, str(exc)
        with self.lock:
            return self.answers.popleft() if self.answers else (200, "ok")

    def record(self, request: Request) -> None:
        with self.lock:
            self.requests.append(request)

    def delivered(self, path: str | None = None) -> list[Request]:
        """The requests answered 2xx (to `path`)."""
        return [r for r in self.requests if 200 <= r.status < 300 and path in (None, r.path)]


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        receiver: WebhookReceiver = self.server.receiver  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status, text = receiver.answer(self.path, self.headers, body)
        key = self.headers.get("Idempotency-Key", "")
        receiver.record(Request(self.path, key, body, status))
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(text.encode())

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        pass


class Inbox:
    """An SMTP handler that keeps every message it accepts, raw."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.port = 0  # set when its server starts

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.received.append(envelope.content)
        return "250 OK"

    def message_ids(self) -> list[str]:
        return [message_from_bytes(raw)["Message-ID"] for raw in self.received]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_inbox() -> Iterator[Inbox]:
    """An Inbox behind a started SMTP server on 127.0.0.1, stopped on leaving."""
    box = Inbox()
    server = smtp_server(box)
    try:
        yield box
    finally:
        server.stop()


def smtp_server(inbox: Inbox) -> Controller:
    """A started SMTP server on 127.0.0.1 delivering to `inbox` (stop it with `.stop()`)."""
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.port = controller.port
    return controller
