"""MusicConnect load test: a realistic population of visitors, fans, members, buyers and artists.

Run it through ``python bench/load/run.py`` (starts the platform, creates the accounts, ramps the
users up in steps and writes the report). By hand, against a platform that ``setup.py`` filled:

    MC_LOAD_POOL=pool.json locust -f bench/load/locustfile.py --headless -H http://127.0.0.1:8000 \
        Visitor FreeFan Member Buyer Artist          # the mixed population (default: all of them)
    MC_LOAD_POOL=pool.json locust -f bench/load/locustfile.py --headless -H ... Listener   # part 4

The population (weights are the share of simulated users; think times are a person's):

* ``Visitor`` (35): anonymous; browses the artist list, an artist page, its tiers and content, a
  track's details and comments, and sometimes plays a public track (a few segments).
* ``FreeFan`` (30): signed in, follows and has joined three artists for free; reads the fan-club
  feed, comments, reacts, plays public tracks all the way through like a player.
* ``Member`` (25): holds a supporter or superfan comp from three artists; plays gated tracks at
  real-time pace (master.m3u8 → variant index.m3u8 → key → one segment every 6 s, reporting
  the play as the player does), comments, reacts, sends DMs, reads the backstage.
* ``Buyer`` (5): buys a tier through the billing sandbox (checkout → hosted page → pay), looks
  at the subscription, cancels it, later resumes or cancels again.
* ``Artist`` (5): reads the dashboard (``/artists/{id}/metrics``), members, inbox and content
  list; about once in ten minutes uploads a short track (transcoded by the job worker).
* ``Listener`` (only in the listener scenario): one held connection, the master/variant/key of
  each track and one segment every 6 s, track after track; nothing else.

Request names are route templates, so locust's statistics are per route.

A LoadTestShape (``StepShape``) ramps the users in steps read from the environment
(``MC_LOAD_STEPS=100,250,500``, ``MC_LOAD_SPAWN_RATE``, ``MC_LOAD_SETTLE``, ``MC_LOAD_MEASURE``):
for each step it spawns up to the count, lets it settle, resets the statistics, measures, and
appends the step's per-route figures to ``MC_LOAD_STEPS_OUT`` (JSON lines) for the report.
It stops early when a step is far past the targets (``MC_LOAD_STOP_P99_MS``, default 2000 ms, or
more than 5% failures).
"""
from __future__ import annotations

import itertools
import json
import os
import random
import re
import time
import uuid
from pathlib import Path

import gevent
from locust import LoadTestShape, between, events, task
from locust.contrib.fasthttp import FastHttpUser

API = "/api/v1"
SEGMENT_SECONDS = 6.0

_POOL: dict | None = None
# MC_LOAD_CDN=1 models a CDN in front of /media (MC_CDN_BASE_URL): within one locust process a
# signed segment URL goes to the origin once, later fetches of the same URL are edge hits. Signed
# URLs are shared by every listener of a track for half their lifetime (the variant playlist is
# cached and shared), so this is the hit ratio a CDN that may cache them would reach.
CDN: set[str] | None = set() if os.environ.get("MC_LOAD_CDN") else None
CDN_HITS = [0]


def pool() -> dict:
    global _POOL
    if _POOL is None:
        _POOL = json.loads(Path(os.environ["MC_LOAD_POOL"]).read_text())
        _POOL["playable"] = [t for a in _POOL["artists"] for t in a["tracks"]]
        _POOL["public"] = [t for t in _POOL["playable"] if not t["gated"]]
        _POOL["by_artist"] = {a["artist_id"]: a for a in _POOL["artists"]}
    return _POOL


_counters: dict[str, itertools.count] = {}


def account(kind: str, environment) -> dict:
    """The next account of a kind. With several locust processes each takes its own slice
    (worker i of n takes accounts i, i+n, ...), so two simulated buyers never share an account."""
    accounts = pool()[kind]
    runner = environment.runner
    n = int(os.environ.get("MC_LOAD_PROCESSES", "1")) or 1
    i = getattr(runner, "worker_index", 0) or 0
    c = _counters.setdefault(kind, itertools.count())
    k = i + n * next(c)
    return accounts[k % len(accounts)]


def _fail_unless(resp, ok: tuple[int, ...]) -> None:
    if resp.status_code in ok:
        resp.success()
    else:
        err = getattr(resp, "error", None)
        resp.failure(f"{resp.status_code}: {(resp.text or '')[:200]}" if resp.status_code else
                     f"connection error: {type(err).__name__}: {err}")


