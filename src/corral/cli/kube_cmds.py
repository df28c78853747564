"""`corral kube generate` and `corral kube play`: thin over corral.api.kube, printed as podman does."""
from __future__ import annotations

import sys

from corral.api import Host
from corral.errors import InvalidArgument


def generate(o: dict, args: list[str]) -> int:
    from corral.api import kube

    replicas = None
    if o["replicas"] is not None:
        try:
            replicas = int(o["replicas"])
        except ValueError:
            raise InvalidArgument(f"invalid value {o['replicas']!r} for --replicas: give a number") from None
    text, warnings = kube.generate(Host(), args, kind=o["type"] or "pod", service=o["service"], replicas=replicas)
    if o["filename"]:
        from corral.store.fsutil import write_atomic

        try:
            write_atomic(o["filename"], text.encode())
        except OSError as e:
            raise InvalidArgument(f"cannot write {o['filename']}: {e.strerror}") from None
    else:
        sys.stdout.write(text)
    for w in warnings:  # after the output, which they are about (none when it could not be written)
        print(f"WARNING: {w}", file=sys.stderr)
    return 0


def play(o: dict, args: list[str]) -> int:
    from corral.api import kube

    given = [flag for flag, on in (("--replace", o["replace"]), ("--start=false", not o["start"]),
                                   ("--network", o["network"]), ("--allow-host-paths", o["allow_host_paths"]),
                                   ("--allow-privileged", o["allow_privileged"])) if on]
    if o["down"] and given:
        raise InvalidArgument(f"{', '.join(given)}: not with --down, which removes what a play made")
    if o["force"] and not o["down"]:
        raise InvalidArgument("--force is for --down: it removes the claimed volumes too")
    docs, source = kube.load(args[0])
    host = Host()
    if o["down"]:
        for name in kube.down(host, docs, source, volumes=o["force"]):
            print(name)
        return 0
    done = kube.play(host, docs, source, start=o["start"], replace=o["replace"], network=o["network"],
                     allow_host_paths=o["allow_host_paths"], allow_privileged=o["allow_privileged"],
                     warn=lambda line: print(f"WARNING: {line}", file=sys.stderr))
    for pod in done:
        print(f"Pod:\n{pod['id']}\nContainers:")
        for _, cid in pod["containers"]:
            print(cid)
        print()
    return 0
