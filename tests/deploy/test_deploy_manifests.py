"""deploy/kubernetes and the Dockerfile, validated without a cluster: every overlay rendered
(tests/deploy/deploy_kustomize.py, proven equal to `kubectl kustomize` where kubectl exists),
every document checked against the Kubernetes 1.31 API schemas (kubernetes-validate, strict) or
its CRD's published schema (tests/deploy/schemas, strict), a checkov policy scan with zero
failures, and the properties the deployment guide promises."""
from __future__ import annotations

import copy
import inspect
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
import deploy_checkov  # noqa: E402
from deploy_kustomize import KustomizeError, render  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
KUBE = ROOT / "deploy" / "kubernetes"
SCHEMAS = Path(__file__).parent / "schemas"
K8S_VERSION = "1.31"  # the oldest Kubernetes we target (supported upstream until 2025-10; EKS/GKE longer)
K8S_NEWEST = kubernetes_validate.latest_version()  # and the newest kubernetes-validate knows (no removed API)
IMAGE = "ghcr.io/musicconnect/musicconnect"
OVERLAYS = sorted(str(p.parent.relative_to(KUBE / "overlays")) for p in (KUBE / "overlays").rglob("kustomization.yaml"))
APP_OVERLAYS = [o for o in OVERLAYS if not o.endswith("migrate")]

# The shared metric names (contract of issue 19): name -> type
CONTRACT_METRICS = {
    "musicconnect_http_requests_total": "counter", "musicconnect_http_request_seconds": "histogram",
    "musicconnect_realtime_sockets": "gauge", "musicconnect_realtime_closes_total": "counter",
    "musicconnect_jobs_enqueued_total": "counter", "musicconnect_jobs_running": "gauge",
    "musicconnect_jobs_finished_total": "counter", "musicconnect_job_seconds": "histogram",
    "musicconnect_job_wait_seconds": "histogram", "musicconnect_jobs_backlog": "gauge",
    "musicconnect_webhooks_total": "counter", "musicconnect_webhook_seconds": "histogram",
    "musicconnect_rate_limited_total": "counter", "musicconnect_build_info": "gauge",
}
# series from Prometheus itself and kube-state-metrics that the alerts may use besides ours
EXTERNAL_METRICS = {"up", "kube_deployment_status_replicas_unavailable"}

