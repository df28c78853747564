"""docker-py's keyword arguments of containers.run/create, turned into the engine's create options.

Each docker-py name maps to one ContainerOptions field through a converter that
checks the value's type and names the argument when it is wrong. A name docker-py
knows that corral does not apply yet is refused with a message saying so (never
accepted and ignored); a name docker-py does not know either is an
UnexpectedArgument, as docker-py's TypeError was.
"""
from __future__ import annotations

from corral.api.models import check_type
from corral.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

# docker-py's run/create keywords that corral does not apply (yet); refused by name, with the reason
NOT_APPLIED = {
    "cgroup_parent": "a cgroup parent",
    "cpu_count": "Windows CPU counts", "cpu_percent": "Windows CPU percent",
    "cpu_rt_period": "real-time CPU periods", "cpu_rt_runtime": "real-time CPU runtimes",
    "device_cgroup_rules": "device cgroup rules", "device_requests": "GPU device requests",
    "domainname": "a domain name", "init_path": "another init binary",
    "kernel_memory": "kernel memory limits", "links": "legacy links",
    "log_config": "logging drivers other than json-file", "lxc_conf": "LXC options",
    "mac_address": "MAC addresses",
    "network_disabled": "network_disabled (use network_mode='none')", "networking_config": "networking_config",
    "runtime": "other runtimes", "storage_opt": "storage options",
    "use_config_proxy": "proxy settings from a client config",
    "volume_driver": "volume drivers",
}


def split_command(call: str, name: str, value: object) -> list[str] | None:
    """A command as docker-py takes it: a string is split as a shell would (shlex), a list is kept."""
    check_type(call, name, value, str, list, tuple)
    if isinstance(value, str):
        import shlex

        return shlex.split(value)
    if value is not None:
        if not all(isinstance(a, str) for a in value):
            from corral.errors import UnexpectedArgument

            raise UnexpectedArgument(f"{call}(): every item of {name} must be a str")
        return list(value)
    return None


def environment(call: str, name: str, value: object) -> list[str]:
    """docker-py's environment: a dict ({"K": "v"}; None for a bare K) or a list of "K=V" strings."""
    check_type(call, name, value, dict, list, tuple)
    if isinstance(value, dict):
        return [k if v is None else f"{k}={v}" for k, v in value.items()]
    return [str(e) for e in value or []]


def labels(call: str, name: str, value: object) -> dict[str, str]:
    """A dict of labels, or a list of label names (each with an empty value), as docker-py takes them."""
    check_type(call, name, value, dict, list, tuple)
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    return {str(k): "" for k in value or []}


def memory(call: str, name: str, value: object) -> int | None:
    """mem_limit as docker-py takes it: bytes as an int, or a string with a unit ("64m", "1g")."""
    check_type(call, name, value, int, str)
    if isinstance(value, str):
        from corral.runtime.options import parse_bytes

        return parse_bytes(value)
    return value


def ports(call: str, name: str, value: object) -> list[str]:
    """docker-py's ports dict as `-p` specs: {"80/tcp": 8080}, {"80": None} (a free host port),
    {"80/tcp": ("127.0.0.1", 8080)}, {"80/udp": [8080, 8081]}, {"80": ("127.0.0.1",)}."""
    check_type(call, name, value, dict)
    specs = []
    for container_port, hosts in (value or {}).items():
        port = str(container_port)
        bindings = hosts if isinstance(hosts, list) else [hosts]
        for host in bindings:
            if host is None:
                specs.append(port)
            elif isinstance(host, (int, str)):
                specs.append(f"{host}:{port}")
            elif isinstance(host, tuple) and len(host) in (1, 2):
                specs.append(f"{host[0]}:{host[1] if len(host) == 2 else ''}:{port}")
            else:
                raise InvalidArgument(f"{call}(): ports[{container_port!r}] must be a host port, None, "
                                      f"(host_ip, host_port), (host_ip,) or a list of these, not {host!r}")
    return specs


def extra_hosts(call: str, name: str, value: object) -> list[str]:
    """{"name": "ip"} or ["name:ip"]."""
    check_type(call, name, value, dict, list, tuple)
    if isinstance(value, dict):
        return [f"{k}:{v}" for k, v in value.items()]
    return [str(h) for h in value or []]


