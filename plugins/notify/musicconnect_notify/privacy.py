"""A person's notify data: their export and their erasure (GDPR Art. 15, 17, 20; docs/privacy.md).

Held about a person: the notifications sent to them (inbox, push, email rows), their
preferences, their devices' push subscriptions and, for an artist, the messages they sent their
fans. The email suppression list is keyed by address, not account: a bounce goes with the
account (no account, no mail; a new sign-up gives the address anew), an operator's "never email
this address" is kept as a keyed hash only, so that it still holds and names nobody."""
from __future__ import annotations

import hashlib
import hmac
from typing import Any

from sqlalchemy import String, cast, delete, func, or_, select

from musicconnect import normalise_email
from musicconnect.contracts import ErasureReport, ExportPart, Retained

from .channel_models import EmailSuppression, PushSent, PushSubscription
from .models import ArtistMessage, Delivery, MessageQuota, Preference

#: the prefix of a suppression row that holds a keyed hash instead of an address
HASHED = "sha256:"


def hashed_address(platform, email: str) -> str:
    """The suppression list's key for an erased person's address: an HMAC with the platform's
    secret (a bare hash of an address is easily reversed by guessing)."""
    digest = hmac.new(platform.settings.signing_key(), b"notify-suppression:" + normalise_email(email).encode(),
                      hashlib.sha256).hexdigest()
    return HASHED + digest


def hashed_suppression(platform, session, email: str) -> EmailSuppression | None:
    """The kept (hashed) suppression of an address whose account was erased, if any."""
    return session.get(EmailSuppression, hashed_address(platform, email))


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _str(value) -> str | None:
    return str(value) if value is not None else None


def export(platform, session, user) -> ExportPart | None:
    uid = user.id
    records: dict[str, list[dict[str, Any]]] = {}
    records["notifications"] = [
        {"id": str(d.id), "kind": d.kind, "channel": d.channel, "artist_id": _str(d.artist_id), "title": d.title,
         "body": d.body, "url": d.url, "status": d.status, "created_at": _iso(d.created_at),
         "sent_at": _iso(d.sent_at), "read_at": _iso(d.read_at)}
        for d in session.scalars(select(Delivery).where(Delivery.recipient_id == uid).order_by(Delivery.created_at))]
    pref = session.get(Preference, uid)
    records["preferences"] = [] if pref is None else [
        {"channels": pref.channels or {}, "muted_artists": list((pref.muted or {}).get("artists", [])),
         "quiet_start": pref.quiet_start, "quiet_end": pref.quiet_end, "email_opt_out": pref.email_opt_out,
         "digest": pref.digest, "timezone": pref.timezone, "updated_at": _iso(pref.updated_at)}]
    records["push_subscriptions"] = [
        {"id": str(p.id), "endpoint": p.endpoint, "user_agent": p.user_agent, "created_at": _iso(p.created_at),
         "last_success_at": _iso(p.last_success_at)}
        for p in session.scalars(select(PushSubscription).where(PushSubscription.user_id == uid))]
    sup = session.get(EmailSuppression, normalise_email(user.email))
    records["email_suppression"] = [] if sup is None else [
        {"email": sup.email, "reason": sup.reason, "source": sup.source, "created_at": _iso(sup.created_at)}]
    artist = getattr(user, "artist", None)
    records["artist_messages"] = [] if artist is None else [
        {"id": str(m.id), "segment": m.segment, "title": m.title, "body": m.body, "created_at": _iso(m.created_at)}
        for m in session.scalars(select(ArtistMessage).where(ArtistMessage.artist_id == artist.id)
                                 .order_by(ArtistMessage.created_at))]
    if not any(records.values()):
        return None
    return ExportPart(records=records, notes=(
        "notifications: every notification sent to you, on each channel (inbox, push, email), with when it was "
        "sent and read. preferences: your notification choices (channels, muted artists, quiet hours, digest). "
        "push_subscriptions: the browsers/devices you allowed to receive push notifications. "
        "email_suppression: whether your address is on the list of addresses we never email (after a bounce or "
        "an operator's decision). artist_messages: the messages you sent your fans, as an artist."))


