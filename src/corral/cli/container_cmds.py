"""Container verbs: each parses its flags into a corral.api call and prints what Docker prints."""
from __future__ import annotations

import os
import sys

from corral.api import Host
from corral.cli.parser import report
from corral.cli.shared import (archive_to_stdout, attached, confirmed, each_container, env_list, read_kv_file, seconds,
                               stdin_of)
from corral.errors import CorralError, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from corral.api import Container


def _options(o: dict) -> dict:
    def number(key: str, kind: type) -> object:
        if o[key] is None:
            return None
        try:
            return kind(o[key])
        except ValueError:
            raise InvalidArgument(f"invalid value {o[key]!r} for --{key.replace('_', '-')}") from None

    items = [line for path in o["label_file"] for line in read_kv_file(path, False)] + o["label"]
    labels = dict(kv.split("=", 1) if "=" in kv else (kv, "") for kv in items)
    return {
        "env": env_list(o["env"], o["env_file"]), "workdir": o["workdir"], "user": o["user"], "hostname": o["hostname"],
        "entrypoint": None if o["entrypoint"] is None else ([o["entrypoint"]] if o["entrypoint"] else []),
        "network": o["network"] or "default", "interactive": o["interactive"],
        "tty": o["tty"], "autoremove": o["rm"], "privileged": o["privileged"], "cap_add": o["cap_add"],
        "cap_drop": o["cap_drop"], "labels": labels, "stop_signal": o["stop_signal"],
        "stop_timeout": number("stop_timeout", int), "ports": o["publish"], "publish_all": o["publish_all"],
        "ip": o["ip"], "dns": o["dns"], "dns_search": o["dns_search"], "dns_option": o["dns_option"],
        "add_host": o["add_host"], "network_aliases": o["network_alias"], "init": o["init"],
        "ulimits": o["ulimit"], "sysctls": _sysctls(o["sysctl"]), "group_add": o["group_add"], "ipc": o["ipc"],
        "pid": o["pid"], "uts": o["uts"], "devices": o["device"], "expose": o["expose"],
        "read_only": o["read_only"], "tmpfs": dict(t.partition(":")[::2] for t in o["tmpfs"]),
        "shm_size": _size("shm_size", o["shm_size"]),
        "mounts": _mounts(o["volume"], o["mount"]) if o["volume"] or o["mount"] else None,
        "volumes_from": o["volumes_from"], "security_opt": o["security_opt"],
        "restart": o["restart"], "healthcheck": _healthcheck(o),
        "cgroupns": o["cgroupns"], "userns": o["userns"], "isolation": o["isolation"], **_limits(o), **_bandwidth(o),
        **({"pod": o["pod"]} if o["pod"] else {}),
    }


def _limits(o: dict) -> dict:
    """The resource-limit flags, read only when there is one (cli/limits.py)."""
    from corral.cli import limits

    return limits.read(o) if limits.given(o) else {}


