"""Findings of the backup review: names in a manifest stay inside the set, the manifest is
authenticated (HMAC under the signing key), a refused restore writes nothing (not even the key
file), odd storage keys are skipped and reported, and ``restore --force --prune`` removes objects
the set does not hold."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from backup_helpers import one_line_error, run
from musicconnect import backup
from musicconnect.testing import TEST_S3

pytestmark = pytest.mark.slow


@pytest.fixture
def store(mc_platform):
    s = mc_platform.storage
    if hasattr(s, "ensure_bucket"):
        s.ensure_bucket()
    s.put_bytes("posts/a/cover.jpg", b"cover" * 1000, "image/jpeg")
    s.put_bytes("posts/b/notes.txt", b"some notes")
    return s


def _s3():
    import boto3

    return boto3.client("s3", endpoint_url=TEST_S3, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test")


def _put(env: dict, key: str, data: bytes) -> None:
    """An object written straight into a deployment's storage (bucket or media folder)."""
    if TEST_S3:
        s3 = _s3()
        try:
            s3.head_bucket(Bucket=env["MC_S3_BUCKET"])
        except Exception:
            s3.create_bucket(Bucket=env["MC_S3_BUCKET"])
        s3.put_object(Bucket=env["MC_S3_BUCKET"], Key=key, Body=data)
        return
    path = Path(env["MC_DATA_DIR"]) / "media" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _keys(env: dict) -> set[str]:
    if TEST_S3:
        s3 = _s3()
        try:
            pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=env["MC_S3_BUCKET"]))
        except Exception:
            return set()
        return {o["Key"] for page in pages for o in page.get("Contents", [])}
    root = Path(env["MC_DATA_DIR"]) / "media"
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} if root.is_dir() else set()


def _backup(env: dict, dest: Path, *args: str) -> Path:
    run(env, "backup", str(dest), *args)
    return backup.sets(dest)[-1]


def _rewrite(set_dir: Path, change, key: bytes | None = None) -> None:
    """Edit the manifest and fix its unkeyed checksum (anyone can); its HMAC too when given the key."""
    m = json.loads((set_dir / "manifest.json").read_text())
    change(m)
    m["manifest_sha256"] = backup._manifest_digest(m)
    if key is not None:
        m["manifest_hmac"] = backup._manifest_hmac(m, key)
    (set_dir / "manifest.json").write_text(json.dumps(m))


def _source_key(mc_settings) -> bytes:
    """The source deployment's key (made now if no part of it has needed one yet: S3 storage)."""
    return mc_settings.signing_key()


def test_manifest_names_outside_the_set_are_refused(store, source_env, empty_deployment, mc_settings, tmp_path):
    key = _source_key(mc_settings)
    set_dir = _backup(source_env, tmp_path / "bk", "--include-secret")
    m = json.loads((set_dir / "manifest.json").read_text())
    dump = set_dir / m["database"]["file"]
    # a dump outside the set, with a matching checksum: it would be read as the database
    outside = tmp_path / "elsewhere.db"
    shutil.copyfile(dump, outside)
    for name in ("../../elsewhere.db", str(outside), "sub/dump", ".."):
        _rewrite(set_dir, lambda m, name=name: m["database"].__setitem__("file", name), key)
        line = one_line_error(run(source_env, "backup", "verify", str(set_dir), ok=False))
        assert "only a file name inside the set" in line and repr(name) in line, line
    _rewrite(set_dir, lambda m: m["database"].__setitem__("file", dump.name), key)
    run(source_env, "backup", "verify", str(set_dir))
    # a key file from anywhere would have been installed as the target's <data dir>/secret.key
    planted = tmp_path / "planted.key"
    planted.write_text("attacker-chosen-key")
    _rewrite(set_dir, lambda m: m["signing_key"]["included"].update(
        file="../../planted.key", sha256=backup.sha256_file(planted)), key)
    target = empty_deployment()
    line = one_line_error(run(target, "restore", str(set_dir), "--yes", ok=False))
    assert "the key file '../../planted.key'" in line and "only a file name inside the set" in line
    assert not os.path.exists(os.path.join(target["MC_DATA_DIR"], "secret.key"))
    _rewrite(set_dir, lambda m: m["signing_key"]["included"].update(
        file="secret.key", sha256=backup.sha256_file(set_dir / "secret.key")), key)
    # a symbolic link leading out of the set
    dump.unlink()
    dump.symlink_to(outside)
    line = one_line_error(run(source_env, "backup", "verify", str(set_dir), ok=False))
    assert "symbolic link leading out of the set" in line
    # a storage key or a digest that is not one
    dump.unlink()
    shutil.copyfile(outside, dump)
    _rewrite(set_dir, lambda m: m["storage"]["objects"].__setitem__(
        "../../escape", m["storage"]["objects"]["posts/b/notes.txt"]), key)
    assert "lists an invalid object '../../escape'" in one_line_error(
        run(source_env, "backup", "verify", str(set_dir), ok=False))


