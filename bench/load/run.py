#!/usr/bin/env python3
"""One command: start MusicConnect, fill it with accounts and music, ramp a locust population up
in steps, and write a report (per-route p50/p95/p99, errors, throughput, the largest user count
that meets the targets) with a chart of latency and throughput against users.

    python bench/load/run.py                         # mixed population, embedded (one process, SQLite)
    python bench/load/run.py --distributed           # PostgreSQL, Redis, S3 (moto), 2 API processes, 1 worker
    python bench/load/run.py --scenario listeners    # listener scale: 2 API processes (PostgreSQL, Redis)

Options set the steps (``--steps 100,500,1000``), how long each is measured, the number of API
and worker processes, locust processes, and the uvicorn flags under test (keep-alive,
``--limit-concurrency``, backlog). Results go to ``bench/load/results/<name>/`` (locust's CSV
files with ``--csv-full-history``, ``steps.jsonl``, ``samples.jsonl``, the server logs,
``report.md``, ``chart.png``).

The run is bounded: each step lasts ramp + settle + measure, and the run stops early once a step
is far past the targets (p99 over ``--stop-p99`` ms, or more than 5% failures). It sends traffic
to 127.0.0.1 only.

**Limits raised for the run** (every simulated user comes from 127.0.0.1, so per-address limits
would throttle the whole population as one client): ``MC_REGISTER_IP_LIMIT`` (sign-ups),
``MC_RATE_LIMIT_ANONYMOUS`` (anonymous calls, per address), ``MC_LOGIN_IP_FAILURES_LIMIT`` and
``MC_REFRESH_IP_LIMIT``; and ``MC_COMP_LIMIT`` (comps per artist), since setup comps hundreds of
members per artist at once. Per-user policies (fan, member, artist) stay at their defaults. Also:
``MC_ACCESS_TOKEN_TTL`` covers the whole run (the pool's tokens are issued before the ramp),
and argon2 is made cheap (``MC_ARGON2_TIME_COST=1``, ``MC_ARGON2_MEMORY_COST=8192``) so that
creating a few thousand accounts takes a minute instead of ten; the simulated users sign in
once at setup, never during the measurement, so this does not flatter the figures.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform as pyplatform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
VENV_PY = ROOT / ".venv" / "bin" / "python"
BIN = ROOT / ".venv" / "bin"



def log(msg: str) -> None:
    print(f"[load] {time.strftime('%H:%M:%S')} {msg}", flush=True)


def ensure_venv() -> None:
    """Re-run under the workspace venv, installing the optional extra ``load`` when missing."""
    if Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        if not VENV_PY.exists():
            raise SystemExit("no .venv: run `python3 scripts/test.py` or `python3 scripts/demo.py` once first")
        os.execv(str(VENV_PY), [str(VENV_PY), __file__, *sys.argv[1:]])
    import importlib.util

    # find, do not import: importing locust monkey-patches this process with gevent
    if not all(importlib.util.find_spec(m) for m in ("locust", "matplotlib", "psutil")):
        import tomllib

        extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["load"]
        log(f"installing {', '.join(extra)}")
        subprocess.run([str(VENV_PY), "-m", "pip", "install", "-q", *extra], check=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 120, proc: subprocess.Popen | None = None) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the server exited ({proc.returncode}) before answering {url}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.3)
    raise SystemExit(f"{url} did not answer within {timeout}s")


NICE = 0  # --nice: scheduling priority of every process the run starts (a shared machine)


def prepare_child() -> None:
    raise_nofile()
    if NICE:
        os.setpriority(os.PRIO_PROCESS, 0, NICE)


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


class Procs:
    """Processes this run started (each in its own session), stopped in reverse order."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.items: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.Popen:
        fh = (self.logs / f"{name}.log").open("ab")
        p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
                             preexec_fn=prepare_child)
        self.items.append((name, p))
        return p

    def stop_all(self) -> None:
        for name, p in reversed(self.items):
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
        for name, p in reversed(self.items):
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)


