"""The platform as a user meets it: `musicconnect serve --demo` in its own process, then HTTP."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent / "musicconnect"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"process exited with {proc.returncode}: {out}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not up after {timeout}s")


def start(args, env) -> subprocess.Popen:
    return subprocess.Popen([str(BIN), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop(proc: subprocess.Popen) -> int:
    """SIGTERM, then a graceful exit: 0, or uvicorn re-raising the signal after its shutdown."""
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    out = proc.stdout.read() if proc.stdout else ""
    assert "Traceback" not in out, out
    return 0 if code in (0, -signal.SIGTERM) else code


def demo_session(base: str) -> dict:
    r = httpx.post(f"{base}/api/v1/auth/login", json={"email": "fan@demo.com", "password": "password123"})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.mark.slow
def test_serve_demo_embedded(proc_env):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start(["serve", "--demo", "--port", str(port)], proc_env)
    try:
        wait_http(f"{base}/healthz", proc)
        assert httpx.get(f"{base}/readyz").json()["status"] == "ok"
        fan = demo_session(base)
        me = httpx.get(f"{base}/api/v1/me", headers=fan).json()
        assert me["email"] == "fan@demo.com" and me["role"] == "fan"
        nova = httpx.get(f"{base}/api/v1/artists/nova-lane").json()
        tiers = httpx.get(f"{base}/api/v1/artists/{nova['id']}/tiers").json()
        assert [t["key"] for t in tiers] == ["free", "supporter", "superfan"]
        artist = httpx.post(f"{base}/api/v1/auth/login", json={"email": "artist@demo.com", "password": "password123"}).json()
        ah = {"Authorization": f"Bearer {artist['access_token']}"}
        # a plugin job through the in-process worker
        job = httpx.post(f"{base}/api/v1/hello/artists/{nova['id']}/recount", headers=ah).json()["job_id"]
        _wait_job(base, job, ah)
        assert "paths" in httpx.get(f"{base}/openapi.json").json()
        _demo_fan_subscribes_upgrades_and_cancels(base, fan, nova, tiers)
    finally:
        assert stop(proc) == 0


def _demo_fan_subscribes_upgrades_and_cancels(base, fan, nova, tiers):
    """The sandbox provider (no Stripe key configured) through the HTTP API and its hosted pages."""
    by_key = {t["key"]: t for t in tiers}
    assert [p["id"] for p in httpx.get(f"{base}/api/v1/payment-providers").json()] == ["sandbox"]
    before = {s["id"] for s in httpx.get(f"{base}/api/v1/billing/subscriptions", headers=fan).json()}  # the demo's history
    r = httpx.post(f"{base}/api/v1/billing/checkout", json={"tier_id": by_key["supporter"]["id"], "interval": "year"},
                   headers=fan)
    assert r.status_code == 201, r.text
    page = httpx.get(r.json()["url"])
    assert page.status_code == 200 and "no real money" in page.text
    paid = httpx.post(r.json()["url"] + "/pay", follow_redirects=False)
    assert paid.status_code == 303
    [sub] = [s for s in httpx.get(f"{base}/api/v1/billing/subscriptions", headers=fan).json() if s["id"] not in before]
    assert sub["entitlement"]["tier_id"] == by_key["supporter"]["id"] and sub["interval"] == "year"
    up = httpx.post(f"{base}/api/v1/billing/subscriptions/{sub['id']}/change",
                    json={"tier_id": by_key["superfan"]["id"]}, headers=fan).json()
    assert up["entitlement"]["tier_id"] == by_key["superfan"]["id"]
    portal = httpx.post(f"{base}/api/v1/billing/portal", json={}, headers=fan).json()["url"]
    assert "Superfan" in httpx.get(portal).text
    done = httpx.post(f"{base}/api/v1/billing/subscriptions/{sub['id']}/cancel", headers=fan).json()
    assert done["entitlement"]["status"] == "cancelled" and done["cancel_at_period_end"] is True
    me = httpx.get(f"{base}/api/v1/artists/{nova['id']}/tiers").json()
    assert any(t["yearly_amount"] for t in me)


@pytest.mark.slow
def test_distributed_api_processes_and_separate_worker(proc_env, mc_redis_url):
    if not mc_redis_url:
        pytest.skip("needs Redis (the distributed run sets MC_TEST_REDIS_URL)")
    env = {**proc_env, "MC_REDIS_URL": mc_redis_url}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api = start(["serve", "--demo", "--port", str(port), "--workers", "2"], env)
    worker = None
    try:
        wait_http(f"{base}/healthz", api)
        assert httpx.get(f"{base}/readyz").json()["checks"]["redis"] == "ok"
        artist = httpx.post(f"{base}/api/v1/auth/login", json={"email": "artist@demo.com", "password": "password123"}).json()
        ah = {"Authorization": f"Bearer {artist['access_token']}"}
        nova = httpx.get(f"{base}/api/v1/artists/nova-lane").json()
        job = httpx.post(f"{base}/api/v1/hello/artists/{nova['id']}/recount", headers=ah).json()["job_id"]
        time.sleep(0.5)
        assert httpx.get(f"{base}/api/v1/jobs/{job}", headers=ah).json()["state"] == "queued"  # no worker yet
        # a demo's workers run the demo's test-mode payments too (serve --demo turns them on in the API)
        worker = start(["worker"], {**env, "MC_BILLING_SANDBOX": "true"})
        _wait_job(base, job, ah)
        # the API processes share login throttling through Redis
        for _ in range(5):
            httpx.post(f"{base}/api/v1/auth/login", json={"email": "fan@demo.com", "password": "wrong-password"})
        assert httpx.post(f"{base}/api/v1/auth/login",
                          json={"email": "fan@demo.com", "password": "password123"}).status_code == 429
    finally:
        if worker is not None:
            assert stop(worker) == 0
        stop(api)


def _wait_job(base, job, headers, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        state = httpx.get(f"{base}/api/v1/jobs/{job}", headers=headers).json()
        if state["state"] == "succeeded":
            assert state["result"] == {"greetings": 0} and state["progress"] == 1.0
            return
        assert state["state"] != "failed", state
        assert time.monotonic() < deadline, state
        time.sleep(0.2)


@pytest.mark.slow
def test_serve_caps_request_heads(proc_env):
    """A request head past MC_MAX_HEADER_BYTES is a 431 as soon as it passes the cap (uvicorn's
    httptools parser has no cap of its own); other clients are served meanwhile."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api = start(["serve", "--port", str(port)], proc_env)
    try:
        wait_http(f"{base}/healthz", api)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
            sent, answer = 0, b""
            try:
                while sent < (8 << 20):  # stop sending as soon as the server has answered
                    s.sendall(b"a" * 65536)
                    sent += 65536
            except OSError:
                pass
            s.settimeout(5)
            try:
                while chunk := s.recv(4096):
                    answer += chunk
            except OSError:
                pass
        assert answer.startswith(b"HTTP/1.1 431"), answer[:100]
        assert sent < (8 << 20)  # refused long before the whole head arrived
        ok = httpx.get(f"{base}/healthz", headers={"X-Fine": "b" * 4000})
        assert ok.status_code == 200
    finally:
        stop(api)
