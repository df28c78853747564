"""What a user asks for when creating a container (the `docker create` flags we support)."""
from __future__ import annotations

from corral.errors import InvalidArgument

MIN_MEMORY = 6 * 1024 * 1024  # Docker's floor; below it the kernel may OOM-kill the init before exec
VM_MIN_MEMORY = 64 * 1024 * 1024  # --isolation=vm: --memory is the guest's RAM, which its kernel must fit in
INIT_PATH = "/sbin/docker-init"
"""Where --init's binary appears in the container (runtime/spec.py puts it there), as docker puts its tini."""


_DEFAULTS: dict = {
    "cmd": None, "entrypoint": None, "env": list, "workdir": None, "user": None, "hostname": None,
    "memory": None, "cpus": None, "pids_limit": None, "network": "default", "tty": False, "interactive": False,
    "autoremove": False, "privileged": False, "cap_add": list, "cap_drop": list, "labels": dict,
    "stop_signal": None, "stop_timeout": None, "binds": list, "mounts": list, "volumes_from": list,
    "ports": list, "publish_all": False, "ip": None, "dns": list, "dns_search": list, "dns_option": list,
    "add_host": list, "network_aliases": list,
    "init": False, "ulimits": list, "sysctls": dict, "group_add": list, "ipc": None, "pid": None, "uts": None,
    "devices": list, "expose": list,
    "memory_swap": None, "memory_reservation": None, "cpu_shares": None, "cpu_period": None, "cpu_quota": None,
    "cpuset_cpus": None, "cpuset_mems": None, "blkio_weight": None,
    "read_only": False, "tmpfs": dict, "shm_size": None,
    # health and restart (issue 16 items 5, 6)
    "restart": None, "healthcheck": None,
    "cgroupns": None, "userns": None,
    "memory_swappiness": None, "oom_kill_disable": False, "oom_score_adj": None, "blkio_weight_device": list,
    "device_read_bps": list, "device_write_bps": list, "device_read_iops": list, "device_write_iops": list,
    "security_opt": list,
    # network bandwidth (network/bandwidth.py): bits per second into and out of the container, None: no limit
    "network_bandwidth_in": None, "network_bandwidth_out": None,
    # isolation (issue 19): None (process, the default) or "vm"
    "isolation": None,
}
DEFAULT_SHM_SIZE = 64 * 1024 * 1024
"""docker's /dev/shm size when --shm-size is not given (or is 0)."""


