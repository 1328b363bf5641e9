"""The core's part of a person's data export and erasure (GDPR Art. 15/17/20, docs/privacy.md).

The builtin ``core`` plugin carries these hook implementations (imported into
:mod:`musicconnect.builtin`); the registry asks the core last, so every plugin has removed its own
rows before the core deletes the user (and, for an artist who leaves, their artist profile, tiers,
content items and the memberships they granted).

What the core holds about a person: the account, the artist profile and what hangs off it, the
entitlements they hold, the domain events that name them (as actor, as subject or in the
payload), their sign-in sessions (refresh tokens), API tokens and background jobs.
"""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import String, and_, cast, delete, or_, select, update

from .contracts import ErasureReport, ExportPart, Retained
from .db import on_commit
from .hookimpl import hookimpl
from .models import ApiToken, Artist, ContentItem, DomainEvent, Entitlement, Job, RefreshToken, Tier, User

NOTES = """\
account: your account (email, display name, role). artist: your artist profile, tiers and content
items, if you are an artist. entitlements: the memberships you hold (which artist, tier, source,
since when, until when). events: the platform's log of what you did or what was done about you.
sessions: your sign-in sessions (no secrets). api_tokens: the API tokens you made (no secrets).
jobs: background jobs you started."""


def _json(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, bytes):
        return None
    return value


def _row(obj, *columns: str) -> dict[str, Any]:
    return {c: _json(getattr(obj, c)) for c in columns}


def _mentions(user: User, artist_id: uuid.UUID | None):
    """The domain events that name ``user`` (or their artist): actor, subject, or an id in the payload."""
    ids = [str(user.id)] + ([str(artist_id)] if artist_id else [])
    text = cast(DomainEvent.data, String)
    conds = [DomainEvent.actor_id == user.id,
             and_(DomainEvent.subject_type == "user", DomainEvent.subject_id == str(user.id))]
    conds += [text.contains(i) for i in ids]
    if artist_id is not None:
        conds += [DomainEvent.artist_id == artist_id,
                  and_(DomainEvent.subject_type == "artist", DomainEvent.subject_id == str(artist_id))]
    return or_(*conds)


def _jobs_naming(user: User, artist_id: uuid.UUID | None):
    text = cast(Job.args, String)
    conds = [Job.owner_id == user.id, text.contains(str(user.id))]
    if artist_id is not None:
        conds.append(text.contains(str(artist_id)))
    return or_(*conds)


@hookimpl
def export_user_data(platform, session, user):
    artist = session.scalar(select(Artist).where(Artist.user_id == user.id))
    records: dict[str, list[dict[str, Any]]] = {
        "account": [_row(user, "id", "email", "display_name", "role", "is_active", "created_at", "updated_at")],
    }
    if artist is not None:
        records["artist"] = [_row(artist, "id", "name", "slug", "bio", "timezone", "created_at")]
        records["tiers"] = [_row(t, "id", "key", "name", "description", "rank", "price_amount", "yearly_amount",
                                 "currency", "perks", "is_active", "created_at")
                            for t in session.scalars(select(Tier).where(Tier.artist_id == artist.id)
                                                     .order_by(Tier.rank))]
        records["content_items"] = [
            _row(c, "id", "kind", "title", "description", "status", "visibility", "required_tier_id",
                 "publish_at", "data", "created_at")
            for c in session.scalars(select(ContentItem).where(ContentItem.artist_id == artist.id)
                                     .order_by(ContentItem.created_at))]
    ents = session.execute(select(Entitlement, Artist.name, Tier.key).join(Artist, Artist.id == Entitlement.artist_id)
                           .join(Tier, Tier.id == Entitlement.tier_id).where(Entitlement.user_id == user.id)
                           .order_by(Entitlement.starts_at)).all()
    records["entitlements"] = [{**_row(e, "id", "artist_id", "tier_id", "source", "status", "starts_at",
                                       "expires_at", "created_at"), "artist": name, "tier": key}
                               for e, name, key in ents]
    records["events"] = [_row(e, "id", "type", "occurred_at", "actor_id", "artist_id", "subject_type",
                              "subject_id", "data")
                         for e in session.scalars(select(DomainEvent).where(_mentions(user, None))
                                                  .order_by(DomainEvent.occurred_at))]
    records["sessions"] = [_row(t, "id", "family_id", "issued_at", "expires_at", "used_at", "revoked_at")
                           for t in session.scalars(select(RefreshToken).where(RefreshToken.user_id == user.id)
                                                    .order_by(RefreshToken.issued_at))]
    records["api_tokens"] = [_row(t, "id", "name", "prefix", "scopes", "created_at", "expires_at",
                                  "last_used_at", "revoked_at")
                             for t in session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)
                                                      .order_by(ApiToken.created_at))]
    records["jobs"] = [_row(j, "id", "actor", "state", "message", "subject_type", "subject_id", "created_at",
                            "updated_at")
                       for j in session.scalars(select(Job).where(Job.owner_id == user.id).order_by(Job.created_at))]
    return ExportPart(records, notes=NOTES)


