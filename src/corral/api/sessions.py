"""Attached sessions with the store's monitor, and commands run in containers by name or ID.

Light on purpose: `corral exec` loads this module, the client half of the
monitor and nothing else of corral. The monitor finds the container, checks
that it runs and spawns the command (monitor/monitor.py), so the caller
needs neither the store's database nor the runtime's namespace code.
"""
from __future__ import annotations

from corral.errors import InvalidArgument
from corral.store.root import Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator


def attach(store: Store, req: dict, *, stdin_fd: int | None = None, stdout_fd: int = 1, stderr_fd: int = 2,
           tty: bool = False, detach_keys: str | None = None, sig_proxy: bool = True) -> int | None:
    """Send an attaching request (start, attach, exec) and copy streams until the process exits
    (its exit code) or the user detaches (None)."""
    from corral.monitor import client

    try:
        keys = client.parse_detach_keys(detach_keys or client.DEFAULT_DETACH_KEYS)
    except ValueError:
        raise InvalidArgument(f"invalid detach keys {detach_keys!r}: use e.g. ctrl-p,ctrl-q") from None
    if tty:
        req["rows"], req["cols"] = client.window_of(stdin_fd, stdout_fd)
    req["stdin"] = stdin_fd is not None
    sock, pending = client.request(store, req)
    code = client.Session(sock, pending, tty=tty, stdin_fd=stdin_fd, stdout_fd=stdout_fd,
                          stderr_fd=stderr_fd, detach_keys=keys, sig_proxy=sig_proxy).run()
    store.close()  # the monitor wrote meanwhile; read afresh
    return code


def exec_request(ref: str, cmd: list[str], *, user: str | None = None, env: list[str] | None = None,
                 workdir: str | None = None, privileged: bool = False) -> dict:
    """The monitor's request to run `cmd` in the running container `ref`, with `docker exec`'s options."""
    if not cmd:
        raise InvalidArgument("no command given to exec")
    return {"op": "exec", "ref": ref, "cmd": list(cmd), "user": user, "env": env or [], "workdir": workdir,
            "privileged": privileged}


def exec_attached(store: Store | None, ref: str, cmd: list[str], *, tty: bool = False,
                  stdin_fd: int | None = None, stdout_fd: int = 1, stderr_fd: int = 2,
                  detach_keys: str | None = None, **options) -> int | None:  # noqa: ANN003 - exec_request's
    """`corral exec [-i] [-t]`: the command's streams on these fds; its exit code, or None when the
    user detached from its terminal (it goes on, owned by the store's monitor)."""
    req = dict(exec_request(ref, cmd, **options), tty=tty, attach=True)
    return attach(store or Store(), req, stdin_fd=stdin_fd, stdout_fd=stdout_fd, stderr_fd=stderr_fd, tty=tty,
                  detach_keys=detach_keys, sig_proxy=True)


def exec_detached(store: Store | None, ref: str, cmd: list[str], **options) -> None:  # noqa: ANN003
    """`corral exec -d`: returns once the command runs; the store's monitor reaps it."""
    from corral.monitor import client

    client.call(store or Store(), exec_request(ref, cmd, **options))


def events(store: Store, req: dict, stdin: bytes | None = None) -> Iterator[tuple[int, bytes]]:
    """An attaching request's output as it comes, (monitor.wire.STDOUT or STDERR, bytes), then
    (wire.EXIT, the code); stdin is all its input (then closed), or None for none."""
    from corral.monitor import client

    sock, pending = client.request(store, dict(req, attach=True, stdin=stdin is not None))
    return client.Session(sock, pending, tty=False, stdin_data=stdin, sig_proxy=False).events()


def exec_events(store: Store, ref: str, cmd: list[str], stdin: bytes | None = None,
                **options) -> Iterator[tuple[int, bytes]]:  # noqa: ANN003
    """events() of a command run in the container `ref`; stdin None is /dev/null."""
    return events(store, exec_request(ref, cmd, **options), stdin)
