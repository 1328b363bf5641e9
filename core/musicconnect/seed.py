"""Demo data: ``musicconnect demo seed`` and ``serve --demo``. Idempotent."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from .accounts import create_user
from .models import Artist, Tier, User

DEMO_PASSWORD = "password123"
DEMO_ACCOUNTS = (
    ("artist@demo.com", "artist", "Nova Lane", "Nova Lane"),
    ("fan@demo.com", "fan", "Demo Fan", None),
    ("admin@demo.com", "admin", "Demo Admin", None),
)


@dataclass
class DemoContext:
    artist: User
    fan: User
    admin: User
    artist_profile: Artist
    tiers: dict[str, Tier] = field(default_factory=dict)
    created: bool = False

    def __getitem__(self, key: str) -> Any:  # hook implementations may treat it as a mapping
        return getattr(self, key)


def seed_demo(platform) -> DemoContext:
    users: dict[str, User] = {}
    created = False
    with platform.session() as s:
        for email, role, name, artist_name in DEMO_ACCOUNTS:
            user = s.scalar(select(User).where(User.email == email))
            if user is None:
                user = create_user(platform, s, email=email, password=DEMO_PASSWORD, display_name=name, role=role,
                                   artist_name=artist_name, check_password=False)
                created = True
            users[role] = user
        artist = users["artist"].artist
        if created:
            artist.bio = ("Nova Lane writes late-night synth-pop in a converted garage. "
                          "Supporters hear demos first; superfans get everything a day early.")
            artist.timezone = "Europe/Berlin"
        tiers = {t.key: t for t in s.scalars(select(Tier).where(Tier.artist_id == artist.id))}
        ctx = DemoContext(artist=users["artist"], fan=users["fan"], admin=users["admin"], artist_profile=artist,
                          tiers=tiers, created=created)
        failed = platform.plugins.notify("seed_demo", platform=platform, session=s, demo=ctx)
        if failed:
            import logging

            logging.getLogger("musicconnect.seed").warning("demo data of %s could not be added", ", ".join(failed))
    return ctx