class ContainerOptions:
    """The create-time options; a plain class (dataclasses cost ~15 ms of imports on the run path)."""

    cmd: list[str] | None
    entrypoint: list[str] | None
    env: list[str]
    workdir: str | None
    user: str | None
    hostname: str | None
    memory: int | None
    cpus: float | None
    pids_limit: int | None
    tty: bool
    interactive: bool
    autoremove: bool
    privileged: bool
    cap_add: list[str]
    cap_drop: list[str]
    labels: dict[str, str]
    stop_signal: str | None
    stop_timeout: int | None
    binds: list[str]  # HostConfig.Binds: "HOST_PATH:CONTAINER_PATH[:ro]" (the builder's secrets)
    mounts: list[dict]  # -v/--mount/VOLUME: one description each (api/mounts.py), resolved ("oci") at create
    volumes_from: list[str]  # --volumes-from C[:ro|rw], as typed (its mounts are copied into mounts at create)
    network: str  # none, host, bridge (the default switch), a switch's name, container:ID; see check()
    ports: list[str]  # -p specs as typed: [HOSTIP:][HOSTPORT:]CONTAINERPORT[/PROTO]
    publish_all: bool  # -P
    ip: str | None
    dns: list[str]
    dns_search: list[str]
    dns_option: list[str]
    add_host: list[str]  # NAME:IP
    network_aliases: list[str]
    init: bool  # a tiny init (catatonit) as PID 1: reaps zombies, forwards signals
    ulimits: list[str]  # NAME=SOFT[:HARD] as typed; parse_ulimit reads them
    sysctls: dict[str, str]  # only namespaced ones (check_sysctl)
    group_add: list[str]  # group names (the image's /etc/group) or numbers
    ipc: str | None  # None (private), private, shareable, host, none, container:ID
    pid: str | None  # None (its own), host, container:ID
    uts: str | None  # None (its own), host, container:ID (a pod's members join its infra container's)
    devices: list[str]  # HOST[:CONTAINER[:rwm]]
    expose: list[str]  # PORT[/PROTO] or a range, added to the image's ExposedPorts
    memory_swap: int | None  # memory plus swap, as docker's --memory-swap; -1: unlimited swap
    memory_reservation: int | None  # a soft limit (v1 memory.soft_limit_in_bytes, v2 memory.low)
    cpu_shares: int | None  # relative weight, 1024 the default
    cpu_period: int | None  # CFS period in microseconds
    cpu_quota: int | None  # CFS quota in microseconds per period; -1: none
    cpuset_cpus: str | None  # "0-2,4"
    cpuset_mems: str | None
    blkio_weight: int | None  # 10..1000
    read_only: bool  # the root filesystem mounted read-only (OCI root.readonly)
    tmpfs: dict[str, str]  # --tmpfs: container path -> docker's option string ("size=64m,mode=1777"), as HostConfig
    shm_size: int | None  # bytes of /dev/shm; None: DEFAULT_SHM_SIZE
    # health and restart (issue 16 items 5, 6)
    restart: str | None  # docker's --restart as typed and checked: no, on-failure[:N], always, unless-stopped
    healthcheck: dict | None  # Config.Healthcheck, docker's shape (durations in ns), merged with the image's
    cgroupns: str | None  # None or private (its own cgroup namespace, on v1 as on v2), host
    userns: str | None  # None or host (the host's user namespace), or auto[:size=N] (runtime/userns.py)
    memory_swappiness: int | None  # 0..100; None: the host's
    oom_kill_disable: bool  # the container's processes wait for memory at their limit instead of being killed
    oom_score_adj: int | None  # -1000..1000, the container's processes' /proc/PID/oom_score_adj
    blkio_weight_device: list[dict]  # [{"Path": any path on the disk, "Weight": 10..1000}], as HostConfig
    device_read_bps: list[dict]  # [{"Path": any path on the disk, "Rate": bytes per second}], as HostConfig
    device_write_bps: list[dict]
    device_read_iops: list[dict]  # [{"Path": ..., "Rate": operations per second}]
    device_write_iops: list[dict]
    security_opt: list[str]  # HostConfig.SecurityOpt: seccomp=unconfined|JSON, no-new-privileges[=BOOL]
    network_bandwidth_in: int | None  # bits per second the container may receive, per interface
    network_bandwidth_out: int | None  # bits per second it may send, per interface
    isolation: str | None  # None: process (a shared kernel); "vm": a micro-VM (runtime/vm/)

    def __init__(self, **values: object) -> None:
        unknown = set(values) - set(_DEFAULTS)
        if unknown:
            raise InvalidArgument(f"unknown container option(s): {', '.join(sorted(unknown))}")
        for key, default in _DEFAULTS.items():
            value = values.get(key)
            if value is None:
                value = default() if callable(default) else default
            elif default is list and not isinstance(value, (list, tuple)) or default is dict and \
                    not isinstance(value, dict):  # a dict of ports iterated as a list would lose its host ports
                from corral.errors import UnexpectedArgument

                raise UnexpectedArgument(f"container option {key} must be a {default.__name__}, "
                                         f"not {type(value).__name__}")
            setattr(self, key, value)

    def check(self, update: bool = False) -> None:
        """Docker's checks of the options, in its words; `update` for `docker update`'s merged options."""
        if self.memory is not None and self.memory < MIN_MEMORY:
            raise InvalidArgument("Minimum memory limit allowed is 6MB")
        if self.cpus is not None:
            import os

            count = len(os.sched_getaffinity(0))  # Go's runtime.NumCPU, which docker checks against
            if not 0.01 <= self.cpus <= count:
                raise InvalidArgument(f"range of CPUs is from 0.01 to {count}.00, as there are only {count} CPUs "
                                      "available")
        if self.pids_limit is not None and self.pids_limit <= 0:
            self.pids_limit = None  # docker: 0 and -1 (any negative) mean unlimited
        bandwidth = self.network_bandwidth_in or self.network_bandwidth_out
        if self.network in ("default", ""):
            # no network unless a port is published or a bandwidth limit set (then the default switch): `run`
            # stays as fast as it was
            self.network = "bridge" if self.ports or self.publish_all or bandwidth else "none"
        if self.network_bandwidth_in is not None or self.network_bandwidth_out is not None:
            self._check_bandwidth()
        if self.network.startswith("container:") and len(self.network) == len("container:"):
            raise InvalidArgument("invalid --network container: give container:NAME|ID")
        for e in self.env:
            if not e or e.startswith("="):
                raise InvalidArgument(f"invalid environment variable: {e!r}")
        if self.workdir is not None and not self.workdir.startswith("/"):
            raise InvalidArgument(f"the working directory '{self.workdir}' is invalid, it needs to be an absolute path")
        if self.ulimits or self.sysctls or self.devices or self.expose or self.ipc or self.pid or self.uts or \
                self.cgroupns or self.userns:
            self._check_namespaces_and_limits()
        if self.tmpfs or self.shm_size:
            self._check_tmpfs()
        if self.security_opt:
            self.security_opt = check_security_opts(self.security_opt)
        self.check_limits(update)
        if self.restart or self.healthcheck:
            self._check_health_and_restart()
        if self.isolation is not None:
            self._check_isolation()

    def _check_isolation(self) -> None:
        """docker's values (default, process) and corral's vm; with vm, what the VM backend cannot apply yet
        is refused by name instead of being ignored."""
        if self.isolation in ("", "default", "process"):
            self.isolation = None
            return
        if self.isolation != "vm":
            raise InvalidArgument(f"Invalid isolation: {self.isolation!r} - corral supports 'default', 'process' "
                                  "or 'vm'")
        refused = vm_refusals(self)
        if refused:
            raise InvalidArgument(f"--isolation=vm does not support {refused[0]} yet")

    def _check_userns(self) -> None:
        """--userns=auto[:size=N] (runtime/userns.py), and what it cannot go with: namespaces of the host's or of
        another container, owned by another user namespace, which the container's root could not mount in."""
        from corral.runtime.userns import parse_mode

        parse_mode(self.userns)
        for key, name in (("pid", "--pid"), ("ipc", "--ipc"), ("uts", "--uts")):
            value = getattr(self, key) or ""
            if value == "host" or value.startswith("container:"):
                raise InvalidArgument(f"--userns={self.userns} cannot go with {name} {value}: a user-namespaced "
                                      "container has namespaces of its own (drop one of the two)")
        if self.isolation == "vm":
            raise InvalidArgument(f"--userns={self.userns} cannot go with --isolation=vm: the VM is the boundary")

    def _check_health_and_restart(self) -> None:
        """--restart and the health check, as docker's daemon checks them (its words)."""
        if self.restart:
            name, _ = parse_restart(self.restart)
            if name != "no" and self.autoremove:
                raise InvalidArgument("conflicting options: cannot specify both --restart and --rm")
        if self.healthcheck:
            check_healthcheck(self.healthcheck)

    def _check_namespaces_and_limits(self) -> None:
        """The flags of docker's that are rarely given, checked as docker checks them (its messages)."""
        for text in self.ulimits:
            parse_ulimit(text)
        if self.ipc not in (None, "", "private", "shareable", "host", "none") and not _joins(self.ipc):
            raise InvalidArgument(f"invalid IPC mode: {self.ipc}")
        if self.pid not in (None, "", "host") and not _joins(self.pid):
            raise InvalidArgument("--pid: invalid PID mode")
        if self.uts not in (None, "", "host") and not _joins(self.uts):
            raise InvalidArgument("--uts: invalid UTS mode")
        if self.cgroupns not in (None, "", "host", "private"):
            raise InvalidArgument("--cgroupns: invalid CGROUP mode")
        if self.userns not in (None, "", "host"):
            self._check_userns()
        if self.uts and self.hostname:
            raise InvalidArgument("conflicting options: hostname and the UTS mode")
        for key, value in self.sysctls.items():
            check_sysctl(key, value, self.network, self.ipc)
        for text in self.devices:
            parse_device(text)
        for text in self.expose:
            expose_ports(text)

    def seccomp_profile(self) -> dict | None:
        """The docker profile to apply (runtime/seccomp.py), or None: unconfined (also --privileged, as docker)."""
        from corral.runtime import seccomp

        if self.privileged:
            return None
        chosen = security_settings(self.security_opt)[0]
        if chosen == "unconfined":
            return None
        return seccomp.default_profile() if chosen is None else seccomp.parse_profile(chosen)

    def no_new_privileges(self) -> bool:
        """no_new_privs for the container's processes: on unless --privileged, or
        --security-opt no-new-privileges=false asks it off."""
        asked = security_settings(self.security_opt)[1]
        return (not self.privileged) if asked is None else asked

    def _check_bandwidth(self) -> None:
        """Rates are bits per second, 0 for none (kept as None); a limit needs a switch of the container's own."""
        for key in ("network_bandwidth_in", "network_bandwidth_out"):
            value = getattr(self, key)
            if value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidArgument(f"invalid {key.replace('_', '-')}: {value!r} (give bits per second, 0 for no "
                                      "limit)")
            if value == 0:
                setattr(self, key, None)
        if not (self.network_bandwidth_in or self.network_bandwidth_out):
            return
        if self.network == "none":
            raise InvalidArgument("--network-bandwidth needs a network: the container has none (--network none); "
                                  "give --network bridge or a switch's name")
        if self.network == "host":
            raise InvalidArgument("--network-bandwidth cannot be applied with --network host: the host's interfaces "
                                  "are not the container's to limit")
        if self.network.startswith("container:"):
            raise InvalidArgument(f"--network-bandwidth cannot be applied with --network {self.network}: set it on "
                                  "the container whose network this one shares")

    def _check_tmpfs(self) -> None:
        """--tmpfs targets and --shm-size, in docker's words where docker has them. A size for a /dev/shm
        that is not this container's own tmpfs is refused: it could not be applied."""
        for target in self.tmpfs:
            if not target.startswith("/"):
                raise InvalidArgument(f"invalid mount path: '{target}' mount path must be absolute")
            import os

            if os.path.normpath(target) in ("/", "//"):
                raise InvalidArgument("invalid specification: destination can't be '/'")
        if self.shm_size is not None and self.shm_size < 0:
            raise InvalidArgument("SHM size can not be less than 0")
        if self.shm_size and self.ipc not in (None, "", "private") and "/dev/shm" not in self.tmpfs:
            where = {"host": "the host's", "none": "not mounted",
                     "shareable": "a directory its peers share"}.get(self.ipc, "the other container's")
            raise InvalidArgument(f"--shm-size cannot be applied with --ipc {self.ipc}: /dev/shm is {where} "
                                  "(size it with --ipc private, or --tmpfs /dev/shm:size=...)")

    def check_limits(self, update: bool) -> None:
        """Docker's checks of the resource limits beyond --memory and --cpus, in its words (the daemon's
        verifyPlatformContainerResources); `update` for `docker update`, which may set swap alone."""
        if self.memory_reservation is not None and 0 < self.memory_reservation < MIN_MEMORY:
            raise InvalidArgument("Minimum memory reservation allowed is 6MB")
        if self.memory and self.memory_swap and self.memory_swap > 0 and self.memory_swap < self.memory:
            raise InvalidArgument("Minimum memoryswap limit should be larger than memory limit, see usage")
        if not update and not self.memory and self.memory_swap and self.memory_swap > 0:
            raise InvalidArgument("You should always set the Memory limit when using Memoryswap limit, see usage")
        if self.memory and self.memory_reservation and self.memory < self.memory_reservation:
            raise InvalidArgument("Minimum memory limit can not be less than memory reservation limit, see usage")
        if self.cpus and self.cpu_period:
            raise InvalidArgument("Conflicting options: Nano CPUs and CPU Period cannot both be set")
        if self.cpus and self.cpu_quota:
            raise InvalidArgument("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
        if self.cpu_period and not 1000 <= self.cpu_period <= 1000000:
            raise InvalidArgument("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s "
                                  "(i.e. 1000000)")
        if self.cpu_quota and 0 < self.cpu_quota < 1000:
            raise InvalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)")
        if self.cpu_shares is not None and self.cpu_shares < 0:
            raise InvalidArgument(f"invalid CPU shares {self.cpu_shares}: give a relative weight, 1024 the default")
        for key in ("cpuset_cpus", "cpuset_mems"):
            value = getattr(self, key)
            if value:
                check_cpuset(value, key[7:])
        if self.blkio_weight and not 10 <= self.blkio_weight <= 1000:
            raise InvalidArgument("Range of blkio weight is from 10 to 1000")
        if self.memory_swappiness is not None and not 0 <= self.memory_swappiness <= 100:
            raise InvalidArgument(f"Invalid value: {self.memory_swappiness}, valid memory swappiness range is 0-100")
        if self.oom_score_adj is not None and not -1000 <= self.oom_score_adj <= 1000:
            raise InvalidArgument(f"Invalid value {self.oom_score_adj}, range for oom score adj is [-1000, 1000]")
        if self.blkio_weight or self.memory_swap or self.memory_swappiness is not None or self.oom_kill_disable \
                or self.blkio_weight_device or self.device_read_bps or self.device_write_bps \
                or self.device_read_iops or self.device_write_iops:
            from corral.runtime import cgroups, resources

            cgroups.refuse_unsupported(resources.limits(self))  # which checks the devices' paths and values

    def to_dict(self) -> dict:
        return {key: getattr(self, key) for key in _DEFAULTS}

    @classmethod
    def from_dict(cls, data: dict) -> "ContainerOptions":
        return cls(**{k: v for k, v in data.items() if k in _DEFAULTS})


