"""The data export (GDPR Art. 15 and 20): a ZIP of every plugin's part of a person's data.

``POST /api/v1/privacy/exports`` queues a job (one export at a time per person, a few a day)
that asks every installed plugin (``platform.export_user_data``) and writes the archive to the
platform's storage: ``README.txt`` (what each part is), ``manifest.json`` (machine-readable:
files with sha256 and size, record kinds with counts), ``<plugin>/<kind>.json`` and
``<plugin>/files/...``. Its owner downloads it through a signed, expiring link; a scheduled job
deletes it after ``export_ttl_days``. The CLI (``musicconnect gdpr export``) builds the same
archive in-process.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import tempfile
import uuid
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Callable

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy import ForeignKey, Integer, String, Text, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from musicconnect import Actor, Base, JobSpec, NotFound, NotificationKind, Problem, uuid_pk
from musicconnect.models import User
from musicconnect.web import get_platform, scope

log = logging.getLogger("musicconnect.privacy.exports")

FORMAT_VERSION = 1
ARCHIVE = "musicconnect-export.zip"
CHUNK = 1 << 20


class Export(Base):
    __tablename__ = "privacy_exports"
    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: queued, running, ready, failed, expired
    status: Mapped[str] = mapped_column(String(16))
    #: the user's id while queued or running, else NULL: a unique index keeps one running per person
    active_key: Mapped[str | None] = mapped_column(String(36), unique=True, nullable=True)
    job_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    storage_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")


def prefix(export_id: uuid.UUID) -> str:
    return f"privacy/exports/{export_id}"


# ---------------------------------------------------------------- the archive

def _copy_object(platform, key: str, out: BinaryIO) -> None:
    """Copy a storage object into ``out`` in chunks (from disk in place, or through a temp file)."""
    local = platform.storage.local_path(key)
    if local is not None:
        with open(local, "rb") as fh:
            shutil.copyfileobj(fh, out, CHUNK)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "object"
        platform.storage.download_to(key, path)
        with open(path, "rb") as fh:
            shutil.copyfileobj(fh, out, CHUNK)


#: a path segment that is not safe in an archive: a parent step, a backslash, a drive letter or an
#: alternate stream (``:``), control characters
_UNSAFE = re.compile(r"[\\:\x00-\x1f\x7f]")


def safe_path(path: str) -> str | None:
    """``path`` as a relative POSIX path inside the archive, or ``None`` when it is not safe (absolute,
    ``..``, backslashes, drive letters, control characters, empty); ``.`` and empty segments drop."""
    if not isinstance(path, str) or not path or path.startswith("/") or _UNSAFE.search(path):
        return None
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        return None
    return "/".join(parts)


def _unique(name: str, used: set[str]) -> str:
    """``name``, or ``stem-2.ext``, ``stem-3.ext``... if the archive already holds it."""
    if name not in used:
        used.add(name)
        return name
    head, dot, ext = name.rpartition(".")
    stem, suffix = (head, dot + ext) if dot and "/" not in ext and head and not head.endswith("/") else (name, "")
    n = 2
    while f"{stem}-{n}{suffix}" in used:
        n += 1
    used.add(f"{stem}-{n}{suffix}")
    return f"{stem}-{n}{suffix}"


class _Hashing:
    """A write-through file wrapper that counts and hashes what passes."""

    def __init__(self, fh):
        self.fh, self.sha, self.size = fh, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.fh.write(data)


def write_archive(platform, user_id: uuid.UUID, out: BinaryIO, progress: Callable[[float, str], None] | None = None
                  ) -> dict[str, Any]:
    """Write ``user_id``'s export as a ZIP into ``out``; returns the manifest."""
    progress = progress or (lambda f, m: None)
    now = platform.clock.now()
    with platform.read() as s:
        user = s.get(User, user_id)
        if user is None:
            raise NotFound("user")
        parts = platform.export_user_data(s, user)
    progress(0.3, f"{len(parts)} parts gathered")
    manifest: dict[str, Any] = {"format_version": FORMAT_VERSION, "user_id": str(user_id),
                                "created_at": now.isoformat(), "plugins": {}}
    readme = [f"Your data on this MusicConnect server, made {now.isoformat()} for account {user_id}.",
              "", "Each folder is one part of the service. manifest.json lists every file with its sha256 "
              "and size, and the number of records of each kind.", ""]
    used: set[str] = {"manifest.json", "README.txt"}
    stamp = now.timetuple()[:6] if now.year >= 1980 else (1980, 1, 1, 0, 0, 0)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for i, (plugin, part) in enumerate(parts):
            entry: dict[str, Any] = {"records": {}, "files": []}
            for kind, rows in (part.records or {}).items():
                data = json.dumps(list(rows), indent=2, default=str, ensure_ascii=False).encode()
                name = _unique(f"{plugin}/{safe_path(str(kind)) or 'records'}.json", used)
                zf.writestr(name, data)
                entry["records"][kind] = len(rows)
                entry["files"].append({"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})
            for n, f in enumerate(part.files, 1):
                rel = safe_path(f.path)
                if rel is None:
                    log.warning("the %s plugin exported a file with an unsafe path %r: stored as file-%d", plugin,
                                f.path, n)
                    rel = f"file-{n}"
                name = _unique(f"{plugin}/files/{rel}", used)
                # media is compressed already: stored as is (no CPU spent re-compressing it)
                info = zipfile.ZipInfo(name, date_time=stamp)
                info.compress_type = zipfile.ZIP_STORED
                with zf.open(info, "w", force_zip64=True) as dst:
                    h = _Hashing(dst)
                    if f.data is not None:
                        h.write(f.data)
                    elif f.storage_key:
                        _copy_object(platform, f.storage_key, h)
                entry["files"].append({"path": name, "sha256": h.sha.hexdigest(), "size": h.size,
                                       "content_type": f.content_type})
            manifest["plugins"][plugin] = entry
            counts = ", ".join(f"{k}: {n}" for k, n in entry["records"].items()) or "no records"
            readme += [f"== {plugin} ==", f"({counts}; {len(part.files)} files)", part.notes or "", ""]
            progress(0.3 + 0.6 * (i + 1) / max(1, len(parts)), f"{plugin} written")
        zf.writestr("manifest.json", json.dumps(manifest, indent=2))
        zf.writestr("README.txt", "\n".join(readme))
    return manifest


# ---------------------------------------------------------------- jobs

def build_export(ctx, export_id: str) -> dict:
    platform = ctx.platform
    eid = uuid.UUID(export_id)
    key = f"{prefix(eid)}/{ARCHIVE}"
    with platform.session() as s:
        exp = s.get(Export, eid)
        if exp is None:  # erased meanwhile: an earlier attempt may have uploaded the archive
            platform.storage.delete(key)
            return {}
        exp.status = "running"
        user_id = exp.user_id
    from .consents import settings

    ttl = settings(platform).export_ttl_days
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / ARCHIVE
            with open(path, "wb") as fh:
                write_archive(platform, user_id, fh, lambda f, m: ctx.progress(f, m))
            platform.storage.put_file(key, path, "application/zip")
            size = path.stat().st_size
    except BaseException as exc:  # a time limit (dramatiq's TimeLimitExceeded) is a BaseException too
        final = ctx.attempt > BUILD.max_retries or not isinstance(exc, Exception)
        with platform.session() as s:
            exp = s.get(Export, eid)
            if exp is not None and final:
                exp.status, exp.active_key, exp.message = "failed", None, f"{type(exc).__name__}"
                exp.finished_at = platform.clock.now()
        raise
    now = platform.clock.now()
    with platform.session() as s:
        exp = s.get(Export, eid)
        if exp is None:  # erased meanwhile
            platform.storage.delete(key)
            return {}
        exp.status, exp.active_key, exp.storage_key, exp.size = "ready", None, key, size
        exp.finished_at, exp.expires_at = now, now + timedelta(days=ttl)
        platform.emit(s, "privacy.export.ready", actor_id=exp.user_id, subject=("privacy_export", eid),
                      data={"export_id": str(eid), "expires_at": exp.expires_at.isoformat(),
                            "expires_on": exp.expires_at.strftime("%Y-%m-%d")})
    return {"size": size}


def expire_exports(ctx) -> dict:
    """Delete the archives past their time (scheduled hourly)."""
    platform = ctx.platform
    now = platform.clock.now()
    with platform.session() as s:
        rows = s.scalars(select(Export).where(Export.status == "ready", Export.expires_at <= now)).all()
        for exp in rows:
            if exp.storage_key:
                platform.storage.delete(exp.storage_key)
            exp.status, exp.storage_key = "expired", None
    return {"expired": len(rows)}


BUILD = JobSpec("build_export", build_export, max_retries=2)
JOBS = [BUILD,
        JobSpec("expire_exports", expire_exports, max_retries=1, every_seconds=3600)]

NOTIFICATION_KINDS = [
    NotificationKind("privacy.export_ready", "Your data export is ready", "privacy.export.ready",
                     {"title": "Your data export is ready",
                      "body": "Download it from your privacy page by {expires_on} (UTC); then it is deleted.", "url": "/privacy"},
                     "actor", default_channels=("inbox", "email")),
]


# ---------------------------------------------------------------- the person's rows (their own export, erasure)

def _row(e: Export, progress: float | None = None) -> dict:
    return {"id": str(e.id), "status": e.status, "progress": 1.0 if e.status == "ready" else (progress or 0.0),
            "size": e.size, "created_at": e.created_at.isoformat(),
            "finished_at": e.finished_at.isoformat() if e.finished_at else None,
            "expires_at": e.expires_at.isoformat() if e.expires_at else None}


def export_records(session: Session, user_id: uuid.UUID) -> list[dict]:
    return [_row(e) for e in session.scalars(select(Export).where(Export.user_id == user_id).order_by(Export.created_at))]


def erase_exports(session: Session, user_id: uuid.UUID) -> tuple[int, list[str]]:
    keys = [k for k in session.scalars(select(Export.storage_key).where(Export.user_id == user_id)) if k]
    n = session.execute(delete(Export).where(Export.user_id == user_id)).rowcount or 0
    return n, keys


# ---------------------------------------------------------------- API

router = APIRouter(tags=["privacy"])


class ExportOut(BaseModel):
    id: str
    status: str
    progress: float
    size: int | None = None
    created_at: str
    finished_at: str | None = None
    expires_at: str | None = None


class DownloadOut(BaseModel):
    url: str
    expires_in: int


def _with_progress(s: Session, rows: list[Export]) -> list[dict]:
    from musicconnect.models import Job

    ids = [e.job_id for e in rows if e.job_id and e.status in ("queued", "running")]
    prog = dict(s.execute(select(Job.id, Job.progress).where(Job.id.in_(ids))).all()) if ids else {}
    return [_row(e, prog.get(e.job_id)) for e in rows]


def _release_stuck(platform, user_id: uuid.UUID) -> int:
    """Free the person's export slot held by an export that will never finish: its job failed or is
    gone (a lost message, a deleted row), or it has not reported for longer than the job's time
    limit and lease (a worker killed mid-way, a time limit hit): it is marked failed."""
    from musicconnect.models import Job

    now = platform.clock.now()
    silent = now - timedelta(milliseconds=BUILD.time_limit_ms, seconds=platform.settings.job_lease_seconds)
    with platform.session() as s:
        stuck = 0
        for exp in s.scalars(select(Export).where(Export.user_id == user_id, Export.active_key.is_not(None))
                             .with_for_update()):
            job = s.get(Job, exp.job_id) if exp.job_id else None
            if job is None and exp.created_at > silent and exp.job_id is None:
                continue  # being queued right now
            if job is None or job.state in ("failed", "succeeded") or job.updated_at < silent:
                exp.status, exp.active_key = "failed", None
                exp.message = "stopped: the export job " + ("is gone" if job is None else f"is {job.state}" if
                                                            job.state in ("failed", "succeeded") else "went silent")
                exp.finished_at = now
                if job is not None and job.state in ("queued", "running"):
                    job.state, job.message, job.updated_at = "failed", "silent past its time limit", now
                stuck += 1
                log.warning("export %s released: %s", exp.id, exp.message)
        return stuck


@router.post("/exports", response_model=ExportOut, status_code=202)
def request_export(actor: Actor = Depends(scope("privacy:export")), platform=Depends(get_platform)):
    """Ask for a copy of your data: a ZIP made in the background (``GET /exports`` shows its progress)."""
    from .consents import settings

    per_day = settings(platform).exports_per_day
    now = platform.clock.now()
    eid = uuid.uuid4()
    _release_stuck(platform, actor.user_id)
    try:
        with platform.session() as s:
            recent = s.scalar(select(func.count()).select_from(Export).where(
                Export.user_id == actor.user_id, Export.created_at > now - timedelta(days=1)))
            if recent >= per_day:
                raise Problem(429, "export-limit", f"at most {per_day} data exports a day; try again tomorrow",
                              headers={"Retry-After": "3600"}, retry_after=3600)
            exp = Export(id=eid, user_id=actor.user_id, status="queued", active_key=str(actor.user_id), created_at=now)
            s.add(exp)
            s.flush()
            exp.job_id = platform.jobs.enqueue("privacy.build_export", session=s, export_id=str(eid))
            out = _row(exp)
    except IntegrityError:
        raise Problem(409, "export-in-progress", "an export of your data is being made; wait for it") from None
    return out


@router.get("/exports", response_model=list[ExportOut])
def list_exports(actor: Actor = Depends(scope("privacy:export")), platform=Depends(get_platform)):
    """Your exports, newest first, with status and progress."""
    with platform.read() as s:
        rows = list(s.scalars(select(Export).where(Export.user_id == actor.user_id)
                              .order_by(Export.created_at.desc())))
        return _with_progress(s, rows)


@router.get("/exports/{export_id}/download", response_model=DownloadOut)
def download_export(export_id: uuid.UUID, actor: Actor = Depends(scope("privacy:export")),
                    platform=Depends(get_platform)):
    """A signed link to your archive, valid for 10 minutes."""
    with platform.read() as s:
        exp = s.get(Export, export_id)
        if exp is None or exp.user_id != actor.user_id:
            raise NotFound("export")
        if exp.status != "ready" or not exp.storage_key:
            raise Problem(409, "export-not-ready", f"this export is {exp.status}, not ready to download", export_status=exp.status)
        ttl = 600
        url = platform.storage.signed_url(exp.storage_key, ttl, within=prefix(exp.id), filename=ARCHIVE)
    return {"url": url, "expires_in": ttl}
