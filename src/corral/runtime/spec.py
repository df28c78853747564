"""Building the OCI runtime-spec config.json for a container.

The bundle is the single description of a container: the built-in runtime
applies it, and crun or runc given the same bundle must behave the same.
"""
from __future__ import annotations

import os

from corral import fastjson as json
from corral.errors import InvalidArgument
from corral.runtime import caps, users
from corral.runtime.resources import limits
from corral.runtime.options import DEFAULT_SHM_SIZE, INIT_PATH, ContainerOptions
from corral.store.rootfs import ROOTFS_ANNOTATION, Mount

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

MASKED_PATHS = [
    "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
    "/sys/devices/virtual/powercap",
]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

# (type, major, minor) a container may use; everything else is denied by the devices cgroup.
ALLOWED_DEVICES = [
    ("c", None, None, "m"), ("b", None, None, "m"),
    ("c", 1, 3, "rwm"), ("c", 1, 5, "rwm"), ("c", 1, 7, "rwm"), ("c", 1, 8, "rwm"), ("c", 1, 9, "rwm"),
    ("c", 5, 0, "rwm"), ("c", 5, 1, "rwm"), ("c", 5, 2, "rwm"), ("c", 136, None, "rwm"), ("c", 10, 200, "rwm"),
]


def merge_env(image_env: list[str], user_env: list[str], extra: dict[str, str]) -> list[str]:
    """The image's ENV, then the user's: a bare NAME among the user's unsets NAME, as docker's
    ReplaceOrAppendEnvValues does (`-e NAME` for a NAME the caller does not have)."""
    merged: dict[str, str] = {}
    for item in image_env + user_env:
        key, sep, value = item.partition("=")
        if sep:
            merged[key] = value
        else:
            merged.pop(key, None)
    for key, value in extra.items():
        merged.setdefault(key, value)
    if "PATH" not in merged:
        merged["PATH"] = DEFAULT_PATH[5:]
    return [f"{k}={v}" for k, v in merged.items()]


def process_args(opts: ContainerOptions, image_cfg: dict) -> list[str]:
    if opts.entrypoint is not None:
        entry = opts.entrypoint
        cmd = opts.cmd or []
    else:
        entry = image_cfg.get("Entrypoint") or []
        cmd = opts.cmd if opts.cmd else (image_cfg.get("Cmd") or [])
    args = list(entry) + list(cmd)
    if not args:
        raise InvalidArgument("no command specified: give one after the image name, or build the image with CMD")
    return args


def capability_set(opts: ContainerOptions) -> list[str]:
    names = caps.oci_names(caps.all_names() if opts.privileged else caps.DOCKER_DEFAULT)
    added = [caps.normalize(c) for c in opts.cap_add]
    dropped = [caps.normalize(c) for c in opts.cap_drop]
    if "ALL" in added:
        names = caps.oci_names(caps.all_names())
    names = [n for n in names if n not in dropped and "ALL" not in dropped]
    names += [n for n in added if n != "ALL" and n not in names]
    return names


STDIN_ANNOTATION = "org.corral.stdin"
""""open": the monitor keeps the container's stdin open for attach clients (-i); "null": /dev/null."""
JOINS_ANNOTATION = "org.corral.joins"
"""JSON {"ipc": ID, "pid": ID, "uts": ID}: namespaces of other containers the init joins (--ipc/--pid/--uts
container:ID), whose paths the monitor fills in at start (monitor/supervisor.py), as it does for --network
container:ID."""
ISOLATION_ANNOTATION = "org.corral.isolation"
""""vm": the container runs in a micro-VM (runtime/vm/); absent: a process container."""
NETWORK_ANNOTATION = "org.corral.network"
"""Present when the monitor wires a network at start (monitor/supervisor.py, network/endpoint.py); absent for none
and host."""


INIT_BINARIES = ("/usr/libexec/podman/catatonit", "/usr/bin/catatonit", "/usr/bin/tini-static", "/usr/bin/docker-init")
"""Static inits on the host, first found is used (Debian's catatonit; tini-static): static, as it runs in any image."""


def is_vm(spec: dict) -> bool:
    """Whether the container of `spec` runs in a micro-VM (ISOLATION_ANNOTATION)."""
    return spec.get("annotations", {}).get(ISOLATION_ANNOTATION) == "vm"


def init_binary() -> str:
    for path in INIT_BINARIES:
        if os.access(path, os.X_OK):
            return path
    raise InvalidArgument("--init needs a static init on the host: install Debian's catatonit (or tini) package")


