"""The reference for bench/reads.py: bare Starlette routes that run, through the same SQLAlchemy
engine and driver, exactly the SQL statements our route ran (captured by bench/reads.py), and
answer the rows as JSON. ``MC_BENCH_STATEMENTS`` names the JSON file of captured statements.

``fastapi_app`` serves the same endpoints as plain FastAPI routes (a sync endpoint, no
dependency, no middleware of ours): the framework's own share of our figures."""
import json
import os

import orjson
from sqlalchemy import create_engine
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

with open(os.environ["MC_BENCH_STATEMENTS"]) as fh:
    ROUTES = json.load(fh)
url = os.environ["MC_BENCH_DATABASE_URL"]
if url.startswith("postgresql://"):
    url = "postgresql+psycopg://" + url[len("postgresql://"):]
kw = {"pool_size": 20, "max_overflow": 0} if not url.startswith("sqlite") else {
    "connect_args": {"check_same_thread": False}, "pool_size": 20, "max_overflow": 0}
engine = create_engine(url, **kw)


def endpoint(statements):
    def run(request):  # a sync endpoint: Starlette runs it in its thread pool, as FastAPI runs ours
        out = []
        with engine.connect() as conn:
            for sql, params in statements:
                result = conn.exec_driver_sql(sql, tuple(params) if isinstance(params, list) else params)
                out.append([list(r) for r in result] if result.returns_rows else None)
        return Response(orjson.dumps(out, default=str), media_type="application/json")
    return run


def async_endpoint(statements):
    """The same statements on SQLAlchemy's asyncio extension (aiosqlite / asyncpg): no thread hop."""
    async def run(request):
        out = []
        async with async_engine().connect() as conn:
            for sql, params in statements:
                result = await conn.exec_driver_sql(sql, tuple(params) if isinstance(params, list) else params)
                out.append([list(r) for r in result] if result.returns_rows else None)
        return Response(orjson.dumps(out, default=str), media_type="application/json")
    return run


_ASYNC = []


def async_engine():
    if not _ASYNC:
        from sqlalchemy.ext.asyncio import create_async_engine

        aurl = url.replace("sqlite://", "sqlite+aiosqlite://").replace("postgresql+psycopg://", "postgresql+psycopg_async://")
        _ASYNC.append(create_async_engine(aurl, pool_size=20, max_overflow=0))
    return _ASYNC[0]


app = Starlette(routes=[*(Route(f"/ref/{i}", endpoint(r["statements"])) for i, r in enumerate(ROUTES)),
                        *(Route(f"/ref-async/{i}", async_endpoint(r["statements"])) for i, r in enumerate(ROUTES))])


def fastapi_app():
    from fastapi import FastAPI

    api = FastAPI()
    for i, r in enumerate(ROUTES):
        run = endpoint(r["statements"])

        def route(run=run):
            return run(None)
        api.add_api_route(f"/ref/{i}", route, methods=["GET"])
    return api
