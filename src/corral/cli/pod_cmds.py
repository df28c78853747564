"""Pod verbs (`corral pod …`): thin calls into corral.api (api/pod.py), printed as podman prints them."""
from __future__ import annotations

import sys

from corral.api import Host
from corral.cli.parser import key_values, report
from corral.cli.shared import confirmed, inspect_each, read_kv_file, seconds
from corral.errors import CorralError, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

    from corral.api.pod import Pod


def create(o: dict, args: list[str]) -> int:
    if args and o["name"]:
        raise InvalidArgument("give the pod's name once: as --name or as the argument")
    labels = key_values([line for path in o["label_file"] for line in read_kv_file(path, False)] + o["label"],
                        "--label")
    pod = Host().create_pod(o["name"] or (args[0] if args else None), ports=o["publish"], network=o["network"],
                            hostname=o["hostname"], labels=labels, share=o["share"], replace=o["replace"],
                            command=["corral"] + sys.argv[1:])
    print(pod.id)
    return 0


POD_HEADERS = {"ID": "POD ID", "Name": "NAME", "Status": "STATUS", "Created": "CREATED", "InfraID": "INFRA ID",
               "NumberOfContainers": "# OF CONTAINERS", "Labels": "LABELS", "Networks": "NETWORKS",
               "ContainerIds": "IDS", "ContainerNames": "NAMES", "ContainerStatuses": "STATUS",
               "CreatedAt": "CREATED AT"}
POD_COLUMNS = ("ID", "Name", "Status", "Created", "InfraID", "NumberOfContainers")


def ps(o: dict, args: list[str]) -> int:
    """podman's `pod ps`: POD ID, NAME, STATUS, CREATED, INFRA ID, # OF CONTAINERS (--ctr-names,
    --ctr-ids, --ctr-status add columns); -q the IDs; --format a template of podman's fields."""
    from corral.api import filters
    from corral.cli import fmt

    pods = Host().pods(filters.parse(o["filter"]))
    if o["quiet"] and o["format"] is None:
        for p in pods:
            print(p.id if o["no_trunc"] else p.short_id)
        return 0
    columns = POD_COLUMNS + tuple(field for flag, field in (("ctr_ids", "ContainerIds"),
                                                             ("ctr_names", "ContainerNames"),
                                                             ("ctr_status", "ContainerStatuses")) if o[flag])
    rows = [_pod_row(p, o["no_trunc"]) for p in pods]
    fmt.print_rows(rows, o["format"], columns, POD_HEADERS)
    return 0


def _pod_row(p: Pod, no_trunc: bool) -> dict:
    """podman's fields of a pod in `pod ps`; those that cost a query are computed when asked."""
    from corral.cli import fmt

    found = p.containers()
    infra = next((c for c in found if c.id == p.infra_id), None)
    short = (lambda text: text) if no_trunc else (lambda text: text[:12])
    return fmt.Row(p.labels, ID=short(p.id), Id=p.id, Name=p.name, Status=lambda: p.state_of(found),
                   Created=fmt.ago(p.created),
                   CreatedAt=lambda: fmt.go_time(p.created), InfraID=short(p.infra_id or ""),
                   InfraId=p.infra_id or "", NumberOfContainers=len(found), Labels=lambda: fmt.labels(p.labels),
                   Networks=lambda: ",".join(p.networks(infra)), ContainerIds=",".join(short(c.id) for c in found),
                   ContainerNames=",".join(c.name for c in found),
                   ContainerStatuses=lambda: ",".join(c.status for c in found))


def inspect(o: dict, args: list[str]) -> int:
    return inspect_each(args, lambda host, ref: host.pod(ref).inspect(), o["format"])


def exists(o: dict, args: list[str]) -> int:
    """podman's `pod exists`: exit status 0 when the pod is there, 1 when not; nothing printed."""
    from corral.errors import NotFound

    try:
        Host().pod(args[0])
    except NotFound:
        return 1
    return 0


def _each_pod(o: dict, refs: list[str], action: Callable[[Pod], object]) -> int:
    """action(pod) for every pod named (every pod with -a), printing each one's full ID as podman does;
    one failure does not stop the others, the exit status is 1 if any failed."""
    host = Host()
    if o.get("all"):
        if refs:
            raise InvalidArgument("--all and pod names cannot be given together")
        refs = [p.id for p in host.pods()]
    elif not refs:
        raise InvalidArgument("give at least one pod name or ID, or --all")
    status = 0
    for ref in refs:
        try:
            pod = host.pod(ref)
            action(pod)
            print(pod.id)
        except CorralError as e:
            from corral.errors import NotFound

            if o.get("ignore") and isinstance(e, NotFound):
                continue
            report(e)
            status = 1
    return status


def start(o: dict, args: list[str]) -> int:
    return _each_pod(o, args, lambda p: p.start())


def stop(o: dict, args: list[str]) -> int:
    timeout = seconds(o["time"])
    return _each_pod(o, args, lambda p: p.stop(timeout))


def restart(o: dict, args: list[str]) -> int:
    timeout = seconds(o["time"])
    return _each_pod(o, args, lambda p: p.restart(timeout))


def kill(o: dict, args: list[str]) -> int:
    signal = o["signal"] or "KILL"
    return _each_pod(o, args, lambda p: p.kill(signal))


def pause(o: dict, args: list[str]) -> int:
    return _each_pod(o, args, lambda p: p.pause())


def unpause(o: dict, args: list[str]) -> int:
    return _each_pod(o, args, lambda p: p.unpause())


def rm(o: dict, args: list[str]) -> int:
    timeout = seconds(o["time"])
    return _each_pod(o, args, lambda p: p.remove(force=o["force"], timeout=timeout))


def prune(o: dict, args: list[str]) -> int:
    if not confirmed("WARNING! This will remove all stopped/exited pods..", o["force"]):
        return 0
    for pod_id in Host().prune_pods()["PodsDeleted"]:
        print(pod_id)
    return 0


def logs(o: dict, args: list[str]) -> int:
    """podman's `pod logs`: the members' output, each line after its container's ID (-n: its name)."""
    from corral.timestamps import from_ns

    tail = None if o["tail"] in (None, "all", "-1") else seconds(o["tail"])
    pod = Host().pod(args[0])
    out = {1: sys.stdout.buffer, 2: sys.stderr.buffer}
    for c, stream, t_ns, data in pod.logs(container=o["container"], follow=o["follow"], tail=tail,
                                          since=o["since"], until=o["until"]):
        prefix = (c.name if o["names"] else c.short_id).encode() + b" "
        if o["timestamps"]:
            prefix += from_ns(t_ns).encode() + b" "
        out[stream].write(prefix + data)
        if o["follow"]:
            out[stream].flush()
    return 0


def top(o: dict, args: list[str]) -> int:
    from corral.cli import fmt

    titles, rows = Host().pod(args[0]).top()
    print(fmt.table([tuple(titles)] + [tuple(r) for r in rows]))
    return 0