def build(cid: str, opts: ContainerOptions, image_cfg: dict, rootfs: Mount, bundle: str,
          joins: dict[str, str] | None = None, shm: str | None = None, etc_dir: str | None = None,
          idmap: tuple[list[dict], list[dict]] | None = None) -> dict:
    """config.json for container `cid`, whose root filesystem the store described as `rootfs`.
    joins maps "ipc"/"pid"/"uts" to the full ID of a container whose namespace to join (--ipc/--pid/--uts container:);
    shm is a host directory to bind at /dev/shm (an IPC namespace shared with others, see ipc_shm); etc_dir
    holds the /etc/hosts, hostname and resolv.conf to bind (default the bundle; a pod member's are its infra
    container's, so that names on the pod's switch reach every member as they change). idmap: the
    (uidMappings, gidMappings) of a user namespace of its own (--userns=auto, runtime/userns.py)."""
    cfg = image_cfg.get("config") or {}
    uid, gid, extra_gids = users.resolve(opts.user or cfg.get("User") or "0", rootfs.lowerdirs())
    if opts.group_add:
        extra_gids = users.group_ids(opts.group_add, rootfs.lowerdirs(), extra_gids)
    hostname = opts.hostname or (os.uname().nodename if opts.uts == "host" else cid[:12])
    env_extra = {"HOSTNAME": hostname, "HOME": "/root" if uid == 0 else "/"}
    if opts.tty:
        env_extra["TERM"] = "xterm"
    cap_names = capability_set(opts)
    effective = cap_names if uid == 0 else []
    resources: dict = {"devices": [{"allow": False, "access": "rwm"}]}
    if not opts.privileged:
        resources["devices"] += [
            {"allow": True, "type": t, "major": ma, "minor": mi, "access": acc} for t, ma, mi, acc in ALLOWED_DEVICES
        ]
    else:
        resources["devices"] = [{"allow": True, "access": "rwm"}]
    resources.update(limits(opts))
    shared = {"pid": bool(opts.pid), "ipc": opts.ipc == "host" or (opts.ipc or "").startswith("container:"),
              "uts": bool(opts.uts), "network": opts.network == "host",
              "cgroup": opts.cgroupns == "host"}  # joined ones: see JOINS_ANNOTATION
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount", "cgroup", "network") if not shared.get(t)]
    linux: dict = {
        "namespaces": namespaces,
        "resources": resources,
        "cgroupsPath": f"/corral/{cid}",
    }
    if idmap is not None:
        namespaces.insert(0, {"type": "user"})
        linux["uidMappings"], linux["gidMappings"] = idmap
    if opts.sysctls:
        linux["sysctl"] = dict(opts.sysctls)
    if opts.devices:
        linux["devices"] = devices(opts.devices, resources["devices"])
    profile = opts.seccomp_profile() if opts.isolation != "vm" else None  # a VM's boundary is its kernel
    if profile is not None:
        from corral.runtime import seccomp

        linux["seccomp"] = seccomp.oci(profile, cap_names)
    if not opts.privileged:
        linux["maskedPaths"] = MASKED_PATHS
        linux["readonlyPaths"] = READONLY_PATHS
    sys_opts = ["nosuid", "noexec", "nodev"] + ([] if opts.privileged else ["ro"])
    mounts = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sys_opts},
        # the container's own cgroup, read-only but for --privileged, as docker's (runtime/cgroupfs.py)
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": sys_opts},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
    ]
    if "/dev/shm" in opts.tmpfs:
        pass  # the user's own tmpfs there, as docker leaves its /dev/shm out for a user's mount
    elif shm:
        mounts.append({"destination": "/dev/shm", "type": "bind", "source": shm,
                       "options": ["rbind", "rprivate", "nosuid", "noexec", "nodev"]})
    elif opts.ipc != "none":
        mounts.append({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                       "options": ["nosuid", "noexec", "nodev", "mode=1777",
                                   f"size={opts.shm_size or DEFAULT_SHM_SIZE}"]})
    for name in ("resolv.conf", "hostname", "hosts"):  # read-only with the root, as docker's
        mounts.append({"destination": f"/etc/{name}", "type": "bind", "source": f"{etc_dir or bundle}/{name}",
                       "options": ["rbind", "rprivate"] + (["ro"] if opts.read_only else [])})
    mounts += user_mounts([bind_mount(b) for b in opts.binds] + [container_mount(m) for m in opts.mounts] +
                          [tmpfs_mount(target, options) for target, options in opts.tmpfs.items()])
    args = process_args(opts, cfg)
    if opts.init:
        mounts.append({"destination": INIT_PATH, "type": "bind", "source": init_binary(),
                       "options": ["bind", "rprivate", "ro"]})
        args = [INIT_PATH, "--"] + args
    annotations = {ROOTFS_ANNOTATION: json.dumps(rootfs.to_dict()),
                   STDIN_ANNOTATION: "open" if opts.interactive else "null"}
    if joins:
        annotations[JOINS_ANNOTATION] = json.dumps(joins)
    if opts.isolation == "vm":
        annotations[ISOLATION_ANNOTATION] = "vm"
    process: dict = {
        "terminal": opts.tty,
        "user": {"uid": uid, "gid": gid, "additionalGids": extra_gids},
        "args": args,
        "env": merge_env(cfg.get("Env") or [], opts.env, env_extra),
        "cwd": opts.workdir or cfg.get("WorkingDir") or "/",
        "capabilities": {"bounding": cap_names, "effective": effective, "permitted": effective,
                         "inheritable": [], "ambient": []},
        "noNewPrivileges": opts.no_new_privileges(),
    }
    if opts.ulimits:
        process["rlimits"] = rlimits(opts.ulimits)
    if opts.oom_score_adj is not None:
        process["oomScoreAdj"] = opts.oom_score_adj
    spec = {
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": "rootfs", "readonly": opts.read_only},
        "hostname": hostname,
        "mounts": mounts,
        "linux": linux,
        "annotations": annotations,
    }
    if opts.uts:
        del spec["hostname"]  # the host's or the joined one's: OCI sets a hostname only in a UTS namespace of its own
    return spec