class Base(FastHttpUser):
    abstract = True
    # the server may close an idle keep-alive connection just as we reuse it; a player retries
    # such a request once, and so do we (geventhttpclient reconnects)
    connection_timeout = 30.0
    network_timeout = 30.0
    insecure = True
    token: str | None = None

    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def get(self, path: str, name: str, ok: tuple[int, ...] = (200,), anon: bool = False, **kw):
        """GET, as this user (``anon``: without our Authorization header, as players and browsers
        fetch playlists, keys, segments and hosted pages)."""
        headers = {**({} if anon else self.auth()), **kw.pop("headers", {})}
        with self.client.get(path, name=name, headers=headers, catch_response=True, **kw) as r:
            _fail_unless(r, ok)
            return r

    def send(self, method: str, path: str, name: str, ok: tuple[int, ...] = (200, 201, 204), anon: bool = False,
             **kw):
        headers = {**({} if anon else self.auth()), **kw.pop("headers", {})}
        with self.client.request(method, path, name=name, headers=headers, catch_response=True, **kw) as r:
            _fail_unless(r, ok)
            return r

    # ------------------------------------------------------------ the player
    def play(self, track: dict, *, segments: int | None = None, report: bool = True,
             rendition: str | None = None) -> None:
        """What an HLS player does: master → variant → key, then one segment every 6 s (the first
        two back to back to fill the buffer), reporting the play (start, progress, complete)."""
        tid = track["id"]
        base = f"{API}/streaming/tracks/{tid}"
        master = self.get(f"{base}/master.m3u8", "/streaming/tracks/{id}/master.m3u8")
        if master.status_code != 200:
            return
        variants = [ln for ln in master.text.splitlines() if ln and not ln.startswith("#")]
        if not variants:
            return
        choice = next((v for v in variants if rendition and v.startswith(rendition + "/")), None) or \
            random.choices(variants, weights=[2, 3, 5][:len(variants)])[0]
        var = self.get(f"{base}/{choice}", "/streaming/tracks/{id}/{rendition}/index.m3u8", anon=True)
        if var.status_code != 200:
            return
        m = re.search(r'#EXT-X-KEY:METHOD=AES-128,URI="\.\./key\?([^"]+)"', var.text)
        if m is None:
            return
        self.get(f"{base}/key?{m.group(1)}", "/streaming/tracks/{id}/key", anon=True)
        segs = [ln for ln in var.text.splitlines() if ln and not ln.startswith("#")]
        if segments is not None:
            segs = segs[:segments]
        session = None
        anon = {} if self.token else {"client_id": self.client_id}  # anonymous players name themselves
        if report:
            r = self.send("POST", f"{API}/streaming/plays", "/streaming/plays",
                          json={"track_id": tid, **anon})
            session = r.json().get("session_id") if r.status_code == 201 else None
        name = "/media/{segment}" if "/media/" in (segs[0] if segs else "") else "(object store) {segment}"
        started = time.monotonic()
        for i, url in enumerate(segs):
            if CDN is None:
                self.get(url, name, anon=True)
            elif url in CDN:  # an edge hit: the origin never sees it
                CDN_HITS[0] += 1
            else:
                if self.get(url, name, anon=True).status_code == 200:
                    CDN.add(url)
            if session and i and i % 5 == 0:
                self.send("POST", f"{API}/streaming/plays/{session}", "/streaming/plays/{id}",
                          json={"event": "progress", "position": time.monotonic() - started, **anon})
            if i >= 1:  # the player keeps about two segments buffered
                gevent.sleep(SEGMENT_SECONDS)
        if session:
            gevent.sleep(1)
            self.send("POST", f"{API}/streaming/plays/{session}", "/streaming/plays/{id}",
                      json={"event": "complete", "position": time.monotonic() - started, **anon})

    @property
    def client_id(self) -> str:
        if not hasattr(self, "_cid"):
            self._cid = uuid.uuid4().hex
        return self._cid


class Visitor(Base):
    """Anonymous: browses artists, tiers, content; sometimes samples a public track."""
    weight = 35
    wait_time = between(3, 12)

    @task(4)
    def artists(self):
        self.get(f"{API}/artists", "/artists")

    @task(6)
    def artist_page(self):
        a = random.choice(pool()["artists"])
        self.get(f"{API}/artists/{a['slug']}", "/artists/{ref}")
        self.get(f"{API}/artists/{a['artist_id']}/tiers", "/artists/{id}/tiers")
        self.get(f"{API}/artists/{a['artist_id']}/content", "/artists/{id}/content")

    @task(3)
    def track_page(self):
        t = random.choice(pool()["public"])
        self.get(f"{API}/content/{t['id']}", "/content/{id}")
        self.get(f"{API}/fanclub/content/{t['id']}/comments", "/fanclub/content/{id}/comments")
        self.get(f"{API}/streaming/tracks/{t['id']}/waveform", "/streaming/tracks/{id}/waveform")

    @task(2)
    def sample(self):
        self.play(random.choice(pool()["public"]), segments=3)


