"""The privacy plugin through the HTTP API: consents, the data export, erasure."""
from __future__ import annotations

import io
import json
import uuid
import zipfile

import httpx

from musicconnect.testing import concurrently


def _token(client, user, scopes):
    r = client.post("/api/v1/me/tokens", headers=user.headers, json={"name": "t", "scopes": scopes})
    assert r.status_code in (200, 201), r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


# ---------------------------------------------------------------- consents

def test_privacy_terms_recorded_at_signup_and_consents_history(mc_client, mc_users):
    fan = mc_users.fan
    body = mc_client.get("/api/v1/privacy/consents", headers=fan.headers).json()
    terms = next(c for c in body["current"] if c["purpose"] == "terms")
    assert terms["granted"] is True and terms["version"] == "1"
    assert [h["source"] for h in body["history"]] == ["sign-up"]

    r = mc_client.put("/api/v1/privacy/consents/marketing_email", headers=fan.headers, json={"granted": True})
    assert r.status_code == 200
    r = mc_client.put("/api/v1/privacy/consents/marketing_email", headers=fan.headers, json={"granted": False})
    body = r.json()
    assert next(c for c in body["current"] if c["purpose"] == "marketing_email")["granted"] is False
    assert [(h["purpose"], h["granted"]) for h in body["history"]] == [
        ("terms", True), ("marketing_email", True), ("marketing_email", False)]

    r = mc_client.put("/api/v1/privacy/consents/terms", headers=fan.headers, json={"granted": False})
    assert r.status_code == 409 and r.json()["type"].endswith("/terms-withdrawal")
    assert mc_client.put("/api/v1/privacy/consents/nope", headers=fan.headers, json={"granted": True}).status_code == 404
    assert mc_client.get("/api/v1/privacy/consents").status_code == 401
    # a third party's token with profile:write cannot give or withdraw a consent for the person
    tok = _token(mc_client, fan, ["profile:read", "profile:write"])
    r = mc_client.put("/api/v1/privacy/consents/marketing_email", headers=tok, json={"granted": True})
    assert r.status_code == 403 and r.json()["type"].endswith("/insufficient-scope"), r.text
    current = mc_client.get("/api/v1/privacy/consents", headers=tok).json()["current"]
    assert next(c for c in current if c["purpose"] == "marketing_email")["granted"] is False


# ---------------------------------------------------------------- export

def _wait_ready(platform, client, user):
    platform.jobs.wait_idle()
    rows = client.get("/api/v1/privacy/exports", headers=user.headers).json()
    return rows


def test_privacy_export_zip_has_manifest_readme_and_records(mc_platform, mc_client, mc_users):
    fan = mc_users.fan
    mc_client.put("/api/v1/privacy/consents/push", headers=fan.headers, json={"granted": True})
    r = mc_client.post("/api/v1/privacy/exports", headers=fan.headers)
    assert r.status_code == 202, r.text
    eid = r.json()["id"]
    rows = _wait_ready(mc_platform, mc_client, fan)
    assert rows[0]["id"] == eid and rows[0]["status"] == "ready" and rows[0]["progress"] == 1.0

    # only its owner gets a link
    other = mc_users.make()
    assert mc_client.get(f"/api/v1/privacy/exports/{eid}/download", headers=other.headers).status_code == 404
    link = mc_client.get(f"/api/v1/privacy/exports/{eid}/download", headers=fan.headers).json()["url"]
    # local disk: the app serves /media/...; S3: the link is the object store's own (presigned)
    got = (mc_client.get(httpx.URL(link).raw_path.decode()) if mc_platform.storage.backend == "local"
           else httpx.get(link, timeout=30))
    assert got.status_code == 200
    zf = zipfile.ZipFile(io.BytesIO(got.content))
    names = set(zf.namelist())
    assert {"README.txt", "manifest.json", "privacy/consents.json"} <= names
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["user_id"] == str(fan.id) and manifest["format_version"] == 1
    consents = json.loads(zf.read("privacy/consents.json"))
    assert [c["purpose"] for c in consents] == ["terms", "push"]
    entry = manifest["plugins"]["privacy"]
    assert entry["records"]["consents"] == 2
    import hashlib
    for f in entry["files"]:
        data = zf.read(f["path"])
        assert hashlib.sha256(data).hexdigest() == f["sha256"] and len(data) == f["size"]
    assert "consents:" in zf.read("README.txt").decode()


