"""``musicconnect serve`` as the load test runs it: the same uvicorn options
(``musicconnect.server.uvicorn_options``: the bounded httptools protocol, proxy headers) plus the
knobs under test as flags (``serve`` reads keep-alive and backlog from MC_KEEP_ALIVE_SECONDS and
MC_LISTEN_BACKLOG), and limit-concurrency, which ``serve`` does not expose.

    python bench/load/serve.py --port 8000 --workers 2 --keep-alive 75 [--backlog 4096] [--limit-concurrency N]

Settings come from the environment (``MC_*``), as for ``uvicorn musicconnect.asgi:app``.
"""
from __future__ import annotations

import argparse

import uvicorn

from musicconnect.server import uvicorn_options
from musicconnect.settings import Settings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--keep-alive", type=int, default=75, help="seconds an idle connection stays open")
    ap.add_argument("--backlog", type=int, default=4096)
    ap.add_argument("--limit-concurrency", type=int, default=0)
    args = ap.parse_args()
    opts = {**uvicorn_options(Settings()), "timeout_keep_alive": args.keep_alive, "backlog": args.backlog}
    uvicorn.run("musicconnect.asgi:app", host=args.host, port=args.port, workers=args.workers, loop="uvloop",
                limit_concurrency=args.limit_concurrency or None, log_level="warning", **opts)


if __name__ == "__main__":
    main()