# checkov checks skipped, each with its reason (also in docs/operations.md "Deploying on Kubernetes")
CHECKOV_SKIPS = {
    "CKV_K8S_43": "image by digest: the digest exists only once the release image is built; the release "
                  "pins it with the overlay's `images: digest:` (tags are immutable in our registry)",
    "CKV_K8S_35": "secrets as environment variables: MusicConnect reads every setting from MC_* variables "
                  "(12-factor); the Secret is separate from the ConfigMap and never logged",
}


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    return {o: render(KUBE / "overlays" / o) for o in OVERLAYS}


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict], kind: str, name: str) -> dict:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def pod_specs(docs: list[dict]) -> list[tuple[str, dict]]:
    return [(f"{d['kind']}/{d['metadata']['name']}", d["spec"]["template"]["spec"])
            for d in docs if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job")]


# ------------------------------------------------------------------------------------ rendering

def test_overlays_exist_and_render(rendered):
    assert {"single-region", "production", "single-region/migrate", "production/migrate"} <= set(OVERLAYS)
    for overlay, docs in rendered.items():
        assert docs, overlay
        for d in docs:
            if d["kind"] != "Namespace":
                assert d["metadata"]["namespace"] == "musicconnect", (overlay, d["kind"], d["metadata"]["name"])


def _write(folder: Path, kustomization: str, resources: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kustomization.yaml").write_text(kustomization)
    for name, text in (resources or {}).items():
        (folder / name).write_text(text)
    return folder


CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  A: x\n"


@pytest.mark.parametrize("kustomization, message", [
    ("resources: [cm.yaml]\ncommonLabels: {a: b}\n", "unsupported kustomization keys"),
    ("resources: [cm.yaml]\npatches:\n  - target: {kind: ConfigMap, name: c}\n    patch: 'data: {A: y}'\n",
     "only JSON6902"),
    ("resources: [cm.yaml]\npatches:\n  - target: {kind: ConfigMap, name: nope}\n"
     "    patch: '[{op: replace, path: /data/A, value: y}]'\n", "matches no resource"),
    ("resources: [cm.yaml]\nlabels:\n  - pairs: {a: b}\n    includeSelectors: true\n", "includeSelectors"),
    ("resources: [../outside.yaml]\n", "outside"),
    ("resources: [cm.yaml, cm.yaml]\n", "duplicate resource"),
])
def test_renderer_refuses_what_it_does_not_implement(tmp_path, kustomization, message):
    (tmp_path / "outside.yaml").write_text(CM)
    folder = _write(tmp_path / "k", kustomization, {"cm.yaml": CM})
    with pytest.raises(KustomizeError, match=message):
        render(folder)


def test_renderer_applies_patches_namespace_labels_images(tmp_path):
    deploy = ("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: j\nspec:\n  template:\n    spec:\n"
              "      containers:\n        - name: a\n          image: example/app:1\n"
              "        - name: b\n          image: other/app:1\n")
    folder = _write(tmp_path / "k", "namespace: ns\nresources: [cm.yaml, job.yaml]\nlabels:\n  - pairs: {x: y}\n"
                    "images:\n  - name: example/app\n    newTag: '2'\npatches:\n  - target: {kind: ConfigMap}\n"
                    "    patch: '[{op: add, path: /data/B, value: z}]'\n", {"cm.yaml": CM, "job.yaml": deploy})
    cm, job = render(folder)
    assert cm["data"] == {"A": "x", "B": "z"} and cm["metadata"] == {"name": "c", "namespace": "ns", "labels": {"x": "y"}}
    images = [c["image"] for c in job["spec"]["template"]["spec"]["containers"]]
    assert images == ["example/app:2", "other/app:1"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_renderer_equals_kubectl_kustomize(rendered, overlay):
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not on PATH: the renderer is compared with `kubectl kustomize` where it is")
    out = subprocess.run([kubectl, "kustomize", str(KUBE / "overlays" / overlay)], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    key = lambda d: (d["apiVersion"], d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"])
    theirs = {key(d): d for d in yaml.safe_load_all(out) if d}
    mine = {key(d): d for d in rendered[overlay]}
    assert mine.keys() == theirs.keys()
    for k in mine:
        assert mine[k] == theirs[k], k


# ------------------------------------------------------------------------------------ schemas

def _strict(schema):
    """A CRD's structural schema, with unknown fields refused where the API server would prune
    them (kubectl's strict field validation): objects with `properties` and no
    additionalProperties / x-kubernetes-preserve-unknown-fields get additionalProperties: false."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if ("properties" in out and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


def crd_validator(doc: dict) -> jsonschema.Validator | None:
    group, _, version = doc["apiVersion"].rpartition("/")
    path = SCHEMAS / f"{group}_{doc['kind'].lower()}_{version}.json"
    if not group or not path.exists():
        return None
    return jsonschema.Draft7Validator(_strict(json.loads(path.read_text())))


def validate(doc: dict, version: str = K8S_VERSION) -> None:
    validator = crd_validator(doc)
    if validator is not None:
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
        assert not errors, f"{doc['kind']}/{doc['metadata']['name']}: " + "; ".join(
            f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5])
        return
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        pytest.fail(f"{doc['apiVersion']} {doc['kind']}: neither a Kubernetes {version} kind nor a vendored CRD "
                    "schema (tests/deploy/schemas)")


@pytest.mark.parametrize("version", sorted({K8S_VERSION, K8S_NEWEST}))
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_document_is_valid(rendered, overlay, version):
    for doc in rendered[overlay]:
        validate(doc, version)


def test_secret_template_and_references_are_valid():
    docs = [yaml.safe_load((KUBE / "secrets.example.yaml").read_text())]
    for path in sorted((KUBE / "references").glob("cloudnative-pg-*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert {d["kind"] for d in docs} == {"Secret", "Cluster"}
    for doc in docs:
        validate(doc)
    for name in ("redis-sentinel-values.yaml", "prometheus-adapter-values.yaml"):  # helm values: YAML
        assert isinstance(yaml.safe_load((KUBE / "references" / name).read_text()), dict)


def test_schema_validation_refuses_unknown_fields(rendered):
    docs = rendered["production"]
    for kind in ("ScaledObject", "PrometheusRule", "ServiceMonitor", "Deployment"):
        doc = copy.deepcopy(by_kind(docs, kind)[0])
        doc["spec"]["replicaz" if kind == "Deployment" else "minReplicaCont"] = 1
        with pytest.raises((AssertionError, kubernetes_validate.ValidationError)):
            validate(doc)
    doc = copy.deepcopy(one(docs, "ScaledObject", "musicconnect-worker"))
    doc["spec"]["triggers"][0].pop("type")
    with pytest.raises(AssertionError, match="type"):
        validate(doc)


def test_vendored_crd_schemas_are_documented():
    readme = (SCHEMAS / "README.md").read_text()
    for path in SCHEMAS.glob("*.json"):
        assert path.name in readme, path.name


# ------------------------------------------------------------------------------------ policy scan

def test_checkov_finds_no_failed_check(rendered, tmp_path):
    checkov = deploy_checkov.ensure()
    for overlay, docs in rendered.items():
        (tmp_path / f"{overlay.replace('/', '-')}.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
    shutil.copy(ROOT / "Dockerfile", tmp_path / "Dockerfile")
    shutil.copy(KUBE / "secrets.example.yaml", tmp_path / "secrets.example.yaml")
    proc = subprocess.run([str(checkov), "-d", str(tmp_path), "--framework", "kubernetes", "dockerfile",
                           "--skip-download", "-o", "json", "--skip-check", ",".join(CHECKOV_SKIPS)],
                          capture_output=True, text=True, timeout=600)
    reports = json.loads(proc.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [(r["check_type"], c["check_id"], c["resource"], c["file_path"])
              for r in reports for c in r["results"]["failed_checks"]]
    assert not failed, failed
    passed = {c["check_id"] for r in reports for c in r["results"]["passed_checks"]}
    # the policies the issue names, proven evaluated: no privileged pods, read-only root file system,
    # non-root user, probes, limits; the image's user and health check
    for check in ("CKV_K8S_16", "CKV_K8S_22", "CKV_K8S_23", "CKV_K8S_40", "CKV_K8S_8", "CKV_K8S_9", "CKV_K8S_11",
                  "CKV_K8S_13", "CKV_K8S_20", "CKV_K8S_28", "CKV_K8S_31", "CKV_K8S_38", "CKV_DOCKER_2",
                  "CKV_DOCKER_3"):
        assert check in passed, check
    assert proc.returncode == 0, proc.stderr[-2000:]


# ------------------------------------------------------------------------------------ semantics

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_are_locked_down_with_limits(rendered, overlay):
    specs = pod_specs(rendered[overlay])
    assert specs
    for name, spec in specs:
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] == 10001, name
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        mounts = set()
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False, name
            assert sc["privileged"] is False and sc["capabilities"]["drop"] == ["ALL"], name
            for part in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][part]), (name, part)
            assert c["image"].startswith(IMAGE + ":") or c["image"].startswith(IMAGE + "@"), c["image"]
            mounts |= {m["mountPath"] for m in c.get("volumeMounts", [])}
        # a read-only root needs these writable: the image's TMPDIR and MC_DATA_DIR
        assert {"/tmp", "/var/lib/musicconnect"} <= mounts, name


def _mem_mb(quantity: str) -> float:
    units = {"Mi": 1024 ** 2, "Gi": 1024 ** 3, "M": 1e6, "G": 1e9}
    for unit, factor in units.items():
        if quantity.endswith(unit):
            return float(quantity[: -len(unit)]) * factor / 1e6
    return float(quantity) / 1e6


def _measured_rss_mb() -> dict[str, float]:
    """The largest RSS of an API process and of a worker in the load tests' committed reports
    (``bench/load/results/*/report.md``: the "API RSS MB" column, one figure per API process, and
    the "worker<N> <RSS> MB" line; the raw samples are not committed) — the runs with Redis, as
    deployed (an embedded API process also runs the jobs and their ffmpeg children)."""
    peak = {"api": 0.0, "worker": 0.0}
    for report in (ROOT / "bench" / "load" / "results").glob("*/report.md"):
        if not json.loads((report.parent / "meta.json").read_text()).get("redis"):
            continue
        text = report.read_text()
        column = None
        for line in text.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if "API RSS MB" in cells:
                column = cells.index("API RSS MB")
            elif column is not None and line.startswith("|") and len(cells) > column:
                for figure in re.findall(r"\d+(?:\.\d+)?", cells[column]):
                    peak["api"] = max(peak["api"], float(figure))
            elif not line.startswith("|"):
                column = None
        for figure in re.findall(r"\bworker\d+ (\d+(?:\.\d+)?) MB", text):
            peak["worker"] = max(peak["worker"], float(figure))
    return peak


@pytest.mark.parametrize("overlay", APP_OVERLAYS)
def test_requests_and_limits_cover_the_measured_memory(rendered, overlay):
    peak = _measured_rss_mb()
    assert peak["api"] > 100 and peak["worker"] > 100, peak  # the load tests' samples are there
    for name, kind in (("musicconnect-api", "api"), ("musicconnect-worker", "worker")):
        res = one(rendered[overlay], "Deployment", name)["spec"]["template"]["spec"]["containers"][0]["resources"]
        assert _mem_mb(res["requests"]["memory"]) >= peak[kind], (name, res, peak)
        assert _mem_mb(res["limits"]["memory"]) >= 1.5 * peak[kind], (name, res, peak)


@pytest.mark.parametrize("overlay", APP_OVERLAYS)
def test_probes_liveness_never_checks_the_database(rendered, overlay):
    docs = rendered[overlay]
    for d in by_kind(docs, "Deployment"):
        for c in d["spec"]["template"]["spec"]["containers"]:
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert probe in c, (d["metadata"]["name"], probe)
            assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", d["metadata"]["name"]
            assert c["startupProbe"]["httpGet"]["path"] != "/readyz"
    api = one(docs, "Deployment", "musicconnect-api")["spec"]["template"]["spec"]["containers"][0]
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["args"][:1] == ["serve"] and "--no-migrate" in api["args"] and "0.0.0.0" in api["args"]
    worker = one(docs, "Deployment", "musicconnect-worker")["spec"]["template"]["spec"]["containers"][0]
    assert worker["args"][:1] == ["worker"] and worker["ports"][0]["containerPort"] == 9300
    assert worker["livenessProbe"]["httpGet"]["port"] == "metrics"
    for d in by_kind(docs, "Deployment"):  # autoscalers own the replica count
        assert "replicas" not in d["spec"], d["metadata"]["name"]


@pytest.mark.parametrize("overlay", APP_OVERLAYS)
def test_migration_job_matches_its_application(rendered, overlay):
    app, migrate = rendered[overlay], rendered[f"{overlay}/migrate"]
    job = one(migrate, "Job", "musicconnect-migrate")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["db", "upgrade"] and job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert not by_kind(app, "Job"), "the migration runs before the rollout, not inside it"
    images = {c["image"] for _, spec in pod_specs(app) for c in spec["containers"]}
    assert images == {container["image"]}, (images, container["image"])
    for kind in ("Namespace", "ServiceAccount", "ConfigMap"):
        assert by_kind(migrate, kind) == [d for d in by_kind(app, kind) if d["kind"] != "ConfigMap"
                                          or d["metadata"]["name"] == "musicconnect-config"], kind


@pytest.mark.parametrize("overlay", APP_OVERLAYS)
def test_selectors_pdbs_and_network_policies(rendered, overlay):
    docs = rendered[overlay]
    pods = {d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"] for d in by_kind(docs, "Deployment")}
    covered = lambda selector: [n for n, labels in pods.items() if selector.items() <= labels.items()]
    for svc in by_kind(docs, "Service"):
        assert len(covered(svc["spec"]["selector"])) == 1, svc["metadata"]["name"]
    pdbs = by_kind(docs, "PodDisruptionBudget")
    assert sorted(n for p in pdbs for n in covered(p["spec"]["selector"]["matchLabels"])) == sorted(pods)
    policies = by_kind(docs, "NetworkPolicy")
    deny = [p for p in policies if p["spec"]["podSelector"] == {}]
    assert deny and set(deny[0]["spec"]["policyTypes"]) == {"Ingress", "Egress"} and "ingress" not in deny[0]["spec"]
    egress_ports = {port["port"] for p in policies for rule in p["spec"].get("egress", []) for port in rule["ports"]}
    assert {53, 5432, 6379, 443} <= egress_ports
    api_ingress = [p for p in policies if "ingress" in p["spec"] and covered(p["spec"]["podSelector"]["matchLabels"])
                   == ["musicconnect-api"]]
    assert any(port["port"] == 8000 for p in api_ingress for rule in p["spec"]["ingress"] for port in rule["ports"])


@pytest.mark.parametrize("overlay", APP_OVERLAYS)
def test_autoscalers(rendered, overlay):
    docs = rendered[overlay]
    hpa = one(docs, "HorizontalPodAutoscaler", "musicconnect-api")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "musicconnect-api"
    assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    assert any(m["type"] == "Resource" and m["resource"]["name"] == "cpu" for m in hpa["spec"]["metrics"])
    so = one(docs, "ScaledObject", "musicconnect-worker")
    assert so["spec"]["scaleTargetRef"]["name"] == "musicconnect-worker" and so["spec"]["minReplicaCount"] >= 1
    assert any(d["metadata"]["name"] == "musicconnect-redis" for d in by_kind(docs, "TriggerAuthentication"))


def test_production_scales_on_requests_per_second(rendered):
    hpa = one(rendered["production"], "HorizontalPodAutoscaler", "musicconnect-api")
    pods = [m for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]
    assert pods and pods[0]["pods"]["metric"]["name"] == "musicconnect_http_requests_per_second"
    adapter = (KUBE / "references" / "prometheus-adapter-values.yaml").read_text()
    assert "musicconnect_http_requests_per_second" in adapter and "musicconnect_http_requests_total" in adapter


def test_keda_counts_dramatiq_keys_as_its_redis_broker_stores_them(rendered):
    """The redis triggers name the ready list and the delay queue of each queue exactly as dramatiq's
    Redis broker does (namespace "dramatiq", queue "mc.<plugin>", delay queue via dq_name); the
    prometheus trigger counts the contract metric, which includes the in-flight sets."""
    from dramatiq.brokers.redis import RedisBroker
    from dramatiq.common import dq_name

    namespace = inspect.signature(RedisBroker.__init__).parameters["namespace"].default
    jobs_source = (ROOT / "core" / "musicconnect" / "jobs.py").read_text()
    assert 'queue_name=f"mc.{plugin}"' in jobs_source  # how the core names queues
    so = one(rendered["production"], "ScaledObject", "musicconnect-worker")
    redis = [t for t in so["spec"]["triggers"] if t["type"] == "redis"]
    names = {t["metadata"]["listName"] for t in redis}
    queues = {n.removeprefix(f"{namespace}:") for n in names if not n.endswith(".DQ")}
    assert queues and names == {f"{namespace}:{q}" for q in queues} | {f"{namespace}:{dq_name(q)}" for q in queues}
    for q in queues:
        plugin = q.removeprefix("mc.")
        assert (ROOT / "plugins" / plugin).is_dir(), q
        assert "JobSpec(" in "".join(p.read_text() for p in (ROOT / "plugins" / plugin).rglob("*.py")
                                     if "build" not in p.parts), q
    assert "mc.streaming" in queues  # transcodes: the work that bursts with uploads
    assert all(t["authenticationRef"]["name"] == "musicconnect-redis" for t in redis)
    prom = [t for t in so["spec"]["triggers"] if t["type"] == "prometheus"]
    assert len(prom) == 1 and "musicconnect_jobs_backlog" in prom[0]["metadata"]["query"]
    assert metric_names(prom[0]["metadata"]["query"]) == {"musicconnect_jobs_backlog"}


# ------------------------------------------------------------------------------------ monitoring

KEYWORDS = {"by", "without", "on", "ignoring", "offset", "and", "or", "unless", "bool", "group_left",
            "group_right", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (strings, label matchers, ranges, grouping
    clauses and function calls removed); a histogram's _bucket/_sum/_count map to its name."""
    s = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'', "", expr)
    s = re.sub(r"\{[^}]*\}", "", s)
    s = re.sub(r"\[[^\]]*\]", "", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    names = set()
    for m in re.finditer(r"(?<![A-Za-z0-9_:.$])([A-Za-z_:][A-Za-z0-9_:]*)\s*(\()?", s):
        name, call = m.group(1), m.group(2)
        if call or name.lower() in KEYWORDS:
            continue
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        names.add(base if CONTRACT_METRICS.get(base) == "histogram" else name)
    return names


def test_metric_name_parser():
    assert metric_names('histogram_quantile(0.99, sum by (le, route) (rate(musicconnect_http_request_seconds_bucket'
                        '{status=~"5.."}[5m]))) > 1e-9 and up offset 5m') == {"musicconnect_http_request_seconds", "up"}
    assert metric_names("sum(max by (queue, part) (x_total))[15m:1m]") == {"x_total"}


def _rule_and_dashboard_exprs(docs: list[dict]) -> dict[str, list[str]]:
    rule = one(docs, "PrometheusRule", "musicconnect")
    alerts = {r["alert"]: r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]}
    dashboard = json.loads(one(docs, "ConfigMap", "musicconnect-grafana-dashboard")["data"]["musicconnect.json"])
    targets = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    return {"alerts": list(alerts.values()), "dashboard": targets, "alert_names": list(alerts)}


def test_alerts_and_dashboard_use_only_contract_metrics(rendered):
    exprs = _rule_and_dashboard_exprs(rendered["production"])
    used: set[str] = set()
    for expr in exprs["alerts"] + exprs["dashboard"]:
        names = metric_names(expr)
        assert names, expr
        assert names <= set(CONTRACT_METRICS) | EXTERNAL_METRICS, (names - set(CONTRACT_METRICS), expr)
        used |= names
    assert set(CONTRACT_METRICS) <= used, set(CONTRACT_METRICS) - used  # every contract metric is watched


def test_alerts_cover_the_signals_that_matter(rendered):
    exprs = _rule_and_dashboard_exprs(rendered["production"])
    alerts = dict(zip(exprs["alert_names"], exprs["alerts"]))
    wanted = {
        "5xx ratio": lambda e: "musicconnect_http_requests_total" in e and "5.." in e,
        "p99 latency": lambda e: "histogram_quantile(0.99" in e and "musicconnect_http_request_seconds" in e,
        "target down": lambda e: e.strip().startswith("up{"),
        "readyz failing": lambda e: "kube_deployment_status_replicas_unavailable" in e,
        "backlog growing": lambda e: "musicconnect_jobs_backlog" in e and "deriv(" in e,
        "job failures": lambda e: 'outcome="failed"' in e,
        "webhook errors": lambda e: "musicconnect_webhooks_total" in e and '"error"' in e,
        "rate-limit spikes": lambda e: "musicconnect_rate_limited_total" in e,
        "socket drops": lambda e: "musicconnect_realtime_closes_total" in e,
    }
    for signal, test in wanted.items():
        assert any(test(e) for e in alerts.values()), signal
    rule = one(rendered["production"], "PrometheusRule", "musicconnect")
    for g in rule["spec"]["groups"]:
        for r in g["rules"]:
            assert r["labels"]["severity"] in ("warning", "critical") and r["annotations"]["summary"], r["alert"]
    dashboard = one(rendered["production"], "ConfigMap", "musicconnect-grafana-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"


def test_service_monitor_scrapes_api_and_workers(rendered):
    docs = rendered["production"]
    sm = one(docs, "ServiceMonitor", "musicconnect")
    ports = {e["port"] for e in sm["spec"]["endpoints"]}
    service_ports = {p["name"] for s in by_kind(docs, "Service") for p in s["spec"]["ports"]
                     if sm["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()}
    assert ports == {"http", "metrics"} <= service_ports
    assert all(e["authorization"]["credentials"]["key"] == "MC_METRICS_TOKEN" for e in sm["spec"]["endpoints"])


# ------------------------------------------------------------------------------------ image

def test_dockerfile():
    text = (ROOT / "Dockerfile").read_text()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    froms = [ln for ln in lines if ln.startswith("FROM ")]
    assert len(froms) == 2 and froms[0].endswith("AS builder") and froms[1].endswith("AS runtime")
    assert all(":latest" not in f and re.search(r"python:3\.11[\w.-]*-slim", f) for f in froms)
    assert "ffmpeg" in text and "libchromaprint-tools" in text and "--no-install-recommends" in text
    assert [ln for ln in lines if ln.startswith("USER ")] == ["USER 10001:10001"]
    assert any(ln.startswith("HEALTHCHECK ") for ln in lines) and "/healthz" in text
    assert 'ENTRYPOINT ["musicconnect"]' in lines and "WORKDIR /app" in lines
    assert "MC_DATA_DIR=/var/lib/musicconnect" in text
    # every workspace part is built into a wheel
    assert "./core[postgres]" in text and "./cli" in text and "./plugins/*/" in text
    for ln in lines:  # no secret baked in
        if ln.startswith(("ENV ", "ARG ")):
            assert not re.search(r"(SECRET|PASSWORD|TOKEN|_KEY)\w*=", ln), ln
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert ignore[ignore.index("*") if "*" in ignore else 0] == "*" and {"!core/", "!cli/", "!plugins/"} <= set(ignore)
    assert "**/.env" in ignore


def test_operations_guide_documents_the_deployment():
    text = (ROOT / "docs" / "operations.md").read_text()
    k8s, dr, bench = (text.index(h) for h in ("\n## Deploying on Kubernetes\n",
                                               "\n## Multi-region and disaster recovery\n", "\n## Benchmarks\n"))
    assert k8s < dr < bench
    guide = text[k8s:bench]
    for needle in (*CHECKOV_SKIPS, "kubectl wait", "overlays/production/migrate", "secrets.example.yaml",
                   "musicconnect_jobs_backlog", "dramatiq:<queue>.DQ", "RPO", "RTO", "seconds of playback"):
        assert needle in guide, needle


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_environment_names_are_real_settings(rendered, overlay):
    """Every MC_* variable the manifests set is a core setting or a plugin's MC_<PLUGIN>_* one: a
    misspelt name would be silently ignored by the application."""
    from musicconnect.settings import Settings

    prefix = Settings.model_config.get("env_prefix", "MC_")
    plugins = {p.name.upper() for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists()}
    names = set(yaml.safe_load((KUBE / "secrets.example.yaml").read_text())["stringData"])
    for d in rendered[overlay]:
        if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "musicconnect-config":
            names |= set(d["data"])
    for _, spec in pod_specs(rendered[overlay]):
        names |= {e["name"] for c in spec["containers"] for e in c.get("env", [])}
    unknown = [n for n in names if n.startswith(prefix) and n.removeprefix(prefix).lower() not in Settings.model_fields
               and n.removeprefix(prefix).split("_")[0] not in plugins]
    assert not unknown, unknown
    assert {"MC_DATABASE_URL", "MC_REDIS_URL", "MC_SECRET_KEY", "MC_METRICS_TOKEN"} <= names
