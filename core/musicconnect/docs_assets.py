"""The interactive API docs (``/docs``: Swagger UI, ``/redoc``: ReDoc), served without a CDN.

FastAPI's own pages load their JavaScript and CSS from a CDN at run time, so they are blank on a
machine without internet access. Here the pages reference the Swagger UI and ReDoc bundles that
the ``fastapi-offline`` package ships (MIT; the bundles keep their own licence banners), served by
the platform itself under content-addressed URLs
(``/docs/assets/<sha256 prefix>/swagger-ui-bundle.js``): a new bundle gets a new URL, so the
assets are sent with ``Cache-Control: public, max-age=31536000, immutable`` and a browser asks
for them once. The pages and the assets are ``public`` (the OpenAPI document already is).
"""
from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from fastapi import APIRouter, Depends, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.responses import HTMLResponse, Response

__all__ = ["ASSET_NAMES", "asset_url", "docs_router"]

ASSETS_PREFIX = "/docs/assets"
IMMUTABLE = "public, max-age=31536000, immutable"
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".png": "image/png"}
#: the files the pages use, as the fastapi-offline package names them
ASSET_NAMES = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")


@dataclass(frozen=True, slots=True)
class Asset:
    name: str
    digest: str
    body: bytes
    gzipped: bytes | None
    media_type: str


@cache
def _asset(name: str) -> Asset:
    """Read once per process; JS and CSS are also kept gzip-compressed (a third of the bytes)."""
    body = resources.files("fastapi_offline").joinpath("static", name).read_bytes()
    media_type = _TYPES[name[name.rfind("."):]]
    gzipped = gzip.compress(body, 6, mtime=0) if media_type.startswith("text/") else None
    return Asset(name, hashlib.sha256(body).hexdigest()[:16], body, gzipped, media_type)


def asset_url(name: str, root_path: str = "") -> str:
    """The versioned URL of one bundled asset (it changes whenever the file's content does)."""
    return f"{root_path}{ASSETS_PREFIX}/{_asset(name).digest}/{name}"


def _accepts_gzip(request: Request) -> bool:
    for part in request.headers.get("accept-encoding", "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() == "gzip" and params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000"):
            return True
    return False


def docs_router(app) -> APIRouter:
    """``/docs``, ``/redoc`` and their assets, for ``app`` (its title and OpenAPI URL)."""
    from .api.deps import public

    router = APIRouter(include_in_schema=False, dependencies=[Depends(public)])

    @router.get("/docs")
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - Swagger UI",
            swagger_js_url=asset_url("swagger-ui-bundle.js", root), swagger_css_url=asset_url("swagger-ui.css", root),
            swagger_favicon_url=asset_url("favicon.png", root),
            swagger_ui_parameters={"persistAuthorization": True, **(app.swagger_ui_parameters or {})})

    @router.get("/redoc")
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - ReDoc",
                              redoc_js_url=asset_url("redoc.standalone.js", root),
                              redoc_favicon_url=asset_url("favicon.png", root), with_google_fonts=False)

    @router.get(ASSETS_PREFIX + "/{digest}/{name}")
    async def docs_asset(request: Request, digest: str, name: str) -> Response:
        from .errors import NotFound

        if name not in ASSET_NAMES:
            raise NotFound("asset")
        asset = _asset(name)
        if digest != asset.digest:  # an older page's URL: the content it named is gone
            raise NotFound("asset")
        headers = {"cache-control": IMMUTABLE, "etag": f'"{asset.digest}"', "vary": "Accept-Encoding"}
        if request.headers.get("if-none-match", "").strip() in (f'"{asset.digest}"', f'W/"{asset.digest}"'):
            return Response(status_code=304, headers=headers)
        if asset.gzipped is not None and _accepts_gzip(request):
            return Response(asset.gzipped, media_type=asset.media_type, headers={**headers, "content-encoding": "gzip"})
        return Response(asset.body, media_type=asset.media_type, headers=headers)

    return router
