"""What `info`, `version` and `system df` report about a host, as use-cases in the Engine API's shapes.

`info()` and `version()` return the fields of docker's `/info` and `/version`
(those that mean something for corral), so `corral info`, a `--format`
template and a future API server read the same dict; the CLI lays them out as
docker's CLI does. `df()` counts what the store holds and what a prune would
give back.
"""
from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from corral.api.host import Host

API_VERSION, MIN_API_VERSION = "1.50", "1.24"
"""The Engine API versions corral speaks (design/docker-api-notes.md, part 1)."""


def info(host: Host) -> dict:
    """docker's `/info`: containers by state, images, the storage and cgroup drivers, the kernel and OS,
    CPUs, memory and the store's root."""
    import platform

    from corral import __version__
    from corral.api.hostconf import default_isolation
    from corral.runtime import cgroups

    running = paused = stopped = 0
    for c in host.containers(all=True):
        if c.status != "running":
            stopped += 1
        elif c.paused:
            paused += 1
        else:
            running += 1
    import hashlib

    return {
        "ID": hashlib.sha256(os.path.abspath(host.store.root).encode()).hexdigest()[:12],
        "Containers": running + paused + stopped, "ContainersRunning": running,
        "ContainersPaused": paused, "ContainersStopped": stopped, "Images": len(host.images()),
        "Driver": "overlay2", "DriverStatus": [["Backing Filesystem", _filesystem_of(host.store.root)],
                                               ["Supports d_type", "true"]],
        "CgroupDriver": "cgroupfs", "CgroupVersion": "2" if cgroups.is_v2() else "1",
        "KernelVersion": platform.release(), "OperatingSystem": _os_name(), "OSType": "linux",
        "Architecture": platform.machine(), "NCPU": os.cpu_count() or 1, "MemTotal": _mem_total(),
        "DockerRootDir": host.store.root, "Name": platform.node(), "ServerVersion": __version__,
        # what the docker CLI's `info` reads beside those (Swarm.LocalNodeState must be there)
        "LoggingDriver": "json-file", "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"],
                                                  "Log": ["json-file"]},
        "Swarm": {"LocalNodeState": "inactive", "NodeID": "", "NodeAddr": "", "ControlAvailable": False,
                  "Error": "", "RemoteManagers": None},
        "Runtimes": {"corral": {"path": "corral"}}, "DefaultRuntime": "corral", "InitBinary": "docker-init",
        "SecurityOptions": ["name=seccomp,profile=builtin"], "Debug": False, "ExperimentalBuild": False,
        "LiveRestoreEnabled": True, "Labels": [], "Warnings": [], "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {"IndexConfigs": {}, "InsecureRegistryCIDRs": [], "Mirrors": []},
        "Isolation": default_isolation(),  # docker's field (its Windows daemons' default): corral.conf's
    }


def version() -> dict:
    """docker's `/version`: the engine's version, API versions, the Python it runs on (docker's GoVersion)."""
    import platform

    from corral import __version__

    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    details = {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "PythonVersion": platform.python_version(),
               "Os": "linux", "Arch": arch, "KernelVersion": platform.release()}
    return {"Platform": {"Name": "corral"}, "Version": __version__, "GitCommit": "", "BuildTime": "",
            "Components": [{"Name": "Engine", "Version": __version__, "Details": details}], **details}


