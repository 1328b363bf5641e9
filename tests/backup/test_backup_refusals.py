"""Backups are incremental and atomic; restore checks everything before it writes anything."""
from __future__ import annotations

import json
import os

import pytest

from backup_helpers import one_line_error, run
from musicconnect import backup
from musicconnect.storage import StorageError
from musicconnect.testing import TEST_S3

pytestmark = pytest.mark.slow


@pytest.fixture
def store(mc_platform):
    """The source deployment's storage (a bucket in the distributed pass), with three objects."""
    s = mc_platform.storage
    if hasattr(s, "ensure_bucket"):
        s.ensure_bucket()
    s.put_bytes("posts/a/cover.jpg", b"cover" * 1000, "image/jpeg")
    s.put_bytes("posts/a/same.bin", b"same content")
    s.put_bytes("posts/b/same.bin", b"same content")  # two keys, one content: stored once
    return s


def _set(dest):
    return backup.sets(dest)[-1]


def _manifest(set_dir) -> dict:
    return json.loads((set_dir / "manifest.json").read_text())


def test_second_backup_copies_only_new_and_changed_objects(store, source_env, tmp_path):
    dest = tmp_path / "bk"
    run(source_env, "backup", str(dest))
    first = _manifest(_set(dest))
    assert first["stats"] | {"total_bytes": 0} == {"objects": 3, "copied": 2, "reused": 0, "total_bytes": 0, "skipped": 0,
                                                   "copied_bytes": 5000 + 12}
    assert len(list((dest / "objects").iterdir())) == 2
    store.put_bytes("posts/a/cover.jpg", b"new cover" * 1000)  # changed
    store.put_bytes("posts/c/new.bin", b"brand new")  # added
    store.delete("posts/b/same.bin")  # gone
    out = run(source_env, "backup", str(dest)).stdout
    assert "2 copied" in out and "1 unchanged since the previous set" in out
    second = _manifest(_set(dest))
    assert second["stats"]["copied"] == 2 and second["stats"]["reused"] == 1
    assert sorted(second["storage"]["objects"]) == ["posts/a/cover.jpg", "posts/a/same.bin", "posts/c/new.bin"]
    assert second["storage"]["objects"]["posts/a/same.bin"] == first["storage"]["objects"]["posts/a/same.bin"]
    # both sets stay restorable: the first set's objects are all still there
    assert len(list((dest / "objects").iterdir())) == 4
    for set_dir in backup.sets(dest):
        run(source_env, "backup", "verify", str(set_dir))
    # --full reads everything again (and copies nothing it already holds)
    full = run(source_env, "backup", str(dest), "--full").stdout
    assert "0 copied" in full and "0 unchanged" in full
    rows = run(source_env, "backup", "list", str(dest)).stdout.strip().splitlines()
    assert len(rows) == 3 and "(2 copied" in rows[0] and "(2 copied" in rows[1] and "(0 copied" in rows[2]


def test_corrupt_object_or_manifest_is_refused_before_anything_is_written(store, source_env, empty_deployment,
                                                                          tmp_path):
    dest = tmp_path / "bk"
    run(source_env, "backup", str(dest), "--include-secret")
    set_dir = _set(dest)
    target = empty_deployment()
    digest = _manifest(set_dir)["storage"]["objects"]["posts/a/cover.jpg"]["sha256"]
    obj = dest / "objects" / digest
    good = obj.read_bytes()
    obj.write_bytes(good[:-1] + b"X")
    line = one_line_error(run(source_env, "backup", "verify", str(set_dir), ok=False))
    assert "'posts/a/cover.jpg'" in line and "does not match its checksum" in line
    line = one_line_error(run(target, "restore", str(set_dir), "--yes", ok=False))
    assert "does not match its checksum" in line
    assert not (os.path.exists(target["MC_DATA_DIR"]) and os.listdir(target["MC_DATA_DIR"]))  # nothing written
    obj.write_bytes(good)
    # a manifest edited by hand (here: an object's size) no longer matches its own checksum
    m = _manifest(set_dir)
    m["storage"]["objects"]["posts/a/cover.jpg"]["size"] += 1
    (set_dir / "manifest.json").write_text(json.dumps(m))
    line = one_line_error(run(target, "restore", str(set_dir), "--yes", ok=False))
    assert "manifest.json is corrupt: its checksum does not match its content" in line
    (set_dir / "manifest.json").write_text("{not json")
    assert "is corrupt: not JSON" in one_line_error(run(target, "restore", str(set_dir), "--yes", ok=False))
    # the database dump
    run(source_env, "backup", str(dest))
    set_dir = _set(dest)
    dump = set_dir / _manifest(set_dir)["database"]["file"]
    with open(dump, "r+b") as fh:
        fh.seek(200)
        fh.write(b"\xff\xff")
    assert "database dump" in one_line_error(run(source_env, "backup", "verify", str(set_dir), ok=False))


