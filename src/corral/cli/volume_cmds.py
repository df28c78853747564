"""Volume verbs (`corral volume …`): thin calls into corral.api, printed as docker does."""
from __future__ import annotations

from corral.api import Host
from corral.cli.parser import key_values
from corral.cli.shared import confirmed, each, inspect_each
from corral.errors import InvalidArgument

VOLUME_HEADERS = {"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
                  "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE", "CreatedAt": "CREATED AT"}


def create(o: dict, args: list[str]) -> int:
    name = args[0] if args else o["name"]
    if args and o["name"] and o["name"] != args[0]:
        raise InvalidArgument("conflicting options: either specify --name or provide positional arg, not both")
    v = Host().create_volume(name, driver=o["driver"], options=key_values(o["opt"], "--opt"),
                             labels=key_values(o["label"], "--label"))
    print(v.name)
    return 0


def ls(o: dict, args: list[str]) -> int:
    from corral.api import filters
    from corral.cli import fmt

    host = Host()
    vols = host.volumes(filters.parse(o["filter"]))
    if o["quiet"] and o["format"] is None:
        for v in vols:
            print(v.name)
        return 0

    def links(v) -> str:  # noqa: ANN001 - a Volume
        return str(len(v.users()))

    def size(v) -> str:  # noqa: ANN001 - a Volume
        n = v.size()
        return "N/A" if n < 0 else fmt.size(n)

    rows = [fmt.Row(v.labels, Name=v.name, Driver=v.driver, Scope="local", Mountpoint=v.mountpoint,
                    Labels=fmt.labels(v.labels), Links=lambda v=v: links(v), Size=lambda v=v: size(v),
                    CreatedAt=fmt.go_time(v.created)) for v in vols]
    fmt.print_rows(rows, o["format"], ("Driver", "Name"), VOLUME_HEADERS)
    return 0


def inspect(o: dict, args: list[str]) -> int:
    return inspect_each(args, lambda host, name: host.volume(name).inspect(), o["format"])


def rm(o: dict, args: list[str]) -> int:
    return each(args, lambda host, name: host.remove_volume(name, force=o["force"]))


def prune(o: dict, args: list[str]) -> int:
    from corral.api import filters
    from corral.cli import fmt

    wanted = filters.parse(o["filter"])
    if o["all"]:
        wanted["all"] = ["true"]
    filters.validate(wanted, filters.VOLUME_PRUNE_KEYS)
    what = "all local volumes" if o["all"] else "anonymous local volumes"
    if not confirmed(f"WARNING! This will remove {what} not used by at least one container.", o["force"]):
        return 0
    done = Host().prune_volumes(wanted)
    print(fmt.deleted("Deleted Volumes:", done["VolumesDeleted"]), end="")
    print(f"Total reclaimed space: {fmt.size(done['SpaceReclaimed'])}")
    return 0
