"""Demo data: ``musicconnect demo seed`` and ``serve --demo``. Idempotent and fast.

The core creates the accounts one signs in with, a small synthetic population of fans and the
*cast*: who supports which tier since when, who churned, who listens how much, who chose to stay
anonymous (:class:`DemoFan`). Each plugin's ``seed_demo`` writes its own tables from the cast
(billing: subscriptions and payments; streaming: tracks and weeks of plays; fan club: follows,
free memberships, posts, comments, the backstage, DMs, milestones), so no plugin needs another.
Every date is relative to ``platform.clock.now()``."""
from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

from .accounts import create_user
from .models import Artist, Entitlement, Tier, User

DEMO_PASSWORD = "password123"
DEMO_ACCOUNTS = (
    ("artist@demo.com", "artist", "Nova Lane", "Nova Lane"),
    ("fan@demo.com", "fan", "Demo Fan", None),
    ("superfan@demo.com", "superfan", "Sam Superfan", None),
    ("admin@demo.com", "admin", "Demo Admin", None),
)
#: synthetic fans cannot sign in: an unusable password hash (argon2 refuses it; no hashing cost)
NO_SIGN_IN = "!demo-population"
#: (name, tier held now or last, days since they joined, days since the paid tier ended or None,
#: plays a week, anonymous)
POPULATION = (
    ("Ada Moreno", "superfan", 200, None, 30, False),
    ("Kenji Ito", "superfan", 75, None, 22, True),   # a top fan who chose to appear as "A fan"
    ("Lena Fischer", "supporter", 120, None, 18, False),
    ("Omar Haddad", "supporter", 60, None, 14, False),
    ("Priya Nair", "supporter", 40, None, 12, False),
    ("Tom Becker", "supporter", 25, None, 9, False),
    ("Zoe Martin", "supporter", 15, None, 7, False),
    ("Rafael Souza", "supporter", 90, 12, 5, False),  # churned twelve days ago
    ("Mia Kowalski", "superfan", 70, 20, 4, False),   # churned
    ("Jonas Berg", None, 300, None, 10, False),
    ("Chloe Dubois", None, 150, None, 8, False),
    ("Ines Garcia", None, 45, None, 6, False),
    ("Luca Rossi", None, 30, None, 6, False),
    ("Noah Smith", None, 20, None, 4, False),
    ("Hana Sato", None, 10, None, 3, False),
    ("Eli Cohen", None, 5, None, 2, False),
)

#: the scene around the demo artist: other artists (who cannot sign in), so that discovery,
#: recommendations and matching have something to work with. (name, taste, tags, tempo BPM, tone
#: Hz, days since their first track; the last one made their debut two days ago and nobody has
#: heard it yet)
SCENE = (
    ("Glass Harbor", "synth", ("synthwave", "synth-pop", "night"), 118, 196, 200),
    ("Mira Sol", "synth", ("dream-pop", "synth-pop"), 96, 294, 150),
    ("The Lowland Static", "rock", ("garage-rock", "punk"), 150, 147, 300),
    ("Vera Kite", "rock", ("punk", "garage-rock", "raw"), 172, 165, 120),
    ("Ochre Trio", "jazz", ("jazz", "lo-fi"), 92, 233, 250),
    ("Tomas Reyes", "jazz", ("lo-fi", "jazz", "chill"), 80, 262, 90),
    ("Juno Park", "synth", ("synthwave", "synth-pop"), 120, 220, 2),
)
#: the demo artist's own style, for the same content features
DEMO_ARTIST_STYLE = ("synth", ("synth-pop", "synthwave", "late-night"), 112)
#: which of the scene's tastes each member of the population listens to besides the demo artist
#: (by position in POPULATION; the two who sign in listen to the demo artist only, so the
#: recommendations have something to tell them)
POPULATION_TASTES = ("synth", "synth", "synth", "rock", "synth", "jazz", "synth", "rock", "synth", "jazz",
                     "synth", "rock", "jazz", "synth", "rock", "jazz")


