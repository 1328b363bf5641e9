"""Security hardening of the streaming plugin (issue 9): atomic download quota, one temp file per
part, anonymous play inflation, private temp space and orphan sweeping, unreleased tracks that
do not leak their existence, route scopes."""
from __future__ import annotations

from helpers import problem
from musicconnect.testing import concurrently


def _superfan_with_downloads(env, n: int):
    superfan = env.tiers["superfan"]
    r = env.client.patch(f"/api/v1/artists/{env.artist.artist_id}/tiers/{superfan.id}", headers=env.artist.headers,
                         json={"perks": {**superfan.perks, "offline_downloads": n}})
    assert r.status_code == 200, r.text
    r = env.client.post(f"/api/v1/artists/{env.artist.artist_id}/comps", headers=env.artist.headers,
                        json={"email": env.fan.email, "tier_id": str(superfan.id)})
    assert r.status_code in (200, 201), r.text


def test_download_quota_holds_under_concurrency(env, audio):
    """Ten simultaneous downloads against a monthly quota of 3: exactly 3 links, 7 times 429."""
    tid = env.ready_track(audio(6))
    _superfan_with_downloads(env, 3)
    url = f"/api/v1/streaming/tracks/{tid}/download"
    codes = concurrently(10, lambda i: env.client.post(url, headers=env.fan.headers).status_code)
    assert sorted(codes) == [200] * 3 + [429] * 7, codes
    problem(env.client.post(url, headers=env.fan.headers), 429, "download-limit")
    from sqlalchemy import func, select

    from musicconnect_streaming.models import Download
    with env.platform.session() as s:
        assert s.scalar(select(func.count()).select_from(Download)) == 3


# ---------------------------------------------------------------- one temp file per part

def _scratch_files(env) -> list:
    root = env.platform.settings.data_dir / "tmp" / "streaming"
    return sorted(p for p in root.rglob("*")) if root.exists() else []


def _shared_tmp_uploads() -> set:
    import glob
    import tempfile

    return set(glob.glob(f"{tempfile.gettempdir()}/mc-upload-*"))


def test_duplicated_file_part_is_refused_and_leaves_no_temp_file(env, audio):
    before, shared = _scratch_files(env), _shared_tmp_uploads()
    data = audio(6).read_bytes()
    r = env.client.post(f"/api/v1/streaming/artists/{env.artist.artist_id}/tracks", headers=env.artist.headers,
                        files=[("file", ("a.flac", data, "audio/flac")), ("file", ("b.flac", data, "audio/flac")),
                               ("file", ("c.flac", data, "audio/flac"))])
    body = problem(r, 422, "validation")
    assert "'file'" in body["detail"]
    assert _scratch_files(env) == before and _shared_tmp_uploads() == shared
    with open(audio(6), "rb") as fh:  # the same for a replacement
        tid = env.ready_track(audio(6))
        r = env.client.post(f"/api/v1/streaming/tracks/{tid}/audio", headers=env.artist.headers,
                            files=[("file", ("a.flac", fh.read(), "audio/flac")), ("file", ("b.flac", data, "audio/flac"))])
    problem(r, 422, "validation")
    assert _scratch_files(env) == before and _shared_tmp_uploads() == shared
    from sqlalchemy import func, select

    from musicconnect.models import ContentItem
    with env.platform.session() as s:
        assert s.scalar(select(func.count()).select_from(ContentItem)) == 1  # the ready track only


# ---------------------------------------------------------------- anonymous play inflation

def _anonymous_play(env, tid, client_id, mc_clock) -> bool:
    sid = env.client.post("/api/v1/streaming/plays", json={"track_id": tid, "client_id": client_id})
    assert sid.status_code == 201, sid.text
    mc_clock.advance(seconds=31)
    r = env.client.post(f"/api/v1/streaming/plays/{sid.json()['session_id']}",
                        json={"event": "progress", "position": 31, "client_id": client_id})
    assert r.status_code == 200, r.text  # accepted either way: a player needs no special case
    return r.json()["counted"]


