"""A member artist's co-op data: export and erasure (docs/privacy.md, docs/coop.md).

An artist leaves memberships (with invitations), proposals they opened and their votes behind.
Erasure removes their memberships and ballots, takes their name off the proposals they opened,
and removes the proposals and rule versions that name them (an add/remove proposal about them, a
fixed split share: the share is kept under ``"erased"`` so the version still sums to 10000).
A co-op's own service account is not a person: its co-op is left alone."""
from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import delete, func, select, update

from musicconnect.contracts import ErasureReport, ExportPart, Retained

from . import governance as g
from . import page
from .bundle_models import BundleMember, Payout
from .ledger_models import LedgerEntry, LedgerPayment
from .models import Coop, Member, Proposal, RuleVersion, Vote
from .promo_models import (FanSharing, PromoAttribution, PromoCounter, PromoImpression, PromoNomination,
                           PromoSurface)

log = logging.getLogger("musicconnect.coop.privacy")
LEDGER_WHY = ("accounting: a co-op's ledger is its books (who was paid what for which payment); its lines keep "
              "the member's artist id and amounts, never a name or an email, and are never rewritten")

NOTES = ("coop_memberships: the co-ops you were invited to, joined or left. coop_proposals: the decisions you "
         "put to the vote. coop_votes: how you voted. coop_ledger: your lines in the co-ops' ledgers (shares of "
         "payments, clawbacks of refunds and disputes, transfers to you and their reversals; amounts in minor units). "
         "coop_payouts: the transfers of your shares to your payout account and their reversals. coop_bundle_picks: "
         "which of your tiers each co-op bundle includes.")
PAYOUTS_WHY = ("accounting: the transfers to a member's payout account and their reversals match the provider's "
               "records; they keep the member's artist id, amounts and the provider's ids, never a name")


def _iso(v):
    return v.isoformat() if v is not None else None


def _aid(user):
    artist = getattr(user, "artist", None)
    return artist.id if artist is not None else None


FAN_NOTES = ("coop_ledger_payments: your payments for co-op bundles as the co-op's ledger records them (amount, "
             "platform fee, refunded or disputed so far, how it was split; minor units).")


def export_user_data(platform, session, user) -> ExportPart | None:
    aid = _aid(user)
    records: dict[str, list[dict[str, Any]]] = _promo_export(session, user.id, aid)
    records["coop_ledger_payments"] = [
        {"coop_id": str(x.coop_id), "payment_ref": x.payment_ref, "amount": x.amount, "fee": x.fee,
         "reversed": x.reversed, "currency": x.currency, "split": x.split, "occurred_at": _iso(x.occurred_at)}
        for x in session.scalars(select(LedgerPayment).where(LedgerPayment.fan_id == user.id)
                                 .order_by(LedgerPayment.occurred_at, LedgerPayment.id))]
    if aid is None:
        return ExportPart(records=records, notes=PROMO_NOTES + " " + FAN_NOTES) if any(records.values()) else None
    records["coop_ledger"] = [
        {"coop_id": str(x.coop_id), "kind": x.kind, "amount": x.amount, "currency": x.currency,
         "payment_ref": x.payment_ref, "occurred_at": _iso(x.occurred_at)}
        for x in session.scalars(select(LedgerEntry).where(LedgerEntry.artist_id == aid)
                                 .order_by(LedgerEntry.occurred_at, LedgerEntry.id))]
    records["coop_payouts"] = [
        {"coop_id": str(x.coop_id), "kind": x.kind, "amount": x.amount, "currency": x.currency,
         "payment_ref": x.payment_ref, "provider": x.provider, "provider_ref": x.provider_ref,
         "created_at": _iso(x.created_at)}
        for x in session.scalars(select(Payout).where(Payout.artist_id == aid)
                                 .order_by(Payout.created_at, Payout.id))]
    records["coop_bundle_picks"] = [
        {"bundle_tier_id": str(b.bundle_tier_id), "included_tier_id": str(b.included_tier_id)
         if b.included_tier_id else None, "chosen_at": _iso(b.chosen_at)}
        for b in session.scalars(select(BundleMember).where(BundleMember.artist_id == aid))]
    records["coop_memberships"] = [
        {"coop_id": str(m.coop_id), "coop_name": name, "role": m.role, "status": m.status,
         "invited_at": _iso(m.invited_at), "joined_at": _iso(m.joined_at),
         "leave_effective_at": _iso(m.leave_effective_at), "left_at": _iso(m.left_at)}
        for m, name in session.execute(select(Member, Coop.name).join(Coop, Coop.id == Member.coop_id)
                                       .where(Member.artist_id == aid))]
    records["coop_proposals"] = [
        {"id": str(p.id), "coop_id": str(p.coop_id), "kind": p.kind, "payload": p.payload, "status": p.status,
         "created_at": _iso(p.created_at)}
        for p in session.scalars(select(Proposal).where(Proposal.created_by == aid).order_by(Proposal.created_at))]
    records["coop_votes"] = [{"proposal_id": str(v.proposal_id), "choice": v.choice, "at": _iso(v.at)}
                             for v in session.scalars(select(Vote).where(Vote.artist_id == aid).order_by(Vote.at))]
    if not any(records.values()):
        return None
    return ExportPart(records=records, notes=NOTES + " " + PROMO_NOTES + " " + FAN_NOTES)


