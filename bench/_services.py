"""Throwaway services for benchmarks: a PostgreSQL cluster and a Redis server on free loopback
ports, stopped and deleted afterwards (``with services() as (db_url, redis_url, work): ...``)."""
from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


@contextlib.contextmanager
def services(prefix: str = "mc-bench-"):
    """A throwaway PostgreSQL cluster (as the postgres user when run as root: initdb refuses root)
    and a Redis server, each on a free loopback port; both stopped afterwards. A small copy of what
    ``scripts/test.py`` does (that one also starts an S3 server and installs packages).
    Yields ``(database url, redis url, work directory)``."""
    def free_port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def wait_port(port: int) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
            time.sleep(0.1)
        raise SystemExit(f"error: nothing listens on 127.0.0.1:{port}")

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or [shutil.which("initdb") or ""]
    if not found[-1] or not shutil.which("redis-server"):
        raise SystemExit("error: --distributed needs PostgreSQL (initdb, pg_ctl) and redis-server")
    bindir = Path(found[-1]).parent
    work = Path(tempfile.mkdtemp(prefix=prefix + "services-"))
    pgdata, pgport, rport = work / "pg", free_port(), free_port()
    pgdata.mkdir()
    as_pg: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(work, "postgres")
        shutil.chown(pgdata, "postgres")
        as_pg = ["runuser", "-u", "postgres", "--"]
    stops = []
    try:
        subprocess.run([*as_pg, str(bindir / "initdb"), "-D", str(pgdata), "-A", "trust", "-U", "postgres"],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run([*as_pg, str(bindir / "pg_ctl"), "-D", str(pgdata), "-w", "-l", str(pgdata / "log"), "-o",
                        f"-p {pgport} -k {pgdata} -c listen_addresses=127.0.0.1 -c max_connections=100", "start"],
                       check=True, stdout=subprocess.DEVNULL)
        stops.append(lambda: subprocess.run([*as_pg, str(bindir / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "stop"],
                                            stdout=subprocess.DEVNULL))
        subprocess.run(["redis-server", "--bind", "127.0.0.1", "--port", str(rport), "--daemonize", "yes",
                        "--save", "", "--appendonly", "no", "--dir", str(work), "--pidfile", str(work / "redis.pid")],
                       check=True, stdout=subprocess.DEVNULL)
        stops.append(lambda: subprocess.run(["redis-cli", "-p", str(rport), "shutdown", "nosave"],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(pgport)
        wait_port(rport)
        yield f"postgresql://postgres@127.0.0.1:{pgport}/postgres", f"redis://127.0.0.1:{rport}/0", work
    finally:
        for stop in reversed(stops):
            stop()
        shutil.rmtree(work, ignore_errors=True)