def _healthcheck(o: dict) -> dict | None:
    """The --health-* flags as a Config.Healthcheck (durations in ns), or NONE for --no-healthcheck; docker's
    CLI checks and words."""
    keys = (("health_interval", "Interval"), ("health_timeout", "Timeout"), ("health_start_period", "StartPeriod"),
            ("health_start_interval", "StartInterval"))
    given = o["health_cmd"] or o["health_retries"] is not None or any(o[k] is not None for k, _ in keys)
    if o["no_healthcheck"]:
        if given:
            raise InvalidArgument("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not given:
        return None
    from corral.builder.instructions import parse_duration

    check: dict = {"Test": ["CMD-SHELL", o["health_cmd"]]} if o["health_cmd"] else {}
    for key, field in keys:
        if o[key] is not None:
            flag = "--" + key.replace("_", "-")
            try:
                check[field] = parse_duration(o[key])
            except ValueError:
                raise InvalidArgument(f'invalid argument "{o[key]}" for "{flag}" flag: time: invalid duration '
                                      f'"{o[key]}"') from None
            if check[field] < 0:
                raise InvalidArgument(f"{flag} cannot be negative")
    if o["health_retries"] is not None:
        try:
            check["Retries"] = int(o["health_retries"])
        except ValueError:
            raise InvalidArgument(f'invalid argument "{o["health_retries"]}" for "--health-retries" flag') from None
        if check["Retries"] < 0:
            raise InvalidArgument("--health-retries cannot be negative")
    return check


def _bandwidth(o: dict) -> dict:
    """--network-bandwidth, -in and -out as ContainerOptions' rates; bandwidth.py only when one is given."""
    if o["network_bandwidth"] is None and o["network_bandwidth_in"] is None and o["network_bandwidth_out"] is None:
        return {}
    from corral.network import bandwidth

    return bandwidth.flags(o)


def _size(key: str, text: str | None) -> int | None:
    """A size flag as docker's CLI reads it (units.RAMInBytes), in its words when it is not one."""
    from corral.runtime.options import parse_bytes

    if text is None:
        return None
    try:
        return parse_bytes(text)
    except InvalidArgument:
        raise InvalidArgument(f'invalid argument "{text}" for "--{key.replace("_", "-")}" flag: '
                              f"invalid size: '{text}'") from None


def _mounts(volumes: list[str], mounts: list[str]) -> list[dict]:
    """-v and --mount, read by docker's grammar (api/mounts.py); -v's ignored z/Z said on stderr."""
    from corral.api import mounts as grammar

    found = []
    for text in volumes:
        m, warnings = grammar.parse_volume(text)
        for w in warnings:
            print(f"WARNING: {w}", file=sys.stderr)
        found.append(m)
    return found + [grammar.parse_mount(text) for text in mounts]


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


def _create(o: dict, args: list[str]) -> "Container":
    """The container run and create make; with --cidfile its ID written to a file that must not exist
    (docker's guard against two containers of one script), the file removed if the create fails."""
    options = _options(o)
    options.update(_pull_options(o))
    path = o["cidfile"]
    if not path:
        return Host().create_container(args[0], args[1:] or None, name=o["name"], **options)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise InvalidArgument(f"Container ID file found, make sure the other container isn't running or delete "
                              f"{path}") from None
    except OSError as e:
        raise InvalidArgument(f"failed to create the container ID file: {e}") from None
    try:
        c = Host().create_container(args[0], args[1:] or None, name=o["name"], **options)
        os.write(fd, c.id.encode())
    except BaseException:
        os.unlink(path)
        raise
    finally:
        os.close(fd)
    return c


def _pull_options(o: dict) -> dict:
    """--pull for create_container, with the pull's progress on stderr as docker shows it (registry part)."""
    from corral.cli.fmt import Display

    return {"pull": o["pull"] or "missing", "pull_progress": Display(sys.stderr)}


def create(o: dict, args: list[str]) -> int:
    print(_create(o, args).id)
    return 0


def run(o: dict, args: list[str]) -> int:
    attach_in, attach_out, attach_err = _streams(o) if o["attach"] else (True, True, True)
    stdin = None if o["detach"] or not attach_in else stdin_of(o["interactive"], o["tty"])
    c = _create(o, args)
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
    if o["attach"] or o["interactive"]:  # docker: -i attaches stdin and output, as -ai
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
    return each_container(args, lambda c: c.remove(force=o["force"], volumes=o["volumes"]))


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
            report(e)
            status = 1
    return status


PS_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
              "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS", "Size": "SIZE",
              "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS",
              "LocalVolumes": "LOCAL VOLUMES", "Pod": "POD ID", "PodName": "PODNAME"}
PS_COLUMNS = ("ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names")


def ps(o: dict, args: list[str]) -> int:
    from corral.cli import fmt

    if o["processes"]:
        return _ps_processes(o)
    host = Host()
    last = 1 if o["latest"] else _count(o["last"], "-n, --last")
    if o["filter"] or last > 0:
        from corral.api import filters

        containers = filters.containers(host, all=o["all"], filters=filters.parse(o["filter"]), limit=last)
    else:
        containers = host.containers(all=o["all"])
    if o["quiet"] and o["format"] is None:
        for c in containers:
            print(c.id if o["no_trunc"] else c.short_id)
        return 0
    columns = PS_COLUMNS + (("Size",) if o["size"] else ()) + (("Pod", "PodName") if o["pod"] else ())
    fmt.print_rows([_ps_row(c, o["no_trunc"], o["size"]) for c in containers], o["format"], columns, PS_HEADERS)
    return 0


def _ps_row(c, no_trunc: bool, size: bool = False) -> dict:  # noqa: ANN001 - a corral.api.Container
    """docker's fields of a container in `ps`; those that cost a query are computed when asked."""
    from corral.cli import fmt

    command = " ".join(c.command) if c.status else ""
    if not no_trunc and len(command) > 20:
        command = command[:19] + "…"

    def networks() -> str:
        names = sorted(c.networks)
        return ",".join(names or ([c.options.network] if c.options.network in ("none", "host") else []))

    status = c.status
    mounts = c.options.mounts
    return fmt.Row(c.options.labels, ID=c.id if no_trunc else c.short_id, Image=c.image_ref, Command=f'"{command}"',
                   CreatedAt=lambda: fmt.go_time(c.created), RunningFor=fmt.ago(c.created),
                   Ports=lambda: fmt.ports(c.ports), State=lambda: "paused" if status == "running" and c.paused
                   else status, Status=lambda: fmt.status(c),
                   Size=(lambda: fmt.container_size(*c.size())) if size else "0B", Names=c.name,
                   Labels=lambda: fmt.labels(c.options.labels),
                   Mounts=lambda: ",".join(m["source"] if m["type"] == "volume" else m["target"] for m in mounts),
                   Networks=networks, LocalVolumes=lambda: str(sum(m["type"] == "volume" for m in mounts)),
                   Pod=(c.pod_id or "") if no_trunc else (c.pod_id or "")[:12], PodName=lambda: _pod_name(c))


