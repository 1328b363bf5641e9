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
    assert r.status_code == 401
    tok = _token(mc_client, fan, ["profile:write", "privacy:export"])
    r = mc_client.post("/api/v1/privacy/erasure", headers=tok, json={"password": fan.password})
    assert r.status_code == 403
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
    r = mc_client.post(f"/api/v1/privacy/admin/users/{fan.id}/erasure", headers=mc_users.admin.headers)
    assert r.status_code == 200, r.text
    assert mc_client.get("/api/v1/me", headers=fan.headers).status_code == 401
    assert mc_client.post(f"/api/v1/privacy/admin/users/{fan.id}/erasure",
                          headers=mc_users.admin.headers).status_code == 404