def rlimits(ulimits: list[str]) -> list[dict]:
    """--ulimit values as OCI rlimits (-1 is RLIM_INFINITY); the last of a name wins, as in docker."""
    from corral.runtime.options import UNLIMITED, parse_ulimit

    found: dict[str, dict] = {}
    for text in ulimits:
        name, soft, hard = parse_ulimit(text)
        found[name] = {"type": "RLIMIT_" + name.upper(), "soft": UNLIMITED if soft == -1 else soft,
                       "hard": UNLIMITED if hard == -1 else hard}
    return list(found.values())


def devices(specs: list[str], rules: list[dict]) -> list[dict]:
    """--device values as OCI linux.devices (nodes the init makes), each allowed in the devices cgroup
    by a rule appended to `rules`. The host path must be a device node, as docker requires."""
    import stat

    from corral.runtime.options import parse_device

    found = []
    for text in specs:
        src, dst, perms = parse_device(text)
        try:
            st = os.stat(src)
        except OSError as e:
            raise InvalidArgument(f'error gathering device information while adding custom device "{src}": '
                                  f"{e.strerror.lower()}") from None
        if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
            raise InvalidArgument(f'error gathering device information while adding custom device "{src}": '
                                  "not a device node")
        kind = "c" if stat.S_ISCHR(st.st_mode) else "b"
        major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
        found.append({"path": dst, "type": kind, "major": major, "minor": minor, "fileMode": st.st_mode & 0o777,
                      "uid": st.st_uid, "gid": st.st_gid})
        rules.append({"allow": True, "type": kind, "major": major, "minor": minor, "access": perms})
    return found


def bind_mount(bind: str) -> dict:
    """A Docker bind ("HOST:CONTAINER[:ro|rw]") as an OCI mount; the host path must exist."""
    source, _, rest = bind.partition(":")
    destination, _, mode = rest.partition(":")
    if not source.startswith("/") or not destination.startswith("/") or mode not in ("", "ro", "rw"):
        raise InvalidArgument(f"invalid bind {bind!r}: use /host/path:/container/path[:ro]")
    if not os.path.exists(source):
        raise InvalidArgument(f"invalid bind {bind!r}: {source} does not exist on the host")
    return {"destination": destination, "type": "bind", "source": source,
            "options": ["rbind", "rprivate"] + (["ro"] if mode == "ro" else [])}


def user_mounts(found: list[dict]) -> list[dict]:
    """The user's mounts in the order to make them: a parent before what is mounted under it (docker sorts
    by the number of path parts too), else as given. Two on one target (-v, --mount, --tmpfs together)
    are refused, as docker's "Duplicate mount point"."""
    seen: set[str] = set()
    for m in found:
        target = m["destination"].rstrip("/") or "/"
        if target in seen:
            raise InvalidArgument(f"Duplicate mount point: {target}")
        seen.add(target)
    return sorted(found, key=lambda m: m["destination"].rstrip("/").count("/"))


# docker's --tmpfs flags (moby/sys/mount's table): each a mount flag set or cleared; a later flag of one
# key (a pair such as ro/rw, or the propagation) overrides an earlier one, as its MergeTmpfsOptions does
_TMPFS_FLAGS = {
    "ro": "ro", "rw": "ro", "nosuid": "suid", "suid": "suid", "nodev": "dev", "dev": "dev",
    "noexec": "exec", "exec": "exec", "sync": "sync", "async": "sync", "dirsync": "dirsync",
    "noatime": "atime", "atime": "atime", "nodiratime": "diratime", "diratime": "diratime",
    "relatime": "relatime", "norelatime": "relatime", "strictatime": "strictatime", "nostrictatime": "strictatime",
    "private": "propagation", "rprivate": "propagation", "shared": "propagation", "rshared": "propagation",
    "slave": "propagation", "rslave": "propagation",
}
_TMPFS_DATA = ("size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol")
TMPFS_DEFAULTS = ["noexec", "nosuid", "nodev", "rprivate"]
"""docker's flags of a --tmpfs mount, before those given."""


