"""The CLI's own logic: option parsing (pure), help, and what the run path imports."""
from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import SRC

sys.path.insert(0, SRC)

from corral.cli.main import command  # noqa: E402
from corral.cli.parser import parse  # noqa: E402
from corral.errors import InvalidArgument  # noqa: E402


def test_run_flags_stop_at_the_image():
    opts, args = parse(command("run"), ["-it", "--rm", "-e", "A=1", "-eB=2", "--name=x", "img", "sh", "-c", "ls -l"])
    assert opts["interactive"] and opts["tty"] and opts["rm"] and opts["name"] == "x"
    assert opts["env"] == ["A=1", "B=2"]
    assert args == ["img", "sh", "-c", "ls -l"]


def test_interspersed_and_errors():
    opts, args = parse(command("rm"), ["a", "-f", "b"])
    assert opts["force"] and args == ["a", "b"]
    with pytest.raises(InvalidArgument, match="unknown flag: --nope"):
        parse(command("rm"), ["--nope", "a"])
    with pytest.raises(InvalidArgument, match="requires at least 1 argument"):
        parse(command("rm"), [])
    with pytest.raises(InvalidArgument, match="flag needs an argument"):
        parse(command("stop"), ["-t"])
    opts, _ = parse(command("run"), ["--rm=false", "img"])
    assert opts["rm"] is False


def test_help_and_lean_imports():
    code = ("import sys; sys.argv=['corral','--help']; from corral.cli import main; main.main(['--help']); "
            "print(sorted(m for m in sys.modules if m.startswith('corral.')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, env={"PYTHONPATH": SRC}, check=True)
    assert b"Usage:  corral" in r.stdout
    assert b"corral.api" not in r.stdout and b"corral.runtime" not in r.stdout
    code = ("import sys; import corral.cli.container_cmds; print([m for m in ('json', 'dataclasses', 're', "
            "'functools', 'collections', 'corral.server', 'corral.registry') if m in sys.modules])")
    r = subprocess.run([sys.executable, "-IS", "-c", f"import sys; sys.path.insert(0, {SRC!r}); {code}"],
                       capture_output=True, check=True)
    assert r.stdout == b"[]\n"


def test_save_and_load_do_not_import_the_registry_client():
    """save and load import registry/layout to tell an `oci:` name; httpx comes only with a registry or layout read."""
    code = ("import sys; import corral.api.host, corral.registry.layout; "
            "print([m for m in ('httpx', 'corral.registry.client') if m in sys.modules])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, env={"PYTHONPATH": SRC}, check=True)
    assert r.stdout == b"[]\n"


def test_the_store_db_without_functools_leaves_the_real_one_importable():
    """store/db.py initialises _sqlite3 with a stand-in functools; nothing may see it afterwards."""
    code = ("import sys; from corral.store import db; assert 'functools' not in sys.modules; "
            "c = db.connect(':memory:'); c.execute('CREATE TABLE t(x)'); "
            "[c.execute('INSERT INTO t VALUES(?)', (i,)) for i in range(300)]; "  # beyond the 128-statement cache
            "[c.execute(f'SELECT count(*) FROM t WHERE x < {i}').fetchall() for i in range(300)]; "
            "print(c.execute('SELECT count(*), sum(x) FROM t').fetchone()); "
            "import functools; print(functools.reduce(int.__add__, [1, 2]), functools.__file__.endswith('.py'))")
    r = subprocess.run([sys.executable, "-IS", "-c", f"import sys; sys.path.insert(0, {SRC!r}); {code}"],
                       capture_output=True, check=True)
    assert r.stdout == b"(300, 44850)\n3 True\n"


def test_installed_command_runs_a_container(busybox):
    """The README's path: the `corral` command that setup.sh installs."""
    r = subprocess.run(["corral", "run", "--rm", "busybox", "echo", "hello"], capture_output=True, env=busybox.env)
    assert r.stdout == b"hello\n", r.stderr


def test_key_value_flags(monkeypatch):
    from corral.cli.parser import key_values

    monkeypatch.setenv("FROM_ENV", "yes")
    assert key_values(["A=1", "B=", "FROM_ENV"], "--build-arg", from_env=True) == {"A": "1", "B": "", "FROM_ENV": "yes"}
    assert key_values(["FROM_ENV", "k=v=w"], "--label") == {"FROM_ENV": "", "k": "v=w"}  # docker: a bare label is empty
    with pytest.raises(InvalidArgument, match="invalid --opt '=x'"):
        key_values(["=x"], "--opt")


def test_management_forms_reach_the_same_commands(busybox):
    """`image ls`, `image inspect`, `image rm` are the entries of `images`, `inspect --type image`, `rmi`."""
    assert busybox.out("image", "ls", "-q", "busybox") == busybox.out("images", "-q", "busybox") != ""
    assert busybox.out("image", "list", "--no-trunc", "-f", "reference=busy*") == \
        busybox.out("images", "--no-trunc", "-f", "reference=busy*")
    assert busybox.out("image", "inspect", "busybox") == busybox.out("inspect", "--type", "image", "busybox")
    busybox.out("image", "tag", "busybox", "second:1")
    assert busybox.out("image", "rm", "second:1") == "Untagged: second:1\n"
    r = busybox("image", "inspect", "busybox", "nosuch")
    assert r.returncode == 1 and r.stderr == b"Error: No such image: nosuch\n"
    assert busybox.out("system", "check").startswith("store at ")


@pytest.mark.unit
@pytest.mark.parametrize("raised, said", [
    (ValueError("boom"), "Error: unexpected ValueError: boom (a defect in corral: rerun with --debug for its "
                         "traceback and report it)"),
    (OSError(28, "No space left on device", "/store/tmp/x"),
     "Error: the disk is full (/store/tmp/x): free some space and run the command again"),
    (OSError(13, "Permission denied", "/etc/x"), "Error: Permission denied (/etc/x); rerun with --debug for where "
                                                  "it happened"),
])
def test_an_error_no_verb_expected_is_one_line_and_the_trace_comes_with_debug(monkeypatch, capsys, raised, said):
    from corral.cli import container_cmds, main

    def fail(opts, args):  # noqa: ANN001, ANN202
        raise raised

    monkeypatch.setattr(container_cmds, "ps", fail)
    monkeypatch.setattr(main, "DEBUG", [False])  # -D sets it: this list goes with the test
    monkeypatch.setattr("corral.cli.parser.DEBUG", main.DEBUG)
    assert main.main(["ps"]) == 1
    assert capsys.readouterr().err == said + "\n"
    assert main.main(["-D", "ps"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and err.endswith(said + "\n")