def _run(session, stmt) -> int:
    return int(session.execute(stmt.execution_options(synchronize_session=False)).rowcount or 0)


def erase_user_data(platform, session, user) -> ErasureReport:
    aid = _aid(user)
    erased: dict[str, int] = {}
    # a fan who paid for a bundle: the co-op's record of the payment no longer names them
    erased["coop_ledger_payments_unlinked"] = _run(session, update(LedgerPayment).where(LedgerPayment.fan_id == user.id)
                                                   .values(fan_id=None))
    erased.update(_promo_erase(session, user.id, aid))
    if aid is None:
        return ErasureReport(erased={k: v for k, v in erased.items() if v})
    text = str(aid)
    coops = list(session.scalars(select(Coop).join(Member, Member.coop_id == Coop.id).where(Member.artist_id == aid)))
    for coop in coops:
        page.forget(platform, session, coop)  # the erased member leaves its public page
    erased["coop_votes"] = _run(session, delete(Vote).where(Vote.artist_id == aid))
    erased["coop_bundle_picks"] = _run(session, delete(BundleMember).where(BundleMember.artist_id == aid))
    _promote_heirs(platform, session, aid)
    _mark_unclaimable(platform, session, aid)
    erased["coop_memberships"] = _run(session, delete(Member).where(Member.artist_id == aid))
    erased["coops_dissolved"] = sum(g.dissolve_if_empty(platform, session, c.id) for c in coops)  # their last member
    _run(session, update(Member).where(Member.invited_by == aid).values(invited_by=None))
    erased["coop_proposals_anonymised"] = _run(session, update(Proposal).where(Proposal.created_by == aid)
                                               .values(created_by=None))
    about = [p.id for p in session.scalars(select(Proposal).where(Proposal.kind.in_(("add_member", "remove_member",
                                                                                      "change_split"))))
             if text in str(p.payload)]
    if about:
        _run(session, update(RuleVersion).where(RuleVersion.proposal_id.in_(about)).values(proposal_id=None))
        _run(session, delete(Vote).where(Vote.proposal_id.in_(about)))
        erased["coop_proposals_about_you"] = _run(session, delete(Proposal).where(Proposal.id.in_(about)))
    n = 0
    for v in session.scalars(select(RuleVersion).where(RuleVersion.kind == "split")):
        shares = (v.body or {}).get("shares")
        if isinstance(shares, dict) and text in shares:
            kept = {k: s for k, s in shares.items() if k != text}
            kept["erased"] = kept.get("erased", 0) + shares[text]
            _run(session, update(RuleVersion).where(RuleVersion.id == v.id).values(body={**v.body, "shares": kept}))
            n += 1
    erased["coop_split_shares_anonymised"] = n
    lines = session.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.artist_id == aid)) or 0
    payouts = session.scalar(select(func.count()).select_from(Payout).where(Payout.artist_id == aid)) or 0
    retained = ((Retained("coop ledger lines", LEDGER_WHY, int(lines)),) if lines else ()) + (
        (Retained("coop payouts", PAYOUTS_WHY, int(payouts)),) if payouts else ())
    return ErasureReport(erased={k: v for k, v in erased.items() if v}, retained=retained)


def _promote_heirs(platform, session, aid) -> None:
    """A co-op whose last admin is erased keeps one: its longest-standing active member."""
    for coop_id in session.scalars(select(Member.coop_id).where(Member.artist_id == aid, Member.role == "admin")):
        others = session.scalar(select(func.count()).select_from(Member).where(
            Member.coop_id == coop_id, Member.artist_id != aid, Member.role == "admin",
            Member.status.in_(("active", "leaving"))))
        if others:
            continue
        heir = session.scalar(select(Member.artist_id).where(
            Member.coop_id == coop_id, Member.artist_id != aid, Member.status == "active")
            .order_by(Member.joined_at, Member.artist_id).limit(1))
        if heir is not None:
            _run(session, update(Member).where(Member.coop_id == coop_id, Member.artist_id == heir)
                 .values(role="admin"))
            log.info("co-op %s: its last admin was erased; %s (longest-standing active member) is admin", coop_id,
                     heir)


