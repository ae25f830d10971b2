"""How one action's payload leaves, per channel: exactly what the payload holds, nothing added
but the envelope (signature, idempotency key, Message-ID).

* `email`: composed with `Message-ID: <key@abmkit.invalid>` and handed to the SMTP server.
* `webhook`: POSTed to `channels.webhook.url`, the body serialized canonically (sorted keys, no
  spaces, UTF-8), signed (`ABM-Signature`, key `ABM_SECRET_WEBHOOK_KEY`), with
  `Idempotency-Key: <key>`.
* `slack`, `owner_alert`: POSTed to the incoming-webhook URL in `ABM_SECRET_SLACK_WEBHOOK_URL`.
* `task`, `sequence`, `crm_update`, `direct_mail`: one row of the day's CSV file of the channel
  under `outbox/` (see `files.py`).

A connector not in `channels.live` (or a webhook without a URL) is dry-run: the exact bytes are
written under `outbox/dry_run/<channel>/<action id>` and nothing leaves. A receiver's answer is
sorted: 2xx sent; 408, 429, 5xx and network failures are ConnectorError (retried); any other
answer, a refused recipient or a malformed payload is Undeliverable (dead at once).
"""

from __future__ import annotations

import datetime as dt
import json
import smtplib
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

import httpx

from abmkit.act import email, faults, files, webhooks
from abmkit.act.outbox import Claim
from abmkit.config.settings import Settings
from abmkit.config.workspace import secret
from abmkit.errors import ConnectorError

ROW_CHANNELS = ("task", "sequence", "crm_update", "direct_mail")
EXCERPT = 300  # characters of a receiver's answer kept in a receipt or an error


class Undeliverable(ConnectorError):
    """Refused for good (a 4xx, a refused recipient, a malformed payload): retrying cannot
    help, so the action is dead at once."""


@dataclass(frozen=True)
class Delivered:
    status: str  # "sent", or "dry_run" when the connector is not live
    receipt: dict[str, Any]