def test_restore_refuses_a_non_empty_database_and_a_different_key(store, source_env, empty_deployment, tmp_path):
    dest = tmp_path / "bk"
    run(source_env, "backup", str(dest))  # without --include-secret
    set_dir = _set(dest)
    # into the deployment it came from: it has tables
    line = one_line_error(run(source_env, "restore", str(set_dir), "--yes", ok=False))
    assert "the target database is not empty" in line and "--force" in line
    # into an empty deployment with its own key: refused, and no key was made there
    target = empty_deployment()
    line = one_line_error(run(target, "restore", str(set_dir), "--yes", ok=False))
    assert "signing key" in line
    assert not os.path.exists(os.path.join(target["MC_DATA_DIR"], "secret.key"))
    # the operator sets the source's key: restored
    key = (tmp_path / "data" / "secret.key").read_text().strip()
    restored = run({**target, "MC_SECRET_KEY": key}, "restore", str(set_dir), "--yes").stdout
    assert "objects: 3 uploaded" in restored
    if TEST_S3:  # the object keeps its content type (recorded in the manifest)
        import boto3

        s3 = boto3.client("s3", endpoint_url=TEST_S3, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test")
        assert s3.head_object(Bucket=target["MC_S3_BUCKET"], Key="posts/a/cover.jpg")["ContentType"] == "image/jpeg"
    # without --yes the operator is asked (and "no" changes nothing)
    r = run({**target, "MC_SECRET_KEY": key}, "restore", str(set_dir), ok=False)
    assert r.returncode != 0 and "restore " in r.stdout and "?" in r.stdout
    # --force replaces a database that has tables (PostgreSQL: pg_restore --clean in one transaction)
    store.put_bytes("posts/d/later.bin", b"after the first set")
    run(source_env, "backup", str(dest))
    out = run({**target, "MC_SECRET_KEY": key}, "restore", str(backup.sets(dest)[-1]), "--yes", "--force").stdout
    assert "objects: 4 uploaded" in out
    assert "backup set" in run({**target, "MC_SECRET_KEY": key}, "backup", str(tmp_path / "again")).stdout
    again = _manifest(_set(tmp_path / "again"))
    assert sorted(again["storage"]["objects"]) == ["posts/a/cover.jpg", "posts/a/same.bin", "posts/b/same.bin",
                                                   "posts/d/later.bin"]


def test_a_failed_backup_leaves_no_set(mc_platform, store, tmp_path, monkeypatch):
    dest = tmp_path / "bk"
    real = type(store).get_bytes
    calls = []

    def flaky(self, key):
        calls.append(key)
        if len(calls) == 2:
            raise StorageError("the object store answered 503")
        return real(self, key)

    monkeypatch.setattr(type(store), "local_path", lambda self, key: None)  # read through the store's API
    monkeypatch.setattr(type(store), "download_to", lambda self, key, path: path.write_bytes(self.get_bytes(key)))
    monkeypatch.setattr(type(store), "get_bytes", flaky)
    with pytest.raises(StorageError):
        backup.create_backup(mc_platform, dest)
    assert backup.sets(dest) == [] and [p.name for p in dest.iterdir()] == ["objects"]
    assert not [p for p in (dest / "objects").iterdir() if p.name.startswith(".tmp-")]
    monkeypatch.undo()
    result = backup.create_backup(mc_platform, dest)
    assert backup.sets(dest) == [result.path] and result.objects == 3


def test_restore_upgrades_a_backup_made_at_an_older_schema(store, source_env, empty_deployment, tmp_path):
    # the example plugin's history back at its base: the set's schema is older than the software
    run(source_env, "db", "downgrade", "base", "--plugin", "hello")
    dest = tmp_path / "bk"
    run(source_env, "backup", str(dest), "--include-secret")
    assert _manifest(_set(dest))["schema"]["hello"] is None
    target = empty_deployment()
    out = run(target, "restore", str(_set(dest)), "--yes").stdout
    assert "schema: the backup's is older than this MusicConnect's: upgrading" in out
    assert "hello: empty -> " in out and out.strip().endswith("schema upgraded")
    current = run(target, "db", "current").stdout
    assert "needs upgrade" not in current and "hello: " in current
