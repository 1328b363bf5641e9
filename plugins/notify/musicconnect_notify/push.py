"""Web push (RFC 8030): VAPID (RFC 8292) keys of the deployment, fans' subscriptions per device and
the ``push`` channel, which encrypts each payload (RFC 8291, aes128gcm) with pywebpush.

* The VAPID key pair is generated once, on first use, and kept in ``notify_vapid_keys`` (or
  given by the operator in ``MC_NOTIFY_VAPID_PRIVATE_KEY``); browsers bind every subscription to
  its public key, so it is never regenerated.
* One :class:`~.channel_models.PushSubscription` per device (endpoint); a delivery goes to each
  of the recipient's devices. A device that answered 201 is recorded per delivery, so a retried
  delivery never pushes twice to the same device.
* 404/410 from the push service: the subscription is gone and deleted; 429/5xx/network errors:
  :class:`TemporaryFailure` (the job retries); other answers: :class:`PermanentFailure`.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from pydantic import SecretStr
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from musicconnect import PluginSettings

from .channel_models import PushSent, PushSubscription, VapidKey
from .channels import DeliveryResult, PermanentFailure, TemporaryFailure, register_channel

log = logging.getLogger("musicconnect.notify.push")

#: RFC 8291 + RFC 8030: an encrypted message of at most 4096 octets; aes128gcm adds a header of
#: 86 octets (salt, record size, key id = the 65-octet server key), a padding delimiter and a
#: 16-octet tag: 4096 - 86 - 17 = 3993 octets of plaintext. We keep a little margin.
MAX_PLAINTEXT = 3900
MAX_ENDPOINT = 2048


class PushSettings(PluginSettings):
    """Web push settings of the notify plugin (mixed into its settings)."""

    vapid_subject: str | None = None  # "mailto:ops@example.org" or "https://example.org"; derived when unset
    vapid_private_key: SecretStr | None = None  # PEM or base64url DER/raw; the stored key when unset
    push_ttl_seconds: int = 86_400  # how long a push service keeps a message for an offline device
    push_timeout_seconds: float = 10.0
    push_allow_http_loopback: bool = False  # accept http://127.0.0.1 endpoints (tests, local push services)


def push_settings(platform) -> Any:
    """The notify plugin's settings, or the push defaults when the plugin exposes none."""
    s = platform.plugin_settings("notify")
    return s if s is not None and hasattr(s, "push_ttl_seconds") else PushSettings()


# ---------------------------------------------------------------------------------------------- VAPID
def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    text = text.strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Vapid:
    private_pem: str
    public_key: str  # base64url of the uncompressed point: the browser's applicationServerKey

    def signer(self):
        from py_vapid import Vapid02

        return Vapid02.from_pem(self.private_pem.encode())


def _generate() -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from py_vapid import Vapid02

    v = Vapid02()
    v.generate_keys()
    pem = v.private_pem().decode()
    public = v.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return pem, _b64url(public)


def vapid(platform) -> Vapid:
    """The deployment's VAPID key pair: configured, stored, or generated and stored now (once:
    concurrent first uses agree on the row that won the insert)."""
    hit = platform.cache.get(("notify", "vapid"))
    if hit is not None:
        return hit
    configured = push_settings(platform).vapid_private_key
    if configured is not None:
        from cryptography.hazmat.primitives import serialization
        from py_vapid import Vapid02

        v = Vapid02.from_string(configured.get_secret_value())
        pem = v.private_pem().decode()
        public = _b64url(v.public_key.public_bytes(serialization.Encoding.X962,
                                                   serialization.PublicFormat.UncompressedPoint))
        key = Vapid(pem, public)
    else:
        with platform.read() as s:
            row = s.get(VapidKey, 1)
            key = Vapid(row.private_pem, row.public_key) if row else None
        if key is None:
            pem, public = _generate()
            try:
                with platform.session() as s:
                    s.add(VapidKey(id=1, private_pem=pem, public_key=public, created_at=platform.clock.now()))
            except IntegrityError:
                pass  # another process created it first: use theirs
            with platform.read() as s:
                row = s.get(VapidKey, 1)
                key = Vapid(row.private_pem, row.public_key)
    platform.cache.set(("notify", "vapid"), key)
    return key


