"""Bad uploads get a clear problem and leave nothing behind: no row, no file."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from helpers import problem
from musicconnect.models import ContentItem


def nothing_stored(env):
    with env.platform.session() as s:
        assert s.scalar(select(func.count()).select_from(ContentItem)) == 0
    assert list(env.platform.storage.list("tracks/")) == []


def truncated(path, tmp_path):
    data = path.read_bytes()
    out = tmp_path / ("cut" + path.suffix)
    out.write_bytes(data[: len(data) // 2])
    return out


def test_not_audio(env, tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("not music at all\n" * 100)
    problem(env.upload(f), 415, "not-audio")
    img = tmp_path / "cover.png"
    from PIL import Image
    Image.new("RGB", (64, 64), "red").save(img)
    problem(env.upload(img), 415)
    nothing_stored(env)


@pytest.mark.parametrize("ext", ["flac", "wav"])
def test_truncated_or_corrupt(env, audio, tmp_path, ext):
    problem(env.upload(truncated(audio(8, ext=ext), tmp_path)), 422, "corrupt-audio")
    nothing_stored(env)


def test_zero_length(env, tmp_path):
    f = tmp_path / "empty.wav"
    f.write_bytes(b"")
    problem(env.upload(f), 422, "empty-file")
    nothing_stored(env)


def test_over_size_cap(env, audio):
    from musicconnect.plugin_state import set_config

    set_config(env.platform.db, env.platform.plugin_settings_model("streaming"), "streaming", "max_upload_mb", "1", {})
    env.platform.cache.clear()
    body = problem(env.upload(audio(14, ext="wav")), 413, "upload-too-large")
    assert "1 MB" in body["detail"]
    nothing_stored(env)


def test_over_max_duration(env, audio):
    from musicconnect.plugin_state import set_config

    set_config(env.platform.db, env.platform.plugin_settings_model("streaming"), "streaming", "max_duration_minutes", "1", {})
    env.platform.cache.clear()
    problem(env.upload(audio(65, ext="mp3")), 422, "too-long")
    nothing_stored(env)


def test_path_traversal_filename_is_harmless(env, audio):
    r = env.upload(audio(6), filename="../../../etc/passwd.flac")
    assert r.status_code == 202
    env.platform.jobs.wait_idle(60)
    keys = list(env.platform.storage.list("tracks/"))
    assert keys and all(".." not in k and "passwd" not in k for k in keys)
    detail = env.client.get(f"/api/v1/streaming/tracks/{r.json()['id']}", headers=env.artist.headers).json()
    assert detail["versions"][0]["original_filename"] == "passwd.flac"


def test_wrong_uploader(env, audio):
    from musicconnect.testing import make_user

    other = make_user(env.platform, "artist", artist_name="Other")
    problem(env.upload(audio(6), user=env.fan), 403)
    problem(env.upload(audio(6), user=other), 403)
    with open(audio(6), "rb") as fh:
        problem(env.client.post(f"/api/v1/streaming/artists/{env.artist.artist_id}/tracks",
                                files={"file": ("a.flac", fh)}), 401)
    nothing_stored(env)


def test_bad_fields_and_body(env, audio):
    problem(env.upload(audio(6), visibility="tier"), 422)
    problem(env.upload(audio(6), required_tier_id="nope", visibility="tier"), 422)
    problem(env.upload(audio(6), publish_at="tomorrow"), 422)
    problem(env.upload(audio(6), preview_start="-3"), 422)
    problem(env.client.post(f"/api/v1/streaming/artists/{env.artist.artist_id}/tracks",
                            headers={**env.artist.headers, "content-type": "audio/flac"}, content=b"raw"), 415)
    problem(env.client.post(f"/api/v1/streaming/artists/{env.artist.artist_id}/tracks", headers=env.artist.headers,
                            data={"title": "no file"}, files={"other": ("x.txt", b"x")}), 422)
    nothing_stored(env)


def test_bad_artwork(env, audio, tmp_path):
    bad = tmp_path / "art.jpg"
    bad.write_bytes(b"not an image")
    with open(audio(6), "rb") as fh, open(bad, "rb") as art:
        r = env.client.post(f"/api/v1/streaming/artists/{env.artist.artist_id}/tracks", headers=env.artist.headers,
                            files={"file": ("a.flac", fh), "artwork": ("art.jpg", art)})
    problem(r, 415, "unsupported-image")
    nothing_stored(env)


def test_uploaded_artwork_makes_covers(env, audio, tmp_path):
    from PIL import Image

    img = tmp_path / "cover.png"
    Image.new("RGB", (1600, 1000), (200, 40, 90)).save(img)
    with open(audio(6), "rb") as fh, open(img, "rb") as art:
        r = env.client.post(f"/api/v1/streaming/artists/{env.artist.artist_id}/tracks", headers=env.artist.headers,
                            files={"file": ("a.flac", fh), "artwork": ("cover.png", art)})
    assert r.status_code == 202
    env.platform.jobs.wait_idle(60)
    covers = env.client.get(f"/api/v1/streaming/tracks/{r.json()['id']}").json()["extra"]["streaming"]["covers"]
    assert set(covers) == {"1200", "600", "300"}
    import io
    with Image.open(io.BytesIO(env.fetch(covers["300"]).content)) as im:
        assert im.size == (300, 300) and im.format == "JPEG"
