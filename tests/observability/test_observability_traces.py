"""OpenTelemetry: one trace spans an upload from the HTTP request to the track's publish
(request span -> job span -> ffmpeg span -> publish span), on the embedded broker and on Redis
(the distributed run), and tracing off costs the request path nothing observable."""
from __future__ import annotations

import subprocess

import pytest
from starlette.testclient import TestClient

from musicconnect import tracing
from musicconnect.app import create_app
from musicconnect.testing import make_user


@pytest.fixture
def flac(tmp_path):
    from musicconnect_streaming import media

    wav = tmp_path / "tone.wav"
    media.generated_tone(wav, 4, seed=3)
    out = tmp_path / "tone.flac"
    subprocess.run([media.ffmpeg_exe(), "-v", "error", "-y", "-i", str(wav), str(out)], check=True)
    return out


def _by_name(exporter, prefix):
    return [s for s in exporter.get_finished_spans() if s.name.startswith(prefix)]


def test_an_upload_is_one_trace_from_request_to_publish(mc_make_platform, spans, flac):
    p = mc_make_platform()
    artist = make_user(p, "artist", artist_name="Traced Band")
    with TestClient(create_app(p)) as client:
        with open(flac, "rb") as fh:
            r = client.post(f"/api/v1/streaming/artists/{artist.artist_id}/tracks", headers=artist.headers,
                            files={"file": ("tone.flac", fh, "application/octet-stream")}, data={"title": "Traced"})
        assert r.status_code == 202, r.text
        assert r.headers["x-request-id"]
        p.jobs.wait_idle(120)
        detail = client.get(f"/api/v1/streaming/tracks/{r.json()['id']}", headers=artist.headers).json()
        assert detail["status"] == "ready", detail

    [request] = _by_name(spans, "POST /api/v1/streaming/artists/{artist_id}/tracks")
    assert request.attributes["http.route"] == "/api/v1/streaming/artists/{artist_id}/tracks"
    assert request.attributes["http.response.status_code"] == 202
    assert request.attributes["musicconnect.request_id"] == r.headers["x-request-id"]
    jobs = [s for s in _by_name(spans, "job streaming.") if s.parent and s.parent.span_id == request.context.span_id]
    [job] = [s for s in jobs if s.name == "job streaming.transcode"]
    [ffmpeg] = _by_name(spans, "ffmpeg transcode")
    [publish] = _by_name(spans, "publish track")
    trace_id = request.context.trace_id
    assert {s.context.trace_id for s in (request, job, ffmpeg, publish)} == {trace_id}
    assert job.parent.span_id == request.context.span_id
    assert ffmpeg.parent.span_id == job.context.span_id
    assert publish.parent.span_id == job.context.span_id
    assert job.attributes["musicconnect.job.actor"] == "streaming.transcode"
    assert ffmpeg.attributes["process.exit.code"] == 0
    assert request.start_time < job.start_time < ffmpeg.start_time < ffmpeg.end_time <= publish.start_time
    assert publish.end_time <= job.end_time


def test_a_client_traceparent_is_honoured(mc_client, spans):
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    r = mc_client.get("/healthz", headers={"traceparent": parent, "X-Request-ID": "lb-42"})
    assert r.status_code == 200 and r.headers["x-request-id"] == "lb-42"
    [span] = _by_name(spans, "GET /healthz")
    assert format(span.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert format(span.parent.span_id, "016x") == "b7ad6b7169203331"


def test_tracing_off_makes_no_spans_and_span_is_a_no_op(mc_client):
    assert not tracing.active()
    assert tracing.span("x") is tracing.span("y")  # one shared no-op context manager
    with tracing.span("x") as sp:
        assert sp is None
    assert tracing.inject() is None and tracing.current_ids() is None
    assert mc_client.get("/healthz").headers["x-request-id"]
