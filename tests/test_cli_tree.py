"""The CLI's structure: how its modules may import one another (read from the source, no store needed)."""
from __future__ import annotations

import ast
import os

from conftest import SRC

CLI = os.path.join(SRC, "corral", "cli")


def _cli_imports() -> dict[str, list[tuple[str, list[str]]]]:
    """For each module of corral.cli, the corral.cli modules it imports (anywhere in it) and the names taken."""
    found: dict[str, list[tuple[str, list[str]]]] = {}
    for fname in sorted(os.listdir(CLI)):
        if not fname.endswith(".py"):
            continue
        with open(os.path.join(CLI, fname)) as f:
            tree = ast.parse(f.read(), fname)
        edges = found.setdefault(fname[:-3], [])
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "corral.cli":
                edges += [(a.name, []) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("corral.cli."):
                edges.append((node.module.split(".")[2], [a.name for a in node.names]))
            elif isinstance(node, ast.Import):
                edges += [(a.name.split(".")[2], []) for a in node.names if a.name.startswith("corral.cli.")]
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle of the graph, or []."""
    state: dict[str, int] = {}  # 1 on the path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_the_cycle_finder_finds_a_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"b"}}) == []


def test_the_import_scan_sees_every_form():
    imports = _cli_imports()
    assert ("shared", ["attached", "stdin_of"]) in imports["exec_cmds"]  # from corral.cli.shared import …
    assert any(mod == "fmt" for mod, _ in imports["container_cmds"])  # from corral.cli import fmt (in a function)


def test_no_import_circle_between_cli_modules():
    graph = {mod: {m for m, _ in edges} for mod, edges in _cli_imports().items()}
    assert _cycle(graph) == []


def test_no_private_name_crosses_a_cli_module():
    for mod, edges in _cli_imports().items():
        for target, names in edges:
            assert not [n for n in names if n.startswith("_")], f"{mod} imports private names of {target}"