@dataclass
class SceneArtist:
    """An artist of the demo's scene: ``taste`` groups artists whose audiences overlap."""

    user_id: uuid.UUID
    artist_id: uuid.UUID
    name: str
    taste: str
    tags: tuple[str, ...]
    bpm: int
    freq: int
    debut_days: int


@dataclass
class DemoFan:
    """One member of the demo's cast. ``tier`` is the paid tier held (or, with ``ended_at``, held
    until then); ``None`` for a free member. ``since``: when they joined (followed, free tier);
    ``paid_since``: when the paid tier started."""

    user_id: uuid.UUID
    email: str
    name: str
    tier: str | None
    since: datetime
    paid_since: datetime | None = None
    ended_at: datetime | None = None
    plays_per_week: int = 5
    anonymous: bool = False
    signs_in: bool = False
    #: the scene's taste they also listen to (``None``: the demo artist only)
    taste: str | None = None

    def paid_at(self, when: datetime) -> str | None:
        """The paid tier held at ``when`` (``None``: free)."""
        if self.tier is None or self.paid_since is None or when < self.paid_since:
            return None
        if self.ended_at is not None and when >= self.ended_at:
            return None
        return self.tier


@dataclass
class DemoContext:
    artist: User
    fan: User
    admin: User
    artist_profile: Artist
    tiers: dict[str, Tier] = field(default_factory=dict)
    created: bool = False
    superfan: User | None = None
    now: datetime | None = None
    #: every fan of the cast, the two who sign in (fan@, superfan@) included
    population: list[DemoFan] = field(default_factory=list)
    #: start of the current DM quota month (the artist's calendar month, as a UTC instant)
    quota_month_start: datetime | None = None
    #: the other artists of the demo (:data:`SCENE`)
    scene: list[SceneArtist] = field(default_factory=list)
    #: the demo artist's style: tags and tempo of their tracks (:data:`DEMO_ARTIST_STYLE`)
    artist_tags: tuple[str, ...] = DEMO_ARTIST_STYLE[1]
    artist_bpm: int = DEMO_ARTIST_STYLE[2]

    def __getitem__(self, key: str) -> Any:  # hook implementations may treat it as a mapping
        return getattr(self, key)

    def rng(self, salt: str) -> random.Random:
        """A deterministic random source per plugin (the same cast and history on every seed)."""
        return random.Random(f"musicconnect-demo-{salt}")


def _quota_month_start(now: datetime, tz_name: str) -> datetime:
    from datetime import timezone
    from zoneinfo import ZoneInfo

    try:
        tz = ZoneInfo(tz_name or "UTC")
    except Exception:
        tz = ZoneInfo("UTC")
    local = now.astimezone(tz).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return local.astimezone(timezone.utc)


def _population(platform, s, now: datetime) -> list[tuple[str, str, tuple]]:
    """The synthetic fans' accounts (one bulk insert of those missing), as (email, name, row)."""
    rows = []
    for i, row in enumerate(POPULATION):
        name = row[0]
        email = f"{name.lower().replace(' ', '.')}@fans.demo"
        rows.append((email, name, row, i))
    have = set(s.scalars(select(User.email).where(User.email.in_([e for e, *_ in rows]))))
    missing = [{"id": uuid.uuid4(), "email": e, "password_hash": NO_SIGN_IN, "display_name": n, "role": "fan",
                "is_active": True, "created_at": now - timedelta(days=r[2] + 1), "updated_at": now}
               for e, n, r, _ in rows if e not in have]
    if missing:
        s.execute(insert(User), missing)
    return [(e, n, r) for e, n, r, _ in rows]


