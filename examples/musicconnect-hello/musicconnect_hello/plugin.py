"""The hook implementations of the hello plugin."""
from __future__ import annotations

import uuid
from pathlib import Path

import typer
from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from musicconnect import (ContentKind, JobSpec, Metric, NotFound, PluginSettings, Problem, Verdict, emit, hookimpl)
from musicconnect.web import ensure_artist_owner, get_platform, public, scope

from .models import Greeting


class HelloSettings(PluginSettings):
    max_length: int = Field(default=280, ge=1, le=500, description="longest greeting accepted")
    greeting_word: str = "Hello"


class GreetingIn(BaseModel):
    # every request body carries an example in the OpenAPI document (tests/test_openapi_examples.py)
    model_config = {"json_schema_extra": {"examples": [{"message": "Hello from Leipzig!"}]}}

    message: str = Field(min_length=1, max_length=500)


def _router() -> APIRouter:
    router = APIRouter()

    @router.get("/artists/{artist_id}/greetings", dependencies=[Depends(public)])
    def list_greetings(artist_id: uuid.UUID, platform=Depends(get_platform)):
        """Greetings left for an artist, newest first."""
        with platform.session() as s:
            rows = s.scalars(select(Greeting).where(Greeting.artist_id == artist_id)
                             .order_by(Greeting.created_at.desc()).limit(100)).all()
            return [{"id": str(g.id), "user_id": str(g.user_id), "message": g.message,
                     "created_at": g.created_at.isoformat()} for g in rows]

    @router.post("/artists/{artist_id}/greetings", status_code=201)
    def greet(artist_id: uuid.UUID, body: GreetingIn, actor=Depends(scope("hello:write")),
              platform=Depends(get_platform)):
        """Leave a greeting (signed-in users)."""
        settings = platform.plugin_settings("hello")
        if len(body.message) > settings.max_length:
            raise Problem(422, "greeting-too-long", f"greetings are at most {settings.max_length} characters")
        from musicconnect.models import Artist

        with platform.session() as s:
            if s.get(Artist, artist_id) is None:
                raise NotFound("artist")
            g = Greeting(id=uuid.uuid4(), artist_id=artist_id, user_id=actor.user_id, message=body.message,
                         created_at=platform.clock.now())
            s.add(g)
            emit(platform, s, "hello.greeted", actor_id=actor.user_id, artist_id=artist_id, subject=("greeting", g.id))
            return {"id": str(g.id), "message": f"{settings.greeting_word}! {g.message}"}

    @router.post("/artists/{artist_id}/recount", status_code=202)
    def recount(artist_id: uuid.UUID, actor=Depends(scope("hello:write")), platform=Depends(get_platform)):
        """Count the artist's greetings in the background (the artist or an admin); poll
        GET /api/v1/jobs/{job_id}."""
        ensure_artist_owner(actor, artist_id)
        job_id = platform.jobs.enqueue("hello.count", owner_id=actor.user_id, artist_id=str(artist_id))
        return {"job_id": str(job_id)}

    return router


@hookimpl
def register_routes(platform):
    return _router()


@hookimpl
def register_scopes(platform):
    return {"hello:write": "leave greetings and recount them"}


@hookimpl
def register_migrations(platform):
    return Path(__file__).parent / "migrations"


@hookimpl
def register_settings(platform):
    return HelloSettings


class NoteData(BaseModel):
    """What a client may put in a note's ``data``: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field("", max_length=2000)
    hello_preview: bool = False


@hookimpl
def register_content_kinds(platform):
    return [ContentKind("hello_note", "Note", "A short text note for fans.", data_model=NoteData)]


@hookimpl
def check_access(actor, action, resource, context):
    """Free previews for registered users: ``data.hello_preview`` opens an item to anyone signed in."""
    if actor is not None and resource.status == "ready" and resource.data.get("hello_preview"):
        return Verdict.allow("a free preview for signed-in fans")
    return None


def _greetings_30d(platform, artist_id, window):
    with platform.read() as s:
        return s.scalar(select(func.count()).select_from(Greeting).where(
            Greeting.artist_id == artist_id, Greeting.created_at >= window.start,
            Greeting.created_at <= window.end)) or 0


@hookimpl
def register_metrics(platform):
    return [Metric("hello_greetings_30d", "Greetings", "Greetings fans left in the window.", _greetings_30d)]


def count_greetings(ctx, artist_id: str):
    """A background job: counts an artist's greetings, reporting progress."""
    ctx.progress(0.5, "counting")
    with ctx.platform.session() as s:
        n = s.scalar(select(func.count()).select_from(Greeting).where(Greeting.artist_id == uuid.UUID(artist_id)))
    return {"greetings": n}


@hookimpl
def register_jobs(platform):
    return [JobSpec("count", count_greetings, max_retries=1)]


@hookimpl
def register_commands(platform):
    app = typer.Typer(help="The hello example plugin.")

    @app.command()
    def stats():
        """How many greetings there are."""
        with platform.session() as s:
            typer.echo(f"{s.scalar(select(func.count()).select_from(Greeting))} greetings")

    return app
