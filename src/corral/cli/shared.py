"""What several verb modules share: one action per name given, an attached session's stdin and exit
code, where an archive goes without -o, whole seconds from a flag, -e/--env-file and --label-file.

Verb modules import these from here (and parser, fmt), never from one another, so that no verb
module loads another, there is no import circle among them, and no private name crosses a module.
`corral exec` loads this module: it imports corral.api only inside the function that needs a Host.
"""
from __future__ import annotations

import os
import sys

from corral.cli.parser import report
from corral.errors import CorralError, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO, Callable

    from corral.api import Container, Host


def each(refs: list[str], action: "Callable[[Host, str], object]") -> int:
    """action(host, ref) for every name given, printing each done and each failure as Docker does:
    one bad name does not stop the others, and the exit status is 1 if any failed."""
    from corral.api import Host

    host = Host()
    status = 0
    for ref in refs:
        try:
            action(host, ref)
            print(ref)
        except CorralError as e:
            report(e)
            status = 1
    return status



def inspect_each(refs: list[str], inspect: "Callable[[Host, str], dict]", spec: str | None) -> int:
    """`network inspect`, `volume inspect`: inspect(host, ref) of every name given, shown together
    (one JSON list, or the --format template per object), an error line for each that failed."""
    from corral.api import Host
    from corral.cli import fmt

    show = fmt.inspector(spec)  # a bad template fails before any lookup
    host = Host()
    found, status = [], 0
    for ref in refs:
        try:
            found.append(inspect(host, ref))
        except CorralError as e:
            report(e)
            status = 1
    return show(found) or status


def each_container(refs: list[str], action: "Callable[[Container], object]") -> int:
    """`each` for containers: action(container)."""
    return each(refs, lambda host, ref: action(host.container(ref)))


def stdin_of(interactive: bool, tty: bool) -> int | None:
    """fd 0 when stdin is to be attached; a terminal session needs a terminal there, as in Docker."""
    if not interactive:
        return None
    if tty and not os.isatty(0):
        raise InvalidArgument("the input device is not a TTY: drop -t, or run from a terminal")
    return 0


def attached(code: int | None) -> int:
    """The exit code of an attached session; a detach (None) is a success, as in Docker."""
    return 0 if code is None else code


def archive_to_stdout() -> "BinaryIO":
    """Where an archive goes without -o: stdout, unless that is a terminal (Docker's rule)."""
    if os.isatty(1):
        raise InvalidArgument("cowardly refusing to write an archive to a terminal: use -o FILE or redirect stdout")
    return sys.stdout.buffer


def confirmed(warning: str, force: bool) -> bool:
    """docker's prompt before a prune: the warning and "Are you sure you want to continue? [y/N] ", then a
    line from stdin, a terminal or not (so `echo y | corral image prune` proceeds and an empty stdin
    cancels); -f skips it. A cancel prints nothing more and exits 0, as docker does."""
    if force:
        return True
    sys.stdout.write(f"{warning}\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() == "y"


def seconds(text: str | None) -> int | None:
    """A flag's whole seconds (stop -t, logs --tail); None when the flag was not given."""
    if text is None:
        return None
    if not text.lstrip("-").isdecimal():
        raise InvalidArgument(f"invalid timeout {text!r}: give whole seconds")
    return int(text)


def read_kv_file(path: str, from_env: bool) -> list[str]:
    """The lines of a docker --env-file or --label-file (docker's opts.ParseEnvFile): KEY=VALUE taken as
    written (no quotes, no trimming of the value), `#` comments and blank lines skipped, a bare KEY
    with from_env taking the caller's value (or left bare: not set at all, as docker)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise InvalidArgument(f"open {path}: {(e.strerror or str(e)).lower()}") from None
    try:
        text = raw.decode().removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise InvalidArgument(f"{path}: invalid utf8 bytes") from None
    lines = []
    for line in text.splitlines():
        line = line.lstrip(" \t")
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not key:
            raise InvalidArgument(f"{path}: no variable name on line {line!r}")
        if any(c in key for c in " \t\n\v\f\r"):
            raise InvalidArgument(f"variable '{key.strip()}' contains whitespaces")
        if sep:
            lines.append(line)
        elif from_env and line.strip() in os.environ:
            lines.append(f"{line.strip()}={os.environ[line.strip()]}")
        else:
            lines.append(line.strip())
    return lines


def env_list(env: list[str], env_files: list[str]) -> list[str]:
    """-e and --env-file as docker's client passes them: files first, then -e; a bare NAME takes the
    caller's value of NAME, and stays bare (the engine then leaves NAME unset) when the caller has none."""
    found = [line for path in env_files for line in read_kv_file(path, True)]
    for item in env:
        if "=" not in item and item in os.environ:
            item = f"{item}={os.environ[item]}"
        found.append(item)
    return found