def test_privacy_export_one_at_a_time_and_daily_limit(mc_make_platform, mc_users, mc_client):
    platform = mc_users.platform
    fan = mc_users.fan
    # a concurrent burst: one export is queued, the others hear 409
    results = concurrently(4, lambda i: mc_client.post("/api/v1/privacy/exports", headers=fan.headers).status_code)
    assert sorted(results) == [202, 409, 409, 409]
    platform.jobs.wait_idle()
    assert mc_client.post("/api/v1/privacy/exports", headers=fan.headers).status_code == 202
    platform.jobs.wait_idle()
    assert mc_client.post("/api/v1/privacy/exports", headers=fan.headers).status_code == 202
    platform.jobs.wait_idle()
    r = mc_client.post("/api/v1/privacy/exports", headers=fan.headers)
    assert r.status_code == 429 and r.json()["type"].endswith("/export-limit")


def test_privacy_export_scope_and_expiry(mc_platform, mc_client, mc_users, mc_clock):
    fan = mc_users.fan
    assert mc_client.post("/api/v1/privacy/exports", headers=_token(mc_client, fan, ["profile:read"])).status_code == 403
    r = mc_client.post("/api/v1/privacy/exports", headers=_token(mc_client, fan, ["privacy:export"]))
    assert r.status_code == 202
    eid = r.json()["id"]
    mc_platform.jobs.wait_idle()
    from musicconnect_privacy.exports import Export

    with mc_platform.read() as s:
        key = s.get(Export, uuid.UUID(eid)).storage_key
    assert mc_platform.storage.exists(key)
    mc_clock.advance(days=8)
    fan.renew(mc_platform)
    mc_platform.jobs.enqueue("privacy.expire_exports")
    mc_platform.jobs.wait_idle()
    assert not mc_platform.storage.exists(key)
    r = mc_client.get(f"/api/v1/privacy/exports/{eid}/download", headers=fan.headers)
    assert r.status_code == 409 and r.json()["type"].endswith("/export-not-ready")


# ---------------------------------------------------------------- erasure

def test_privacy_erasure_needs_password_and_session(mc_platform, mc_client, mc_users):
    fan = mc_users.fan
    r = mc_client.post("/api/v1/privacy/erasure", headers=fan.headers, json={"password": "wrong-password"})
    # 403, not 401: a 401 makes the app refresh its session and send the wrong password again
    assert r.status_code == 403 and r.json()["type"].endswith("/wrong-password"), r.text
    tok = _token(mc_client, fan, ["profile:write", "privacy:export"])
    r = mc_client.post("/api/v1/privacy/erasure", headers=tok, json={"password": fan.password})
    assert r.status_code == 403
    assert mc_client.get("/api/v1/me", headers=fan.headers).status_code == 200
    # five tries an hour, then even the right password waits (a business limit, not the API's)
    for _ in range(4):
        assert mc_client.post("/api/v1/privacy/erasure", headers=fan.headers,
                              json={"password": "wrong-password"}).status_code == 403
    r = mc_client.post("/api/v1/privacy/erasure", headers=fan.headers, json={"password": fan.password})
    assert r.status_code == 429 and r.json()["type"].endswith("/erasure-attempts") and r.headers["Retry-After"], r.text
    assert mc_client.get("/api/v1/me", headers=fan.headers).status_code == 200


