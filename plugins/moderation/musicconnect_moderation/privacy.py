"""A person's moderation data: their export and their erasure (GDPR Art. 15, 17, 20; docs/privacy.md).

What the plugin holds about a person: the review cases about them (an abuse case about their
account, a fingerprint match or a copyright notice about their upload, a repeat-infringer case,
the case of a counter-notice they sent), the audit lines about them, their copyright strikes, the
counter-notices they sent (with their legal name, postal address, phone and signature), the
copyright notices against their content (sent by complainants), their abuse flags and quarantine.

Erasure (the choice, docs/privacy.md "moderation"): nothing is retained under the person's name.
The strikes, counter-notices, flags and quarantine rows go; the cases and audit lines stay as the
record that the platform acted (a notice was received and acted on, a case decided) but with every
trace of the person scrubbed: their account id becomes ``erased``, the counter-notice's contact
data and statement are removed, their ids, email, names and the legal name of their
counter-notices are replaced by ``[erased]`` wherever they appear, an abuse case about them keeps
only its count of flags. The complainants' notices stay (they are the complainants' records; the
content they name is deleted with the artist's catalogue).
"""
from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import Text, cast, delete, or_, select

from musicconnect.contracts import ErasureReport, ExportPart
from musicconnect.models import Artist

from .abuse import AbuseFlag, Quarantine, state
from .cases import AuditEntry, Case
from .dmca import Counter, Notice, Strike

ERASED = "erased"
MASK = "[erased]"

NOTES = (
    "cases: the moderation cases about you or your uploads (abuse flags, audio fingerprint matches, "
    "copyright notices, counter-notices you sent, repeat-infringer reviews), with the moderators' "
    "decisions. audit: the moderation log's lines about you. strikes: your copyright strikes (active "
    "or withdrawn). counter_notices: the counter-notices you sent, as you sent them. notices: the "
    "copyright notices against your content (the complainant's contact details are left out: they "
    "are another person's data). abuse_flags: your acts the abuse rules flagged (plays not counted, "
    "messages refused). quarantine: whether your plays are not counted until a moderator decides.")


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _ids(session, user) -> list[str]:
    """The person's ids as moderation rows name them (account and artist, dashed and hex)."""
    ids = [str(user.id), user.id.hex]
    artist = session.scalar(select(Artist).where(Artist.user_id == user.id))
    if artist is not None:
        ids += [str(artist.id), artist.id.hex]
    return ids


def _mentions(column, ids: list[str]):
    return or_(*(cast(column, Text).contains(i, autoescape=True) for i in ids))


def _cases(session, user, ids: list[str]) -> list[Case]:
    q = select(Case).where(or_(Case.user_id == user.id, Case.subject_id.in_(ids), _mentions(Case.data, ids),
                               _mentions(Case.detail, ids)))
    return list(session.scalars(q.order_by(Case.opened_at)))


def _audit(session, user, ids: list[str], case_ids: list[uuid.UUID]) -> list[AuditEntry]:
    cond = [AuditEntry.actor_id == user.id, AuditEntry.subject_id.in_(ids), _mentions(AuditEntry.data, ids)]
    if case_ids:
        cond.append(AuditEntry.case_id.in_(case_ids))
    return list(session.scalars(select(AuditEntry).where(or_(*cond)).order_by(AuditEntry.id)))


def _case_out(c: Case) -> dict[str, Any]:
    data = {k: v for k, v in (c.data or {}).items() if k != "forward_to"}  # the complainant's contact
    return {"id": str(c.id), "kind": c.kind, "status": c.status, "subject_type": c.subject_type,
            "subject_id": c.subject_id, "reason": c.reason, "detail": c.detail, "score": c.score, "data": data,
            "opened_at": _iso(c.opened_at), "decided_at": _iso(c.decided_at), "decision": c.decision,
            "note": c.note}


