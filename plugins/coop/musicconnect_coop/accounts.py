"""The co-op's own artist account: a service user (role ``artist``, an unusable password hash,
``coop-<uuid>@coop.invalid``) owning the Artist that sells the co-op's bundle tiers.

Built from the public models (``musicconnect.models``): the core's ``create_artist`` also makes
the default fan tiers, which a co-op does not sell (its tiers are bundles)."""
from __future__ import annotations

import re
import secrets
import unicodedata
import uuid

from sqlalchemy import func, select

from musicconnect.models import Artist, User


def slugify(text: str, default: str = "coop") -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or default


def _free_artist_slug(session, base: str) -> str:
    slug, n = base, 1
    while session.scalar(select(func.count()).select_from(Artist).where(Artist.slug == slug)):
        n += 1
        slug = f"{base}-{n}"
    return slug


def create_account(platform, session, name: str) -> Artist:
    """The service user and its artist, in ``session``'s transaction."""
    now = platform.clock.now()
    uid = uuid.uuid4()
    user = User(id=uid, email=f"coop-{uid}@coop.invalid",
                password_hash="!coop-account!" + secrets.token_hex(16),  # no password ever matches it
                display_name=name[:120], role="artist", created_at=now, updated_at=now)
    session.add(user)
    session.flush()
    artist = Artist(id=uuid.uuid4(), user_id=uid, name=name[:200],
                    slug=_free_artist_slug(session, "coop-" + slugify(name)), created_at=now, updated_at=now)
    session.add(artist)
    session.flush()
    return artist


def is_service_user(user) -> bool:
    return (user.email or "").endswith("@coop.invalid")