def test_privacy_erasure_deletes_account_tokens_and_leaves_a_receipt(mc_platform, mc_client, mc_users):
    fan = mc_users.fan
    tok = _token(mc_client, fan, ["profile:read"])
    mc_client.post("/api/v1/privacy/exports", headers=fan.headers)
    mc_platform.jobs.wait_idle()
    from musicconnect_privacy.erasure import Erasure
    from musicconnect_privacy.exports import Export
    from musicconnect.models import User

    with mc_platform.read() as s:
        key = s.scalar(__import__("sqlalchemy").select(Export.storage_key).where(Export.user_id == fan.id))
    assert mc_platform.storage.exists(key)

    r = mc_client.post("/api/v1/privacy/erasure", headers=fan.headers, json={"password": fan.password})
    assert r.status_code == 200, r.text
    receipt = r.json()["receipt"]
    mc_platform.jobs.wait_idle()
    assert not mc_platform.storage.exists(key)
    assert mc_client.get("/api/v1/me", headers=fan.headers).status_code == 401
    assert mc_client.get("/api/v1/me", headers=tok).status_code == 401
    assert mc_client.post("/api/v1/auth/refresh", json={"refresh_token": fan.refresh_token}).status_code in (401, 400)
    r = mc_client.post("/api/v1/auth/login", json={"email": fan.email, "password": fan.password})
    assert r.status_code == 401
    with mc_platform.read() as s:
        assert s.get(User, fan.id) is None
        rec = s.scalar(__import__("sqlalchemy").select(Erasure).where(Erasure.receipt == receipt))
        assert rec is not None and not rec.by_admin
        text = json.dumps({"erased": rec.erased, "retained": rec.retained})
        assert str(fan.id) not in text and fan.email not in text


def test_privacy_admin_erasure(mc_platform, mc_client, mc_users):
    fan = mc_users.fan
    assert mc_client.post(f"/api/v1/privacy/admin/users/{fan.id}/erasure",
                          headers=mc_users.artist.headers).status_code == 403
    # an admin's API token (even with the admin scope) cannot erase anyone: a signed-in admin only
    admin_token = _token(mc_client, mc_users.admin, ["admin"])
    r = mc_client.post(f"/api/v1/privacy/admin/users/{fan.id}/erasure", headers=admin_token)
    assert r.status_code == 403 and r.json()["type"].endswith("/insufficient-scope"), r.text
    assert mc_client.get("/api/v1/me", headers=fan.headers).status_code == 200
    r = mc_client.post(f"/api/v1/privacy/admin/users/{fan.id}/erasure", headers=mc_users.admin.headers)
    assert r.status_code == 200, r.text
    from sqlalchemy import select

    from musicconnect_privacy.erasure import Erasure

    with mc_platform.read() as s:
        rec = s.scalar(select(Erasure).where(Erasure.receipt == r.json()["receipt"]))
        assert rec.by_admin and rec.admin_id == mc_users.admin.id
    assert mc_client.get("/api/v1/me", headers=fan.headers).status_code == 401
    assert mc_client.post(f"/api/v1/privacy/admin/users/{fan.id}/erasure",
                          headers=mc_users.admin.headers).status_code == 404


# ---------------------------------------------------------------- a stuck export does not block the next one

def _stuck_export(platform, user_id, *, job_state: str | None, silent_for: float = 0, age_days: float = 0):
    """An export row holding the person's slot, with its job in ``job_state`` (``None``: no job
    row at all, as after a lost message) last heard of ``silent_for`` seconds ago."""
    from datetime import timedelta

    from musicconnect.models import Job
    from musicconnect_privacy.exports import Export

    now = platform.clock.now()
    eid, jid = uuid.uuid4(), uuid.uuid4()
    with platform.session() as s:
        if job_state is not None:
            s.add(Job(id=jid, actor="privacy.build_export", state=job_state, args={"export_id": str(eid)},
                      created_at=now - timedelta(seconds=silent_for), updated_at=now - timedelta(seconds=silent_for)))
            s.flush()
        s.add(Export(id=eid, user_id=user_id, status="running", active_key=str(user_id), job_id=jid,
                     created_at=now - timedelta(days=age_days)))
    return eid


