"""The co-op's demo data (idempotent): Nova Lane (the demo artist) and Glass Harbor (an artist of
the demo's scene) found "Night Shift Collective", through the same functions the API calls:
the founding, the invitation and its acceptance, a ``change_split`` proposal to a fixed 60/40
split and a ``create_bundle`` proposal, both voted through by the two members; each member
includes their lowest paid tier in the bundle (so it goes on sale) and opts their artist page in
to co-op promotions.

After the seed's transaction (so that every other plugin's demo data is there): each member
nominates their latest public release, and the demo superfan holds the bundle: one month paid
as a sandbox payment recorded through the core's ``payments.record_payment`` (the platform fee
by ``revenue_shares``, the members' split by the co-op's ``distribute_net``; the ledger records
it and the payout job runs), like billing's own demo history. That history has no sandbox
invoice behind it, so the sandbox has nothing to transfer from: the members' shares show as
owed balances. A fan who buys the bundle through the sandbox checkout (tests/coop/test_coop_demo.py)
is paid out by sandbox transfers."""
from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from sqlalchemy import select

from musicconnect import Actor, on_commit
from musicconnect.models import ContentItem, Entitlement, Tier

from . import bundles
from . import governance as g
from .bundle_models import Bundle
from .models import Coop
from .promo_models import PromoNomination, PromoSurface

log = logging.getLogger("musicconnect.coop")

NAME = "Night Shift Collective"
PARTNER = "Glass Harbor"
SPLIT_BP = (6000, 4000)  # Nova Lane, Glass Harbor
BUNDLE = {"name": "Night Shift Pass", "price_amount": 900, "currency": "USD",
          "description": "The supporter tier of both members, for one price"}
PAYMENT = "in_sbx_demo_coop_"


def _actor(user_id, artist_id) -> Actor:
    return Actor(user_id=user_id, role="artist", artist_id=artist_id, scopes=frozenset())


def _paid_tier(session, artist_id) -> Tier | None:
    return session.scalar(select(Tier).where(Tier.artist_id == artist_id, Tier.is_active.is_(True), Tier.rank > 0,
                                             Tier.price_amount > 0).order_by(Tier.rank, Tier.id).limit(1))


def _pass(platform, session, coop, proposal, *voters) -> None:
    for v in voters:
        proposal = g.vote(platform, session, v, coop, proposal.id, "yes")
    if proposal.status != "passed":
        raise RuntimeError(f"the demo's {proposal.kind} proposal did not pass: {proposal.status}")


def seed(platform, session, demo) -> None:
    partner = next((a for a in getattr(demo, "scene", None) or [] if a.name == PARTNER), None)
    if partner is None or demo.superfan is None:
        return
    nova = _actor(demo.artist.id, demo.artist_profile.id)
    glass = _actor(partner.user_id, partner.artist_id)
    coop = session.scalar(select(Coop).where(Coop.name == NAME, Coop.status == "active"))
    if coop is None:
        coop = _found(platform, session, nova, glass)
        if coop is None:
            return
    coop_id, superfan_id = coop.id, demo.superfan.id
    members = (nova.artist_id, glass.artist_id)
    on_commit(session, lambda: _after(platform, coop_id, members, superfan_id))


def _found(platform, session, nova: Actor, glass: Actor) -> Coop | None:
    tiers = {a.artist_id: _paid_tier(session, a.artist_id) for a in (nova, glass)}
    if None in tiers.values():
        return None
    coop = g.create_coop(platform, session, nova, name=NAME,
                         description="Two late-night synth acts, one pass for both.",
                         rules={"quorum": "majority", "notice_days": 30, "vote_days": 7})
    g.invite(platform, session, nova, coop, glass.artist_id)
    g.respond(platform, session, glass, coop, accept=True)
    split = {"kind": "fixed", "shares": {str(nova.artist_id): SPLIT_BP[0], str(glass.artist_id): SPLIT_BP[1]}}
    _pass(platform, session, coop, g.propose(platform, session, nova, coop, "change_split", {"split": split}),
          nova, glass)
    _pass(platform, session, coop, g.propose(platform, session, nova, coop, "create_bundle", dict(BUNDLE)),
          nova, glass)
    tier_id = session.scalar(select(Bundle.tier_id).where(Bundle.coop_id == coop.id))
    for a in (nova, glass):
        bundles.pick(platform, session, coop, a.artist_id, tier_id, tiers[a.artist_id].id)
        if session.get(PromoSurface, (a.artist_id, "artist_page")) is None:
            session.add(PromoSurface(artist_id=a.artist_id, surface="artist_page", created_at=platform.clock.now()))
    session.flush()
    return coop


def _after(platform, coop_id, members, superfan_id) -> None:
    try:
        _nominate(platform, members)
        _superfan_buys(platform, coop_id, superfan_id)
    except Exception:  # the demo goes on without it
        log.exception("co-op demo: the nominations or the superfan's bundle could not be added")


def _nominate(platform, members) -> None:
    now = platform.clock.now()
    with platform.session() as s:
        for artist_id in members:
            if s.scalar(select(PromoNomination.id).where(PromoNomination.artist_id == artist_id).limit(1)):
                continue
            item = s.scalar(select(ContentItem).where(
                # ready, or still transcoding (the scene's tracks): promoted once ready
                ContentItem.artist_id == artist_id, ContentItem.status.in_(("ready", "processing")),
                ContentItem.visibility == "public",
                ContentItem.publish_at <= now).order_by(ContentItem.publish_at.desc(), ContentItem.id).limit(1))
            if item is not None:
                s.add(PromoNomination(id=uuid.uuid4(), artist_id=artist_id, kind="release", ref=str(item.id),
                                      created_at=now))


def _superfan_buys(platform, coop_id, superfan_id) -> None:
    if "sandbox" not in platform.payments.providers():
        return
    now = platform.clock.now()
    paid_at = now  # the split in force when the bundle went on sale
    with platform.session() as s:
        coop = s.get(Coop, coop_id)
        tier = s.scalar(select(Tier).join(Bundle, Bundle.tier_id == Tier.id)
                        .where(Bundle.coop_id == coop_id, Bundle.status == "active").limit(1))
        if coop is None or tier is None:
            return
        ref = f"sub_sbx_demo_coop_{superfan_id.hex}"
        if s.scalar(select(Entitlement.id).where(Entitlement.source == "demo", Entitlement.source_ref == ref)) is None:
            platform.entitlements.grant(s, user_id=superfan_id, artist_id=coop.artist_id, tier_id=tier.id,
                                        source="demo", source_ref=ref, status="active", starts_at=paid_at,
                                        expires_at=paid_at + timedelta(days=31))
        platform.payments.record_payment(
            s, provider="sandbox", external_id=f"{PAYMENT}{superfan_id.hex[:12]}_1", user_id=superfan_id,
            artist_id=coop.artist_id, amount=tier.price_amount, currency=tier.currency, tier_id=tier.id,
            occurred_at=paid_at, period_start=paid_at, period_end=paid_at + timedelta(days=31),
            data={"subscription": ref, "demo": True})
