"""Audio fingerprints against re-uploads, end to end through the HTTP upload API with real
ffmpeg and fpcalc: another artist's re-encoded, trimmed, quieter copy is blocked (or held for a
moderator, who publishes or takes it down); a block is a case too (a moderator's allow lets the
audio in again); an fpcalc failure holds the upload; no transaction is open while fpcalc runs; a
different track and an artist's own re-upload pass."""
from __future__ import annotations

import subprocess
import uuid
import wave
from pathlib import Path

import numpy as np
import pytest

from helpers import problem

fpcalc = pytest.importorskip("musicconnect_moderation.fingerprint").fpcalc_exe()
pytestmark = pytest.mark.skipif(fpcalc is None, reason="fpcalc not found: apt-get install libchromaprint-tools")


def song(path: Path, seconds: float, seed: int, rate: int = 22050) -> Path:
    """Distinctive generated music: random three-note chords every 0.3-0.8 s and a little noise
    (a steady tone or noise alone fingerprints alike whatever the seed)."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * rate))
    start = 0
    while start < len(out):
        n = int(rate * rng.uniform(0.3, 0.8))
        t = np.arange(n) / rate
        env = np.minimum(1, t * 40) * np.exp(-t * rng.uniform(1, 4))
        for midi in rng.choice(np.arange(45, 80), size=3, replace=False):
            note = 0.2 * env * np.sin(2 * np.pi * 440 * 2 ** ((midi - 69) / 12) * t)
            out[start:start + n] += note[:len(out) - start]
        start += n
    out += 0.02 * rng.standard_normal(len(out))
    pcm = (out / np.abs(out).max() * 0.8 * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


def transformed(src: Path, dest: Path, *args: str) -> Path:
    from musicconnect_streaming import media

    subprocess.run([media.ffmpeg_exe(), "-v", "error", "-y", *args[:2], "-i", str(src), *args[2:], str(dest)],
                   check=True, capture_output=True)
    return dest


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    base = tmp_path_factory.mktemp("fp")
    original = song(base / "original.wav", 40, seed=11)
    return {
        "original": original,
        # another encoding (mp3 128k), the first 10 s cut, 6 dB quieter
        "copy": transformed(original, base / "copy.mp3", "-ss", "10", "-af", "volume=-6dB", "-b:a", "128k"),
        "other": song(base / "other.wav", 40, seed=12),
    }


@pytest.fixture
def world(mc_make_platform):
    from starlette.testclient import TestClient

    from musicconnect.app import create_app
    from musicconnect.testing import make_user
    from musicconnect_moderation.fingerprint import reset_index

    def make(**moderation):
        reset_index()
        p = mc_make_platform(plugin_config={"moderation": moderation} if moderation else {})
        a = make_user(p, "artist", artist_name="Original Band")
        b = make_user(p, "artist", artist_name="Copycat")
        admin = make_user(p, "admin")
        client = TestClient(create_app(p))
        client.__enter__()
        made.append(client)
        return p, client, a, b, admin

    made = []
    yield make
    for c in made:
        c.__exit__(None, None, None)
    from musicconnect_moderation.fingerprint import reset_index as again
    again()


def upload(p, client, user, path: Path, title: str) -> dict:
    with open(path, "rb") as fh:
        r = client.post(f"/api/v1/streaming/artists/{user.artist_id}/tracks", headers=user.headers,
                        files={"file": (path.name, fh, "application/octet-stream")}, data={"title": title})
    assert r.status_code == 202, r.text
    p.jobs.wait_idle(180)
    detail = client.get(f"/api/v1/streaming/tracks/{r.json()['id']}", headers=user.headers)
    assert detail.status_code == 200, detail.text
    return detail.json()


def test_another_artists_transformed_copy_is_blocked_own_and_different_tracks_pass(world):
    p, client, a, b, admin = world()
    original = upload(p, client, a, SONGS["original"], "The Original")
    assert original["status"] == "ready", original
    copy = upload(p, client, b, SONGS["copy"], "Totally Mine")
    assert copy["status"] == "failed"
    error = copy["versions"][-1]["error"]
    assert error.startswith("matches-another-track:") and "The Original" in error, error
    assert copy["versions"][-1]["state"] == "failed"
    # a different track by the same artist B passes; A re-uploading its own copy passes
    assert upload(p, client, b, SONGS["other"], "Really Mine")["status"] == "ready"
    assert upload(p, client, a, SONGS["copy"], "The Original (radio edit)")["status"] == "ready"
    # the block is in the audit log with the score, and a case waits for a moderator
    log = client.get(f"/api/v1/moderation/audit?subject_id={copy['id']}", headers=admin.headers).json()
    assert [e["action"] for e in reversed(log)] == ["fingerprint.blocked", "case.opened"]
    assert log[-1]["data"]["score"] >= 0.92 and log[-1]["data"]["matched_content_id"] == original["id"]
    queue = client.get("/api/v1/moderation/cases", headers=admin.headers).json()["cases"]
    assert [(c["subject_id"], c["reason"], c["data"]["blocked"]) for c in queue] == [
        (copy["id"], "matches-another-track", True)]
    assert queue[0]["decisions"] == ["allow", "block"] and queue[0]["user_id"] == str(b.id)
    assert client.get("/api/v1/moderation/fingerprints/status", headers=admin.headers).json()["fingerprints"] == "on"


def test_a_held_match_waits_for_a_moderator_who_publishes_or_takes_it_down(world):
    p, client, a, b, admin = world(fingerprint_block_score=1.01)  # never block: everything goes to review
    original = upload(p, client, a, SONGS["original"], "The Original")
    first = upload(p, client, b, SONGS["copy"], "Cover?")
    second = upload(p, client, b, SONGS["original"], "Cover again")
    for held in (first, second):
        assert held["status"] == "processing" and held["status_reason"].startswith("held_for_review:"), held
        assert held["versions"][-1]["state"] == "ready"  # transcoded, just not published
        # the public does not see it
        assert client.get(f"/api/v1/streaming/tracks/{held['id']}").status_code == 404
    queue = client.get("/api/v1/moderation/cases?kind=fingerprint-match", headers=admin.headers).json()["cases"]
    by_subject = {c["subject_id"]: c for c in queue}
    assert set(by_subject) == {first["id"], second["id"]}
    case = by_subject[first["id"]]
    assert case["reason"] == "matches-another-track" and case["decisions"] == ["allow", "block"]
    assert 0.75 <= case["score"] <= 1 and case["data"]["matched_content_id"] == original["id"]
    assert case["user_id"] == str(b.id)
    assert abs(case["data"]["offset_seconds"] - 10) < 1.5  # the copy starts 10 s in
    r = client.post(f"/api/v1/moderation/cases/{case['id']}/decision", headers=admin.headers,
                    json={"decision": "allow", "note": "licensed"})
    assert r.status_code == 200, r.text
    assert client.get(f"/api/v1/streaming/tracks/{first['id']}").json()["status"] == "ready"
    r = client.post(f"/api/v1/moderation/cases/{by_subject[second['id']]['id']}/decision", headers=admin.headers,
                    json={"decision": "block"})
    assert r.status_code == 200, r.text
    assert client.get(f"/api/v1/streaming/tracks/{second['id']}").status_code == 404
    mine = client.get(f"/api/v1/streaming/tracks/{second['id']}", headers=b.headers).json()
    assert mine["status"] == "taken_down"
    actions = [e["action"] for e in client.get(f"/api/v1/moderation/audit?subject_id={second['id']}",
                                               headers=admin.headers).json()]
    assert actions == ["case.decided", "content.taken_down", "case.opened"]


def test_without_fpcalc_uploads_proceed_and_status_says_off(world):
    p, client, a, b, admin = world(fpcalc_path="no-such-fpcalc-" + uuid.uuid4().hex[:6])
    assert upload(p, client, a, SONGS["original"], "The Original")["status"] == "ready"
    assert upload(p, client, b, SONGS["copy"], "Copy")["status"] == "ready"  # unscreened
    status = client.get("/api/v1/moderation/fingerprints/status", headers=admin.headers).json()
    assert status["fingerprints"] == "off" and "not found" in status["reason"]
    problem(client.get("/api/v1/moderation/fingerprints/status", headers=a.headers), 403)


def test_scores_separate_copies_from_other_music(songs):
    """The matcher itself: transformed copies score high at the right offset, other music ~0.5."""
    from musicconnect_moderation import fingerprint as fpm

    fps = {name: fpm.compute(path, fpcalc)[1] for name, path in songs.items()}
    index = fpm.MatchIndex()
    ids = {"original": uuid.uuid4(), "other": uuid.uuid4()}
    index.add([(ids[n], uuid.uuid4(), fpm.index_keys(fps[n])) for n in ids])
    best = index.candidates(fps["copy"])[0]
    assert best.content_id == ids["original"]
    score, offset = fpm.best_alignment(fps["copy"], fps["original"], best.offsets, 80)
    assert score > 0.92 and abs(offset / fpm.RATE - 10) < 1
    unrelated = max(fpm.similarity(fps["other"], fps["original"], off)[0] for off in range(-100, 100))
    assert unrelated < 0.65


SONGS: dict = {}


@pytest.fixture(autouse=True)
def _songs(songs):
    SONGS.update(songs)


def test_cli_status_says_whether_fingerprints_are_on(mc_make_platform):
    from typer.testing import CliRunner

    from musicconnect_moderation.cli import make_app

    on = CliRunner().invoke(make_app(mc_make_platform()), ["status"])
    assert on.exit_code == 0 and on.output.startswith("fingerprints: on (") and "fpcalc" in on.output
    off = CliRunner().invoke(make_app(mc_make_platform(plugin_config={"moderation": {"fpcalc_path": "nope-fpcalc"}})),
                             ["status"])
    assert off.exit_code == 0
    assert off.output.strip() == "fingerprints: off (nope-fpcalc not found; install libchromaprint-tools)"


def upload_again(p, client, user, track_id: str, path: Path) -> dict:
    with open(path, "rb") as fh:
        r = client.post(f"/api/v1/streaming/tracks/{track_id}/audio", headers=user.headers,
                        files={"file": (path.name, fh, "application/octet-stream")})
    assert r.status_code == 202, r.text
    p.jobs.wait_idle(180)
    return client.get(f"/api/v1/streaming/tracks/{track_id}", headers=user.headers).json()


def test_a_moderator_can_allow_a_blocked_upload_whose_audio_then_passes(world):
    p, client, a, b, admin = world()
    upload(p, client, a, SONGS["original"], "The Original")
    copy = upload(p, client, b, SONGS["copy"], "Licensed Remix")
    assert copy["status"] == "failed"
    case = client.get("/api/v1/moderation/cases?kind=fingerprint-match", headers=admin.headers).json()["cases"][0]
    r = client.post(f"/api/v1/moderation/cases/{case['id']}/decision", headers=admin.headers,
                    json={"decision": "allow", "note": "the licence is on file"})
    assert r.status_code == 200, r.text
    again = upload_again(p, client, b, copy["id"], SONGS["copy"])
    assert again["status"] == "ready" and again["versions"][-1]["state"] == "ready", again
    # only the allowed match is waived: another artist's copy of the same original is still blocked
    c = __import__("musicconnect.testing", fromlist=["make_user"]).make_user(p, "artist", artist_name="Third")
    assert upload(p, client, c, SONGS["copy"], "Mine too")["status"] == "failed"


def test_an_fpcalc_failure_holds_the_upload_for_a_moderator(world, tmp_path):
    broken = tmp_path / "fpcalc-broken"
    broken.write_text("#!/bin/sh\necho 'ERROR: could not decode' >&2\nexit 3\n")
    broken.chmod(0o755)
    p, client, a, b, admin = world(fpcalc_path=str(broken))
    held = upload(p, client, a, SONGS["original"], "Unscreenable")
    assert held["status"] == "processing" and held["status_reason"].startswith("held_for_review: fingerprint-failed")
    assert client.get(f"/api/v1/streaming/tracks/{held['id']}").status_code == 404
    case = client.get("/api/v1/moderation/cases?kind=fingerprint-match", headers=admin.headers).json()["cases"][0]
    assert case["reason"] == "fingerprint-failed" and "could not decode" in case["data"]["error"]
    r = client.post(f"/api/v1/moderation/cases/{case['id']}/decision", headers=admin.headers,
                    json={"decision": "allow"})
    assert r.status_code == 200, r.text
    assert client.get(f"/api/v1/streaming/tracks/{held['id']}").json()["status"] == "ready"


def test_no_transaction_is_open_while_fpcalc_runs(world, monkeypatch):
    from musicconnect_moderation import fingerprint as fpm

    p, client, a, b, admin = world()
    sessions, during = [], []
    real_screen, real_compute = fpm.screen_audio, fpm.compute

    def screen(platform, session, item, audio_path):
        sessions.append(session)
        return real_screen(platform, session, item, audio_path)

    def compute(*args, **kwargs):
        during.append(sessions[-1].in_transaction())
        return real_compute(*args, **kwargs)

    monkeypatch.setattr(fpm, "screen_audio", screen)
    monkeypatch.setattr(fpm, "compute", compute)
    p.cache.clear()  # the settings are read from the table again
    assert upload(p, client, a, SONGS["original"], "The Original")["status"] == "ready"
    assert during == [False]
