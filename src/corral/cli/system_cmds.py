"""System verbs: check the store; version."""
from __future__ import annotations

import sys

from corral.api import Host
from corral.errors import InvalidArgument


def system(o: dict, args: list[str]) -> int:
    if args[0] != "check":
        raise InvalidArgument(f"unknown system command {args[0]!r}: use check")
    host = Host()
    problems = host.check()
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} problem(s) in the store at {host.store.root}", file=sys.stderr)
        return 1
    print(f"store at {host.store.root} is consistent")
    return 0


def version(o: dict, args: list[str]) -> int:
    from corral import __version__

    print(f"corral version {__version__}")
    return 0
