"""The CLI's structure: one command tree, and how its modules may import one another (no store needed)."""
from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest

from conftest import SRC

sys.path.insert(0, SRC)

from corral.cli import main  # noqa: E402
from corral.cli.parser import Command, Group  # noqa: E402

pytestmark = pytest.mark.unit

CLI = os.path.join(SRC, "corral", "cli")
# What every verb module may use; a verb module (any other but main) imports none of the others.
SHARED = {"parser", "shared", "fmt", "template", "limits"}


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
    assert ("shared", ["archive_to_stdout", "confirmed"]) in imports["image_cmds"]  # from corral.cli.shared import …
    assert any(mod == "fmt" for mod, _ in imports["container_cmds"])  # from corral.cli import fmt (in a function)


def test_no_import_circle_between_cli_modules():
    graph = {mod: {m for m, _ in edges} for mod, edges in _cli_imports().items()}
    assert _cycle(graph) == []


def test_verb_modules_import_only_the_shared_ones():
    """A helper two verb modules need goes to shared.py, so no verb module loads another."""
    for mod, edges in _cli_imports().items():
        if mod in SHARED or mod in ("main", "__init__"):
            continue
        assert {m for m, _ in edges} <= SHARED, mod


def test_no_private_name_crosses_a_cli_module():
    for mod, edges in _cli_imports().items():
        for target, names in edges:
            assert not [n for n in names if n.startswith("_")], f"{mod} imports private names of {target}"


# ---------------------------------------------------------------- the command tree


def test_the_table_imports_no_handler_module():
    """Handlers are named as strings: the table and the dispatcher import only the parser."""
    imports = _cli_imports()
    assert {m for m, _ in imports["main"]} == {"parser"}
    code = ("import sys; from corral.cli import main; main.main(['network', 'create', '--help']); "
            "print(sorted(m for m in sys.modules if m.startswith('corral')))")
    r = subprocess.run([sys.executable, "-IS", "-c", f"import sys; sys.path.insert(0, {SRC!r}); {code}"],
                       capture_output=True, text=True, check=True)
    assert r.stdout.splitlines()[-1] == str(["corral", "corral.cli", "corral.cli.main", "corral.cli.parser",
                                             "corral.errors"])


def test_every_name_finds_its_entry_and_every_handler_exists():
    import importlib

    for cmd in main.TABLE:
        for name in cmd.names:
            assert main.command(name) is cmd, name
        if isinstance(cmd, Group):
            assert cmd.subcommands, cmd.name
            continue
        module, func = cmd.handler.split(":")
        assert callable(getattr(importlib.import_module(f"corral.cli.{module}"), func)), cmd.handler


def test_aliases_are_one_entry():
    assert main.command("images") is main.command("image ls") is main.command("image list")
    assert main.command("rmi") is main.command("image rm")
    assert main.command("image-prune") is main.command("image prune")
    assert main.command("network ls") is main.command("network list")
    assert main.command("network rm") is main.command("network remove")
    assert main.command("image ls").name == "images"  # messages name the entry's first name
    with pytest.raises(KeyError):
        main.command("image nope")
    assert isinstance(main.command("image"), Group)


def test_a_management_form_and_its_aliases_are_one_entry():
    """The shape the later `container`/`image` forms take: `ps` = `container ls` = `container list`."""
    ps = Command("ps", "container_cmds:ps", "ps", "List containers.", also=("container ls", "container list"))
    rm = Command("container rm", "container_cmds:rm", "container rm", "Remove containers.", also=("rm",))
    group = Group("container", "container COMMAND", "Manage containers.")
    top = main.tree((ps, group, rm))
    assert top == {"ps": ps, "container": group, "rm": rm}
    assert group.subcommands == {"ls": ps, "list": ps, "rm": rm}
    assert main.find(["container", "list", "-a"], top) == (ps, ["-a"])
    assert main.find(["container", "-a"], top) == (group, ["-a"])
    assert main.find(["nope"], top) == (None, [])
    assert main.listing((ps, group, rm)) == [("ps", "List containers."), ("container", "Manage containers."),
                                                 ("rm", "Remove containers.")]
    assert str(group.unknown("x")) == "unknown container command 'x': use ls or rm"


