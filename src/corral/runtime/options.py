"""What a user asks for when creating a container (the `docker create` flags we support)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from corral.errors import InvalidArgument

MIN_MEMORY = 6 * 1024 * 1024  # Docker's floor; below it the kernel may OOM-kill the init before exec


@dataclass
class ContainerOptions:
    cmd: list[str] | None = None
    entrypoint: list[str] | None = None
    env: list[str] = field(default_factory=list)
    workdir: str | None = None
    user: str | None = None
    hostname: str | None = None
    memory: int | None = None
    cpus: float | None = None
    pids_limit: int | None = None
    network: str = "none"
    tty: bool = False
    interactive: bool = False
    autoremove: bool = False
    privileged: bool = False
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    stop_signal: str | None = None
    stop_timeout: int | None = None

    def check(self) -> None:
        if self.memory is not None and self.memory < MIN_MEMORY:
            raise InvalidArgument("Minimum memory limit allowed is 6MB")
        if self.cpus is not None and not 0.01 <= self.cpus <= 1024:
            raise InvalidArgument(f"invalid --cpus {self.cpus}: the range is 0.01 to the number of CPUs")
        if self.pids_limit is not None and self.pids_limit == 0:
            self.pids_limit = None
        if self.network not in ("none", "default", "bridge", "host") and not self.network:
            raise InvalidArgument("invalid --network value")
        for e in self.env:
            if not e or e.startswith("="):
                raise InvalidArgument(f"invalid environment variable: {e!r}")
        if self.workdir is not None and not self.workdir.startswith("/"):
            raise InvalidArgument(f"the working directory '{self.workdir}' is invalid, it needs to be an absolute path")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ContainerOptions":
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


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
