"""One exception hierarchy for corral, mapped once to CLI exit codes (and later HTTP statuses).

Docker's exit-code conventions: 125 means the engine itself failed, 126 the
command could not be executed, 127 it was not found.
"""
from __future__ import annotations


class CorralError(Exception):
    """Base of every error corral reports to a user; the message is one clear line."""

    exit_code = 125
    http_status = 500


class NotFound(CorralError):
    http_status = 404


class Conflict(CorralError):
    http_status = 409


class InvalidArgument(CorralError):
    http_status = 400


class StoreError(CorralError):
    """The store is unusable (read-only, full, corrupt): nothing was changed."""


class CommandNotFound(CorralError):
    exit_code = 127


class CommandNotExecutable(CorralError):
    exit_code = 126


def error_for(code: int, message: str) -> CorralError:
    """The error for a command that could not be started with exit code `code` (Docker's 127 and 126)."""
    cls = {127: CommandNotFound, 126: CommandNotExecutable}.get(code, CorralError)
    return cls(message)


_KINDS = {cls.__name__: cls for cls in (CorralError, NotFound, Conflict, InvalidArgument, StoreError,
                                        CommandNotFound, CommandNotExecutable)}


def to_answer(e: CorralError) -> str:
    """`e` as one line of text, "<exit code>:<kind>:<message>", the only writer of that format: the
    store's monitor answers a client with it (monitor/wire.py), and a container's init or an exec'd
    child reports with it why its command cannot run (runtime/init.py), so whoever reads it
    raises the same error (a script catching NotFound or Conflict still can)."""
    kind = type(e).__name__
    return f"{e.exit_code}:{kind if kind in _KINDS else 'CorralError'}:{e}"


def from_answer(answer: str) -> CorralError:
    """The error that to_answer() wrote; a bare "<exit code>:<message>" (a monitor of an older corral
    still running) reads as error_for() has it."""
    code, _, rest = answer.partition(":")
    kind, sep, message = rest.partition(":")
    if sep and kind in _KINDS:
        return _KINDS[kind](message)
    return error_for(int(code) if code.isdigit() else 125, rest)