RESTART_POLICIES = ("no", "always", "on-failure", "unless-stopped")


def parse_restart(text: str) -> tuple[str, int]:
    """docker's --restart POLICY[:MAX] as (name, maximum retry count), checked as docker's CLI and daemon
    check it: a count only with on-failure, never negative."""
    name, colon, count_text = text.partition(":")
    if colon and not name:
        raise InvalidArgument("invalid restart policy format: no policy provided before colon")
    count = 0
    if count_text:
        try:
            count = int(count_text)
        except ValueError:
            raise InvalidArgument("invalid restart policy format: maximum retry count must be an integer") from None
    name = name or "no"
    if name not in RESTART_POLICIES:
        raise InvalidArgument(f"invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', "
                              "'on-failure', or 'unless-stopped'")
    if count < 0:
        raise InvalidArgument("invalid restart policy: maximum retry count cannot be negative")
    if count and name != "on-failure":
        raise InvalidArgument("invalid restart policy: maximum retry count can only be used with 'on-failure'")
    return name, count


def restart_text(policy: str | dict) -> str:
    """A restart policy as --restart's text, from that text or docker's {"Name", "MaximumRetryCount"}."""
    if isinstance(policy, str):
        parse_restart(policy)
        return policy
    if not isinstance(policy, dict):
        raise InvalidArgument(f"invalid restart policy {policy!r}: give {{'Name': ..., 'MaximumRetryCount': N}}")
    name = policy.get("Name") or policy.get("name") or "no"
    count = policy.get("MaximumRetryCount", policy.get("maximum_retry_count")) or 0
    if not isinstance(count, int):
        raise InvalidArgument("invalid restart policy format: maximum retry count must be an integer")
    text = f"{name}:{count}" if count else str(name)
    parse_restart(text)
    return text


