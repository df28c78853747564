"""Rules of the layering (docs: ARCHITECTURE.md), checked on the source, so breaking one fails here
and not in a review: the runtime imports nothing above it, the monitor's modules import no circle,
and the answer format ("<exit code>:<kind>:<message>") is written in one place.

Imports are read from the syntax tree, lazy ones inside functions and TYPE_CHECKING blocks
included: a lazy import is still a dependency, only a cheaper one.
"""
from __future__ import annotations

import ast
import os
import re

import pytest

from corral.errors import (APIError, CommandNotExecutable, CommandNotFound, Conflict, CorralError, ImageNotFound,
                           InvalidArgument, NotFound, StoreError, UnexpectedArgument, from_answer)

pytestmark = pytest.mark.unit

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
PACKAGE = os.path.join(SRC, "corral")

ABOVE_RUNTIME = ("corral.api", "corral.build", "corral.builder", "corral.cli", "corral.image", "corral.kube",
                 "corral.monitor", "corral.network", "corral.registry", "corral.server")
"""Every layer above runtime/ in ARCHITECTURE.md (build/ is builder/ before its rename)."""


def module_name(path: str) -> str:
    rel = os.path.relpath(path, SRC)[:-len(".py")].split(os.sep)
    return ".".join(rel[:-1] if rel[-1] == "__init__" else rel)


def modules_under(package_dir: str) -> dict[str, str]:
    """{module name: path} of every module in package_dir and its subpackages."""
    found = {}
    for d, _, files in os.walk(package_dir):
        for f in files:
            if f.endswith(".py"):
                found[module_name(os.path.join(d, f))] = os.path.join(d, f)
    return found


def _is_module(name: str) -> bool:
    base = os.path.join(SRC, *name.split("."))
    return os.path.isfile(base + ".py") or os.path.isfile(os.path.join(base, "__init__.py"))


def _nodes(tree: ast.AST, typing_too: bool):  # noqa: ANN202 - Iterator[ast.AST]
    """ast.walk, leaving out `if TYPE_CHECKING:` blocks unless typing_too."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if not typing_too and isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))


def imports_of(source: str, name: str, is_package: bool = False, typing_too: bool = True) -> set[str]:
    """The corral modules that module `name` imports anywhere in `source` (with typing_too=False, not
    counting imports for type checkers only); `from P import m` counts as P.m when that is a module,
    as P otherwise."""
    found = set()
    for node in _nodes(ast.parse(source), typing_too):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".")
                anchor = parts if is_package else parts[:-1]
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if _is_module(sub) else base)
    return {m for m in found if m == "corral" or m.startswith("corral.")}


def imports_of_file(path: str, typing_too: bool = True) -> set[str]:
    with open(path) as f:
        return imports_of(f.read(), module_name(path), path.endswith("__init__.py"), typing_too)


def forbidden(imported: set[str], layers: tuple[str, ...]) -> set[str]:
    return {m for m in imported if any(m == layer or m.startswith(layer + ".") for layer in layers)}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle in graph (module -> modules it imports), each as the path around it."""
    found, done = [], set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            found.append(path[path.index(node):] + [node])
            return
        if node in done:
            return
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, path + [node])
        done.add(node)

    for node in sorted(graph):
        visit(node, [])
    return found


def test_the_import_reader_sees_lazy_and_relative_imports():
    """The checks below are only as good as this reader: it must see what hides in functions."""
    source = ("from corral.runtime import cgroups\n"
              "def f():\n    from corral.network import endpoint\n"
              "if False:\n    import corral.api.host\n"
              "from corral import monitor\n"
              "from . import console\n"
              "from ..monitor.wire import frame\n")
    found = imports_of(source, "corral.runtime.start")
    assert found == {"corral.runtime.cgroups", "corral.network.endpoint", "corral.api.host", "corral.monitor",
                     "corral.runtime.console", "corral.monitor.wire"}
    assert forbidden(found, ABOVE_RUNTIME) == {"corral.network.endpoint", "corral.api.host", "corral.monitor",
                                               "corral.monitor.wire"}
    assert imports_of(source, "corral.runtime.start", typing_too=False) == found
    typing_only = ("TYPE_CHECKING = False\nif TYPE_CHECKING:\n    from corral.api.host import Host\n"
                   "else:\n    import corral.errors\n")
    assert imports_of(typing_only, "corral.api.image", typing_too=False) == {"corral.errors"}
    assert imports_of(typing_only, "corral.api.image") == {"corral.api.host", "corral.errors"}
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "d": {"a", "c"}}) == []


