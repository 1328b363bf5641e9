"""The streaming plugin through real processes: bulk import CLI, demo data, and a worker killed
in the middle of a transcode."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent / "musicconnect"


@pytest.mark.slow
def test_bulk_import_cli(proc_env, audio, tmp_path):
    folder = tmp_path / "album"
    folder.mkdir()
    for i, ext in enumerate(("flac", "mp3", "wav")):
        (folder / f"{i:02d}-song.{ext}").write_bytes(audio(6, ext=ext).read_bytes())
    (folder / "broken.flac").write_bytes(audio(6).read_bytes()[:5000])
    (folder / "notes.txt").write_text("liner notes")
    run = lambda *a: subprocess.run([str(BIN), *a], env=proc_env, capture_output=True, text=True, timeout=300)
    assert run("users", "create", "band@example.com", "--role", "artist", "--password", "correct-horse-9").returncode == 0
    r = run("streaming", "import", str(folder), "--artist", "band@example.com")
    assert r.returncode == 0, r.stderr
    assert "imported 3 track(s), skipped 1" in r.stdout and "broken.flac" in r.stderr
    bad = run("streaming", "import", str(folder), "--artist", "nobody@example.com")
    assert bad.returncode == 1 and bad.stderr.strip().startswith("error:")
    from musicconnect.platform import Platform
    from musicconnect.settings import Settings
    from musicconnect.models import ContentItem
    from sqlalchemy import select

    p = Platform(Settings(data_dir=tmp_path / "data", database_url=proc_env["MC_DATABASE_URL"]))
    with p.session() as s:
        items = s.scalars(select(ContentItem).where(ContentItem.kind == "track").order_by(ContentItem.title)).all()
        assert [(i.title, i.status) for i in items] == [("00-song", "ready"), ("01-song", "ready"), ("02-song", "ready")]
    p.close()


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(cond, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if cond():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("timed out")


@pytest.mark.slow
def test_demo_tracks_play_after_serve_demo(proc_env):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([str(BIN), "serve", "--demo", "--port", str(port)], env=proc_env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait(lambda: httpx.get(f"{base}/healthz").status_code == 200)
        nova = httpx.get(f"{base}/api/v1/artists/nova-lane").json()
        artist = httpx.post(f"{base}/api/v1/auth/login", json={"email": "artist@demo.com", "password": "password123"}).json()
        h = {"Authorization": f"Bearer {artist['access_token']}"}
        _wait(lambda: all(i["status"] == "ready" for i in
                          httpx.get(f"{base}/api/v1/artists/{nova['id']}/content?kind=track", headers=h).json()))
        items = {i["title"]: i for i in httpx.get(f"{base}/api/v1/artists/{nova['id']}/content?kind=track", headers=h).json()}
        assert set(items) == {"Night Drive", "Garage Demo #3", "Next Single (early access)"}
        public = items["Night Drive"]
        m = httpx.get(f"{base}/api/v1/streaming/tracks/{public['id']}/master.m3u8")
        assert m.status_code == 200 and m.text.count("#EXT-X-STREAM-INF") == 3
        fan = httpx.post(f"{base}/api/v1/auth/login", json={"email": "fan@demo.com", "password": "password123"}).json()
        fh = {"Authorization": f"Bearer {fan['access_token']}"}
        listed = {i["title"]: i for i in httpx.get(f"{base}/api/v1/artists/{nova['id']}/content?kind=track", headers=fh).json()}
        assert "Next Single (early access)" not in listed  # not released yet for the demo fan
        assert listed["Garage Demo #3"]["locked"] is True
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


@pytest.mark.slow
def test_worker_killed_mid_transcode_is_retried(proc_env, audio, mc_redis_url, tmp_path):
    """Embedded: the serving process dies while transcoding; on restart the job is re-sent and
    completes. Distributed: a `musicconnect worker` is killed; another worker finishes the job."""
    from musicconnect.platform import Platform
    from musicconnect.settings import Settings
    from musicconnect.testing import make_user
    from musicconnect.models import ContentItem, Job

    env = dict(proc_env)
    if mc_redis_url:
        env.update(MC_REDIS_URL=mc_redis_url, MC_REDIS_HEARTBEAT_TIMEOUT_MS="3000",
                   MC_REDIS_MAINTENANCE_CHANCE="1000000", MC_JOB_LEASE_SECONDS="5")
    settings = Settings(data_dir=tmp_path / "data", database_url=env["MC_DATABASE_URL"], redis_url=env.get("MC_REDIS_URL"),
                        argon2_time_cost=1, argon2_memory_cost=1024)
    p = Platform(settings)
    artist = make_user(p, "artist", artist_name="Killer Queen")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    start = lambda: subprocess.Popen([str(BIN), "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
    worker = lambda: subprocess.Popen([str(BIN), "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    api = start()
    procs = [api]
    try:
        _wait(lambda: httpx.get(f"{base}/healthz").status_code == 200)
        w = worker() if mc_redis_url else None
        if w:
            procs.append(w)
        with open(audio(150, ext="wav"), "rb") as fh:
            r = httpx.post(f"{base}/api/v1/streaming/artists/{artist.artist_id}/tracks", headers=artist.headers,
                           files={"file": ("long.wav", fh)}, timeout=60)
        assert r.status_code == 202, r.text
        job_id, track_id = r.json()["job_id"], r.json()["id"]

        def job():
            with p.session() as s:
                return s.get(Job, __import__("uuid").UUID(job_id))
        _wait(lambda: job().state == "running" and job().progress > 0.1, timeout=60)
        victim = w or api
        victim.send_signal(signal.SIGKILL)  # mid-transcode
        victim.wait(10)
        if w:
            procs.append(worker())
        else:
            api = start()
            procs.append(api)
        _wait(lambda: job().state == "succeeded", timeout=180)
        assert job().attempts >= 2
        with p.session() as s:
            assert s.get(ContentItem, __import__("uuid").UUID(track_id)).status == "ready"
        _wait(lambda: httpx.get(f"{base}/healthz").status_code == 200)
        m = httpx.get(f"{base}/api/v1/streaming/tracks/{track_id}/master.m3u8")
        assert m.status_code == 200 and m.text.count("#EXT-X-STREAM-INF") == 3
    finally:
        for pr in procs:
            if pr.poll() is None:
                pr.send_signal(signal.SIGTERM)
                try:
                    pr.wait(30)
                except subprocess.TimeoutExpired:
                    pr.kill()
        p.close()
