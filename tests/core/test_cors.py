"""CORS (MC_CORS_ORIGINS): a web client on a listed origin may call every route (FastAPI routes,
fast routes, error responses); any other origin, and every origin by default, gets no CORS header."""
from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient

from musicconnect.app import create_app
from musicconnect.cors import parse_cors_origins
from musicconnect.settings import Settings
from musicconnect.testing import make_user

PLAYER = "https://player.example.com"
OTHER = "https://evil.example.net"


def acl(resp) -> dict[str, str]:
    """The response's Access-Control-* headers."""
    return {k.lower(): v for k, v in resp.headers.items() if k.lower().startswith("access-control-")}


@pytest.fixture
def cors_env(mc_make_platform):
    p = mc_make_platform(cors_origins=",".join(parse_cors_origins(f"{PLAYER}, http://localhost:5173")))
    user = make_user(p, "fan")
    app = create_app(p)
    with TestClient(app) as client:
        yield client, user, app


def preflight(client, path, method="GET", headers="authorization", origin=PLAYER):
    return client.options(path, headers={"origin": origin, "access-control-request-method": method,
                                         "access-control-request-headers": headers})


def test_preflight_from_an_allowed_origin(cors_env):
    client, _, _ = cors_env
    for path, method, asked in [("/api/v1/me", "GET", "authorization"),  # a fast route
                                ("/api/v1/me", "PATCH", "authorization, content-type"),  # a FastAPI route
                                ("/api/v1/auth/login", "POST", "content-type, idempotency-key"),
                                ("/api/v1/streaming/tracks/x/segments/0.ts", "GET", "range")]:
        r = preflight(client, path, method, asked)
        assert r.status_code == 200, (path, r.text)
        h = acl(r)
        assert h["access-control-allow-origin"] == PLAYER
        allowed = {m.strip() for m in h["access-control-allow-methods"].split(",")}
        assert {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} <= allowed
        headers = {x.strip().lower() for x in h["access-control-allow-headers"].split(",")}
        assert {"authorization", "content-type", "idempotency-key", "range"} <= headers
        assert int(h["access-control-max-age"]) >= 600
        assert "access-control-allow-credentials" not in h  # bearer tokens, never cookies
        assert "Origin" in r.headers["vary"]
    # a header outside the list is refused (the browser then blocks the request)
    r = preflight(client, "/api/v1/me", "GET", "x-forwarded-for")
    assert r.status_code == 400 and "x-forwarded-for" not in acl(r).get("access-control-allow-headers", "").lower()


def test_simple_requests_get_the_headers_on_every_kind_of_route(cors_env):
    client, user, app = cors_env
    assert app.fast.match("GET", "/api/v1/me") is not None  # served by the fast path, before FastAPI
    cases = [
        ("/api/v1/me", user.headers, 200),  # fast route
        ("/api/v1/me", {}, 401),  # fast route, not signed in
        (f"/api/v1/artists/{uuid.uuid4()}", {}, 404),  # FastAPI route, problem+json error
        ("/api/v1/me/tokens", {}, 401),  # FastAPI route, not signed in
        ("/health", {}, 200),
    ]
    for path, headers, status in cases:
        r = client.get(path, headers={**headers, "origin": PLAYER})
        assert r.status_code == status, (path, r.status_code, r.text)
        if status >= 400:
            assert r.headers["content-type"] == "application/problem+json", path
        h = acl(r)
        assert h["access-control-allow-origin"] == PLAYER, (path, r.headers)
        exposed = {x.strip().lower() for x in h["access-control-expose-headers"].split(",")}
        assert {"content-length", "content-range", "retry-after", "location"} <= exposed
        assert "access-control-allow-credentials" not in h
        assert "Origin" in r.headers.get("vary", ""), path
    r = client.patch("/api/v1/me", json={"display_name": "Cross Origin"}, headers={**user.headers, "origin": PLAYER})
    assert r.status_code == 200 and acl(r)["access-control-allow-origin"] == PLAYER
    # a second listed origin is answered with its own name, never the list
    r = client.get("/api/v1/me", headers={**user.headers, "origin": "http://localhost:5173"})
    assert acl(r)["access-control-allow-origin"] == "http://localhost:5173"


def test_other_origins_get_no_cors_headers(cors_env):
    client, user, _ = cors_env
    for origin in (OTHER, "https://player.example.com.evil.net", "http://player.example.com", "null"):
        r = client.get("/api/v1/me", headers={**user.headers, "origin": origin})
        assert r.status_code == 200 and acl(r) == {}, origin
        r = client.get(f"/api/v1/artists/{uuid.uuid4()}", headers={"origin": origin})
        assert r.status_code == 404 and acl(r) == {}
        r = preflight(client, "/api/v1/me", origin=origin)
        assert r.status_code == 405 and acl(r) == {}, (origin, r.status_code, r.headers)
        assert r.headers["content-type"] == "application/problem+json"
    # same-origin and non-browser requests: no Origin, no CORS header, but caches key on Origin
    r = client.get("/api/v1/me", headers=user.headers)
    assert r.status_code == 200 and acl(r) == {} and "Origin" in r.headers["vary"]


