"""Entry point of the `corral` command: the command table, dispatch, and errors to exit codes.

Handlers live in sibling modules and are imported only for the command that
runs, so `corral --help` and `corral run` load as little as possible.
"""
from __future__ import annotations

import os
import sys

from corral.cli.parser import Command, Opt, help_text, parse

_RUN_OPTS = [
    Opt(("--name",), "name", "value", "assign a name to the container", "NAME"),
    Opt(("-e", "--env"), "env", "multi", "set an environment variable", "K=V"),
    Opt(("-w", "--workdir"), "workdir", "value", "working directory inside the container", "DIR"),
    Opt(("-u", "--user"), "user", "value", "user name or uid[:gid]", "USER"),
    Opt(("-h", "--hostname"), "hostname", "value", "container host name", "NAME"),
    Opt(("--entrypoint",), "entrypoint", "value", "override the image's ENTRYPOINT", "CMD"),
    Opt(("--network", "--net"), "network", "value",
        "none (default without -p), bridge (the default switch), a switch's name, host, container:NAME", "NET"),
    Opt(("-p", "--publish"), "publish", "multi", "publish a port: [HOSTIP:][HOSTPORT:]PORT[/tcp|udp]", "PORT"),
    Opt(("-P", "--publish-all"), "publish_all", "flag", "publish every EXPOSEd port on a free host port"),
    Opt(("--ip",), "ip", "value", "the container's address on its switch", "IP"),
    Opt(("--network-alias", "--net-alias"), "network_alias", "multi", "another name on a user-created switch",
        "NAME"),
    Opt(("--dns",), "dns", "multi", "a DNS server for /etc/resolv.conf", "IP"),
    Opt(("--dns-search",), "dns_search", "multi", "a DNS search domain", "DOMAIN"),
    Opt(("--dns-option",), "dns_option", "multi", "a resolver option", "OPT"),
    Opt(("--add-host",), "add_host", "multi", "add a line to /etc/hosts", "NAME:IP"),
    Opt(("-m", "--memory"), "memory", "value", "memory limit (e.g. 64m)", "BYTES"),
    Opt(("--cpus",), "cpus", "value", "number of CPUs", "N"),
    Opt(("--pids-limit",), "pids_limit", "value", "maximum number of processes", "N"),
    Opt(("-i", "--interactive"), "interactive", "flag", "keep stdin open"),
    Opt(("-t", "--tty"), "tty", "flag", "allocate a pseudo-TTY"),
    Opt(("--rm",), "rm", "flag", "remove the container when it exits"),
    Opt(("--privileged",), "privileged", "flag", "give every capability and device"),
    Opt(("--cap-add",), "cap_add", "multi", "add a Linux capability", "CAP"),
    Opt(("--cap-drop",), "cap_drop", "multi", "drop a Linux capability", "CAP"),
    Opt(("-l", "--label"), "label", "multi", "set a label", "K=V"),
    Opt(("--stop-signal",), "stop_signal", "value", "signal to stop the container", "SIGNAL"),
    Opt(("--stop-timeout",), "stop_timeout", "value", "seconds to wait before killing", "N"),
]
_DETACH_KEYS = Opt(("--detach-keys",), "detach_keys", "value", "key sequence to detach (default ctrl-p,ctrl-q)",
                   "KEYS")
_SIG_PROXY = Opt(("--sig-proxy",), "sig_proxy", "flag_on", "pass received signals on to the process (default true)")
_C = "container_cmds:"
_I = "image_cmds:"
_S = "system_cmds:"
_P = "process_cmds:"

