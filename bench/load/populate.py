"""Create the accounts and the catalogue a load run needs, through the HTTP API, and write them to
a pool file (JSON) that the locustfile reads.

    python bench/load/populate.py --base http://127.0.0.1:8000 --out pool.json \
        [--artists 8 --fans 1200 --members 800 --buyers 200 --tracks-per-artist 2 --track-seconds 60]

What it makes (everything as a real client would, over HTTP):
* artists: the demo artist (``artist@demo.com``, from ``serve --demo`` / ``demo seed``) plus
  ``--artists - 1`` new ones (``POST /auth/register`` role artist). Each uploads
  ``--tracks-per-artist`` tracks (a public one, then supporter-gated ones; generated audio of
  ``--track-seconds``), writes two text posts (one public, one for supporters), and raises its
  superfan tier's monthly DM allowance (perk ``direct_messages``) so members keep writing during a
  long run. Waits until every track is transcoded.
* fans (free): register, follow and join (free membership) three artists.
* members: register, follow and join three artists, and get a comp for each of them
  (``POST /artists/{id}/comps`` by that artist: supporter or superfan).
* buyers: register and follow two artists; they buy and cancel tiers through the billing
  sandbox during the run.

Every account gets an access token from sign-up; the run sets ``MC_ACCESS_TOKEN_TTL`` so it
outlives the run. The server must allow many sign-ups from one address
(``MC_REGISTER_IP_LIMIT``, see run.py).
"""
from __future__ import annotations

import argparse
import io
import json
import random
import sys
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

API = "/api/v1"
PASSWORD = "load-test-password-7"  # policy: long enough, not a common one
DEMO_ARTIST = ("artist@demo.com", "password123")


def tone_wav(seconds: float, seed: int, rate: int = 44100) -> bytes:
    """A stereo 16-bit WAV: a few detuned partials, a slow tremolo and some noise, so the encoder
    has real work (pure silence or a pure sine compress to nothing)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    base = 110 * 2 ** (rng.integers(0, 24) / 12)
    sig = sum(np.sin(2 * np.pi * base * k * (1 + rng.normal(0, 0.002)) * t) / k for k in range(1, 6))
    sig *= 0.5 + 0.5 * np.sin(2 * np.pi * 0.25 * t) ** 2
    left = sig + rng.normal(0, 0.05, t.size)
    right = np.roll(sig, 200) + rng.normal(0, 0.05, t.size)
    pcm = (np.stack([left, right], axis=1) / 4 * 32767).clip(-32768, 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


class Api:
    def __init__(self, base: str):
        self.base = base.rstrip("/")
        self.http = httpx.Client(base_url=self.base, timeout=120, limits=httpx.Limits(max_connections=32))

    def call(self, method: str, path: str, token: str | None = None, expect: tuple[int, ...] = (200, 201, 202, 204),
             **kw) -> httpx.Response:
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        for attempt in range(5):
            r = self.http.request(method, API + path if path.startswith("/") else path, headers=headers, **kw)
            if r.status_code == 429 and float(r.headers.get("retry-after", "1")) > 30:
                raise SystemExit(f"setup: {method} {path} is rate-limited for {r.headers['retry-after']}s: "
                                 f"{r.text[:200]} (raise the limit for the load run)")
            if r.status_code == 429 or r.status_code >= 500:
                time.sleep(float(r.headers.get("retry-after", "1")) if r.status_code == 429 else 0.5 * (attempt + 1))
                continue
            break
        if r.status_code not in expect:
            raise SystemExit(f"setup: {method} {path} -> {r.status_code} {r.text[:300]}")
        return r

    def register(self, email: str, role: str = "fan", name: str | None = None) -> dict:
        body = {"email": email, "password": PASSWORD, "role": role, "display_name": name or email.split("@")[0]}
        if role == "artist":
            body["artist_name"] = name
        r = self.call("POST", "/auth/register", json=body, expect=(201, 409))
        if r.status_code == 409:  # already there (a re-run on the same data): sign in instead
            tok = self.call("POST", "/auth/login", json={"email": email, "password": PASSWORD}).json()["access_token"]
            me = self.call("GET", "/me", tok).json()
            return {"id": me["id"], "email": email, "token": tok, "artist_id": (me.get("artist") or {}).get("id")}
        doc = r.json()
        return {"id": doc["user"]["id"], "email": email, "token": doc["tokens"]["access_token"],
                "artist_id": (doc["user"].get("artist") or {}).get("id")}


def make_artist(api: Api, i: int, tracks: int, seconds: float) -> dict:
    if i == 0:
        tok = api.call("POST", "/auth/login", json={"email": DEMO_ARTIST[0], "password": DEMO_ARTIST[1]}).json()[
            "access_token"]
        me = api.call("GET", "/me", tok).json()
        acc = {"id": me["id"], "email": DEMO_ARTIST[0], "token": tok, "artist_id": me["artist"]["id"]}
    else:
        acc = api.register(f"load-artist-{i}@example.com", "artist", f"Load Artist {i}")
    aid = acc["artist_id"]
    tiers = {t["key"]: t for t in api.call("GET", f"/artists/{aid}/tiers").json()}
    superfan = tiers.get("superfan")
    if superfan is not None:
        # new artists' tiers are bare (the fan club declares its perks): DMs and the backstage here
        perks = {**superfan["perks"], "direct_messages": 100000, "virtual_backstage": True}
        api.call("PATCH", f"/artists/{aid}/tiers/{superfan['id']}", acc["token"], json={"perks": perks})
    track_ids = []
    for k in range(tracks):
        gated = k % 2 == 1
        data = {"title": f"Load track {i}.{k}", "visibility": "tier" if gated else "public"}
        if gated:
            data["required_tier_id"] = tiers["supporter"]["id"]
        r = api.call("POST", f"/streaming/artists/{aid}/tracks", acc["token"], data=data,
                     files={"file": (f"load-{i}-{k}.wav", tone_wav(seconds, seed=i * 100 + k), "audio/wav")})
        track_ids.append(r.json()["id"])
    for vis, title in (("public", "Tour dates"), ("tier", "Studio notes")):
        body = {"kind": "post", "title": f"{title} ({i})", "visibility": vis, "data": {"body": "Load-test post. " * 20}}
        if vis == "tier":
            body["required_tier_id"] = tiers["supporter"]["id"]
        api.call("POST", f"/artists/{aid}/content", acc["token"], json=body)
    return {**acc, "tiers": {k: t["id"] for k, t in tiers.items()}, "uploaded": track_ids}


def wait_ready(api: Api, artists: list[dict], timeout: float = 1800) -> None:
    pending = {(a["token"], t) for a in artists for t in a["uploaded"]}
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for tok, tid in sorted(pending):
            doc = api.call("GET", f"/streaming/tracks/{tid}", tok).json()
            if doc.get("status") == "ready":
                pending.discard((tok, tid))
            elif doc.get("status") == "failed":
                raise SystemExit(f"setup: track {tid} failed to transcode: {doc}")
        if pending:
            print(f"  waiting for {len(pending)} transcodes", file=sys.stderr)
            time.sleep(3)
    if pending:
        raise SystemExit(f"setup: {len(pending)} tracks still not ready after {timeout}s")


def catalogue(api: Api, artists: list[dict]) -> None:
    """What each artist offers, as the public sees it (content list with a member's eyes)."""
    for a in artists:
        items = api.call("GET", f"/artists/{a['artist_id']}/content?limit=200", a["token"]).json()
        a["tracks"] = [{"id": it["id"], "gated": it["visibility"] == "tier",
                        "tier": it.get("required_tier_id"), "duration": (it.get("data") or {}).get("duration", 0)}
                       for it in items if it["kind"] == "track" and it.get("status") == "ready"
                       and it["publish_at"] <= time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())]
        a["posts"] = [it["id"] for it in items if it["kind"] == "post"]
        a["slug"] = api.call("GET", f"/artists/{a['artist_id']}").json()["slug"]


