"""Turn a load run's results (meta.json, steps.jsonl, samples.jsonl) into report.md and chart.png.

    python bench/load/report.py bench/load/results/mixed-embedded

The figures per step come from the locustfile's StepShape: statistics reset after each ramp and
settle, then ``--measure`` seconds measured. "API routes" leaves out uploads (megabytes of body)
and the object store (moto standing in for S3): both are reported, neither is a < 100 ms API call.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

TARGET_P99_MS = 100.0
LISTENER_P99_MS = 200.0
NOT_API = ("POST /streaming/artists/{id}/tracks", "GET (object store) {segment}")
SEGMENT, KEY = "GET /media/{segment}", "GET /streaming/tracks/{id}/key"


def percentile(hist: dict[str, int], q: float) -> float:
    items = sorted((float(k), v) for k, v in hist.items())
    n = sum(v for _, v in items)
    if not n:
        return 0.0
    want, seen = q * n, 0
    for k, v in items:
        seen += v
        if seen >= want:
            return k
    return items[-1][0]


def merge(hists: list[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for h in hists:
        for k, v in h.items():
            out[k] = out.get(k, 0) + v
    return out


def load(out: Path):
    meta = json.loads((out / "meta.json").read_text())
    steps = [json.loads(x) for x in (out / "steps.jsonl").read_text().splitlines()] if (out / "steps.jsonl").exists() else []
    samples = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()] \
        if (out / "samples.jsonl").exists() else []
    return meta, steps, samples


def step_view(step: dict, samples: list[dict], listeners: bool) -> dict:
    routes = step["routes"]
    api = {k: v for k, v in routes.items() if k not in NOT_API}
    hist = merge([v["hist"] for v in api.values()])
    reqs = sum(v["requests"] for v in api.values())
    fails = sum(v["failures"] for v in routes.values())
    worst = max(((v["p99"], k) for k, v in api.items() if v["requests"] >= 20), default=(0, "-"))
    procs: dict[str, dict] = {}
    for s in samples:
        if step["t0"] <= s["t"] <= step["t1"]:
            for name, p in s["procs"].items():
                d = procs.setdefault(name, {"rss": 0.0, "cpu": [], "fds": 0})
                d["rss"] = max(d["rss"], p["rss_mb"])
                d["cpu"].append(p["cpu"])
                d["fds"] = max(d["fds"], p.get("fds", 0))
    apis = {k: v for k, v in procs.items() if k.startswith("api")}
    machine = [s["machine_cpu"] for s in samples if step["t0"] <= s["t"] <= step["t1"] and "machine_cpu" in s]
    ours = sum(sum(v["cpu"]) / max(1, len(v["cpu"])) for v in procs.values())
    view = {"users": step["users"], "rps": step["total"]["rps"], "api_rps": reqs / step["seconds"],
            "p50": percentile(hist, .5), "p95": percentile(hist, .95), "p99": percentile(hist, .99),
            "failures": fails, "requests": step["total"]["requests"], "worst": worst,
            "every_route_ok": all(v["p99"] < TARGET_P99_MS for v in api.values() if v["requests"] >= 20),
            "locust_cpu": step.get("locust_cpu_max", 0.0),
            "api_rss": [round(v["rss"]) for v in apis.values()],
            "api_cpu": [round(sum(v["cpu"]) / max(1, len(v["cpu"]))) for v in apis.values()],
            "api_fds": [v["fds"] for v in apis.values()],
            "others": {k: (round(v["rss"]), round(sum(v["cpu"]) / max(1, len(v["cpu"]))))
                       for k, v in procs.items() if not k.startswith(("api", "locust"))},
            # CPU cost per request (ms of one core): a figure that contention on a shared machine
            # moves far less than latency; capacity ≈ cores available / cost
            "api_ms_per_req": sum(sum(v["cpu"]) / max(1, len(v["cpu"])) for v in apis.values()) * 10
                              / max(1e-9, step["total"]["rps"]),
            "locust_ms_per_req": sum(sum(v["cpu"]) / max(1, len(v["cpu"])) for k, v in procs.items()
                                     if k.startswith("locust")) * 10 / max(1e-9, step["total"]["rps"]),
            "machine_cpu": sum(machine) / len(machine) if machine else 0.0,
            "foreign_cpu": max(0.0, (sum(machine) / len(machine) if machine else 0.0) - ours),
            "routes": routes, "errors": step.get("errors", [])}
    if listeners:
        seg, key = routes.get(SEGMENT, {}), routes.get(KEY, {})
        view["seg_p99"], view["key_p99"] = seg.get("p99", 0), key.get("p99", 0)
        view["seg_rps"] = seg.get("requests", 0) / step["seconds"]
        view["ok"] = fails == 0 and view["seg_p99"] < LISTENER_P99_MS and view["key_p99"] < LISTENER_P99_MS
    else:
        view["ok"] = fails == 0 and view["p99"] < TARGET_P99_MS
    return view


def route_table(routes: dict, seconds: float | None = None) -> list[str]:
    rows = ["| route | requests | req/s | failures | p50 ms | p95 ms | p99 ms | max ms |", "|---|---|---|---|---|---|---|---|"]
    for name, v in sorted(routes.items(), key=lambda kv: -kv[1]["p99"]):
        rows.append(f"| `{name}` | {v['requests']:,} | {v['rps']:.1f} | {v['failures']} | {v['p50']:.0f} | "
                    f"{v['p95']:.0f} | {v['p99']:.0f} | {v['max']:.0f} |")
    return rows


def chart(out: Path, views: list[dict], listeners: bool, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    users = [v["users"] for v in views]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
    if listeners:
        ax1.plot(users, [v["seg_p99"] for v in views], "o-", label="segment p99")
        ax1.plot(users, [v["key_p99"] for v in views], "s-", label="key p99")
        ax1.plot(users, [v["p50"] for v in views], "^--", label="all routes p50")
        ax1.axhline(LISTENER_P99_MS, color="red", lw=1, ls=":", label=f"target {LISTENER_P99_MS:.0f} ms")
    else:
        for q in ("p50", "p95", "p99"):
            ax1.plot(users, [v[q] for v in views], "o-", label=f"API {q}")
        ax1.plot(users, [v["worst"][0] for v in views], "x:", label="worst route p99")
        ax1.axhline(TARGET_P99_MS, color="red", lw=1, ls=":", label=f"target p99 {TARGET_P99_MS:.0f} ms")
    for v in views:
        if v["failures"]:
            ax1.annotate(f"{v['failures']} err", (v["users"], max(v["p99"], 1)), color="red", fontsize=8)
    ax1.set_yscale("log")
    ax1.set_ylabel("latency (ms, log)")
    ax1.legend(fontsize=8)
    ax1.grid(True, which="both", alpha=.3)
    ax1.set_title(title, fontsize=10)
    ax2.plot(users, [v["rps"] for v in views], "o-", color="tab:green", label="requests/s (all)")
    if listeners:
        ax2.plot(users, [v["seg_rps"] for v in views], "s--", color="tab:olive", label="segments/s")
    ax3 = ax2.twinx()
    for i, _ in enumerate(views[0]["api_rss"] if views else []):
        ax3.plot(users, [v["api_rss"][i] if i < len(v["api_rss"]) else None for v in views], "d:", color="tab:purple",
                 label="API process RSS (MB)" if i == 0 else None)
    ax3.set_ylabel("RSS per API process (MB)", color="tab:purple")
    ax2.set_xlabel("concurrent users" if not listeners else "concurrent listeners")
    ax2.set_ylabel("throughput (req/s)")
    h1, l1 = ax2.get_legend_handles_labels()
    h2, l2 = ax3.get_legend_handles_labels()
    ax2.legend(h1 + h2, l1 + l2, fontsize=8, loc="upper left")
    ax2.grid(True, alpha=.3)
    fig.tight_layout()
    path = out / "chart.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write(out: Path) -> str:
    meta, steps, samples = load(out)
    listeners = meta["scenario"] == "listeners"
    views = [step_view(s, samples, listeners) for s in steps]
    passing = [v for v in views if v["ok"]]
    best = max(passing, key=lambda v: v["users"]) if passing else None
    lines = [f"# Load test: {meta['scenario']} / {meta['mode']}", "",
             f"{meta['date']} · {meta['machine']} · Python {meta['python']} · commit {meta['commit']}", "",
             f"Platform: {meta['api_processes']} API process(es) ({meta['server']}"
             + (f", keep-alive {meta['keep_alive']} s, uvloop + httptools" if meta["server"] == "uvicorn" else "")
             + (f", limit-concurrency {meta['limit_concurrency']}" if meta.get("limit_concurrency") else "")
             + f"), {meta['workers']} separate job worker(s), {meta['database']}"
             + (", Redis" if meta["redis"] else "") + f", media on {meta['storage']}"
             + (" behind a modelled CDN (segments reach the API once per signed URL)" if meta.get("cdn") else "")
             + (f", listeners on the {meta['rendition']} rendition" if meta.get("rendition") else "") + ". "
             f"Locust on the same machine ({meta['locust_processes']} process(es)). "
             + (f"Every process of the run at nice {meta['nice']} (the machine is shared). " if meta.get("nice") else "")
             + ("Artists do not upload in this run. " if meta.get("upload_every") == 0 else "")
             +
             f"Accounts: {meta['pool']}, {meta['artists']} artists, tracks of {meta['track_seconds']:.0f} s "
             f"(setup {meta.get('setup_seconds', '?')} s). Steps: {meta['steps']} users at {meta['spawn_rate']}/s, "
             f"each settled {meta['settle']:.0f} s then measured {meta['measure']:.0f} s.", ""]
    if listeners:
        lines += [f"Target: 0 errors, segment and key p99 < {LISTENER_P99_MS:.0f} ms. **Held: "
                  + (f"{best['users']:,} listeners**" if best else "none of the steps**")
                  + (f" (segment p99 {best['seg_p99']:.0f} ms, key p99 {best['key_p99']:.0f} ms, "
                     f"{best['seg_rps']:.0f} segments/s)." if best else "."), ""]
        lines += ["| listeners | req/s | segments/s | segment p99 | key p99 | all p50 | failures | API RSS MB | API CPU % | API fds | locust CPU % | machine CPU % (not ours) | CPU ms/request API · locust | held |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for v in views:
            lines.append(f"| {v['users']:,} | {v['rps']:.0f} | {v['seg_rps']:.0f} | {v['seg_p99']:.0f} ms | "
                         f"{v['key_p99']:.0f} ms | {v['p50']:.0f} ms | {v['failures']} | "
                         f"{' / '.join(map(str, v['api_rss']))} | {' / '.join(map(str, v['api_cpu']))} | "
                         f"{' / '.join(map(str, v['api_fds']))} | {v['locust_cpu']:.0f} | {v['machine_cpu']:.0f} ({v['foreign_cpu']:.0f}) | "
                         f"{v['api_ms_per_req']:.2f} · {v['locust_ms_per_req']:.2f} | {'yes' if v['ok'] else 'no'} |")
    else:
        lines += [f"Target: p99 < {TARGET_P99_MS:.0f} ms over the API routes and 0 errors. **Largest user count "
                  "that meets it: " + (f"{best['users']:,}**" if best else "none of the steps**")
                  + (f" (p99 {best['p99']:.0f} ms, {best['api_rps']:.0f} API req/s; worst route "
                     f"`{best['worst'][1]}` p99 {best['worst'][0]:.0f} ms)." if best else "."), ""]
        lines += ["| users | req/s | p50 | p95 | p99 | worst route p99 | failures | API RSS MB | API CPU % | locust CPU % | machine CPU % (not ours) | CPU ms/request API · locust | meets target | every route < 100 ms |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for v in views:
            lines.append(f"| {v['users']:,} | {v['rps']:.0f} | {v['p50']:.0f} ms | {v['p95']:.0f} ms | {v['p99']:.0f} ms | "
                         f"{v['worst'][0]:.0f} ms `{v['worst'][1]}` | {v['failures']} | "
                         f"{' / '.join(map(str, v['api_rss']))} | {' / '.join(map(str, v['api_cpu']))} | "
                         f"{v['locust_cpu']:.0f} | {v['machine_cpu']:.0f} ({v['foreign_cpu']:.0f}) | "
                         f"{v['api_ms_per_req']:.2f} · {v['locust_ms_per_req']:.2f} | {'yes' if v['ok'] else 'no'} | "
                         f"{'yes' if v['every_route_ok'] else 'no'} |")
    cost = [v for v in views if v["rps"] > 0]
    if cost:
        api_ms = sorted(v["api_ms_per_req"] for v in cost)[len(cost) // 2]
        loc_ms = sorted(v["locust_ms_per_req"] for v in cost)[len(cost) // 2]
        per_user = sorted(v["rps"] / v["users"] for v in cost)[len(cost) // 2]
        machine = meta.get("cpus") or 2
        cores = min(machine, meta["api_processes"])  # a Python process runs on about one core (the GIL)
        alone = cores * 1000 / max(api_ms, 1e-9)
        shared = min(alone, machine * 1000 / max(api_ms + loc_ms, 1e-9))
        lines += ["", f"CPU cost (median over the steps): {api_ms:.2f} ms of one core per request in the API "
                  f"process(es), {loc_ms:.2f} ms in locust; {per_user:.3f} requests/s per simulated user. "
                  f"{meta['api_processes']} API process(es) on {machine} cores (one core each at most) serve at most "
                  f"≈ {alone:,.0f} req/s ≈ {alone / per_user:,.0f} users when they have the cores to themselves, "
                  f"≈ {shared / per_user:,.0f} users with locust on the same machine (before any queueing: "
                  "the latency target is met well below saturation)."]
    if views and views[-1]["others"]:
        lines += ["", "Other processes during the last step (peak RSS MB, mean CPU %): " + ", ".join(
            f"{k} {rss} MB / {cpu}%" for k, (rss, cpu) in sorted(views[-1]["others"].items()))]
    lines += ["", f"Server logs: {meta.get('server_log', {})}", "", "![chart](chart.png)", ""]
    shown = [v for v in ([best] if best else []) + views[-1:] if v]
    seen = set()
    for v in shown:
        if v["users"] in seen:
            continue
        seen.add(v["users"])
        label = "largest step meeting the target" if v is best else "last step"
        lines += [f"## Per route at {v['users']:,} users ({label})", ""] + route_table(v["routes"]) + [""]
        if v["errors"]:
            lines += ["Errors:", ""] + [f"* {e['count']}× `{e['route']}`: {e['error']}" for e in
                                        sorted(v["errors"], key=lambda e: -e["count"])[:10]] + [""]
    text = "\n".join(lines)
    (out / "report.md").write_text(text)
    if views:
        chart(out, views, listeners, f"MusicConnect {meta['scenario']} / {meta['mode']} — {meta['date']}, {meta['machine']}")
    return text


if __name__ == "__main__":
    print(write(Path(sys.argv[1])))