def canonical(body: object) -> bytes:
    """The one serialization of a JSON body that is signed and sent."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def field(claim: Claim, name: str, kind: type) -> Any:
    value = claim.payload.get(name)
    if not isinstance(value, kind):
        raise Undeliverable(f"the {claim.channel} payload has no {kind.__name__} {name!r}")
    return value


class Connectors:
    """The connectors of one workspace, sending one action at a time."""

    def __init__(self, settings: Settings, outbox: Path):
        self.settings = settings
        self.outbox = outbox
        self.senders: dict[str, Callable[[Claim, dt.datetime], Delivered]] = {
            "email": self._email, "webhook": self._webhook, "slack": self._slack,
            "owner_alert": self._slack, **dict.fromkeys(ROW_CHANNELS, self._row),
        }  # fmt: skip

    def deliver(self, claim: Claim, now: dt.datetime) -> Delivered:
        sender = self.senders.get(claim.channel)
        if sender is None:
            raise Undeliverable(f"no connector sends {claim.channel!r} actions")
        return sender(claim, now)

    def _live(self, channel: str) -> bool:
        return channel in self.settings.channels.live

    def _dry_run(self, claim: Claim, suffix: str, data: bytes) -> Delivered:
        if not files.is_safe_name(claim.id):
            raise Undeliverable(f"action id {claim.id!r} cannot name a file")
        path = files.dry_run(self.outbox, claim.channel, claim.id, suffix, data)
        return Delivered("dry_run", {"file": str(path.relative_to(self.outbox.parent))})

    # -- e-mail ---------------------------------------------------------------------------------
    def message(self, claim: Claim) -> EmailMessage:
        """The e-mail of an action, as the payload has it (the key gives its Message-ID)."""
        config = self.settings.channels.email
        unsubscribe = claim.payload.get("unsubscribe") or config.unsubscribe
        return email.compose(config, field(claim, "to", str), field(claim, "subject", str),
                             field(claim, "text", str), key=claim.key,
                             to_name=claim.payload.get("to_name") or "",
                             unsubscribe=unsubscribe)  # fmt: skip

    def _email(self, claim: Claim, now: dt.datetime) -> Delivered:
        message = self.message(claim)
        if not self._live("email"):
            return self._dry_run(claim, ".eml", message.as_bytes(policy=SMTP))
        config = self.settings.channels.email
        faults.reached("connected")  # email.send connects and hands over in one call
        try:
            email.send(config, message, secret("smtp_password"))
        except ConnectorError as exc:
            raise _smtp_verdict(exc) from exc
        return Delivered("sent", {"message_id": message["Message-ID"],
                                  "server": f"{config.host}:{config.port}"})  # fmt: skip

    # -- HTTP -----------------------------------------------------------------------------------
    def _webhook(self, claim: Claim, now: dt.datetime) -> Delivered:
        body = canonical(field(claim, "body", dict))
        config = self.settings.channels.webhook
        if not self._live("webhook") or not config.url:
            return self._dry_run(claim, ".json", body)
        key = secret("webhook_key")
        if not key:
            raise ConnectorError("ABM_SECRET_WEBHOOK_KEY is not set: webhooks cannot be signed")
        signed = webhooks.signature(key, body, int(time.time()))
        headers = {webhooks.HEADER: signed, "Idempotency-Key": claim.key}
        return Delivered("sent", post(config.url, config.url, body, headers, config.timeout_s))

    def _slack(self, claim: Claim, now: dt.datetime) -> Delivered:
        body = canonical(field(claim, "body", dict))
        if not self._live(claim.channel):
            return self._dry_run(claim, ".json", body)
        url = secret("slack_webhook_url")
        if not url:
            raise ConnectorError("ABM_SECRET_SLACK_WEBHOOK_URL is not set")
        timeout = self.settings.channels.slack.timeout_s
        return Delivered("sent", post("Slack", url, body, {"Idempotency-Key": claim.key}, timeout))

    # -- files ----------------------------------------------------------------------------------
    def _row(self, claim: Claim, now: dt.datetime) -> Delivered:
        ids = (claim.id, claim.key, field(claim, "format", str))
        path = files.day_file(self.outbox, claim.channel, now.date())
        where = files.append_row(path, ids, field(claim, "row", dict), self._earlier(claim, now))
        return Delivered("sent", {"file": str(where.relative_to(self.outbox.parent))})

    def _earlier(self, claim: Claim, now: dt.datetime) -> list[Path]:
        """The day files a crashed executor may have written this action's row to: those from
        the start of its last lease to yesterday."""
        if claim.resumed_from is None:
            return []
        lease = dt.timedelta(seconds=self.settings.executor.lease_s)
        day, days = (claim.resumed_from - lease).date(), []
        while day < now.date():
            days.append(files.day_file(self.outbox, claim.channel, day))
            day += dt.timedelta(days=1)
        return days


def post(label: str, url: str, body: bytes, headers: dict[str, str],
         timeout: float) -> dict[str, Any]:  # fmt: skip
    """POST `body` as JSON; the receipt of a 2xx, else ConnectorError or Undeliverable. `label`
    names the receiver in messages (a Slack URL is a secret and is never written down)."""
    headers = {"Content-Type": "application/json", **headers}
    try:
        with httpx.Client(timeout=timeout) as client:
            response = client.post(url, content=body, headers=headers,
                                   extensions={"trace": _trace})  # fmt: skip
    except httpx.HTTPError as exc:
        raise ConnectorError(f"POST to {label} failed: {type(exc).__name__}: {exc}") from exc
    answer = response.text[:EXCERPT]
    if response.is_success:
        return {"status": response.status_code, "answer": answer}
    message = f"{label} answered HTTP {response.status_code}: {answer}"
    if response.status_code in (408, 429) or response.status_code >= 500:
        raise ConnectorError(message)
    raise Undeliverable(message)


def _trace(event: str, info: dict[str, Any]) -> None:
    """httpx's trace hook: the connection is open, the request not yet written."""
    if event == "http11.send_request_headers.started":
        faults.reached("connected")


def _smtp_verdict(exc: ConnectorError) -> ConnectorError:
    """A 5xx refusal of the recipients or of the message is for good; anything else (the
    server away, busy, or refusing our login) may pass."""
    cause = exc.__cause__
    if isinstance(cause, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in cause.recipients.values()]
        permanent = all(code >= 500 for code in codes)
    else:
        permanent = isinstance(cause, smtplib.SMTPDataError) and cause.smtp_code >= 500
    return Undeliverable(str(exc)) if permanent else exc
