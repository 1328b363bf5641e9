"""Tokens.

* access: a short-lived JWT (HS256) carrying user id and role; verified without I/O.
* refresh: opaque, stored hashed, single use; each use rotates it within its family, and a
  second use of a spent token revokes the whole family (stolen-token detection).
* API: ``mcp_``-prefixed personal tokens with scopes, stored hashed, for third-party clients.
"""
from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..errors import Problem, Unauthorized
from ..models import ApiToken, RefreshToken, User

API_TOKEN_PREFIX = "mcp_"
REFRESH_PREFIX = "mcr_"
ALGORITHM = "HS256"

#: the core's scopes a personal API token can carry; plugins add theirs (hook ``register_scopes``)
CORE_SCOPES = {
    "profile:read": "read your profile and what you hold",
    "profile:write": "change your display name",
    "content:read": "read content you have access to",
    "content:write": "create, edit and take down your content",
    "artist:write": "edit your artist profile, tiers and comps",
    "analytics:read": "read your artist metrics",
    "admin": "operate the platform (admins only)",
}


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"


class Tokens:
    def __init__(self, key: bytes, access_ttl: int, refresh_ttl: int, clock):
        self._key = hashlib.sha256(b"mc-access-jwt\x00" + key).digest()
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.clock = clock
        self._verified: dict[str, dict] = {}

    # ---------------------------------------------------------------- access
    def issue_access(self, user: User) -> str:
        now = int(self.clock.now().timestamp())
        claims = {"sub": str(user.id), "role": user.role, "iat": now, "exp": now + self.access_ttl, "typ": "access"}
        if user.artist is not None:
            claims["art"] = str(user.artist.id)
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def decode_access(self, token: str) -> dict:
        """Verify an access token. Verified claims are memoised by the exact token string (its
        signature included, so nothing unverified can hit); expiry is checked on every call."""
        claims = self._verified.get(token)
        if claims is None:
            try:
                claims = jwt.decode(token, self._key, algorithms=[ALGORITHM],
                                    options={"require": ["sub", "exp", "iat"], "verify_exp": False})
            except jwt.PyJWTError:
                raise Unauthorized("invalid access token") from None
            if claims.get("typ") != "access":
                raise Unauthorized("invalid access token")
            if len(self._verified) >= 50_000:
                self._verified.clear()
            self._verified[token] = claims
        if claims["exp"] <= self.clock.now().timestamp():  # our clock, so tests can freeze it
            raise Problem(401, "token-expired", "the access token has expired; refresh it",
                          headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return claims

    # ---------------------------------------------------------------- refresh
    def issue_pair(self, session: Session, user: User, family_id: uuid.UUID | None = None) -> TokenPair:
        secret = REFRESH_PREFIX + secrets.token_urlsafe(32)
        now = self.clock.now()
        session.add(RefreshToken(user_id=user.id, family_id=family_id or uuid.uuid4(), token_hash=sha256(secret),
                                 issued_at=now, expires_at=now + timedelta(seconds=self.refresh_ttl)))
        return TokenPair(self.issue_access(user), secret, self.access_ttl)

    def rotate(self, session: Session, refresh_token: str) -> tuple[User, TokenPair]:
        """Spend a refresh token and issue the next pair; reuse of a spent token revokes its family."""
        row = session.scalar(select(RefreshToken).where(RefreshToken.token_hash == sha256(refresh_token))
                             .with_for_update())
        now = self.clock.now()
        if row is None:
            raise Unauthorized("invalid refresh token")
        if row.revoked_at is not None:
            raise Unauthorized("this session has been signed out")
        if row.used_at is not None:
            self.revoke_family(session, row.family_id)
            raise Problem(401, "refresh-token-reused",
                          "this refresh token was already used; every session of its family is now signed out",
                          headers={"WWW-Authenticate": "Bearer"})
        if row.expires_at <= now:
            raise Problem(401, "token-expired", "the refresh token has expired; sign in again",
                          headers={"WWW-Authenticate": "Bearer"})
        user = session.get(User, row.user_id)
        if user is None or not user.is_active:
            raise Unauthorized("account disabled")
        # spend it with a conditional UPDATE: of N concurrent uses exactly one changes the row
        # (row locks do nothing on SQLite); the losers are reuses and revoke the family
        spent = session.execute(update(RefreshToken).where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None))
                                .values(used_at=now).execution_options(synchronize_session=False)).rowcount
        if spent != 1:
            raise Problem(401, "refresh-token-reused",
                          "this refresh token was already used; every session of its family is now signed out",
                          headers={"WWW-Authenticate": "Bearer"})
        return user, self.issue_pair(session, user, row.family_id)

    def revoke(self, session: Session, refresh_token: str) -> bool:
        row = session.scalar(select(RefreshToken).where(RefreshToken.token_hash == sha256(refresh_token)))
        if row is None:
            return False
        self.revoke_family(session, row.family_id)
        return True

    def revoke_family(self, session: Session, family_id: uuid.UUID) -> None:
        session.execute(update(RefreshToken).where(RefreshToken.family_id == family_id,
                                                   RefreshToken.revoked_at.is_(None))
                        .values(revoked_at=self.clock.now()))

    def revoke_all(self, session: Session, user_id: uuid.UUID) -> None:
        session.execute(update(RefreshToken).where(RefreshToken.user_id == user_id,
                                                   RefreshToken.revoked_at.is_(None))
                        .values(revoked_at=self.clock.now()))

    # ---------------------------------------------------------------- API tokens
    def create_api_token(self, session: Session, user: User, name: str, scopes: list[str],
                         expires_at: datetime | None) -> tuple[ApiToken, str]:
        secret = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = ApiToken(user_id=user.id, name=name, token_hash=sha256(secret), prefix=secret[:10],
                       scopes=sorted(set(scopes)), created_at=self.clock.now(), expires_at=expires_at)
        session.add(row)
        return row, secret