COMMANDS = {c.name: c for c in [
    Command("run", _C + "run", "run [OPTIONS] IMAGE [COMMAND] [ARG...]", "Create and run a new container.",
            _RUN_OPTS + [Opt(("-d", "--detach"), "detach", "flag", "run in the background and print the ID"),
                         _DETACH_KEYS, _SIG_PROXY],
            interspersed=False, min_args=1),
    Command("create", _C + "create", "create [OPTIONS] IMAGE [COMMAND] [ARG...]", "Create a new container.",
            _RUN_OPTS, interspersed=False, min_args=1),
    Command("start", _C + "start", "start [OPTIONS] CONTAINER [CONTAINER...]", "Start stopped containers.",
            [Opt(("-a", "--attach"), "attach", "flag", "attach output and return the exit code"),
             Opt(("-i", "--interactive"), "interactive", "flag", "attach stdin"), _DETACH_KEYS], min_args=1),
    Command("attach", _C + "attach", "attach [OPTIONS] CONTAINER",
            "Attach your terminal's input and output to a running container.",
            [Opt(("--no-stdin",), "no_stdin", "flag", "do not attach stdin"), _DETACH_KEYS, _SIG_PROXY],
            min_args=1, max_args=1),
    Command("stop", _C + "stop", "stop [OPTIONS] CONTAINER [CONTAINER...]", "Stop running containers.",
            [Opt(("-t", "--time", "--timeout"), "time", "value", "seconds to wait before killing", "N"),
             Opt(("-s", "--signal"), "signal", "value", "signal to send", "SIGNAL")], min_args=1),
    Command("restart", _C + "restart", "restart [OPTIONS] CONTAINER [CONTAINER...]", "Restart containers.",
            [Opt(("-t", "--time", "--timeout"), "time", "value", "seconds to wait before killing", "N")],
            min_args=1),
    Command("kill", _C + "kill", "kill [OPTIONS] CONTAINER [CONTAINER...]", "Send a signal to containers.",
            [Opt(("-s", "--signal"), "signal", "value", "signal to send (default KILL)", "SIGNAL")], min_args=1),
    Command("rm", _C + "rm", "rm [OPTIONS] CONTAINER [CONTAINER...]", "Remove containers.",
            [Opt(("-f", "--force"), "force", "flag", "kill and remove a running container"),
             Opt(("-v", "--volumes"), "volumes", "flag", "accepted for compatibility")], min_args=1),
    Command("ps", _C + "ps", "ps [OPTIONS]", "List containers.",
            [Opt(("-a", "--all"), "all", "flag", "show all containers"),
             Opt(("-q", "--quiet"), "quiet", "flag", "only IDs"),
             Opt(("--no-trunc",), "no_trunc", "flag", "do not truncate output")], max_args=0),
    Command("inspect", _C + "inspect", "inspect [OPTIONS] NAME|ID [NAME|ID...]",
            "Low-level information on containers or images, as JSON.",
            [Opt(("--type",), "type", "value", "container, image or network", "TYPE")], min_args=1),
    Command("logs", _C + "logs", "logs [OPTIONS] CONTAINER", "Fetch a container's output.",
            [Opt(("-f", "--follow"), "follow", "flag", "follow the output"),
             Opt(("-n", "--tail"), "tail", "value", "lines from the end (or all)", "N"),
             Opt(("-t", "--timestamps"), "timestamps", "flag", "show timestamps")], min_args=1, max_args=1),
    Command("wait", _C + "wait", "wait CONTAINER [CONTAINER...]", "Block until containers stop; print exit codes.",
            min_args=1),
    Command("rename", _C + "rename", "rename CONTAINER NEW_NAME", "Rename a container.", min_args=2, max_args=2),
    Command("exec", "exec_cmds:exec", "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
            "Run a command in a running container.",
            [Opt(("-u", "--user"), "user", "value", "user name or uid[:gid]", "USER"),
             Opt(("-e", "--env"), "env", "multi", "set an environment variable", "K=V"),
             Opt(("-w", "--workdir"), "workdir", "value", "working directory", "DIR"),
             Opt(("-i", "--interactive"), "interactive", "flag", "pass stdin"),
             Opt(("-t", "--tty"), "tty", "flag", "allocate a pseudo-TTY"),
             Opt(("-d", "--detach"), "detach", "flag", "run the command in the background"),
             Opt(("--privileged",), "privileged", "flag", "every capability for this command"), _DETACH_KEYS],
            interspersed=False, min_args=2),
    Command("pause", _P + "pause", "pause CONTAINER [CONTAINER...]", "Pause all processes within containers.",
            min_args=1),
    Command("unpause", _P + "unpause", "unpause CONTAINER [CONTAINER...]",
            "Unpause all processes within containers.", min_args=1),
    Command("top", _P + "top", "top CONTAINER [ps OPTIONS]",
            "Display the running processes of a container (ps options are accepted and ignored).",
            interspersed=False, min_args=1),
    Command("import", _I + "import_", "import FILE|- [REPOSITORY[:TAG]]", "Create an image from a rootfs tarball.",
            min_args=2, max_args=2),
    Command("images", _I + "images", "images [OPTIONS] [REPOSITORY]", "List images.",
            [Opt(("-q", "--quiet"), "quiet", "flag", "only IDs"),
             Opt(("-a", "--all"), "all", "flag", "all images (corral keeps no hidden intermediate ones)"),
             Opt(("--digests",), "digests", "flag", "show manifest digests"),
             Opt(("-f", "--filter"), "filter", "multi", "dangling=, reference=, label=, before=, since=", "FILTER"),
             Opt(("--no-trunc",), "no_trunc", "flag", "full IDs")], max_args=1),
    Command("build", _I + "build", "build [OPTIONS] PATH", "Build an image from a Dockerfile.",
            [Opt(("-t", "--tag"), "tag", "multi", "name and tag for the image", "NAME:TAG"),
             Opt(("-f", "--file"), "file", "value", "the Dockerfile (default PATH/Dockerfile)", "FILE"),
             Opt(("--build-arg",), "build_arg", "multi", "set a build-time variable", "K=V"),
             Opt(("--target",), "target", "value", "build up to this stage", "STAGE"),
             Opt(("--no-cache",), "no_cache", "flag", "do not use the build cache"),
             Opt(("--secret",), "secret", "multi", "a secret for RUN --mount=type=secret", "id=ID,src=PATH"),
             Opt(("--label",), "label", "multi", "set a label on the image", "K=V"),
             Opt(("--network",), "network", "value", "network for RUN steps (default: the default switch)", "MODE"),
             Opt(("-q", "--quiet"), "quiet", "flag", "print only the image ID")], min_args=1, max_args=1),
    Command("tag", _I + "tag", "tag SOURCE_IMAGE TARGET_IMAGE[:TAG]", "Give an image another name.",
            min_args=2, max_args=2),
    Command("rmi", _I + "rmi", "rmi [OPTIONS] IMAGE [IMAGE...]", "Remove images (untag; delete unused layers).",
            [Opt(("-f", "--force"), "force", "flag", "remove every name, even of an image a stopped container uses")],
            min_args=1),
    Command("history", _I + "history", "history [OPTIONS] IMAGE", "Show the steps that made an image.",
            [Opt(("--no-trunc",), "no_trunc", "flag", "do not truncate output"),
             Opt(("-q", "--quiet"), "quiet", "flag", "only IDs"),
             Opt(("-H", "--human"), "human", "flag_on", "human-readable sizes and dates (default true)")],
            min_args=1, max_args=1),
    Command("image-prune", _I + "prune", "image prune [OPTIONS]", "Remove unused images (also `image prune`).",
            [Opt(("-a", "--all"), "all", "flag", "every image no container uses, not only untagged ones"),
             Opt(("-f", "--force"), "force", "flag", "do not prompt (corral never does)")], max_args=0),
    Command("commit", _C + "commit", "commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
            "Create a new image from a container's changes.",
            [Opt(("-a", "--author"), "author", "value", "author", "NAME"),
             Opt(("-m", "--message"), "message", "value", "commit message", "TEXT"),
             Opt(("-c", "--change"), "change", "multi", "apply a Dockerfile instruction (CMD, ENV, …)", "INSTR"),
             Opt(("-p", "--pause"), "pause", "flag_on", "pause the container while committing (default true)")],
            min_args=1, max_args=2),
    Command("diff", _C + "diff", "diff CONTAINER", "Files added (A), changed (C) or deleted (D) in a container.",
            min_args=1, max_args=1),
    Command("save", _I + "save", "save [OPTIONS] IMAGE [IMAGE...]",
            "Save images to a tar archive (to stdout unless -o).",
            [Opt(("-o", "--output"), "output", "value", "write to a file instead of stdout", "FILE"),
             Opt(("--format",), "format", "value", "docker-archive (default) or oci-archive", "FORMAT")],
            min_args=1),
    Command("load", _I + "load", "load [OPTIONS]", "Load images from a docker-archive or OCI-layout tar archive.",
            [Opt(("-i", "--input"), "input", "value", "read from a file instead of stdin", "FILE"),
             Opt(("-q", "--quiet"), "quiet", "flag", "accepted for compatibility (corral prints no progress)")],
            max_args=0),
    Command("export", _C + "export", "export [OPTIONS] CONTAINER",
            "Export a container's filesystem as a tar archive (to stdout unless -o).",
            [Opt(("-o", "--output"), "output", "value", "write to a file instead of stdout", "FILE")],
            min_args=1, max_args=1),
    Command("image", _I + "image", "image bootstrap|ls|inspect|rm|prune|history|tag|save|load|import|build ...",
            "Manage images: `image bootstrap busybox`, `image bootstrap debian:bookworm`.", min_args=1,
            interspersed=False),
    Command("system", _S + "system", "system check|df|prune",
            "Check the store for any inconsistency; show disk usage; remove what a crash left behind.",
            min_args=1),
    Command("network", "network_cmds:network",
            "network create [--subnet CIDR] [--gateway IP] [--internal] [--label K=V] NAME\n"
            "        corral network ls [-q] | inspect NET... | rm NET... | prune\n"
            "        corral network connect [--ip IP] [--alias NAME] NET CONTAINER | disconnect [-f] NET CONTAINER",
            "Manage switches (NAT bridges with published ports; --internal: no way out).",
            min_args=1, interspersed=False),
    Command("port", "network_cmds:port", "port CONTAINER [PRIVATE_PORT[/PROTO]]",
            "List a container's published ports.", min_args=1, max_args=2),
    Command("version", _S + "version", "version", "Show the corral version.", max_args=0),
]}