class FreeFan(Base):
    """Signed in, free member of three artists: feed, comments, reactions, public tracks."""
    weight = 30
    wait_time = between(3, 10)

    def on_start(self):
        acc = account("fans", self.environment)
        self.token, self.me, self.mine = acc["token"], acc["id"], acc["artists"]

    @task(6)
    def feed(self):
        self.get(f"{API}/fanclub/feed?limit=20", "/fanclub/feed")

    @task(3)
    def artist(self):
        aid = random.choice(self.mine)
        self.get(f"{API}/artists/{aid}/content", "/artists/{id}/content")
        self.get(f"{API}/fanclub/artists/{aid}/me", "/fanclub/artists/{id}/me")

    @task(3)
    def comments(self):
        mine = [t for a in self.mine for t in pool()["by_artist"][a]["tracks"] if not t["gated"]]
        t = random.choice(mine or pool()["public"])
        self.get(f"{API}/fanclub/content/{t['id']}/comments", "/fanclub/content/{id}/comments")
        if mine and random.random() < 0.3:  # free membership lets them comment on public items
            self.send("POST", f"{API}/fanclub/content/{t['id']}/comments", "/fanclub/content/{id}/comments",
                      json={"body": "Love this one!"}, ok=(201,))

    @task(2)
    def react(self):
        mine = [t for a in self.mine for t in pool()["by_artist"][a]["tracks"] if not t["gated"]]
        if mine:
            t = random.choice(mine)
            kind = random.choice(("heart", "fire", "clap"))
            self.send("PUT", f"{API}/fanclub/content/{t['id']}/reactions/{kind}",
                      "/fanclub/content/{id}/reactions/{kind}", ok=(204,))

    @task(1)
    def me(self):
        self.get(f"{API}/me", "/me")
        self.get(f"{API}/me/entitlements", "/me/entitlements")

    @task(3)
    def listen(self):
        self.play(random.choice(pool()["public"]))


class Member(Base):
    """Holds paid tiers (comps) of three artists: gated tracks at real-time pace, comments,
    reactions, DMs, backstage."""
    weight = 25
    wait_time = between(2, 8)

    def on_start(self):
        acc = account("members", self.environment)
        self.token, self.me, self.mine = acc["token"], acc["id"], acc["artists"]
        self.tracks = [t for a in self.mine for t in pool()["by_artist"][a]["tracks"]]

    @task(6)
    def listen(self):
        self.play(random.choice(self.tracks))

    @task(3)
    def feed(self):
        self.get(f"{API}/fanclub/feed?limit=20", "/fanclub/feed")

    @task(2)
    def comment(self):
        t = random.choice(self.tracks)
        self.get(f"{API}/fanclub/content/{t['id']}/comments", "/fanclub/content/{id}/comments")
        self.send("POST", f"{API}/fanclub/content/{t['id']}/comments", "/fanclub/content/{id}/comments",
                  json={"body": "This is the one."}, ok=(201,))

    @task(2)
    def react(self):
        t = random.choice(self.tracks)
        self.send("PUT", f"{API}/fanclub/content/{t['id']}/reactions/{random.choice(('heart', 'fire', 'wow'))}",
                  "/fanclub/content/{id}/reactions/{kind}", ok=(204,))

    @task(1)
    def dm(self):
        aid = random.choice(self.mine)
        me = self.get(f"{API}/fanclub/artists/{aid}/me", "/fanclub/artists/{id}/me")
        left = ((me.json() or {}).get("direct_messages") or {}).get("remaining", 0) if me.status_code == 200 else 0
        if left:
            self.send("POST", f"{API}/fanclub/artists/{aid}/messages", "/fanclub/artists/{id}/messages",
                      json={"body": "Thank you for the new track!"}, ok=(201,))
        self.get(f"{API}/fanclub/artists/{aid}/messages", "/fanclub/artists/{id}/messages")

    @task(1)
    def backstage(self):
        aid = random.choice(self.mine)
        self.get(f"{API}/fanclub/artists/{aid}/backstage", "/fanclub/artists/{id}/backstage", ok=(200, 403))

    @task(1)
    def account_pages(self):
        self.get(f"{API}/me/entitlements", "/me/entitlements")