def test_default_sends_no_cors_headers(mc_client, mc_users):
    user = mc_users.make("fan")
    for path, headers in [("/api/v1/me", user.headers), ("/api/v1/me", {}), (f"/api/v1/artists/{uuid.uuid4()}", {})]:
        r = mc_client.get(path, headers={**headers, "origin": PLAYER})
        assert r.status_code in (200, 401, 404) and acl(r) == {}, path
        assert "origin" not in r.headers.get("vary", "").lower()
    r = preflight(mc_client, "/api/v1/me")
    assert r.status_code == 405 and acl(r) == {}


def test_the_setting_is_normalised_and_bad_values_are_refused():
    s = Settings(cors_origins="https://Player.Example.com:443/, http://localhost:5173,https://player.example.com")
    assert s.cors_origins == "https://player.example.com,http://localhost:5173"
    assert Settings().cors_origins == ""
    for bad, words in [("*", "refused"), ("https://*.example.com", "refused"), ("null", "refused"),
                       ("player.example.com", "not an origin"), ("https://player.example.com/app", "not an origin"),
                       ("ftp://files.example.com", "not an origin")]:
        with pytest.raises(ValidationError) as err:
            Settings(cors_origins=bad)
        msg = err.value.errors()[0]["msg"]
        assert "MC_CORS_ORIGINS" in msg and words in msg and "\n" not in msg, (bad, msg)


def test_serve_refuses_a_wildcard_with_one_line(proc_env):
    bin_ = Path(sys.executable).parent / "musicconnect"
    r = subprocess.run([str(bin_), "serve", "--port", "0", "--no-migrate"], capture_output=True, text=True,
                       env={**proc_env, "MC_CORS_ORIGINS": "https://player.example.com,*"}, timeout=120)
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "MC_CORS_ORIGINS" in lines[0], r.stderr
    assert "'*' is refused" in lines[0] and "Traceback" not in r.stderr
    assert "MusicConnect on" not in r.stdout


def test_a_player_on_an_allowed_origin_plays_a_track(cors_env, tmp_path):
    """What hls.js in a page on the player's origin fetches: the master playlist, a variant, the key
    (behind its playback token) and the segments (with Range), every answer readable cross-origin."""
    import re

    from musicconnect_streaming import media

    client, _, app = cors_env
    p = app.state.platform
    artist = make_user(p, "artist", artist_name="Cross Origin Band")
    wav = tmp_path / "tone.wav"
    media.generated_tone(wav, 7, seed=3)
    with wav.open("rb") as fh:
        r = client.post(f"/api/v1/streaming/artists/{artist.artist_id}/tracks", headers=artist.headers,
                        files={"file": ("tone.wav", fh, "audio/wav")}, data={"title": "Far Away"})
    assert r.status_code == 202, r.text
    p.jobs.wait_idle(120)
    tid = r.json()["id"]
    base = f"/api/v1/streaming/tracks/{tid}/"

    def get(url, **headers):
        if url.startswith("http://testserver"):
            url = url[len("http://testserver"):]
        resp = client.get(url, headers={"origin": PLAYER, **headers})
        assert resp.status_code in (200, 206), (url, resp.status_code, resp.text[:200])
        assert acl(resp)["access-control-allow-origin"] == PLAYER, (url, resp.headers)
        return resp

    master = get(base + "master.m3u8")
    variants = [ln for ln in master.text.splitlines() if ln and not ln.startswith("#")]
    assert variants
    playlist = get(base + variants[0]).text
    key_uri = re.search(r'#EXT-X-KEY:METHOD=AES-128,URI="([^"]+)"', playlist).group(1)
    assert key_uri.startswith("../key?pt=")
    key = get(base + key_uri[3:])
    assert len(key.content) == 16
    segments = [ln for ln in playlist.splitlines() if ln and not ln.startswith("#")]
    assert segments
    if not segments[0].startswith("http://testserver"):
        # S3 storage: signed bucket (or CDN) URLs; their CORS rule is the bucket's (docs/security.md)
        import httpx

        assert p.settings.storage_backend == "s3"
        assert httpx.get(segments[0], timeout=10).status_code == 200
        return
    whole = get(segments[0])
    assert len(whole.content) > 1000
    part = get(segments[0], range="bytes=0-187")
    assert part.content == whole.content[: len(part.content)] and len(part.content) in (188, len(whole.content))
    assert preflight(client, segments[0].replace("http://testserver", ""), "GET", "range").status_code == 200