def test_runtime_imports_nothing_above_it():
    """runtime/ is a pure OCI runtime: wiring to networks and volumes is the monitor's, use-cases the API's."""
    modules = modules_under(os.path.join(PACKAGE, "runtime"))
    assert {"corral.runtime.start", "corral.runtime.init", "corral.runtime.exec"} <= modules.keys()
    offenders = {name: sorted(bad) for name, path in sorted(modules.items())
                 if (bad := forbidden(imports_of_file(path), ABOVE_RUNTIME))}
    assert offenders == {}


def test_no_module_imports_a_circle_but_for_type_checkers():
    """A circle makes the order of imports matter and the layers meaningless; the API's objects may name
    one another's types (Host and Container), in TYPE_CHECKING blocks that never run."""
    modules = modules_under(PACKAGE)
    graph = {name: {m for m in imports_of_file(path, typing_too=False) if m in modules and m != name}
             for name, path in modules.items()}
    assert cycles(graph) == []
    typing_graph = {name: {m for m in imports_of_file(path) if m in modules and m != name}
                    for name, path in modules.items()}
    assert cycles(typing_graph) != [], "the reader sees the API's typing-only circles (else it sees nothing)"


def test_monitor_client_and_wire_import_no_circle():
    """The client (what `corral exec` loads) and the monitor share wire.py; neither needs the other for it."""
    modules = modules_under(os.path.join(PACKAGE, "monitor"))
    assert {"corral.monitor.monitor", "corral.monitor.client", "corral.monitor.wire"} <= modules.keys()
    graph = {name: {m for m in imports_of_file(path) if m in modules} for name, path in modules.items()}
    assert "corral.monitor.wire" in graph["corral.monitor.client"]  # the reader resolved the package's imports
    assert cycles(graph) == []
    assert graph["corral.monitor.wire"] == set()
    assert "corral.monitor.client" not in graph["corral.monitor.monitor"]


def _answer_writers(path: str) -> list[str]:
    """Places in the file that write "<exit code>:..." themselves: a literal that starts with a code,
    or an f-string that starts with a code-like value followed by ':'."""
    with open(path) as f:
        tree = ast.parse(f.read())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
            text = node.value.encode() if isinstance(node.value, str) else node.value
            if re.match(rb"\d{3}:", text):
                found.append(f"{path}:{node.lineno}: {node.value!r}")
        elif isinstance(node, ast.JoinedStr) and len(node.values) > 1:
            first, second = node.values[0], node.values[1]
            if (isinstance(first, ast.FormattedValue) and "code" in ast.unparse(first.value)
                    and isinstance(second, ast.Constant) and str(second.value).startswith(":")):
                found.append(f"{path}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_the_answer_format_has_one_writer():
    """errors.to_answer writes it; the monitor's answers (monitor/wire.py) and the reports of a failed
    init or exec (runtime/init.py) go through it, so the reader (from_answer) knows every one."""
    errors_py = os.path.join(PACKAGE, "errors.py")
    writers = [w for path in modules_under(PACKAGE).values() for w in _answer_writers(path)]
    assert len([w for w in writers if w.startswith(errors_py)]) == 1  # to_answer: the check sees it
    assert [w for w in writers if not w.startswith(errors_py)] == []


def test_answers_carry_the_error_across():
    """A script that catches NotFound or Conflict from the monitor still can; an unknown kind and a
    bare "<code>:<message>" (a monitor of an older corral) read as the engine's error (APIError) with that code;
    a kind the other side does not know travels as its nearest known ancestor."""
    from corral.monitor import wire

    for cls in (CorralError, APIError, NotFound, ImageNotFound, Conflict, InvalidArgument, StoreError,
                CommandNotFound, CommandNotExecutable):
        line = wire.answer(cls("a: message: with colons"))
        assert line.endswith(b"\n") and not line.startswith(wire.OK)
        error = wire.answer_error(line[:-1])
        assert (type(error), str(error), error.exit_code) == (cls, "a: message: with colons", cls.exit_code)
    assert type(from_answer("127:exec: x")) is CommandNotFound
    assert (type(from_answer("125:Strange:x")), str(from_answer("125:Strange:x"))) == (APIError, "Strange:x")
    assert type(wire.answer_error(wire.answer(UnexpectedArgument("x"))[:-1])) is InvalidArgument
    assert str(wire.answer_error(b"garbage")) == "the store's monitor answered 'garbage'"


def test_a_failed_init_reports_the_error_to_raise():
    """init.fail runs in the forked child: what it writes is what the runtime raises, and its exit code."""
    from corral.runtime import init

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        init.fail(w, 127, 'exec: "nope": executable file not found in $PATH')
    os.close(w)
    with os.fdopen(r, "rb") as f:
        report = f.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 127
    error = from_answer(report.decode())
    assert (type(error), str(error)) == (CommandNotFound, 'exec: "nope": executable file not found in $PATH')
