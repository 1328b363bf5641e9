"""Hook implementations of the streaming plugin."""
from __future__ import annotations

from pathlib import Path

from musicconnect import ContentKind, JobSpec, PerkSpec, Verdict, hookimpl
from musicconnect.db import wrote

from . import playback, plays
from .pipeline import MAX_RETRIES, prefix, transcode
from .settings import StreamingSettings


#: the tier perks streaming honours (the core checks tier edits against their types and limits)
PERKS = {"offline_downloads": PerkSpec(int, "offline downloads per calendar month (UTC)", min=0, max=10_000)}


@hookimpl
def register_perks(platform):
    return dict(PERKS)


@hookimpl
def register_routes(platform):
    from .api import router

    return router


@hookimpl
def register_fast_routes(platform):
    return list(playback.FAST_ROUTES)


@hookimpl
def register_jobs(platform):
    from .housekeeping import sweep_orphans

    return [JobSpec("transcode", transcode, max_retries=MAX_RETRIES, time_limit_ms=4 * 3600 * 1000,
                    min_backoff_ms=2000),
            JobSpec("sweep_orphans", sweep_orphans, max_retries=0, every_seconds=3600)]


@hookimpl
def on_startup(platform):
    """Remove what a crashed process left in the private scratch space (keys, partial uploads);
    the directories of jobs running now are locked and stay."""
    from .scratch import sweep

    sweep(platform)


@hookimpl
def register_scopes(platform):
    """The streaming routes use the core's content scopes only: ``content:write`` uploads and
    replaces audio; ``content:read`` plays, downloads and reports plays."""
    return {"content:read": "play, download and report plays of tracks you have access to",
            "content:write": "upload tracks and replace their audio"}


@hookimpl
def register_migrations(platform):
    return Path(__file__).parent / "migrations"


@hookimpl
def register_settings(platform):
    return StreamingSettings


@hookimpl
def register_content_kinds(platform):
    return [ContentKind("track", "Track", "Audio, transcoded to an encrypted HLS ladder.", creatable=False)]


@hookimpl
def check_access(platform, actor, action, resource, context):
    """Offline downloads need the ``offline_downloads`` perk (owners and admins excepted)."""
    if resource.kind != "track" or action != "download":
        return None
    if platform.access.manages(actor, resource.artist_id):
        return None
    if actor is not None and context.perks().get("offline_downloads"):
        return None
    return Verdict.deny("downloads are for members whose tier includes offline downloads",
                        problem="perk-required", perk="offline_downloads")


def _forget(platform, item) -> None:
    platform.invalidate(("streaming", item.id))


@hookimpl
def on_content_updated(platform, item, changes):
    if item.kind == "track":
        _forget(platform, item)


@hookimpl
def on_content_published(platform, item):
    if item.kind == "track":
        _forget(platform, item)


@hookimpl
def on_content_taken_down(platform, item, reason):
    """Keys stop at once (the cache entry goes); files move to quarantine so that every signed
    segment, preview and download URL stops working too."""
    if item.kind != "track":
        return
    _forget(platform, item)
    platform.storage.move_prefix(f"tracks/{item.id}/", f"quarantine/tracks/{item.id}/")
    from .models import Track

    with platform.session() as s:
        track = s.get(Track, item.id)
        if track is not None:
            track.quarantined = True


@hookimpl
def on_content_deleted(platform, item):
    if item.kind != "track":
        return
    _forget(platform, item)
    platform.storage.delete_prefix(f"tracks/{item.id}/")
    platform.storage.delete_prefix(f"quarantine/tracks/{item.id}/")


def _version_summary(platform, track_id, version):
    """A published version's renditions and cover keys: immutable once written (a new upload is
    a new version), so every list that shows the track reads them from the process cache
    instead of one query per track."""
    key = ("streaming-version-summary", track_id, version)
    hit = platform.cache.get(key)
    if hit is not None:
        return hit
    from .models import TrackVersion

    with platform.read() as s:  # inside the caller's transaction when one is open
        row = s.get(TrackVersion, (track_id, version))
        if row is None:
            return None
        value = (tuple((r["name"], r["bandwidth"], r["average_bandwidth"]) for r in row.renditions),
                 tuple((row.artwork.get("covers") or {}).items()))
        if not wrote(s):  # never cache what an uncommitted transaction may still take back
            platform.cache.set(key, value)
    return value