HEALTH_DURATIONS = ("Interval", "Timeout", "StartPeriod", "StartInterval")
"""The durations of a Config.Healthcheck, in nanoseconds; 0 means docker's default."""


def check_healthcheck(check: dict) -> None:
    """A Config.Healthcheck as docker's daemon checks it: durations 0 or at least 1ms, retries not negative,
    a test that is CMD, CMD-SHELL (one string) or NONE."""
    test = check.get("Test") or []
    if test and (test[0] not in ("CMD", "CMD-SHELL", "NONE") or test[0] == "CMD" and len(test) < 2
                 or test[0] == "CMD-SHELL" and len(test) != 2):
        raise InvalidArgument(f"invalid health check test {test!r}: give [\"CMD\", args...], "
                              "[\"CMD-SHELL\", command] or [\"NONE\"]")
    for key in HEALTH_DURATIONS:
        value = check.get(key) or 0
        if not isinstance(value, int) or value < 0 or 0 < value < 1_000_000:
            raise InvalidArgument(f"{key} in Healthcheck cannot be less than 1ms")
    retries = check.get("Retries") or 0
    if not isinstance(retries, int) or retries < 0:
        raise InvalidArgument("Retries in Healthcheck cannot be negative")


def merge_healthcheck(own: dict | None, image: dict | None) -> dict | None:
    """The container's Config.Healthcheck: its own fields, the image's where its own are unset, as
    docker's create merges them (a test of its own, or NONE, wins whole)."""
    if not image:
        return own or None
    if own is None:
        return dict(image)
    merged = dict(own)
    for key in ("Test", "Retries") + HEALTH_DURATIONS:
        if not merged.get(key) and image.get(key):
            merged[key] = image[key]
    return merged


