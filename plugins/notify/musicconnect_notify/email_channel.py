"""The ``email`` channel: renders a notification (HTML + text), adds the RFC 8058 one-click
unsubscribe headers and hands it to the configured :class:`EmailProvider` (SMTP built in; an
HTTP API in the style of Postmark as the second implementation).

Failures: the server unreachable, 4xx answers, throttling → :class:`TemporaryFailure` (the
delivery is retried, nothing is lost); a permanent rejection of the recipient (SMTP 5xx on
``RCPT``, the API's "invalid/inactive recipient") → :class:`PermanentFailure` and the address
goes on the suppression list (``notify_email_suppressions``) with the reason.
"""
from __future__ import annotations

import logging
import smtplib
import socket
import ssl
import uuid
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any, Literal, Protocol
from urllib.parse import urljoin

import httpx
from pydantic import SecretStr
from sqlalchemy import select

from musicconnect import PluginSettings, normalise_email

from .channel_models import EmailSuppression
from .privacy import hashed_suppression
from .channels import DeliveryResult, PermanentFailure, TemporaryFailure, register_channel
from .email_templates import EmailTemplateError, render

log = logging.getLogger("musicconnect.notify.email")


class EmailSettings(PluginSettings):
    """Email settings of the notify plugin (mixed into its settings)."""

    email_provider: Literal["smtp", "http"] = "smtp"
    email_from: str = "MusicConnect <notifications@localhost>"
    email_site_name: str = "MusicConnect"
    email_unsubscribe_mailto: str | None = None  # an address that honours "unsubscribe" mails, if any
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = 10.0
    email_http_url: str = "https://api.postmarkapp.com/email"
    email_http_token: SecretStr | None = None
    email_http_stream: str = "outbound"
    sign_in_url: str | None = None  # where unsubscribe pages send fans to sign in; the site's home when unset
    unsubscribe_token_days: int = 180


def email_settings(platform) -> Any:
    s = platform.plugin_settings("notify")
    return s if s is not None and hasattr(s, "smtp_host") else EmailSettings()


class AddressRejected(PermanentFailure):
    """The recipient's address is refused for good: it goes on the suppression list."""


class EmailProvider(Protocol):
    id: str

    def send(self, message: EmailMessage) -> str:
        """Send one message; return the provider's message id. Raise :class:`TemporaryFailure`,
        :class:`AddressRejected` (the address is bad) or :class:`PermanentFailure`."""


class SmtpProvider:
    id = "smtp"

    def __init__(self, host: str, port: int, *, user: str | None = None, password: str | None = None,
                 starttls: bool = False, timeout: float = 10.0):
        self.host, self.port, self.user, self.password = host, port, user, password
        self.starttls, self.timeout = starttls, timeout

    def send(self, message: EmailMessage) -> str:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.ehlo()
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            reason = f"SMTP {code} {_text(text)}"
            if 500 <= code < 600:
                raise AddressRejected(reason) from None
            raise TemporaryFailure(reason) from None
        except smtplib.SMTPResponseException as exc:  # sender refused, data refused, auth failed
            raise TemporaryFailure(f"SMTP {exc.smtp_code} {_text(exc.smtp_error)}") from None
        except (smtplib.SMTPException, OSError, socket.timeout) as exc:  # down, reset, timeout
            raise TemporaryFailure(f"SMTP server unavailable: {type(exc).__name__}: {exc}") from None
        return str(message["Message-ID"])


def _text(raw: bytes | str) -> str:
    return (raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw))[:300]


