"""System verbs: check the store, disk usage, prune network residue; version."""
from __future__ import annotations

import sys

from corral.api import Host


def check(o: dict, args: list[str]) -> int:
    host = Host()
    problems = host.check()
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} problem(s) in the store at {host.store.root}", file=sys.stderr)
        return 1
    print(f"store at {host.store.root} is consistent")
    return 0


def prune(o: dict, args: list[str]) -> int:
    """Remove what `system check` reports of the host's network state: leftover links, rules, port holds."""
    done = Host().prune_system()
    for line in done:
        print(f"fixed: {line}")
    print(f"{len(done)} network problem(s) fixed" if done else "nothing to prune")
    return 0


def df(o: dict, args: list[str]) -> int:
    from corral.cli import fmt

    usage = Host().df()
    rows = [("TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE")]
    for kind, label in (("Images", "Images"), ("Containers", "Containers")):
        u = usage[kind]
        share = f" ({100 * u['Reclaimable'] // u['Size']}%)" if u["Size"] else ""
        rows.append((label, u["Total"], u["Active"], fmt.size(u["Size"]), fmt.size(u["Reclaimable"]) + share))
    print(fmt.table(rows))
    return 0


def version(o: dict, args: list[str]) -> int:
    from corral import __version__

    if o["format"] is None:
        print(f"corral version {__version__}")
        return 0
    import os
    import platform

    from corral.cli import template

    # docker's shape: a Client and a Server section; corral is daemonless, so both are this program
    engine = {"Version": __version__, "ApiVersion": "1.50", "MinAPIVersion": "1.44", "Os": "linux",
              "Arch": {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine),
              "KernelVersion": os.uname().release, "GoVersion": "python" + platform.python_version(),
              "GitCommit": "", "BuildTime": "", "Experimental": False}
    data = {"Client": dict(engine, Platform={"Name": "corral"}, Context="default", DefaultAPIVersion="1.50"),
            "Server": dict(engine, Platform={"Name": "corral"},
                           Components=[{"Name": "Engine", "Version": __version__, "Details": {}}])}
    print(template.render(o["format"], data))
    return 0
