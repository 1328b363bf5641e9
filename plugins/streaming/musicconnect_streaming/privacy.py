"""Streaming's part of a person's data export and erasure (docs/privacy.md).

A listener: their plays (listening sessions) are exported, then anonymised on erasure (the row
keeps the track, time and seconds for the artist's play counts, but no user and an opaque listener
``a:erased``); their downloads (offline grants) and monthly download counts are deleted.

An artist who leaves: their tracks' metadata and every uploaded original are exported (the files
by storage key); on erasure every row of their tracks goes (tracks, versions, plays and downloads
of them) and every storage object under ``tracks/<id>/`` and ``quarantine/tracks/<id>/``
(originals, HLS segments and playlists, previews, downloads, waveforms, covers) is listed for
deletion after the commit. The AES-128 keys live in the version rows, so they go with them.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import delete, or_, select, update

from musicconnect.contracts import ErasureReport, ExportFile, ExportPart
from musicconnect.models import Artist, ContentItem

from .models import Download, DownloadCount, Play, Track, TrackVersion

ERASED_LISTENER = "a:erased"

NOTES = """\
plays: every listening session you started while signed in (track, artist, when, seconds listened,
whether it counted as a play and whether you finished it). downloads: the tracks you saved for
offline listening. uploads: the tracks you uploaded as an artist and each uploaded version
(file name, size, duration, loudness, state); the original files are in uploads/."""


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _artist_id(session, user) -> Any:
    return session.scalar(select(Artist.id).where(Artist.user_id == user.id))


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:120] or "audio"


def export_user_data(platform, session, user):
    records: dict[str, list[dict[str, Any]]] = {}
    files: list[ExportFile] = []
    plays = session.execute(
        select(Play, ContentItem.title, Artist.name).join(ContentItem, ContentItem.id == Play.content_id)
        .join(Artist, Artist.id == Play.artist_id).where(Play.user_id == user.id).order_by(Play.started_at)).all()
    records["plays"] = [{"id": str(p.id), "track_id": str(p.content_id), "track": title, "artist": name,
                         "started_at": _iso(p.started_at), "seconds": round(p.seconds, 1),
                         "counted": p.counted_at is not None, "counted_at": _iso(p.counted_at),
                         "completed": p.completed} for p, title, name in plays]
    downloads = session.execute(
        select(Download, ContentItem.title).join(ContentItem, ContentItem.id == Download.content_id)
        .where(Download.user_id == user.id).order_by(Download.created_at)).all()
    records["downloads"] = [{"track_id": str(d.content_id), "track": title, "at": _iso(d.created_at)}
                            for d, title in downloads]
    artist_id = _artist_id(session, user)
    if artist_id is not None:
        tracks = session.execute(select(Track, ContentItem).join(ContentItem, ContentItem.id == Track.content_id)
                                 .where(Track.artist_id == artist_id).order_by(Track.created_at)).all()
        versions: dict[Any, list[TrackVersion]] = {}
        for v in session.scalars(select(TrackVersion).join(Track, Track.content_id == TrackVersion.content_id)
                                 .where(Track.artist_id == artist_id).order_by(TrackVersion.version)):
            versions.setdefault(v.content_id, []).append(v)
        records["uploads"] = []
        for track, item in tracks:
            vs = versions.get(track.content_id, [])
            records["uploads"].append({
                "track_id": str(track.content_id), "title": item.title, "status": item.status,
                "playing_version": track.version, "created_at": _iso(track.created_at),
                "versions": [{"version": v.version, "state": v.state, "filename": v.original_filename,
                              "size_bytes": v.size_bytes, "duration": v.duration,
                              "loudness_lufs": v.loudness_lufs, "created_at": _iso(v.created_at)} for v in vs]})
            for v in vs:
                key = v.original_key
                if track.quarantined and not platform.storage.exists(key):
                    key = f"quarantine/{key}"
                if platform.storage.exists(key):
                    files.append(ExportFile(f"uploads/{track.content_id}/v{v.version}-{_safe(v.original_filename)}",
                                            storage_key=key))
    if not any(records.values()):
        return None
    return ExportPart(records, tuple(files), NOTES)


def storage_keys_of(platform, content_ids) -> list[str]:
    """The storage prefixes of these tracks, live and quarantined (a key ending in ``/``: the
    privacy plugin deletes everything under it after the commit, what a transcode still writes
    meanwhile included)."""
    return [root for cid in content_ids for root in (f"tracks/{cid}/", f"quarantine/tracks/{cid}/")]


def erase_user_data(platform, session, user):
    uid = user.id
    erased: dict[str, int] = {}
    opts = {"synchronize_session": False}
    artist_id = _artist_id(session, user)
    keys: list[str] = []
    if artist_id is not None:
        track_ids = list(session.scalars(select(Track.content_id).where(Track.artist_id == artist_id)))
        # tracks whose row was never made (a failed first upload) still have an item of kind track
        track_ids += [c for c in session.scalars(select(ContentItem.id).where(
            ContentItem.artist_id == artist_id, ContentItem.kind == "track")) if c not in track_ids]
        keys = storage_keys_of(platform, track_ids)
        of_artist = or_(Play.artist_id == artist_id, Play.content_id.in_(select(ContentItem.id).where(
            ContentItem.artist_id == artist_id)))
        erased["plays_of_their_tracks"] = session.execute(delete(Play).where(of_artist).execution_options(**opts)).rowcount
        erased["downloads_of_their_tracks"] = session.execute(
            delete(Download).where(Download.artist_id == artist_id).execution_options(**opts)).rowcount
        erased["track_versions"] = session.execute(delete(TrackVersion).where(TrackVersion.content_id.in_(
            select(Track.content_id).where(Track.artist_id == artist_id))).execution_options(**opts)).rowcount
        erased["tracks"] = session.execute(
            delete(Track).where(Track.artist_id == artist_id).execution_options(**opts)).rowcount
        for cid in track_ids:
            platform.forget_content(session, cid)
    erased["plays_anonymised"] = session.execute(
        update(Play).where(Play.user_id == uid).values(user_id=None, listener=ERASED_LISTENER)
        .execution_options(**opts)).rowcount
    # a play made while signed in names the listener even where user_id was lost
    erased["plays_anonymised"] += session.execute(
        update(Play).where(Play.listener == f"u:{uid}").values(listener=ERASED_LISTENER)
        .execution_options(**opts)).rowcount
    erased["downloads"] = session.execute(delete(Download).where(Download.user_id == uid).execution_options(**opts)).rowcount
    erased["download_counts"] = session.execute(
        delete(DownloadCount).where(DownloadCount.user_id == uid).execution_options(**opts)).rowcount
    erased = {k: v for k, v in erased.items() if v}
    if not erased and not keys:
        return None
    return ErasureReport(erased, storage_keys=tuple(keys))