def _pod_name(c) -> str:  # noqa: ANN001 - a corral.api.Container
    """podman's PODNAME column: the name of the container's pod, or nothing."""
    if not c.pod_id:
        return ""
    from corral.store import pods

    found = pods.get(c.host.store, c.pod_id)
    return found.name if found is not None else ""


PROCESS_HEADERS = {"PID": "PID", "ContainerPID": "CONTAINER PID", "User": "USER", "ID": "CONTAINER ID",
                   "Names": "NAMES", "Command": "COMMAND"}
PROCESS_COLUMNS = ("PID", "ContainerPID", "User", "ID", "Names", "Command")


def _ps_processes(o: dict) -> int:
    """`ps --processes`: the host view, a line for each process of the running containers and its owner
    (Host.processes); -q the host PIDs alone; -f takes ps's filters and pid=N."""
    from corral.cli import fmt

    for flag, given in (("-s, --size", o["size"]), ("-n, --last", o["last"] is not None),
                        ("-l, --latest", o["latest"]), ("--pod", o["pod"])):
        if given:
            raise InvalidArgument(f"{flag} does not apply to --processes (the running containers' processes)")
    wanted = None
    if o["filter"]:
        from corral.api import filters

        wanted = filters.parse(o["filter"])
    found = Host().processes(wanted)
    if o["quiet"] and o["format"] is None:
        for p in found:
            print(p.pid)
        return 0
    rows = [fmt.Row(p.container.options.labels, PID=p.pid, ContainerPID=p.container_pid, User=p.user,
                    ID=p.container.id if o["no_trunc"] else p.container.short_id, Names=p.container.name,
                    Command=p.cmd) for p in found]
    fmt.print_rows(rows, o["format"], PROCESS_COLUMNS, PROCESS_HEADERS)
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
    print(fmt.deleted("Deleted Containers:", done["ContainersDeleted"]), end="")
    print(f"Total reclaimed space: {fmt.size(done['SpaceReclaimed'])}")
    return 0


def logs(o: dict, args: list[str]) -> int:
    from corral.timestamps import from_ns

    tail = None if o["tail"] in (None, "all") else seconds(o["tail"])
    c = Host().container(args[0])
    out = {1: sys.stdout.buffer, 2: sys.stderr.buffer}
    for stream, t_ns, data in c.logs(tail=tail, follow=o["follow"], since=o["since"], until=o["until"]):
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


def _cp_side(arg: str) -> tuple[str, str]:
    """docker's splitCpArg: "NAME:PATH" names a container, unless the argument is an absolute path or
    starts with "." (./file:name is a local file with a colon)."""
    if arg.startswith("/") or ":" not in arg or arg.startswith("."):
        return "", arg
    name, _, path = arg.partition(":")
    return name, path


def cp(o: dict, args: list[str]) -> int:
    from corral.api import archive

    if not args[0]:
        raise InvalidArgument("source can not be empty")
    if not args[1]:
        raise InvalidArgument("destination can not be empty")
    (src_ctr, src), (dst_ctr, dst) = _cp_side(args[0]), _cp_side(args[1])
    if src_ctr and dst_ctr:
        raise InvalidArgument("copying between containers is not supported")
    if not src_ctr and not dst_ctr:
        raise InvalidArgument("must specify at least one container source")
    how = {"follow_link": o["follow_link"], "archive": o["archive"]}
    if src_ctr:
        c = Host().container(src_ctr)
        if dst == "-":
            archive.copy_out(c, src, dst, stdout=sys.stdout.buffer, **how)
            return 0
        size, _ = archive.copy_out(c, src, dst, **how)
        where = dst
    else:
        c = Host().container(dst_ctr)
        size = archive.copy_in(c, src, dst, stdin=sys.stdin.buffer, **how)
        where = f"{dst_ctr}:{dst}"
    if not o["quiet"] and sys.stdout.isatty():
        from corral.cli.fmt import size as human_size

        print(f"Successfully copied {human_size(size)} to {where}", file=sys.stderr)
    return 0