class Sampler(threading.Thread):
    """Every 2 s: RSS and CPU of each server process (API processes, workers, databases) and of
    locust, to samples.jsonl."""

    def __init__(self, procs: Procs, out: Path, extra: dict[str, int] | None = None, api_processes: int = 1):
        super().__init__(daemon=True)
        self.api_processes = api_processes
        self.procs, self.out, self.extra = procs, out, extra or {}
        self.stop = threading.Event()

    def tracked(self):
        import psutil

        found = []
        for name, p in self.procs.items:
            with contextlib.suppress(psutil.Error):
                top = psutil.Process(p.pid)
                kids = top.children(recursive=True)
                # uvicorn --workers spawns its serving processes (not the resource tracker, not ffmpeg)
                serving = [k for k in top.children() if "spawn_main" in " ".join(k.cmdline())]
                if name.startswith("api") and self.api_processes > 1 and serving:
                    found += [(f"{name}:{k.pid}", k) for k in serving]  # uvicorn --workers: its children serve
                elif name.startswith("locust") and kids:
                    found += [(f"{name}:{top.pid}", top)] + [(f"{name}:{k.pid}", k) for k in kids]
                else:
                    found.append((name, top))
        for name, pid in self.extra.items():
            with contextlib.suppress(psutil.Error):
                found.append((name, psutil.Process(pid)))
        return found

    def run(self) -> None:
        import psutil

        seen: dict[int, psutil.Process] = {}
        with self.out.open("a") as fh:
            while not self.stop.wait(2.0):
                row = {"t": time.time(), "procs": {}, "machine_cpu": psutil.cpu_percent(None) * (os.cpu_count() or 1)}
                for name, proc in self.tracked():
                    proc = seen.setdefault(proc.pid, proc)  # cpu_percent needs the same object between calls
                    with contextlib.suppress(psutil.Error):
                        row["procs"][name] = {"rss_mb": proc.memory_info().rss / 2**20,
                                              "cpu": proc.cpu_percent(None),
                                              "fds": proc.num_fds()}
                fh.write(json.dumps(row) + "\n")
                fh.flush()


def services_ctx(with_s3: bool):
    sys.path.insert(0, str(ROOT / "scripts"))
    import test as testcmd  # scripts/test.py: PostgreSQL, Redis and moto on loopback, torn down at exit

    return testcmd.services()