def volumes(call: str, name: str, value: object) -> list[dict]:
    """docker-py's volumes: {"/host or NAME": {"bind": "/ctr", "mode": "ro"}} or ["/host:/ctr:ro", "NAME:/ctr",
    "/ctr"], read as `-v` is (binds, named and anonymous volumes)."""
    from corral.api.mounts import parse_volume

    check_type(call, name, value, dict, list, tuple)
    if isinstance(value, dict):
        specs = []
        for source, how in value.items():
            if isinstance(how, str):
                specs.append(f"{source}:{how}")
                continue
            check_type(call, f"{name}[{source!r}]", how, dict)
            mode = how.get("mode", "rw")
            specs.append(f"{source}:{how.get('bind')}:{mode}")
    else:
        specs = [str(b) for b in value or []]
    try:
        return [parse_volume(spec)[0] for spec in specs]
    except InvalidArgument as e:
        raise InvalidArgument(f"{call}(): {name}: {e}") from None


def mounts(call: str, name: str, value: object) -> list[dict]:
    """docker-py's Mount objects (dicts: Type, Source, Target, ReadOnly, BindOptions.Propagation,
    VolumeOptions.NoCopy/Labels, TmpfsOptions.SizeBytes/Mode), read as `--mount` is."""
    from corral.api.mounts import parse_mount

    check_type(call, name, value, list, tuple)
    found = []
    for item in value or []:
        check_type(call, name, item, dict)
        fields = [f"type={item.get('Type') or 'volume'}", f"target={item.get('Target') or ''}"]
        if item.get("Source"):
            fields.append(f"source={item['Source']}")
        if item.get("ReadOnly"):
            fields.append("readonly")
        if (item.get("BindOptions") or {}).get("Propagation"):
            fields.append(f"bind-propagation={item['BindOptions']['Propagation']}")
        volume_opts = item.get("VolumeOptions") or {}
        if volume_opts.get("NoCopy"):
            fields.append("volume-nocopy")
        if volume_opts.get("DriverConfig"):
            raise InvalidArgument(f"{call}(): {name}: DriverConfig: corral has the local driver only")
        tmpfs = item.get("TmpfsOptions") or {}
        if tmpfs.get("SizeBytes"):
            fields.append(f"tmpfs-size={tmpfs['SizeBytes']}")
        if tmpfs.get("Mode"):
            fields.append(f"tmpfs-mode={tmpfs['Mode']:o}")
        try:
            m = parse_mount(",".join(fields))
        except InvalidArgument as e:
            raise InvalidArgument(f"{call}(): {name}: {e}") from None
        if volume_opts.get("Labels"):
            m["volume_labels"] = dict(volume_opts["Labels"])
        found.append(m)
    return found


def tmpfs(call: str, name: str, value: object) -> dict[str, str]:
    """docker-py's tmpfs: {"/run": "size=64m"} or ["/run:size=64m", "/tmp"]."""
    check_type(call, name, value, dict, list, tuple)
    if isinstance(value, dict):
        return {str(k): str(v or "") for k, v in value.items()}
    return dict(str(t).partition(":")[::2] for t in value or [])


def ulimits(call: str, name: str, value: object) -> list[str]:
    """docker-py's ulimits: Ulimit objects or dicts ({"Name": "nofile", "Soft": 1024, "Hard": 2048}),
    as `--ulimit` specs."""
    check_type(call, name, value, list, tuple)
    specs = []
    for u in value or []:
        check_type(call, f"{name} item", u, dict)
        soft, hard = u.get("Soft", u.get("soft")), u.get("Hard", u.get("hard"))
        limit = f"{soft}" if hard is None else f"{soft}:{hard}"
        specs.append(f"{u.get('Name', u.get('name'))}={limit}")
    return specs


def sysctls(call: str, name: str, value: object) -> dict[str, str]:
    check_type(call, name, value, dict)
    return {str(k): str(v) for k, v in (value or {}).items()}