def test_privacy_a_stuck_export_does_not_block_the_next(mc_platform, mc_client, mc_users):
    from musicconnect_privacy.exports import Export

    fan, artist, admin = mc_users.fan, mc_users.artist, mc_users.admin
    stuck = {
        fan.id: _stuck_export(mc_platform, fan.id, job_state="failed", silent_for=5),  # its job gave up
        # killed by the time limit: "running" and silent for longer than the limit and the lease
        artist.id: _stuck_export(mc_platform, artist.id, job_state="running", silent_for=2 * 3600, age_days=1.5),
    }
    for user in (fan, artist):
        r = mc_client.post("/api/v1/privacy/exports", headers=user.headers)
        assert r.status_code == 202, r.text
    mc_platform.jobs.wait_idle()
    with mc_platform.read() as s:
        for uid, eid in stuck.items():
            old = s.get(Export, eid)
            assert old.status == "failed" and old.active_key is None and old.finished_at is not None
            new = s.scalar(__import__("sqlalchemy").select(Export).where(Export.user_id == uid, Export.id != eid))
            assert new.status == "ready" and new.storage_key
    # a lost message (no job row at all) frees the slot too
    other = mc_users.make("fan")
    _stuck_export(mc_platform, other.id, job_state=None)
    assert mc_client.post("/api/v1/privacy/exports", headers=other.headers).status_code == 202
    mc_platform.jobs.wait_idle()
    # alive: running and heard of a moment ago -> still one at a time
    _stuck_export(mc_platform, admin.id, job_state="running", silent_for=5)
    r = mc_client.post("/api/v1/privacy/exports", headers=admin.headers)
    assert r.status_code == 409 and r.json()["type"].endswith("/export-in-progress")
    with mc_platform.session() as s:  # (let the fixture's worker stop: nothing is really running)
        s.execute(__import__("sqlalchemy").text("UPDATE jobs SET state = 'failed' WHERE state = 'running'"))


def test_privacy_export_time_limit_is_recorded_on_the_export(mc_platform, mc_client, mc_users):
    """A BaseException (dramatiq's TimeLimitExceeded) on any attempt marks the export failed and frees the slot."""
    from types import SimpleNamespace

    from musicconnect_privacy.exports import Export, build_export

    class TimeLimitExceeded(BaseException):
        pass

    def progress(*a):
        raise TimeLimitExceeded()

    eid = uuid.uuid4()
    fan = mc_users.fan
    with mc_platform.session() as s:
        s.add(Export(id=eid, user_id=fan.id, status="queued", active_key=str(fan.id), created_at=mc_platform.clock.now()))
    ctx = SimpleNamespace(platform=mc_platform, attempt=1, progress=progress)
    try:
        build_export(ctx, str(eid))
    except TimeLimitExceeded:
        pass
    else:
        raise AssertionError("the time limit was swallowed")
    with mc_platform.read() as s:
        exp = s.get(Export, eid)
        assert exp.status == "failed" and exp.active_key is None and exp.message == "TimeLimitExceeded"
    assert mc_client.post("/api/v1/privacy/exports", headers=fan.headers).status_code == 202


def test_privacy_build_export_of_an_erased_export_deletes_its_archive(mc_platform):
    """An attempt that finds the export row gone (erased between attempts) deletes what an
    earlier attempt uploaded."""
    from types import SimpleNamespace

    from musicconnect_privacy.exports import ARCHIVE, build_export, prefix

    eid = uuid.uuid4()
    key = f"{prefix(eid)}/{ARCHIVE}"
    getattr(mc_platform.storage, "ensure_bucket", lambda: None)()  # S3 (the distributed run): no app started
    mc_platform.storage.put_bytes(key, b"PK an earlier attempt's archive", "application/zip")
    assert mc_platform.storage.exists(key)
    assert build_export(SimpleNamespace(platform=mc_platform, attempt=2, progress=lambda *a: None), str(eid)) == {}
    assert not mc_platform.storage.exists(key)