def _joins(mode: str | None) -> bool:
    """container:NAME|ID, the mode of a namespace shared with another container."""
    return bool(mode) and mode.startswith("container:") and len(mode) > len("container:")


RLIMITS = {"cpu": 0, "fsize": 1, "data": 2, "stack": 3, "core": 4, "rss": 5, "nproc": 6, "nofile": 7,
           "memlock": 8, "locks": 10, "sigpending": 11, "msgqueue": 12, "nice": 13, "rtprio": 14, "rttime": 15}
"""docker's --ulimit names and their RLIMIT_ numbers (docker leaves out `as` too)."""
UNLIMITED = (1 << 64) - 1  # RLIM_INFINITY, as OCI's rlimits carry it; -1 on the command line


def parse_ulimit(text: str) -> tuple[str, int, int]:
    """NAME=SOFT[:HARD] (-1 unlimited) as (name, soft, hard), with docker's messages."""
    name, sep, limits = text.partition("=")
    if not sep:
        raise InvalidArgument(f"invalid ulimit argument: {text}")
    if name not in RLIMITS:
        raise InvalidArgument(f"invalid ulimit type: {name}")
    soft_text, _, hard_text = limits.partition(":")
    try:
        soft = int(soft_text)
        hard = int(hard_text) if hard_text else soft
    except ValueError:
        raise InvalidArgument(f"invalid ulimit argument: {text}") from None
    if soft < -1 or hard < -1:
        raise InvalidArgument(f"invalid ulimit argument: {text}")
    if hard != -1 and (soft == -1 or soft > hard):
        raise InvalidArgument(f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")
    return name, soft, hard


_IPC_SYSCTLS = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
                "kernel.shmmni", "kernel.shm_rmid_forced"}


