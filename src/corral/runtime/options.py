"""What a user asks for when creating a container (the `docker create` flags we support)."""
from __future__ import annotations

from corral.errors import InvalidArgument

MIN_MEMORY = 6 * 1024 * 1024  # Docker's floor; below it the kernel may OOM-kill the init before exec


_DEFAULTS: dict = {
    "cmd": None, "entrypoint": None, "env": list, "workdir": None, "user": None, "hostname": None,
    "memory": None, "cpus": None, "pids_limit": None, "network": "default", "tty": False, "interactive": False,
    "autoremove": False, "privileged": False, "cap_add": list, "cap_drop": list, "labels": dict,
    "stop_signal": None, "stop_timeout": None, "binds": list,
    "ports": list, "publish_all": False, "ip": None, "dns": list, "dns_search": list, "dns_option": list,
    "add_host": list, "network_aliases": list,
}


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
    binds: list[str]  # HostConfig.Binds: "HOST_PATH:CONTAINER_PATH[:ro]"
    network: str  # none, host, bridge (the default switch), a switch's name, container:ID; see check()
    ports: list[str]  # -p specs as typed: [HOSTIP:][HOSTPORT:]CONTAINERPORT[/PROTO]
    publish_all: bool  # -P
    ip: str | None
    dns: list[str]
    dns_search: list[str]
    dns_option: list[str]
    add_host: list[str]  # NAME:IP
    network_aliases: list[str]

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

    def check(self) -> None:
        if self.memory is not None and self.memory < MIN_MEMORY:
            raise InvalidArgument("Minimum memory limit allowed is 6MB")
        if self.cpus is not None and not 0.01 <= self.cpus <= 1024:
            raise InvalidArgument(f"invalid --cpus {self.cpus}: the range is 0.01 to the number of CPUs")
        if self.pids_limit is not None and self.pids_limit == 0:
            self.pids_limit = None
        if self.network in ("default", ""):
            # no network unless a port is published (then the default switch): `run` stays as fast as it was
            self.network = "bridge" if self.ports or self.publish_all else "none"
        if self.network.startswith("container:") and len(self.network) == len("container:"):
            raise InvalidArgument("invalid --network container: give container:NAME|ID")
        for e in self.env:
            if not e or e.startswith("="):
                raise InvalidArgument(f"invalid environment variable: {e!r}")
        if self.workdir is not None and not self.workdir.startswith("/"):
            raise InvalidArgument(f"the working directory '{self.workdir}' is invalid, it needs to be an absolute path")

    def to_dict(self) -> dict:
        return {key: getattr(self, key) for key in _DEFAULTS}

    @classmethod
    def from_dict(cls, data: dict) -> "ContainerOptions":
        return cls(**{k: v for k, v in data.items() if k in _DEFAULTS})


_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_bytes(text: str) -> int:
    """Docker's RAMInBytes: 512m, 1g, 1.5G, 1048576."""
    t = text.strip().lower().removesuffix("ib").removesuffix("b") if text.strip().lower() not in ("b",) else ""
    unit = t[-1:] if t[-1:] in _UNITS and not t[-1:].isdigit() else ""
    number = t[: len(t) - len(unit)]
    try:
        value = float(number)
    except ValueError:
        raise InvalidArgument(f"invalid size: {text!r} (use a number with an optional unit b, k, m, g)") from None
    if value < 0:
        raise InvalidArgument(f"invalid size: {text!r}")
    return int(value * _UNITS[unit])
