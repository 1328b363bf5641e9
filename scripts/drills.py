#!/usr/bin/env python3
"""Failure drills: the distributed topology as processes on this machine, a small load-test
population against it, and faults injected one by one.

    .venv/bin/python scripts/drills.py [--short] [--faults api,worker,redis,postgres,s3] [--json out.json]

Topology (all on 127.0.0.1, in a throwaway directory, stopped and deleted afterwards):

* PostgreSQL (its own cluster), Redis (no persistence: a restart loses every queued message,
  the harshest case), moto's S3 server behind a fault-injecting proxy (:class:`S3Proxy`);
* two ``musicconnect serve`` processes behind a small TCP balancer (:class:`Balancer`: round
  robin over healthy backends, health check ``GET /healthz`` every 0.5 s, a new connection goes
  to the next backend when one refuses it; connections open to a killed backend break, as
  behind a Kubernetes Service);
* two ``musicconnect worker`` processes with quick recovery: ``MC_JOB_LEASE_SECONDS=5``,
  ``MC_REDIS_HEARTBEAT_TIMEOUT_MS=5000``, ``MC_REDIS_MAINTENANCE_CHANCE=1000000`` (every fetch
  looks for dead workers) and ``MC_JOB_RESEND_SECONDS=10`` (jobs whose message was lost are
  re-sent).

The population: members playing a gated track (master, variant, key, two segments from the
object store), an artist uploading short tracks, members sending DMs, and Stripe-signed webhook
deliveries (signed with the configured secret; an unacknowledged delivery is re-sent with the
same event id, as Stripe does). Clients never retry a POST on their own (its outcome is unknown
when the connection broke); a GET is retried once on a broken connection, as players do.

Faults: kill -9 an API process (restarted 2 s later); kill -9 a worker in the middle of a
transcode (restarted 2 s later); restart Redis; pause PostgreSQL (SIGSTOP/SIGCONT every process of
the cluster); the object store answering 503 for a while. Each reports the errors clients saw
(count and kinds), the time to the first success and back to the normal rate, and then at the end
that nothing was lost: every accepted upload published, every acknowledged webhook processed,
every acknowledged DM stored exactly once.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import wave
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _workspace import free_port, wait_port  # noqa: E402  (scripts/, also when loaded from a test)

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
API = "/api/v1"
PASSWORD = "drill-password-7391"
WEBHOOK_SECRET = "whsec_drills"
FAULTS = ("api", "worker", "redis", "postgres", "s3")

# quick recovery for the drill (production keeps the defaults: 60 s, 60 s, 1000, 600 s)
RECOVERY_ENV = {"MC_JOB_LEASE_SECONDS": "5", "MC_REDIS_HEARTBEAT_TIMEOUT_MS": "5000",
                "MC_REDIS_MAINTENANCE_CHANCE": "1000000", "MC_JOB_RESEND_SECONDS": "10"}


def log(msg: str) -> None:
    print(f"[drills] {time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


def tone_wav(seconds: float, freq: float = 440.0, rate: int = 22050) -> bytes:
    """A short mono WAV with a little noise (cheap to make, real work for the encoder)."""
    import numpy as np

    t = np.arange(int(seconds * rate)) / rate
    sig = np.sin(2 * np.pi * freq * t) * 0.3 + np.random.default_rng(int(freq)).normal(0, 0.02, t.size)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((sig * 32767).clip(-32768, 32767).astype("<i2").tobytes())
    return buf.getvalue()


def stripe_signature(body: bytes, secret: str = WEBHOOK_SECRET) -> str:
    at = int(time.time())
    return f"t={at},v1={hmac.new(secret.encode(), f'{at}.'.encode() + body, hashlib.sha256).hexdigest()}"


def descendants(pid: int) -> list[int]:
    """Every live process under ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


# ---------------------------------------------------------------- the balancer and the S3 fault proxy

async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _splice(cr, cw, br, bw, live: set) -> None:
    pair = (cw, bw)
    live.add(pair)
    try:
        await asyncio.gather(_pipe(cr, bw), _pipe(br, cw))
    except asyncio.CancelledError:  # the drill is over: its event loop closes
        pass
    finally:
        live.discard(pair)


