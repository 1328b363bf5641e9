"""Review fixes of the privacy plugin: hostile export paths, stored media, objects written after
an erasure, an installed plugin that cannot be reached (HTTP and CLI)."""
from __future__ import annotations

import importlib.metadata as md
import io
import uuid
import zipfile
from types import SimpleNamespace

from starlette.testclient import TestClient
from typer.testing import CliRunner

from musicconnect import ErasureReport, ExportFile, ExportPart, hookimpl
from musicconnect.models import User
from musicconnect.testing import make_user

HOSTILE = ["../../etc/passwd", "..\\..\\boot.ini", "C:/Windows/win.ini", "/etc/shadow", "a/../../b",
           "notes/song.txt", "notes/song.txt", "./notes//song.txt", "ok/cover.jpg"]


class hostile:
    @staticmethod
    @hookimpl
    def export_user_data(platform, session, user):
        return ExportPart({"../records": [{"x": 1}]},
                          tuple(ExportFile(path=p, data=f"file {i}".encode() * 50) for i, p in enumerate(HOSTILE)))


def test_privacy_export_paths_are_normalised_and_media_stored(mc_make_platform):
    from musicconnect_privacy.exports import write_archive

    p = mc_make_platform(extra_plugins=[("hostile", hostile)])
    fan = make_user(p)
    buf = io.BytesIO()
    manifest = write_archive(p, fan.id, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zf:
        names = zf.namelist()
        assert len(names) == len(set(names))  # no duplicate entries
        for name in names:
            assert not name.startswith("/") and "\\" not in name and ":" not in name, name
            assert ".." not in name.split("/"), name
        files = [n for n in names if n.startswith("hostile/files/")]
        assert len(files) == len(HOSTILE)  # every file is there, under the plugin's folder
        assert {"hostile/files/notes/song.txt", "hostile/files/notes/song-2.txt", "hostile/files/notes/song-3.txt",
                "hostile/files/ok/cover.jpg"} <= set(files)
        assert sorted(n for n in files if "file-" in n) == [f"hostile/files/file-{i}" for i in range(1, 6)]
        assert zf.read("hostile/files/notes/song-2.txt") == b"file 6" * 50
        # media as it is (ZIP_STORED), records compressed
        assert {zf.getinfo(n).compress_type for n in files} == {zipfile.ZIP_STORED}
        assert zf.getinfo("manifest.json").compress_type == zipfile.ZIP_DEFLATED
        assert "hostile/records.json" in names
    listed = {f["path"] for f in manifest["plugins"]["hostile"]["files"]}
    assert set(files) <= listed


class late_writer:
    """A plugin whose erasure names a prefix (as streaming, fanclub and live do)."""

    @staticmethod
    @hookimpl
    def erase_user_data(platform, session, user):
        return ErasureReport({"things": 1}, storage_keys=(f"late/{user.id}/",))


def test_privacy_objects_written_after_the_erasure_are_purged(mc_make_platform):
    from musicconnect_privacy.erasure import JOBS, PendingDelete, erase, purge_objects

    assert {j.name: j.every_seconds for j in JOBS}["purge_objects"] == 3600  # retried hourly too
    p = mc_make_platform(extra_plugins=[("late_writer", late_writer)])
    getattr(p.storage, "ensure_bucket", lambda: None)()  # S3 (the distributed run): no app started
    fan = make_user(p)
    p.storage.put_bytes(f"late/{fan.id}/a.bin", b"before", "application/octet-stream")
    keep = make_user(p)
    p.storage.put_bytes(f"late/{keep.id}/a.bin", b"someone else's", "application/octet-stream")
    erase(p, fan.id)
    # a transcode finishing after the erasure committed writes one more object under the prefix
    p.storage.put_bytes(f"late/{fan.id}/b/c.bin", b"after", "application/octet-stream")
    assert purge_objects(SimpleNamespace(platform=p, progress=lambda *a: None)) == {"deleted": 1}
    assert list(p.storage.list(f"late/{fan.id}/")) == []
    assert list(p.storage.list(f"late/{keep.id}/")) == [f"late/{keep.id}/a.bin"]
    with p.read() as s:
        assert s.query(PendingDelete).count() == 0


def test_privacy_unreachable_plugin_refuses_export_and_erasure(mc_make_platform, tmp_path):
    from musicconnect.app import create_app
    from musicconnect_privacy.cli import make_app

    ghost = md.EntryPoint(name="ghost", value="musicconnect_no_such_module_xyz:plugin", group="musicconnect")
    eps = [ep for ep in md.entry_points(group="musicconnect") if ep.name == "privacy"] + [ghost]
    p = mc_make_platform(entry_points=eps)
    fan = make_user(p)
    from sqlalchemy import text

    with p.session() as s:  # it was installed and migrated before it broke: its tables may hold data
        s.execute(text("CREATE TABLE alembic_version_ghost (version_num VARCHAR(32) NOT NULL)"))
    with TestClient(create_app(p)) as c:
        r = c.post("/api/v1/privacy/erasure", headers=fan.headers, json={"password": fan.password})
        assert r.status_code == 503, r.text
        body = r.json()
        assert body["type"].endswith("/privacy-plugin-unavailable") and "ghost" in body["detail"]
        assert body["plugins"] == ["ghost"]
        assert c.get("/api/v1/me", headers=fan.headers).status_code == 200  # nothing erased
    runner = CliRunner()
    app = make_app(p)
    out = tmp_path / "x.zip"
    r = runner.invoke(app, ["export", fan.email, "--out", str(out)])
    assert r.exit_code == 1 and "ghost" in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1 and not out.exists()
    r = runner.invoke(app, ["erase", fan.email, "--yes"])
    assert r.exit_code == 1 and "ghost" in r.output and len(r.output.strip().splitlines()) == 1
    with p.read() as s:
        assert s.get(User, fan.id) is not None
    assert uuid.UUID(str(fan.id))