@hookimpl
def serialize_content(platform, item, viewer):
    if item.kind != "track":
        return None
    data = item.data or {}
    base = f"{playback.BASE}/{item.id}"
    out = {"duration": data.get("duration"), "loudness_lufs": data.get("loudness_lufs"), "tempo_bpm": data.get("tempo_bpm"),
           "true_peak_db": data.get("true_peak_db"), "master_playlist": f"{base}/master.m3u8",
           "preview": f"{base}/preview", "waveform": f"{base}/waveform"}
    version = data.get("version")
    if version and item.status == "ready":
        summary = _version_summary(platform, item.id, version)
        if summary is not None:
            renditions, covers = summary
            out["renditions"] = [{"name": n, "bandwidth": b, "average_bandwidth": a} for n, b, a in renditions]
            out["covers"] = {size: platform.storage.signed_url(key, 3600, within=prefix(item.id, version))
                             for size, key in covers}
    return {"streaming": out}


@hookimpl
def register_metrics(platform):
    return plays.METRICS


@hookimpl
def web_extensions(platform):
    """The artist's studio in the web app (docs/web.md): upload with progress, the tracks. The
    pages are for artists (``audience``): their links are in the studio menu of signed-in artists
    only, and on the artist's own page (a component in the ``artist`` slot); the screens refuse
    anyone who is not an artist."""
    return [{"kind": "assets", "directory": str(Path(__file__).parent / "web")},
            {"kind": "page", "path": "/studio/upload", "module": "upload.js", "title": "Upload",
             "audience": "artists"},
            {"kind": "page", "path": "/studio/tracks", "module": "tracks.js", "title": "Tracks",
             "audience": "artists"},
            {"kind": "component", "slot": "artist", "module": "studio-link.js"},
            # offline downloads (the offline_downloads perk): a button on the track, the list without a
            # menu link (reached from the button), both shown only to members with the perk
            {"kind": "page", "path": "/downloads", "module": "downloads-page.js"},
            {"kind": "component", "slot": "track", "module": "download-button.js"}]



@hookimpl
def seed_demo(platform, session, demo):
    from .demo import seed

    seed(platform, session, demo)


@hookimpl
def register_commands(platform):
    from .cli import make_app

    return make_app(platform)


# ---------------------------------------------------------------- notifications (read by a notifications plugin)

@hookimpl
def register_notification_kinds(platform):
    from musicconnect import NotificationKind

    return [NotificationKind("streaming.new_release", "New releases", "content.published",
                             {"title": "New release from {artist_name}", "body": "Listen now.",
                              "url": "/content/{subject_id}"}, "followers",
                             default_channels=("inbox", "push", "email"), digestible=True,
                             when=lambda e: e.data.get("kind") == "track" and e.subject_type == "content")]


@hookimpl
def audience_members(platform, artist_id, audience):
    """``played:<content id>``: the signed-in fans with a counted play of that track."""
    if not audience.startswith("played:"):
        return None
    import uuid

    from sqlalchemy import select

    from .models import Play

    try:
        content_id = uuid.UUID(audience[7:])
    except ValueError:
        return None
    with platform.session() as s:
        return list(s.scalars(select(Play.user_id).distinct().where(
            Play.content_id == content_id, Play.artist_id == artist_id, Play.user_id.is_not(None),
            Play.counted_at.is_not(None))))


@hookimpl
def export_user_data(platform, session, user):
    from . import privacy

    return privacy.export_user_data(platform, session, user)


@hookimpl
def erase_user_data(platform, session, user):
    from . import privacy

    return privacy.erase_user_data(platform, session, user)