def test_made_up_anonymous_client_ids_do_not_inflate_play_counts(env, audio, mc_clock):
    tid = env.ready_track(audio(40))
    other = env.ready_track(audio(40, seed=2))
    allowance = env.platform.plugin_settings("streaming").anonymous_plays_per_hour
    assert 1 <= allowance <= 10
    counted = [_anonymous_play(env, tid, f"made-up-{i}", mc_clock) for i in range(allowance + 6)]
    assert counted == [True] * allowance + [False] * 6
    assert _anonymous_play(env, other, "made-up-x", mc_clock)  # per track
    # signed-in listeners are de-duplicated per account, not limited per address
    sid = env.client.post("/api/v1/streaming/plays", headers=env.fan.headers, json={"track_id": tid}).json()["session_id"]
    mc_clock.advance(seconds=31)
    env.fan.renew(env.platform)
    assert env.client.post(f"/api/v1/streaming/plays/{sid}", headers=env.fan.headers,
                           json={"event": "progress", "position": 31}).json()["counted"]
    from sqlalchemy import func, select

    from musicconnect_streaming.models import Play
    with env.platform.session() as s:
        n = s.scalar(select(func.count()).select_from(Play).where(Play.counted_at.is_not(None)))
    assert n == allowance + 2


def test_anonymous_play_allowance_holds_under_concurrency(env, audio, mc_clock):
    tid = env.ready_track(audio(40))
    allowance = env.platform.plugin_settings("streaming").anonymous_plays_per_hour
    sessions = [env.client.post("/api/v1/streaming/plays", json={"track_id": tid, "client_id": f"c{i}"}).json()["session_id"]
                for i in range(12)]
    mc_clock.advance(seconds=31)
    results = concurrently(12, lambda i: env.client.post(f"/api/v1/streaming/plays/{sessions[i]}",
                                                         json={"event": "progress", "position": 31,
                                                               "client_id": f"c{i}"}).json()["counted"])
    assert results.count(True) == allowance, results


# ---------------------------------------------------------------- private scratch space, sweeps

def test_transcode_keeps_the_key_in_a_private_directory_of_the_data_dir(env, audio, monkeypatch):
    import stat

    from musicconnect_streaming import media

    seen = {}
    real = media.ladder_command

    def spy(src, out, keyinfo):
        work = keyinfo.parent
        key_file = keyinfo.read_text().splitlines()[1]
        seen.update(work=work, mode=stat.S_IMODE(work.stat().st_mode),
                    root_mode=stat.S_IMODE(work.parent.stat().st_mode),
                    key_mode=stat.S_IMODE((work / "key.bin").stat().st_mode), key_file=key_file)
        return real(src, out, keyinfo)

    monkeypatch.setattr(media, "ladder_command", spy)
    env.ready_track(audio(6))
    root = env.platform.settings.data_dir / "tmp" / "streaming"
    assert seen["work"].parent == root and seen["key_file"].startswith(str(root))
    assert seen["mode"] == 0o700 and seen["root_mode"] == 0o700 and seen["key_mode"] == 0o600
    assert not seen["work"].exists()  # removed when the job ended


def test_scratch_root_is_created_private_and_tightened(env):
    import os
    import stat

    from musicconnect_streaming import scratch

    root = env.platform.settings.data_dir / "tmp" / "streaming"
    os.chmod(root, 0o755)  # e.g. made by an older version
    assert scratch.root(env.platform) == root
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert stat.S_IMODE(root.parent.stat().st_mode) == 0o700


