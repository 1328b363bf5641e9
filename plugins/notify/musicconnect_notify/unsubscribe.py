"""One-click unsubscribe (RFC 8058): signed, expiring tokens naming a user and a kind (or ``all``),
and what taking one effect means.

A token is ``<payload>.<mac>``, both base64url: the payload is ``<user hex>.<expiry epoch>.<kind>``,
the MAC the first 16 octets of HMAC-SHA256 under a key derived from the platform's signing key
(so it cannot be confused with any other signature of the platform). Honouring one turns the
kind's email off in the fan's preferences (``all``: the global email opt-out), at once and
idempotently.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy.exc import IntegrityError

ALL = "all"
DEFAULT_TTL = timedelta(days=180)
_KIND = re.compile(r"^[a-z][a-z0-9_.:-]{0,99}$")


class BadToken(ValueError):
    """Forged, malformed or expired (``expired`` says which)."""

    def __init__(self, message: str, *, expired: bool = False):
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True)
class Unsubscribe:
    user_id: uuid.UUID
    kind: str  # a notification kind, or "all"
    expires_at: datetime


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(platform) -> bytes:
    return hmac.new(platform.settings.signing_key(), b"musicconnect-notify/unsubscribe/v1", hashlib.sha256).digest()


def _mac(platform, payload: bytes) -> bytes:
    return hmac.new(_key(platform), payload, hashlib.sha256).digest()[:16]


def _ttl(platform) -> timedelta:
    s = platform.plugin_settings("notify")
    days = getattr(s, "unsubscribe_token_days", None)
    return timedelta(days=days) if days else DEFAULT_TTL


def make_token(platform, user_id, kind: str = ALL, *, ttl: timedelta | None = None) -> str:
    if not _KIND.match(kind):
        raise ValueError(f"not a notification kind: {kind!r}")
    exp = int((platform.clock.now() + (ttl or _ttl(platform))).timestamp())
    payload = f"{uuid.UUID(str(user_id)).hex}.{exp}.{kind}".encode()
    return f"{_b64(payload)}.{_b64(_mac(platform, payload))}"


def unsubscribe_url(platform, user_id, kind: str = ALL) -> str:
    """The one-click link for ``List-Unsubscribe`` and the footer of every email."""
    base = str(platform.settings.base_url).rstrip("/")
    return f"{base}/api/v1/notify/unsubscribe/{make_token(platform, user_id, kind)}"


def read_token(platform, token: str) -> Unsubscribe:
    """The token's content, or :class:`BadToken` (checked in constant time, then the expiry)."""
    try:
        payload_b64, mac_b64 = token.split(".")
        payload, mac = _unb64(payload_b64), _unb64(mac_b64)
    except (ValueError, binascii.Error):
        raise BadToken("malformed unsubscribe link") from None
    if not hmac.compare_digest(mac, _mac(platform, payload)):
        raise BadToken("this unsubscribe link was not issued by this site")
    try:
        user_hex, exp, kind = payload.decode().split(".", 2)
        result = Unsubscribe(uuid.UUID(hex=user_hex), kind, datetime.fromtimestamp(int(exp), timezone.utc))
    except ValueError:
        raise BadToken("malformed unsubscribe link") from None
    if result.expires_at <= platform.clock.now():
        raise BadToken("this unsubscribe link has expired", expired=True)
    return result


def apply(platform, what: Unsubscribe) -> bool:
    """Turn the kind's email off (``all``: opt out of every email) in the fan's preferences.
    Returns whether anything changed (a second click changes nothing). A user who no longer
    exists has nothing to unsubscribe from: ``False``."""
    from musicconnect.models import User

    from .models import Preference

    for attempt in (0, 1):
        try:
            with platform.session() as s:
                if s.get(User, what.user_id) is None:
                    return False
                pref = s.get(Preference, what.user_id)
                if pref is None:
                    pref = Preference(user_id=what.user_id, channels={}, muted={}, updated_at=platform.clock.now())
                    s.add(pref)
                if what.kind == ALL:
                    changed = not pref.email_opt_out
                    pref.email_opt_out = True
                else:
                    channels = {k: dict(v) for k, v in (pref.channels or {}).items()}
                    changed = channels.get(what.kind, {}).get("email") is not False
                    channels.setdefault(what.kind, {})["email"] = False
                    pref.channels = channels  # a new object: the JSON column sees the change
                if changed:
                    pref.updated_at = platform.clock.now()
                s.flush()
                return changed
        except IntegrityError:  # a concurrent first click created the row: do it again on it
            if attempt:
                raise
    return False


#: the name the pipeline asks for
url_for = unsubscribe_url
