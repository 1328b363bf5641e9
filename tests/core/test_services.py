"""Shared services on whichever engines this run uses (local/S3, memory/Redis)."""
from __future__ import annotations

import asyncio
import os
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from helpers import problem
from musicconnect import JobSpec, PermanentJobError
from musicconnect.storage import StorageError


# ---------------------------------------------------------------- storage

def test_storage_roundtrip(mc_platform, tmp_path):
    st = mc_platform.storage
    if st.backend == "s3":
        st.ensure_bucket()
    src = tmp_path / "a.bin"
    src.write_bytes(os.urandom(300_000))
    st.put_file("tracks/t1/orig.bin", src, "application/octet-stream")
    st.put_bytes("tracks/t1/meta.json", b"{}", "application/json")
    assert st.get_bytes("tracks/t1/orig.bin") == src.read_bytes()
    assert st.exists("tracks/t1/meta.json") and not st.exists("tracks/t1/nope")
    assert sorted(st.list("tracks/t1/")) == ["tracks/t1/meta.json", "tracks/t1/orig.bin"]
    assert st.delete_prefix("tracks/t1/") == 2
    assert list(st.list("tracks/t1/")) == []
    with pytest.raises(StorageError):
        st.get_bytes("tracks/t1/orig.bin")


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "a/../../b", "a//b", "", "a\\b", "..", "a/./b"])
def test_storage_rejects_bad_keys(mc_platform, key):
    with pytest.raises(StorageError):
        mc_platform.storage.put_bytes(key, b"x")


def test_signed_urls(mc_client, mc_platform, mc_clock):
    st = mc_platform.storage
    if st.backend == "s3":
        st.ensure_bucket()
        st.put_bytes("media/x.txt", b"hello")
        url = st.signed_url("media/x.txt", 60, within="media")
        q = parse_qs(urlsplit(url).query)
        assert "X-Amz-Signature" in q and q["X-Amz-Expires"] == ["60"]  # moto does not check signatures
        return
    st.put_bytes("media/x.txt", b"hello")
    url = st.signed_url("media/x.txt", 60, within="media/", filename="x.txt")
    path = url[len("http://testserver"):]
    r = mc_client.get(path)
    assert r.status_code == 200 and r.content == b"hello" and "x.txt" in r.headers["content-disposition"]
    problem(mc_client.get(path.replace("media/x.txt", "media/y.txt")), 403, "bad-signature")
    problem(mc_client.get(path.replace("sig=", "sig=A")), 403, "bad-signature")
    problem(mc_client.get(path.replace("dl=x.txt", "dl=evil.exe")), 403, "bad-signature")
    problem(mc_client.get("/media/media/x.txt"), 403)
    mc_clock.advance(seconds=61)
    problem(mc_client.get(path), 403, "bad-signature")


def test_segments_are_cacheable_by_a_cdn_until_their_signature_expires(mc_client, mc_platform, mc_clock):
    st = mc_platform.storage
    if st.backend == "s3":
        pytest.skip("the object store (and its CDN) serves media in the distributed configuration")
    st.put_bytes("tracks/t/v1/hls/a/seg_00000.ts", b"\x47" * 188)
    url = st.signed_url("tracks/t/v1/hls/a/seg_00000.ts", 600, within="tracks/t/v1/")
    path = url[len("http://testserver"):]
    mc_clock.advance(seconds=100)
    r = mc_client.get(path)
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp2t"
    assert r.headers["cache-control"] == "public, max-age=500, immutable"
    st.put_bytes("tracks/t/v1/track.m4a", b"x")  # Range-served audio stays private
    r = mc_client.get(st.signed_url("tracks/t/v1/track.m4a", 600, within="tracks/t/v1/")[len("http://testserver"):])
    assert r.status_code == 200 and r.headers["cache-control"].startswith("private")


def test_serve_keeps_connections_alive_longer_than_a_load_balancer(mc_make_platform):
    from musicconnect.server import uvicorn_options

    opts = uvicorn_options(mc_make_platform().settings)
    assert opts["timeout_keep_alive"] == 75 and opts["backlog"] == 2048
    opts = uvicorn_options(mc_make_platform(keep_alive_seconds=5, listen_backlog=128).settings)
    assert opts["timeout_keep_alive"] == 5 and opts["backlog"] == 128


def test_cdn_base_url_for_local(mc_make_platform):
    p = mc_make_platform(cdn_base_url="https://cdn.example.net", storage_backend="local", s3_bucket=None)
    assert p.storage.signed_url("a/b.ts", within="a").startswith("https://cdn.example.net/media/a/b.ts?exp=")


# ---------------------------------------------------------------- jobs