def test_leftovers_of_a_crashed_process_are_swept_at_start(mc_make_platform):
    import os
    import subprocess
    import sys
    import time

    p = mc_make_platform()
    root = p.settings.data_dir / "tmp" / "streaming"
    # a crashed transcode: a key in plaintext, a lock nobody holds any more
    dead = root / "transcode-crashed"
    dead.mkdir(parents=True)
    (dead / "key.bin").write_bytes(b"k" * 16)
    (dead / ".lock").touch()
    # an old directory without a lock file (a crash before the lock existed)
    old = root / "upload-old"
    old.mkdir()
    (old / "file").write_bytes(b"partial")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    # a live job of another process: its lock is held
    live = root / "transcode-live"
    live.mkdir()
    (live / ".lock").touch()
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, os, sys, time\n"
                               f"fd = os.open({str(live / '.lock')!r}, os.O_RDWR)\n"
                               "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(60)\n"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        p.start()  # on_startup sweeps
        assert not dead.exists() and not old.exists()
        assert live.exists()
    finally:
        holder.kill()
        holder.wait()
    from musicconnect_streaming import scratch
    assert scratch.sweep(p) == 1 and not live.exists()  # its holder died: the lock went with it


def _run_sweep(env) -> dict:
    from musicconnect.models import Job

    job_id = env.platform.jobs.enqueue("streaming.sweep_orphans")
    env.platform.jobs.wait_idle(60)
    with env.platform.session() as s:
        job = s.get(Job, job_id)
        assert job.state == "succeeded", (job.state, job.message)
        return job.result


def test_orphaned_objects_are_swept_after_the_grace_period(env, audio, mc_clock):
    import uuid

    storage = env.platform.storage
    tid = env.ready_track(audio(6))
    live = sorted(storage.list(f"tracks/{tid}/"))
    assert live and all(k.startswith(f"tracks/{tid}/v1/") for k in live)
    ghost = uuid.uuid4()  # an original stored before a commit that never happened
    storage.put_bytes(f"tracks/{ghost}/v1/original.flac", b"orphan")
    storage.put_bytes(f"tracks/{tid}/v5/original.flac", b"a version without a row")
    storage.put_bytes(f"quarantine/tracks/{ghost}/v1/original.flac", b"quarantined, content deleted")

    def sweep():
        _run_sweep(env)

    sweep()  # first sighting: suspects only, nothing deleted yet
    assert storage.exists(f"tracks/{ghost}/v1/original.flac") and storage.exists(f"tracks/{tid}/v5/original.flac")
    mc_clock.advance(hours=23)
    late = uuid.uuid4()  # an upload in flight: stored now, row not committed yet
    storage.put_bytes(f"tracks/{late}/v1/original.flac", b"in flight")
    sweep()
    assert storage.exists(f"tracks/{ghost}/v1/original.flac")  # 23 h < the 24 h grace
    mc_clock.advance(hours=2)
    sweep()
    assert list(storage.list(f"tracks/{ghost}/")) == [] and list(storage.list(f"quarantine/tracks/{ghost}/")) == []
    assert not storage.exists(f"tracks/{tid}/v5/original.flac")
    assert sorted(storage.list(f"tracks/{tid}/")) == live  # the live track keeps every file
    assert storage.exists(f"tracks/{late}/v1/original.flac")  # seen 2 h ago only
    assert env.client.get(f"/api/v1/streaming/tracks/{tid}/master.m3u8").status_code == 200
    spec = env.platform.jobs.specs["streaming.sweep_orphans"]
    assert spec.every_seconds and spec.every_seconds <= 24 * 3600


