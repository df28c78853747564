"""Image verbs: import, images, tag, rmi, history, image prune, image bootstrap, save, load, build."""
from __future__ import annotations

import os
import sys
import time

from corral.api import Host
from corral.cli.shared import archive_to_stdout, confirmed
from corral.errors import CorralError, InvalidArgument


def import_(o: dict, args: list[str]) -> int:
    img = Host().import_image(args[0], args[1])
    print(img.id)
    return 0


def images(o: dict, args: list[str]) -> int:
    from corral.api import filters
    from corral.cli import fmt

    found = filters.image_rows(Host(), name=args[0] if args else None, all=o["all"],
                               filters=filters.parse(o["filter"]))
    if o["quiet"] and o["format"] is None:
        for img, _ in found:
            print(img.id if o["no_trunc"] else img.short_id)
        return 0
    rows = []
    for img, shown in found:
        for name in shown or ["<none>:<none>"]:
            repo, _, t = name.rpartition(":")
            rows.append(fmt.Row(ID=img.id if o["no_trunc"] else img.short_id, Repository=repo, Tag=t,
                                Digest=img.manifest_digest or "<none>", CreatedSince=fmt.ago(img.created),
                                CreatedAt=fmt.go_time(img.created), Size=fmt.size(img.size), Containers="N/A"))
    columns = ("Repository", "Tag") + (("Digest",) if o["digests"] else ()) + ("ID", "CreatedSince", "Size")
    fmt.print_rows(rows, o["format"], columns, IMAGES_HEADERS)
    return 0


IMAGES_HEADERS = {"ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
                  "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "Containers": "CONTAINERS"}


def tag(o: dict, args: list[str]) -> int:
    Host().image(args[0]).tag(args[1])
    return 0


def rmi(o: dict, args: list[str]) -> int:
    host = Host()
    status = 0
    for ref in args:
        try:
            for what, name in host.remove_image(ref, force=o["force"]):
                print(f"{what}: {name}")
        except CorralError as e:
            print(f"Error response from daemon: {e}", file=sys.stderr)
            status = 1
    return status


def history(o: dict, args: list[str]) -> int:
    from corral.cli import fmt

    steps = Host().image(args[0]).history()
    if o["quiet"] and o["format"] is None:
        for s in steps:
            print(s["Id"] if o["no_trunc"] or s["Id"] == "<missing>" else s["Id"][7:19])
        return 0
    rows = []
    for s in steps:
        ident = s["Id"] if o["no_trunc"] or s["Id"] == "<missing>" else s["Id"][7:19]
        by = s["CreatedBy"]
        if not o["no_trunc"] and len(by) > 45:
            by = by[:44] + "…"
        created_at = fmt.local_rfc3339(s["Created"]) if s["Created"] else "N/A"
        if not s["Created"]:
            created = "N/A"
        elif o["human"]:
            created = fmt.human_duration(time.time() - s["Created"]) + " ago"
        else:  # -H=false: docker's RFC 3339 in local time, and sizes in bytes
            created = created_at
        rows.append(fmt.Row(ID=ident, CreatedSince=created, CreatedAt=created_at, CreatedBy=by,
                            Size=fmt.size(s["Size"]) if o["human"] else str(s["Size"]), Comment=s["Comment"]))
    fmt.print_rows(rows, o["format"], ("ID", "CreatedSince", "CreatedBy", "Size", "Comment"), HISTORY_HEADERS)
    return 0


HISTORY_HEADERS = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY",
                   "Size": "SIZE", "Comment": "COMMENT"}


def prune(o: dict, args: list[str]) -> int:
    from corral.api import filters
    from corral.cli import fmt

    wanted = filters.parse(o["filter"])
    warning = ("all images without at least one container associated to them" if o["all"] else
               "all dangling images")
    if not confirmed(f"WARNING! This will remove {warning}.", o["force"]):
        return 0
    done = Host().prune_images(all=o["all"], filters=wanted)
    print(fmt.deleted_images(done["ImagesDeleted"]), end="")
    print(f"Total reclaimed space: {fmt.size(done['SpaceReclaimed'])}")
    return 0


def bootstrap(o: dict, args: list[str]) -> int:
    if args[0].startswith("debian"):
        print(f"bootstrapping {args[0]} with debootstrap (about a minute)…", file=sys.stderr)
    print(Host().bootstrap(args[0]).id)
    return 0


def save(o: dict, args: list[str]) -> int:
    Host().save(args, o["output"] or archive_to_stdout(), format=o["format"])
    return 0


def load(o: dict, args: list[str]) -> int:
    import os

    if not o["input"] and os.isatty(0):
        raise InvalidArgument("requested load from stdin, but stdin is a terminal: use -i FILE or redirect stdin")
    for img in Host().load(o["input"] or "-"):
        for name in img.loaded_tags:
            print(f"Loaded image: {name}")
        if not img.loaded_tags:
            print(f"Loaded image ID: {img.id}")
    return 0


def build(o: dict, args: list[str]) -> int:
    from corral.cli.parser import key_values

    secrets = {}
    for spec in o["secret"]:
        fields = dict(f.partition("=")[::2] for f in spec.split(","))
        sid = fields.get("id")
        path = fields.get("src") or fields.get("source")
        if not sid or not path:
            raise InvalidArgument(f"invalid --secret {spec!r}: use id=ID,src=PATH")
        secrets[sid] = path
    events = Host().build(args[0], tags=o["tag"], buildargs=key_values(o["build_arg"], "--build-arg", from_env=True),
                          dockerfile=os.path.abspath(o["file"]) if o["file"] else None,  # -f: from the cwd, as docker
                          target=o["target"], nocache=o["no_cache"], secrets=secrets,
                          labels=key_values(o["label"], "--label"), network=o["network"] or "bridge", quiet=o["quiet"],
                          pull=o["pull"])
    for event in events:
        if "aux" in event and o["quiet"]:
            print(event["aux"]["ID"])
        elif "stream" in event and not o["quiet"]:
            sys.stdout.write(event["stream"])
            sys.stdout.flush()
    return 0
