"""Image verbs: import, images, image bootstrap/ls/inspect."""
from __future__ import annotations

import sys

from corral.api import Host
from corral.errors import InvalidArgument


def import_(o: dict, args: list[str]) -> int:
    img = Host().import_image(args[0], args[1])
    print(img.id)
    return 0


def images(o: dict, args: list[str]) -> int:
    from corral.cli import fmt

    rows = [("REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE")]
    for img in Host().images():
        ident = img.id if o["no_trunc"] else img.short_id
        if args and not any(t.rpartition(":")[0] == args[0] for t in img.tags):
            continue
        if o["quiet"]:
            print(ident)
            continue
        info = img.inspect()
        size = f"{info['Size'] / 1e6:.3g}MB"
        for tag in img.tags or ["<none>:<none>"]:
            repo, _, t = tag.rpartition(":")
            rows.append((repo, t, ident, fmt.ago(info["Created"]), size))
    if not o["quiet"]:
        print(fmt.table(rows))
    return 0


def image(o: dict, args: list[str]) -> int:
    sub, rest = args[0], args[1:]
    if sub == "bootstrap":
        if len(rest) != 1:
            raise InvalidArgument("usage: corral image bootstrap busybox|debian:SUITE")
        if rest[0].startswith("debian"):
            print(f"bootstrapping {rest[0]} with debootstrap (about a minute)…", file=sys.stderr)
        img = Host().bootstrap(rest[0])
        print(img.id)
        return 0
    if sub in ("ls", "list"):
        return images({"quiet": "-q" in rest, "no_trunc": "--no-trunc" in rest}, [])
    if sub == "inspect":
        from corral.cli.container_cmds import inspect

        return inspect({"type": "image"}, rest)
    raise InvalidArgument(f"unknown image command {sub!r}: use bootstrap, ls or inspect")
