"""The key test of the erasure (issue 18): with every bundled plugin enabled, a listener who
touched every plugin (the demo's superfan: plays, posts, comments, DMs, subscriptions, parties,
notifications, follows, downloads, feed events, consents) and an artist who leaves (the demo's
Nova Lane, whose tracks' media lie in storage) are erased; then EVERY table of the database
(reflected: every text and JSON column read as text) and the object store (every key, and the
content of the small objects) are scanned for their emails, names and ids. Nothing may be found
but what the plugins' erasure reports say they keep (``Retained``), in those plugins' tables.
"""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import MetaData, String, Text, cast, select
from sqlalchemy.types import JSON, NullType, Uuid

#: plugins whose erase_user_data part had not landed when this test was written: their tables
#: are left out of the scan until they have (the lead removes entries as parts arrive)
MISSING_PARTS: frozenset[str] = frozenset()

#: table name prefix -> plugin (tables of the core have no plugin prefix)
PLUGINS = ("streaming", "billing", "fanclub", "live", "notify", "analytics", "ai", "moderation", "privacy", "coop")


@pytest.fixture
def mc_plugins():
    return None  # every installed plugin


def _plugin_of(table: str) -> str:
    for p in PLUGINS:
        if table.startswith(p + "_"):
            return p
    return "core"


def _needles(platform, user_id: uuid.UUID) -> dict[str, str]:
    from musicconnect.models import Artist, User

    with platform.read() as s:
        u = s.get(User, user_id)
        out = {"email": u.email, "display_name": u.display_name, "id": str(u.id), "id-hex": u.id.hex}
        a = s.scalar(select(Artist).where(Artist.user_id == user_id))
        if a is not None:
            out.update({"artist_name": a.name, "artist_slug": a.slug, "artist_id": str(a.id), "artist_id-hex": a.id.hex})
    return out


def _scan_db(platform, needles: dict[str, str]) -> dict[tuple[str, str], set[str]]:
    engine = platform.db.engine
    md = MetaData()
    md.reflect(bind=engine)
    hits: dict[tuple[str, str], set[str]] = {}
    low = {k: v.lower() for k, v in needles.items()}
    with engine.connect() as conn:
        for table in md.sorted_tables:
            cols = [cast(c, Text).label(c.name) for c in table.columns
                    if isinstance(c.type, (String, Text, JSON, Uuid)) or type(c.type) is NullType]
            if not cols:
                continue
            for row in conn.execute(select(*cols)):
                for name, value in row._mapping.items():
                    if value is None:
                        continue
                    text = str(value).lower()
                    for what, needle in low.items():
                        if needle in text:
                            hits.setdefault((table.name, name), set()).add(what)
    return hits


def _all_keys(platform) -> list[str]:
    """Every object of the store (local disk: every file under the root; S3: the whole bucket)."""
    st = platform.storage
    if st.backend == "local":
        return sorted(p.relative_to(st.root).as_posix() for p in st.root.rglob("*")
                      if p.is_file() and not p.name.startswith(".tmp-"))
    return sorted(o["Key"] for page in st.client.get_paginator("list_objects_v2").paginate(Bucket=st.bucket)
                  for o in page.get("Contents", []))


def _scan_storage(platform, needles: dict[str, str]) -> dict[str, set[str]]:
    hits: dict[str, set[str]] = {}
    for key in _all_keys(platform):
        found = {w for w, n in needles.items() if n.lower() in key.lower()}
        if not key.endswith((".ts", ".m4s", ".mp3", ".aac", ".wav", ".flac", ".opus", ".png", ".jpg", ".webp")):
            data = platform.storage.get_bytes(key)
            if len(data) < 1 << 20:
                text = data.decode("utf-8", "replace").lower()
                found |= {w for w, n in needles.items() if n.lower() in text}
        if found:
            hits[key] = found
    return hits


