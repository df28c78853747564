"""Container verbs: each parses its flags into a corral.api call and prints what Docker prints."""
from __future__ import annotations

import os
import sys

from corral.api import Host
from corral.cli.shared import archive_to_stdout, attached, each_container, seconds, stdin_of
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
        "add_host": o["add_host"], "network_aliases": o["network_alias"], "init": o["init"],
        "ulimits": o["ulimit"], "sysctls": _sysctls(o["sysctl"]), "group_add": o["group_add"], "ipc": o["ipc"],
        "pid": o["pid"], "uts": o["uts"], "devices": o["device"], "expose": o["expose"],
    }


def _sysctls(items: list[str]) -> dict[str, str]:
    found = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidArgument(f'invalid argument "{item}" for "--sysctl" flag: sysctl \'{item}\' is not allowed')
        found[key] = value
    return found


def _streams(o: dict) -> tuple[bool, bool, bool]:
    """run -a: (stdin, stdout, stderr) attached; all three without -a, as docker."""
    names = {a.lower() for a in o["attach"]}
    if names - {"stdin", "stdout", "stderr"}:
        raise InvalidArgument(f'invalid argument "{o["attach"][0]}" for "-a, --attach" flag: valid streams are '
                              "STDIN, STDOUT and STDERR")
    if names and o["detach"]:
        raise InvalidArgument("conflicting options: cannot specify both --attach and --detach")
    if not names:
        return True, True, True
    return "stdin" in names, "stdout" in names, "stderr" in names


def create(o: dict, args: list[str]) -> int:
    c = Host().create_container(args[0], args[1:] or None, name=o["name"], **_options(o))
    print(c.id)
    return 0


def run(o: dict, args: list[str]) -> int:
    attach_in, attach_out, attach_err = _streams(o) if o["attach"] else (True, True, True)
    stdin = None if o["detach"] or not attach_in else stdin_of(o["interactive"], o["tty"])
    c = Host().create_container(args[0], args[1:] or None, name=o["name"], **_options(o))
    if o["detach"]:
        c.start()
        print(c.id)
        return 0
    null = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC) if not (attach_out and attach_err) else -1
    return attached(c.start(attach=True, stdin_fd=stdin, stdout_fd=1 if attach_out else null,
                            stderr_fd=2 if attach_err else null, detach_keys=o["detach_keys"],
                            sig_proxy=o["sig_proxy"]))


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

    containers = Host().containers(all=o["all"])
    if o["quiet"]:
        for c in containers:
            print(c.id if o["no_trunc"] else c.short_id)
        return 0
    rows = [("CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES")]
    for c in containers:
        command = " ".join(c.command) if c.status else ""
        if not o["no_trunc"] and len(command) > 20:
            command = command[:19] + "…"
        rows.append((c.id if o["no_trunc"] else c.short_id, c.image_ref, f'"{command}"', fmt.ago(c.created),
                     fmt.status(c), fmt.ports(c.ports), c.name))
    print(fmt.table(rows))
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