@hookimpl
def erase_user_data(platform, session, user):
    uid = user.id
    artist = session.scalar(select(Artist).where(Artist.user_id == uid))
    artist_id = artist.id if artist else None
    erased: dict[str, int] = {}
    retained: list[Retained] = []
    cache_keys: list[Any] = [("user", uid)]
    cache_keys += [("ent", uid, a) for a in session.scalars(
        select(Entitlement.artist_id).distinct().where(Entitlement.user_id == uid))]

    # events: those about another artist stay as anonymous activity (their counts are the other
    # artist's aggregate); the rest go
    other_artist = DomainEvent.artist_id.is_not(None)
    if artist_id is not None:
        other_artist = and_(other_artist, DomainEvent.artist_id != artist_id)
    erased["events_anonymised"] = session.execute(
        update(DomainEvent).where(_mentions(user, artist_id), other_artist)
        .values(actor_id=None, subject_type=None, subject_id=None, data={})
        .execution_options(synchronize_session=False)).rowcount
    erased["events"] = session.execute(
        delete(DomainEvent).where(_mentions(user, artist_id)).execution_options(synchronize_session=False)).rowcount
    # the anonymised rows above no longer match: the delete took only the rest

    erased["sessions"] = session.execute(delete(RefreshToken).where(RefreshToken.user_id == uid)).rowcount
    erased["api_tokens"] = session.execute(delete(ApiToken).where(ApiToken.user_id == uid)).rowcount

    # jobs: a running one (this erasure's own job, say) finishes; it loses its owner
    naming = _jobs_naming(user, artist_id)
    erased["jobs"] = session.execute(delete(Job).where(naming, Job.state != "running")
                                     .execution_options(synchronize_session=False)).rowcount
    running = session.execute(update(Job).where(naming, Job.state == "running").values(owner_id=None)
                              .execution_options(synchronize_session=False)).rowcount
    if running:
        retained.append(Retained("running jobs", "a job running now (such as this erasure) finishes and its "
                                 "record is kept without an owner; its arguments hold only ids", running))

    erased["entitlements"] = session.execute(delete(Entitlement).where(Entitlement.user_id == uid)
                                             .execution_options(synchronize_session=False)).rowcount
    if artist_id is not None:
        content_ids = list(session.scalars(select(ContentItem.id).where(ContentItem.artist_id == artist_id)))
        cache_keys += [("content", c) for c in content_ids] + [("tiers", artist_id)]
        granted = select(Entitlement.user_id).distinct().where(Entitlement.artist_id == artist_id)
        cache_keys += [("ent", u, artist_id) for u in session.scalars(granted)]
        erased["entitlements_granted"] = session.execute(
            delete(Entitlement).where(Entitlement.artist_id == artist_id)
            .execution_options(synchronize_session=False)).rowcount
        erased["content_items"] = session.execute(
            delete(ContentItem).where(ContentItem.artist_id == artist_id)
            .execution_options(synchronize_session=False)).rowcount
        erased["tiers"] = session.execute(delete(Tier).where(Tier.artist_id == artist_id)
                                          .execution_options(synchronize_session=False)).rowcount
        erased["artists"] = session.execute(delete(Artist).where(Artist.id == artist_id)
                                            .execution_options(synchronize_session=False)).rowcount
        session.expunge(artist)
    session.expunge(user)
    erased["users"] = session.execute(delete(User).where(User.id == uid)
                                      .execution_options(synchronize_session=False)).rowcount

    for key in cache_keys:
        platform.cache.invalidate(key)  # this process now; every process once committed
    on_commit(session, lambda: (platform.invalidate(*cache_keys), platform.forget_user(uid)))
    return ErasureReport({k: v for k, v in erased.items() if v}, tuple(retained))