def vapid_subject(platform) -> str:
    configured = push_settings(platform).vapid_subject
    if configured:
        return configured
    base = str(platform.settings.base_url).rstrip("/")
    host = urlsplit(base).hostname or ""
    if base.startswith("https://") and "." in host:
        return f"https://{urlsplit(base).netloc}"
    return "mailto:admin@localhost"


# ---------------------------------------------------------------------------------------------- subscriptions
class InvalidSubscription(ValueError):
    def __init__(self, errors: list[dict[str, str]]):
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_subscription(endpoint: str, p256dh: str, auth: str, *, allow_http_loopback: bool = False) -> None:
    """Raises :class:`InvalidSubscription` listing what is wrong: the endpoint must be an https URL
    of a public host (http on loopback only when allowed), ``p256dh`` an uncompressed P-256 point
    and ``auth`` 16 octets, both base64url."""
    errors: list[dict[str, str]] = []
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        parts, host = None, ""
    if parts is None or not host or len(endpoint) > MAX_ENDPOINT:
        errors.append({"field": "endpoint", "message": "not a URL"})
    elif parts.username is not None or parts.password is not None:
        errors.append({"field": "endpoint", "message": "credentials in the URL are not allowed"})
    elif parts.scheme == "http" and allow_http_loopback and _is_loopback(host):
        pass
    elif parts.scheme != "https":
        errors.append({"field": "endpoint", "message": "a push endpoint must be an https URL"})
    else:
        try:
            ip = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            ip = None
        if host == "localhost" or (ip is not None and not ip.is_global):
            errors.append({"field": "endpoint", "message": "a push endpoint must be a public host"})
    try:
        raw = b64url_decode(p256dh)
        if len(raw) != 65 or raw[0] != 4:
            raise ValueError("length")
        from cryptography.hazmat.primitives.asymmetric import ec

        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except (ValueError, binascii.Error):
        errors.append({"field": "keys.p256dh", "message": "not an uncompressed P-256 public key (base64url)"})
    try:
        if len(b64url_decode(auth)) != 16:
            raise ValueError("length")
    except (ValueError, binascii.Error):
        errors.append({"field": "keys.auth", "message": "not a 16-octet secret (base64url)"})
    if errors:
        raise InvalidSubscription(errors)


def endpoint_hash(endpoint: str) -> str:
    return hashlib.sha256(endpoint.encode()).hexdigest()


def save_subscription(platform, user_id: uuid.UUID, endpoint: str, p256dh: str, auth: str,
                      user_agent: str | None = None) -> tuple[PushSubscription, bool]:
    """Create or update (same endpoint: new keys, possibly a new owner) a subscription; returns
    ``(row, created)``."""
    check_subscription(endpoint, p256dh, auth, allow_http_loopback=push_settings(platform).push_allow_http_loopback)
    digest = endpoint_hash(endpoint)
    for attempt in (0, 1):
        try:
            with platform.session() as s:
                row = s.scalar(select(PushSubscription).where(PushSubscription.endpoint_hash == digest))
                created = row is None
                if created:
                    row = PushSubscription(user_id=user_id, endpoint=endpoint, endpoint_hash=digest,
                                           created_at=platform.clock.now())
                    s.add(row)
                row.user_id, row.p256dh, row.auth = user_id, p256dh, auth
                row.user_agent = (user_agent or None) and user_agent[:300]
                s.flush()
                s.expunge(row)
                return row, created
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")


def delete_subscription(platform, user_id: uuid.UUID, subscription_id: uuid.UUID) -> bool:
    with platform.session() as s:
        n = s.execute(delete(PushSubscription).where(PushSubscription.id == subscription_id,
                                                     PushSubscription.user_id == user_id)).rowcount
        if n:
            s.execute(delete(PushSent).where(PushSent.subscription_id == subscription_id))
    return bool(n)


def subscriptions_of(platform, user_id) -> list[PushSubscription]:
    with platform.read() as s:
        rows = list(s.scalars(select(PushSubscription).where(PushSubscription.user_id == user_id)
                              .order_by(PushSubscription.created_at, PushSubscription.id)))
        for r in rows:
            s.expunge(r)
        return rows


def has_push_subscription(session, user_id) -> bool:
    """For the pipeline: whether a push delivery would reach any device."""
    return session.scalar(select(PushSubscription.id).where(PushSubscription.user_id == user_id).limit(1)) is not None


