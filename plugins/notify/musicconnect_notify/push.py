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
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from pydantic import SecretStr
from sqlalchemy import delete, select, update
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
    push_concurrency: int = 16  # messages in flight at once per process (each thread keeps its connections)
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
        """The parsed key (parsed once per key: PEM parsing costs more than a signature)."""
        found = _SIGNERS.get(self.private_pem)
        if found is None:
            from py_vapid import Vapid02

            found = _SIGNERS[self.private_pem] = Vapid02.from_pem(self.private_pem.encode())
        return found


_SIGNERS: dict[str, Any] = {}


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
    """Sends a batch of deliveries at once: the recipients' devices and the devices already
    reached are read in two queries, the VAPID header is signed once per push service, messages
    go out concurrently (``push_concurrency`` threads, each keeping its HTTP connections alive),
    and the outcome is written back in one transaction."""

    id = "push"

    def deliver(self, platform, delivery) -> DeliveryResult:
        result = self.deliver_many(platform, [delivery])[0]
        if isinstance(result, Exception):
            raise result
        return result

    def deliver_many(self, platform, deliveries: list) -> list[DeliveryResult | Exception]:
        if not deliveries:
            return []
        users = {uuid.UUID(str(d.recipient_id)) for d in deliveries}
        ids = [str(d.id) for d in deliveries]
        devices: dict[str, list[PushSubscription]] = {}
        done: set[tuple[str, uuid.UUID]] = set()
        with platform.read() as s:
            for chunk in _chunks(sorted(users), 500):
                for sub in s.scalars(select(PushSubscription).where(PushSubscription.user_id.in_(chunk))
                                     .order_by(PushSubscription.created_at, PushSubscription.id)):
                    s.expunge(sub)
                    devices.setdefault(str(sub.user_id), []).append(sub)
            for chunk in _chunks(ids, 500):
                done.update((d, sid) for d, sid in s.execute(
                    select(PushSent.delivery_id, PushSent.subscription_id).where(PushSent.delivery_id.in_(chunk))))
        conf = push_settings(platform)
        headers = _VapidHeaders(platform)
        sends = []
        for d in deliveries:
            data = None
            for sub in devices.get(str(d.recipient_id), ()):
                if (str(d.id), sub.id) in done:
                    continue
                data = data if data is not None else payload(platform, d)
                sends.append((str(d.id), sub, data))
        answers = _send_all(sends, headers, conf)
        reached: list[tuple[str, uuid.UUID]] = []
        gone: set[uuid.UUID] = set()
        per: dict[str, dict[str, list[str]]] = {}
        for (did, sub, _), answer in zip(sends, answers):
            tally = per.setdefault(did, {"temporary": [], "refused": []})
            host = urlsplit(sub.endpoint).netloc
            if isinstance(answer, Exception):  # network: refused, reset, timeout, DNS
                log.warning("push to %s failed: %s", host, answer)
                tally["temporary"].append(type(answer).__name__)
            elif 200 <= answer[0] < 300:
                reached.append((did, sub.id))
            elif answer[0] in (404, 410):
                gone.add(sub.id)
            elif answer[0] == 429 or answer[0] >= 500:
                tally["temporary"].append(str(answer[0]))
            else:
                tally["refused"].append(str(answer[0]))
                log.warning("push service %s refused a message with %s: %s", host, answer[0], answer[1])
        _record(platform, reached, gone)
        sent_before: dict[str, int] = {}
        for did, _ in done:
            sent_before[did] = sent_before.get(did, 0) + 1
        sent_now: dict[str, int] = {}
        for did, _ in reached:
            sent_now[did] = sent_now.get(did, 0) + 1
        out: list[DeliveryResult | Exception] = []
        for d in deliveries:
            did = str(d.id)
            sent = sent_before.get(did, 0) + sent_now.get(did, 0)
            tally = per.get(did, {"temporary": [], "refused": []})
            if not devices.get(str(d.recipient_id)):
                out.append(DeliveryResult(ok=False, detail="skipped: no push subscription"))
            elif tally["temporary"]:
                out.append(TemporaryFailure(f"push service unavailable ({', '.join(tally['temporary'])}); "
                                            f"{sent} device(s) reached"))
            elif sent:
                out.append(DeliveryResult(ok=True, detail=f"pushed to {sent} device(s)"))
            elif tally["refused"]:
                out.append(PermanentFailure(f"push service refused the message ({', '.join(tally['refused'])})"))
            else:
                out.append(PermanentFailure("push subscription expired (404/410): deleted"))
        if gone:
            log.info("deleted %d expired push subscription(s)", len(gone))
        return out


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]