def usage() -> str:
    lines = ["Usage:  corral [--root DIR] COMMAND", "", "A container engine for Linux.", "", "Commands:"]
    lines += [f"  {c.name:<10} {c.help}" for c in COMMANDS.values()]
    lines += ["", "Environment: CORRAL_ROOT selects the store (default /var/lib/corral).",
              "Run 'corral COMMAND --help' for more on a command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    while argv and argv[0] in ("--root",) and len(argv) > 1:
        os.environ["CORRAL_ROOT"] = argv[1]
        argv = argv[2:]
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] in ("-v", "--version"):
        argv = ["version"]
    cmd = COMMANDS.get(argv[0])
    if cmd is None:
        print(f"corral: '{argv[0]}' is not a corral command.\nSee 'corral --help'", file=sys.stderr)
        return 1
    if "--help" in argv[1:] and (cmd.interspersed or argv.index("--help") <= 2):
        print(help_text(cmd))
        return 0
    from corral.errors import CorralError

    engine_code = 125 if cmd.name in ("run", "create") else 1
    try:
        opts, args = parse(cmd, argv[1:])
        module, func = cmd.handler.split(":")
        handler = getattr(__import__(f"corral.cli.{module}", fromlist=[func]), func)
        return handler(opts, args)
    except CorralError as e:
        print(f"Error: {e}", file=sys.stderr)
        return e.exit_code if e.exit_code in (126, 127) else engine_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def entry() -> None:
    """Exit without interpreter teardown (several ms of module GC); the DB needs no close (WAL)."""
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass
    os._exit(code)


if __name__ == "__main__":
    entry()
