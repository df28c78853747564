"""Terminal sessions driven through a real terminal: tmux runs a shell, the test types into it.

Each test gets a private tmux server (its own socket), so nothing is shared
with a user's tmux or with other tests; the server is killed afterwards,
which also closes every terminal the test opened.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import time

import pytest

from conftest import CORRAL


class Terminal:
    """One tmux window running sh, with corral's environment, at a known size."""

    def __init__(self, cli, socket: str) -> None:  # noqa: ANN001
        self.cli, self.socket = cli, socket
        env = " ".join(f"{k}={shlex.quote(cli.env[k])}" for k in ("CORRAL_ROOT", "PYTHONPATH", "PATH"))
        self.tmux("new-session", "-d", "-s", "t", "-x", "100", "-y", "30", f"env -i {env} TERM=xterm PS1='$ ' sh")
        self.corral = " ".join(shlex.quote(a) for a in CORRAL)

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, check=True,
                              timeout=10).stdout.decode()

    def type(self, text: str, enter: bool = True) -> None:
        self.tmux("send-keys", "-t", "t", "-l", text)
        if enter:
            self.tmux("send-keys", "-t", "t", "Enter")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "t", *keys)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "t", "-S", "-200")

    def wait_for(self, text: str, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared; the terminal shows:\n{screen}")
            time.sleep(0.05)

    def run_corral(self, args: str) -> None:
        """Start corral from the shell, with the shell's terminal settings saved before and after."""
        self.type(f"stty -g > stty.before; {self.corral} {args}; echo EX''IT=$?; stty -g > stty.after")


@pytest.fixture
def term(busybox, tmp_path):
    socket = f"corral-test-{os.getpid()}-{time.monotonic_ns()}"
    t = Terminal(busybox, socket)
    t.type(f"cd {shlex.quote(str(tmp_path))}")
    t.tmp = tmp_path
    yield t
    subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, timeout=10)


def _settings_restored(t: Terminal) -> bool:
    t.wait_for("EXIT=")
    deadline = time.monotonic() + 5
    while not (t.tmp / "stty.after").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return (t.tmp / "stty.before").read_text() == (t.tmp / "stty.after").read_text()


def test_run_it_size_resize_ctrl_c_and_exit_code(term, busybox):
    term.run_corral("run -it --rm --name tty1 busybox sh")
    term.wait_for("/ #")
    term.type("stty size; tty; echo pid=$$")
    screen = term.wait_for("pid=1")
    assert "30 100" in screen and "/dev/pts/0" in screen
    term.tmux("resize-window", "-t", "t", "-x", "80", "-y", "20")
    time.sleep(0.3)
    term.type("stty size")
    term.wait_for("20 80")
    term.type("sleep 100")
    time.sleep(0.5)
    term.keys("C-c")
    term.type("echo slept=$?")
    term.wait_for("slept=130")  # Ctrl-C reached sleep inside, and the shell lives on
    term.type("sleep 200")
    time.sleep(0.5)
    term.keys("C-z")  # job control is the container shell's: sleep stops, corral does not
    term.wait_for("Stopped")
    term.type("kill -9 %1")
    term.type("jobs")  # ash reports the job's end here, then lets the shell exit
    term.wait_for("Killed")
    term.type("exit 3")
    assert "EXIT=3" in term.wait_for("EXIT=")
    assert _settings_restored(term)
    assert busybox.out("ps", "-aq") == ""  # --rm


def test_detach_and_reattach(term, busybox):
    term.run_corral("run -it --name tty2 busybox sh")
    term.wait_for("/ #")
    term.type("echo one > /mark")
    term.keys("C-p", "C-q")
    assert "EXIT=0" in term.wait_for("EXIT=")
    assert _settings_restored(term)
    assert b'"Status": "running"' in busybox("inspect", "tty2").stdout
    assert busybox.out("exec", "tty2", "cat", "/mark") == "one\n"
    os.remove(term.tmp / "stty.after")
    term.type("clear")
    term.run_corral("attach --detach-keys ctrl-x,x tty2")
    time.sleep(0.5)
    term.type("echo again-$((40+2))")
    term.wait_for("again-42")
    term.keys("C-x", "x")
    term.wait_for("EXIT=0")
    assert b'"Status": "running"' in busybox("inspect", "tty2").stdout
    term.type("clear")
    term.run_corral("start -ai tty2")  # already running: Docker's error
    assert "EXIT=1" in term.wait_for("EXIT=")
    busybox.out("rm", "-f", "tty2")


def test_exec_it_has_its_own_terminal(term, busybox):
    busybox.out("run", "-d", "--name", "tty3", "--network", "none", "busybox", "sleep", "300")
    term.run_corral("exec -it tty3 sh")
    term.wait_for("/ #")
    term.type("tty; stty size; echo pid=$$; echo DO''NE")
    screen = term.wait_for("DONE")
    assert "/dev/pts/0" in screen and "30 100" in screen and "pid=1\n" not in screen
    term.type("exit 5")
    assert "EXIT=5" in term.wait_for("EXIT=")
    assert _settings_restored(term)
    assert b'"Status": "running"' in busybox("inspect", "tty3").stdout


def test_closing_the_terminal_ends_an_rm_session(term, busybox):
    term.run_corral("run -it --rm --name tty4 busybox sh")
    term.wait_for("/ #")
    assert busybox.out("ps", "-q") != ""
    subprocess.run(["tmux", "-L", term.socket, "kill-server"], capture_output=True, timeout=10)
    deadline = time.monotonic() + 15
    while busybox.out("ps", "-aq") != "":
        assert time.monotonic() < deadline, "the container outlived its closed terminal"
        time.sleep(0.1)


def test_logs_of_a_terminal_session(term, busybox):
    term.run_corral("run -it --name tty5 busybox sh")
    term.wait_for("/ #")
    term.type("echo logged-line; exit")
    term.wait_for("EXIT=0")
    assert "logged-line" in busybox.out("logs", "tty5")
