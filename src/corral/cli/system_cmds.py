"""System verbs: check (and repair) the store, disk usage, prune, info, version; laid out as docker's."""
from __future__ import annotations

import sys

from corral.api import Host
from corral.cli.shared import confirmed


def check(o: dict, args: list[str]) -> int:
    host = Host()
    if o["repair"]:
        for line in host.repair():
            print(f"fixed: {line}")
    problems = host.check()
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} problem(s) in the store at {host.store.root}", file=sys.stderr)
        return 1
    print(f"store at {host.store.root} is consistent")
    return 0


def prune(o: dict, args: list[str]) -> int:
    """docker's system prune, after the store repair (`system check --repair`) as its first step."""
    from corral.api import filters, prune as pruning
    from corral.cli import fmt

    wanted = filters.parse(o["filter"])
    pruning.check_system(wanted, o["volumes"])
    items = ["all stopped containers", "all networks not used by at least one container"]
    items += ["all anonymous volumes not used by at least one container"] if o["volumes"] else []
    items += (["all images without at least one container associated to them", "all build cache"] if o["all"] else
              ["all dangling images", "unused build cache"])
    warning = "WARNING! This will remove:\n" + "".join(f"  - {i}\n" for i in items)
    if o["filter"]:
        warning += "\n  Items to be pruned will be filtered with:\n" + "".join(f"  - {f}\n" for f in o["filter"])
    if not confirmed(warning, o["force"]):
        return 0
    done = Host().prune(all=o["all"], filters=wanted, volumes=o["volumes"])
    blocks = [("Fixed network state:", [f"fixed: {line}" for line in done["Repaired"]]),
              ("Deleted Containers:", done["ContainersDeleted"]), ("Deleted Networks:", done["NetworksDeleted"]),
              ("Deleted Volumes:", done["VolumesDeleted"])]
    for title, lines in blocks:
        print(fmt.deleted(title, lines), end="")
    print(fmt.deleted_images(done["ImagesDeleted"]), end="")
    print(fmt.deleted("Deleted build cache objects:", done["CachesDeleted"]), end="")
    print(f"Total reclaimed space: {fmt.size(done['SpaceReclaimed'])}")
    return 0


def restore(o: dict, args: list[str]) -> int:
    """Start what a reboot stopped, by restart policy; each container started is named, each failure said."""
    from corral.api import system
    from corral.cli.parser import report

    status = 0
    for c, error in system.restore(Host()):
        if error is None:
            print(c.name)
        else:
            report(error)
            status = 1
    return status


def df(o: dict, args: list[str]) -> int:
    from corral.cli import fmt

    usage = Host().df(verbose=o["verbose"])
    if o["verbose"]:
        return _df_verbose(usage)
    rows = [("TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE")]
    for kind, label in (("Images", "Images"), ("Containers", "Containers"), ("Volumes", "Local Volumes"),
                        ("BuildCache", "Build Cache")):
        u = usage[kind]
        share = f" ({100 * u['Reclaimable'] // u['Size']}%)" if u["Size"] and kind != "BuildCache" else ""
        rows.append((label, u["Total"], u["Active"], fmt.size(u["Size"]), fmt.size(u["Reclaimable"]) + share))
    print(fmt.table(rows))
    return 0


