"""The transcode job: one ffmpeg decode makes the HLS ladder, loudness and waveform; then the
preview, covers and the download file; everything is stored under ``tracks/<id>/v<n>/`` and only
then, in one transaction, does the version become the one that plays."""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import select

from musicconnect import PermanentJobError, span
from musicconnect.models import Artist, ContentItem

from . import media
from .models import Track, TrackVersion
from .scratch import Scratch

log = logging.getLogger("musicconnect.streaming")
JOB = "streaming.transcode"
MAX_RETRIES = 3
#: the status reason of a track an audio screen holds for a moderator
HELD = "held_for_review"


def _die_with_parent() -> None:
    """ffmpeg children die with the process that started them (Linux), so a stopped or killed
    worker leaves no orphan; its unfinished job runs again (re-sent or re-queued)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def prefix(content_id, version: int) -> str:
    return f"tracks/{content_id}/v{version}"


def transcode(ctx, content_id: str, version: int) -> dict:
    platform = ctx.platform
    cid = uuid.UUID(content_id)
    with platform.session() as s:
        row = s.get(TrackVersion, (cid, version))
        item = s.get(ContentItem, cid)
        if row is None or item is None:
            return {"skipped": "deleted"}
        if row.state == "ready":
            return {"skipped": "already ready"}
        artist = s.get(Artist, item.artist_id)
        title, artist_name = item.title, artist.name
        track = s.get(Track, cid)
        requested_preview = track.preview_start if track else None
        original_key, duration, key, iv = row.original_key, row.duration, row.aes_key, row.aes_iv
        has_art = bool(row.probe.get("has_artwork"))
        art_key = row.artwork.get("source")
    try:
        result = _make(ctx, cid, version, original_key, duration, key, iv, title, artist_name,
                       requested_preview, has_art, art_key)
    except Exception as exc:
        final = isinstance(exc, PermanentJobError) or ctx.attempt > MAX_RETRIES
        if final:
            _fail(platform, cid, version, f"{type(exc).__name__}: {exc}" if not isinstance(exc, PermanentJobError) else str(exc))
        raise
    with span("publish track", **{"musicconnect.content.id": content_id, "musicconnect.track.version": version}):
        _publish(platform, cid, version, result)
    ctx.progress(1.0, "ready", force=True)
    return {"version": version, "renditions": [r["name"] for r in result["renditions"]]}


def _run_ladder(ctx, cmd: list[str], duration: float, stderr_path: Path) -> str:
    with span("ffmpeg transcode", kind="client", **{"process.executable.name": "ffmpeg",
                                                    "musicconnect.media.duration_s": duration}) as sp:
        stderr = _ladder(ctx, cmd, duration, stderr_path)
        if sp is not None:
            sp.set_attribute("process.exit.code", 0)
        return stderr


def _ladder(ctx, cmd: list[str], duration: float, stderr_path: Path) -> str:
    with open(stderr_path, "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, preexec_fn=_die_with_parent)
        killer = threading.Timer(max(600.0, duration * 4), proc.kill)
        killer.start()
        try:
            for line in proc.stdout:
                frac = media.parse_progress(line.strip(), duration)
                if frac is not None:
                    ctx.progress(0.05 + 0.75 * frac, "encoding")
            code = proc.wait()
        finally:
            killer.cancel()
    stderr = stderr_path.read_text(errors="replace")
    if code != 0:
        tail = [ln for ln in stderr.splitlines() if ln.strip()][-3:]
        raise RuntimeError(f"ffmpeg exited with {code}: {' | '.join(tail)}")
    return stderr


def _finish(proc: subprocess.Popen, what: str) -> None:
    try:
        _, err = proc.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise RuntimeError(f"{what} timed out") from None
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed: {err.decode(errors='replace')[-300:]}")


def _make(ctx, cid, version, original_key, duration, key, iv, title, artist_name, requested_preview,
          has_art, art_key) -> dict:
    platform = ctx.platform
    storage = platform.storage
    settings = platform.plugin_settings("streaming")
    # the key is written for ffmpeg: a private directory of the data dir (0700), locked while the
    # job runs and swept at start-up if the worker dies (never the shared /tmp)
    scratch = Scratch(platform, "transcode")
    work = scratch.path
    children: list[subprocess.Popen] = []
    try:
        ctx.progress(0.01, "fetching the original", force=True)
        src = storage.local_path(original_key)
        if src is None:
            src = work / ("original" + Path(original_key).suffix)
            storage.download_to(original_key, src)
        _screen(platform, cid, src)  # before the encode: a blocked upload costs no ladder
        out = work / "out"
        for name, _ in media.RENDITIONS:
            (out / name).mkdir(parents=True)
        keyfile = work / "key.bin"
        fd = os.open(keyfile, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
        keyinfo = work / "keyinfo"
        keyinfo.write_text(f"key.bin\n{keyfile}\n{iv.removeprefix('0x')}\n")
        stderr = _run_ladder(ctx, media.ladder_command(src, out, keyinfo), duration, work / "ffmpeg.log")
        lufs, peak = media.parse_loudness(stderr)
        ctx.progress(0.82, "packaging and storing", force=True)
        base = prefix(cid, version)
        for name in ("128k", "320k"):
            shutil.copy(keyfile, out / name / "key.bin")  # for the local remuxes only; never uploaded
        # everything below that does not depend on something else runs at once
        pool = ThreadPoolExecutor(max_workers=8)  # object stores reward concurrent PUTs
        stored = [pool.submit(storage.put_file, f"{base}/hls/{name}/{f.name}", f, "video/mp2t")
                  for name, _ in media.RENDITIONS for f in sorted((out / name).iterdir()) if f.suffix == ".ts"]
        art_src = None
        if art_key:
            art_src = work / "art-upload"
            storage.download_to(art_key, art_src)
        elif has_art and media.extract_artwork(src, work / "art.jpg"):
            art_src = work / "art.jpg"
        covers = {}
        if art_src is not None:
            try:
                covers = media.artwork_sizes(art_src, out)
            except Exception:  # a broken cover never fails the track
                log.warning("artwork of %s could not be read", cid)
        tags = {"title": title, "artist": artist_name}
        download = subprocess.Popen(media.download_command(out / "320k" / "index.m3u8", out / "download.m4a",
                                                           out / covers["600"] if covers else None, tags),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_die_with_parent)
        children.append(download)
        pcm = media.read_pcm(out / "wave.pcm")
        tempo = media.estimate_tempo(pcm)
        (out / "waveform.json").write_text(json.dumps({"rate": len(pcm) / duration if duration else 0,
                                                       "peaks": media.waveform_peaks(pcm)}))
        length = min(settings.preview_seconds, duration)
        start = requested_preview if requested_preview is not None else media.loudest_start(pcm, length)
        start = max(0.0, min(start, duration - length))
        # the preview is cut from the 128k rendition by stream copy (no second encode)
        preview = subprocess.Popen(media.preview_copy_command(out / "128k" / "index.m3u8", out / "preview.m4a",
                                                              start, length),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_die_with_parent)
        children.append(preview)
        renditions = []
        for name, nominal in media.RENDITIONS:
            segs, peak_bps, avg_bps = media.segment_stats(out / name)
            renditions.append({"name": name, "nominal": nominal, "bandwidth": peak_bps, "average_bandwidth": avg_bps,
                               "codecs": media.AAC_CODECS, "segments": [[n, d] for n, d in segs]})
        _finish(preview, "the preview cut")
        _finish(download, "the download package")
        stored += [pool.submit(storage.put_file, f"{base}/preview.m4a", out / "preview.m4a", "audio/mp4"),
                   pool.submit(storage.put_file, f"{base}/download.m4a", out / "download.m4a", "audio/mp4"),
                   pool.submit(storage.put_file, f"{base}/waveform.json", out / "waveform.json", "application/json")]
        stored += [pool.submit(storage.put_file, f"{base}/{fname}", out / fname, "image/jpeg")
                   for fname in covers.values()]
        try:
            for future in stored:
                future.result()
        finally:
            pool.shutdown(wait=True)
        ctx.progress(0.95, "publishing", force=True)
        return {"renditions": renditions, "lufs": lufs, "peak": peak, "preview_start": start, "tempo_bpm": tempo,
                "covers": {size: f"{base}/{fname}" for size, fname in covers.items()}}
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
        scratch.close()


def _screen(platform, cid, src: Path) -> None:
    """The platform's audio screens (e.g. fingerprints against other artists' tracks): ``block``
    fails the version with the reason; ``review`` holds the track unpublished (status
    ``processing``, reason ``held_for_review: ...``) until a moderator decides. The screens get a
    session whose transaction has not begun (the item is read before, in its own): a screen runs
    its slow part (fpcalc) before its first query, so no transaction is held open meanwhile."""
    with platform.read() as r:
        item = r.get(ContentItem, cid)
        if item is None:
            return
        r.expunge(item)
    with platform.session() as s:
        verdict = platform.screen_audio(s, item, src)
        current = s.get(ContentItem, cid) if verdict.action == "review" else None
        if current is not None and current.status != "taken_down":
            platform.content.set_status(s, current, "processing",
                                        f"{HELD}: {verdict.reason}: {verdict.detail}"[:500])
    if verdict.action == "block":
        raise PermanentJobError(f"{verdict.reason or 'blocked'}: {verdict.detail}".rstrip(": "))


def _held(item) -> bool:
    return item.status == "processing" and (item.status_reason or "").startswith(HELD)


def _publish(platform, cid, version, result) -> None:
    """The single switch: the new version plays, the content item is ready, old files go."""
    superseded = []
    with platform.session() as s:
        row = s.get(TrackVersion, (cid, version), with_for_update=True)
        track = s.get(Track, cid)
        item = s.get(ContentItem, cid)
        if row is None or track is None or item is None:
            return
        row.state = "ready"
        row.error = None
        row.renditions = result["renditions"]
        row.loudness_lufs, row.true_peak_db = result["lufs"], result["peak"]
        row.preview_start = result["preview_start"]
        row.artwork = {**row.artwork, "covers": result["covers"]}
        row.ready_at = platform.clock.now()
        old = track.version
        if version >= old:
            track.version = version
            if track.pending_version == version:
                track.pending_version = None
            for other in s.scalars(select(TrackVersion).where(TrackVersion.content_id == cid,
                                                               TrackVersion.version != version,
                                                               TrackVersion.state.in_(("ready", "failed")))):
                other.state = "superseded"
                superseded.append(other.version)
        data = dict(item.data or {})
        data.update({"duration": row.duration, "loudness_lufs": row.loudness_lufs, "true_peak_db": row.true_peak_db,
                     "tempo_bpm": result.get("tempo_bpm"), "version": track.version})
        item.data = data
        if item.status in ("processing", "failed", "draft") and not _held(item):
            platform.content.set_status(s, item, "ready")
        platform.emit(s, "track.transcoded", artist_id=item.artist_id, subject=("content", cid),
                      data={"version": version, "loudness_lufs": row.loudness_lufs,
                            "tempo_bpm": result.get("tempo_bpm")})
    platform.invalidate(("streaming", cid))
    for v in superseded:
        platform.storage.delete_prefix(prefix(cid, v) + "/")


def _fail(platform, cid, version, reason: str) -> None:
    with platform.session() as s:
        row = s.get(TrackVersion, (cid, version))
        track = s.get(Track, cid)
        item = s.get(ContentItem, cid)
        if row is None or item is None:
            return
        row.state, row.error = "failed", reason[:2000]
        if track is not None and track.pending_version == version:
            track.pending_version = None
        if track is not None and track.version == 0 and item.status != "taken_down":
            platform.content.set_status(s, item, "failed", reason[:500])
    platform.invalidate(("streaming", cid))