class _VapidHeaders:
    """The VAPID ``Authorization`` header per push service origin, signed once per batch (the JWT
    is valid 12 h by the real clock: push services check it against theirs, RFC 8292 allows 24 h)."""

    def __init__(self, platform):
        self.signer = vapid(platform).signer()
        self.subject = vapid_subject(platform)
        self.signed: dict[str, dict[str, str]] = {}

    def __call__(self, endpoint: str) -> dict[str, str]:
        parts = urlsplit(endpoint)
        aud = f"{parts.scheme}://{parts.netloc}"
        if aud not in self.signed:
            claims = {"aud": aud, "exp": int(time.time()) + 12 * 3600, "sub": self.subject}
            self.signed[aud] = {**self.signer.sign(claims), "Urgency": "normal"}
        return dict(self.signed[aud])


_local = threading.local()
_pool_lock = threading.Lock()
_pool: dict[int, ThreadPoolExecutor] = {}


def _http():
    """This thread's HTTP session: connections to a push service are kept alive between sends."""
    session = getattr(_local, "session", None)
    if session is None:
        import requests

        session = _local.session = requests.Session()
    return session


def _executor(size: int) -> ThreadPoolExecutor:
    with _pool_lock:
        pool = _pool.get(size)
        if pool is None:
            pool = _pool[size] = ThreadPoolExecutor(max_workers=size, thread_name_prefix="mc-push")
        return pool


def _send_one(item, headers: _VapidHeaders, conf) -> tuple[int, str] | Exception:
    from pywebpush import WebPusher

    _, sub, data = item
    info = {"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}}
    try:
        resp = WebPusher(info, requests_session=_http()).send(
            data, headers(sub.endpoint), ttl=conf.push_ttl_seconds, content_encoding="aes128gcm",
            timeout=conf.push_timeout_seconds)
    except Exception as exc:
        return exc
    return resp.status_code, ("" if 200 <= resp.status_code < 300 else resp.text[:200])


def _send_all(sends: list, headers: _VapidHeaders, conf) -> list[tuple[int, str] | Exception]:
    """Encrypt and post every message; concurrently when there are several."""
    if len(sends) <= 1:
        return [_send_one(item, headers, conf) for item in sends]
    pool = _executor(max(1, int(conf.push_concurrency)))
    return list(pool.map(lambda item: _send_one(item, headers, conf), sends))


def _record(platform, reached: list[tuple[str, uuid.UUID]], gone: set[uuid.UUID]) -> None:
    """Which devices got which delivery (a retry never pushes them twice), their last success,
    and the deletion of subscriptions the push service says are gone — one transaction."""
    if not reached and not gone:
        return
    now = platform.clock.now()
    with platform.session() as s:
        if reached:
            insert = _dialect_insert(s)
            for chunk in _chunks(reached, 1000):
                s.execute(insert(PushSent.__table__).values(
                    [{"delivery_id": did, "subscription_id": sid} for did, sid in chunk]).on_conflict_do_nothing())
            for chunk in _chunks(sorted({sid for _, sid in reached}), 500):
                s.execute(update(PushSubscription).where(PushSubscription.id.in_(chunk))
                          .values(last_success_at=now).execution_options(synchronize_session=False))
        if gone:
            for chunk in _chunks(sorted(gone), 500):
                s.execute(delete(PushSubscription).where(PushSubscription.id.in_(chunk)))
                s.execute(delete(PushSent).where(PushSent.subscription_id.in_(chunk)))


def _dialect_insert(session):
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


CHANNEL = register_channel(PushChannel())
