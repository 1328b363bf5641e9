"""docs/plugins.md is checked against the code it describes (as Datasette checks its plugin hook
docs): every hook's documented signature is the spec's, every `@hookimpl` in its examples is a
real hook with arguments the spec has, its examples import only the public API, and every
`musicconnect ...` command it shows exists. The docs and README promise no file the tree lacks."""
from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from musicconnect import hookspecs
from musicconnect.plugins import spec_names

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "plugins.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)


def code_blocks(text: str, lang: str) -> list[str]:
    return [m.group(2) for m in FENCE.finditer(text) if m.group(1) == lang]


def documented_signatures(text: str) -> dict[str, list[list[str]]]:
    """Hook name -> the argument lists the "Hook reference" tables give it (first cell of a row)."""
    ref = text[text.index("## Hook reference"):]
    out: dict[str, list[list[str]]] = {}
    for m in re.finditer(r"^\| `(\w+)\(([^)]*)\)` \|", ref, re.M):
        out.setdefault(m.group(1), []).append([a.strip() for a in m.group(2).split(",") if a.strip()])
    return out


def spec_args(name: str) -> list[str]:
    return list(inspect.signature(getattr(hookspecs, name)).parameters)


def test_every_hook_is_in_the_reference_once_with_the_spec_signature():
    documented = documented_signatures(DOC.read_text())
    assert sorted(documented) == sorted(spec_names()), (
        f"hook reference vs hookspecs: only documented {sorted(set(documented) - spec_names())}, "
        f"undocumented {sorted(spec_names() - set(documented))}")
    for name, sigs in documented.items():
        assert len(sigs) == 1, f"{name} is in the hook reference {len(sigs)} times"
        assert sigs[0] == spec_args(name), f"docs: {name}({', '.join(sigs[0])}), spec: {name}({', '.join(spec_args(name))})"


def test_the_signature_parser_sees_a_wrong_signature():
    text = "## Hook reference\n| `check_access(platform, actor, resource)` | x | y |\n"
    assert documented_signatures(text) == {"check_access": [["platform", "actor", "resource"]]}
    assert documented_signatures(text)["check_access"][0] != spec_args("check_access")


def hookimpls(source: str) -> list[tuple[str, list[str]]]:
    """``(function name, argument names)`` of every ``@hookimpl`` function in a code block."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
                (d.func if isinstance(d, ast.Call) else d).id == "hookimpl" for d in node.decorator_list
                if isinstance(d.func if isinstance(d, ast.Call) else d, ast.Name)):
            out.append((node.name, [a.arg for a in node.args.args]))
    return out


def test_every_example_hookimpl_is_a_hook_with_arguments_the_spec_has():
    blocks = code_blocks(DOC.read_text(), "python")
    seen = [impl for block in blocks for impl in hookimpls(block)]
    assert len(seen) >= 10  # the page shows hooks: an empty parse would hide every mistake
    for name, args in seen:
        assert name in spec_names(), f"docs/plugins.md implements {name}, which is no hook"
        extra = set(args) - set(spec_args(name))
        assert not extra, f"docs/plugins.md: {name} takes {sorted(extra)}, which the spec does not pass"


def test_every_example_parses_and_imports_only_the_public_api(tmp_path):
    from test_public_api import core_imports

    for i, block in enumerate(code_blocks(DOC.read_text(), "python")):
        path = tmp_path / f"block{i}.py"
        path.write_text(block)
        bad = core_imports(path)  # parses the block: a syntax error fails here
        assert not bad, f"docs/plugins.md example {i} imports non-public core names: {bad}\n{block}"


def cli_lines(text: str) -> list[list[str]]:
    out = []
    for block in code_blocks(text, ""):
        for line in block.splitlines():
            words = line.split("#")[0].split()
            while words and re.match(r"^[A-Z_]+=", words[0]):
                words = words[1:]  # MC_PLUGINS=... musicconnect serve
            if words[:1] == ["musicconnect"]:
                out.append(words[1:])
    return out


def command_error(words: list[str]) -> str | None:
    """Why ``musicconnect <words>`` is no command of the CLI (or one of its options), or None."""
    import typer

    from musicconnect_cli.main import app

    root = cmd = typer.main.get_command(app)
    plugin_groups = {"guestbook", "hello"}  # added by plugins at run time (register_commands)
    for w in words:
        if w.startswith("-") or not hasattr(cmd, "commands"):
            if w.startswith("--"):
                opts = {o for p in cmd.params for o in getattr(p, "opts", [])}
                if w.split("=")[0] not in opts:
                    return f"{cmd.name} has no option {w}"
            continue
        if w in plugin_groups and cmd is root:
            return None
        cmd = cmd.get_command(None, w)
        if cmd is None:
            return f"no command {w!r}"
    return None


def test_every_command_the_page_shows_exists():
    lines = cli_lines(DOC.read_text())
    assert len(lines) >= 10
    for words in lines:
        error = command_error(words)
        assert error is None, f"docs/plugins.md shows `musicconnect {' '.join(words)}`: {error}"


def test_the_command_check_sees_a_wrong_command():
    assert command_error(["plugins", "new", "x", "--dir", "y"]) is None
    assert command_error(["plugins", "nwe", "x"]) == "no command 'nwe'"
    assert command_error(["plugins", "install", "--edit", "."]) == "install has no option --edit"


PROMISES = re.compile(r"(?<![\w/.<])((?:scripts|plugins|examples|docs|tests|bench|core|cli)/[\w.\-/]*\w)")


@pytest.mark.parametrize("doc", ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))])
def test_paths_the_docs_name_exist(doc):
    """A path the docs name (scripts/dev.py, plugins/ai, a linked file) must be in the tree."""
    text = (ROOT / doc).read_text()
    base = (ROOT / doc).parent
    missing = []
    for m in re.finditer(r"\]\(([^)#\s]+)[^)]*\)", text):  # markdown links
        target = m.group(1)
        if "://" not in target and not target.startswith("mailto:") and not (base / target).exists():
            missing.append(target)
    for m in PROMISES.finditer(text):
        path = m.group(1)
        if not (ROOT / path).exists() and not (base / path).exists():
            missing.append(path)
    assert not missing, f"{doc} names what the tree lacks: {sorted(set(missing))}"