def vm_refusals(opts: ContainerOptions) -> list[str]:
    """The options a VM container cannot apply (yet), each as a user would name it."""
    found = []
    if opts.network == "host" or opts.network.startswith("container:"):
        found.append(f"--network {opts.network} (a VM has a network stack of its own: give a network or none)")
    flags = (("devices", "--device"), ("sysctls", "--sysctl"), ("tmpfs", "--tmpfs"),
             ("shm_size", "--shm-size"), ("memory_swap", "--memory-swap"),
             ("memory_reservation", "--memory-reservation"),
             ("memory_swappiness", "--memory-swappiness"), ("oom_kill_disable", "--oom-kill-disable"),
             ("pids_limit", "--pids-limit (it would count QEMU's threads)"))
    found += [name for key, name in flags if getattr(opts, key)]
    if opts.memory is not None and opts.memory < VM_MIN_MEMORY:
        found.append(f"--memory below {VM_MIN_MEMORY >> 20}m (the guest's RAM: its kernel needs more)")
    for key, name in (("ipc", "--ipc"), ("pid", "--pid"), ("uts", "--uts"), ("cgroupns", "--cgroupns")):
        value = getattr(opts, key)
        if value not in (None, "", "private") and not (key == "ipc" and value == "shareable"):
            found.append(f"{name} {value}")
    if any(m.get("type") == "tmpfs" for m in opts.mounts):
        found.append("tmpfs mounts")
    if any(opt.startswith("seccomp") for opt in opts.security_opt):
        found.append("--security-opt seccomp (the VM is the boundary)")
    return found


