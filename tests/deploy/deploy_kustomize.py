"""A strict renderer for exactly the Kustomize features deploy/kubernetes uses, so the manifests
are rendered and validated on machines without kubectl. Where kubectl is on PATH,
tests/deploy/test_deploy_manifests.py proves the output equal to `kubectl kustomize`.

Supported: `resources` (files and folders), `patches` (JSON6902 only, inline or `path`, target by
group/version/kind/name), `namespace`, `labels` (pairs, `includeSelectors: false`), `images`
(newName/newTag/digest). Anything else in a kustomization is refused, never ignored.
Transformers run in Kustomize's order: patches, namespace, labels, images.
"""
from __future__ import annotations

import copy
from pathlib import Path

import jsonpatch
import yaml

KNOWN_KEYS = {"apiVersion", "kind", "resources", "namespace", "labels", "images", "patches"}
PATCH_KEYS = {"path", "patch", "target"}
TARGET_KEYS = {"group", "version", "kind", "name"}
LABEL_KEYS = {"pairs", "includeSelectors"}
IMAGE_KEYS = {"name", "newName", "newTag", "digest"}
# kinds without a namespace (the ones a MusicConnect manifest could contain)
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PersistentVolume",
                  "StorageClass", "PriorityClass", "ClusterTriggerAuthentication", "IngressClass"}


class KustomizeError(ValueError):
    """A kustomization this renderer does not understand, or that is wrong."""


def _kustomization(folder: Path) -> dict:
    for name in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
        if (folder / name).is_file():
            data = yaml.safe_load((folder / name).read_text()) or {}
            unknown = set(data) - KNOWN_KEYS
            if unknown:
                raise KustomizeError(f"{folder}: unsupported kustomization keys {sorted(unknown)}")
            if data.get("kind", "Kustomization") != "Kustomization":
                raise KustomizeError(f"{folder}: kind {data['kind']!r} is not a Kustomization")
            return data
    raise KustomizeError(f"{folder}: no kustomization.yaml")


def _inside(root: Path, path: Path, what: str) -> Path:
    """Kustomize's default load restriction: a file must lie inside the kustomization's folder."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise KustomizeError(f"{what} {path} lies outside {root} (Kustomize refuses it)")
    return resolved


def _api_group_version(doc: dict) -> tuple[str, str]:
    group, _, version = doc.get("apiVersion", "").rpartition("/")
    return group, version


def _matches(doc: dict, target: dict) -> bool:
    group, version = _api_group_version(doc)
    return (target.get("kind", doc.get("kind")) == doc.get("kind")
            and target.get("name", doc["metadata"].get("name")) == doc["metadata"].get("name")
            and target.get("group", group) == group and target.get("version", version) == version)


def _apply_patches(folder: Path, docs: list[dict], patches: list[dict]) -> None:
    for entry in patches:
        unknown = set(entry) - PATCH_KEYS
        if unknown or ("path" in entry) == ("patch" in entry):
            raise KustomizeError(f"{folder}: a patch needs exactly one of path/patch and only {sorted(PATCH_KEYS)}")
        target = entry.get("target") or {}
        if not target or set(target) - TARGET_KEYS:
            raise KustomizeError(f"{folder}: patch targets support only {sorted(TARGET_KEYS)}: {target}")
        text = (_inside(folder, folder / entry["path"], "patch").read_text() if "path" in entry else entry["patch"])
        ops = yaml.safe_load(text)
        if not isinstance(ops, list):
            raise KustomizeError(f"{folder}: only JSON6902 patches (a list of operations) are supported")
        patch = jsonpatch.JsonPatch(ops)
        hits = [i for i, d in enumerate(docs) if _matches(d, target)]
        if not hits:
            raise KustomizeError(f"{folder}: patch target {target} matches no resource")
        for i in hits:
            docs[i] = patch.apply(docs[i])


def _set_images(node, images: list[dict]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                for container in value:
                    _set_image(container, images)
            _set_images(value, images)
    elif isinstance(node, list):
        for item in node:
            _set_images(item, images)


def _set_image(container: dict, images: list[dict]) -> None:
    image = container.get("image", "")
    name, tag, digest = image, None, None
    if "@" in name:
        name, digest = name.split("@", 1)
    if ":" in name.rsplit("/", 1)[-1]:
        name, tag = name.rsplit(":", 1)
    for rule in images:
        if rule["name"] != name:
            continue
        name = rule.get("newName", name)
        if "digest" in rule:
            container["image"] = f"{name}@{rule['digest']}"
        elif "newTag" in rule:
            container["image"] = f"{name}:{rule['newTag']}"
        else:
            container["image"] = name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
        return


def render(folder: str | Path) -> list[dict]:
    """The documents `kubectl kustomize <folder>` would print, for the supported features."""
    folder = Path(folder)
    k = _kustomization(folder)
    docs: list[dict] = []
    for entry in k.get("resources", []):
        if "://" in entry or entry.startswith("git@"):
            raise KustomizeError(f"{folder}: remote resource {entry} not supported")
        path = folder / entry
        if path.is_dir():
            docs += render(path)
        elif path.is_file():
            _inside(folder, path, "resource")
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
        else:
            raise KustomizeError(f"{folder}: resource {entry} not found")
    docs = [copy.deepcopy(d) for d in docs]
    for d in docs:
        if not isinstance(d, dict) or not d.get("kind") or not d.get("metadata", {}).get("name"):
            raise KustomizeError(f"{folder}: a resource without kind or metadata.name: {d!r:.80}")
    _apply_patches(folder, docs, k.get("patches", []))
    if "namespace" in k:
        for d in docs:
            if d["kind"] not in CLUSTER_SCOPED:
                d["metadata"]["namespace"] = k["namespace"]
    for spec in k.get("labels", []):
        if set(spec) - LABEL_KEYS or spec.get("includeSelectors", False):
            raise KustomizeError(f"{folder}: labels support only pairs with includeSelectors: false")
        for d in docs:
            d["metadata"].setdefault("labels", {}).update(spec["pairs"])
    images = k.get("images", [])
    for rule in images:
        if set(rule) - IMAGE_KEYS or "name" not in rule:
            raise KustomizeError(f"{folder}: images support only {sorted(IMAGE_KEYS)}")
    if images:
        _set_images(docs, images)
    seen = set()
    for d in docs:
        key = (d["apiVersion"], d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"])
        if key in seen:
            raise KustomizeError(f"{folder}: duplicate resource {key}")
        seen.add(key)
    return docs