def _moderation_data(p, client, fan_id, artist_id, artist_headers) -> None:
    """Moderation rows about both: an abuse case, flag and quarantine of the fan; a copyright
    notice against the artist's track and the artist's counter-notice (legal name, address, phone)."""
    from musicconnect.models import Artist, ContentItem
    from musicconnect_moderation import abuse

    with p.session() as s:
        abuse.record(p, s, "play.counted", fan_id, "play-rate", "200 plays in an hour", 0.9,
                     {"plays_per_hour": 200, "session_id": "s-1"}, subject_id="s-1", quarantine=True)
        aid = s.scalar(select(Artist.id).where(Artist.user_id == artist_id))
        track = s.scalar(select(ContentItem.id).where(ContentItem.artist_id == aid, ContentItem.kind == "track")
                         .order_by(ContentItem.id).limit(1))
    r = client.post("/api/v1/moderation/dmca/notices", json={
        "signature": "Rita Rights", "copyrighted_work": "My song (2019)", "infringing_material": [str(track)],
        "complainant_name": "Rita Rights", "complainant_address": "1 Main St, Springfield",
        "complainant_phone": "+1 555 0100", "complainant_email": "rita@example.org", "good_faith": True,
        "accurate_under_penalty": True})
    assert r.status_code == 201, r.text
    r = client.post(f"/api/v1/moderation/dmca/notices/{r.json()['id']}/counter", headers=artist_headers, json={
        "signature": "Nova Lane", "material": "my track, before removal", "good_faith_mistake": True,
        "name": "Nova Lane", "address": "4 Rue des Lilas, Paris", "phone": "+33 1 23 45 67 89",
        "consent_jurisdiction": True, "accept_service": True})
    assert r.status_code == 201, r.text


def test_privacy_erasure_leaves_nothing_but_what_is_retained(mc_platform, mc_client):
    from musicconnect.models import User
    from musicconnect.seed import seed_demo
    from musicconnect_privacy.erasure import erase

    p = mc_platform
    demo = seed_demo(p)
    p.jobs.wait_idle()
    fan_id, artist_id = demo.superfan.id, demo.artist.id
    with p.session() as s:
        fan_headers = {"Authorization": f"Bearer {p.tokens.issue_access(s.get(User, fan_id))}"}
        artist_headers = {"Authorization": f"Bearer {p.tokens.issue_access(s.get(User, artist_id))}"}
    # a consent and an export of their own
    for h in (fan_headers, artist_headers):
        assert mc_client.put("/api/v1/privacy/consents/marketing_email", headers=h, json={"granted": True}).status_code == 200
        assert mc_client.post("/api/v1/privacy/exports", headers=h).status_code == 202
    _moderation_data(p, mc_client, fan_id, artist_id, artist_headers)
    p.jobs.wait_idle()
    needles = {f"fan-{k}": v for k, v in _needles(p, fan_id).items()}
    needles.update({f"artist-{k}": v for k, v in _needles(p, artist_id).items()})

    before = _scan_db(p, needles)
    assert any(t.startswith("fanclub_") for t, _ in before) and any(t.startswith("streaming_") for t, _ in before)
    keys_before = _all_keys(p)
    assert keys_before, "the demo's tracks have media in storage"

    retained_by: dict[str, list[dict]] = {}
    for uid in (fan_id, artist_id):
        receipt = erase(p, uid)
        for r in receipt["retained"]:
            retained_by.setdefault(r["plugin"], []).append(r)
    p.jobs.wait_idle()

    hits = _scan_db(p, needles)
    unexplained = {(t, c): sorted(w) for (t, c), w in hits.items()
                   if _plugin_of(t) not in retained_by and _plugin_of(t) not in MISSING_PARTS}
    assert not unexplained, (f"erased people still found in the database: {unexplained}; "
                             f"retained records are declared by {sorted(retained_by)}")
    # what a plugin keeps and says why: it names no email, no name (ids may stay, e.g. invoices)
    for (t, c), w in hits.items():
        if _plugin_of(t) in retained_by:
            assert not {x for x in w if x.endswith(("email", "display_name", "artist_name"))}, (t, c, w)

    objects = _scan_storage(p, needles)
    assert not objects, f"erased people still found in the object store: {objects}"
    assert len(_all_keys(p)) < len(keys_before), "the artist's media were deleted"
    with p.read() as s:
        assert s.get(User, fan_id) is None and s.get(User, artist_id) is None
