"""The moderation plugin's part of a person's data export and erasure (GDPR; review finding H2):
an uploader who received a copyright notice and sent a counter-notice (legal name, postal address,
phone), a listener with an abuse case, flags and a quarantine. The export holds all of it; after
the erasure no moderation table names them (ids, email, names, the counter-notice's contact), the
record that the platform acted stays (the notice, the cases, the audit lines, anonymised)."""
from __future__ import annotations

import uuid

from sqlalchemy import MetaData, Text, cast, select

NOTICES = "/api/v1/moderation/dmca/notices"
COUNTER = {"signature": "Gwendolyn Q. Uploader", "material": "My post, before removal",
           "good_faith_mistake": True, "name": "Gwendolyn Q. Uploader", "address": "77 Elmwood Lane, Portland, OR",
           "phone": "+1 555 0177", "consent_jurisdiction": True, "accept_service": True}


def _setup(mc_client, mc_users, mc_platform):
    from musicconnect_moderation import abuse

    artist, fan = mc_users.artist, mc_users.fan
    r = mc_client.post(f"/api/v1/artists/{artist.artist_id}/content", headers=artist.headers,
                       json={"kind": "post", "title": "Borrowed Tune", "data": {"body": "la la"}})
    assert r.status_code == 201, r.text
    item = r.json()["id"]
    r = mc_client.post(NOTICES, json={
        "signature": "Rita Rights", "copyrighted_work": "My song (2019)",
        "infringing_material": [f"https://music.example.com/content/{item}"], "complainant_name": "Rita Rights",
        "complainant_address": "1 Main St, Springfield", "complainant_phone": "+1 555 0100",
        "complainant_email": "rita@example.org", "good_faith": True, "accurate_under_penalty": True})
    assert r.status_code == 201, r.text
    notice = r.json()["id"]
    r = mc_client.post(f"{NOTICES}/{notice}/counter", headers=artist.headers, json=COUNTER)
    assert r.status_code == 201, r.text
    with mc_platform.session() as s:
        abuse.record(mc_platform, s, "play.counted", fan.id, "play-rate", "200 plays in an hour", 0.9,
                     {"plays_per_hour": 200, "address": "a1b2c3", "session_id": "sess-1"}, subject_id="sess-1",
                     quarantine=True)
        abuse.record(mc_platform, s, "dm.sent", fan.id, "message-burst", "12 messages within a minute", 0.8, {})
    return notice


def _parts(platform, user_id, what):
    from musicconnect.models import User

    with platform.session() as s:
        user = s.get(User, user_id)
        return dict(getattr(platform, what)(s, user))


def _scan(platform, needles):
    md = MetaData()
    md.reflect(bind=platform.db.engine)
    hits = set()
    with platform.db.engine.connect() as conn:
        for table in md.sorted_tables:
            if not table.name.startswith("moderation_"):
                continue
            for row in conn.execute(select(*(cast(c, Text).label(c.name) for c in table.columns))):
                for col, value in row._mapping.items():
                    for needle in needles:
                        if value is not None and needle.lower() in str(value).lower():
                            hits.add((table.name, col, needle))
    return hits


def test_the_export_holds_the_persons_cases_strikes_counter_notices_and_flags(mc_client, mc_users, mc_platform):
    notice = _setup(mc_client, mc_users, mc_platform)
    artist = _parts(mc_platform, mc_users.artist.id, "export_user_data")["moderation"].records
    assert [c["address"] for c in artist["counter_notices"]] == [COUNTER["address"]]
    assert artist["counter_notices"][0]["phone"] == COUNTER["phone"]
    assert {c["kind"] for c in artist["cases"]} >= {"dmca-notice", "dmca-counter"}
    assert [n["id"] for n in artist["notices"]] == [notice]
    assert "complainant_email" not in artist["notices"][0]  # another person's contact
    assert all("forward_to" not in c["data"] for c in artist["cases"])
    assert any(a["action"] == "dmca.counter-received" and a["by_you"] for a in artist["audit"])
    assert len(artist["strikes"]) == len([a for a in artist["audit"] if a["action"] == "dmca.strike"])
    fan = _parts(mc_platform, mc_users.fan.id, "export_user_data")["moderation"].records
    assert [c["reason"] for c in fan["cases"]] == ["play-rate"]
    assert sorted(f["reason"] for f in fan["abuse_flags"]) == ["message-burst", "play-rate"]
    assert fan["quarantine"][0]["reason"] == "play-rate"
    assert fan["counter_notices"] == [] and fan["strikes"] == []
    admin = _parts(mc_platform, mc_users.admin.id, "export_user_data")
    assert admin.get("moderation") is None  # holds nothing about them


def test_the_erasure_leaves_no_trace_of_the_person_in_moderation_tables(mc_client, mc_users, mc_platform):
    from musicconnect_moderation.abuse import Quarantine, state
    from musicconnect_moderation.cases import AuditEntry, Case
    from musicconnect_moderation.dmca import Notice

    notice = _setup(mc_client, mc_users, mc_platform)
    artist, fan = mc_users.artist, mc_users.fan
    with mc_platform.read() as s:
        names = {u.id: (u.email, u.display_name) for u in (s.get(__import__("musicconnect.models").models.User, x)
                                                             for x in (artist.id, fan.id))}
    needles = [str(artist.id), artist.id.hex, str(artist.artist_id), artist.artist_id.hex, str(fan.id), fan.id.hex,
               artist.email, fan.email, COUNTER["name"], COUNTER["address"], COUNTER["phone"]]
    needles += [n for _e, n in names.values() if n and len(n) >= 3]
    assert {n for _t, _c, n in _scan(mc_platform, needles)} >= {str(fan.id), COUNTER["address"], COUNTER["phone"],
                                                                 COUNTER["name"], str(artist.id)}
    assert str(fan.id) in state(mc_platform).quarantined
    reports = {}
    for uid in (artist.id, fan.id):
        reports[uid] = _parts(mc_platform, uid, "erase_user_data")["moderation"]
    assert reports[artist.id].erased["counter_notices"] == 1 and reports[artist.id].erased["cases"] >= 2
    assert reports[fan.id].erased["abuse_flags"] == 2 and reports[fan.id].erased["quarantine"] == 1
    assert not reports[artist.id].retained and not reports[fan.id].retained
    assert _scan(mc_platform, needles) == set()
    assert str(fan.id) not in state(mc_platform).quarantined
    # the record that the platform acted stays, anonymised
    with mc_platform.read() as s:
        assert s.get(Notice, uuid.UUID(notice)) is not None
        assert s.scalars(select(Quarantine)).all() == []
        kinds = {c.kind: c for c in s.scalars(select(Case))}
        assert {"dmca-notice", "dmca-counter", "abuse"} <= set(kinds)
        assert kinds["abuse"].subject_id == "erased" and kinds["abuse"].data == {"flags": 2}
        assert "counter" not in kinds["dmca-counter"].data
        assert kinds["dmca-counter"].data["forward_to"]["email"] == "rita@example.org"  # the complainant's
        assert s.scalar(select(AuditEntry).where(AuditEntry.action == "dmca.counter-received")) is not None