def test_a_replacement_claims_its_version_before_storing(env, audio, mc_clock):
    """A replace that dies after storing its file leaves an ``uploading`` row: the sweep removes
    files and row after the grace period, and the next replace never reuses that version."""
    import uuid

    from sqlalchemy import select

    from musicconnect_streaming.models import TrackVersion

    tid = env.ready_track(audio(6))
    cid = uuid.UUID(tid)
    with env.platform.session() as s:  # what a crash after the claim and the store leaves
        v1 = s.get(TrackVersion, (cid, 1))
        s.add(TrackVersion(content_id=cid, version=2, state="uploading", original_key=f"tracks/{tid}/v2/original.flac",
                           original_filename="x.flac", size_bytes=1, probe={}, duration=6.0, aes_key=v1.aes_key,
                           aes_iv=v1.aes_iv, artwork={}, created_at=mc_clock.now()))
    env.platform.storage.put_bytes(f"tracks/{tid}/v2/original.flac", b"half")
    with open(audio(6, seed=3), "rb") as fh:
        r = env.client.post(f"/api/v1/streaming/tracks/{tid}/audio", headers=env.artist.headers,
                            files={"file": ("v3.flac", fh, "audio/flac")})
    assert r.status_code == 202 and r.json()["pending_version"] == 3, r.text
    env.platform.jobs.wait_idle(120)
    mc_clock.advance(hours=25)
    _run_sweep(env)
    with env.platform.session() as s:
        assert s.scalars(select(TrackVersion.version).where(TrackVersion.content_id == cid)
                         .order_by(TrackVersion.version)).all() == [1, 3]  # v1 superseded (kept as history)
    keys = list(env.platform.storage.list(f"tracks/{tid}/"))
    assert keys and all(k.startswith(f"tracks/{tid}/v3/") for k in keys)


# ---------------------------------------------------------------- unreleased tracks do not leak

def test_unreleased_gated_track_is_404_for_those_who_may_not_know_it(env, audio, mc_clock):
    from datetime import timedelta

    from musicconnect.testing import make_user

    superfan = env.tiers["superfan"]
    release = mc_clock.now() + timedelta(hours=12)  # inside the superfan tier's 24 h early access
    tid = env.ready_track(audio(8), visibility="tier", required_tier_id=str(superfan.id),
                          publish_at=release.isoformat())
    base = f"/api/v1/streaming/tracks/{tid}"
    stranger = make_user(env.platform, "artist", artist_name="Stranger")
    insider = make_user(env.platform, "fan")
    r = env.client.post(f"/api/v1/artists/{env.artist.artist_id}/comps", headers=env.artist.headers,
                        json={"email": insider.email, "tier_id": str(superfan.id)})
    assert r.status_code in (200, 201), r.text
    # a valid playback link from the early-access holder
    m = env.client.get(f"{base}/master.m3u8", headers=insider.headers)
    assert m.status_code == 200
    variant_uri = next(ln for ln in m.text.splitlines() if ln and not ln.startswith("#"))
    pt = variant_uri.split("pt=", 1)[1]

    def everything(headers):
        with open(audio(6), "rb") as fh:
            replace = env.client.post(f"{base}/audio", headers=headers or stranger.headers,
                                      files={"file": ("x.flac", fh, "audio/flac")})
        return {
            "detail": env.client.get(base, headers=headers),
            "master": env.client.get(f"{base}/master.m3u8", headers=headers),
            "variant without link": env.client.get(f"{base}/128k/index.m3u8", headers=headers),
            "variant forged link": env.client.get(f"{base}/128k/index.m3u8?pt=forged.1.-.9999999999.AAAA", headers=headers),
            "key": env.client.get(f"{base}/key", headers=headers),
            "key forged link": env.client.get(f"{base}/key?pt=forged.1.-.9999999999.AAAA", headers=headers),
            "preview": env.client.get(f"{base}/preview", headers=headers, follow_redirects=False),
            "waveform": env.client.get(f"{base}/waveform", headers=headers),
            "play": env.client.post("/api/v1/streaming/plays", headers=headers, json={"track_id": tid}),
            "replace audio": replace,
        } | ({"download": env.client.post(f"{base}/download", headers=headers)} if headers else {})

    for who, headers in (("anonymous", {}), ("fan", env.fan.headers), ("another artist", stranger.headers)):
        for route, resp in everything(headers).items():
            assert resp.status_code == 404, (who, route, resp.status_code, resp.text)
            assert resp.json()["type"] == "/problems/not-found", (who, route, resp.text)
    # the holder of early access and the owner see it
    key_with_link = env.client.get(f"{base}/key?pt={pt}")
    assert key_with_link.status_code == 200 and len(key_with_link.content) == 16
    for headers in (insider.headers, env.artist.headers):
        assert env.client.get(base, headers=headers).status_code == 200
        assert env.client.get(f"{base}/preview", headers=headers, follow_redirects=False).status_code == 307
        assert env.client.get(f"{base}/waveform", headers=headers).status_code == 200
    # once released, gated content answers 401/403 again (a player offers to sign in or upgrade)
    mc_clock.set(release + timedelta(minutes=1))
    env.fan.renew(env.platform)
    stranger.renew(env.platform)
    problem(env.client.get(f"{base}/key?pt=forged.1.-.9999999999.AAAA"), 403, "bad-playback-token")
    anon_master = env.client.get(f"{base}/master.m3u8")
    assert anon_master.status_code == 200
    anon_pt = next(ln for ln in anon_master.text.splitlines() if ln and not ln.startswith("#")).split("pt=", 1)[1]
    problem(env.client.get(f"{base}/key?pt={anon_pt}"), 401)
    fan_master = env.client.get(f"{base}/master.m3u8", headers=env.fan.headers)
    fan_pt = next(ln for ln in fan_master.text.splitlines() if ln and not ln.startswith("#")).split("pt=", 1)[1]
    problem(env.client.get(f"{base}/key?pt={fan_pt}"), 403, "tier-required")
    problem(env.client.get(f"{base}/128k/index.m3u8"), 403, "bad-playback-token")
    with open(audio(6), "rb") as fh:
        problem(env.client.post(f"{base}/audio", headers=stranger.headers, files={"file": ("x.flac", fh)}), 403)