def test_manifest_hmac_detects_tampering_that_the_checksum_cannot(store, source_env, empty_deployment, mc_settings,
                                                                  tmp_path):
    key = _source_key(mc_settings)
    set_dir = _backup(source_env, tmp_path / "bk")
    out = run(source_env, "backup", "verify", str(set_dir)).stdout
    assert "authenticated with this deployment's signing key" in out
    # with another deployment's key the checksums still hold, but nothing is proven about their origin
    other = empty_deployment()
    out = run({**other, "MC_SECRET_KEY": "another-key-0123456789abcdef0123456789"}, "backup", "verify",
              str(set_dir)).stdout
    assert "checksums only" in out
    # someone swaps one object's content for another's and fixes the unkeyed checksum
    objs = json.loads((set_dir / "manifest.json").read_text())["storage"]["objects"]
    _rewrite(set_dir, lambda m: m["storage"]["objects"]["posts/a/cover.jpg"].update(
        sha256=objs["posts/b/notes.txt"]["sha256"], size=objs["posts/b/notes.txt"]["size"]))
    line = one_line_error(run(source_env, "backup", "verify", str(set_dir), ok=False))
    assert "HMAC does not match" in line
    target = empty_deployment()
    line = one_line_error(run({**target, "MC_SECRET_KEY": key.decode()}, "restore", str(set_dir), "--yes", ok=False))
    assert "HMAC does not match" in line
    assert _keys(target) == set()
    # deleting the HMAC does not help
    _rewrite(set_dir, lambda m: m.pop("manifest_hmac"))
    assert "HMAC does not match" in one_line_error(run(source_env, "backup", "verify", str(set_dir), ok=False))


def test_a_refused_restore_writes_nothing_not_even_the_key(store, source_env, empty_deployment, tmp_path):
    set_dir = _backup(source_env, tmp_path / "bk", "--include-secret")
    # a new data directory (no key yet) in front of a database that has tables: refused, no key file
    fresh = tmp_path / "fresh-data"
    target = {**source_env, "MC_DATA_DIR": str(fresh)}
    line = one_line_error(run(target, "restore", str(set_dir), "--yes", ok=False))
    assert "the target database is not empty" in line
    assert not (fresh / "secret.key").exists()
    # an empty database but a storage that holds an object: refused, no key file, database left empty
    target = empty_deployment()
    _put(target, "posts/z/stray.bin", b"not in the backup")
    line = one_line_error(run(target, "restore", str(set_dir), "--yes", ok=False))
    assert "the target storage is not empty" in line
    assert not os.path.exists(os.path.join(target["MC_DATA_DIR"], "secret.key"))
    assert _keys(target) == {"posts/z/stray.bin"}
    assert "needs upgrade" in run(target, "db", "current").stdout  # still no schema: nothing restored

    # --force restores and leaves the stray object; --prune (asked for in the prompt) deletes it
    out = run(target, "restore", str(set_dir), "--yes", "--force").stdout
    assert "signing key installed" in out and "objects: 2 uploaded" in out
    assert _keys(target) == {"posts/a/cover.jpg", "posts/b/notes.txt", "posts/z/stray.bin"}
    r = run(target, "restore", str(set_dir), "--force", "--prune", ok=False)
    assert r.returncode != 0 and "DELETING its objects that the backup does not hold?" in r.stdout
    assert "posts/z/stray.bin" in _keys(target)
    out = run(target, "restore", str(set_dir), "--yes", "--force", "--prune").stdout
    assert "objects: 1 deleted from the target (not in the backup)" in out
    assert "1 objects not in the backup deleted" in out
    assert _keys(target) == {"posts/a/cover.jpg", "posts/b/notes.txt"}


def test_invalid_storage_keys_are_skipped_and_reported(store, source_env, mc_settings, tmp_path):
    odd = ["posts/c/with space.bin", "posts/c/folder/"] if TEST_S3 else ["posts/c/with space.bin"]
    for key in odd:
        _put(source_env, key, b"" if key.endswith("/") else b"odd")
    dest = tmp_path / "bk"
    out = run(source_env, "backup", str(dest)).stdout
    for key in odd:
        assert f"warning: object {key!r} skipped: not a valid storage key" in out, out
    assert f", {len(odd)} skipped (invalid keys)" in out
    m = json.loads((backup.sets(dest)[-1] / "manifest.json").read_text())
    assert m["storage"]["skipped"] == {"count": len(odd), "keys": sorted(odd)}
    assert m["stats"]["skipped"] == len(odd)
    assert sorted(m["storage"]["objects"]) == ["posts/a/cover.jpg", "posts/b/notes.txt"]
    run(source_env, "backup", "verify", str(backup.sets(dest)[-1]))