def _cast(s, ctx: DemoContext, now: datetime) -> list[DemoFan]:
    ids = dict(s.execute(select(User.email, User.id).where(User.email.like("%@fans.demo"))).all())
    cast = []
    for (name, tier, days, ended, per_week, anonymous), taste in zip(POPULATION, POPULATION_TASTES):
        email = f"{name.lower().replace(' ', '.')}@fans.demo"
        since = now - timedelta(days=days)
        paid_since = since + timedelta(days=min(3, days // 4)) if tier else None
        cast.append(DemoFan(ids[email], email, name, tier, since, paid_since,
                            now - timedelta(days=ended) if ended is not None else None, per_week, anonymous,
                            taste=taste))
    m0 = ctx.quota_month_start
    # the demo fan: a free member for over a year who was a Superfan until recently (their DM thread
    # with the artist dates from then, before this quota month, so this month's quota is untouched)
    cast.append(DemoFan(ctx.fan.id, ctx.fan.email, ctx.fan.display_name, "superfan", now - timedelta(days=367),
                        m0 - timedelta(days=50), max(min(now - timedelta(days=1), m0 + timedelta(days=2)),
                                                     m0 - timedelta(days=2)),
                        25, False, True))
    cast.append(DemoFan(ctx.superfan.id, ctx.superfan.email, ctx.superfan.display_name, "superfan",
                        now - timedelta(days=100), now - timedelta(days=95), None, 20, False, True))
    return cast


def seed_demo(platform) -> DemoContext:
    users: dict[str, User] = {}
    created = False
    now = platform.clock.now()
    with platform.session() as s:
        for email, role, name, artist_name in DEMO_ACCOUNTS:
            user = s.scalar(select(User).where(User.email == email))
            if user is None:
                user = create_user(platform, s, email=email, password=DEMO_PASSWORD, display_name=name,
                                   role="fan" if role == "superfan" else role,
                                   artist_name=artist_name, check_password=False)
                created = True
            users[role] = user
        artist = users["artist"].artist
        if created:
            artist.bio = ("Nova Lane writes late-night synth-pop in a converted garage. "
                          "Supporters hear demos first; superfans get everything a day early.")
            artist.timezone = "Europe/Berlin"
        _population(platform, s, now)
        tiers = {t.key: t for t in s.scalars(select(Tier).where(Tier.artist_id == artist.id))}
        ctx = DemoContext(artist=users["artist"], fan=users["fan"], admin=users["admin"], artist_profile=artist,
                          tiers=tiers, created=created, superfan=users["superfan"], now=now,
                          quota_month_start=_quota_month_start(now, artist.timezone))
        ctx.population = _cast(s, ctx, now)
        ctx.scene = _scene(platform, s, now)
        _comp_superfan(platform, s, ctx)
        failed = platform.plugins.notify("seed_demo", platform=platform, session=s, demo=ctx)
        if failed:
            import logging

            logging.getLogger("musicconnect.seed").warning("demo data of %s could not be added", ", ".join(failed))
    return ctx


def _scene(platform, s, now: datetime) -> list[SceneArtist]:
    """The scene's artist accounts (created once, with the core's default tiers; no sign-in)."""
    from .accounts import create_artist

    out = []
    for name, taste, tags, bpm, freq, debut in SCENE:
        email = f"{name.lower().replace(' ', '.')}@artists.demo"
        user = s.scalar(select(User).where(User.email == email))
        if user is None:
            user = User(id=uuid.uuid4(), email=email, password_hash=NO_SIGN_IN, display_name=name, role="artist",
                        is_active=True, created_at=now - timedelta(days=debut + 30), updated_at=now)
            s.add(user)
            s.flush()
            create_artist(platform, s, user, name)
            s.flush()
        artist_id = s.scalar(select(Artist.id).where(Artist.user_id == user.id))
        out.append(SceneArtist(user.id, artist_id, name, taste, tags, bpm, freq, debut))
    return out


def _comp_superfan(platform, s, ctx: DemoContext) -> None:
    """superfan@demo.com holds the Superfan tier as the artist's comp (a core entitlement, so it
    works whichever payment plugins are enabled)."""
    tier = ctx.tiers.get("superfan")
    fan = next(f for f in ctx.population if f.user_id == ctx.superfan.id)
    ref = f"comp:{ctx.artist_profile.id}:{fan.user_id}"
    if tier is None or s.scalar(select(Entitlement.id).where(Entitlement.source == "comp",
                                                             Entitlement.source_ref == ref)) is not None:
        return
    platform.entitlements.grant(s, user_id=fan.user_id, artist_id=ctx.artist_profile.id, tier_id=tier.id,
                                source="comp", source_ref=ref, status="active", starts_at=fan.paid_since,
                                actor_id=ctx.artist.id)
