"""A recording stand-in for the kernel (youki's `TestHelperSyscall`), for unit tests without root.

Every call is appended to `calls` as (name, args) with the defaults filled
in, and does nothing else: no mount, no namespace, no change of identity, no
chdir of the test process, no exec. A test then asserts the exact sequence
the runtime's logic chose. `fail()` makes a call raise, as the kernel would
(a missing mount point, an exec of a file that is not executable), so the
error paths are tested the same way.

Never imported by the runtime itself; lives in the package (not under tests/)
so that any test tier, and other packages' tests, can use it.
"""
from __future__ import annotations

from typing import Callable, NoReturn


class ExecCalled(BaseException):
    """Raised by the fake execve: a real one never returns, and the code after it must not run.

    A BaseException, so that the runtime's `except OSError` does not take it
    for a failed exec."""

    def __init__(self, path: str, args: list[str], env: dict[str, str]) -> None:
        super().__init__(path)
        self.path, self.argv, self.env = path, args, env


class RecordingSyscall:
    """Implements `corral.sys.syscall.Syscall` by recording (tests/test_syscall.py keeps the two in step)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple]] = []
        self._failures: list[tuple[str, Callable[[tuple], bool], BaseException]] = []

    # ----------------------------------------------------------------------------- for tests

    def fail(self, name: str, error: BaseException, when: Callable[[tuple], bool] | None = None) -> None:
        """Make calls of `name` (those whose args satisfy `when`, or all) raise `error`; the call is
        still recorded."""
        self._failures.append((name, when or (lambda args: True), error))

    def named(self, name: str) -> list[tuple]:
        """The args of every recorded call of `name`, in order."""
        return [args for called, args in self.calls if called == name]

    def names(self) -> list[str]:
        """The sequence of calls, by name only."""
        return [called for called, _ in self.calls]

    def _record(self, name: str, *args: object) -> None:
        self.calls.append((name, args))
        for failing, when, error in self._failures:
            if failing == name and when(args):
                raise error

    # ----------------------------------------------------------------------------- the interface

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int = 0,
              data: str | None = None) -> None:
        self._record("mount", source, target, fstype, flags, data)

    def umount(self, target: str, flags: int = 0) -> None:
        self._record("umount", target, flags)

    def clone_mount(self, source: str, recursive: bool) -> int:
        self._record("clone_mount", source, recursive)
        return 1000 + len(self.named("clone_mount"))

    def attach_mount(self, fd: int, target: str) -> None:
        self._record("attach_mount", fd, target)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        self._record("pivot_root", new_root, put_old)

    def chdir(self, path: str) -> None:
        self._record("chdir", path)

    def unshare(self, flags: int) -> None:
        self._record("unshare", flags)

    def setns(self, fd: int, nstype: int = 0) -> None:
        self._record("setns", fd, nstype)

    def sethostname(self, name: str) -> None:
        self._record("sethostname", name)

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
        self._record("prctl", option, arg2, arg3, arg4, arg5)
        return 0

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        self._record("capset", effective, permitted, inheritable)

    def seccomp_filter(self, program: bytes) -> None:
        self._record("seccomp_filter", bytes(program).hex())  # text, so a forked test can report it as JSON

    def loopback_up(self) -> None:
        self._record("loopback_up")

    def mknod(self, path: str, mode: int, device: int) -> None:
        self._record("mknod", path, mode, device)

    def setrlimit(self, resource: int, soft: int, hard: int) -> None:
        self._record("setrlimit", resource, soft, hard)

    def setgroups(self, groups: list[int]) -> None:
        self._record("setgroups", list(groups))

    def setgid(self, gid: int) -> None:
        self._record("setgid", gid)

    def setuid(self, uid: int) -> None:
        self._record("setuid", uid)

    def execve(self, path: str, args: list[str], env: dict[str, str]) -> NoReturn:
        self._record("execve", path, list(args), dict(env))
        raise ExecCalled(path, list(args), dict(env))
