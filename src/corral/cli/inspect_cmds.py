"""`corral inspect` and `corral image inspect`: what each name is, as one JSON list or through -f TEMPLATE.

Docker's generic inspect (a container, else an image, else a network) is
corral.api.inspect's; this prints it as docker does: the objects found, and an
error line for each name that is none of them.
"""
from __future__ import annotations

import sys


def inspect(o: dict, args: list[str]) -> int:
    return _print_inspected(args, o["type"], o["format"], o["size"])


def image_inspect(o: dict, args: list[str]) -> int:
    return _print_inspected(args, "image", o["format"])


def container_inspect(o: dict, args: list[str]) -> int:
    return _print_inspected(args, "container", o["format"], o["size"])


def _print_inspected(refs: list[str], kind: str | None, spec: str | None, size: bool = False) -> int:
    from corral.api import Host
    from corral.api.inspect import inspect as inspect_one
    from corral.errors import NotFound

    from corral.cli import fmt

    show = fmt.inspector(spec)
    host = Host()
    found, status = [], 0
    for ref in refs:
        try:
            found.append(inspect_one(host, ref, kind, size=size))
        except NotFound as e:
            print(f"Error: {e}", file=sys.stderr)
            status = 1
    return show(found) or status