def export(platform, session, user) -> ExportPart | None:
    uid = user.id
    ids = _ids(session, user)
    found = _cases(session, user, ids)
    records: dict[str, list[dict[str, Any]]] = {}
    records["cases"] = [_case_out(c) for c in found]
    records["audit"] = [{"at": _iso(e.at), "action": e.action, "case_id": str(e.case_id) if e.case_id else None,
                         "subject_type": e.subject_type, "subject_id": e.subject_id,
                         "data": {k: v for k, v in (e.data or {}).items() if k != "forward_to"},
                         "by_you": e.actor_id == uid}
                        for e in _audit(session, user, ids, [c.id for c in found])]
    strikes = list(session.scalars(select(Strike).where(Strike.user_id == uid).order_by(Strike.at)))
    records["strikes"] = [{"notice_id": str(s.notice_id), "at": _iso(s.at), "withdrawn_at": _iso(s.withdrawn_at),
                           "withdrawn_reason": s.withdrawn_reason} for s in strikes]
    counters = list(session.scalars(select(Counter).where(Counter.user_id == uid).order_by(Counter.received_at)))
    records["counter_notices"] = [
        {"id": str(c.id), "notice_id": str(c.notice_id), "received_at": _iso(c.received_at),
         "signature": c.signature, "material": c.material, "name": c.name, "address": c.address, "phone": c.phone,
         "good_faith": c.good_faith, "consent_jurisdiction": c.consent_jurisdiction,
         "accept_service": c.accept_service, "status": c.status, "restore_at": _iso(c.restore_at)}
        for c in counters]
    notice_ids = {s.notice_id for s in strikes} | {c.notice_id for c in counters}
    notice_ids |= {uuid.UUID(c.subject_id) for c in found if c.subject_type == "dmca-notice"}
    notices = list(session.scalars(select(Notice).where(Notice.id.in_(notice_ids)).order_by(Notice.received_at))) \
        if notice_ids else []
    records["notices"] = [{"id": str(n.id), "received_at": _iso(n.received_at), "copyrighted_work": n.work,
                           "infringing_material": n.material, "content_ids": n.content_ids,
                           "complainant_name": n.complainant_name} for n in notices]
    records["abuse_flags"] = [{"at": _iso(f.at), "kind": f.kind, "reason": f.reason, "subject_id": f.subject_id,
                               "case_id": str(f.case_id) if f.case_id else None, "data": f.data}
                              for f in session.scalars(select(AbuseFlag).where(AbuseFlag.user_id == uid)
                                                       .order_by(AbuseFlag.at))]
    q = session.get(Quarantine, uid)
    records["quarantine"] = [] if q is None else [{"since": _iso(q.since), "reason": q.reason,
                                                   "case_id": str(q.case_id) if q.case_id else None}]
    if not any(records.values()):
        return None
    return ExportPart(records=records, notes=NOTES)


def _masker(words: list[str]):
    words = sorted({w.strip() for w in words if w and len(w.strip()) >= 3}, key=len, reverse=True)
    if not words:
        return lambda value: value
    pattern = re.compile("|".join(re.escape(w) for w in words), re.I)

    def mask(value):
        if isinstance(value, str):
            return pattern.sub(MASK, value)
        if isinstance(value, dict):
            return {k: mask(v) for k, v in value.items()}
        if isinstance(value, list):
            return [mask(v) for v in value]
        return value
    return mask


def erase(platform, session, user) -> ErasureReport:
    uid = user.id
    ids = _ids(session, user)
    artist = session.scalar(select(Artist).where(Artist.user_id == uid))
    counters = list(session.scalars(select(Counter).where(Counter.user_id == uid)))
    words = [*ids, user.email or "", user.display_name or ""]
    if artist is not None:
        words += [artist.name or "", artist.slug or ""]
    for c in counters:  # the legal identity they gave, which may differ from their profile
        words += [c.name, c.signature, c.address, c.phone]
    mask = _masker(words)
    erased: dict[str, int] = {}

    found = _cases(session, user, ids)
    for case in found:
        data = dict(case.data or {})
        about_them = case.user_id == uid or case.subject_id in ids
        if case.kind == "abuse" and about_them:  # the evidence is their behaviour: keep only how much
            data = {"flags": data.get("flags", 0)}
        if case.kind == "dmca-counter" and case.user_id == uid:  # their legal statement and contact
            data.pop("counter", None)
            data.pop("material", None)
        case.data = mask(data)
        case.detail = mask(case.detail or "")
        case.note = mask(case.note or "")
        if case.subject_id in ids:
            case.subject_id = ERASED
        if case.user_id == uid:
            case.user_id = None
        if case.decided_by == uid:
            case.decided_by = None
    erased["cases"] = len(found)

    lines = _audit(session, user, ids, [c.id for c in found])
    for e in lines:
        e.data = mask(dict(e.data or {}))
        if e.subject_id in ids:
            e.subject_id = ERASED
        if e.actor_id == uid:
            e.actor_id = None
    erased["audit"] = len(lines)

    notice_ids = {c.notice_id for c in counters}
    notice_ids |= set(session.scalars(select(Strike.notice_id).where(Strike.user_id == uid)))
    if notice_ids:  # the complainants' notices stay; their words about this person are masked
        for n in session.scalars(select(Notice).where(Notice.id.in_(notice_ids))):
            n.work, n.material = mask(n.work or ""), mask(list(n.material or []))

    erased["counter_notices"] = session.execute(delete(Counter).where(Counter.user_id == uid)).rowcount or 0
    erased["strikes"] = session.execute(delete(Strike).where(Strike.user_id == uid)).rowcount or 0
    erased["abuse_flags"] = session.execute(delete(AbuseFlag).where(AbuseFlag.user_id == uid)).rowcount or 0
    erased["quarantine"] = session.execute(delete(Quarantine).where(Quarantine.user_id == uid)).rowcount or 0
    # the rules' live counters keyed by the account (they would expire within the hour anyway)
    st = state(platform)
    st.quarantined.discard(str(uid))
    try:
        st.windows.clear(f"acct-plays:{uid}", f"acct-listen:{uid}", f"msg:{uid}", f"text:{uid}", f"links:{uid}")
    except Exception:  # Redis away: the windows expire on their own within the hour
        pass
    return ErasureReport(erased={k: v for k, v in erased.items() if v})
