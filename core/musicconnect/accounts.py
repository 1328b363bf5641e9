"""Users, artists and tiers: the core's account services."""
from __future__ import annotations

import math
import re
import unicodedata
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .contracts import TierInfo
from .errors import Conflict, Invalid, Problem
from .events import emit
from .identity.passwords import check_policy
from .models import Artist, Tier, User

if TYPE_CHECKING:
    from .platform import Platform

#: every new artist starts with these bare tiers (amounts in minor units; no perks: perks belong to
#: the plugins that honour them, which the artist adds through the API and the demo's plugins
#: through their ``seed_demo``); editable through the API
DEFAULT_TIERS: tuple[dict[str, Any], ...] = (
    {"key": "free", "name": "Free", "rank": 0, "price_amount": 0, "currency": "USD",
     "description": "Follow along: public releases and posts.", "perks": {}},
    {"key": "supporter", "name": "Supporter", "rank": 1, "price_amount": 500, "currency": "USD",
     "description": "Back the music every month.", "perks": {}},
    {"key": "superfan", "name": "Superfan", "rank": 2, "price_amount": 1000, "currency": "USD",
     "description": "Everything, first.", "perks": {}},
)

PERK_VALUE_TYPES = (bool, int, float, str)


def normalise_email(email: str) -> str:
    local, _, domain = email.strip().rpartition("@")
    return f"{local}@{domain.lower()}".lower()


def slugify(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:80] or "artist"


def unique_slug(session: Session, name: str) -> str:
    base = slugify(name)
    slug, n = base, 1
    while session.scalar(select(func.count()).select_from(Artist).where(Artist.slug == slug)):
        n += 1
        slug = f"{base}-{n}"
    return slug


def create_user(platform: "Platform", session: Session, *, email: str, password: str, display_name: str | None,
                role: str = "fan", artist_name: str | None = None, check_password: bool = True) -> User:
    """Create a user (and, for ``role="artist"``, the artist profile with the default tiers)."""
    if role not in ("fan", "artist", "admin"):
        raise Invalid(f"unknown role {role!r}; use fan, artist or admin")
    email = normalise_email(email)
    if check_password:
        check_policy(password, email=email)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict("email-taken", f"an account with {email} already exists")
    now = platform.clock.now()
    user = User(id=uuid.uuid4(), email=email, password_hash=platform.passwords.hash(password),
                display_name=(display_name or email.split("@")[0]).strip()[:120], role=role,
                created_at=now, updated_at=now)
    try:
        with session.begin_nested():  # two sign-ups racing for one email: the loser gets the 409
            session.add(user)
            session.flush()
    except IntegrityError:
        raise Conflict("email-taken", f"an account with {email} already exists") from None
    emit(platform, session, "user.registered", actor_id=user.id, subject=("user", user.id), data={"role": role})
    if role == "artist":
        create_artist(platform, session, user, artist_name or user.display_name)
    return user


def create_artist(platform: "Platform", session: Session, user: User, name: str) -> Artist:
    name = name.strip()
    if not name:
        raise Invalid("the artist name must not be empty")
    now = platform.clock.now()
    artist = Artist(id=uuid.uuid4(), user_id=user.id, name=name[:200], slug=unique_slug(session, name),
                    created_at=now, updated_at=now)
    session.add(artist)
    user.artist = artist
    session.flush()
    for spec in DEFAULT_TIERS:
        session.add(Tier(id=uuid.uuid4(), artist_id=artist.id, created_at=now, updated_at=now,
                         **{**spec, "perks": dict(spec["perks"])}))
    session.flush()
    emit(platform, session, "artist.created", actor_id=user.id, artist_id=artist.id, subject=("artist", artist.id))
    return artist


# ---------------------------------------------------------------- tiers

def validate_tier_fields(platform: "Platform", *, key: str, rank: int, price_amount: int, currency: str,
                         yearly_amount: int | None, perks: dict[str, Any], previous_perks=()) -> None:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", key):
        raise Invalid("tier key must be 1-64 lowercase letters, digits, - or _")
    if rank < 0:
        raise Invalid("tier rank must be 0 or more")
    if rank == 0 and (price_amount != 0 or yearly_amount):
        raise Invalid("the rank-0 tier is the free tier: its price must be 0")
    if rank > 0 and price_amount <= 0:
        raise Invalid("a paid tier (rank above 0) needs a price above 0")
    if yearly_amount is not None and yearly_amount <= 0:
        raise Invalid("yearly_amount must be above 0 when given")
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise Invalid("currency must be an ISO 4217 code such as USD")
    for k, v in perks.items():
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", k):
            raise Invalid(f"perk name {k!r} must be lowercase letters, digits or _")
        if not isinstance(v, PERK_VALUE_TYPES) or isinstance(v, float) and not math.isfinite(v):
            raise Invalid(f"perk {k!r} must be a boolean, a finite number or a string")
        if isinstance(v, str) and len(v) > 200:
            raise Invalid(f"perk {k!r} is longer than 200 characters")
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 2**53:
            raise Invalid(f"perk {k!r} is out of range")
    known = platform.access.perks()
    unknown = sorted(set(perks) - set(known) - set(previous_perks))  # a perk kept as it was stays valid
    if unknown:
        raise Problem(422, "unknown-perk", f"no enabled plugin honours {', '.join(unknown)}; see GET /api/v1/perks",
                      unknown=unknown, known=sorted(known))
    errors = [{"perk": k, "plugin": known[k][0], "message": msg} for k, v in sorted(perks.items())
              if k in known and (msg := known[k][1].problem(k, v))]
    if errors:  # the declaring plugin's type and limits (PerkSpec)
        raise Problem(422, "invalid-perks", "; ".join(e["message"] for e in errors), errors=errors)
    problems = [msg for _, msg in platform.plugins.collect("validate_perks", platform=platform, rank=rank,
                                                            perks=perks) if msg]
    if problems:
        raise Problem(422, "invalid-perks", "; ".join(str(p) for p in problems))


def _tier_info(t) -> TierInfo:
    return TierInfo(id=t.id, key=t.key, name=t.name, rank=t.rank, perks=dict(t.perks), is_active=t.is_active)


def tier_infos(session: Session, artist_id: uuid.UUID) -> tuple[TierInfo, ...]:
    rows = session.scalars(select(Tier).where(Tier.artist_id == artist_id).order_by(Tier.rank)).all()
    return tuple(_tier_info(t) for t in rows)


def tier_infos_many(session: Session, artist_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[TierInfo, ...]]:
    """:func:`tier_infos` of many artists, 500 per query."""
    got: dict[uuid.UUID, list[TierInfo]] = {a: [] for a in artist_ids}
    cols = (Tier.artist_id, Tier.id, Tier.key, Tier.name, Tier.rank, Tier.perks, Tier.is_active)
    for i in range(0, len(artist_ids), 500):       # plain rows, not entities: this is a hot path
        for t in session.execute(select(*cols).where(Tier.artist_id.in_(artist_ids[i:i + 500]))
                                 .order_by(Tier.artist_id, Tier.rank)):
            got[t.artist_id].append(_tier_info(t))
    return {a: tuple(v) for a, v in got.items()}
