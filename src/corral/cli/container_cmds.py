"""Container verbs: each parses its flags into a corral.api call and prints what Docker prints."""
from __future__ import annotations

import sys

from corral.api import Host
from corral.cli.shared import archive_to_stdout, attached, confirmed, each_container, seconds, stdin_of
from corral.errors import CorralError, InvalidArgument


def _options(o: dict) -> dict:
    from corral.runtime.options import parse_bytes

    def number(key: str, kind: type) -> object:
        if o[key] is None:
            return None
        try:
            return kind(o[key])
        except ValueError:
            raise InvalidArgument(f"invalid value {o[key]!r} for --{key.replace('_', '-')}") from None

    labels = dict(kv.split("=", 1) if "=" in kv else (kv, "") for kv in o["label"])
    return {
        "env": o["env"], "workdir": o["workdir"], "user": o["user"], "hostname": o["hostname"],
        "entrypoint": None if o["entrypoint"] is None else ([o["entrypoint"]] if o["entrypoint"] else []),
        "network": o["network"] or "default", "memory": parse_bytes(o["memory"]) if o["memory"] else None,
        "cpus": number("cpus", float), "pids_limit": number("pids_limit", int), "interactive": o["interactive"],
        "tty": o["tty"], "autoremove": o["rm"], "privileged": o["privileged"], "cap_add": o["cap_add"],
        "cap_drop": o["cap_drop"], "labels": labels, "stop_signal": o["stop_signal"],
        "stop_timeout": number("stop_timeout", int), "ports": o["publish"], "publish_all": o["publish_all"],
        "ip": o["ip"], "dns": o["dns"], "dns_search": o["dns_search"], "dns_option": o["dns_option"],
        "add_host": o["add_host"], "network_aliases": o["network_alias"],
    }


def create(o: dict, args: list[str]) -> int:
    c = Host().create_container(args[0], args[1:] or None, name=o["name"], **_options(o))
    print(c.id)
    return 0


def run(o: dict, args: list[str]) -> int:
    stdin = None if o["detach"] else stdin_of(o["interactive"], o["tty"])
    c = Host().create_container(args[0], args[1:] or None, name=o["name"], **_options(o))
    if o["detach"]:
        c.start()
        print(c.id)
        return 0
    return attached(c.start(attach=True, stdin_fd=stdin, detach_keys=o["detach_keys"], sig_proxy=o["sig_proxy"]))


def attach(o: dict, args: list[str]) -> int:
    c = Host().container(args[0])
    stdin = None
    if not o["no_stdin"] and c.options.interactive:
        stdin = stdin_of(True, c.options.tty)
    return attached(c.attach(stdin_fd=stdin, detach_keys=o["detach_keys"], sig_proxy=o["sig_proxy"]))


def start(o: dict, args: list[str]) -> int:
    if o["attach"]:
        if len(args) != 1:
            raise InvalidArgument("you cannot start and attach multiple containers at once")
        c = Host().container(args[0])
        stdin = stdin_of(o["interactive"], c.options.tty)
        return attached(c.start(attach=True, stdin_fd=stdin, detach_keys=o["detach_keys"]))
    return each_container(args, lambda c: c.start())


def stop(o: dict, args: list[str]) -> int:
    timeout = seconds(o["time"])
    return each_container(args, lambda c: c.stop(timeout, o["signal"]))


def restart(o: dict, args: list[str]) -> int:
    timeout = seconds(o["time"])
    return each_container(args, lambda c: c.restart(timeout))


def kill(o: dict, args: list[str]) -> int:
    return each_container(args, lambda c: c.kill(o["signal"] or "KILL"))


def rm(o: dict, args: list[str]) -> int:
    return each_container(args, lambda c: c.remove(force=o["force"]))


def rename(o: dict, args: list[str]) -> int:
    Host().container(args[0]).rename(args[1])
    return 0


def wait(o: dict, args: list[str]) -> int:
    host = Host()
    status = 0
    for ref in args:
        try:
            print(host.container(ref).wait(), flush=True)
        except CorralError as e:
            print(f"Error: {e}", file=sys.stderr)
            status = 1
    return status


def ps(o: dict, args: list[str]) -> int:
    from corral.cli import fmt

    host = Host()
    last = 1 if o["latest"] else _count(o["last"], "-n, --last")
    if o["filter"] or last > 0:
        from corral.api import filters

        containers = filters.containers(host, all=o["all"], filters=filters.parse(o["filter"]), limit=last)
    else:
        containers = host.containers(all=o["all"])
    if o["quiet"]:
        for c in containers:
            print(c.id if o["no_trunc"] else c.short_id)
        return 0
    rows = [("CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES") + (("SIZE",) * o["size"])]
    for c in containers:
        command = " ".join(c.spec["process"]["args"]) if c.status else ""
        if not o["no_trunc"] and len(command) > 20:
            command = command[:19] + "…"
        rows.append((c.id if o["no_trunc"] else c.short_id, c.image_ref, f'"{command}"', fmt.ago(c.created),
                     fmt.status(c), fmt.ports(c.ports), c.name) + ((fmt.container_size(*c.size()),) * o["size"]))
    print(fmt.table(rows))
    return 0


def _count(text: str | None, flag: str) -> int:
    """A whole number flag (ps -n); -1 when not given, as docker's default."""
    if text is None:
        return -1
    try:
        return int(text)
    except ValueError:
        raise InvalidArgument(f'invalid argument "{text}" for "{flag}" flag: give a whole number') from None


def prune(o: dict, args: list[str]) -> int:
    from corral.api import filters
    from corral.cli import fmt

    wanted = filters.parse(o["filter"])
    if not confirmed("WARNING! This will remove all stopped containers.", o["force"]):
        return 0
    done = Host().prune_containers(wanted)
    if done["ContainersDeleted"]:
        print("Deleted Containers:\n" + "\n".join(done["ContainersDeleted"]) + "\n")
    print(f"Total reclaimed space: {fmt.size(done['SpaceReclaimed'])}")
    return 0


def logs(o: dict, args: list[str]) -> int:
    from corral.timestamps import from_ns

    tail = None if o["tail"] in (None, "all") else seconds(o["tail"])
    c = Host().container(args[0])
    out = {1: sys.stdout.buffer, 2: sys.stderr.buffer}
    for stream, t_ns, data in c.logs(tail=tail, follow=o["follow"]):
        if o["timestamps"]:
            data = from_ns(t_ns).encode() + b" " + data
        out[stream].write(data)
        if o["follow"]:
            out[stream].flush()
    return 0


def commit(o: dict, args: list[str]) -> int:
    repository = tag = None
    if len(args) > 1:
        name, sep, maybe_tag = args[1].rpartition(":")
        if sep and "/" not in maybe_tag:  # after a registry's port (host:5000/name) it is no tag
            repository, tag = name, maybe_tag
        else:
            repository = args[1]
    image = Host().container(args[0]).commit(repository, tag, author=o["author"] or "", message=o["message"] or "",
                                             changes=o["change"], pause=o["pause"])
    print(image.id)
    return 0


def diff(o: dict, args: list[str]) -> int:
    for kind, path in Host().container(args[0]).diff():
        print(kind, path)
    return 0


def export(o: dict, args: list[str]) -> int:
    dest = o["output"] or archive_to_stdout()  # refused before anything else, as docker does
    Host().container(args[0]).export(dest)
    return 0