def test_job_retries_then_succeeds_and_permanent_failure(mc_make_platform):
    attempts = []

    def flaky(ctx, n):
        attempts.append(ctx.attempt)
        ctx.progress(0.3, "working", force=True)
        if ctx.attempt < 2:
            raise ConnectionError("transient")
        return {"n": n * 2}

    def bad(ctx):
        raise PermanentJobError("this file is not audio")

    import types

    from musicconnect import hookimpl

    mod = types.SimpleNamespace(register_jobs=hookimpl(lambda platform: [
        JobSpec("flaky", flaky, max_retries=3, min_backoff_ms=10), JobSpec("bad", bad, max_retries=5)]))
    p = mc_make_platform(extra_plugins=[("jobby", mod)], entry_points=False)
    p.start()
    j1 = p.jobs.enqueue("jobby.flaky", n=21)
    j2 = p.jobs.enqueue("jobby.bad")
    p.jobs.wait_idle(30)
    from musicconnect.models import Job
    with p.session() as s:
        a, b = s.get(Job, j1), s.get(Job, j2)
        assert (a.state, a.attempts, a.result, a.progress) == ("succeeded", 2, {"n": 42}, 1.0)
        assert (b.state, b.attempts) == ("failed", 1) and b.message == "this file is not audio"
    assert attempts == [1, 2]


def test_enqueue_in_a_transaction_sends_only_on_commit(mc_make_platform):
    import types

    from musicconnect import hookimpl

    ran = []
    mod = types.SimpleNamespace(register_jobs=hookimpl(lambda platform: [JobSpec("t", lambda ctx: ran.append(1))]))
    p = mc_make_platform(extra_plugins=[("tx", mod)], entry_points=False)
    p.start()
    with pytest.raises(RuntimeError):
        with p.session() as s:
            p.jobs.enqueue("tx.t", session=s)
            raise RuntimeError("rolled back")
    with p.session() as s:
        p.jobs.enqueue("tx.t", session=s)
    p.jobs.wait_idle(30)
    time.sleep(0.1)
    assert ran == [1]


def test_embedded_jobs_survive_a_restart(mc_make_platform, mc_settings):
    if mc_settings.redis_url:
        pytest.skip("the Redis broker keeps messages itself")
    import types

    from musicconnect import hookimpl

    done = []
    mod = types.SimpleNamespace(register_jobs=hookimpl(lambda platform: [JobSpec("r", lambda ctx: done.append(ctx.job_id))]))
    first = mc_make_platform(extra_plugins=[("rs", mod)], entry_points=False)
    job = first.jobs.enqueue("rs.r")  # queued, but this process "dies" before a worker runs it
    first.close()
    second = mc_make_platform(extra_plugins=[("rs", mod)], entry_points=False)
    second.start()
    second.jobs.wait_idle(30)
    assert done == [job]


def test_unknown_job_name(mc_platform):
    from musicconnect.jobs import JobError

    with pytest.raises(JobError, match="no job named"):
        mc_platform.jobs.enqueue("nope.nothing")


# ---------------------------------------------------------------- pub/sub, cache coherence, rate limits

@pytest.mark.anyio
async def test_pubsub_delivers(mc_platform):
    ps = mc_platform.pubsub
    async with ps.subscribe("room.1", "room.2") as messages:
        await asyncio.sleep(0.05)
        await asyncio.to_thread(ps.publish, "room.2", {"hi": 1})
        await ps.apublish("room.1", {"hi": 2})
        got = [await asyncio.wait_for(messages.__anext__(), 5) for _ in range(2)]
    assert sorted(got, key=lambda m: m[0]) == [("room.1", {"hi": 2}), ("room.2", {"hi": 1})]


def test_invalidation_reaches_other_processes_cache(mc_client, mc_platform, mc_users):
    """Another process (here: a second platform on the same engines) changes a user; the API's
    cache drops the stale /me at once through pub/sub."""
    from musicconnect.platform import Platform

    h = mc_users.fan.headers
    assert mc_client.get("/api/v1/me", headers=h).json()["display_name"].startswith("fan-")
    other = Platform(mc_platform.settings, clock=mc_platform.clock, entry_points=False)
    other.pubsub = mc_platform.pubsub if not mc_platform.settings.redis_url else other.pubsub
    from musicconnect.models import User
    with other.session() as s:
        s.get(User, mc_users.fan.id).display_name = "Renamed Elsewhere"
    other.forget_user(mc_users.fan.id)
    deadline = time.monotonic() + 5
    while mc_client.get("/api/v1/me", headers=h).json()["display_name"] != "Renamed Elsewhere":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    other.close()


