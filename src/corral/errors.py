"""One exception hierarchy for corral, mapped once to CLI exit codes (and later HTTP statuses).

Docker's exit-code conventions: 125 means the engine itself failed, 126 the
command could not be executed, 127 it was not found.
"""
from __future__ import annotations


class CorralError(Exception):
    """Base of every error corral reports to a user; the message is one clear line.

    docker-py's name for it, DockerException, is the same class: code written for
    docker-py catches `errors.DockerException` and code written for corral
    `CorralError`, and either catches everything corral raises.
    """

    exit_code = 125
    http_status = 500


DockerException = CorralError


class APIError(CorralError):
    """What the engine refused or failed to do (a daemon's error reply in docker-py's terms).

    docker-py's APIError carries the HTTP response; the in-process engine has
    none, so `response` is None and the status is the one `corral serve` sends.
    """

    response = None

    @property
    def status_code(self) -> int:
        return self.http_status

    @property
    def explanation(self) -> str:
        return str(self)

    def is_client_error(self) -> bool:
        return 400 <= self.http_status < 500

    def is_server_error(self) -> bool:
        return 500 <= self.http_status < 600


class NotFound(APIError):
    http_status = 404


class ImageNotFound(NotFound):
    """No image by that name, ID or digest (docker-py raises it from run/create/images.get)."""


class Conflict(APIError):
    http_status = 409


class InvalidArgument(APIError):
    """Bad input: a wrong value, name or combination of options. docker-py raises its InvalidArgument
    client-side and an APIError for a 400 from the daemon; this one is both."""

    http_status = 400


class UnexpectedArgument(InvalidArgument, TypeError):
    """A keyword argument the call does not take, or a value of the wrong type. docker-py raised a
    bare TypeError for these; this one names the argument and is still a TypeError for such code."""


class StoreError(APIError):
    """The store is unusable (read-only, full, corrupt): nothing was changed."""


class CommandNotFound(APIError):
    exit_code = 127
    http_status = 400


class CommandNotExecutable(APIError):
    exit_code = 126
    http_status = 400


class ContainerError(CorralError):
    """A container run in the foreground (containers.run without detach) exited non-zero: docker-py's
    exception with its attributes, the exit status and the container's stderr."""

    def __init__(self, container: object, exit_status: int, command: object, image: str,
                 stderr: bytes | None) -> None:
        self.container, self.exit_status, self.command, self.image, self.stderr = (
            container, exit_status, command, image, stderr)
        err = f": {stderr.decode(errors='replace') if isinstance(stderr, bytes) else stderr}" if stderr else ""
        super().__init__(f"Command '{command}' in image '{image}' returned non-zero exit status {exit_status}{err}")


class BuildError(CorralError):
    """A build step failed (a RUN's non-zero exit, a missing source); exit code 1, as `docker build`.
    `build_log` is what the build printed up to the failure (docker-py's attribute), when known."""

    exit_code = 1

    def __init__(self, reason: str, build_log: object = None) -> None:
        super().__init__(reason)
        self.msg = reason
        self.build_log = build_log if build_log is not None else []


def error_for(code: int, message: str) -> CorralError:
    """The error for a command that could not be started with exit code `code` (Docker's 127 and 126)."""
    cls = {127: CommandNotFound, 126: CommandNotExecutable}.get(code, APIError)
    return cls(message)


_KINDS = {cls.__name__: cls for cls in (CorralError, APIError, NotFound, ImageNotFound, Conflict, InvalidArgument,
                                        StoreError, CommandNotFound, CommandNotExecutable)}


def to_answer(e: CorralError) -> str:
    """`e` as one line of text, "<exit code>:<kind>:<message>", the only writer of that format: the
    store's monitor answers a client with it (monitor/wire.py), and a container's init or an exec'd
    child reports with it why its command cannot run (runtime/init.py), so whoever reads it
    raises the same error (a script catching NotFound or Conflict still can)."""
    kind = next(c.__name__ for c in type(e).__mro__ if c.__name__ in _KINDS or c is Exception)
    return f"{e.exit_code}:{kind if kind in _KINDS else 'APIError'}:{e}"


def from_answer(answer: str) -> CorralError:
    """The error that to_answer() wrote; a bare "<exit code>:<message>" (a monitor of an older corral
    still running) reads as error_for() has it."""
    code, _, rest = answer.partition(":")
    kind, sep, message = rest.partition(":")
    if sep and kind in _KINDS:
        return _KINDS[kind](message)
    return error_for(int(code) if code.isdecimal() else 125, rest)
