"""Backups of a deployment: its database and every object of its storage, restorable into an
empty deployment (``musicconnect backup`` / ``musicconnect restore``; docs/operations.md,
"Backup and restore").

A destination folder holds backup *sets* and the objects they share::

    DEST/20261129T101530Z/manifest.json   what the set holds, with a checksum of everything
    DEST/20261129T101530Z/database.sqlite3 (SQLite, online backup API) or database.pgdump (pg_dump -Fc)
    DEST/20261129T101530Z/state-<plugin>-<name>  a file of a plugin's state in the data dir
                                          (``register_state_files``; SQLite: online backup API)
    DEST/objects/<sha256>                 each distinct object content, stored once

Objects are copied incrementally: an object whose size and change tag (S3 ETag, file mtime)
match the previous set's listing is not read again; anything else is downloaded, hashed and kept
under its digest unless that content is already there. A set is built under a temporary name and
renamed when complete, so a failed backup never leaves a set that looks whole.
"""
from __future__ import annotations

import glob
import hashlib
import hmac
import json
import mimetypes
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from sqlalchemy import text
from sqlalchemy.engine import make_url

from .errors import MusicConnectError

FORMAT = 2  # written when the set holds plugins' state files (an older reader would drop them)
READS = (1, 2)  # 1: database and objects only
SQLITE_HEADER = b"SQLite format 3\x00"
SET_RE = re.compile(r"^\d{8}T\d{6}(\d{6})?Z$")
MEMBER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # a file of the set: a bare name
DIGEST_RE = re.compile(r"^[0-9a-f]{64}$")
SIGNED = ("manifest_sha256", "manifest_hmac")  # the fields that are not part of the signed body
CHUNK = 1024 * 1024
Progress = Callable[[str], None]


class BackupError(MusicConnectError):
    pass


def _quiet(_line: str) -> None:
    pass