def _drop_from_digests(session, artist_id) -> int:
    """Take an artist's notifications out of the email digests that gathered them (other people's
    rows: only the lines of this artist go; a digest left empty goes). A digest's ``data.items``
    are the ids of the notifications it gathered, in the order of its body's lines."""
    from .digests import DIGEST_KIND

    theirs = {str(i) for i in session.scalars(select(Delivery.id).where(Delivery.artist_id == artist_id))}
    if not theirs:
        return 0
    since = session.scalar(select(func.min(Delivery.created_at)).where(Delivery.artist_id == artist_id))
    dropped = 0
    for d in session.scalars(select(Delivery).where(Delivery.kind == DIGEST_KIND, Delivery.created_at >= since)):
        items = list((d.data or {}).get("items") or [])
        if not theirs.intersection(items):
            continue
        lines = (d.body or "").split("\n")
        keep = [i for i, item in enumerate(items) if item not in theirs]
        dropped += len(items) - len(keep)
        if not keep or len(lines) != len(items):  # nothing else in it, or lines that cannot be told apart
            session.delete(d)
            continue
        d.body = "\n".join(lines[i] for i in keep)
        d.data = {**(d.data or {}), "items": [items[i] for i in keep]}
        d.title = f"{len(keep)} update{'s' if len(keep) != 1 else ''} from your artists"
    session.flush()
    return dropped


def erase(platform, session, user) -> ErasureReport:
    uid = user.id
    erased: dict[str, int] = {}
    retained: list[Retained] = []
    # notifications about them that went to others (e.g. a DM notice, "<name> followed you"): found by
    # their id only (its uuid and hex forms, matched literally). A name or an email would match
    # other people's notifications ("____" is a LIKE pattern for every four characters; "Alex" is
    # many people's name), and erasing one account must never delete another person's rows.
    needles = (str(uid), uid.hex)
    about = or_(*(c.contains(n, autoescape=True) for n in needles
                  for c in (Delivery.title, Delivery.body, Delivery.object_key, cast(Delivery.data, String))))
    erased["notifications_about_them"] = session.execute(
        delete(Delivery).where(Delivery.recipient_id != uid, about).execution_options(synchronize_session=False)
    ).rowcount
    subs = select(PushSubscription.id).where(PushSubscription.user_id == uid)
    session.execute(delete(PushSent).where(PushSent.subscription_id.in_(subs)).execution_options(synchronize_session=False))
    erased["push_subscriptions"] = session.execute(
        delete(PushSubscription).where(PushSubscription.user_id == uid).execution_options(synchronize_session=False)
    ).rowcount
    erased["notifications"] = session.execute(
        delete(Delivery).where(Delivery.recipient_id == uid).execution_options(synchronize_session=False)).rowcount
    erased["preferences"] = session.execute(
        delete(Preference).where(Preference.user_id == uid).execution_options(synchronize_session=False)).rowcount
    artist = getattr(user, "artist", None)
    if artist is not None:
        erased["artist_messages"] = session.execute(
            delete(ArtistMessage).where(ArtistMessage.artist_id == artist.id)
            .execution_options(synchronize_session=False)).rowcount
        session.execute(delete(MessageQuota).where(MessageQuota.artist_id == artist.id)
                        .execution_options(synchronize_session=False))
        erased["digest_lines_about_them"] = _drop_from_digests(session, artist.id)
        erased["notifications_from_them"] = session.execute(
            delete(Delivery).where(Delivery.artist_id == artist.id).execution_options(synchronize_session=False)
        ).rowcount
    sup = session.get(EmailSuppression, normalise_email(user.email))
    if sup is not None:
        if sup.source == "operator":  # "never email this address" outlives the account: keep a keyed hash
            key = hashed_address(platform, user.email)
            if session.get(EmailSuppression, key) is None:
                session.add(EmailSuppression(email=key, reason="an operator's suppression of an erased account",
                                             source="operator", created_at=sup.created_at))
            retained.append(Retained("email suppression",
                                     "to keep not emailing you: a keyed hash of your address, never the address",
                                     1, None))
        session.delete(sup)
        session.flush()
        erased["email_suppression"] = 1
    return ErasureReport(erased={k: int(v or 0) for k, v in erased.items()}, retained=tuple(retained))
