"""``musicconnect worker --metrics-port`` (MC_WORKER_METRICS_PORT) serves /metrics and /healthz;
needs Redis (the distributed run): a worker process is the distributed configuration."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from helpers import free_port

BIN = Path(sys.executable).parent / "musicconnect"


@pytest.fixture
def redis_env(proc_env, mc_redis_url):
    if not mc_redis_url:
        pytest.skip("a worker process needs Redis (MC_TEST_ONLY=distributed)")
    return {**proc_env, "MC_REDIS_URL": mc_redis_url}


def _samples(text):
    return {(s.name, *sorted(s.labels.items())): s.value for f in text_string_to_metric_families(text) for s in f.samples}


def test_worker_serves_metrics_and_liveness(redis_env, mc_make_platform):
    port = free_port()
    proc = subprocess.Popen([str(BIN), "worker", "--metrics-port", str(port)], env=redis_env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:  # the port opens first (503 until the worker threads run), then 200
                health = httpx.get(f"{base}/healthz", timeout=1)
                if health.status_code == 200:
                    break
                assert health.status_code == 503 and health.json() == {"status": "unavailable"}
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the worker did not become live"
            time.sleep(0.2)
        assert health.json() == {"status": "ok"}
        # a message for a job that does not exist: taken, found gone, acknowledged
        p = mc_make_platform()
        p.jobs.actors["streaming.transcode"].send(str(uuid.uuid4()))

        def backlog():
            m = _samples(httpx.get(f"{base}/metrics", timeout=5).text)
            return {part: m.get(("musicconnect_jobs_backlog", ("part", part), ("queue", "mc.streaming")))
                    for part in ("ready", "delayed", "inflight")}

        deadline = time.monotonic() + 30
        while backlog() != {"ready": 0, "delayed": 0, "inflight": 0}:
            assert time.monotonic() < deadline, backlog()
            time.sleep(0.2)
        m = _samples(httpx.get(f"{base}/metrics", timeout=5).text)
        assert any(k[0] == "musicconnect_build_info" for k in m)
        assert httpx.get(f"{base}/nothing", timeout=5).status_code == 404
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, out
    assert f"worker metrics on http://127.0.0.1:{port}/metrics" in out  # loopback unless --metrics-host


def test_worker_metrics_port_taken_is_one_line(redis_env):
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen()
        port = s.getsockname()[1]
        r = subprocess.run([str(BIN), "worker"], env={**redis_env, "MC_WORKER_METRICS_PORT": str(port),
                                                      "MC_WORKER_METRICS_HOST": "0.0.0.0"},
                           capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert r.stderr.strip().count("\n") == 0 and f"0.0.0.0 port {port}" in r.stderr, r.stderr


def test_worker_endpoints_bind_loopback_and_drop_idle_connections(mc_platform):
    from musicconnect.metrics import serve_worker_endpoints

    server = serve_worker_endpoints(mc_platform, 0, timeout=0.5)
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1"
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 503  # no worker here
        with socket.create_connection(("127.0.0.1", port), timeout=5) as idle:
            start = time.monotonic()
            assert idle.recv(1) == b""  # closed by the server after its timeout, not held forever
            assert time.monotonic() - start < 4
    finally:
        server.shutdown()
        server.server_close()