def check_sysctl(key: str, value: str, network: str, ipc: str | None) -> None:
    """Only the sysctls of a namespace the container has of its own may be set (docker's list)."""
    if key.startswith("net."):
        if network == "host" or network.startswith("container:"):
            raise InvalidArgument(f"sysctl {key!r} is not allowed: the container shares another network namespace"
                                  f" ({network})")
    elif key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
        if ipc == "host" or _joins(ipc):
            raise InvalidArgument(f"sysctl {key!r} is not allowed: the container shares another IPC namespace ({ipc})")
    else:
        raise InvalidArgument(f"sysctl '{key}={value}' is not allowed")


def parse_device(text: str) -> tuple[str, str, str]:
    """HOST[:CONTAINER][:rwm] as (host path, container path, permissions), as docker's parseDevice."""
    parts = text.split(":")
    perms = "rwm"
    if len(parts) == 3:
        src, dst, perms = parts
    elif len(parts) == 2:
        src, dst = parts
        if _device_perms(dst):
            dst, perms = src, dst
    elif len(parts) == 1:
        src = dst = parts[0]
    else:
        raise InvalidArgument(f"invalid device specification: {text}")
    if not _device_perms(perms):
        raise InvalidArgument(f"invalid device mode: {perms}")
    for path in (src, dst):
        if not path.startswith("/"):
            raise InvalidArgument(f"bad format for path: {path}")
    return src, dst, perms


def _device_perms(text: str) -> bool:
    return bool(text) and all(c in "rwm" for c in text) and len(set(text)) == len(text)


def expose_ports(text: str) -> list[str]:
    """--expose PORT[/PROTO] or START-END[/PROTO] as ExposedPorts keys ("80/tcp")."""
    ports, _, proto = text.partition("/")
    proto = proto or "tcp"
    first, _, last = ports.partition("-")
    if not (first.isdecimal() and (not last or last.isdecimal())) or proto not in ("tcp", "udp", "sctp"):
        raise InvalidArgument(f"invalid range format for --expose: {text}")
    start, end = int(first), int(last or first)
    if not 0 < start <= end <= 65535:
        raise InvalidArgument(f"invalid range format for --expose: {text}")
    return [f"{p}/{proto}" for p in range(start, end + 1)]


_MAX_CPUSET = 8192  # the kernel's largest NR_CPUS (and MAX_NUMNODES is smaller)


def parse_cpuset(text: str) -> set[int]:
    """A cpuset list ("0-2,4") as the numbers it names; ValueError when it is not one, or names a CPU past
    the kernel's own limit (so "0-99999999999" is refused, not expanded)."""
    found: set[int] = set()
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        if not low.isdecimal() or (dash and not high.isdecimal()) or (dash and int(high) < int(low)):
            raise ValueError(text)
        if int(high if dash else low) >= _MAX_CPUSET:
            raise ValueError(text)
        found.update(range(int(low), int(high if dash else low) + 1))
    return found


def check_cpuset(text: str, kind: str) -> None:
    """Docker's words for a cpuset naming CPUs (or memory nodes) the host does not have online."""
    try:
        wanted = parse_cpuset(text)
    except ValueError:
        raise InvalidArgument(f"Invalid value {text} for cpuset {kind}") from None
    online = "/sys/devices/system/" + ("cpu/online" if kind == "cpus" else "node/online")
    try:
        with open(online) as f:
            available = f.read().strip()
    except FileNotFoundError:
        available = "0"  # no NUMA: node 0 only
    if not wanted <= parse_cpuset(available):
        what = "CPUs" if kind == "cpus" else "memory nodes"
        raise InvalidArgument(f"Requested {what} are not available - requested {text}, available: {available}")


_RATE_FORMAT = {False: "<device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and "
                       "can be kb, mb, or gb", True: "<device-path>:<number>. Number must be a positive integer"}


