#!/usr/bin/env python3
"""Install everything and pass the whole test suite, twice:

1. embedded default: SQLite, local-disk media, in-process jobs and pub/sub;
2. distributed: real PostgreSQL, Redis and an S3 API server (moto) started here on loopback;
   this pass runs the tests that use those services (tests/conftest.py deselects the others).

Both passes talk to a real Stripe-API server on loopback (``scripts/stripe_server.py``:
localstripe plus the endpoints it lacks), started here.

PostgreSQL and Redis come from Debian packages (installed with apt-get when missing and we are
root). Extra arguments go to pytest. MC_TEST_ONLY=embedded|distributed runs one pass.
"""
from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from _workspace import ROOT, VENV, PortTimeout, free_port, install, log, wait_port


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def ensure_packages() -> None:
    missing = []
    if pg_bin() is None:
        missing.append("postgresql")
    if shutil.which("redis-server") is None:
        missing.append("redis-server")
    if shutil.which("fpcalc") is None and os.geteuid() == 0:  # audio fingerprints (tests skip without it)
        missing.append("libchromaprint-tools")
    if not missing:
        return
    if os.geteuid() != 0:
        raise SystemExit(f"error: the distributed test pass needs {' and '.join(missing)}; install them "
                         "(apt-get install postgresql redis-server) or run with MC_TEST_ONLY=embedded")
    log(f"installing {', '.join(missing)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], check=True, env=env,
                   stdout=subprocess.DEVNULL)


def ensure_chromium() -> None:
    """The web app's browser tests drive Debian's Chromium (Playwright's own download is not
    used): install it with apt-get when missing and we are root; otherwise they skip, saying why."""
    if shutil.which("chromium") or os.path.exists("/usr/bin/chromium"):
        return
    if os.geteuid() != 0:
        log("chromium is missing and we are not root: the browser tests (tests/web) will skip")
        return
    log("installing chromium with apt-get (the web app's browser tests)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"], check=True,
                       env=env, stdout=subprocess.DEVNULL)
    except (OSError, subprocess.CalledProcessError) as exc:
        log(f"could not install chromium ({exc}): the browser tests (tests/web) will skip")


def ensure_checkov() -> None:
    """tests/deploy's policy scan: checkov in its own virtualenv under the cache folder (it pins
    packaging<24, which clashes with .venv), created once by tests/deploy/deploy_checkov.py."""
    script = ROOT / "tests" / "deploy" / "deploy_checkov.py"
    if subprocess.run([sys.executable, str(script)], stdout=subprocess.DEVNULL).returncode != 0:
        log("could not install checkov: tests/deploy will try again (and fail without it)")