def make_fan(api: Api, kind: str, i: int, artists: list[dict], rng: random.Random) -> dict:
    acc = api.register(f"load-{kind}-{i}@example.com", "fan")
    picks = rng.sample(artists, k=min(2 if kind == "buyer" else 3, len(artists)))
    for a in picks:
        api.call("POST", f"/fanclub/artists/{a['artist_id']}/follow", acc["token"])
        if kind != "buyer":
            api.call("POST", f"/fanclub/artists/{a['artist_id']}/join", acc["token"], expect=(200, 201, 204, 409))
    if kind == "member":
        for a in picks:
            tier = rng.choice(("supporter", "superfan"))
            api.call("POST", f"/artists/{a['artist_id']}/comps", a["token"],
                     json={"email": acc["email"], "tier_id": a["tiers"][tier]})
    return {"id": acc["id"], "token": acc["token"], "artists": [a["artist_id"] for a in picks]}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--artists", type=int, default=8)
    ap.add_argument("--fans", type=int, default=1200)
    ap.add_argument("--members", type=int, default=800)
    ap.add_argument("--buyers", type=int, default=200)
    ap.add_argument("--tracks-per-artist", type=int, default=2)
    ap.add_argument("--track-seconds", type=float, default=60)
    ap.add_argument("--threads", type=int, default=6)
    args = ap.parse_args(argv)
    api = Api(args.base)
    t0 = time.monotonic()
    with ThreadPoolExecutor(args.threads) as pool:
        artists = list(pool.map(lambda i: make_artist(api, i, args.tracks_per_artist, args.track_seconds),
                                range(args.artists)))
        print(f"setup: {len(artists)} artists, {sum(len(a['uploaded']) for a in artists)} uploads "
              f"({time.monotonic() - t0:.0f}s)", file=sys.stderr)
        jobs = [("fan", i) for i in range(args.fans)] + [("member", i) for i in range(args.members)] + \
               [("buyer", i) for i in range(args.buyers)]
        kinds = {"fan": 0, "member": 1, "buyer": 2}
        seeds = {job: random.Random(job[1] * 3 + kinds[job[0]]) for job in jobs}
        made = list(pool.map(lambda job: (job[0], make_fan(api, job[0], job[1], artists, seeds[job])), jobs))
        print(f"setup: {len(made)} fan accounts ({time.monotonic() - t0:.0f}s)", file=sys.stderr)
    wait_ready(api, artists)
    catalogue(api, artists)
    doc = {"base": api.base, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "artists": [{k: a[k] for k in ("id", "email", "token", "artist_id", "slug", "tiers", "tracks", "posts")}
                       for a in artists],
           "fans": [f for kind, f in made if kind == "fan"],
           "members": [f for kind, f in made if kind == "member"],
           "buyers": [f for kind, f in made if kind == "buyer"]}
    args.out.write_text(json.dumps(doc))
    print(f"setup: pool written to {args.out} in {time.monotonic() - t0:.0f}s "
          f"({len(doc['fans'])} fans, {len(doc['members'])} members, {len(doc['buyers'])} buyers, "
          f"{sum(len(a['tracks']) for a in artists)} playable tracks)", file=sys.stderr)
    return doc


if __name__ == "__main__":
    main()