def df(host: Host, verbose: bool = False) -> dict:
    """`docker system df`: for images, containers, local volumes and the build cache, how many, how many in
    use, their bytes and what a prune would reclaim. verbose=True adds the rows `df -v` prints: "ImageRows"
    (image, size, shared, unique, containers), "ContainerRows" (container, bytes it wrote), "VolumeRows"
    (volume, containers mounting it, bytes) and "CacheRows" (step key, image, bytes only it holds, created)."""
    from corral.store import buildcache
    from corral.store import containers as container_records
    from corral.store import images as image_records

    layer_size = {layer.chain_id: layer.size for layer in image_records.all_layers(host.store)}
    users: dict[str, int] = {}
    for _, image_id in container_records.images_used(host.store):
        users[image_id] = users.get(image_id, 0) + 1
    images = host.images()
    listed = {i.id for i in images}
    chains = {i.id: set(i.layers) for i in images}
    holders: dict[str, int] = {}  # layer → how many listed images stand on it
    for chain in chains.values():
        for layer in chain:
            holders[layer] = holders.get(layer, 0) + 1
    all_layers = set(holders)
    in_use = set().union(*(chains[i] for i in listed if i in users)) if users else set()
    containers = host.containers(all=True)
    sizes = {c.id: c.size()[0] for c in containers}
    cache = buildcache.entries(host.store)
    cache_only: dict[str, set[str]] = {}  # a cache image → its layers no listed image needs
    for _, image_id, _ in cache:
        if image_id not in listed and image_id not in cache_only:
            from corral.api.image import Image

            cache_only[image_id] = set(Image(host, image_id).layers) - all_layers
    cache_layers = set().union(*cache_only.values()) if cache_only else set()
    cache_bytes = sum(layer_size.get(c, 0) for c in cache_layers)
    from corral.api.volume import users as volume_users

    volumes = host.volumes()
    vol_users = volume_users(host)
    vol_sizes = {v.name: v.size() for v in volumes}
    usage = {
        "Images": {"Total": len(images), "Active": len(listed & set(users)),
                   "Size": sum(layer_size.get(c, 0) for c in all_layers),
                   "Reclaimable": sum(layer_size.get(c, 0) for c in all_layers - in_use)},
        "Containers": {"Total": len(containers), "Active": sum(c.status == "running" for c in containers),
                       "Size": sum(sizes.values()),
                       "Reclaimable": sum(sizes[c.id] for c in containers if c.status != "running")},
        "Volumes": {"Total": len(volumes), "Active": sum(v.name in vol_users for v in volumes),
                    "Size": sum(max(n, 0) for n in vol_sizes.values()),
                    "Reclaimable": sum(max(vol_sizes[v.name], 0) for v in volumes if v.name not in vol_users)},
        "BuildCache": {"Total": len(cache), "Active": sum(image_id in users for _, image_id, _ in cache),
                       "Size": cache_bytes, "Reclaimable": cache_bytes},
    }
    if verbose:
        usage["ImageRows"] = [
            {"Image": i, "Size": sum(layer_size.get(c, 0) for c in chains[i.id]),
             "SharedSize": sum(layer_size.get(c, 0) for c in chains[i.id] if holders[c] > 1),
             "UniqueSize": sum(layer_size.get(c, 0) for c in chains[i.id] if holders[c] == 1),
             "Containers": users.get(i.id, 0)} for i in images]
        usage["ContainerRows"] = [{"Container": c, "Size": sizes[c.id]} for c in containers]
        usage["VolumeRows"] = [{"Volume": v, "Links": len(vol_users.get(v.name, ())), "Size": vol_sizes[v.name]}
                               for v in volumes]
        usage["CacheRows"] = [{"ID": key, "Image": image_id, "Created": created,
                               "Size": sum(layer_size.get(c, 0) for c in cache_only.get(image_id, ())),
                               "InUse": image_id in users} for key, image_id, created in cache]
    return usage


def _filesystem_of(path: str) -> str:
    """The type of the filesystem the store is on (docker's Backing Filesystem), from the mount table."""
    best, kind = "", "unknown"
    real = os.path.realpath(path)
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                parts = line.split()
                point = parts[1].replace("\\040", " ")
                if (real == point or real.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
                    best, kind = point, parts[2]
    except OSError:
        pass
    return kind


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def _mem_total() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def restore(host: Host) -> list[tuple]:
    """`corral system restore`: after a host reboot (which took the store's monitor, and every container
    with it) start the containers docker's daemon would start when it comes up: restart policy
    `always` (stopped by the user or not: that holds only until the host restarts), `unless-stopped`
    unless the user stopped it, `on-failure` when its last run failed (a reboot is a failure) with
    retries left. Each is started as `corral start` does (its restart count starts over). Returns
    (container, None) for each one started and (container, error) for each that would not start."""
    from corral.errors import CorralError
    from corral.monitor import restart
    from corral.store import runstate

    done: list[tuple] = []
    for c in reversed(host.containers(all=True)):  # oldest first, as they were probably started
        if not c.options.restart or c.options.restart == "no" or c.status != "exited":
            continue
        run = runstate.read(host.store, c.id)
        if not restart.restorable(c.options.restart, c.exit_code, bool(run.get("ManuallyStopped")),
                                  run.get("RestartCount") or 0, c.started_at is not None):
            continue
        try:
            c.start()
            done.append((c, None))
        except CorralError as e:
            done.append((c, e))
    return done
