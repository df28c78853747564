"""Volumes: named and anonymous data directories of the store that containers mount (docker's `local` driver).

A volume outlives every container that mounts it; only `volume rm`/`prune` (and `rm -v` for an
anonymous one) delete it. The local driver's options follow docker's: none (a directory of the
store), `type=tmpfs` (a tmpfs made at each container's mount, in its own mount namespace, so
nothing is left on the host), `type=none,o=bind,device=/path` (a host directory), and other
types (nfs, cifs, ...) whose `o`/`device` are handed to mount(2) at the container's mount (addr=HOST
resolved first, as docker's driver does); a type the kernel lacks is refused at create, in one line.
"""
from __future__ import annotations

from corral.errors import Conflict, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from corral.api.host import Host
    from corral.store.volumes import VolumeRecord

DRIVER = "local"
ANONYMOUS_LABEL = "com.docker.volume.anonymous"
"""docker's mark of a volume made for a container (VOLUME, `-v /ctr`): what `volume prune` takes without -a."""
OPTION_KEYS = ("type", "o", "device", "size")
_NAME_FIRST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_NAME_REST = _NAME_FIRST | frozenset("_.-")


def valid_name(name: str) -> bool:
    """docker's rule for a local volume's name: [a-zA-Z0-9][a-zA-Z0-9_.-]+ (no re: `run -v` is on the fast path)."""
    return len(name) >= 2 and name[0] in _NAME_FIRST and all(c in _NAME_REST for c in name[1:])


def check_name(name: str) -> None:
    if not valid_name(name):
        raise InvalidArgument(f'create {name}: "{name}" includes invalid characters for a local volume name, '
                              'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
                              "directory, use absolute path")


def check_options(name: str, options: dict[str, str]) -> None:
    """docker's local driver's checks of --opt, at create."""
    for key in options:
        if key not in OPTION_KEYS:
            raise InvalidArgument(f'create {name}: invalid option key: "{key}"')
    if "size" in options:
        raise InvalidArgument(f"create {name}: quota size requested but no quota support")
    kind = options.get("type")
    if kind is None and ("o" in options or "device" in options):
        raise InvalidArgument(f"create {name}: missing required option: \"type\"")
    if kind == "none":
        if "bind" not in options.get("o", "").split(","):
            raise InvalidArgument(f"create {name}: type=none needs o=bind (a bind of device=/host/path)")
        if not options.get("device", "").startswith("/"):
            raise InvalidArgument(f"create {name}: o=bind needs device=/absolute/host/path")
    elif kind not in (None, "tmpfs") and not options.get("device"):
        raise InvalidArgument(f'create {name}: missing required option: "device"')
    if kind not in (None, "none"):
        check_filesystem(name, kind)


def check_filesystem(name: str, kind: str) -> None:
    """A volume of a file system the kernel lacks (nfs, cifs on a host without those clients) is refused
    here, in one line naming it, rather than by mount(2)'s "No such device" when a container starts."""
    from corral.runtime.mounts import has_filesystem

    if not has_filesystem(kind):
        raise InvalidArgument(f"volume {name}: this kernel has no {kind} file system (not in /proc/filesystems), "
                              f"so the local driver cannot mount type={kind}")


def _mount_options(kind: str, o: str) -> list[str]:
    """The local driver's `o` as mount(2) gets it; for nfs and cifs an addr=HOST resolved to its address
    (the kernel's clients take only addresses), as docker's driver does at each mount."""
    flags = [opt for opt in o.split(",") if opt]
    if kind.partition(".")[0] not in ("nfs", "nfs4", "cifs", "smb3"):
        return flags
    import socket

    for i, opt in enumerate(flags):
        key, _, host = opt.partition("=")
        if key == "addr" and host:
            try:
                found = sorted(socket.getaddrinfo(host.strip("[]"), None), key=lambda a: a[0] != socket.AF_INET)
            except (socket.gaierror, UnicodeError) as e:
                raise InvalidArgument(f"cannot resolve addr={host} for the {kind} volume: {e}") from None
            flags[i] = "addr=" + found[0][4][0]  # IPv4 first, as Go's ResolveIPAddr("ip", ...)
    return flags