def healthcheck(call: str, name: str, value: object) -> dict | None:
    """docker-py's healthcheck: a dict (or its Healthcheck) with test, interval, timeout, retries,
    start_period (durations in nanoseconds; docker's capitalised keys too); a string test is a
    CMD-SHELL one, as docker-py makes it."""
    check_type(call, name, value, dict)
    if value is None:
        return None
    found: dict = {}
    for key, docker_key in (("test", "Test"), ("interval", "Interval"), ("timeout", "Timeout"),
                            ("retries", "Retries"), ("start_period", "StartPeriod"),
                            ("start_interval", "StartInterval")):
        item = value.get(key, value.get(docker_key))
        if item is None:
            continue
        if key == "test":
            check_type(call, f"{name}[{key!r}]", item, str, list, tuple)
            item = ["CMD-SHELL", item] if isinstance(item, str) else list(item)
        else:
            check_type(call, f"{name}[{key!r}]", item, int)
        found[docker_key] = item
    unknown = set(value) - {"test", "Test", "interval", "Interval", "timeout", "Timeout", "retries", "Retries",
                            "start_period", "StartPeriod", "start_interval", "StartInterval"}
    if unknown:
        raise InvalidArgument(f"{call}(): {name}: unknown key(s) {', '.join(sorted(unknown))}")
    return found


def restart_policy(call: str, name: str, value: object) -> str | None:
    """docker-py's restart_policy {"Name": "on-failure", "MaximumRetryCount": 3} as --restart's text."""
    from corral.runtime.options import restart_text

    check_type(call, name, value, dict)
    return None if value is None else restart_text(value)


def _str(call: str, name: str, value: object) -> str | None:
    check_type(call, name, value, str)
    return value


def _user(call: str, name: str, value: object) -> str | None:
    check_type(call, name, value, str, int)
    return None if value is None else str(value)


def _bool(call: str, name: str, value: object) -> bool:
    check_type(call, name, value, bool)
    return bool(value)


def _int(call: str, name: str, value: object) -> int | None:
    check_type(call, name, value, int)
    return value


def _strings(call: str, name: str, value: object) -> list[str]:
    check_type(call, name, value, list, tuple, str)
    return [value] if isinstance(value, str) else [str(v) for v in value or []]


def _nano_cpus(call: str, name: str, value: object) -> float | None:
    check_type(call, name, value, int)
    return None if value is None else value / 1e9


def _devices_of(field: str) -> Callable:
    """A converter of docker-py's list of {"Path": ..., field: n} (blkio_weight_device: "Weight"; the four
    device_*_bps/iops: "Rate"), checked for its shape here and for its values and paths at create."""
    def convert(call: str, name: str, value: object) -> list[dict]:
        check_type(call, name, value, list, tuple)
        found = []
        for item in value or []:
            check_type(call, f"{name} item", item, dict)
            if set(item) != {"Path", field}:
                raise InvalidArgument(f"{call}(): every item of {name} is a dict with the keys Path and {field}, "
                                      f"not {item!r}")
            found.append({"Path": item["Path"], field: item[field]})
        return found

    return convert


def _network(call: str, name: str, value: object) -> str | None:
    check_type(call, name, value, str)
    return value


def _rate(call: str, name: str, value: object) -> int | None:
    check_type(call, name, value, str, int)
    if value is None:
        return None
    from corral.network.bandwidth import rate_value

    try:
        return rate_value(value, name)
    except InvalidArgument as e:
        raise InvalidArgument(f"{call}(): {e}") from None