class Buyer(Base):
    """Buys a tier in the billing sandbox, later cancels; when every artist is taken, resumes
    and cancels again."""
    weight = 5
    wait_time = between(10, 30)

    def on_start(self):
        acc = account("buyers", self.environment)
        self.token = acc["token"]
        self.todo = [a for a in pool()["artists"]]
        random.shuffle(self.todo)
        self.subs: dict[str, dict] = {}  # artist id -> {"id", "cancelled"}

    @task
    def step(self):
        self.get(f"{API}/billing/subscriptions", "/billing/subscriptions")
        live = [s for s in self.subs.values() if not s["cancelled"]]
        if live and random.random() < 0.6:
            sub = random.choice(live)
            self.send("POST", f"{API}/billing/subscriptions/{sub['id']}/cancel",
                      "/billing/subscriptions/{id}/cancel", ok=(200,))
            sub["cancelled"] = True
            return
        if self.todo:
            a = self.todo.pop()
            tier = random.choice(("supporter", "superfan"))
            self.get(f"{API}/artists/{a['artist_id']}/tiers", "/artists/{id}/tiers")
            r = self.send("POST", f"{API}/billing/checkout", "/billing/checkout",
                          json={"tier_id": a["tiers"][tier]}, ok=(201,))
            if r.status_code != 201:
                return
            url = r.json()["url"]
            self.get(url, "/billing/sandbox/checkout/{id}", anon=True)
            p = self.send("POST", url + "/pay", "/billing/sandbox/checkout/{id}/pay", ok=(200,), anon=True,
                          headers={"Accept": "application/json"})
            if p.status_code == 200:
                sid = p.json()["subscription_id"]
                self.subs[a["artist_id"]] = {"id": sid, "cancelled": False}
                self.get(f"{API}/billing/subscriptions/{sid}", "/billing/subscriptions/{id}")
            return
        cancelled = [s for s in self.subs.values() if s["cancelled"]]
        if cancelled:
            sub = random.choice(cancelled)
            self.send("POST", f"{API}/billing/subscriptions/{sub['id']}/resume",
                      "/billing/subscriptions/{id}/resume", ok=(200,))
            sub["cancelled"] = False


class Artist(Base):
    """Reads the dashboard, the members list, the inbox, the content list; rarely uploads."""
    weight = 5
    wait_time = between(5, 20)
    upload_every = float(os.environ.get("MC_LOAD_UPLOAD_EVERY", "600"))  # seconds, per artist user
    _wav: bytes | None = None

    def on_start(self):
        acc = random.choice(pool()["artists"])
        self.token, self.aid = acc["token"], acc["artist_id"]
        self.next_upload = time.monotonic() + random.uniform(0, self.upload_every)

    @task(5)
    def dashboard(self):
        self.get(f"{API}/artists/{self.aid}/metrics", "/artists/{id}/metrics")

    @task(2)
    def members(self):
        self.get(f"{API}/artists/{self.aid}/entitlements?limit=50", "/artists/{id}/entitlements")

    @task(2)
    def inbox(self):
        self.get(f"{API}/fanclub/artists/{self.aid}/conversations?limit=20", "/fanclub/artists/{id}/conversations")

    @task(2)
    def content(self):
        self.get(f"{API}/artists/{self.aid}/content", "/artists/{id}/content")

    @task(1)
    def upload(self):
        if time.monotonic() < self.next_upload:
            return
        self.next_upload = time.monotonic() + self.upload_every
        if Artist._wav is None:
            from populate import tone_wav  # bench/load/populate.py: the same generated audio

            Artist._wav = tone_wav(8, seed=99)
        self.send("POST", f"{API}/streaming/artists/{self.aid}/tracks", "/streaming/artists/{id}/tracks",
                  ok=(202,), headers={"Content-Type": _MULTIPART_CT}, data=_multipart(Artist._wav))


_BOUNDARY = "mcloadboundary7f3a"
_MULTIPART_CT = f"multipart/form-data; boundary={_BOUNDARY}"


def _multipart(wav: bytes) -> bytes:
    parts = [f"--{_BOUNDARY}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nLoad upload\r\n".encode(),
             f"--{_BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"up.wav\"\r\n"
             f"Content-Type: audio/wav\r\n\r\n".encode(), wav, f"\r\n--{_BOUNDARY}--\r\n".encode()]
    return b"".join(parts)


