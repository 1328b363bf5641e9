"""``musicconnect streaming import DIR --artist EMAIL``: bulk import with a progress bar."""
from __future__ import annotations

import secrets
import uuid
from pathlib import Path

import typer

AUDIO = {".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".opus", ".aif", ".aiff"}


def make_app(platform) -> typer.Typer:
    app = typer.Typer(help="Streaming: bulk import and track tools.", no_args_is_help=True)

    @app.command("import")
    def import_dir(directory: Path = typer.Argument(..., help="folder of audio files (searched recursively)"),
                   artist: str = typer.Option(..., help="the artist's account email"),
                   visibility: str = typer.Option("public", help="public or tier"),
                   tier: str = typer.Option(None, help="tier key for --visibility tier (e.g. supporter)"),
                   wait: bool = typer.Option(True, help="wait for the transcodes and show their progress")):
        """Import every audio file of a folder as tracks of an artist."""
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
        from sqlalchemy import select

        from musicconnect import normalise_email
        from musicconnect.models import Job, Tier, User

        from . import media
        from .models import Track, TrackVersion
        from .pipeline import JOB, prefix

        def fail(msg: str) -> None:
            typer.echo(f"error: {msg}", err=True)
            raise typer.Exit(1)

        if not directory.is_dir():
            fail(f"{directory} is not a folder")
        files = sorted(p for p in directory.rglob("*") if p.suffix.lower() in AUDIO and p.is_file())
        if not files:
            fail(f"no audio files in {directory}")
        platform.db.check()
        with platform.session() as s:
            user = s.scalar(select(User).where(User.email == normalise_email(artist)))
            if user is None or user.artist is None:
                fail(f"{artist} is not an artist account")
            artist_id, user_id = user.artist.id, user.id
            tier_id = None
            if visibility == "tier":
                t = s.scalar(select(Tier).where(Tier.artist_id == artist_id, Tier.key == (tier or "")))
                if t is None:
                    fail(f"the artist has no tier {tier!r}")
                tier_id = t.id
        platform.start()
        jobs, skipped = [], []
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TimeRemainingColumn()) as progress:
            task = progress.add_task("checking and storing", total=len(files))
            for path in files:
                progress.update(task, description=f"storing {path.name[:40]}")
                try:
                    probe = media.probe(path)
                    media.verify_decodes(path)
                except media.MediaError as exc:
                    skipped.append(f"{path.name}: {exc}")
                    progress.advance(task)
                    continue
                cid = uuid.uuid4()
                key = f"{prefix(cid, 1)}/original{path.suffix.lower()}"
                platform.storage.put_file(key, path)
                try:
                    with platform.session() as s:
                        platform.content.create(s, artist_id=artist_id, kind="track",
                                                title=probe.tags.get("title") or path.stem, visibility=visibility,
                                                required_tier_id=tier_id, data={"duration": probe.duration},
                                                status="processing", actor_id=user_id, item_id=cid)
                        s.add(Track(content_id=cid, artist_id=artist_id, version=0, pending_version=1,
                                    created_at=platform.clock.now()))
                        s.add(TrackVersion(content_id=cid, version=1, state="processing", original_key=key,
                                           original_filename=path.name, size_bytes=path.stat().st_size,
                                           probe=probe.as_dict(), duration=probe.duration,
                                           aes_key=secrets.token_bytes(16), aes_iv="0x" + secrets.token_hex(16),
                                           artwork={}, created_at=platform.clock.now()))
                        s.flush()
                        jobs.append(platform.jobs.enqueue(JOB, session=s, subject=("content", cid), owner_id=user_id,
                                                          content_id=str(cid), version=1))
                except BaseException:
                    platform.storage.delete_prefix(prefix(cid, 1) + "/")
                    raise
                progress.advance(task)
            if wait and jobs:
                import time

                bar = progress.add_task("transcoding", total=len(jobs) * 100)
                while True:
                    with platform.session() as s:
                        rows = s.scalars(select(Job).where(Job.id.in_(jobs))).all()
                    done = sum(100 if j.state in ("succeeded", "failed") else int(j.progress * 100) for j in rows)
                    progress.update(bar, completed=done)
                    if all(j.state in ("succeeded", "failed") for j in rows):
                        break
                    time.sleep(0.3)
        platform.close()
        for line in skipped:
            typer.echo(f"skipped {line}", err=True)
        typer.echo(f"imported {len(jobs)} track(s), skipped {len(skipped)}")
        if skipped and not jobs:
            raise typer.Exit(1)

    return app
