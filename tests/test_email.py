"""E-mail through a real SMTP server on 127.0.0.1 (aiosmtpd): the message arrives as composed,
its ID comes from the action's key, and a refusing or absent server is a ConnectorError."""

from __future__ import annotations

import socket
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink

from abmkit.act.email import compose, send
from abmkit.config.settings import EmailSettings
from abmkit.errors import ConnectorError


class Inbox:
    """An SMTP handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, EmailSettings(host="127.0.0.1", port=controller.port,
                                   sender="abm@seller.example")  # fmt: skip
    finally:
        controller.stop()


def test_a_message_arrives_as_composed(smtp):
    inbox, settings = smtp
    message = compose(settings, "ann@acme.com", "Your pricing questions", "Hi Ann,\n\nHere…",
                      key="act-42", to_name="Ann Lee",
                      unsubscribe="https://seller.example/u/act-42")  # fmt: skip
    send(settings, message)
    [(sender, recipients, content)] = inbox.received
    assert sender == "abm@seller.example" and recipients == ["ann@acme.com"]
    got = message_from_bytes(content)
    assert got["Message-ID"] == "<act-42@abmkit.invalid>"
    assert got["To"] == "Ann Lee <ann@acme.com>" and got["Subject"] == "Your pricing questions"
    assert got["List-Unsubscribe"] == "<https://seller.example/u/act-42>"
    assert got["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert got.get_payload(decode=True).decode().startswith("Hi Ann,")


def test_the_same_action_composes_the_same_message_id():
    settings = EmailSettings()
    ids = {compose(settings, "a@b.co", "s", "t", key="act-7")["Message-ID"] for _ in range(3)}
    assert ids == {"<act-7@abmkit.invalid>"}
    assert compose(settings, "a@b.co", "s", "t", key="act-7",
                   unsubscribe="mailto:u@b.co")["List-Unsubscribe-Post"] is None  # fmt: skip


def test_a_refusing_or_absent_server_is_a_connector_error(smtp):
    _, settings = smtp
    message = compose(settings, "ann@acme.com", "s", "t", key="act-1")
    refusing = Controller(Sink(), hostname="127.0.0.1", port=free_port())
    refusing.start()
    refusing.stop()  # nothing listens there now
    gone = settings.model_copy(update={"port": refusing.port, "timeout_s": 2.0})
    with pytest.raises(ConnectorError, match=f"127.0.0.1:{refusing.port}"):
        send(gone, message)
    with pytest.raises(ConnectorError, match="failed"):
        send(settings.model_copy(update={"username": "who"}), message, "secret")  # no AUTH
