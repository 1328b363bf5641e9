"""Fixtures for the streaming tests: a platform with the installed plugins (the tier rule is the
core's), an artist whose superfan tier has 24 h early access, and a fan."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from musicconnect_streaming import media


@dataclass
class Env:
    client: object
    platform: object
    artist: object
    fan: object
    tiers: dict

    def upload(self, path: Path, *, user=None, artist_id=None, **fields):
        with open(path, "rb") as fh:
            return self.client.post(f"/api/v1/streaming/artists/{artist_id or self.artist.artist_id}/tracks",
                                    headers=(user or self.artist).headers,
                                    files={"file": (fields.pop("filename", path.name), fh, "application/octet-stream")},
                                    data={k: str(v) for k, v in fields.items()})

    def ready_track(self, path: Path, **fields) -> str:
        r = self.upload(path, **fields)
        assert r.status_code == 202, r.text
        self.platform.jobs.wait_idle(120)
        detail = self.client.get(f"/api/v1/streaming/tracks/{r.json()['id']}", headers=self.artist.headers).json()
        assert detail["status"] == "ready", detail
        return r.json()["id"]

    def fetch(self, url: str) -> httpx.Response:
        """Segment and media URLs: through the app for local storage, over HTTP for S3."""
        if url.startswith("http://testserver"):
            return self.client.get(url[len("http://testserver"):])
        return httpx.get(url, timeout=10)


@pytest.fixture
def audio(tmp_path_factory):
    """audio(seconds, ext) -> a rich stereo file (cached per session)."""
    base = tmp_path_factory.mktemp("audio")
    made = {}

    def make(seconds: float = 14, ext: str = "flac", seed: int = 1) -> Path:
        key = (seconds, ext, seed)
        if key not in made:
            wav = base / f"src-{seconds}-{seed}.wav"
            if not wav.exists():
                media.generated_tone(wav, seconds, seed=seed)
            out = base / f"a-{seconds}-{seed}.{ext}"
            if ext == "wav":
                out = wav
            else:
                codec = {"flac": [], "mp3": ["-b:a", "192k"], "ogg": ["-c:a", "libopus", "-b:a", "128k"],
                         "m4a": ["-c:a", "aac", "-b:a", "192k"]}[ext]
                subprocess.run([media.ffmpeg_exe(), "-v", "error", "-y", "-i", str(wav), *codec, str(out)], check=True)
            made[key] = out
        return made[key]

    return make


@pytest.fixture
def env(mc_make_platform):
    from starlette.testclient import TestClient

    from musicconnect.app import create_app
    from musicconnect.testing import make_user

    p = mc_make_platform()  # the tier rule is the core's; the fan club (installed) adds early access
    artist = make_user(p, "artist", artist_name="Band")
    fan = make_user(p, "fan")
    with TestClient(create_app(p)) as client:
        superfan = next(t for t in p.access.tiers(artist.artist_id) if t.key == "superfan")
        r = client.patch(f"/api/v1/artists/{artist.artist_id}/tiers/{superfan.id}", headers=artist.headers,
                         json={"perks": {"early_access": 24}})  # the core creates bare tiers
        assert r.status_code == 200, r.text
        tiers = {t.key: t for t in p.access.tiers(artist.artist_id)}
        yield Env(client, p, artist, fan, tiers)