def _df_verbose(usage: dict) -> int:
    """docker's `system df -v`: a table for each kind, under its heading."""
    from corral.cli import fmt

    images = [("REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED SIZE", "UNIQUE SIZE", "CONTAINERS")]
    for row in usage["ImageRows"]:
        img = row["Image"]
        for tag in img.tags or ["<none>:<none>"]:
            repo, _, t = tag.rpartition(":")
            images.append((repo, t, img.short_id, fmt.ago(img.created), fmt.size(row["Size"]),
                           fmt.size(row["SharedSize"]), fmt.size(row["UniqueSize"]), row["Containers"]))
    containers = [("CONTAINER ID", "IMAGE", "COMMAND", "LOCAL VOLUMES", "SIZE", "CREATED", "STATUS", "NAMES")]
    for row in usage["ContainerRows"]:
        c = row["Container"]
        command = " ".join(c.spec["process"]["args"])
        command = command if len(command) <= 20 else command[:19] + "…"
        containers.append((c.short_id, c.image_ref, f'"{command}"', 0, fmt.size(row["Size"]), fmt.ago(c.created),
                           fmt.status(c), c.name))
    cache = [("CACHE ID", "CACHE TYPE", "SIZE", "CREATED", "LAST USED", "USAGE", "SHARED")]
    for row in usage["CacheRows"]:
        cache.append((row["ID"][:12], "regular", fmt.size(row["Size"]), fmt.ago(row["Created"]),
                      fmt.ago(row["Created"]), 1 if row["InUse"] else 0, "false"))
    print("Images space usage:\n\n" + fmt.table(images) + "\n")
    print("Containers space usage:\n\n" + fmt.table(containers) + "\n")
    volumes = [("VOLUME NAME", "LINKS", "SIZE")] + [
        (row["Volume"].name, row["Links"], "N/A" if row["Size"] < 0 else fmt.size(row["Size"]))
        for row in usage["VolumeRows"]]
    print("Local Volumes space usage:\n\n" + fmt.table(volumes) + "\n")
    print(f"Build cache usage: {fmt.size(usage['BuildCache']['Size'])}\n\n" + fmt.table(cache))
    return 0


def info(o: dict, args: list[str]) -> int:
    """docker info's layout: a Client section, then the Server's fields that mean something for corral."""
    from corral import __version__
    from corral.cli import fmt

    i = Host().info()
    if o["format"] is not None:
        from corral.cli import template

        print(template.render(o["format"], dict(i, ClientInfo={"Version": __version__, "Debug": False})))
        return 0
    lines = ["Client:", f" Version:    {__version__}", " Debug Mode: false", "", "Server:",
             f" Containers: {i['Containers']}", f"  Running: {i['ContainersRunning']}",
             f"  Paused: {i['ContainersPaused']}", f"  Stopped: {i['ContainersStopped']}", f" Images: {i['Images']}",
             f" Server Version: {i['ServerVersion']}", f" Storage Driver: {i['Driver']}"]
    lines += [f"  {k}: {v}" for k, v in i["DriverStatus"]]
    lines += [f" Cgroup Driver: {i['CgroupDriver']}", f" Cgroup Version: {i['CgroupVersion']}",
              f" Kernel Version: {i['KernelVersion']}", f" Operating System: {i['OperatingSystem']}",
              f" OSType: {i['OSType']}", f" Architecture: {i['Architecture']}", f" CPUs: {i['NCPU']}",
              f" Total Memory: {fmt.binary_size(i['MemTotal'])}", f" Name: {i['Name']}", f" ID: {i['ID']}",
              f" Corral Root Dir: {i['DockerRootDir']}", f" Default Isolation: {i['Isolation']}", " Debug Mode: false"]
    print("\n".join(lines))
    return 0


def version(o: dict, args: list[str]) -> int:
    """docker version's layout: Client, then Server with its Engine component (one program here);
    --format sees docker's data: .Client and .Server with Version, ApiVersion, Os, Arch, ..."""
    v = Host().version()
    if o["format"] is not None:
        from corral.cli import template

        common = {k: v[k] for k in ("Version", "ApiVersion", "Os", "Arch", "GitCommit", "BuildTime")}
        common["GoVersion"] = "python" + v["PythonVersion"]
        data = {"Client": dict(common, Platform=v["Platform"], Context="default", DefaultAPIVersion=v["ApiVersion"]),
                "Server": dict(v, **common)}
        print(template.render(o["format"], data))
        return 0
    client = [("Version", v["Version"]), ("API version", v["ApiVersion"]), ("Python version", v["PythonVersion"]),
              ("OS/Arch", f"{v['Os']}/{v['Arch']}")]
    engine = [("Version", v["Version"]), ("API version", f"{v['ApiVersion']} (minimum version {v['MinAPIVersion']})"),
              ("Python version", v["PythonVersion"]), ("OS/Arch", f"{v['Os']}/{v['Arch']}"),
              ("Kernel", v["KernelVersion"])]
    lines = ["Client:"] + [f" {k + ':':<18} {val}" for k, val in client]
    lines += ["", f"Server: {v['Platform']['Name']}", " Engine:"] + [f"  {k + ':':<17} {val}" for k, val in engine]
    print("\n".join(lines))
    return 0
