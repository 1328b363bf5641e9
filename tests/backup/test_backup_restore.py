"""`musicconnect backup` / `restore` end to end: a deployment with a gated, transcoded track, a fan
with an entitlement and play history is backed up while its platform runs, restored into an
empty deployment (new data dir; new PostgreSQL database and S3 bucket in the distributed pass),
and served: the fan still plays the track (playlist -> key -> segment) and sees their history."""
from __future__ import annotations

import json
import re
import subprocess

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from starlette.testclient import TestClient

from backup_helpers import one_line_error, run
from helpers import free_port, serve_process, wait_ready
from musicconnect.app import create_app
from musicconnect.testing import make_user

pytestmark = pytest.mark.slow


def _seed(p, mc_clock, tmp_path) -> dict:
    """An artist with a Supporter-only track (transcoded), a fan comped to Supporter who played it."""
    from musicconnect_streaming import media

    artist = make_user(p, "artist", artist_name="Backup Band")
    fan = make_user(p, "fan")
    wav = tmp_path / "tone.wav"
    media.generated_tone(wav, 8)
    with TestClient(create_app(p)) as client:
        sup = next(t for t in p.access.tiers(artist.artist_id) if t.key == "supporter")
        with open(wav, "rb") as fh:
            r = client.post(f"/api/v1/streaming/artists/{artist.artist_id}/tracks", headers=artist.headers,
                            files={"file": ("night.wav", fh, "application/octet-stream")},
                            data={"title": "Night Drive", "visibility": "tier", "required_tier_id": str(sup.id)})
        assert r.status_code == 202, r.text
        tid = r.json()["id"]
        p.jobs.wait_idle(180)
        assert client.get(f"/api/v1/streaming/tracks/{tid}", headers=artist.headers).json()["status"] == "ready"
        r = client.post(f"/api/v1/artists/{artist.artist_id}/comps", headers=artist.headers,
                        json={"email": fan.email, "tier_id": str(sup.id)})
        assert r.status_code in (200, 201), r.text
        sid = client.post("/api/v1/streaming/plays", headers=fan.headers, json={"track_id": tid}).json()["session_id"]
        mc_clock.advance(seconds=8)
        r = client.post(f"/api/v1/streaming/plays/{sid}", headers=fan.headers, json={"event": "complete", "position": 8})
        assert r.json()["counted"] and r.json()["completed"], r.text
        history = client.get("/api/v1/fanclub/me/wrapped/2026-06", headers=fan.headers).json()
    assert history["plays"] == 1 and history["top_tracks"][0]["title"] == "Night Drive"
    return {"track": tid, "fan": fan, "history": history}


def _login(base: str, email: str, password: str) -> dict:
    r = httpx.post(f"{base}/api/v1/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _key(base: str, tid: str, headers: dict) -> tuple[httpx.Response, str, str]:
    """master playlist -> first variant -> its key; returns (key response, IV hex, first segment URL)."""
    m = httpx.get(f"{base}/api/v1/streaming/tracks/{tid}/master.m3u8", headers=headers)
    assert m.status_code == 200, m.text
    uri = next(ln for ln in m.text.splitlines() if ln and not ln.startswith("#"))
    v = httpx.get(f"{base}/api/v1/streaming/tracks/{tid}/{uri}", headers=headers)
    assert v.status_code == 200, v.text
    key_uri, iv = re.search(r'#EXT-X-KEY:METHOD=AES-128,URI="([^"]+)",IV=0x([0-9a-f]{32})', v.text).groups()
    seg_url = next(ln for ln in v.text.splitlines() if ln and not ln.startswith("#"))
    return httpx.get(f"{base}/api/v1/streaming/tracks/{tid}/{key_uri[3:]}", headers=headers), iv, seg_url


def _play_first_segment(base: str, tid: str, headers: dict) -> bytes:
    """master playlist -> variant -> key -> first segment, decrypted (MPEG-TS)."""
    key, iv, seg_url = _key(base, tid, headers)
    assert key.status_code == 200 and len(key.content) == 16, key.text
    seg = httpx.get(seg_url, timeout=10)
    assert seg.status_code == 200, (seg_url, seg.text[:200])
    d = Cipher(algorithms.AES(key.content), modes.CBC(bytes.fromhex(iv))).decryptor()
    clear = d.update(seg.content) + d.finalize()
    return clear[: -clear[-1]]


def test_restore_into_empty_deployment_fan_still_plays_gated_track_and_sees_history(
        mc_platform, mc_clock, source_env, empty_deployment, tmp_path):
    seeded = _seed(mc_platform, mc_clock, tmp_path)
    dest = tmp_path / "backups"
    # backed up while the source platform is open (SQLite: the online backup API; PostgreSQL: pg_dump)
    out = run(source_env, "backup", str(dest), "--include-secret").stdout
    assert "database: dumping" in out and "backup set" in out
    (set_dir,) = [p for p in dest.iterdir() if p.name != "objects"]
    manifest = json.loads((set_dir / "manifest.json").read_text())
    assert manifest["database"]["dialect"] == mc_platform.db.dialect
    assert manifest["schema"]["core"] and "streaming" in manifest["plugins"]
    keys = manifest["storage"]["objects"]
    assert any(k.startswith(f"tracks/{seeded['track']}/") and k.endswith(".ts") for k in keys), sorted(keys)
    assert manifest["stats"]["copied"] == len({o["sha256"] for o in keys.values()})
    assert run(source_env, "backup", "verify", str(set_dir)).stdout.strip().endswith(
        f"{len(keys)} objects, made {manifest['created_at']} by MusicConnect {manifest['version']}; "
        f"authenticated with this deployment's signing key)")
    listed = json.loads(run(source_env, "backup", "list", str(dest), "--json").stdout)
    assert [r["set"] for r in listed] == [set_dir.name] and listed[0]["objects"] == len(keys)

    target = empty_deployment()
    restored = run(target, "restore", str(set_dir), "--yes").stdout
    assert "signing key installed" in restored and f"objects: {len(keys)} uploaded" in restored
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = serve_process(target, port)
    try:
        wait_ready(proc, base)
        fan = _login(base, seeded["fan"].email, seeded["fan"].password)
        clear = _play_first_segment(base, seeded["track"], fan)
        assert clear[0] == 0x47 and clear[188] == 0x47  # MPEG-TS: the restored key decrypts the restored segment
        history = httpx.get(f"{base}/api/v1/fanclub/me/wrapped/2026-06", headers=fan).json()
        assert history["plays"] == 1 and history["minutes"] == seeded["history"]["minutes"]
        assert history["top_tracks"] == seeded["history"]["top_tracks"]
        assert [t["tier"] for t in history["support"]["tiers"]] == ["Supporter"]
        ents = httpx.get(f"{base}/api/v1/me/entitlements", headers=fan).json()
        assert any(e["source"] == "comp" for e in ents), ents
        # a fan without the tier still gets the playlists but never the key
        r = httpx.post(f"{base}/api/v1/auth/register", json={"email": "new@example.com", "password": "a-long-passphrase"})
        assert r.status_code == 201, r.text
        other = _login(base, "new@example.com", "a-long-passphrase")
        key = _key(base, seeded["track"], other)[0]
        assert key.status_code == 403 and key.json()["type"] == "/problems/tier-required", key.text
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
    # the restored deployment is not empty any more: a second restore is refused, nothing written
    line = one_line_error(run(target, "restore", str(set_dir), "--yes", ok=False))
    assert "the target database is not empty" in line