# ---------------------------------------------------------------- scopes

def _token(env, user, *scopes) -> dict:
    r = env.client.post("/api/v1/me/tokens", headers=user.headers,
                        json={"name": "bot", "scopes": list(scopes), "expires_in_days": 30})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_a_token_without_content_write_cannot_upload_or_replace_audio(env, audio):
    tid = env.ready_track(audio(6))
    stats = _token(env, env.artist, "analytics:read")
    with open(audio(6), "rb") as fh:
        problem(env.client.post(f"/api/v1/streaming/artists/{env.artist.artist_id}/tracks", headers=stats,
                                files={"file": ("a.flac", fh, "audio/flac")}), 403, "insufficient-scope")
    with open(audio(6, seed=2), "rb") as fh:
        problem(env.client.post(f"/api/v1/streaming/tracks/{tid}/audio", headers=stats,
                                files={"file": ("b.flac", fh, "audio/flac")}), 403, "insufficient-scope")
    # a token without content:read plays public tracks as an anonymous listener, and cannot download
    m = env.client.get(f"/api/v1/streaming/tracks/{tid}/master.m3u8", headers=stats)
    assert m.status_code == 200 and ".-." in m.text  # the playback token names no listener
    problem(env.client.post(f"/api/v1/streaming/tracks/{tid}/download", headers=stats), 403, "insufficient-scope")
    writer = _token(env, env.artist, "content:write")
    with open(audio(6, seed=2), "rb") as fh:
        r = env.client.post(f"/api/v1/streaming/tracks/{tid}/audio", headers=writer,
                            files={"file": ("b.flac", fh, "audio/flac")})
    assert r.status_code == 202, r.text
    env.platform.jobs.wait_idle(120)


def test_streaming_routes_all_declare_a_scope(env):
    """Every FastAPI route and every fast route of the plugin declares its scope (and the fast
    ones are mounted, i.e. the fast path serves them)."""
    from musicconnect.routescopes import undeclared_routes
    from musicconnect_streaming import playback

    app = env.client.app
    assert [r for r in undeclared_routes(app) if "/streaming/" in r] == []
    mounted = {(r.method, r.path): r for r in app.fast.routes() if r.plugin == "streaming"}
    assert set(mounted) == {(r.method, r.path) for r in playback.FAST_ROUTES}
    assert all(r.scope for r in mounted.values())