def create(host: Host, name: str | None, driver: str | None, options: dict[str, str] | None,
           labels: dict[str, str] | None, anonymous: bool = False) -> Volume:
    """`volume create`: a new volume, or (docker's rule) the existing one of that name when it was made
    with the same driver and no options that differ."""
    import os

    from corral.runtime.state import now
    from corral.store import volumes as records

    if driver not in (None, "", DRIVER):
        raise InvalidArgument(f'create {name or ""}: error looking up volume plugin {driver}: plugin "{driver}" '
                              "not found (corral has the local driver only)")
    options = dict(options or {})
    labels = dict(labels or {})
    if anonymous:
        labels[ANONYMOUS_LABEL] = ""
    if not name:
        name = os.urandom(32).hex()
    check_name(name)
    check_options(name, options)
    rec = records.VolumeRecord(name, DRIVER, labels, options, now())
    if not records.insert(host.store, rec):
        existing = records.find(host.store, name)
        if options and existing.options != options:
            raise Conflict(f"create {name}: volume already exists and has different options")
        return Volume(host, existing)
    from corral.api import events

    events.record(host.store, "volume", "create", name, {"driver": DRIVER})
    return Volume(host, rec)


def users(host: Host) -> dict[str, list[str]]:
    """Volume name → the IDs of the containers (any state) that mount it."""
    from corral.store import volumes as records

    return records.users(host.store)


class Volume:
    """One volume: its record, where its data is, who uses it; inspect() in docker's shape."""

    def __init__(self, host: Host, rec: VolumeRecord) -> None:
        self.host = host
        self._load(rec)

    def _load(self, rec: VolumeRecord) -> None:
        self.name, self.driver, self.labels, self.options, self.created = rec
        self.id = self.name

    def __repr__(self) -> str:
        return f"<Volume {self.name}>"

    @property
    def mountpoint(self) -> str:
        from corral.store import volumes as records

        return records.data_dir(self.host.store, self.name)

    @property
    def anonymous(self) -> bool:
        return ANONYMOUS_LABEL in self.labels

    def reload(self) -> Volume:
        from corral.store import volumes as records

        self._load(records.find(self.host.store, self.name))
        return self

    def users(self) -> list[str]:
        """The IDs of the containers that mount this volume (running or not)."""
        return users(self.host).get(self.name, [])

    def size(self) -> int:
        """Bytes of its data on disk (-1 for a volume whose data is elsewhere: a bind, a tmpfs, a share)."""
        from corral.store.fsutil import disk_usage

        return -1 if self.options.get("type") else disk_usage(self.mountpoint)

    def source(self) -> dict:
        """How a container mounts it (runtime/spec.py's volume_mount reads this): a bind of its data
        directory, of the host directory of a type=none volume, or a filesystem of the given type."""
        kind = self.options.get("type")
        if kind is None:
            return {"type": "bind", "source": self.mountpoint, "options": []}
        if kind == "none":
            return {"type": "bind", "source": self.options["device"], "options": []}
        check_filesystem(self.name, kind)
        return {"type": kind, "source": self.options.get("device") or kind,
                "options": _mount_options(kind, self.options.get("o", ""))}

    def remove(self, force: bool = False) -> None:
        """`volume rm`: refused while a container uses it (docker's message; force does not override
        that, as docker's); force makes a missing volume no error."""
        from corral.errors import NotFound
        from corral.store import volumes as records

        using = self.users()
        if using:
            raise Conflict(f"remove {self.name}: volume is in use - [{', '.join(using)}]")
        try:
            records.delete(self.host.store, self.name)
        except NotFound:
            if not force:
                raise
            return
        from corral.api import events

        events.record(self.host.store, "volume", "destroy", self.name, {"driver": self.driver})

    def inspect(self) -> dict:
        """docker's volume inspect shape."""
        return {"CreatedAt": self.created, "Driver": self.driver, "Labels": self.labels or None,
                "Mountpoint": self.mountpoint, "Name": self.name, "Options": self.options or None,
                "Scope": "local"}