def test_rate_limiter(mc_platform):
    rl = mc_platform.ratelimiter
    states = [rl.hit("3/minute", "t", "k").allowed for _ in range(4)]
    assert states == [True, True, True, False]
    assert rl.test("3/minute", "t", "other").allowed
    assert rl.test("3/minute", "t", "k").retry_after >= 1
    rl.clear("3/minute", "t", "k")
    assert rl.hit("3/minute", "t", "k").allowed


# ---------------------------------------------------------------- ops endpoints

def test_health_ready_metrics(mc_client, mc_users):
    assert mc_client.get("/healthz").json() == {"status": "ok"}
    ready = mc_client.get("/readyz").json()
    assert ready["status"] == "ok" and ready["checks"]["database"] == "ok"
    mc_client.get("/api/v1/artists")
    problem(mc_client.get("/metrics"), 401, "unauthorized")  # not public (issue 9)
    problem(mc_client.get("/metrics", headers=mc_users.fan.headers), 401, "unauthorized")
    text = mc_client.get("/metrics", headers=mc_users.admin.headers).text
    assert 'musicconnect_http_requests_total{method="GET",route="/api/v1/artists",status="200"}' in text


def test_metrics_token_and_loopback(mc_make_platform):
    from pydantic import SecretStr
    from starlette.testclient import TestClient

    from musicconnect.app import create_app

    with TestClient(create_app(mc_make_platform()), client=("127.0.0.1", 5000)) as local:
        assert local.get("/metrics").status_code == 200  # a local scraper, no token configured
    p = mc_make_platform(metrics_token=SecretStr("scrape-me"))
    with TestClient(create_app(p), client=("127.0.0.1", 5000)) as client:
        problem(client.get("/metrics"), 401, "unauthorized")  # a token is configured: loopback is not enough
        problem(client.get("/metrics", headers={"Authorization": "Bearer wrong"}), 401, "unauthorized")
        assert "musicconnect_http_requests_total" in client.get(
            "/metrics", headers={"Authorization": "Bearer scrape-me"}).text


def test_readyz_reports_a_dead_database(mc_make_platform, tmp_path):
    from starlette.testclient import TestClient

    from musicconnect.app import create_app

    p = mc_make_platform()
    app = create_app(p)
    with TestClient(app) as client:
        p.db.engine.dispose()
        p.db.url = "postgresql+psycopg://x@127.0.0.1:1/none"
        from musicconnect.db import make_engine

        p.db.engine = make_engine(p.db.url)
        r = client.get("/readyz")
        assert r.status_code == 503 and r.json()["checks"]["database"].startswith("error")


def test_unexpected_errors_are_problems(mc_make_platform):
    import types

    from fastapi import APIRouter, Depends
    from starlette.testclient import TestClient

    from musicconnect import hookimpl
    from musicconnect.app import create_app
    from musicconnect.web import public

    router = APIRouter()

    @router.get("/crash", dependencies=[Depends(public)])
    def crash():
        raise ValueError("secret internals")

    mod = types.SimpleNamespace(register_routes=hookimpl(lambda platform: router))
    p = mc_make_platform(extra_plugins=[("crashy", mod)], entry_points=False)
    with TestClient(create_app(p), raise_server_exceptions=False) as client:
        body = problem(client.get("/api/v1/crashy/crash"), 500, "internal")
        assert "secret" not in body["detail"]
        problem(client.get("/api/v1/nothing-here"), 404, "not-found")
        problem(client.delete("/healthz"), 405)


def test_duplicate_delivery_runs_a_job_once(mc_make_platform, mc_clock):
    """The same message delivered twice (start-up recovery, a re-queue) runs the job once; a job
    whose runner went silent past the lease is taken over."""
    import types

    from musicconnect import hookimpl
    from musicconnect.models import Job

    runs = []
    mod = types.SimpleNamespace(register_jobs=hookimpl(lambda platform: [JobSpec("once", lambda ctx: runs.append(1))]))
    p = mc_make_platform(extra_plugins=[("dup", mod)], entry_points=False)
    job = p.jobs.enqueue("dup.once")  # sent, but no worker yet
    p.jobs._run("dup.once", job)
    p.jobs._run("dup.once", job)  # a duplicate delivery after success
    assert runs == [1]
    with p.session() as s:
        row = s.get(Job, job)
        row.state, row.updated_at = "running", mc_clock.now()  # a worker took it and is still alive
    assert p.jobs._take(job) == 60.0  # not taken: the delivery is re-sent for when the lease lapses
    p.jobs._run("dup.once", job)
    assert runs == [1]
    mc_clock.advance(seconds=61)  # ...and then went silent past the lease
    p.jobs._run("dup.once", job)
    assert runs == [1, 1]
    with p.session() as s:
        assert (s.get(Job, job).state, s.get(Job, job).attempts) == ("succeeded", 2)
