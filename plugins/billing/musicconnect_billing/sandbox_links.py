"""Signed, expiring links to the sandbox's customer portal (the provider hands them out, the
hosted pages check them)."""
from __future__ import annotations

import hashlib
import hmac
import time
import uuid

from musicconnect import Problem


def _secret(platform) -> bytes:
    """The portal links' own key, derived from the platform's signing key (which the core loads,
    or creates once in the data directory, on first use: never a constant)."""
    return hashlib.sha256(b"mc-billing-sandbox-portal\x00" + platform.settings.signing_key()).digest()


def portal_token(platform, user_id: uuid.UUID, ttl: int = 3600) -> str:
    exp = int(time.time()) + ttl
    msg = f"{user_id.hex}.{exp}"
    return f"{msg}.{hmac.new(_secret(platform), msg.encode(), hashlib.sha256).hexdigest()[:32]}"


def portal_user(platform, token: str) -> uuid.UUID:
    try:
        uid, exp, sig = token.split(".")
        good = hmac.new(_secret(platform), f"{uid}.{exp}".encode(), hashlib.sha256).hexdigest()[:32]
        # bytes, not str: compare_digest refuses str with non-ASCII characters (a TypeError, a 500)
        if not hmac.compare_digest(good.encode(), sig.encode()) or int(exp) < time.time():
            raise ValueError
        return uuid.UUID(uid)
    except ValueError:
        raise Problem(403, "portal-link-expired", "this portal link is invalid or has expired; open it again") from None