def test_the_table_refuses_a_name_twice_or_without_its_group():
    group = Group("image", "image COMMAND", "Manage images.")
    with pytest.raises(ValueError, match="'image ls' is in the table twice"):
        main.tree((group, Command("images", "m:f", "", "", also=("image ls",)),
                       Command("image ls", "m:g", "", "")))
    with pytest.raises(ValueError, match="'image' is in the table twice"):
        main.tree((group, Command("image", "m:f", "", "")))
    with pytest.raises(ValueError, match="the table has no group 'volume'"):
        main.tree((group, Command("volume ls", "m:f", "", "")))
    with pytest.raises(ValueError, match="'image ls x'"):
        main.tree((group, Command("image ls x", "m:f", "", "")))


def test_a_subcommand_has_its_own_help_and_messages(capsys):
    assert main.main(["network", "create", "--help"]) == 0
    assert capsys.readouterr().out.startswith("Usage:  corral network create [OPTIONS] NAME\n\nCreate a switch.")
    assert main.main(["image", "ls", "--help"]) == 0
    assert capsys.readouterr().out.startswith("Usage:  corral images [OPTIONS] [REPOSITORY]")
    assert main.main(["image", "--help"]) == 0
    assert capsys.readouterr().out.startswith("Usage:  corral image bootstrap|ls|inspect|")
    assert main.main(["network", "create", "-h"]) == 0
    assert capsys.readouterr().out.startswith("Usage:  corral network create [OPTIONS] NAME\n")
    assert main.main(["network", "create", "--bogus"]) == 125  # docker 28: any flag error is 125
    assert capsys.readouterr().err == ("unknown flag: --bogus\n\nUsage:  corral network create [OPTIONS] NAME\n\n"
                                       "Run 'corral network create --help' for more information\n")
    assert main.main(["image", "inspect"]) == 1
    assert capsys.readouterr().err.startswith("corral: 'corral image inspect' requires at least 1 argument\n\n")
    assert main.main(["system", "check", "extra"]) == 1
    assert capsys.readouterr().err.startswith("corral: 'corral system check' accepts no arguments\n\nUsage:")


def test_a_group_without_a_known_subcommand_fails_as_before(capsys):
    assert main.main(["image"]) == 1
    assert capsys.readouterr().err.startswith("corral: 'corral image' requires at least 1 argument\n\nUsage:  corral")
    assert main.main(["network", "--bogus"]) == 125
    assert capsys.readouterr().err.startswith("unknown flag: --bogus\n\nUsage:  corral network create")
    assert main.main(["system", "nope"]) == 1
    assert capsys.readouterr().err == "Error: unknown system command 'nope': use check, df, events, info, prune or restore\n"
    assert main.main(["network", "nope"]) == 1
    assert capsys.readouterr().err == ("Error: unknown network command 'nope': use connect, create, disconnect, "
                                       "inspect, ls, prune or rm\n")
    assert main.main(["nope"]) == 1
    assert capsys.readouterr().err == "corral: 'nope' is not a corral command.\nSee 'corral --help'\n"


def test_the_top_level_help_lists_commands_and_groups_not_subcommands(capsys):
    assert main.main(["--help"]) == 0
    commands_part = capsys.readouterr().out.split("Commands:\n")[1].split("\n\n")[0]
    listed = [line.split()[0] for line in commands_part.splitlines()]
    assert listed[:3] == ["run", "create", "start"] and listed[-3:] == ["port", "serve", "version"]
    assert {"image", "network", "system", "volume", "images", "rmi", "image-prune"} <= set(listed)
    assert len(listed) == len(set(listed)) == 48  # 40, events, pull, push, login, logout, serve, pod and kube