def base_env(data_dir: Path, args, services: dict | None, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MC_")}
    env.update({
        "MC_DATA_DIR": str(data_dir), "MC_BASE_URL": f"http://127.0.0.1:{port}", "MC_ENV": "development",
        "MC_BILLING_SANDBOX": "true", "MC_LOG_LEVEL": "WARNING",
        # every simulated user comes from 127.0.0.1: per-address limits are raised (see the module doc)
        "MC_REGISTER_IP_LIMIT": "1000000/hour", "MC_RATE_LIMIT_ANONYMOUS": "10000000/minute",
        "MC_LOGIN_IP_FAILURES_LIMIT": "100000/minute", "MC_REFRESH_IP_LIMIT": "100000/minute",
        "MC_COMP_LIMIT": "100000/hour",  # setup comps a few hundred members per artist
        "MC_ACCESS_TOKEN_TTL": str(24 * 3600),
        "MC_ARGON2_TIME_COST": "1", "MC_ARGON2_MEMORY_COST": "8192",
    })
    if services:
        env.update({"MC_DATABASE_URL": services["MC_TEST_DATABASE_URL"], "MC_REDIS_URL": services["MC_TEST_REDIS_URL"],
                    "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"})
        if args.storage == "s3":
            env.update({"MC_S3_BUCKET": "musicconnect-load", "MC_S3_ENDPOINT_URL": services["MC_TEST_S3_ENDPOINT"],
                        "MC_S3_ACCESS_KEY_ID": "test", "MC_S3_SECRET_ACCESS_KEY": "test"})
    for item in args.env or []:
        k, _, v = item.partition("=")
        env[k] = v
    return env


def api_command(args, port: int) -> list[str]:
    if args.server == "serve":  # the operator's command as it is (uvicorn defaults: keep-alive 5 s)
        return [str(BIN / "musicconnect"), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers",
                str(args.api_processes), "--no-migrate"]
    # serve's own uvicorn options (bounded httptools protocol) plus the knobs under test
    cmd = [str(VENV_PY), str(HERE / "serve.py"), "--port", str(port), "--workers", str(args.api_processes),
           "--keep-alive", str(args.keep_alive), "--backlog", str(args.backlog)]
    if args.limit_concurrency:
        cmd += ["--limit-concurrency", str(args.limit_concurrency)]
    return cmd


DEFAULT_STEPS = {
    ("mixed", False): "100,250,500,750,1000,1250,1500,2000",
    ("mixed", True): "250,500,1000,1500,2000,2500,3000",
    ("listeners", False): "1000,2500,5000,7500,10000",
    ("listeners", True): "1000,2500,5000,7500,10000",
}


def main() -> int:
    ensure_venv()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", choices=("mixed", "listeners"), default="mixed")
    ap.add_argument("--distributed", action="store_true",
                    help="PostgreSQL + Redis + S3 (moto), several API processes, separate job workers")
    ap.add_argument("--steps", help="user counts, comma-separated (default depends on the scenario)")
    ap.add_argument("--spawn-rate", type=float, default=None, help="users started per second (default 25; 100 for listeners)")
    ap.add_argument("--settle", type=float, default=20, help="seconds after each ramp before measuring")
    ap.add_argument("--measure", type=float, default=60, help="seconds measured per step")
    ap.add_argument("--stop-p99", type=float, default=2000, help="stop after a step whose p99 (ms) exceeds this")
    ap.add_argument("--api-processes", type=int, default=None,
                    help="API processes (default: 1 embedded, 2 distributed and listeners)")
    ap.add_argument("--workers", type=int, default=1, help="`musicconnect worker` processes (distributed)")
    ap.add_argument("--locust-processes", type=int, default=1, help="locust worker processes (--processes)")
    ap.add_argument("--server", choices=("uvicorn", "serve"), default="uvicorn",
                    help="uvicorn with the flags below (default), or `musicconnect serve` as it is")
    ap.add_argument("--keep-alive", type=int, default=75,
                    help="seconds an idle connection stays open (uvicorn default 5; players come back every 6 s, "
                         "browsers after a think time of up to 30 s)")
    ap.add_argument("--backlog", type=int, default=4096)
    ap.add_argument("--limit-concurrency", type=int, default=0, help="uvicorn --limit-concurrency (0: none)")
    ap.add_argument("--storage", choices=("local", "s3"), default=None,
                    help="media storage (default: s3 for --distributed mixed, local otherwise)")
    ap.add_argument("--cdn", action="store_true",
                    help="listeners: model a CDN in front of /media (each signed segment URL reaches the API once "
                         "per locust process; later fetches are edge hits)")
    ap.add_argument("--rendition", default=None, help="listeners: play this rendition (128k/256k/320k; default mixed)")
    ap.add_argument("--upload-every", type=float, default=600,
                    help="seconds between two uploads of one simulated artist (0: artists never upload)")
    ap.add_argument("--artists", type=int, default=8)
    ap.add_argument("--fans", type=int, default=None)
    ap.add_argument("--members", type=int, default=None)
    ap.add_argument("--buyers", type=int, default=None)
    ap.add_argument("--track-seconds", type=float, default=60)
    ap.add_argument("--env", action="append", help="extra KEY=VALUE for the platform (e.g. MC_CACHE_TTL=60)")
    ap.add_argument("--name", help="results folder name (default: <scenario>-<embedded|distributed>)")
    ap.add_argument("--nice", type=int, default=0,
                    help="priority of the processes the run starts (e.g. -10 as root: measure on a machine "
                         "that other work shares; the report shows the CPU the rest of the machine used)")
    ap.add_argument("--profile", type=float, default=0,
                    help="py-spy: record the API processes for this many seconds during the last step")
    args = ap.parse_args()

    global NICE
    NICE = args.nice
    listeners = args.scenario == "listeners"
    use_services = args.distributed or listeners
    args.api_processes = args.api_processes or (2 if use_services else 1)
    args.storage = args.storage or ("s3" if args.distributed and not listeners else "local")
    if args.api_processes > 1 and not use_services:
        raise SystemExit("several API processes share state through Redis: add --distributed")
    steps = args.steps or DEFAULT_STEPS[(args.scenario, args.distributed)]
    spawn = args.spawn_rate or (100 if listeners else 25)
    mode = "distributed" if args.distributed else ("2 processes" if listeners else "embedded")
    name = args.name or (("listeners-cdn" if args.cdn else "listeners") if listeners else f"mixed-{'distributed' if args.distributed else 'embedded'}")
    out = HERE / "results" / name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    raise_nofile()
    peak = max(int(x) for x in steps.split(","))
    if listeners:
        sizes = {"fans": args.fans or 0, "members": args.members or 1000, "buyers": args.buyers or 0}
    else:
        sizes = {"fans": args.fans or min(max(300, peak * 3 // 10), 1500),
                 "members": args.members or min(max(250, peak // 4), 1200),
                 "buyers": args.buyers or min(max(50, peak // 20), 300)}

    meta = {"scenario": args.scenario, "mode": mode, "steps": steps, "spawn_rate": spawn, "settle": args.settle,
            "measure": args.measure, "api_processes": args.api_processes,
            "workers": args.workers if use_services else 0, "locust_processes": args.locust_processes,
            "server": args.server, "keep_alive": args.keep_alive, "limit_concurrency": args.limit_concurrency,
            "storage": args.storage, "cdn": args.cdn, "nice": args.nice, "upload_every": args.upload_every, "rendition": args.rendition, "database": "postgresql" if use_services else "sqlite",
            "redis": use_services, "pool": sizes, "artists": args.artists, "track_seconds": args.track_seconds,
            "date": dt.date.today().isoformat(), "cpus": os.cpu_count(),
            "machine": f"{pyplatform.machine()}, {os.cpu_count()} cores, "
                       f"{round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB",
            "python": pyplatform.python_version(), "commit": _git("rev-parse", "--short", "HEAD")}
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
    log(f"{args.scenario} / {mode}: steps {steps}, results in {out.relative_to(ROOT)}")

    with contextlib.ExitStack() as stack:
        svc = stack.enter_context(services_ctx(args.storage == "s3")) if use_services else None
        if svc and NICE:  # PostgreSQL's backends inherit the postmaster's priority
            for pid in _db_pids(svc).values():
                with contextlib.suppress(OSError):
                    os.setpriority(os.PRIO_PROCESS, pid, NICE)
        data_dir = Path(tempfile.mkdtemp(prefix="mc-load-"))
        stack.callback(shutil.rmtree, data_dir, True)
        port = free_port()
        env = base_env(data_dir, args, svc, port)
        procs = Procs(out)
        stack.callback(procs.stop_all)
        cli = str(BIN / "musicconnect")
        subprocess.run([cli, "db", "upgrade"], env=env, check=True, stdout=subprocess.DEVNULL)
        if use_services and args.workers and not listeners:
            for i in range(args.workers):
                procs.start(f"worker{i}", [cli, "worker"], env)
        log("seeding the demo data")
        subprocess.run([cli, "demo", "seed"], env=env, check=True, stdout=subprocess.DEVNULL)
        if listeners and use_services:  # the demo's transcodes need a worker; the run itself does not
            procs.start("worker0", [cli, "worker"], env)
        api = procs.start("api", api_command(args, port), env)
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/healthz", proc=api)
        log(f"platform up at {base} ({args.api_processes} API process(es), {meta['database']}, storage "
            f"{args.storage}); creating the accounts")
        sys.path.insert(0, str(HERE))
        import populate

        t0 = time.monotonic()
        populate.main(["--base", base, "--out", str(out / "pool.json"), "--artists", str(args.artists),
                       "--fans", str(sizes["fans"]), "--members", str(sizes["members"]),
                       "--buyers", str(sizes["buyers"]), "--track-seconds", str(args.track_seconds)])
        meta["setup_seconds"] = round(time.monotonic() - t0)
        sampler = Sampler(procs, out / "samples.jsonl", _db_pids(svc), args.api_processes)
        sampler.start()
        classes = ["Listener"] if listeners else ["Visitor", "FreeFan", "Member", "Buyer", "Artist"]
        lenv = {**{k: v for k, v in os.environ.items() if not k.startswith("MC_")},
                "MC_LOAD_POOL": str(out / "pool.json"), "MC_LOAD_STEPS": steps, "MC_LOAD_SPAWN_RATE": str(spawn),
                "MC_LOAD_SETTLE": str(args.settle), "MC_LOAD_MEASURE": str(args.measure),
                "MC_LOAD_STOP_P99_MS": str(args.stop_p99), "MC_LOAD_STEPS_OUT": str(out / "steps.jsonl"),
                "MC_LOAD_PROCESSES": str(args.locust_processes), "MC_LOAD_RENDITION": args.rendition or "",
                "MC_LOAD_UPLOAD_EVERY": str(args.upload_every or 10**9)}
        if args.cdn:
            lenv["MC_LOAD_CDN"] = "1"
        cmd = [str(BIN / "locust"), "-f", str(HERE / "locustfile.py"), "--headless", "-H", base,
               "--csv", str(out / "locust"), "--csv-full-history", "--loglevel", "WARNING",
               "--exit-code-on-error", "0", *classes]
        if args.locust_processes > 1:
            cmd[1:1] = ["--processes", str(args.locust_processes)]
        log(f"locust: {' '.join(classes)}; ramp {steps} at {spawn}/s, settle {args.settle:.0f}s, "
            f"measure {args.measure:.0f}s per step")
        loc = procs.start("locust", cmd, lenv, cwd=HERE)
        prof = None
        while loc.poll() is None:
            time.sleep(2)
            if args.profile and prof is None and _last_step_started(out / "steps.jsonl", steps):
                prof = _py_spy(procs, out, args.profile)
        sampler.stop.set()
        sampler.join(5)
        meta["server_log"] = _log_findings(out)
        (out / "meta.json").write_text(json.dumps(meta, indent=1))
    import report

    text = report.write(out)
    print(text)
    return 0


def _git(*a: str) -> str:
    with contextlib.suppress(Exception):
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return ""


def _db_pids(svc: dict | None) -> dict[str, int]:
    """PostgreSQL's and Redis's processes, by port, for the memory/CPU samples."""
    if not svc:
        return {}
    import psutil

    ports = {int(svc["MC_TEST_DATABASE_URL"].rsplit(":", 1)[1].split("/")[0]): "postgresql",
             int(svc["MC_TEST_REDIS_URL"].rsplit(":", 1)[1].split("/")[0]): "redis"}
    found = {}
    with contextlib.suppress(psutil.Error):
        for c in psutil.net_connections("tcp"):
            if c.status == psutil.CONN_LISTEN and c.laddr.port in ports and c.pid:
                found[ports[c.laddr.port]] = c.pid
    return found


def _last_step_started(path: Path, steps: str) -> bool:
    done = len(path.read_text().splitlines()) if path.exists() else 0
    return done >= len(steps.split(",")) - 1


def _py_spy(procs: Procs, out: Path, seconds: float):
    import psutil

    spy = shutil.which("py-spy") or str(BIN / "py-spy")
    for name, p in procs.items:
        if name == "api":
            kids = psutil.Process(p.pid).children() or [psutil.Process(p.pid)]
            for k in kids:
                subprocess.Popen([spy, "record", "-p", str(k.pid), "-d", str(int(seconds)), "-f", "raw",
                                  "-o", str(out / f"profile-{k.pid}.txt"), "--nonblocking"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return True


def _log_findings(out: Path) -> dict:
    """What the server logs say: pool time-outs, tracebacks, 5xx."""
    found = {"pool_timeouts": 0, "tracebacks": 0, "errors": 0}
    for f in out.glob("*.log"):
        if f.name.startswith("locust"):
            continue
        for line in f.read_text(errors="replace").splitlines():
            found["pool_timeouts"] += "QueuePool limit" in line or "pool timed out" in line.lower()
            found["tracebacks"] += line.startswith("Traceback")
            found["errors"] += " ERROR " in line
    return found


if __name__ == "__main__":
    sys.exit(main())