# docker-py's name: (ContainerOptions field, converter)
OPTIONS: dict[str, tuple[str, Callable]] = {
    "entrypoint": ("entrypoint", split_command), "environment": ("env", environment),
    "working_dir": ("workdir", _str), "user": ("user", _user), "hostname": ("hostname", _str),
    "mem_limit": ("memory", memory), "nano_cpus": ("cpus", _nano_cpus), "pids_limit": ("pids_limit", _int),
    "auto_remove": ("autoremove", _bool), "network_mode": ("network", _network), "network": ("network", _network),
    "ports": ("ports", ports), "publish_all_ports": ("publish_all", _bool), "extra_hosts": ("add_host", extra_hosts),
    "dns": ("dns", _strings), "dns_search": ("dns_search", _strings), "dns_opt": ("dns_option", _strings),
    "cap_add": ("cap_add", _strings), "cap_drop": ("cap_drop", _strings), "privileged": ("privileged", _bool),
    "labels": ("labels", labels), "stop_signal": ("stop_signal", _str), "stop_timeout": ("stop_timeout", _int),
    "stdin_open": ("interactive", _bool), "tty": ("tty", _bool), "volumes": ("mounts", volumes),
    "mounts": ("mounts", mounts), "volumes_from": ("volumes_from", _strings),
    "init": ("init", _bool), "ulimits": ("ulimits", ulimits), "sysctls": ("sysctls", sysctls),
    "group_add": ("group_add", _strings), "ipc_mode": ("ipc", _str), "pid_mode": ("pid", _str),
    "uts_mode": ("uts", _str), "devices": ("devices", _strings), "cgroupns": ("cgroupns", _str),
    "userns_mode": ("userns", _str),
    "read_only": ("read_only", _bool), "tmpfs": ("tmpfs", tmpfs), "shm_size": ("shm_size", memory),
    "healthcheck": ("healthcheck", healthcheck), "restart_policy": ("restart", restart_policy),
    # resource limits beyond mem_limit, nano_cpus and pids_limit
    "memswap_limit": ("memory_swap", memory), "mem_reservation": ("memory_reservation", memory),
    "mem_swappiness": ("memory_swappiness", _int), "oom_kill_disable": ("oom_kill_disable", _bool),
    "oom_score_adj": ("oom_score_adj", _int), "cpu_shares": ("cpu_shares", _int),
    "cpu_period": ("cpu_period", _int), "cpu_quota": ("cpu_quota", _int), "cpuset_cpus": ("cpuset_cpus", _str),
    "cpuset_mems": ("cpuset_mems", _str), "blkio_weight": ("blkio_weight", _int),
    "blkio_weight_device": ("blkio_weight_device", _devices_of("Weight")),
    "device_read_bps": ("device_read_bps", _devices_of("Rate")),
    "device_write_bps": ("device_write_bps", _devices_of("Rate")),
    "device_read_iops": ("device_read_iops", _devices_of("Rate")),
    "device_write_iops": ("device_write_iops", _devices_of("Rate")),
    "security_opt": ("security_opt", _strings), "isolation": ("isolation", _str),
    # corral's own (network/bandwidth.py): "10mbit" or bits per second; network_bandwidth sets both directions
    "network_bandwidth_in": ("network_bandwidth_in", _rate), "network_bandwidth_out": ("network_bandwidth_out", _rate),
}


def create_options(call: str, kwargs: dict) -> dict:
    """The engine's create options for docker-py's keyword arguments (all but image, command, name)."""
    from corral.errors import UnexpectedArgument

    if kwargs.get("network") and kwargs.get("network_mode"):
        raise InvalidArgument(f'{call}(): the options "network" and "network_mode" can not be used together')
    platform = kwargs.pop("platform", None)
    if platform not in (None, "linux", "linux/amd64", "amd64"):
        raise InvalidArgument(f"{call}(): platform {platform!r}: corral runs linux/amd64 images only")
    both = kwargs.pop("network_bandwidth", None)  # corral's: a rate for both directions; _in and _out apart win
    for key in ("network_bandwidth_in", "network_bandwidth_out") if both is not None else ():
        kwargs[key] = both if kwargs.get(key) is None else kwargs[key]
    options = {}
    for key, value in kwargs.items():
        if key in OPTIONS:
            field, convert = OPTIONS[key]
            converted = convert(call, key, value)
            if converted is not None:
                options[field] = options.get(field, []) + converted if field == "mounts" else converted
        elif key in NOT_APPLIED:
            if value not in (None, False, [], {}, ""):
                raise InvalidArgument(f"{call}(): {key}: corral does not support {NOT_APPLIED[key]} yet")
        else:
            raise UnexpectedArgument(f"{call}() got an unexpected keyword argument {key!r}")
    return options