class Balancer:
    """A TCP (layer 4) round-robin balancer with active health checks. Layer 4 and not an HTTP
    proxy: it never parses or buffers a request, so it never has to decide whether replaying one
    is safe — a connection goes to another backend only when its backend refused to connect
    (nothing was sent yet); connections open to a backend that dies break, and the client sees
    it, as behind a Kubernetes Service (kube-proxy) or a cloud network load balancer."""

    def __init__(self, backends: list[int], health_path: str = "/healthz", interval: float = 0.5):
        self.backends = backends
        self.healthy = set(backends)
        self.health_path = health_path
        self.interval = interval
        self.port = 0
        self._rr = 0
        self._live: set = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._conn, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self._checker = asyncio.create_task(self._check_loop())

    async def close(self) -> None:
        self._checker.cancel()
        self._server.close()

    async def _probe(self, port: int) -> bool:
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1)
            w.write(f"GET {self.health_path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
            line = await asyncio.wait_for(r.readline(), 1)
            w.close()
            return line.split(b" ")[1:2] == [b"200"]
        except (OSError, asyncio.TimeoutError, IndexError):
            return False

    async def _check_loop(self) -> None:
        while True:
            results = await asyncio.gather(*(self._probe(p) for p in self.backends))
            self.healthy = {p for p, ok in zip(self.backends, results, strict=True) if ok}
            await asyncio.sleep(self.interval)

    async def _conn(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        self._rr += 1
        order = self.backends[self._rr % len(self.backends):] + self.backends[:self._rr % len(self.backends)]
        order = [p for p in order if p in self.healthy] + [p for p in order if p not in self.healthy]
        for port in order:
            try:
                br, bw = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1)
            except (OSError, asyncio.TimeoutError):
                self.healthy.discard(port)
                continue
            await _splice(cr, cw, br, bw, self._live)
            return
        cw.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        with contextlib.suppress(OSError):
            await cw.drain()
        cw.close()


class S3Proxy:
    """A TCP proxy in front of the S3 server that can be told to fail: while failing it breaks
    every open connection and answers each new request ``503 ServiceUnavailable`` (an S3 error
    document, as S3 does when it sheds load)."""

    ERROR = (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>ServiceUnavailable</Code>"
             b"<Message>injected by the failure drill</Message></Error>")

    def __init__(self, target: int):
        self.target = target
        self.port = 0
        self.failing = False
        self.refused = 0
        self._live: set = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._conn, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self._server.close()

    def fail(self, on: bool) -> None:
        self.failing = on
        if on:
            for cw, bw in list(self._live):
                for w in (cw, bw):
                    with contextlib.suppress(Exception):
                        w.transport.abort()

    async def _conn(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        if self.failing:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                await asyncio.wait_for(cr.readuntil(b"\r\n\r\n"), 5)
            self.refused += 1
            cw.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(self.ERROR), self.ERROR))
            with contextlib.suppress(OSError):
                await cw.drain()
            cw.close()
            return
        try:
            br, bw = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            cw.close()
            return
        await _splice(cr, cw, br, bw, self._live)


# ---------------------------------------------------------------- the topology