class Listener(Base):
    """Listener scale (part 4): one connection held per listener; track after track, the master,
    variant and key of each, then one segment every 6 s. Members (gated and public tracks) and
    anonymous listeners (public tracks), half and half."""
    weight = 1
    wait_time = between(0.5, 2)
    rendition = os.environ.get("MC_LOAD_RENDITION") or None

    def on_start(self):
        if random.random() < 0.5:
            acc = account("members", self.environment)
            self.token = acc["token"]
            self.tracks = [t for a in acc["artists"] for t in pool()["by_artist"][a]["tracks"]]
        else:
            self.tracks = pool()["public"]
        gevent.sleep(random.uniform(0, SEGMENT_SECONDS))  # players do not start in lockstep

    @task
    def listen(self):
        self.play(random.choice(self.tracks), report=False, rendition=self.rendition)


# ---------------------------------------------------------------- the ramp and the per-step figures

def _env_steps() -> list[int]:
    return [int(x) for x in os.environ.get("MC_LOAD_STEPS", "50,100").split(",") if x.strip()]


class StepShape(LoadTestShape):
    """Spawn up to each step's user count, settle, reset the statistics, measure, record."""

    def __init__(self):
        super().__init__()
        self.steps = _env_steps()
        self.rate = float(os.environ.get("MC_LOAD_SPAWN_RATE", "20"))
        self.settle = float(os.environ.get("MC_LOAD_SETTLE", "20"))
        self.measure = float(os.environ.get("MC_LOAD_MEASURE", "60"))
        self.stop_p99 = float(os.environ.get("MC_LOAD_STOP_P99_MS", "2000"))
        self.out = Path(os.environ.get("MC_LOAD_STEPS_OUT", "steps.jsonl"))
        self.i = 0
        self.phase = "ramp"
        self.since = None
        self.cpu: list[float] = []

    def _cpu(self) -> float:
        r = self.runner
        if hasattr(r, "clients"):  # master: the busiest worker process
            return max((w.cpu_usage for w in r.clients.values()), default=0.0)
        return getattr(r, "current_cpu_usage", 0.0)

    def tick(self):
        if self.i >= len(self.steps):
            return None
        target = self.steps[self.i]
        now = time.monotonic()
        if self.phase == "ramp":
            if self.runner.user_count >= target:
                self.phase, self.since = "settle", now
        elif self.phase == "settle" and now - self.since >= self.settle:
            self.runner.stats.reset_all()
            self.phase, self.since, self.cpu = "measure", now, []
            self.t0 = time.time()
        elif self.phase == "measure":
            self.cpu.append(self._cpu())
            if now - self.since >= self.measure:
                rec = snapshot(self.runner.stats, target, now - self.since, self.t0, time.time(), self.cpu)
                with self.out.open("a") as fh:
                    fh.write(json.dumps(rec) + "\n")
                self.i += 1
                self.phase = "ramp"
                total = rec["total"]
                failed = total["failures"] / max(1, total["requests"])
                if total["p99"] > self.stop_p99 or failed > 0.05:
                    return None
                if self.i >= len(self.steps):
                    return None
                target = self.steps[self.i]
        return target, self.rate


def snapshot(stats, users: int, seconds: float, t0: float, t1: float, cpu: list[float]) -> dict:
    def entry(e) -> dict:
        return {"requests": e.num_requests, "failures": e.num_failures, "rps": e.num_requests / seconds,
                "p50": e.get_response_time_percentile(0.5) or 0, "p95": e.get_response_time_percentile(0.95) or 0,
                "p99": e.get_response_time_percentile(0.99) or 0, "max": e.max_response_time or 0,
                "avg": e.avg_response_time or 0, "hist": {str(k): v for k, v in e.response_times.items()}}

    routes = {f"{e.method} {e.name}": entry(e) for e in stats.entries.values()}
    errors = [{"route": f"{e.method} {e.name}", "error": str(e.error)[:300], "count": e.occurrences}
              for e in stats.errors.values()]
    return {"users": users, "seconds": seconds, "t0": t0, "t1": t1, "total": entry(stats.total), "routes": routes,
            "cdn": CDN is not None,
            "errors": errors, "locust_cpu_max": max(cpu, default=0.0),
            "locust_cpu_avg": sum(cpu) / len(cpu) if cpu else 0.0}


@events.init.add_listener
def _on_init(environment, **_):
    pool()  # fail fast on a missing pool