def _mark_unclaimable(platform, session, aid) -> None:
    """What an erased member was still owed can no longer be paid (no person, no payout account):
    each payment's unpaid part is marked ``unclaimable`` in ``coop_payouts`` so the payout sweep
    stops retrying it; the ledger keeps the balance as it is (the books are never rewritten)."""
    from .payouts import owed_and_moved

    refs = session.execute(select(LedgerEntry.coop_id, LedgerEntry.payment_ref).where(
        LedgerEntry.artist_id == aid, LedgerEntry.payment_ref.is_not(None)).distinct()).all()
    for coop_id, ref in refs:
        owed, moved = owed_and_moved(session, coop_id, ref).get(str(aid), (0, 0))
        if owed - moved <= 0:
            continue
        currency = session.scalar(select(LedgerPayment.currency).where(LedgerPayment.coop_id == coop_id,
                                                                       LedgerPayment.payment_ref == ref))
        session.add(Payout(id=uuid.uuid4(), coop_id=coop_id, payment_ref=ref, artist_id=aid, kind="transfer",
                           provider=ref.split(":", 1)[0], provider_ref=None, transfer_ref=None,
                           amount=owed - moved, currency=currency, idem_key=f"coop:{ref}:{aid}:unclaimable",
                           status="unclaimable", created_at=platform.clock.now()))
        log.warning("co-op %s: %s %s of %s owed to erased member %s is unclaimable; no longer paid out",
                    coop_id, owed - moved, currency, ref, aid)
    session.flush()


PROMO_NOTES = ("coop_promotion_impressions: the co-op promotions shown to you while signed in and whether you "
               "clicked them. coop_promotion_attributions: your follows and supports attributed to them. "
               "coop_sharing: the co-ops whose members may see you among their shared fans. "
               "coop_promotion_settings: (artists) your surfaces opted in and your nominations.")


def _promo_export(session, user_id, aid) -> dict[str, list[dict[str, Any]]]:
    records: dict[str, list[dict[str, Any]]] = {}
    records["coop_promotion_impressions"] = [
        {"id": str(i.id), "host_artist_id": str(i.host_artist_id), "surface": i.surface,
         "promoted_artist_id": str(i.promoted_artist_id), "item": {"kind": i.item_kind, "id": i.item_ref},
         "shown_at": _iso(i.shown_at), "clicked_at": _iso(i.clicked_at)}
        for i in session.scalars(select(PromoImpression).where(PromoImpression.viewer_id == user_id)
                                 .order_by(PromoImpression.shown_at, PromoImpression.id))]
    records["coop_promotion_attributions"] = [
        {"impression_id": str(a.impression_id), "kind": a.kind, "via": a.via, "occurred_at": _iso(a.occurred_at)}
        for a in session.scalars(select(PromoAttribution).where(PromoAttribution.fan_id == user_id)
                                 .order_by(PromoAttribution.occurred_at, PromoAttribution.id))]
    records["coop_sharing"] = [{"coop_id": str(f.coop_id), "since": _iso(f.created_at)}
                               for f in session.scalars(select(FanSharing).where(FanSharing.user_id == user_id))]
    if aid is not None:
        records["coop_promotion_settings"] = (
            [{"surface": x.surface, "since": _iso(x.created_at)}
             for x in session.scalars(select(PromoSurface).where(PromoSurface.artist_id == aid))]
            + [{"nomination": n.kind, "ref": n.ref, "since": _iso(n.created_at)}
               for n in session.scalars(select(PromoNomination).where(PromoNomination.artist_id == aid))])
    return records


def _promo_erase(session, user_id, aid) -> dict[str, int]:
    """A viewer's impressions and attributions stay counted (the slot's numbers) without naming
    them; their opt-ins go. An artist's surfaces, nominations, and the impressions (with their
    attributions and counters) where they were the host or the promoted artist go."""
    out = {
        "coop_sharing": _run(session, delete(FanSharing).where(FanSharing.user_id == user_id)),
        "coop_promotion_attributions_unlinked": _run(session, update(PromoAttribution)
                                                     .where(PromoAttribution.fan_id == user_id).values(fan_id=None)),
        "coop_promotion_impressions_unlinked": _run(session, update(PromoImpression)
                                                    .where(PromoImpression.viewer_id == user_id)
                                                    .values(viewer_id=None, dedupe=None)),
    }
    if aid is not None:
        out["coop_promotion_surfaces"] = _run(session, delete(PromoSurface).where(PromoSurface.artist_id == aid))
        out["coop_promotion_nominations"] = _run(session, delete(PromoNomination)
                                                 .where(PromoNomination.artist_id == aid))
        mine = PromoImpression.host_artist_id == aid
        theirs = PromoImpression.promoted_artist_id == aid
        _run(session, delete(PromoAttribution).where(PromoAttribution.impression_id.in_(
            select(PromoImpression.id).where(mine | theirs))))
        out["coop_promotion_impressions"] = _run(session, delete(PromoImpression).where(mine | theirs))
        _run(session, delete(PromoCounter).where((PromoCounter.host_artist_id == aid)
                                                 | (PromoCounter.promoted_artist_id == aid)))
    return out
