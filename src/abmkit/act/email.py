"""E-mail: a message composed once per action, sent through the workspace's SMTP server.

The `Message-ID` comes from the action's idempotency key, so a message sent again after a crash
carries the same ID (mail systems use it to recognize duplicates, and our logs to match them).
Every message carries `List-Unsubscribe` and, with an HTTPS address, the one-click
`List-Unsubscribe-Post` of RFC 8058.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formataddr

from abmkit.config.settings import EmailSettings
from abmkit.errors import ConnectorError

ID_DOMAIN = "abmkit.invalid"  # a reserved name: the IDs are ours, not any mail host's


def compose(settings: EmailSettings, to: str, subject: str, text: str, *, key: str,
            to_name: str = "", unsubscribe: str = "") -> EmailMessage:  # fmt: skip
    """One plain-text message to `to` for the action with idempotency key `key`;
    `unsubscribe`: a mailto: or https: address for List-Unsubscribe."""
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = formataddr((to_name, to)) if to_name else to
    message["Subject"] = subject
    message["Message-ID"] = f"<{key}@{ID_DOMAIN}>"
    if unsubscribe:
        message["List-Unsubscribe"] = f"<{unsubscribe}>"
        if unsubscribe.startswith("https://"):
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(text)
    return message


def send(settings: EmailSettings, message: EmailMessage, password: str | None = None) -> None:
    """Hand `message` to the SMTP server; a refusal or a network failure is a ConnectorError
    (the executor decides whether to retry)."""
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s) as smtp:
            if settings.starttls:
                smtp.starttls()
            if settings.username:
                smtp.login(settings.username, password or "")
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        raise ConnectorError(f"e-mail via {settings.host}:{settings.port} failed: {exc}") from exc
