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
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for i, (plugin, part) in enumerate(parts):
            entry: dict[str, Any] = {"records": {}, "files": []}
            for kind, rows in (part.records or {}).items():
                data = json.dumps(list(rows), indent=2, default=str, ensure_ascii=False).encode()
                name = f"{plugin}/{kind}.json"
                zf.writestr(name, data)
                entry["records"][kind] = len(rows)
                entry["files"].append({"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})
            for f in part.files:
                name = f"{plugin}/files/{f.path.lstrip('/')}"
                with zf.open(name, "w", force_zip64=True) as dst:
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
    with platform.session() as s:
        exp = s.get(Export, eid)
        if exp is None:
            return {}
        exp.status = "running"
        user_id = exp.user_id
    from .consents import settings

    ttl = settings(platform).export_ttl_days
    key = f"{prefix(eid)}/{ARCHIVE}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / ARCHIVE
            with open(path, "wb") as fh:
                write_archive(platform, user_id, fh, lambda f, m: ctx.progress(f, m))
            platform.storage.put_file(key, path, "application/zip")
            size = path.stat().st_size
    except Exception as exc:
        final = ctx.attempt > 2
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


JOBS = [JobSpec("build_export", build_export, max_retries=2),
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


@router.post("/exports", response_model=ExportOut, status_code=202)
def request_export(actor: Actor = Depends(scope("privacy:export")), platform=Depends(get_platform)):
    """Ask for a copy of your data: a ZIP made in the background (``GET /exports`` shows its progress)."""
    from .consents import settings

    per_day = settings(platform).exports_per_day
    now = platform.clock.now()
    eid = uuid.uuid4()
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
