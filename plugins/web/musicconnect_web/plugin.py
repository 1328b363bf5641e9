"""The web plugin's hooks: the app at the site root, and ``GET /api/v1/web/extensions`` (the
screens other plugins declare through ``web_extensions``)."""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from musicconnect import hookimpl
from musicconnect.web import get_platform, public

from . import extensions, site


class ExtensionOut(BaseModel):
    plugin: str = Field(description="the plugin that declared it")
    kind: str = Field(description="page (a client route), nav (a link) or component (in a slot)")
    path: str | None = Field(description="the client route of a page or nav entry")
    module: str | None = Field(description="the ES module (same origin) whose default export is the screen")
    title: str | None = Field(description="the navigation label")
    slot: str | None = Field(description="where a component renders (e.g. artist)")
    audience: Literal["everyone", "artists"] = Field(
        "everyone", description="who sees the link: everyone, or signed-in artists only (the studio menu)")


class ExtensionsOut(BaseModel):
    build: str = Field(description="the app's build id (static files live under /static/web/<build>/)")
    extensions: list[ExtensionOut]


api = APIRouter()


@api.get("/extensions", response_model=ExtensionsOut, dependencies=[Depends(public)])
def list_extensions(platform=Depends(get_platform)):
    """The screens, links and components the enabled plugins add to the web app (docs/web.md)."""
    return {"build": site.build_id(), "extensions": extensions.resolve(platform, site.RESERVED)}


@hookimpl
def register_site_routes(platform):
    return site.router


@hookimpl
def register_routes(platform):
    return api