class _Ticker:
    """Progress lines for long work: at most one every ``every`` seconds, plus the last one."""

    def __init__(self, progress: Progress, every: float = 2.0):
        self.progress, self.every, self.last = progress, every, time.monotonic()

    def tick(self, line: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last >= self.every:
            self.last = now
            self.progress(line)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def key_fingerprint(key: bytes) -> str:
    """Names the signing key without revealing it (compared on restore)."""
    return hashlib.sha256(b"musicconnect-backup-key-fingerprint\x00" + key).hexdigest()[:16]


def _manifest_body(manifest: dict) -> bytes:
    body = {k: v for k, v in manifest.items() if k not in SIGNED}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _manifest_digest(manifest: dict) -> str:
    """Unkeyed: detects corruption (a flipped bit, a truncated file), not tampering."""
    return hashlib.sha256(_manifest_body(manifest)).hexdigest()


def _manifest_hmac(manifest: dict, key: bytes) -> str:
    """Keyed with a key derived from the signing key: only someone holding it can make one."""
    derived = hmac.new(key, b"musicconnect-backup-manifest-v1", hashlib.sha256).digest()
    return hmac.new(derived, _manifest_body(manifest), hashlib.sha256).hexdigest()


def _member(set_dir: Path, name, what: str) -> Path:
    """A file of the set named by the manifest: a bare file name, and no link leading out of the set."""
    if not isinstance(name, str) or not MEMBER_RE.match(name) or ".." in name:
        raise BackupError(f"{Path(set_dir) / 'manifest.json'} names {what} {name!r}: only a file name inside the "
                          f"set is accepted")
    path = Path(set_dir) / name
    if path.is_symlink() and Path(os.path.realpath(path)).parent != Path(os.path.realpath(set_dir)):
        raise BackupError(f"{path} ({what}) is a symbolic link leading out of the set")
    return path


# --------------------------------------------------------------------------- database

def _sqlite_path(url: str) -> Path | None:
    u = make_url(url)
    if u.get_backend_name() != "sqlite":
        return None
    if not u.database or u.database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(u.database)


def _pg_conninfo(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password (which goes in PGPASSWORD, never on a command line)."""
    u = make_url(url)
    env = {**os.environ}
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    plain = u.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _pg_tool(name: str, server_major: int | None) -> str:
    """``pg_dump``/``pg_restore`` for this server: the matching /usr/lib/postgresql/<major>/bin
    first, then PATH, then the newest installed version."""
    if server_major is not None:
        exact = Path(f"/usr/lib/postgresql/{server_major}/bin/{name}")
        if exact.exists():
            return str(exact)
    found = shutil.which(name)
    if found:
        return found
    installed = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                       key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if installed:
        return installed[-1]
    raise BackupError(f"{name} is not installed: install the PostgreSQL client tools (postgresql-client) "
                      f"or put {name} on PATH")


def _server_major(engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SHOW server_version_num")).scalar()) // 10000


def _pg_run(cmd: list[str], env: dict[str, str], server_major: int, what: str) -> None:
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode == 0:
        return
    err = (r.stderr or r.stdout).strip()
    if "version mismatch" in err:
        tool = subprocess.run([cmd[0], "--version"], capture_output=True, text=True).stdout.strip()
        raise BackupError(f"{tool} cannot {what} a PostgreSQL {server_major} server: install the PostgreSQL "
                          f"{server_major} client tools (/usr/lib/postgresql/{server_major}/bin or PATH)")
    first = next((ln for ln in err.splitlines() if ln.strip()), f"exit {r.returncode}")
    raise BackupError(f"{Path(cmd[0]).name} failed: {first.strip()}")


def dump_database(platform, dest: Path) -> Path:
    """A consistent copy of the database in ``dest`` (a folder); returns the file."""
    url = platform.settings.effective_database_url
    src = _sqlite_path(url)
    if src is not None:
        if not src.exists():
            raise BackupError(f"the SQLite database {src} does not exist")
        out = dest / "database.sqlite3"
        source = sqlite3.connect(src, timeout=15)
        target = sqlite3.connect(out)
        try:
            source.backup(target)  # one step: a consistent snapshot while the server keeps writing
        finally:
            target.close()
            source.close()
        return out
    engine = platform.db.engine
    major = _server_major(engine)
    conninfo, env = _pg_conninfo(url)
    out = dest / "database.pgdump"
    _pg_run([_pg_tool("pg_dump", major), "-Fc", "--no-owner", "--no-privileges", "-f", str(out),
             "--dbname", conninfo], env, major, "dump")
    return out


def database_is_empty(platform) -> bool:
    """No tables at all (a fresh SQLite file or a freshly created PostgreSQL database)."""
    engine = platform.db.engine
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            q = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        else:
            q = ("SELECT count(*) FROM information_schema.tables "
                 "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')")
        return not conn.execute(text(q)).scalar()


# --------------------------------------------------------------------------- plugins' state files

@dataclass(frozen=True)
class StateFile:
    """A file of a plugin's state in the data dir (``register_state_files``)."""

    plugin: str
    path: str  # relative to the data dir, with /
    source: Path


def _relative(name, what: str) -> PurePosixPath:
    """A path relative to the data dir: not absolute, no ``..``, not empty."""
    if not isinstance(name, (str, os.PathLike)):
        raise BackupError(f"{what} {name!r}: not a path")
    rel = PurePosixPath(Path(name).as_posix())
    if rel.is_absolute() or not rel.parts or ".." in rel.parts or str(rel) == ".":
        raise BackupError(f"{what} {str(name)!r}: only a path relative to the data dir, without '..', is accepted")
    return rel


def _inside(data_dir: Path, rel: PurePosixPath, what: str) -> Path:
    """``data_dir / rel``, refusing one that a symbolic link leads out of the data dir."""
    root = Path(os.path.realpath(data_dir))
    path = root / rel
    if not Path(os.path.realpath(path)).is_relative_to(root):
        raise BackupError(f"{what} {str(rel)!r} is a symbolic link leading out of the data dir {root}")
    return path


def _reserved(settings) -> set[Path]:
    """Files no plugin may declare: the key file and the SQLite database (with its journals)."""
    reserved = {Path(os.path.realpath(Path(settings.data_dir) / "secret.key"))}
    db = _sqlite_path(settings.effective_database_url)
    if db is not None:
        reserved |= {Path(os.path.realpath(f"{db}{suffix}")) for suffix in ("", "-wal", "-shm", "-journal")}
    return reserved


def state_files(platform) -> list[StateFile]:
    """The files of plugins' state the enabled plugins declare (``register_state_files``),
    checked: each inside the data dir (no absolute path, ``..`` or link leading out), an existing
    regular file, declared once, neither the database nor the key file."""
    from .errors import Problem
    from .plugins import HookFailed

    try:
        answers = platform.plugins.collect("register_state_files", platform=platform)
    except HookFailed as exc:
        raise BackupError(f"the {exc.plugin} plugin failed to name its state files ({type(exc.cause).__name__}: "
                          f"{exc.cause}): the backup would lack its state, so it was refused") from None
    except Problem as exc:
        raise BackupError(f"a plugin refused to name its state files: {exc.detail}") from None
    data_dir = Path(platform.settings.data_dir)
    reserved = _reserved(platform.settings)
    out: list[StateFile] = []
    seen: dict[str, str] = {}
    for plugin, name in answers:
        what = f"the {plugin} plugin's state file"
        rel = _relative(name, what)
        path = _inside(data_dir, rel, what)
        if Path(os.path.realpath(path)) in reserved:
            raise BackupError(f"{what} {str(rel)!r} is the database or the key file, which the backup handles itself")
        if not path.is_file():
            raise BackupError(f"{what} {str(rel)!r} does not exist in {data_dir} (or is not a regular file)")
        if str(rel) in seen:
            raise BackupError(f"{what} {str(rel)!r} is declared twice (also by {seen[str(rel)]})")
        seen[str(rel)] = plugin
        out.append(StateFile(plugin, str(rel), path))
    return out


def _is_sqlite(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(len(SQLITE_HEADER)) == SQLITE_HEADER


def _copy_state(state: StateFile, out: Path) -> dict:
    """Copy one state file into the set (a SQLite file through the online backup API: consistent
    while its owner writes, without taking the owner's lock); its manifest entry."""
    sqlite = _is_sqlite(state.source)
    if sqlite:
        source = sqlite3.connect(state.source, timeout=15)
        target = sqlite3.connect(out)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
    else:
        shutil.copyfile(state.source, out)
    _fsync(out)
    return {"plugin": state.plugin, "path": state.path, "file": out.name, "sqlite": sqlite,
            "size": out.stat().st_size, "sha256": sha256_file(out)}


def _state_member(state: StateFile, taken: set[str]) -> str:
    """``state-<plugin>-<base name>``: a name MEMBER_RE accepts, unique in the set."""
    base = re.sub(r"[^A-Za-z0-9._-]", "_", PurePosixPath(state.path).name).replace("..", "_")
    stem = f"state-{state.plugin}-{base}"
    name, n = stem, 1
    while name in taken:
        n += 1
        name = f"{stem}-{n}"
    taken.add(name)
    return name


# --------------------------------------------------------------------------- sets

@dataclass
class BackupResult:
    path: Path
    objects: int = 0
    copied: int = 0
    copied_bytes: int = 0
    reused: int = 0
    skipped: int = 0
    total_bytes: int = 0
    database_bytes: int = 0
    seconds: float = 0.0
    manifest: dict = field(default_factory=dict)


def sets(dest: Path) -> list[Path]:
    """The complete sets in ``dest``, oldest first."""
    if not Path(dest).is_dir():
        return []
    return sorted(p for p in Path(dest).iterdir()
                  if p.is_dir() and SET_RE.match(p.name) and (p / "manifest.json").is_file())


def read_manifest(set_dir: Path) -> dict:
    path = Path(set_dir) / "manifest.json"
    if not path.is_file():
        raise BackupError(f"{set_dir} is not a backup set (no manifest.json)")
    try:
        manifest = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise BackupError(f"{path} is corrupt: not JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("manifest_sha256") != _manifest_digest(manifest):
        raise BackupError(f"{path} is corrupt: its checksum does not match its content")
    if manifest.get("format") not in READS:
        raise BackupError(f"{path} has format {manifest.get('format')!r}; this MusicConnect reads formats "
                          f"{', '.join(map(str, READS))}")
    from .storage import is_valid_key

    try:  # every name the manifest gives is checked before anything is read or written through it
        _member(set_dir, manifest["database"]["file"], "the database dump")
        included = manifest.get("signing_key", {}).get("included")
        if included:
            _member(set_dir, included["file"], "the key file")
        for key, obj in manifest["storage"]["objects"].items():
            if not is_valid_key(key) or not isinstance(obj.get("sha256"), str) or not DIGEST_RE.match(obj["sha256"]):
                raise BackupError(f"{path} lists an invalid object {key!r}")
        for entry in manifest.get("state_files", []):
            _member(set_dir, entry["file"], "a state file")
            _relative(entry["path"], f"{path} names a state file")
            if not isinstance(entry["sha256"], str) or not DIGEST_RE.match(entry["sha256"]):
                raise BackupError(f"{path} lists an invalid state file {entry['path']!r}")
    except (KeyError, TypeError, AttributeError):
        raise BackupError(f"{path} is corrupt: a required field is missing") from None
    return manifest


def _schema(platform) -> dict[str, str | None]:
    from . import migrate

    return {row["name"]: row["current"] for row in migrate.status(platform)}


def _plugins(platform) -> dict[str, str | None]:
    return {r.name: r.version for r in platform.plugins if not r.builtin and platform.plugins.is_enabled(r.name)}


def _configured_key_file(settings) -> Path | None:
    """The generated key file, when the key is not configured (MC_SECRET_KEY)."""
    path = Path(settings.data_dir) / "secret.key"
    return path if path.is_file() and path.read_text().strip().encode() == settings.signing_key() else None


def create_backup(platform, dest: Path, *, full: bool = False, include_secret: bool = False,
                  progress: Progress = _quiet) -> BackupResult:
    """Back up ``platform``'s database and storage into a new set under ``dest``."""
    from . import __version__

    started = time.monotonic()
    dest = Path(dest)
    objects_dir = dest / "objects"
    objects_dir.mkdir(parents=True, exist_ok=True)
    now = datetime.now(timezone.utc)
    name = now.strftime("%Y%m%dT%H%M%S%fZ")
    work = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=dest))
    try:
        previous = sets(dest)
        prev_objects: dict = {}
        if previous and not full:
            try:
                prev_objects = read_manifest(previous[-1])["storage"]["objects"]
            except (BackupError, KeyError, TypeError):
                prev_objects = {}  # an unreadable previous set: read everything again
        schema = _schema(platform)
        progress("database: dumping")
        db_file = dump_database(platform, work)
        db = {"dialect": platform.db.dialect, "file": db_file.name, "size": db_file.stat().st_size,
              "sha256": sha256_file(db_file)}
        progress(f"database: {db['size']} bytes ({db['dialect']})")
        # right after the dump (objects can take long): the two copies are as close in time as can be
        states, taken = [], {"manifest.json", db_file.name, "secret.key"}
        for state in state_files(platform):
            entry = _copy_state(state, work / _state_member(state, taken))
            states.append(entry)
            progress(f"state: {state.path} of the {state.plugin} plugin ({entry['size']} bytes)")
        result = BackupResult(dest / name, database_bytes=db["size"])
        storage = platform.storage
        listed: dict[str, dict] = {}
        ticker = _Ticker(progress)
        skipped: list[str] = []
        for info in storage.inventory(skipped):
            prev = prev_objects.get(info.key)
            if (prev and prev.get("size") == info.size and prev.get("tag") == info.tag
                    and (objects_dir / prev["sha256"]).is_file()):
                entry = {"sha256": prev["sha256"], "size": info.size, "tag": info.tag,
                         **({"content_type": prev["content_type"]} if prev.get("content_type") else {})}
                result.reused += 1
            else:
                entry = _copy_object(storage, info, objects_dir, full=full, result=result)
            listed[info.key] = entry
            result.objects += 1
            result.total_bytes += entry["size"]
            ticker.tick(f"objects: {result.objects} listed, {result.copied} copied, {result.reused} unchanged")
        for key in skipped:
            progress(f"warning: object {key!r} skipped: not a valid storage key (the platform never writes one; "
                     f"rename or delete it in the storage)")
        result.skipped = len(skipped)
        progress(f"objects: {result.objects} ({result.total_bytes} bytes), {result.copied} copied "
                 f"({result.copied_bytes} bytes), {result.reused} unchanged since the previous set")
        secret = None
        key = platform.settings.signing_key()
        if include_secret:
            key_file = _configured_key_file(platform.settings)
            if key_file is None:
                raise BackupError("--include-secret copies the generated key file (<data dir>/secret.key); this "
                                  "deployment's key comes from MC_SECRET_KEY: keep that secret with your other secrets")
            shutil.copyfile(key_file, work / "secret.key")
            os.chmod(work / "secret.key", 0o600)
            secret = {"file": "secret.key", "sha256": sha256_file(work / "secret.key")}
        manifest = {
            "format": FORMAT if states else 1, "version": __version__, "created_at": now.isoformat().replace("+00:00", "Z"),
            "database": db, "schema": schema, "plugins": _plugins(platform),
            "storage": {"backend": storage.backend, "objects": listed,
                        "skipped": {"count": len(skipped), "keys": skipped[:100]}},
            "signing_key": {"fingerprint": key_fingerprint(key), **({"included": secret} if secret else {})},
            "stats": {"objects": result.objects, "copied": result.copied, "copied_bytes": result.copied_bytes,
                      "reused": result.reused, "total_bytes": result.total_bytes, "skipped": len(skipped)},
            **({"state_files": states} if states else {}),
        }
        manifest["manifest_sha256"] = _manifest_digest(manifest)
        manifest["manifest_hmac"] = _manifest_hmac(manifest, key)
        tmp = work / "manifest.json.tmp"
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
        _fsync(tmp)
        os.replace(tmp, work / "manifest.json")
        os.rename(work, result.path)  # the set appears whole or not at all
        _fsync_dir(dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    result.manifest = manifest
    result.seconds = time.monotonic() - started
    return result


def _copy_object(storage, info, objects_dir: Path, *, full: bool, result: BackupResult) -> dict:
    """Download one object, hash it, keep it under its digest; its manifest entry (the size is
    the copy's: the object may have changed since it was listed)."""
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=objects_dir)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        local = storage.local_path(info.key)
        if local is not None:
            shutil.copyfile(local, tmp)
        else:
            storage.download_to(info.key, tmp)
        digest, size = sha256_file(tmp), tmp.stat().st_size
        final = objects_dir / digest
        if final.is_file() and not (full and sha256_file(final) != digest):
            tmp.unlink()
        else:
            _fsync(tmp)
            os.replace(tmp, final)
            result.copied += 1
            result.copied_bytes += size
        entry = {"sha256": digest, "size": size, "tag": info.tag}
        if storage.backend == "s3":  # kept so that a restore serves the object with the same type
            head = storage.client.head_object(Bucket=storage.bucket, Key=info.key)
            if head.get("ContentType"):
                entry["content_type"] = head["ContentType"]
        return entry
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        _fsync(path)
    except OSError:  # some file systems do not sync directories
        pass


def authenticate(manifest: dict, key: bytes | None) -> bool:
    """Check the manifest's HMAC when ``key`` is the key the backup was made with (``True``);
    ``False`` when it is another key (nothing can be proven); raises when the HMAC is wrong."""
    if key is None or key_fingerprint(key) != manifest.get("signing_key", {}).get("fingerprint"):
        return False
    mac = manifest.get("manifest_hmac")
    if not isinstance(mac, str) or not hmac.compare_digest(mac, _manifest_hmac(manifest, key)):
        raise BackupError("the manifest's HMAC does not match: the set was altered after it was made (or made "
                          "without one), it cannot be trusted")
    return True


def verify_set(set_dir: Path, progress: Progress = _quiet, key: bytes | None = None) -> dict:
    """Check the manifest (its HMAC too when ``key`` is the backup's signing key), the database
    dump and every object against their checksums; returns the manifest or raises
    :class:`BackupError` naming the first mismatch."""
    set_dir = Path(set_dir)
    manifest = read_manifest(set_dir)
    if authenticate(manifest, key):
        progress("manifest: HMAC verified with this deployment's signing key")
    db = manifest["database"]
    db_file = _member(set_dir, db["file"], "the database dump")
    if not db_file.is_file():
        raise BackupError(f"the database dump {db_file} is missing")
    if sha256_file(db_file) != db["sha256"]:
        raise BackupError(f"the database dump {db_file} does not match its checksum")
    included = manifest.get("signing_key", {}).get("included")
    if included and (not _member(set_dir, included["file"], "the key file").is_file()
                     or sha256_file(set_dir / included["file"]) != included["sha256"]):
        raise BackupError(f"the key file {set_dir / included['file']} is missing or does not match its checksum")
    for entry in manifest.get("state_files", []):
        member = _member(set_dir, entry["file"], "a state file")
        if not member.is_file() or sha256_file(member) != entry["sha256"]:
            raise BackupError(f"the {entry['plugin']} plugin's state file {entry['path']!r} ({member}) is missing or "
                              f"does not match its checksum")
    objects_dir = set_dir.parent / "objects"
    objects = manifest["storage"]["objects"]
    digests = sorted({o["sha256"] for o in objects.values()})
    ticker = _Ticker(progress)
    for i, digest in enumerate(digests, 1):
        path = objects_dir / digest
        if not path.is_file():
            key = next(k for k, o in objects.items() if o["sha256"] == digest)
            raise BackupError(f"object {key!r} is missing from {objects_dir} ({digest})")
        if sha256_file(path) != digest:
            key = next(k for k, o in objects.items() if o["sha256"] == digest)
            raise BackupError(f"object {key!r} ({path}) does not match its checksum")
        ticker.tick(f"verified {i}/{len(digests)} objects")
    states = manifest.get("state_files", [])
    progress(f"verified: database dump, {len(objects)} objects ({len(digests)} distinct contents)"
             + (f" and {len(states)} plugin state files" if states else ""))
    return manifest


def describe_sets(dest: Path) -> list[dict]:
    """One row per complete set in ``dest`` (manifest read, objects not re-hashed)."""
    out = []
    for path in sets(dest):
        try:
            m = read_manifest(path)
            st = m.get("stats", {})
            out.append({"set": path.name, "created_at": m["created_at"], "database": m["database"]["dialect"],
                        "database_bytes": m["database"]["size"], "objects": st.get("objects"),
                        "total_bytes": st.get("total_bytes"), "copied": st.get("copied"),
                        "copied_bytes": st.get("copied_bytes"), "version": m.get("version"), "ok": True})
        except (BackupError, KeyError, TypeError) as exc:
            out.append({"set": path.name, "ok": False, "error": str(exc)})
    return out


# --------------------------------------------------------------------------- restore

def _check_schema_known(platform, schema: dict, version: str | None) -> None:
    """Refuse a backup made by a newer MusicConnect (a revision these migrations do not know)."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from . import migrate

    known = {h.name: h for h in migrate.histories(platform)}
    with platform.db.engine.connect() as conn:
        for name, current in schema.items():
            if current is None or name not in known:
                continue
            script = ScriptDirectory.from_config(migrate._config(known[name], conn))
            for rev in current.split(","):
                try:
                    if script.get_revision(rev) is None:
                        raise CommandError(rev)
                except CommandError:
                    raise BackupError(f"the backup's {name} schema is at revision {rev}, which this MusicConnect "
                                      f"does not know: install the version that made the backup ({version}) "
                                      f"or a newer one first") from None


def local_key(settings) -> bytes | None:
    """The deployment's signing key (MC_SECRET_KEY or <data dir>/secret.key); ``None`` when it has
    none yet (never generates one)."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    path = Path(settings.data_dir) / "secret.key"
    return path.read_text().strip().encode() if path.is_file() else None


def _storage_is_empty(storage) -> bool:
    """No object (a bucket that does not exist yet is empty: it is created only once writing starts)."""
    if storage.backend == "s3":
        from botocore.exceptions import ClientError

        try:
            storage.client.head_bucket(Bucket=storage.bucket)
        except ClientError:
            return True
    return next(iter(storage.inventory()), None) is None


def restore_backup(settings, set_dir: Path, *, force: bool = False, prune: bool = False,
                   progress: Progress = _quiet, make_platform=None) -> dict:
    """Restore a verified set into the deployment ``settings`` describe. Every check runs before
    anything is written; it refuses (nothing written) a set that fails verification or whose
    manifest HMAC is wrong, a target of another kind of database, a target database or storage
    that is not empty (unless ``force``) and a signing key different from the backup's (unless
    ``force``). With ``prune``, objects of the target that the set does not hold are deleted.
    Upgrades the schema afterwards if the backup's is older. Returns a summary."""
    from pydantic import SecretStr

    from . import migrate
    from .platform import Platform

    make_platform = make_platform or Platform
    set_dir = Path(set_dir)
    manifest = read_manifest(set_dir)
    db = manifest["database"]

    # the key the target will sign with: its own, or the set's key file when it has none yet
    included = manifest.get("signing_key", {}).get("included")
    key_file = Path(settings.data_dir) / "secret.key"
    install = None
    if included and settings.secret_key is None and not key_file.exists():
        install = _member(set_dir, included["file"], "the key file").read_bytes()
    key = install.strip() if install is not None else local_key(settings)
    progress(f"verifying {set_dir}")
    verify_set(set_dir, progress, key=key)  # the HMAC too when the key is the backup's
    authenticated = key is not None and key_fingerprint(key) == manifest["signing_key"]["fingerprint"]
    if not authenticated and not force:
        raise BackupError("the target's signing key (MC_SECRET_KEY or <data dir>/secret.key) is not the one the "
                          "backup was made with: set the same key (or back up with --include-secret), or pass "
                          "--force (signed links, unsubscribe links and e-mail suppressions made before stop "
                          "matching)")

    # every check, on a platform that signs with that key in memory (no key file is made yet)
    check_settings = settings.model_copy(update={"secret_key": SecretStr((key or os.urandom(32).hex().encode())
                                                                          .decode())})
    warnings: list[str] = []
    p = make_platform(check_settings)
    try:
        dialect = p.db.dialect
        if (db["dialect"] == "sqlite") != (dialect == "sqlite"):
            raise BackupError(f"the backup holds a {db['dialect']} database; the target is {dialect}: restore "
                              f"into the same kind of database")
        empty = database_is_empty(p)
        if not empty and not force:
            raise BackupError("the target database is not empty: restore into an empty database, or pass --force "
                              "to replace it")
        storage = p.storage
        if not force and not _storage_is_empty(storage):
            raise BackupError("the target storage is not empty: restore into an empty bucket or media folder, "
                              "or pass --force to overwrite objects with the same keys")
        _check_schema_known(p, manifest["schema"], manifest.get("version"))
        installed = {r.name for r in p.plugins}
        missing = sorted(set(manifest.get("plugins", {})) - installed)
        if missing:
            warnings.append(f"plugins enabled in the backup but not installed here: {', '.join(missing)} "
                            f"(their data is restored; install them to use it)")
        states = _state_targets(manifest, p.settings, force=force, authenticated=authenticated)
        target_url = p.settings.effective_database_url
        major = None if dialect == "sqlite" else _server_major(p.db.engine)
    finally:
        p.close()

    # every check passed: now write
    if install is not None:
        key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(install)
        progress(f"signing key installed in {key_file}")
    progress(f"database: restoring {db['size']} bytes")
    if dialect == "sqlite":
        _restore_sqlite(set_dir / db["file"], _sqlite_path(target_url))
    else:
        conninfo, env = _pg_conninfo(target_url)
        cmd = [_pg_tool("pg_restore", major), "--no-owner", "--no-privileges", "--single-transaction",
               "--exit-on-error", "--dbname", conninfo]
        if not empty:
            cmd += ["--clean", "--if-exists"]
        _pg_run([*cmd, str(set_dir / db["file"])], env, major, "restore into")
    for entry, target in states:
        _restore_file(set_dir / entry["file"], target)
        progress(f"state: {entry['path']} of the {entry['plugin']} plugin restored")

    p = make_platform(settings)
    pruned = 0
    try:
        storage = p.storage
        if hasattr(storage, "ensure_bucket"):
            storage.ensure_bucket()
        objects = manifest["storage"]["objects"]
        objects_dir = set_dir.parent / "objects"
        ticker = _Ticker(progress)
        for i, (okey, obj) in enumerate(sorted(objects.items()), 1):
            storage.put_file(okey, objects_dir / obj["sha256"],
                             obj.get("content_type") or mimetypes.guess_type(okey)[0])
            ticker.tick(f"objects: {i}/{len(objects)} uploaded")
        progress(f"objects: {len(objects)} uploaded to {storage.backend} storage")
        if prune:
            extra = [info.key for info in storage.inventory() if info.key not in objects]
            for okey in extra:
                storage.delete(okey)
            pruned = len(extra)
            progress(f"objects: {pruned} deleted from the target (not in the backup)")
        upgraded = []
        if any(not row["up_to_date"] for row in migrate.status(p)):
            progress("schema: the backup's is older than this MusicConnect's: upgrading")
            upgraded = [f"{name}: {before or 'empty'} -> {after or 'empty'}"
                        for name, before, after in migrate.upgrade(p) if before != after]
            for line in upgraded:
                progress(line)
    finally:
        p.close()
    return {"set": set_dir.name, "created_at": manifest["created_at"], "objects": len(manifest["storage"]["objects"]),
            "state_files": [e["path"] for e, _ in states], "database_bytes": db["size"], "upgraded": upgraded, "warnings": warnings, "pruned": pruned}


def _state_targets(manifest: dict, settings, *, force: bool, authenticated: bool = True) -> list[tuple[dict, Path]]:
    """Where the set's state files go in the target data dir; refuses a file already there
    (unless ``force``: it is replaced), a path a link leads out of the data dir, the database or
    key file (compared case-insensitively too), a path named twice, and — when the manifest's
    HMAC could not be checked (another signing key, ``--force``) — any path but a bare file name
    directly in the data dir (an altered manifest cannot aim a restore at other files)."""
    out = []
    reserved = _reserved(settings)
    folded = {str(r).casefold() for r in reserved}
    seen: set[str] = set()
    for entry in manifest.get("state_files", []):
        what = f"the {entry['plugin']} plugin's state file"
        if not authenticated and not (isinstance(entry.get("path"), str) and MEMBER_RE.fullmatch(entry["path"])):
            raise BackupError(f"{what} {entry.get('path')!r} is not a bare file name, and this set's manifest cannot "
                              "be authenticated with the target's signing key: restore with the backup's key")
        target = _inside(Path(settings.data_dir), _relative(entry["path"], what), what)
        real = Path(os.path.realpath(target))
        if real in reserved or str(real).casefold() in folded or any(
                r.exists() and target.exists() and os.path.samefile(r, target) for r in reserved):
            raise BackupError(f"{what} {entry['path']!r} would replace the database or the key file")
        if str(real) in seen:
            raise BackupError(f"{what} {entry['path']!r} is named twice in the manifest")
        seen.add(str(real))
        if (target.exists() or target.is_symlink()) and not force:
            raise BackupError(f"the target data dir already holds {entry['path']} ({what}): restore into an empty "
                              f"data dir, or pass --force to replace it")
        if target.exists() and not target.is_file():
            raise BackupError(f"{target} ({what}) is not a regular file")
        out.append((entry, target))
    return out


def _restore_sqlite(src: Path, target: Path) -> None:
    """Copy the dump next to the target and rename it into place (never a half-written file)."""
    _restore_file(src, target)


def _restore_file(src: Path, target: Path) -> None:
    """Copy ``src`` next to ``target`` and rename it into place (never a half-written file); a
    SQLite journal or write-ahead log left by the old file goes first."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-restore-", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        shutil.copyfile(src, tmp)
        _fsync(tmp)
        # a write-ahead log left by the old (empty) file must never be replayed into the new one
        for suffix in ("-wal", "-shm", "-journal"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