class Topology:
    """PostgreSQL, Redis, moto (behind :class:`S3Proxy`), ``apis`` × serve behind
    :class:`Balancer`, ``workers`` × worker. ``async with Topology(...) as t:``."""

    def __init__(self, apis: int = 2, workers: int = 2, worker_threads: int = 2):
        self.n_apis, self.n_workers, self.worker_threads = apis, workers, worker_threads
        self.work = Path(tempfile.mkdtemp(prefix="mc-drills-"))
        self.logs = self.work / "logs"
        self.logs.mkdir()
        self.procs: dict[str, subprocess.Popen] = {}
        self.api_ports: list[int] = []
        self._stops: list = []

    # -------- services
    def _pg(self) -> None:
        import glob

        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or [shutil.which("initdb") or ""]
        if not found[-1]:
            raise RuntimeError("the drills need PostgreSQL (initdb, pg_ctl)")
        self.pg_bin = Path(found[-1]).parent
        self.pgdata, self.pg_port = self.work / "pg", free_port()
        self.pgdata.mkdir()
        self.as_pg: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.work, "postgres")
            shutil.chown(self.pgdata, "postgres")
            self.as_pg = ["runuser", "-u", "postgres", "--"]
        subprocess.run([*self.as_pg, str(self.pg_bin / "initdb"), "-D", str(self.pgdata), "-A", "trust", "-U",
                        "postgres"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([*self.as_pg, str(self.pg_bin / "pg_ctl"), "-D", str(self.pgdata), "-w", "-l",
                        str(self.pgdata / "log"), "-o", f"-p {self.pg_port} -k {self.pgdata} "
                        "-c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off", "start"],
                       check=True, stdout=subprocess.DEVNULL)
        self._stops.append(lambda: subprocess.run([*self.as_pg, str(self.pg_bin / "pg_ctl"), "-D", str(self.pgdata),
                                                   "-m", "immediate", "stop"], stdout=subprocess.DEVNULL,
                                                  stderr=subprocess.DEVNULL))
        self.database_url = f"postgresql://postgres@127.0.0.1:{self.pg_port}/postgres"

    def pg_pids(self) -> list[int]:
        pm = int((self.pgdata / "postmaster.pid").read_text().split()[0])
        return [pm, *descendants(pm)]

    def start_redis(self) -> None:
        subprocess.run(["redis-server", "--bind", "127.0.0.1", "--port", str(self.redis_port), "--daemonize", "yes",
                        "--save", "", "--appendonly", "no", "--dir", str(self.work),
                        "--pidfile", str(self.work / "redis.pid"), "--logfile", str(self.logs / "redis.log")],
                       check=True, stdout=subprocess.DEVNULL)
        wait_port(self.redis_port)

    def stop_redis(self) -> None:
        subprocess.run(["redis-cli", "-p", str(self.redis_port), "shutdown", "nosave"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.redis_port), timeout=0.2).close()
                time.sleep(0.1)
            except OSError:
                return

    # -------- application processes
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MC_")}
        env.update({
            "MC_DATABASE_URL": self.database_url, "MC_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "MC_S3_BUCKET": "musicconnect-drills", "MC_S3_ENDPOINT_URL": f"http://127.0.0.1:{self.s3.port}",
            "MC_S3_ACCESS_KEY_ID": "test", "MC_S3_SECRET_ACCESS_KEY": "test",
            "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
            "MC_DATA_DIR": str(self.work / "data"), "MC_BASE_URL": f"http://127.0.0.1:{self.lb.port}",
            "MC_ENV": "development", "MC_LOG_LEVEL": "WARNING",
            # one client address for everyone (see bench/load/run.py): per-address limits raised
            "MC_REGISTER_IP_LIMIT": "1000000/hour", "MC_RATE_LIMIT_ANONYMOUS": "10000000/minute",
            "MC_COMP_LIMIT": "100000/hour", "MC_ACCESS_TOKEN_TTL": "86400",
            "MC_MODERATION_ABUSE_SIGNUPS_PER_ADDRESS_HOUR": "100000",
            "MC_MODERATION_ABUSE_SIGNUPS_PER_ADDRESS_DAY": "100000",
            "MC_ARGON2_TIME_COST": "1", "MC_ARGON2_MEMORY_COST": "8192",
            "MC_BILLING_STRIPE_SECRET_KEY": "sk_test_drills", "MC_BILLING_STRIPE_WEBHOOK_SECRETS": WEBHOOK_SECRET,
            "MC_BILLING_STRIPE_API_BASE": "http://127.0.0.1:9",  # the drill's events never call Stripe
            "MC_WORKER_THREADS": str(self.worker_threads),
            **RECOVERY_ENV,
        })
        return env

    def _spawn(self, name: str, cmd: list[str]) -> subprocess.Popen:
        fh = (self.logs / f"{name}.log").open("ab")
        p = subprocess.Popen(cmd, env=self.env(), stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = p
        return p

    def start_api(self, i: int) -> None:
        self._spawn(f"api{i}", [str(BIN / "musicconnect"), "serve", "--host", "127.0.0.1", "--port",
                                str(self.api_ports[i]), "--no-migrate"])

    def start_worker(self, i: int) -> None:
        self._spawn(f"worker{i}", [str(BIN / "musicconnect"), "worker"])

    def kill(self, name: str) -> None:
        """kill -9 the process and everything it started (its session: ffmpeg too), as a
        container's death does."""
        p = self.procs[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(10)

    def api_up(self, i: int) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.api_ports[i]), timeout=0.3).close()
            return True
        except OSError:
            return False

    async def __aenter__(self) -> "Topology":
        try:
            await asyncio.to_thread(self._pg)
            self.redis_port = free_port()
            await asyncio.to_thread(self.start_redis)
            self._stops.append(self.stop_redis)
            moto_port = free_port()
            self.procs["moto"] = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
                                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                                  start_new_session=True)
            await asyncio.to_thread(wait_port, self.pg_port)
            await asyncio.to_thread(wait_port, moto_port)
            self.s3 = S3Proxy(moto_port)
            await self.s3.start()
            self.api_ports = [free_port() for _ in range(self.n_apis)]
            self.lb = Balancer(self.api_ports)
            await self.lb.start()
            up = await asyncio.to_thread(subprocess.run, [str(BIN / "musicconnect"), "db", "upgrade"], env=self.env(),
                                         capture_output=True, text=True)
            if up.returncode:
                raise RuntimeError(f"musicconnect db upgrade failed: {up.stderr[-2000:]}")
            for i in range(self.n_apis):
                self.start_api(i)
            for i in range(self.n_workers):
                self.start_worker(i)
            for port in self.api_ports:
                await asyncio.to_thread(wait_port, port, 90)
            log(f"topology up: postgresql :{self.pg_port}, redis :{self.redis_port}, s3 :{moto_port} "
                f"(proxy :{self.s3.port}), api {self.api_ports} behind :{self.lb.port}, {self.n_workers} workers "
                f"(logs in {self.logs})")
            return self
        except BaseException:
            await self.__aexit__(None, None, None)
            raise

    async def __aexit__(self, *exc) -> None:
        for name, p in reversed(list(self.procs.items())):
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
        for pid in self.pg_pids() if hasattr(self, "pgdata") and (self.pgdata / "postmaster.pid").exists() else []:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)  # never leave a paused cluster behind
        for name in ("lb", "s3"):
            if hasattr(self, name):
                await getattr(self, name).close()
        for stop in reversed(self._stops):
            with contextlib.suppress(Exception):
                stop()
        if os.environ.get("MC_DRILLS_KEEP"):
            log(f"kept {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.database_url, connect_timeout=5) as conn:
            return conn.execute(query, params).fetchall()


# ---------------------------------------------------------------- the population

@dataclass
class Op:
    t0: float
    t1: float
    actor: str
    ok: bool
    kind: str = ""


@dataclass
class Ledger:
    """What clients saw, and what they were told was accepted."""
    ops: list[Op] = field(default_factory=list)
    uploads: list[str] = field(default_factory=list)       # track ids answered 202
    dms_acked: list[str] = field(default_factory=list)      # bodies answered 201
    dms_unacked: list[str] = field(default_factory=list)    # bodies whose POST failed (outcome unknown)
    webhooks_acked: set = field(default_factory=set)        # event ids answered 2xx
    webhooks_sent: set = field(default_factory=set)


def _kind(exc_or_status) -> str:
    if isinstance(exc_or_status, int):
        return f"http {exc_or_status}"
    return type(exc_or_status).__name__


class Population:
    def __init__(self, topo: Topology, *, players: int = 3, dm_senders: int = 4, burst: int = 8,
                 upload_every: float = 4.0,
                 webhook_every: float = 0.4, track_seconds: float = 6.0):
        import httpx

        self.topo = topo
        self.base = f"http://127.0.0.1:{topo.lb.port}"
        self.http = httpx.AsyncClient(base_url=self.base, timeout=30, limits=httpx.Limits(max_connections=64))
        self.n_players, self.n_dm, self.n_burst = players, dm_senders, burst
        self.upload_every, self.webhook_every = upload_every, webhook_every
        # each member writes every 6.5 s: under the moderation plugin's 10 messages a minute
        self.dm_every = 6.5
        self.wav = tone_wav(track_seconds)
        self.ledger = Ledger()
        self.watch: str | None = None  # a track whose transcode a fault interrupted
        self.stop = asyncio.Event()

    async def close(self) -> None:
        await self.http.aclose()

    async def call(self, method: str, path: str, token: str | None = None, *, expect=(200, 201, 202, 204), tries=30,
                   **kw):
        """Setup calls: retried until they succeed (setup runs before any fault)."""
        import httpx

        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        last = None
        for _ in range(tries):
            try:
                r = await self.http.request(method, API + path, headers=headers, **kw)
            except httpx.HTTPError as exc:
                last = exc
                await asyncio.sleep(0.5)
                continue
            if r.status_code in expect:
                return r
            last = f"{r.status_code} {r.text[:300]}"
            if r.status_code < 500 and r.status_code != 429:
                break
            await asyncio.sleep(0.5)
        raise RuntimeError(f"setup: {method} {path}: {last}")

    async def register(self, email: str, role: str = "fan") -> dict:
        body = {"email": email, "password": PASSWORD, "role": role, "display_name": email.split("@")[0]}
        if role == "artist":
            body["artist_name"] = "Drill Artist"
        doc = (await self.call("POST", "/auth/register", json=body, expect=(201,))).json()
        return {"id": doc["user"]["id"], "token": doc["tokens"]["access_token"],
                "artist_id": (doc["user"].get("artist") or {}).get("id")}

    async def upload(self, title: str, *, gated: bool = False, wav: bytes | None = None):
        data = {"title": title, "visibility": "tier" if gated else "public"}
        if gated:
            data["required_tier_id"] = self.tiers["supporter"]
        return await self.http.post(f"{API}/streaming/artists/{self.artist['artist_id']}/tracks",
                                    headers={"Authorization": f"Bearer {self.artist['token']}"}, data=data,
                                    files={"file": ("drill.wav", wav or self.wav, "audio/wav")})

    async def setup(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.artist = await self.register(f"drill-artist-{tag}@example.com", "artist")
        aid = self.artist["artist_id"]
        tiers = {t["key"]: t for t in (await self.call("GET", f"/artists/{aid}/tiers")).json()}
        for key in ("supporter", "superfan"):
            perks = {**tiers[key]["perks"], "direct_messages": 100000}
            await self.call("PATCH", f"/artists/{aid}/tiers/{tiers[key]['id']}", self.artist["token"],
                            json={"perks": perks})
        self.tiers = {k: t["id"] for k, t in tiers.items()}
        r = await self.upload("Drill gated track", gated=True)
        if r.status_code != 202:
            raise RuntimeError(f"setup upload: {r.status_code} {r.text[:300]}")
        self.track = r.json()["id"]
        self.members = []  # the last n_burst of them write only during the API-process kill
        for i in range(max(self.n_players, self.n_dm) + self.n_burst):
            m = await self.register(f"drill-member-{tag}-{i}@example.com")
            await self.call("POST", f"/fanclub/artists/{aid}/follow", m["token"])
            await self.call("POST", f"/fanclub/artists/{aid}/join", m["token"], expect=(200, 201, 204, 409))
            await self.call("POST", f"/artists/{aid}/comps", self.artist["token"],
                            json={"email": f"drill-member-{tag}-{i}@example.com", "tier_id": self.tiers["superfan"]})
            self.members.append(m)
        await self.wait_published([self.track], 180)
        log(f"population ready: 1 artist, {len(self.members)} members, gated track {self.track}")

    async def track_status(self, tid: str) -> str | None:
        import httpx

        try:
            r = await self.http.get(f"{API}/streaming/tracks/{tid}",
                                    headers={"Authorization": f"Bearer {self.artist['token']}"})
        except httpx.HTTPError:
            return None
        return r.json().get("status") if r.status_code == 200 else None

    async def wait_published(self, ids: list[str], timeout: float) -> set[str]:
        """The ids not ready after ``timeout`` seconds."""
        pending = set(ids)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for tid in sorted(pending):
                if await self.track_status(tid) == "ready":
                    pending.discard(tid)
            if pending:
                await asyncio.sleep(1)
        return pending

    # -------- actors
    def record(self, t0: float, actor: str, ok: bool, kind: str = "") -> None:
        self.ledger.ops.append(Op(t0, time.monotonic(), actor, ok, kind))

    async def _get(self, url: str, **kw):
        """A GET as a player does it: retried once when the connection broke."""
        import httpx

        try:
            return await self.http.get(url, **kw)
        except httpx.TransportError:
            return await self.http.get(url, **kw)

    async def player(self, member: dict) -> None:
        import httpx

        auth = {"Authorization": f"Bearer {member['token']}"}
        base = f"{API}/streaming/tracks/{self.track}"
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                master = await self._get(f"{base}/master.m3u8", headers=auth)
                if master.status_code != 200:
                    raise _Status(master.status_code)
                variant = next(ln for ln in master.text.splitlines() if ln and not ln.startswith("#"))
                var = await self._get(f"{base}/{variant}")
                if var.status_code != 200:
                    raise _Status(var.status_code)
                key = next(ln for ln in var.text.splitlines() if ln.startswith("#EXT-X-KEY"))
                key_url = f"{base}/key?" + key.split('key?', 1)[1].split('"', 1)[0]
                k = await self._get(key_url)
                if k.status_code != 200:
                    raise _Status(k.status_code)
                for seg in [ln for ln in var.text.splitlines() if ln and not ln.startswith("#")][:2]:
                    s = await self._get(seg if seg.startswith("http") else f"{base}/{variant.rsplit('/', 1)[0]}/{seg}")
                    if s.status_code != 200:
                        raise _Status(s.status_code, "segment ")
                self.record(t0, "play", True)
            except _Status as exc:
                self.record(t0, "play", False, exc.kind)
            except (httpx.HTTPError, StopIteration) as exc:
                self.record(t0, "play", False, _kind(exc))
            await self._pause(0.5)

    async def send_dm(self, member: dict, http=None) -> None:
        """One DM with a unique body; 201 = acknowledged. Never retried: after a broken
        connection its outcome is unknown (the message may or may not be stored)."""
        import httpx

        body = f"drill dm {uuid.uuid4().hex}"
        t0 = time.monotonic()
        try:
            r = await (http or self.http).post(f"{API}/fanclub/artists/{self.artist['artist_id']}/messages",
                                               headers={"Authorization": f"Bearer {member['token']}"},
                                               json={"body": body})
            if r.status_code == 201:
                self.ledger.dms_acked.append(body)
                self.record(t0, "dm", True)
            else:
                self.ledger.dms_unacked.append(body)
                self.record(t0, "dm", False, f"http {r.status_code}")
        except httpx.HTTPError as exc:
            self.ledger.dms_unacked.append(body)
            self.record(t0, "dm", False, _kind(exc))

    async def dm_sender(self, member: dict) -> None:
        while not self.stop.is_set():
            await self.send_dm(member)
            await self._pause(self.dm_every)

    async def burst(self) -> list[asyncio.Task]:
        """The burst members each send one DM at once, each on its own connection (so the
        balancer spreads them over both API processes): requests in flight for a fault to cut."""
        import httpx

        clients = [httpx.AsyncClient(base_url=self.base, timeout=30) for _ in self.members[-self.n_burst:]]

        async def one(member, client):
            try:
                await self.send_dm(member, client)
            finally:
                await client.aclose()

        return [asyncio.create_task(one(m, c)) for m, c in zip(self.members[-self.n_burst:], clients, strict=True)]

    async def uploader(self) -> None:
        import httpx

        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                r = await self.upload(f"Drill upload {uuid.uuid4().hex[:6]}")
                if r.status_code == 202:
                    self.ledger.uploads.append(r.json()["id"])
                    self.record(t0, "upload", True)
                else:
                    self.record(t0, "upload", False, f"http {r.status_code}")
            except httpx.HTTPError as exc:
                self.record(t0, "upload", False, _kind(exc))
            await self._pause(self.upload_every)

    async def webhooks(self) -> None:
        """Stripe's side: every event is delivered until acknowledged (same id, freshly signed)."""
        import httpx

        retry: list[str] = []
        while not self.stop.is_set():
            eid = retry.pop(0) if retry else f"evt_drill_{uuid.uuid4().hex}"
            self.ledger.webhooks_sent.add(eid)
            body = json.dumps({"id": eid, "object": "event", "type": "drill.ping", "created": int(time.time()),
                               "data": {"object": {"id": "drill", "object": "drill"}}}).encode()
            t0 = time.monotonic()
            try:
                r = await self.http.post(f"{API}/billing/webhooks/stripe", content=body,
                                         headers={"Stripe-Signature": stripe_signature(body),
                                                  "Content-Type": "application/json"})
                ok = 200 <= r.status_code < 300
                self.record(t0, "webhook", ok, "" if ok else f"http {r.status_code}")
            except httpx.HTTPError as exc:
                ok = False
                self.record(t0, "webhook", False, _kind(exc))
            if ok:
                self.ledger.webhooks_acked.add(eid)
            else:
                retry.append(eid)
            await self._pause(self.webhook_every)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.stop.wait(), seconds)

    def start(self) -> list[asyncio.Task]:
        tasks = [asyncio.create_task(self.player(m)) for m in self.members[:self.n_players]]
        tasks += [asyncio.create_task(self.dm_sender(m)) for m in self.members[:self.n_dm]]
        tasks += [asyncio.create_task(self.uploader()), asyncio.create_task(self.webhooks())]
        return tasks

    async def drain_webhooks(self, timeout: float = 30) -> None:
        """After the run, deliver every event not acknowledged yet (Stripe keeps retrying)."""
        import httpx

        deadline = time.monotonic() + timeout
        for eid in sorted(self.ledger.webhooks_sent - self.ledger.webhooks_acked):
            while time.monotonic() < deadline:
                body = json.dumps({"id": eid, "object": "event", "type": "drill.ping", "created": int(time.time()),
                                   "data": {"object": {"id": "drill", "object": "drill"}}}).encode()
                with contextlib.suppress(httpx.HTTPError):
                    r = await self.http.post(f"{API}/billing/webhooks/stripe", content=body,
                                             headers={"Stripe-Signature": stripe_signature(body)})
                    if 200 <= r.status_code < 300:
                        self.ledger.webhooks_acked.add(eid)
                        break
                await asyncio.sleep(0.5)


class _Status(Exception):
    def __init__(self, status: int, prefix: str = ""):
        super().__init__(status)
        self.kind = f"{prefix}http {status}"


# ---------------------------------------------------------------- faults

@dataclass
class Window:
    name: str
    start: float          # fault injected
    cleared: float = 0.0  # fault removed (process restarted, Redis back, cluster resumed, store healthy)
    end: float = 0.0      # the next fault (or the end of the run)
    note: str = ""
    job_recovered: float | None = None  # seconds until an interrupted job's effect was there
    watched: bool = False


async def fault_api(topo: Topology, pop: Population, hold: float) -> str:
    """kill -9 an API process with DMs in flight: the burst members write at that moment while
    PostgreSQL is held for 0.6 s, so their requests are inside the API processes (waiting on the
    database) when api0 dies; then the cluster resumes."""
    pids = topo.pg_pids() if pop.n_burst else []
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)
    try:
        burst = await pop.burst() if pop.n_burst else []
        await asyncio.sleep(0.6)
        topo.kill("api0")
    finally:
        for pid in reversed(pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    await asyncio.gather(*burst)
    await asyncio.sleep(2)  # an orchestrator restarts the container
    topo.start_api(0)
    deadline = time.monotonic() + 60
    while not topo.api_up(0) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    return f"kill -9 api0 with {pop.n_burst} DMs in flight, restarted after 2 s"


async def fault_worker(topo: Topology, pop: Population, hold: float) -> str:
    """Upload a longer track and kill -9 the worker whose ffmpeg is encoding it."""
    r = await pop.upload("Drill long track", wav=tone_wav(30.0, freq=330))
    if r.status_code == 202:
        pop.ledger.uploads.append(r.json()["id"])
    victim = None
    deadline = time.monotonic() + 60
    while victim is None and time.monotonic() < deadline:
        for name, p in topo.procs.items():
            if name.startswith("worker") and p.poll() is None and descendants(p.pid):
                victim = name
                break
        else:
            await asyncio.sleep(0.1)
    if victim is None:
        return "no transcode seen running: nothing killed"
    await asyncio.sleep(0.5)
    topo.kill(victim)
    if r.status_code == 202:
        pop.watch = r.json()["id"]
    await asyncio.sleep(2)
    topo.start_worker(int(victim[-1]))
    return f"kill -9 {victim} during ffmpeg, restarted after 2 s"


async def fault_redis(topo: Topology, pop: Population, hold: float) -> str:
    await asyncio.to_thread(topo.stop_redis)
    await asyncio.sleep(min(hold, 3))
    await asyncio.to_thread(topo.start_redis)
    return f"redis shutdown nosave (no persistence: every queued message lost), restarted after {min(hold, 3):.0f} s"


async def fault_postgres(topo: Topology, pop: Population, hold: float) -> str:
    pids = topo.pg_pids()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(hold)
    finally:
        for pid in reversed(pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    return f"SIGSTOP {len(pids)} PostgreSQL processes for {hold:.0f} s, then SIGCONT"


async def fault_s3(topo: Topology, pop: Population, hold: float) -> str:
    topo.s3.fail(True)
    try:
        await asyncio.sleep(hold)
    finally:
        topo.s3.fail(False)
    return f"object store answered 503 for {hold:.0f} s ({topo.s3.refused} requests refused)"


FAULT_FNS = {"api": fault_api, "worker": fault_worker, "redis": fault_redis, "postgres": fault_postgres,
             "s3": fault_s3}
FAULT_NAMES = {"api": "kill -9 an API process", "worker": "kill -9 a worker mid-transcode",
               "redis": "restart Redis", "postgres": "pause PostgreSQL", "s3": "object store errors"}


# ---------------------------------------------------------------- figures

async def _watch(pop: Population, track: str, w: Window, timeout: float) -> None:
    if not await pop.wait_published([track], timeout):
        w.job_recovered = time.monotonic() - w.start


def analyse(w: Window, ops: list[Op], baseline_rate: float, bucket: float = 1.0) -> dict:
    """Errors clients saw in the window, the first success after the fault, and when the
    success rate came back to normal (≥ 70% of the baseline for 3 s in a row, with no error)."""
    mine = [o for o in ops if w.start <= o.t1 < w.end]
    errors = [o for o in mine if not o.ok]
    kinds: dict[str, int] = {}
    for o in errors:
        k = f"{o.actor}: {o.kind}"
        kinds[k] = kinds.get(k, 0) + 1
    first_ok = min((o.t1 for o in mine if o.ok and o.t0 >= w.start), default=None)
    n = int((w.end - w.start) / bucket) + 1
    oks, errs = [0] * n, [0] * n
    for o in mine:
        i = int((o.t1 - w.start) / bucket)
        (oks if o.ok else errs)[i] += 1
    normal = None
    need = 3
    for i in range(n - need + 1):
        if all(oks[j] >= 0.7 * baseline_rate * bucket and not errs[j] for j in range(i, i + need)):
            normal = i * bucket
            break
    last_error = max((o.t1 for o in errors), default=None)
    return {"fault": w.name, "note": w.note, "errors": len(errors), "kinds": kinds,
            "requests": len(mine), "fault_seconds": round(w.cleared - w.start, 1),
            "first_success_s": round(first_ok - w.start, 2) if first_ok else None,
            "last_error_s": round(last_error - w.start, 2) if last_error else None,
            "normal_rate_s": normal,
            "job_recovered_s": round(w.job_recovered, 1) if w.job_recovered is not None else None,
            "job_watched": w.watched,
            "max_latency_s": round(max((o.t1 - o.t0 for o in mine), default=0.0), 2)}


def verify(topo: Topology, pop: Population, pending_uploads: set[str]) -> dict:
    """Nothing lost: uploads, webhooks, DMs, checked in the database."""
    led = pop.ledger
    rows = topo.sql("SELECT body, count(*) FROM fanclub_messages WHERE body LIKE 'drill dm %%' GROUP BY body")
    stored = dict(rows)
    dm_missing = [b for b in led.dms_acked if stored.get(b, 0) == 0]
    dm_dupes = [b for b, n in stored.items() if n > 1]
    dm_unacked_stored = [b for b in led.dms_unacked if stored.get(b, 0)]
    hooks = dict(topo.sql("SELECT event_id, status FROM billing_events WHERE event_id LIKE 'evt_drill_%%'"))
    hook_unprocessed = [e for e in led.webhooks_acked if hooks.get(e) not in ("processed", "ignored")]
    counts = dict(topo.sql("SELECT event_id, count(*) FROM billing_events WHERE event_id LIKE 'evt_drill_%%' "
                           "GROUP BY event_id HAVING count(*) > 1"))
    return {"uploads_accepted": len(led.uploads), "uploads_unpublished": sorted(pending_uploads),
            "dms_acked": len(led.dms_acked), "dms_missing": len(dm_missing), "dms_duplicated": len(dm_dupes),
            "dms_failed": len(led.dms_unacked), "dms_failed_but_stored": len(dm_unacked_stored),
            "webhooks_acked": len(led.webhooks_acked), "webhooks_unprocessed": len(hook_unprocessed),
            "webhooks_stored_twice": len(counts),
            "webhooks_never_acked": len(led.webhooks_sent - led.webhooks_acked)}


async def run(faults: list[str], *, baseline: float = 6, hold: float = 10, observe: float = 20,
              players: int = 3, dm_senders: int = 4, burst: int = 8, publish_timeout: float = 180) -> dict:
    """Start the topology, run the population, inject ``faults`` one after the other (``hold``
    seconds each where that applies, then ``observe`` seconds), and return the figures."""
    async with Topology() as topo:
        pop = Population(topo, players=players, dm_senders=dm_senders, burst=burst)
        try:
            await pop.setup()
            tasks = pop.start()
            t_base = time.monotonic()
            await asyncio.sleep(baseline)
            base_ops = [o for o in pop.ledger.ops if o.t1 >= t_base]
            rate = sum(o.ok for o in base_ops) / max(0.1, time.monotonic() - t_base)
            base_errors = sum(not o.ok for o in base_ops)
            log(f"baseline: {rate:.1f} successful requests/s, {base_errors} errors")
            windows, watchers = [], []
            for f in faults:
                w = Window(FAULT_NAMES[f], time.monotonic())
                log(f"fault: {w.name}")
                pop.watch = None
                w.note = await FAULT_FNS[f](topo, pop, hold)
                w.cleared = time.monotonic()
                log(f"  {w.note}")
                if pop.watch:  # the interrupted transcode: when is its track published (even after the window)?
                    w.watched = True
                    watchers.append(asyncio.create_task(_watch(pop, pop.watch, w, publish_timeout)))
                await asyncio.sleep(observe)
                w.end = time.monotonic()
                windows.append(w)
            pop.stop.set()
            await asyncio.gather(*tasks, *watchers)
            await pop.drain_webhooks()
            pending = await pop.wait_published(pop.ledger.uploads, publish_timeout)
            await asyncio.sleep(2)  # the last acknowledged webhooks' processing jobs
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                result = await asyncio.to_thread(verify, topo, pop, pending)
                if not result["webhooks_unprocessed"]:
                    break
                await asyncio.sleep(1)
            resent = sum(int(line.split("re-sent ", 1)[1].split()[0])
                         for f in topo.logs.glob("worker*.log") for line in f.read_text(errors="replace").splitlines()
                         if "re-sent " in line and " jobs whose broker message was lost" in line)
            result["jobs_resent"] = resent
            return {"baseline_rate": round(rate, 1), "baseline_errors": base_errors,
                    "windows": [analyse(w, pop.ledger.ops, rate) for w in windows], "lost": result,
                    "settings": {**RECOVERY_ENV, "hold_s": hold, "observe_s": observe, "players": players,
                                 "dm_senders": dm_senders}}
        finally:
            await pop.close()


def table(result: dict) -> str:
    rows = ["| fault | client errors (kinds) | slowest request | first success | last error | normal rate after "
            "| interrupted job done |", "|---|---|---|---|---|---|---|"]
    for w in result["windows"]:
        kinds = ", ".join(f"{k} ×{n}" for k, n in sorted(w["kinds"].items())) or "none"
        done = "-" if not w["job_watched"] else "never" if w["job_recovered_s"] is None \
            else f"published {w['job_recovered_s']} s after the kill"
        rows.append(f"| {w['fault']} | {w['errors']} of {w['requests']} ({kinds}) | {w['max_latency_s']} s | "
                    f"{w['first_success_s']} s | {w['last_error_s'] if w['last_error_s'] is not None else '-'} s | "
                    f"{w['normal_rate_s'] if w['normal_rate_s'] is not None else 'not within the window'} s | "
                    f"{done} |")
    lost = result["lost"]
    rows.append("")
    rows.append(f"baseline {result['baseline_rate']} successful requests/s. Nothing lost: "
                f"{lost['uploads_accepted']} uploads accepted, {len(lost['uploads_unpublished'])} unpublished; "
                f"{lost.get('jobs_resent', 0)} jobs re-sent by the workers' sweep; "
                f"{lost['webhooks_acked']} webhooks acknowledged, {lost['webhooks_unprocessed']} unprocessed; "
                f"{lost['dms_acked']} DMs acknowledged, {lost['dms_missing']} missing, {lost['dms_duplicated']} "
                f"stored twice ({lost['dms_failed']} DM posts failed, {lost['dms_failed_but_stored']} of those "
                "stored anyway: the outcome a broken connection leaves unknown).")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faults", default=",".join(FAULTS), help=f"comma-separated, of {', '.join(FAULTS)}")
    ap.add_argument("--short", action="store_true", help="the test suite's form: 4 s faults, 10 s observation")
    ap.add_argument("--hold", type=float, default=10, help="seconds PostgreSQL is paused / S3 fails")
    ap.add_argument("--observe", type=float, default=20, help="seconds watched after each fault")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args(argv)
    faults = [f for f in args.faults.split(",") if f]
    if unknown := set(faults) - set(FAULTS):
        ap.error(f"unknown faults: {', '.join(sorted(unknown))}")
    hold, observe = (4, 10) if args.short else (args.hold, args.observe)
    result = asyncio.run(run(faults, hold=hold, observe=observe))
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    lost = result["lost"]
    bad = lost["uploads_unpublished"] or lost["dms_missing"] or lost["dms_duplicated"] or \
        lost["webhooks_unprocessed"] or lost["webhooks_never_acked"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
