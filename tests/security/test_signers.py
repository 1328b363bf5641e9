"""Issue 9, hole 1: storage keys are never taken from a client, and no signer can sign a key
outside the prefix of the item it signs for. This walks every place in the code base that signs
a URL, then checks the rule itself on the configured backend (local disk, or S3 in the
distributed pass)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [*sorted((ROOT / "core").rglob("*.py")), *sorted((ROOT / "plugins").rglob("*.py")),
           *sorted((ROOT / "examples").rglob("*.py"))]


def _signing_calls():
    for path in SOURCES:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "signed_url":
                yield path.relative_to(ROOT), node


def test_every_signer_passes_its_items_prefix():
    calls = list(_signing_calls())
    # covers, previews, downloads, HLS segments, post images: every signer the plugins have
    assert len(calls) >= 5, calls
    for path, node in calls:
        within = next((k.value for k in node.keywords if k.arg == "within"), None)
        assert within is not None, f"{path}:{node.lineno} signs a URL without within="
        assert not (isinstance(within, ast.Constant) and not str(within.value).strip("/")), \
            f"{path}:{node.lineno} signs within an empty prefix"
        # the prefix is computed from the item (its id), never a bare constant covering everything
        assert not isinstance(within, ast.Constant) or "/" in str(within.value).strip("/"), \
            f"{path}:{node.lineno} signs within a constant top-level prefix {within.value!r}"


def test_no_signer_reads_a_key_from_request_data():
    """The key a signer signs is derived by the server: no ``signed_url(<x>["key"] ...)`` on data
    that came from a row's client-editable ``data``."""
    for path, node in _signing_calls():
        key = node.args[0] if node.args else None
        text = ast.unparse(key) if key is not None else ""
        assert "['key']" not in text and '["key"]' not in text, f"{path}:{node.lineno} signs a stored key: {text}"


@pytest.mark.parametrize("key,within", [
    ("tracks/other/v1/original.wav", "tracks/mine/v1"),
    ("tracks/mine/v10/hls/a.ts", "tracks/mine/v1"),        # a sibling prefix is not inside
    ("quarantine/tracks/mine/v1/download.m4a", "tracks/mine/v1"),
    ("tracks/mine/v1/../../other/v1/original.wav", "tracks/mine/v1"),
    ("tracks/mine/v1/a.ts", ""),                           # an empty prefix signs nothing
    ("tracks/mine/v1/a.ts", "/"),
    ("tracks/mine/v1", "tracks/mine/v1"),                  # the prefix itself is not a file in it
])
def test_the_storage_refuses_keys_outside_the_prefix(mc_platform, key, within):
    from musicconnect.storage import StorageError

    with pytest.raises(StorageError):
        mc_platform.storage.signed_url(key, 60, within=within)


def test_the_storage_signs_keys_inside_the_prefix(mc_platform):
    url = mc_platform.storage.signed_url("tracks/mine/v1/hls/128k/seg0.ts", 60, within="tracks/mine/v1/")
    assert "seg0.ts" in url