# ---------------------------------------------------------------------------------------------- payload
def _cut(text: str, max_bytes: int) -> str:
    raw = text.encode()
    if len(raw) <= max_bytes:
        return text
    return raw[: max(0, max_bytes - 3)].decode(errors="ignore").rstrip() + "…"


def payload(platform, delivery) -> bytes:
    """The JSON a service worker receives: ``title``, ``body``, ``url`` (absolute), ``kind``,
    ``id``; at most :data:`MAX_PLAINTEXT` octets (the body is shortened to fit)."""
    base = str(platform.settings.base_url).rstrip("/") + "/"
    url = urljoin(base, delivery.url) if delivery.url else base
    if len(url) > 1000:
        url = base
    doc = {"id": str(delivery.id), "kind": delivery.kind, "title": _cut(delivery.title, 300), "body": "",
           "url": url}
    room = MAX_PLAINTEXT - len(json.dumps(doc, ensure_ascii=False).encode())
    body = delivery.body or ""
    # json escaping can grow a string: shrink until the whole document fits
    while True:
        doc["body"] = _cut(body, room)
        data = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        if len(data) <= MAX_PLAINTEXT:
            return data
        room -= max(16, len(data) - MAX_PLAINTEXT)


# ---------------------------------------------------------------------------------------------- channel
class PushChannel:
    id = "push"

    def deliver(self, platform, delivery) -> DeliveryResult:
        from pywebpush import WebPusher

        devices = subscriptions_of(platform, uuid.UUID(str(delivery.recipient_id)))
        if not devices:
            return DeliveryResult(ok=False, detail="skipped: no push subscription")
        with platform.read() as s:
            done = set(s.scalars(select(PushSent.subscription_id).where(PushSent.delivery_id == str(delivery.id))))
        conf = push_settings(platform)
        key = vapid(platform)
        signer = key.signer()
        data = payload(platform, delivery)
        sent, gone, temporary, refused = len(done), [], [], []
        for sub in devices:
            if sub.id in done:
                continue
            parts = urlsplit(sub.endpoint)
            # the JWT's expiry is checked by the push service against the real time, not the
            # platform clock: RFC 8292 allows at most 24 h
            claims = {"aud": f"{parts.scheme}://{parts.netloc}", "exp": int(time.time()) + 12 * 3600,
                      "sub": vapid_subject(platform)}
            headers = {**signer.sign(claims), "Urgency": "normal"}
            info = {"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}}
            try:
                resp = WebPusher(info).send(data, headers, ttl=conf.push_ttl_seconds, content_encoding="aes128gcm",
                                            timeout=conf.push_timeout_seconds)
                status = resp.status_code
            except Exception as exc:  # network: refused, reset, timeout, DNS
                log.warning("push to %s failed: %s", parts.netloc, exc)
                temporary.append(f"{type(exc).__name__}")
                continue
            if 200 <= status < 300:
                sent += 1
                with platform.session() as s:
                    s.merge(PushSent(delivery_id=str(delivery.id), subscription_id=sub.id))
                    row = s.get(PushSubscription, sub.id)
                    if row is not None:
                        row.last_success_at = platform.clock.now()
            elif status in (404, 410):
                gone.append(sub.id)
            elif status == 429 or status >= 500:
                temporary.append(str(status))
            else:
                refused.append(str(status))
                log.warning("push service %s refused a message with %s: %s", parts.netloc, status, resp.text[:200])
        if gone:
            with platform.session() as s:
                s.execute(delete(PushSubscription).where(PushSubscription.id.in_(gone)))
                s.execute(delete(PushSent).where(PushSent.subscription_id.in_(gone)))
            log.info("deleted %d expired push subscription(s) of %s", len(gone), delivery.recipient_id)
        if temporary:
            raise TemporaryFailure(f"push service unavailable ({', '.join(temporary)}); {sent} device(s) reached")
        if sent:
            return DeliveryResult(ok=True, detail=f"pushed to {sent} device(s)")
        if refused:
            raise PermanentFailure(f"push service refused the message ({', '.join(refused)})")
        raise PermanentFailure("push subscription expired (404/410): deleted")


CHANNEL = register_channel(PushChannel())
