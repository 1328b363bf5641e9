"""MC_LOG_FORMAT=json: a request's lines carry its request id (the client's X-Request-ID, or a
generated one, echoed on the response) and the trace ids when a span is active; a job's lines
carry the job id and actor."""
from __future__ import annotations

import io
import logging

import orjson
import pytest
from starlette.testclient import TestClient

from musicconnect.app import create_app
from musicconnect.logs import JsonFormatter


@pytest.fixture
def json_lines():
    """Every log line of this test, as the JSON objects MC_LOG_FORMAT=json writes."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield lambda: [orjson.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    root.removeHandler(handler)
    root.setLevel(old_level)


def _client(mc_make_platform, probe):
    p = mc_make_platform(extra_plugins=[("obsprobe", probe.plugin)])
    return p, TestClient(create_app(p))


def test_request_and_job_lines_carry_their_ids(mc_make_platform, probe, json_lines):
    p, client = _client(mc_make_platform, probe)
    with client:
        r = client.get("/api/v1/obsprobe/log", headers={"X-Request-ID": "edge-7f3a"})
        assert r.status_code == 200, r.text
        assert r.headers["x-request-id"] == "edge-7f3a"
        job_id = r.json()["job"]
        p.jobs.wait_idle(30)
        # another request reusing the id: echoed too, but the server's own id tells the two apart
        assert client.get("/api/v1/obsprobe/log", headers={"X-Request-ID": "edge-7f3a"}).status_code == 200
        p.jobs.wait_idle(30)
        generated = client.get("/api/v1/obsprobe/log").headers["x-request-id"]
        assert len(generated) == 16 and generated != "edge-7f3a"
        # a header that is not a sane token is replaced, not echoed (no header injection, no log forging)
        odd = client.get("/healthz", headers={"X-Request-ID": "a b\"c" + "x" * 200}).headers["x-request-id"]
        assert len(odd) == 16
        p.jobs.wait_idle(30)
    lines = json_lines()
    reused = [d for d in lines if d["msg"] == "probe route ran" and d.get("client_request_id") == "edge-7f3a"]
    assert len(reused) == 2 and len({d["request_id"] for d in reused}) == 2, reused
    assert all(len(d["request_id"]) == 16 and d["request_id"] != "edge-7f3a" for d in reused)
    assert "trace_id" not in reused[0]  # tracing off: no trace ids
    assert any(d["msg"] == "probe route ran" and d.get("request_id") == generated for d in lines)
    [job_line] = [d for d in lines if d["msg"] == "probe job ran" and d.get("job_id") == job_id]
    assert job_line["actor"] == "obsprobe.echo" and "request_id" not in job_line


def test_lines_carry_trace_ids_when_tracing(mc_make_platform, probe, json_lines, spans):
    p, client = _client(mc_make_platform, probe)
    with client:
        r = client.get("/api/v1/obsprobe/log")
        p.jobs.wait_idle(30)
    lines = json_lines()
    [route_line] = [d for d in lines if d["msg"] == "probe route ran"]
    [job_line] = [d for d in lines if d["msg"] == "probe job ran"]
    [request] = [s for s in spans.get_finished_spans() if s.name == "GET /api/v1/obsprobe/log"]
    [job] = [s for s in spans.get_finished_spans() if s.name == "job obsprobe.echo"]
    assert route_line["request_id"] == r.headers["x-request-id"]
    assert route_line["trace_id"] == job_line["trace_id"] == format(request.context.trace_id, "032x")
    assert route_line["span_id"] == format(request.context.span_id, "016x")
    assert job_line["span_id"] == format(job.context.span_id, "016x")
    assert job_line["job_id"] == r.json()["job"]


def test_serve_echoes_request_ids_and_writes_json_lines(proc_env):
    """The real server (``musicconnect serve``, uvicorn, MC_LOG_FORMAT=json)."""
    import httpx
    from helpers import free_port, serve_process, wait_ready

    port = free_port()
    proc = serve_process({**proc_env, "MC_LOG_FORMAT": "json", "MC_LOG_LEVEL": "INFO"}, port)
    try:
        wait_ready(proc, f"http://127.0.0.1:{port}")
        r = httpx.get(f"http://127.0.0.1:{port}/healthz", headers={"X-Request-ID": "probe-1"}, timeout=5)
        assert r.headers["x-request-id"] == "probe-1"
        bad = httpx.post(f"http://127.0.0.1:{port}/api/v1/auth/login", headers={"X-Request-ID": "login-9"},
                         json={"email": "nobody@example.com", "password": "wrong-password-1"}, timeout=10)
        assert bad.status_code in (400, 401, 422) and bad.headers["x-request-id"] == "login-9"
        fast = httpx.get(f"http://127.0.0.1:{port}/api/v1/me", timeout=5)  # a fast-path route
        assert len(fast.headers["x-request-id"]) == 16
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    lines = [orjson.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert lines and all({"ts", "level", "logger", "msg"} <= set(d) for d in lines), out[-2000:]
