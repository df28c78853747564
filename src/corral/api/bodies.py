"""The Engine API's request bodies read as the engine's arguments: POST /containers/create's Config,
HostConfig and NetworkingConfig as Host.create_container's options, and exec's as exec_channel's.

The docker CLI sends every HostConfig field, zeros and nulls included, and other clients a few: a
field at its neutral value (null, "", 0, false, [], {}) means "not set" and is fine whatever it is;
a field set to something corral applies is applied; any other field set is refused by name (400),
never accepted and ignored.
"""
from __future__ import annotations

from corral.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

_NEUTRAL = (None, "", 0, False, [], {})
_IGNORED = {
    # what says how a client attaches, not what the container is; docker reads them per attach
    "AttachStdin", "AttachStdout", "AttachStderr", "StdinOnce", "ConsoleSize", "ArgsEscaped",
    # set to docker's defaults by the CLI
    "MemorySwappiness", "OomScoreAdj", "Runtime", "Platform", "Image", "Cmd", "Entrypoint",
}


def _strslice(name: str, value: object) -> list[str] | None:
    """docker's StrSlice: a list of strings, or one string (one element), or null."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise InvalidArgument(f"{name} must be a string or a list of strings")


def _port_specs(bindings: dict) -> list[str]:
    """HostConfig.PortBindings ({"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}) as -p specs."""
    specs = []
    for port, hosts in (bindings or {}).items():
        for h in hosts or [{}]:
            ip, hp = (h or {}).get("HostIp") or "", (h or {}).get("HostPort") or ""
            specs.append(f"{ip}:{hp}:{port}" if ip else f"{hp}:{port}" if hp else port)
    return specs


def _ulimits(items: list) -> list[str]:
    return [f"{u['Name']}={u.get('Soft', 0)}:{u.get('Hard', u.get('Soft', 0))}" for u in items or []]


def _devices(items: list) -> list[str]:
    found = []
    for d in items or []:
        host, ctr, perms = d.get("PathOnHost", ""), d.get("PathInContainer") or d.get("PathOnHost", ""), \
            d.get("CgroupPermissions") or "rwm"
        found.append(f"{host}:{ctr}:{perms}")
    return found


def _binds(items: list) -> list[dict]:
    from corral.api.mounts import parse_volume

    return [parse_volume(b)[0] for b in items or []]


def _mounts(items: list) -> list[dict]:
    from corral.api.models.create import mounts

    return mounts("create", "HostConfig.Mounts", items or [])


def _anonymous(volumes: dict) -> list[dict]:
    """Config.Volumes ({"/data": {}}): anonymous volumes, as `-v /data`."""
    from corral.api.mounts import parse_volume

    return [parse_volume(path)[0] for path in volumes or {}]


def _restart(policy: dict) -> None:
    if (policy or {}).get("Name") not in (None, "", "no"):
        raise InvalidArgument(f"restart policy {policy['Name']!r}: corral does not restart containers yet")
    return None


def _log_config(config: dict) -> None:
    kind = (config or {}).get("Type") or ""
    if kind not in ("", "json-file") or (config or {}).get("Config"):
        raise InvalidArgument(f"log driver {kind!r} with options: corral keeps json-file logs only")
    return None


def _memory(value: int) -> int | None:
    return value or None


# HostConfig field: (ContainerOptions field, converter of the value); field None: checked only
_HOST: dict[str, tuple[str | None, Callable]] = {
    "Binds": ("mounts", _binds), "Mounts": ("mounts", _mounts), "NetworkMode": ("network", str),
    "PortBindings": ("ports", _port_specs), "PublishAllPorts": ("publish_all", bool),
    "AutoRemove": ("autoremove", bool), "Privileged": ("privileged", bool), "CapAdd": ("cap_add", list),
    "CapDrop": ("cap_drop", list), "Dns": ("dns", list), "DnsSearch": ("dns_search", list),
    "DnsOptions": ("dns_option", list), "ExtraHosts": ("add_host", list), "Memory": ("memory", _memory),
    "MemorySwap": ("memory_swap", _memory), "MemoryReservation": ("memory_reservation", _memory),
    "NanoCpus": ("cpus", lambda v: v / 1e9 if v else None), "CpuShares": ("cpu_shares", _memory),
    "CpuPeriod": ("cpu_period", _memory), "CpuQuota": ("cpu_quota", _memory),
    "CpusetCpus": ("cpuset_cpus", lambda v: v or None), "CpusetMems": ("cpuset_mems", lambda v: v or None),
    "BlkioWeight": ("blkio_weight", _memory), "PidsLimit": ("pids_limit", lambda v: v if v and v > 0 else None),
    "Ulimits": ("ulimits", _ulimits), "Sysctls": ("sysctls", dict), "GroupAdd": ("group_add", list),
    "IpcMode": ("ipc", lambda v: v or None), "PidMode": ("pid", lambda v: v or None),
    "UTSMode": ("uts", lambda v: v or None), "UsernsMode": ("userns", lambda v: v or None),
    "Devices": ("devices", _devices),
    "ReadonlyRootfs": ("read_only", bool), "Tmpfs": ("tmpfs", dict), "ShmSize": ("shm_size", _memory),
    "Init": ("init", bool), "VolumesFrom": ("volumes_from", list), "Isolation": ("isolation", str),
    "RestartPolicy": (None, _restart), "LogConfig": (None, _log_config),
}
# Config field: (ContainerOptions field, converter)
_CONFIG: dict[str, tuple[str | None, Callable]] = {
    "Env": ("env", list), "WorkingDir": ("workdir", lambda v: v or None), "User": ("user", lambda v: v or None),
    "Hostname": ("hostname", lambda v: v or None), "Labels": ("labels", dict), "Tty": ("tty", bool),
    "OpenStdin": ("interactive", bool), "StopSignal": ("stop_signal", lambda v: v or None),
    "StopTimeout": ("stop_timeout", lambda v: v), "ExposedPorts": ("expose", lambda v: list(v or {})),
    "Volumes": (None, lambda v: None), "NetworkDisabled": ("network", lambda v: "none" if v else None),
}


def create_arguments(body: dict) -> tuple[str, list[str] | None, dict]:
    """(image, command, options) for Host.create_container from POST /containers/create's body."""
    if not isinstance(body, dict):
        raise InvalidArgument("the body must be a JSON object")
    image = body.get("Image")
    if not image or not isinstance(image, str):
        raise InvalidArgument("config: an image name is required (Image)")
    options: dict = {}
    host = body.get("HostConfig") or {}
    config = {k: v for k, v in body.items() if k not in ("HostConfig", "NetworkingConfig")}
    for where, table, given in (("Config", _CONFIG, config), ("HostConfig", _HOST, host)):
        if not isinstance(given, dict):
            raise InvalidArgument(f"{where} must be a JSON object")
        for key, value in given.items():
            if key in table:
                field, convert = table[key]
                if value in _NEUTRAL and key not in ("StopTimeout",):
                    continue
                try:
                    converted = convert(value)
                except (TypeError, KeyError, AttributeError, ValueError) as e:
                    raise InvalidArgument(f"{where}.{key}: invalid value {value!r}: {e}") from None
                if field is not None and converted is not None:
                    options[field] = options.get(field, []) + converted if field == "mounts" else converted
            elif key not in _IGNORED and value not in _NEUTRAL:
                raise InvalidArgument(f"{where}.{key}: corral does not support it yet")
    declared = body.get("Volumes") or {}
    if not isinstance(declared, dict):
        raise InvalidArgument("Config.Volumes must be a JSON object")
    taken = {m.get("target") for m in options.get("mounts", [])}
    anonymous = _anonymous({path: {} for path in declared if path.rstrip("/") not in taken and path not in taken})
    if anonymous:  # docker: a declared volume that a bind or mount covers is not an anonymous one too
        options["mounts"] = options.get("mounts", []) + anonymous
    entrypoint = _strslice("Entrypoint", body.get("Entrypoint"))
    if entrypoint is not None:
        options["entrypoint"] = [] if entrypoint == [""] else entrypoint
    _endpoints(body.get("NetworkingConfig") or {}, options)
    return image, _strslice("Cmd", body.get("Cmd")), options


def _endpoints(networking: dict, options: dict) -> None:
    """NetworkingConfig.EndpointsConfig: the one network's aliases and address (docker's create takes
    the others by `network connect`)."""
    endpoints = networking.get("EndpointsConfig") or {}
    if len(endpoints) > 1:
        raise InvalidArgument("a container is created on one network: connect it to the others afterwards")
    for name, endpoint in endpoints.items():
        endpoint = endpoint or {}
        if options.get("network", "default") in ("default", "bridge") and name not in ("default", "bridge"):
            options["network"] = name
        if endpoint.get("Aliases"):
            options["network_aliases"] = list(endpoint["Aliases"])
        address = (endpoint.get("IPAMConfig") or {}).get("IPv4Address")
        if address:
            options["ip"] = address


def exec_arguments(body: dict) -> dict:
    """POST /containers/{id}/exec's body: {cmd, tty, stdin, stdout, stderr, user, env, workdir,
    privileged, detach_keys}."""
    cmd = _strslice("Cmd", body.get("Cmd"))
    if not cmd:
        raise InvalidArgument("No exec command specified")
    env = body.get("Env") or []
    if not isinstance(env, list):
        raise InvalidArgument("Env must be a list of K=V strings")
    return {"cmd": cmd, "tty": bool(body.get("Tty")), "stdin": bool(body.get("AttachStdin")),
            "stdout": bool(body.get("AttachStdout", True)), "stderr": bool(body.get("AttachStderr", True)),
            "user": body.get("User") or None, "env": env, "workdir": body.get("WorkingDir") or None,
            "privileged": bool(body.get("Privileged")), "detach_keys": body.get("DetachKeys") or None,
            "console": body.get("ConsoleSize") or None}
