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
    """The error a process start reported as "<exit code>:<message>" (init, exec, the monitor)."""
    cls = {127: CommandNotFound, 126: CommandNotExecutable}.get(code, CorralError)
    return cls(message)