def tmpfs_mount(target: str, options: str) -> dict:
    """The OCI mount of a tmpfs at `target` with docker's --tmpfs option string ("size=64m,mode=1777,exec"):
    docker's defaults (rw,noexec,nosuid,nodev, private) merged with the options given, the last of a kind
    winning. Sizes are the kernel's (64m, 1g, 10%), as docker passes them to mount(2): checked here, so a
    typo is an error at create and not at start."""
    if not target.startswith("/"):
        raise InvalidArgument(f"invalid mount path: '{target}' mount path must be absolute")
    given = TMPFS_DEFAULTS + (options.split(",") if options else [])
    merged: list[str] = []
    seen: set[str] = set()
    for option in reversed(given):
        if option == "defaults":
            continue
        key, sep, value = option.partition("=")
        if not sep and option in _TMPFS_FLAGS:
            key = _TMPFS_FLAGS[option]
        elif not sep or key not in _TMPFS_DATA:
            shown = f'["{key}" "{value}"]' if sep else f'["{option}"]'
            raise InvalidArgument(f"invalid tmpfs option {shown}")
        else:
            _check_tmpfs_value(key, value)
        if key not in seen:
            seen.add(key)
            merged.insert(0, option)
    return {"destination": target, "type": "tmpfs", "source": "tmpfs", "options": merged}


def _check_tmpfs_value(key: str, value: str) -> None:
    """A tmpfs data option's value as the kernel reads it: sizes and inode counts are numbers with an optional
    k, m, g, t, p or e (size also a percentage of memory), mode octal, uid and gid decimal."""
    if key in ("size", "nr_blocks", "nr_inodes"):
        number = value[:-1] if value[-1:].lower() in ("k", "m", "g", "t", "p", "e") or \
            (key == "size" and value.endswith("%")) else value
        ok = number.isdigit() and number.isascii()
        what = "a number with an optional k, m or g unit" + (", or a percentage of memory" if key == "size" else "")
    elif key == "mode":
        ok = bool(value) and all(c in "01234567" for c in value)
        what = "an octal mode (1777)"
    elif key in ("uid", "gid"):
        ok = value.isdigit() and value.isascii()
        what = "a number"
    else:
        ok, what = bool(value), "a memory policy"
    if not ok:
        raise InvalidArgument(f"invalid tmpfs option {key}={value!r}: give {what}")


def container_mount(m: dict) -> dict:
    """A resolved mount description (api/mounts.py: its "oci" part says what to mount) as an OCI mount:
    binds recursive, private unless a propagation is asked, read-only with readonly."""
    oci = m["oci"]
    options = list(oci.get("options") or [])
    if oci["type"] == "bind":
        options = ["rbind", m.get("propagation") or "rprivate"] + options
    if m.get("readonly"):
        options.append("ro")
    return {"destination": m["target"], "type": oci["type"], "source": oci["source"], "options": options}


def etc_files(hostname: str) -> dict[str, str]:
    """The /etc files of a container without network settings (network/etc.py writes the others)."""
    return {
        "hostname": hostname + "\n",
        "hosts": f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n",
        "resolv.conf": "",
    }


def exec_process(spec_process: dict, args: list[str], user: tuple[int, int, list[int]] | None,
                 env: list[str], workdir: str | None, privileged: bool) -> dict:
    """The OCI process for an exec: the container's own, with this exec's command and overrides."""
    process = {k: v for k, v in spec_process.items() if k != "terminal"}
    process["args"] = args
    merged = dict(e.split("=", 1) for e in spec_process.get("env", []) if "=" in e)
    for item in env:  # a bare NAME unsets NAME, as in merge_env
        key, sep, value = item.partition("=")
        if sep:
            merged[key] = value
        else:
            merged.pop(key, None)
    process["env"] = [f"{k}={v}" for k, v in merged.items()]
    if workdir:
        process["cwd"] = workdir
    if user is not None:
        uid, gid, extra = user
        process["user"] = {"uid": uid, "gid": gid, "additionalGids": extra}
    capset = process.get("capabilities", {})
    if privileged:
        every = caps.oci_names(caps.all_names())
        capset = {"bounding": every, "effective": every, "permitted": every, "inheritable": [], "ambient": []}
        process["noNewPrivileges"] = False
    uid = process.get("user", {}).get("uid", 0)
    if uid != 0:
        capset = dict(capset, effective=[], permitted=[])
    elif not privileged:
        capset = dict(capset, effective=capset.get("bounding", []), permitted=capset.get("bounding", []))
    process["capabilities"] = capset
    return process
