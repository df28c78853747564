"""The syscall interface, its real object and its recording fake stay one shape.

A method added to the interface but not to the fake would run the real call
in a unit test (or fail there with AttributeError only on the path that
uses it); one added to the fake only would hide a typo in the runtime.
"""
from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

from corral.sys import libc
from corral.sys.fake import ExecCalled, RecordingSyscall
from corral.sys.syscall import Syscall

pytestmark = pytest.mark.unit


def interface_methods() -> list[str]:
    return sorted(name for name, value in vars(Syscall).items()
                  if not name.startswith("_") and inspect.isfunction(value))


def test_the_interface_is_the_narrow_one_the_design_names():
    assert {"mount", "umount", "pivot_root", "unshare", "setns", "sethostname", "capset", "prctl"} <= \
        set(interface_methods())


def test_the_real_object_has_every_method_and_nothing_more():
    real = sorted(name for name in vars(libc.Linux) if not name.startswith("_"))
    assert real == interface_methods()
    assert all(callable(getattr(libc.LINUX, name)) for name in real)


def test_the_real_methods_are_libc_and_os_themselves():
    """No wrapper on the run path: the object hands out the very functions the code called before."""
    import os

    assert libc.LINUX.mount is libc.mount and libc.LINUX.pivot_root is libc.pivot_root
    assert libc.LINUX.mknod is os.mknod and libc.LINUX.execve is os.execve and libc.LINUX.chdir is os.chdir


@pytest.mark.parametrize("name", interface_methods())
def test_the_fake_has_each_method_with_the_interfaces_signature(name):
    assert inspect.signature(getattr(RecordingSyscall, name)) == inspect.signature(getattr(Syscall, name))


def test_the_fake_records_calls_with_defaults_filled_in_and_does_nothing():
    fake = RecordingSyscall()
    fake.mount("proc", "/nonexistent/proc", "proc")
    fake.umount("/nonexistent", libc.MNT_DETACH)
    fake.chdir("/nonexistent")
    assert fake.prctl(libc.PR_SET_NO_NEW_PRIVS, 1) == 0
    assert fake.calls == [("mount", ("proc", "/nonexistent/proc", "proc", 0, None)),
                          ("umount", ("/nonexistent", libc.MNT_DETACH)),
                          ("chdir", ("/nonexistent",)),
                          ("prctl", (libc.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))]
    assert fake.names() == ["mount", "umount", "chdir", "prctl"]
    assert fake.named("umount") == [("/nonexistent", libc.MNT_DETACH)]


def test_a_failure_is_raised_only_for_the_matching_call_and_still_recorded():
    fake = RecordingSyscall()
    fake.fail("mount", FileNotFoundError(2, "gone"), when=lambda args: args[1] == "/b")
    fake.mount(None, "/a", None)
    with pytest.raises(FileNotFoundError):
        fake.mount(None, "/b", None)
    fake.umount("/b")
    assert fake.names() == ["mount", "mount", "umount"]


def test_the_fake_exec_does_not_return():
    fake = RecordingSyscall()
    with pytest.raises(ExecCalled) as raised:
        fake.execve("/bin/true", ["true"], {"PATH": "/bin"})
    assert (raised.value.path, raised.value.argv, raised.value.env) == ("/bin/true", ["true"], {"PATH": "/bin"})
    assert not isinstance(raised.value, Exception), "an `except OSError` in the runtime must not catch it"


def test_the_run_path_does_not_import_the_interface_or_the_fake():
    """The init and exec modules take the object as a default argument; typing stays out of `run`."""
    code = ("import sys; import corral.runtime.init, corral.runtime.exec; "
            "print(sorted(m for m in ('typing', 'corral.sys.syscall', 'corral.sys.fake') if m in sys.modules))")
    src = __file__.rsplit("/tests/", 1)[0] + "/src"
    out = subprocess.run([sys.executable, "-I", "-S", "-c", f"import sys; sys.path.insert(0, {src!r}); {code}"],
                         capture_output=True, text=True, check=True).stdout
    assert out == "[]\n"


def test_close_fds_but_keeps_only_stdio_and_what_it_is_given():
    import fcntl
    import os

    def is_open(fd: int) -> bool:
        try:
            fcntl.fcntl(fd, fcntl.F_GETFD)
        except OSError:
            return False
        return True

    opened = [os.open("/dev/null", os.O_RDONLY) for _ in range(6)]
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
        if pid == 0:
            libc.close_fds_but({opened[1], opened[4], write_end})
            os.write(write_end, bytes(is_open(fd) for fd in [0, 1, 2, *opened, read_end]))
            os._exit(0)
        os.close(write_end)
        os.waitpid(pid, 0)
        seen = list(os.read(read_end, 64))
    finally:
        for fd in opened + [read_end]:
            os.close(fd)
    assert seen == [1, 1, 1, 0, 1, 0, 0, 1, 0, 0]