class HttpProvider:
    """A transactional-email HTTP API in Postmark's shape: ``POST <url>`` with JSON ``From``,
    ``To``, ``Subject``, ``TextBody``, ``HtmlBody``, ``Headers``, ``MessageStream`` and the token
    in ``X-Postmark-Server-Token``; ``{"ErrorCode": 0, "MessageID": ...}`` on success."""

    id = "http"
    #: Postmark error codes about the recipient: invalid address, inactive (bounced/complained)
    ADDRESS_ERRORS = {300, 406}

    def __init__(self, url: str, token: str, *, stream: str = "outbound", timeout: float = 10.0):
        self.url, self.token, self.stream, self.timeout = url, token, stream, timeout

    def send(self, message: EmailMessage) -> str:
        text = message.get_body(("plain",))
        page = message.get_body(("html",))
        skip = {"from", "to", "subject", "content-type", "mime-version", "content-transfer-encoding"}
        doc = {"From": str(message["From"]), "To": str(message["To"]), "Subject": str(message["Subject"]),
               "TextBody": text.get_content() if text else "", "HtmlBody": page.get_content() if page else "",
               "Headers": [{"Name": k, "Value": str(v)} for k, v in message.items() if k.lower() not in skip],
               "MessageStream": self.stream}
        try:
            r = httpx.post(self.url, json=doc, timeout=self.timeout,
                           headers={"X-Postmark-Server-Token": self.token, "Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise TemporaryFailure(f"email API unavailable: {type(exc).__name__}: {exc}") from None
        try:
            answer = r.json()
        except ValueError:
            answer = {}
        code = answer.get("ErrorCode") if isinstance(answer, dict) else None
        detail = f"email API {r.status_code} {code if code is not None else ''} {str(answer.get('Message', ''))[:200]}"
        if r.status_code == 200 and not code:
            return str(answer.get("MessageID") or message["Message-ID"])
        if r.status_code == 422 and code in self.ADDRESS_ERRORS:
            raise AddressRejected(detail.strip())
        if r.status_code == 422:
            raise PermanentFailure(detail.strip())
        raise TemporaryFailure(detail.strip())  # 401 (token), 429, 5xx: fix or wait, then retry


def provider(platform) -> EmailProvider:
    conf = email_settings(platform)
    if conf.email_provider == "http":
        if conf.email_http_token is None:
            raise TemporaryFailure("email_provider is http but MC_NOTIFY_EMAIL_HTTP_TOKEN is not set")
        return HttpProvider(conf.email_http_url, conf.email_http_token.get_secret_value(),
                            stream=conf.email_http_stream, timeout=conf.smtp_timeout_seconds)
    return SmtpProvider(conf.smtp_host, conf.smtp_port, user=conf.smtp_user,
                        password=conf.smtp_password.get_secret_value() if conf.smtp_password else None,
                        starttls=conf.smtp_starttls, timeout=conf.smtp_timeout_seconds)


# ---------------------------------------------------------------------------------------------- suppression
def suppression(session, email: str) -> EmailSuppression | None:
    return session.get(EmailSuppression, normalise_email(email))


def suppress(platform, email: str, reason: str, source: str = "bounce") -> None:
    with platform.session() as s:
        key = normalise_email(email)
        row = s.get(EmailSuppression, key)
        if row is None:
            s.add(EmailSuppression(email=key, reason=reason[:2000], source=source, created_at=platform.clock.now()))
        else:
            row.reason, row.source = reason[:2000], source


def unsuppress(platform, email: str) -> bool:
    with platform.session() as s:
        row = s.get(EmailSuppression, normalise_email(email))
        if row is None:
            return False
        s.delete(row)
        return True


def suppressed(platform) -> list[EmailSuppression]:
    with platform.read() as s:
        rows = list(s.scalars(select(EmailSuppression).order_by(EmailSuppression.created_at)))
        for r in rows:
            s.expunge(r)
        return rows


# ---------------------------------------------------------------------------------------------- messages
def _domain(sender: str) -> str:
    addr = parseaddr(sender)[1]
    return addr.rsplit("@", 1)[-1] if "@" in addr else "localhost"


def build_message(platform, *, to: str, kind: str, title: str, body: str, url: str | None,
                  unsubscribe_url: str, data: dict | None = None, message_id: str | None = None) -> EmailMessage:
    conf = email_settings(platform)
    base = str(platform.settings.base_url).rstrip("/") + "/"
    link = urljoin(base, url) if url else base
    rendered = render(kind, title=title, body=body, url=link, unsubscribe_url=unsubscribe_url,
                      site_name=conf.email_site_name, data=data)
    msg = EmailMessage()
    msg["Subject"] = rendered.subject
    msg["From"] = conf.email_from
    name, addr = parseaddr(to)
    msg["To"] = Address(display_name=name, addr_spec=addr)
    msg["Date"] = format_datetime(platform.clock.now())
    msg["Message-ID"] = f"<{message_id or uuid.uuid4()}@{_domain(conf.email_from)}>"
    unsub = f"<{unsubscribe_url}>"
    if conf.email_unsubscribe_mailto:
        unsub += f", <mailto:{conf.email_unsubscribe_mailto}?subject=unsubscribe>"
    msg["List-Unsubscribe"] = unsub
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["X-MusicConnect-Kind"] = kind
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    return msg


class EmailChannel:
    id = "email"

    def deliver(self, platform, delivery) -> DeliveryResult:
        from musicconnect.models import User

        from . import unsubscribe

        home = str(platform.settings.base_url).rstrip("/") + "/"
        with platform.read() as s:
            if not delivery.recipient_id and delivery.kind == "notify.test" and delivery.data.get("to"):
                user, address = None, str(delivery.data["to"])  # the operator's test to any address
            else:
                user = s.get(User, uuid.UUID(str(delivery.recipient_id)))
                if user is None or not user.is_active:
                    raise PermanentFailure("no such active user")
                address = user.email
            blocked = suppression(s, address) or hashed_suppression(platform, s, address)  # kept after an erasure
            blocked = blocked and blocked.reason
        if blocked:
            raise PermanentFailure(f"address suppressed: {blocked}")
        unsub = delivery.unsubscribe_url or (unsubscribe.unsubscribe_url(platform, user.id, delivery.kind)
                                             if user is not None else home)
        try:
            msg = build_message(platform, to=address, kind=delivery.kind, title=delivery.title, body=delivery.body,
                                url=delivery.url, unsubscribe_url=unsub, data=delivery.data, message_id=str(delivery.id))
        except EmailTemplateError:
            log.exception("email of kind %s not sent: its template is broken", delivery.kind)
            raise
        try:
            sent_id = provider(platform).send(msg)
        except AddressRejected as exc:
            suppress(platform, address, exc.reason)
            log.warning("email address of user %s disabled: %s", delivery.recipient_id, exc.reason)
            raise
        return DeliveryResult(ok=True, detail=f"sent {sent_id}")


def send_test(platform, to: str) -> str:
    """``musicconnect notify test EMAIL``: one message through the configured provider (raises
    the channel's failures; there is no user to unsubscribe, so the link is the site's home)."""
    home = str(platform.settings.base_url).rstrip("/") + "/"
    msg = build_message(platform, to=to, kind="notify_test", title="Test email",
                        body="If you can read this, email notifications work.", url=None, unsubscribe_url=home)
    return provider(platform).send(msg)


CHANNEL = register_channel(EmailChannel())