def ensure_lighthouse() -> None:
    """The web app's Lighthouse audit (tests/web/test_web_lighthouse_browser.py): Node.js and npm
    from apt-get when missing, then ``npm ci`` of tests/web/lighthouse's lock file into a cache
    folder outside the repository (the test does the same when it is missing, or skips)."""
    import hashlib

    if not (shutil.which("node") and shutil.which("npm")):
        if os.geteuid() != 0:
            log("node/npm are missing and we are not root: the Lighthouse test will skip")
            return
        log("installing nodejs and npm with apt-get (the web app's Lighthouse audit)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        try:
            subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, stdout=subprocess.DEVNULL)
            subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "nodejs", "npm"],
                           check=True, env=env, stdout=subprocess.DEVNULL)
        except (OSError, subprocess.CalledProcessError) as exc:
            log(f"could not install nodejs/npm ({exc}): the Lighthouse test will skip")
            return
    pinned = ROOT / "tests" / "web" / "lighthouse"
    digest = hashlib.sha256((pinned / "package-lock.json").read_bytes() + (pinned / "package.json").read_bytes())
    target = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "musicconnect" / \
        f"lighthouse-{digest.hexdigest()[:12]}"
    if (target / "node_modules" / "lighthouse" / "cli" / "index.js").exists():
        return
    log(f"npm ci of tests/web/lighthouse into {target}")
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy(pinned / name, tmp / name)
    if subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=tmp).returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        log("npm ci of tests/web/lighthouse failed: the Lighthouse test will try again, or skip")
        return
    try:
        tmp.rename(target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def services():
    ensure_packages()
    work = Path(tempfile.mkdtemp(prefix="mc-services-"))
    procs: list[subprocess.Popen] = []
    stops: list = []
    try:
        # PostgreSQL: a throwaway cluster owned by the postgres user (initdb refuses root)
        bindir = pg_bin()
        pgdata, pgport = work / "pg", free_port()
        pgdata.mkdir()
        as_pg: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(work, "postgres")
            shutil.chown(pgdata, "postgres")
            as_pg = ["runuser", "-u", "postgres", "--"]
        subprocess.run([*as_pg, str(bindir / "initdb"), "-D", str(pgdata), "-A", "trust", "-U", "postgres"],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run([*as_pg, str(bindir / "pg_ctl"), "-D", str(pgdata), "-w", "-l", str(pgdata / "log"), "-o",
                        f"-p {pgport} -k {pgdata} -c listen_addresses=127.0.0.1 -c fsync=off "
                        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300", "start"],
                       check=True, stdout=subprocess.DEVNULL)
        stops.append(lambda: subprocess.run([*as_pg, str(bindir / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "stop"],
                                            stdout=subprocess.DEVNULL))
        # Redis
        rport = free_port()
        subprocess.run(["redis-server", "--bind", "127.0.0.1", "--port", str(rport), "--daemonize", "yes",
                        "--save", "", "--appendonly", "no", "--dir", str(work), "--pidfile", str(work / "redis.pid")],
                       check=True, stdout=subprocess.DEVNULL)
        stops.append(lambda: subprocess.run(["redis-cli", "-p", str(rport), "shutdown", "nosave"],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        # S3 API: moto in server mode
        sport = free_port()
        procs.append(subprocess.Popen([str(VENV / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(sport)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port in (pgport, rport, sport):
            wait_port(port)
        log(f"services up: postgresql :{pgport}, redis :{rport}, s3 (moto) :{sport}")
        yield {"MC_TEST_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{pgport}/postgres",
               "MC_TEST_REDIS_URL": f"redis://127.0.0.1:{rport}/0",
               "MC_TEST_S3_ENDPOINT": f"http://127.0.0.1:{sport}",
               "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(10)
        for stop in reversed(stops):
            stop()
        shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def stripe_api():
    """The Stripe-API test server (a Python process: no system package needed)."""
    port = free_port()
    proc = subprocess.Popen([str(VENV / "bin" / "python"), str(ROOT / "scripts" / "stripe_server.py"), "--port",
                             str(port)], stdout=subprocess.DEVNULL)
    try:
        wait_port(port)
        log(f"stripe api (localstripe + extensions) :{port}")
        yield {"MC_TEST_STRIPE_URL": f"http://127.0.0.1:{port}"}
    finally:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)


def pytest_pass(name: str, env: dict[str, str], args: list[str]) -> int:
    log(f"test pass '{name}'")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MC_")}
    code = subprocess.run([str(VENV / "bin" / "python"), "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=ROOT, env={**clean, **env}).returncode
    if code == 5:
        log(f"pass '{name}' collected no tests: that is a failure")
        return 1
    return code


def main() -> int:
    install(with_test=True)
    ensure_chromium()
    ensure_lighthouse()
    ensure_checkov()
    args = sys.argv[1:] or ["-q"]
    only = os.environ.get("MC_TEST_ONLY")
    results = {}
    with stripe_api() as stripe_env:
        if only in (None, "", "embedded"):
            results["embedded (sqlite, local disk, in-process)"] = pytest_pass("embedded", stripe_env, args)
        if only in (None, "", "distributed"):
            with services() as env:
                results["distributed (postgresql, redis, s3)"] = pytest_pass("distributed", {**env, **stripe_env},
                                                                             args)
    for name, code in results.items():
        log(f"{name}: {'passed' if code == 0 else f'FAILED (exit {code})'}")
    return 0 if results and all(c == 0 for c in results.values()) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except PortTimeout as exc:
        raise SystemExit(f"error: {exc}") from None