def parse_throttle(text: str, iops: bool = False) -> dict:
    """--device-{read,write}-{bps,iops} PATH:RATE as HostConfig's {"Path", "Rate"}, in the docker CLI's words.
    PATH may be any path (runtime/blockdev.py finds its disk); a rate in bytes takes docker's units."""
    path, sep, rate = text.rpartition(":")
    if not sep or not path:
        raise InvalidArgument(f"bad format: {text}")
    bad = InvalidArgument(f"invalid rate for device: {text}. The correct format is {_RATE_FORMAT[iops]}")
    if iops:
        if not rate.isdigit():
            raise bad
        return {"Path": path, "Rate": int(rate)}
    try:
        return {"Path": path, "Rate": parse_bytes(rate)}
    except InvalidArgument:
        raise bad from None


def parse_weight_device(text: str) -> dict:
    """--blkio-weight-device PATH:WEIGHT as HostConfig's {"Path", "Weight"}, in the docker CLI's words."""
    path, sep, weight = text.rpartition(":")
    if not sep or not path:
        raise InvalidArgument(f"bad format: {text}")
    if not weight.isdigit() or int(weight) and not 10 <= int(weight) <= 1000:
        raise InvalidArgument(f"invalid weight for device: {text}")
    return {"Path": path, "Weight": int(weight)}


_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_bytes(text: str) -> int:
    """Docker's RAMInBytes: 512m, 1g, 1.5G, 1048576."""
    t = text.strip().lower().removesuffix("ib").removesuffix("b") if text.strip().lower() not in ("b",) else ""
    unit = t[-1:] if t[-1:] in _UNITS and not t[-1:].isdecimal() else ""
    number = t[: len(t) - len(unit)]
    try:
        value = float(number)
    except ValueError:
        raise InvalidArgument(f"invalid size: {text!r} (use a number with an optional unit b, k, m, g)") from None
    if not 0 <= value * _UNITS[unit] < 2**63:  # also NaN and "1e999" (infinite)
        raise InvalidArgument(f"invalid size: {text!r}")
    return int(value * _UNITS[unit])


# ------------------------------------------------------------------------------------------- --security-opt

_NO_OPS = ("apparmor=unconfined", "label=disable")
"""Values that ask for what corral already does (it applies no AppArmor profile nor SELinux label)."""


def security_settings(values: list[str]) -> tuple[str | None, bool | None]:
    """(seccomp: None for the default, "unconfined" or a profile's JSON; no-new-privileges: None when
    not given) of checked --security-opt values (check_security_opts)."""
    chosen: str | None = None
    nnp: bool | None = None
    for value in values:
        key, _, arg = value.partition("=")
        if key == "seccomp":
            chosen = arg
        elif key == "no-new-privileges":
            nnp = arg.lower() != "false"
    return chosen, nnp


def check_security_opts(values: list[str]) -> list[str]:
    """--security-opt as docker's CLI reads it, in its words: seccomp=unconfined|FILE.json (the file's
    content replaces its path, as docker's CLI sends it), no-new-privileges[=true|false]; anything
    else is refused, since corral would not apply it."""
    out = []
    for value in values:
        key, sep, arg = value.partition("=")
        if not sep and ":" in value:
            key, sep, arg = value.partition(":")  # docker's older separator
        if key == "seccomp" and sep and arg:
            if arg != "unconfined":
                arg = _profile_text(arg)
                from corral.runtime import seccomp

                seccomp.parse_profile(arg)
            out.append(f"seccomp={arg}")
        elif key == "no-new-privileges":
            if sep and arg.lower() not in ("true", "false", "1", "0"):
                raise InvalidArgument(f'invalid --security-opt 2: "{value}"')
            out.append(f"no-new-privileges={'false' if arg.lower() in ('false', '0') else 'true'}")
        elif f"{key}={arg}" in _NO_OPS:
            out.append(f"{key}={arg}")
        elif key in ("apparmor", "label", "systempaths", "mask", "unmask", "writable-cgroups"):
            raise InvalidArgument(f'--security-opt {value}: corral does not apply {key} options')
        else:
            raise InvalidArgument(f'invalid --security-opt 1: "{value}"')
    return out


def _profile_text(arg: str) -> str:
    """A profile given inline (its JSON, as docker's API carries it) or as a file's path (as typed)."""
    if arg.lstrip().startswith("{"):
        return arg
    try:
        with open(arg) as f:
            return f.read()
    except OSError as e:
        raise InvalidArgument(f"opening seccomp profile ({arg}) failed: {e.strerror}") from None
