"""Operations: health, readiness, Prometheus metrics, plugins, jobs and signed local media."""
from __future__ import annotations

import hmac
import uuid

from fastapi import APIRouter, Depends, Request
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, JSONResponse, Response

from ..contracts import Actor
from ..errors import Forbidden, NotFound, Problem, problem_response
from ..models import Job
from ..platform import Platform
from .deps import authenticate, bearer_token, get_platform, public, require_admin, scope
from .schemas import JobOut, PluginOut

router = APIRouter()


@router.get("/healthz", tags=["operations"], dependencies=[Depends(public)])
async def healthz():
    """Liveness: the process answers."""
    return {"status": "ok"}


def _ready_checks(platform: Platform) -> dict[str, str]:
    checks = {}
    try:
        with platform.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    if platform.settings.redis_url:
        try:
            import redis

            redis.Redis.from_url(platform.settings.redis_url, socket_timeout=2).ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    try:
        if platform.settings.storage_backend == "s3":
            platform.storage.client.head_bucket(Bucket=platform.storage.bucket)
        else:
            platform.storage.root.stat()
        checks["storage"] = "ok"
    except Exception as exc:
        checks["storage"] = f"error: {type(exc).__name__}"
    return checks


@router.get("/readyz", tags=["operations"], dependencies=[Depends(public)])
async def readyz(platform: Platform = Depends(get_platform)):
    """Readiness: database, Redis (when configured) and storage answer (else 503 ``unavailable``).
    A plugin quarantined in this process (its ``check_access`` raised) makes the answer 200
    ``degraded`` with ``checks.plugins`` naming it: the process still serves (owners, admins and
    the other rules work) but an operator must look."""
    checks = await run_in_threadpool(_ready_checks, platform)
    ok = all(v == "ok" for v in checks.values())
    quarantined = platform.plugins.quarantined()
    checks["plugins"] = ("quarantined: " + "; ".join(f"{r.name} ({r.quarantined})" for r in quarantined)
                         if quarantined else "ok")
    status = "unavailable" if not ok else "degraded" if quarantined else "ok"
    return JSONResponse({"status": status, "checks": checks}, status_code=200 if ok else 503)


_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


async def _metrics_allowed(request: Request, platform: Platform) -> bool:
    configured = platform.settings.metrics_token
    token = bearer_token(request.headers.get("authorization"))
    if configured is not None and token is not None and hmac.compare_digest(
            token.encode(), configured.get_secret_value().encode()):
        return True
    if token is not None and not token.startswith("mcm_"):
        actor, _ = await authenticate(platform, token)
        return actor.is_admin and actor.has_scope("admin")
    return configured is None and request.client is not None and request.client.host in _LOOPBACK


@router.get("/metrics", tags=["operations"], response_class=Response,
            responses={401: {"description": "not a scraper: set MC_METRICS_TOKEN and send it as a Bearer token"}})
async def prometheus(request: Request, _: None = Depends(public), platform: Platform = Depends(get_platform)):
    """Prometheus exposition of request counts and latencies. Not public: a scraper sends
    ``Authorization: Bearer $MC_METRICS_TOKEN``; admins may read it; with no token configured,
    loopback clients (a local Prometheus or sidecar) may too."""
    if not await _metrics_allowed(request, platform):
        raise Problem(401, "unauthorized", "metrics need the metrics token (MC_METRICS_TOKEN) or an admin",
                      headers={"WWW-Authenticate": "Bearer"})
    from ..metrics import exposition

    # every API process's series when PROMETHEUS_MULTIPROC_DIR is shared (files read: off the loop)
    return Response(await run_in_threadpool(exposition), media_type=CONTENT_TYPE_LATEST)


def plugin_rows(platform: Platform) -> list[dict]:
    return [{"name": r.name, "version": r.version, "distribution": r.distribution, "status": r.status,
             "enabled": r.enabled and r.allowed, "builtin": r.builtin, "hooks": platform.plugins.hooks_of(r.name),
             "error": r.error, "quarantined": r.quarantined} for r in platform.plugins]


@router.get("/api/v1/plugins", tags=["operations"], response_model=list[PluginOut])
def list_plugins(_: Actor = Depends(require_admin), platform: Platform = Depends(get_platform)):
    """Installed plugins and their state (admins)."""
    return plugin_rows(platform)


@router.get("/api/v1/jobs/{job_id}", tags=["operations"], response_model=JobOut)
def read_job(job_id: uuid.UUID, actor: Actor = Depends(scope("profile:read")), platform: Platform = Depends(get_platform)):
    """A background job's state and progress (its owner or an admin)."""
    with platform.session() as s:
        job = s.get(Job, job_id)
        if job is None:
            raise NotFound("job")
        if not actor.is_admin and job.owner_id != actor.user_id:
            raise Forbidden("this is not your job")
        return {c: getattr(job, c) for c in JobOut.model_fields}


async def media(request: Request) -> Response:
    """Signed local media (embedded default). A CDN or a static server can do the same check."""
    platform: Platform = request.app.state.platform
    storage = platform.storage
    key = request.path_params["key"]
    q = request.query_params
    if storage.backend != "local":
        return problem_response(Problem(404, "not-found", "media is served by the object store"), request)
    if not storage.verify(key, q.get("exp"), q.get("sig"), q.get("dl")):
        return problem_response(Problem(403, "bad-signature", "this media link is invalid or has expired"), request)
    path = storage.path(key)
    if not path.is_file():
        return problem_response(Problem(404, "not-found", "no such media"), request)
    headers = {"Cache-Control": "private, max-age=300"}
    return FileResponse(path, headers=headers, filename=q.get("dl") or None)


MEDIA_TYPES = {".ts": "video/mp2t", ".json": "application/json", ".jpg": "image/jpeg"}


async def media_fast(req):
    """Fast path for small immutable media (HLS segments, covers, waveforms): signature check,
    one read in a worker thread. Anything else (audio files that players fetch with Range
    requests) is handed on to the FileResponse route."""
    from urllib.parse import parse_qs, unquote

    from starlette.concurrency import run_in_threadpool

    from ..fastpath import FastResponse

    key = unquote(req.params["key"])
    ext = key[key.rfind("."):]
    media_type = MEDIA_TYPES.get(ext)
    if media_type is None:
        return None
    storage = req.platform.storage
    q = {k: v[0] for k, v in parse_qs(req.query_string.decode("latin-1")).items()}
    if q.get("dl") or not storage.verify(key, q.get("exp"), q.get("sig"), None):
        if q.get("dl"):
            return None
        raise Problem(403, "bad-signature", "this media link is invalid or has expired")
    path = storage.path(key)
    try:
        body = await run_in_threadpool(path.read_bytes)
    except FileNotFoundError:
        raise Problem(404, "not-found", "no such media") from None
    return FastResponse(body, media_type=media_type, headers=[(b"cache-control", shared_cache_control(storage, q["exp"]))])


def shared_cache_control(storage, exp: str) -> bytes:
    """Segments, covers and waveforms never change under a key (a new upload is a new version
    prefix), and whoever holds the signed URL may read them: a CDN or shared cache may keep the
    response, keyed by the whole signed URL, until the signature expires, and never revalidate."""
    left = max(0, int(exp) - storage.now())
    return f"public, max-age={left}, immutable".encode()
