"""One authoritative public API: ``musicconnect.PUBLIC_MODULES`` and each public module's
``__all__``. docs/plugins.md shows the same lists (between ``<!-- public-api: ... -->`` markers)
and every plugin of this repository, the example and the ``plugins new`` scaffold import nothing
else from the core."""
from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

import musicconnect

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "plugins.md"
BLOCK = re.compile(r"<!-- public-api: (?P<what>[\w.]+) -->(?P<body>.*?)<!-- /public-api -->", re.S)
PLUGIN_PACKAGES = sorted(p for p in (ROOT / "plugins").glob("*/musicconnect_*") if (p / "__init__.py").exists()) + \
    sorted(p for p in (ROOT / "examples").glob("*/musicconnect_*") if (p / "__init__.py").exists())


def doc_blocks(text: str) -> dict[str, list[str]]:
    """``{"modules": [...], "<module>": [...]}``: the backticked identifiers of each marked block."""
    out: dict[str, list[str]] = {}
    for m in BLOCK.finditer(text):
        assert m["what"] not in out, f"docs/plugins.md has two public-api blocks for {m['what']}"
        if m["what"] == "modules":  # a table: | `module` | what it holds |
            names = re.findall(r"^\| `([\w.]+)` \|", m["body"], re.M)
        else:
            names = re.findall(r"`([A-Za-z_][\w.]*)`", m["body"])
        out[m["what"]] = names
    return out


def modules_with_all() -> dict[str, list[str]]:
    return {name: list(mod.__all__) for name in musicconnect.PUBLIC_MODULES
            if hasattr(mod := importlib.import_module(name), "__all__")}


def test_public_modules_import_and_export_what_they_list():
    for name in musicconnect.PUBLIC_MODULES:
        mod = importlib.import_module(name)
        missing = [n for n in getattr(mod, "__all__", ()) if not hasattr(mod, n)]
        assert not missing, f"{name}.__all__ lists names it does not have: {missing}"
    assert len(set(musicconnect.__all__)) == len(musicconnect.__all__)


def test_docs_show_exactly_the_authoritative_lists():
    blocks = doc_blocks(DOC.read_text())
    assert "modules" in blocks, "docs/plugins.md lacks the <!-- public-api: modules --> block"
    documented = blocks.pop("modules")
    assert sorted(documented) == sorted(musicconnect.PUBLIC_MODULES), (
        "docs/plugins.md lists other public modules than musicconnect.PUBLIC_MODULES: "
        f"only in docs {sorted(set(documented) - set(musicconnect.PUBLIC_MODULES))}, "
        f"only in code {sorted(set(musicconnect.PUBLIC_MODULES) - set(documented))}")
    code = modules_with_all()
    assert sorted(blocks) == sorted(code), "a public module with __all__ needs a <!-- public-api: module --> block"
    for module, names in code.items():
        assert sorted(blocks[module]) == sorted(names), (
            f"docs/plugins.md and {module}.__all__ disagree: only in docs {sorted(set(blocks[module]) - set(names))}, "
            f"only in code {sorted(set(names) - set(blocks[module]))}")


def test_doc_block_parser_sees_a_disagreement():
    text = ("<!-- public-api: modules -->\n| `musicconnect` | the names, see `musicconnect.web` |\n"
            "| `musicconnect.web` | routes |\n<!-- /public-api -->\n"
            "<!-- public-api: musicconnect -->`Problem` and `hookimpl`<!-- /public-api -->")
    assert doc_blocks(text) == {"modules": ["musicconnect", "musicconnect.web"], "musicconnect": ["Problem", "hookimpl"]}
    assert sorted(doc_blocks(text)["musicconnect"]) != sorted(musicconnect.__all__)


def core_imports(path: Path) -> list[tuple[int, str]]:
    """Every core module or name that ``path`` imports which is not public: ``[(line, what)]``."""
    public = set(musicconnect.PUBLIC_MODULES)
    exported = modules_with_all()
    bad = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            bad += [(node.lineno, a.name) for a in node.names
                    if a.name.split(".")[0] == "musicconnect" and a.name not in public]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.split(".")[0] == "musicconnect":
            if node.module not in public:
                bad.append((node.lineno, node.module))
                continue
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                if a.name.startswith("_"):
                    bad.append((node.lineno, sub))
                elif sub in public or a.name == "*":
                    continue  # `from musicconnect import web`
                elif node.module in exported and a.name not in exported[node.module]:
                    bad.append((node.lineno, sub))  # e.g. `from musicconnect import migrate`
    return bad


def test_the_import_check_catches_private_modules_and_names(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("import musicconnect.web\nfrom musicconnect import Problem, migrate\nfrom musicconnect.web import scope, "
                 "_client_ip\nfrom musicconnect.access import denial\nimport musicconnect.plugins\n"
                 "from musicconnect.web import get_platform, notathing\n")
    assert [w for _, w in core_imports(f)] == ["musicconnect.migrate", "musicconnect.web._client_ip",
                                               "musicconnect.access", "musicconnect.plugins",
                                               "musicconnect.web.notathing"]


@pytest.mark.parametrize("package", PLUGIN_PACKAGES, ids=lambda p: p.parent.name)
def test_plugins_and_the_example_import_only_public_names(package):
    bad = [f"{path.relative_to(ROOT)}:{line} {what}" for path in sorted(package.rglob("*.py"))
           for line, what in core_imports(path)]
    assert not bad, "not the core's public API (musicconnect.PUBLIC_MODULES / __all__): " + ", ".join(bad)


def test_the_plugins_new_scaffold_imports_only_public_names(tmp_path):
    from musicconnect_cli.authoring import scaffold

    project = scaffold("kitcheck", tmp_path)
    files = sorted(project.rglob("*.py"))
    assert len(files) >= 6
    bad = [f"{path.relative_to(project)}:{line} {what}" for path in files for line, what in core_imports(path)]
    assert not bad, "the scaffold imports non-public core names: " + ", ".join(bad)
