"""Entry point of the `corral` command: the command table, dispatch through it, and errors to exit codes.

One table, one scheme: a top-level verb (`run`), a management command's
subcommand (`network create`) and an alias of either (`image ls` for `images`)
are all found by `find`, parsed by the same parser and shown by the same help.
A name's words are its path in the tree: "image ls" is the subcommand ls of the
group image. Entries name their handlers as strings, imported only for the
command that runs, so `corral --help` loads this module and the parser only
(and `corral exec` one module fewer than with the table apart).
"""
from __future__ import annotations

import os
import sys

from corral.cli.parser import DEBUG, Command, Group, Opt, help_text, parse, report

_BANDWIDTH_OPTS = [
    Opt(("--network-bandwidth",), "network_bandwidth", "value",
        "limit what the container sends and receives, each (e.g. 10mbit; 0: none)", "RATE"),
    Opt(("--network-bandwidth-in",), "network_bandwidth_in", "value", "limit what the container receives", "RATE"),
    Opt(("--network-bandwidth-out",), "network_bandwidth_out", "value", "limit what the container sends", "RATE"),
]
_LIMIT_OPTS = [  # the limits `update` changes too; cli/limits.py reads them
    Opt(("-m", "--memory"), "memory", "value", "memory limit (e.g. 64m)", "BYTES"),
    Opt(("--memory-reservation",), "memory_reservation", "value", "memory soft limit", "BYTES"),
    Opt(("--memory-swap",), "memory_swap", "value", "memory plus swap: -1 for unlimited swap", "BYTES"),
    Opt(("--cpus",), "cpus", "value", "number of CPUs", "N"),
    Opt(("-c", "--cpu-shares"), "cpu_shares", "value", "CPU shares (relative weight)", "N"),
    Opt(("--cpu-period",), "cpu_period", "value", "CPU CFS period (microseconds)", "N"),
    Opt(("--cpu-quota",), "cpu_quota", "value", "CPU CFS quota (microseconds; -1: none)", "N"),
    Opt(("--cpuset-cpus",), "cpuset_cpus", "value", "CPUs in which to allow execution (0-3, 0,1)", "CPUS"),
    Opt(("--cpuset-mems",), "cpuset_mems", "value", "memory nodes in which to allow execution", "MEMS"),
    Opt(("--pids-limit",), "pids_limit", "value", "maximum number of processes (-1: unlimited)", "N"),
    Opt(("--blkio-weight",), "blkio_weight", "value", "block I/O relative weight, 10 to 1000", "N"),
]
_CREATE_LIMIT_OPTS = [  # limits set at create only, as docker's
    Opt(("--memory-swappiness",), "memory_swappiness", "value", "tune swappiness, 0 to 100 (-1: the host's)", "N"),
    Opt(("--oom-kill-disable",), "oom_kill_disable", "flag", "wait for memory at the limit instead of being killed"),
    Opt(("--oom-score-adj",), "oom_score_adj", "value", "tune the host's OOM preferences, -1000 to 1000", "N"),
    Opt(("--blkio-weight-device",), "blkio_weight_device", "multi", "block I/O weight of a disk (a path on it)",
        "PATH:WEIGHT"),
    Opt(("--device-read-bps",), "device_read_bps", "multi", "limit reads from a disk (a path on it), e.g. 1mb",
        "PATH:RATE"),
    Opt(("--device-write-bps",), "device_write_bps", "multi", "limit writes to a disk (a path on it), e.g. 10mb",
        "PATH:RATE"),
    Opt(("--device-read-iops",), "device_read_iops", "multi", "limit read operations per second of a disk",
        "PATH:N"),
    Opt(("--device-write-iops",), "device_write_iops", "multi", "limit write operations per second of a disk",
        "PATH:N"),
]
_RUN_OPTS = _LIMIT_OPTS + _CREATE_LIMIT_OPTS + [
    Opt(("--name",), "name", "value", "assign a name to the container", "NAME"),
    Opt(("-e", "--env"), "env", "multi", "set an environment variable (a bare NAME: the caller's)", "K=V"),
    Opt(("--env-file",), "env_file", "multi", "read environment variables from a file", "FILE"),
    Opt(("--label-file",), "label_file", "multi", "read labels from a file", "FILE"),
    Opt(("--cidfile",), "cidfile", "value", "write the container ID to a file (which must not exist)", "FILE"),
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
    Opt(("-i", "--interactive"), "interactive", "flag", "keep stdin open"),
    Opt(("-t", "--tty"), "tty", "flag", "allocate a pseudo-TTY"),
    Opt(("--rm",), "rm", "flag", "remove the container when it exits"),
    Opt(("--privileged",), "privileged", "flag", "give every capability and device"),
    Opt(("--cap-add",), "cap_add", "multi", "add a Linux capability", "CAP"),
    Opt(("--cap-drop",), "cap_drop", "multi", "drop a Linux capability", "CAP"),
    Opt(("--security-opt",), "security_opt", "multi", "seccomp=unconfined|PROFILE.json, no-new-privileges[=false]",
        "OPT"),
    Opt(("-l", "--label"), "label", "multi", "set a label", "K=V"),
    Opt(("--stop-signal",), "stop_signal", "value", "signal to stop the container", "SIGNAL"),
    Opt(("--stop-timeout",), "stop_timeout", "value", "seconds to wait before killing", "N"),
    Opt(("--init",), "init", "flag", "run an init as PID 1 that forwards signals and reaps processes"),
    Opt(("--ulimit",), "ulimit", "multi", "a resource limit, e.g. nofile=1024:2048", "NAME=SOFT[:HARD]"),
    Opt(("--sysctl",), "sysctl", "multi", "a namespaced kernel parameter (net.*, kernel.shm*…)", "K=V"),
    Opt(("--group-add",), "group_add", "multi", "an additional group to join", "GROUP"),
    Opt(("--ipc",), "ipc", "value", "private, shareable, host, none or container:NAME", "MODE"),
    Opt(("--pid",), "pid", "value", "host or container:NAME", "MODE"),
    Opt(("--uts",), "uts", "value", "host or container:NAME", "MODE"),
    Opt(("--cgroupns",), "cgroupns", "value", "private (default: its own cgroup seen at /) or host", "MODE"),
    Opt(("--userns",), "userns", "value", "host (the default), or auto[:size=N]: a user namespace of its own", "MODE"),
    Opt(("--device",), "device", "multi", "a host device in the container", "HOST[:CTR][:rwm]"),
    Opt(("--expose",), "expose", "multi", "expose a port or a range of ports", "PORT[/PROTO]"),
    Opt(("--read-only",), "read_only", "flag", "mount the container's root filesystem read-only"),
    Opt(("--tmpfs",), "tmpfs", "multi", "mount a tmpfs (default rw,noexec,nosuid,nodev)", "PATH[:OPTS]"),
    Opt(("--shm-size",), "shm_size", "value", "size of /dev/shm (default 64m)", "BYTES"),
    Opt(("-v", "--volume"), "volume", "multi", "a bind (/host:/ctr), named (NAME:/ctr) or anonymous (/ctr) volume",
        "SRC:DST[:OPTS]"),
    Opt(("--mount",), "mount", "multi", "type=bind|volume|tmpfs,source=,target=[,readonly][,...]", "SPEC"),
    Opt(("--volumes-from",), "volumes_from", "multi", "the mounts of another container", "CONTAINER[:ro|rw]"),
    # health and restart (issue 16 items 5, 6)
    Opt(("--restart",), "restart", "value", "restart policy: no, on-failure[:N], always, unless-stopped", "POLICY"),
    Opt(("--health-cmd",), "health_cmd", "value", "command to run to check health (a shell command line)", "CMD"),
    Opt(("--health-interval",), "health_interval", "value", "time between running the check (e.g. 30s)", "DUR"),
    Opt(("--health-timeout",), "health_timeout", "value", "maximum time to allow one check to run", "DUR"),
    Opt(("--health-retries",), "health_retries", "value", "consecutive failures needed to report unhealthy",
        "N"),
    Opt(("--health-start-period",), "health_start_period", "value",
        "start period for the container to initialize before failures count", "DUR"),
    Opt(("--health-start-interval",), "health_start_interval", "value",
        "time between running the check during the start period", "DUR"),
    Opt(("--no-healthcheck",), "no_healthcheck", "flag", "disable any container-specified HEALTHCHECK"),
    # network bandwidth (network/bandwidth.py)
    *_BANDWIDTH_OPTS,
    Opt(("--isolation",), "isolation", "value", "process (default: the host's kernel) or vm (a micro-VM)", "MODE"),
]
_RUN_OPTS.append(Opt(("--pod",), "pod", "value", "join a pod (new:NAME: create it, with this -p/--network)", "POD"))
# registry (issue 17): a missing image is pulled first
_RUN_OPTS.append(Opt(("--pull",), "pull", "value", "pull the image first: missing (default), always, never", "POLICY"))
_DETACH_KEYS = Opt(("--detach-keys",), "detach_keys", "value", "key sequence to detach (default ctrl-p,ctrl-q)",
                   "KEYS")
_SIG_PROXY = Opt(("--sig-proxy",), "sig_proxy", "flag_on", "pass received signals on to the process (default true)")
_FILTER = Opt(("-f", "--filter"), "filter", "multi", "filter output based on conditions provided", "KEY=VALUE")
_FORCE = Opt(("-f", "--force"), "force", "flag", "do not prompt for confirmation")
_PRUNE_FILTER = Opt(("--filter",), "filter", "multi", "until=TIME, label=K[=V], label!=K[=V]", "KEY=VALUE")
_FORMAT_INSPECT = Opt(("-f", "--format"), "format", "value", "a Go template for each object ('{{.Name}}')",
                     "TEMPLATE")
_FORMAT_LIST = Opt(("--format",), "format", "value", "table (default), json, a Go template, or 'table TEMPLATE'",
                   "FORMAT")
_C = "container_cmds:"
_I = "image_cmds:"
_S = "system_cmds:"
_P = "process_cmds:"
_N = "network_cmds:"
_V = "volume_cmds:"
_R = "resource_cmds:"
_POD = "pod_cmds:"

TABLE: tuple[Command, ...] = (
    Command("run", _C + "run", "run [OPTIONS] IMAGE [COMMAND] [ARG...]", "Create and run a new container.",
            _RUN_OPTS + [Opt(("-d", "--detach"), "detach", "flag", "run in the background and print the ID"),
                         Opt(("-a", "--attach"), "attach", "multi", "attach only these streams", "STDIN|STDOUT|STDERR"),
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
             Opt(("-v", "--volumes"), "volumes", "flag", "remove its anonymous volumes too")], min_args=1),
    Command("ps", _C + "ps", "ps [OPTIONS]", "List containers.",
            [Opt(("-a", "--all"), "all", "flag", "show all containers"),
             Opt(("-q", "--quiet"), "quiet", "flag", "only IDs"),
             Opt(("--no-trunc",), "no_trunc", "flag", "do not truncate output"), _FILTER,
             Opt(("-n", "--last"), "last", "value", "the N last created containers (any state)", "N"),
             Opt(("-l", "--latest"), "latest", "flag", "the last created container (any state)"),
             Opt(("-s", "--size"), "size", "flag", "show the bytes each container wrote, and with its image"),
             Opt(("--processes",), "processes", "flag",
                 "every process of the running containers, with its owner (-f pid=N: whose is host PID N)"),
             Opt(("--pod",), "pod", "flag", "show each container's pod (POD ID, PODNAME)"),
             _FORMAT_LIST], max_args=0),
    Command("inspect", "inspect_cmds:inspect", "inspect [OPTIONS] NAME|ID [NAME|ID...]",
            "Low-level information on containers or images, as JSON.",
            [Opt(("--type",), "type", "value", "container, image, network or pod", "TYPE"),
             Opt(("-s", "--size"), "size", "flag", "a container's SizeRw and SizeRootFs"), _FORMAT_INSPECT],
            min_args=1),
    Command("logs", _C + "logs", "logs [OPTIONS] CONTAINER", "Fetch a container's output.",
            [Opt(("-f", "--follow"), "follow", "flag", "follow the output"),
             Opt(("-n", "--tail"), "tail", "value", "lines from the end (or all)", "N"),
             Opt(("-t", "--timestamps"), "timestamps", "flag", "show timestamps"),
             Opt(("--since",), "since", "value", "lines since a time (2024-05-01T10:00:00Z, Unix) or for 10m", "T"),
             Opt(("--until",), "until", "value", "lines until a time, or until 10m ago", "T")],
            min_args=1, max_args=1),
    Command("wait", _C + "wait", "wait CONTAINER [CONTAINER...]", "Block until containers stop; print exit codes.",
            min_args=1),
    Command("rename", _C + "rename", "rename CONTAINER NEW_NAME", "Rename a container.", min_args=2, max_args=2),
    Command("exec", "exec_cmds:exec", "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
            "Run a command in a running container.",
            [Opt(("-u", "--user"), "user", "value", "user name or uid[:gid]", "USER"),
             Opt(("-e", "--env"), "env", "multi", "set an environment variable (a bare NAME: the caller's)", "K=V"),
             Opt(("--env-file",), "env_file", "multi", "read environment variables from a file", "FILE"),
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
            "Display the running processes of a container (ps -ef, or the host's ps with the options given).",
            interspersed=False, min_args=1),
    Command("stats", _R + "stats", "stats [OPTIONS] [CONTAINER...]",
            "Display a live stream of containers' resource usage statistics.",
            [Opt(("-a", "--all"), "all", "flag", "show all containers (default shows just running)"),
             Opt(("--no-stream",), "no_stream", "flag", "print one table and exit"),
             Opt(("--no-trunc",), "no_trunc", "flag", "do not truncate output"), _FORMAT_LIST]),
    Command("update", _R + "update", "update [OPTIONS] CONTAINER [CONTAINER...]",
            "Update the resource limits of containers, live when they run.",
            _LIMIT_OPTS + _BANDWIDTH_OPTS + [
             Opt(("--restart",), "restart", "value", "restart policy: no, on-failure[:N], always, unless-stopped",
                 "POLICY")],
            min_args=1),
    Command("import", _I + "import_", "import FILE|- [REPOSITORY[:TAG]]", "Create an image from a rootfs tarball.",
            min_args=2, max_args=2, also=("image import",)),
    Command("images", _I + "images", "images [OPTIONS] [REPOSITORY]", "List images.",
            [Opt(("-q", "--quiet"), "quiet", "flag", "only IDs"),
             Opt(("-a", "--all"), "all", "flag", "show the build cache's intermediate images too"),
             Opt(("--digests",), "digests", "flag", "show manifest digests"),
             Opt(("-f", "--filter"), "filter", "multi", "dangling=, reference=, label=, before=, since=", "FILTER"),
             Opt(("--no-trunc",), "no_trunc", "flag", "full IDs"), _FORMAT_LIST], max_args=1,
            also=("image ls", "image list")),
    Command("build", _I + "build", "build [OPTIONS] PATH", "Build an image from a Dockerfile.",
            [Opt(("-t", "--tag"), "tag", "multi", "name and tag for the image", "NAME:TAG"),
             Opt(("-f", "--file"), "file", "value", "the Dockerfile (default PATH/Dockerfile)", "FILE"),
             Opt(("--build-arg",), "build_arg", "multi", "set a build-time variable", "K=V"),
             Opt(("--target",), "target", "value", "build up to this stage", "STAGE"),
             Opt(("--no-cache",), "no_cache", "flag", "do not use the build cache"),
             Opt(("--secret",), "secret", "multi", "a secret for RUN --mount=type=secret", "id=ID,src=PATH"),
             Opt(("--label",), "label", "multi", "set a label on the image", "K=V"),
             Opt(("--network",), "network", "value", "network for RUN steps (default: the default switch)", "MODE"),
             Opt(("-q", "--quiet"), "quiet", "flag", "print only the image ID"),
             Opt(("--pull",), "pull", "flag", "always pull the base images, even those the store has")],
            min_args=1, max_args=1, also=("image build",)),
    Command("tag", _I + "tag", "tag SOURCE_IMAGE TARGET_IMAGE[:TAG]", "Give an image another name.",
            min_args=2, max_args=2, also=("image tag",)),
    Command("rmi", _I + "rmi", "rmi [OPTIONS] IMAGE [IMAGE...]", "Remove images (untag; delete unused layers).",
            [Opt(("-f", "--force"), "force", "flag", "remove every name, even of an image a stopped container uses")],
            min_args=1, also=("image rm",)),
    Command("history", _I + "history", "history [OPTIONS] IMAGE", "Show the steps that made an image.",
            [Opt(("--no-trunc",), "no_trunc", "flag", "do not truncate output"),
             Opt(("-q", "--quiet"), "quiet", "flag", "only IDs"),
             Opt(("-H", "--human"), "human", "flag_on", "human-readable sizes and dates (default true)"),
             _FORMAT_LIST],
            min_args=1, max_args=1, also=("image history",)),
    Command("image-prune", _I + "prune", "image prune [OPTIONS]", "Remove unused images (also `image prune`).",
            [Opt(("-a", "--all"), "all", "flag", "every image no container uses, not only untagged ones"),
             _FORCE, _PRUNE_FILTER], max_args=0, also=("image prune",)),
    Command("commit", _C + "commit", "commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
            "Create a new image from a container's changes.",
            [Opt(("-a", "--author"), "author", "value", "author", "NAME"),
             Opt(("-m", "--message"), "message", "value", "commit message", "TEXT"),
             Opt(("-c", "--change"), "change", "multi", "apply a Dockerfile instruction (CMD, ENV, …)", "INSTR"),
             Opt(("-p", "--pause"), "pause", "flag_on", "pause the container while committing (default true)")],
            min_args=1, max_args=2),
    Command("diff", _C + "diff", "diff CONTAINER", "Files added (A), changed (C) or deleted (D) in a container.",
            min_args=1, max_args=1),
    Command("cp", _C + "cp",
            "cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n  corral cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
            "Copy files/folders between a container and the local filesystem ('-': a tar on stdin/stdout).",
            [Opt(("-a", "--archive"), "archive", "flag", "archive mode (copy all uid/gid information)"),
             Opt(("-L", "--follow-link"), "follow_link", "flag", "always follow symlinks in SRC_PATH"),
             Opt(("-q", "--quiet"), "quiet", "flag", "print no summary (the default when stdout is no terminal)")],
            min_args=2, max_args=2),
    Command("save", _I + "save", "save [OPTIONS] IMAGE [IMAGE...]",
            "Save images to a tar archive (to stdout unless -o).",
            [Opt(("-o", "--output"), "output", "value",
                 "write to a file instead of stdout (oci:PATH[:REFERENCE]: into an OCI image layout)", "FILE"),
             Opt(("--format",), "format", "value", "docker-archive (default) or oci-archive", "FORMAT")],
            min_args=1, also=("image save",)),
    Command("load", _I + "load", "load [OPTIONS]", "Load images from a docker-archive or OCI-layout tar archive.",
            [Opt(("-i", "--input"), "input", "value",
                 "read from a file instead of stdin (oci:PATH[:REFERENCE]: from an OCI image layout)", "FILE"),
             Opt(("-q", "--quiet"), "quiet", "flag", "accepted for compatibility (corral prints no progress)")],
            max_args=0, also=("image load",)),
    Command("pull", "registry_cmds:pull", "pull [OPTIONS] NAME[:TAG|@DIGEST] | oci:PATH[:REFERENCE]",
            "Download an image from a registry, or from an OCI image layout.",
            [Opt(("-a", "--all-tags"), "all_tags", "flag", "download every tagged image in the repository"),
             Opt(("--platform",), "platform", "value", "os[/arch[/variant]] of a multi-platform image", "PLATFORM"),
             Opt(("-q", "--quiet"), "quiet", "flag", "print only the pulled image's name")],
            min_args=1, max_args=1, also=("image pull",)),
    Command("push", "registry_cmds:push", "push [OPTIONS] NAME[:TAG] [oci:PATH[:REFERENCE]]",
            "Upload an image to a registry, or into an OCI image layout (oci:PATH:NAME:TAG).",
            [Opt(("-a", "--all-tags"), "all_tags", "flag", "push every local tag of the repository"),
             Opt(("-q", "--quiet"), "quiet", "flag", "print only the pushed image's digest line"),
             Opt(("--format",), "format", "value", "manifest format: oci (default) or v2s2 (docker's)", "FORMAT")],
            min_args=1, max_args=2, also=("image push",)),
    Command("export", _C + "export", "export [OPTIONS] CONTAINER",
            "Export a container's filesystem as a tar archive (to stdout unless -o).",
            [Opt(("-o", "--output"), "output", "value", "write to a file instead of stdout", "FILE")],
            min_args=1, max_args=1),
    Command("login", "registry_cmds:login", "login [OPTIONS] [SERVER]",
            "Log in to a registry (credentials kept in docker's config.json, shared with the docker CLI).",
            [Opt(("-u", "--username"), "username", "value", "username", "USER"),
             Opt(("-p", "--password"), "password", "value", "password (seen by others: use --password-stdin)",
                 "PASSWORD"),
             Opt(("--password-stdin",), "password_stdin", "flag", "take the password from stdin")],
            max_args=1),
    Command("logout", "registry_cmds:logout", "logout [SERVER]", "Log out from a registry.", max_args=1),
    Group("image", "image bootstrap|ls|inspect|rm|prune|history|tag|save|load|import|build|pull|push ...",
          "Manage images: `image bootstrap busybox`, `image bootstrap debian:bookworm`."),
    Command("image bootstrap", _I + "bootstrap", "image bootstrap busybox|debian:SUITE",
            "Make a base image: busybox from the host's busybox-static, debian:SUITE with debootstrap.",
            min_args=1, max_args=1),
    Command("image inspect", "inspect_cmds:image_inspect", "image inspect IMAGE [IMAGE...]",
            "Low-level information on images, as JSON.", [_FORMAT_INSPECT], min_args=1),
    Group("system", "system check|df|events|info|prune|restore",
          "Check (and repair) the store; show disk usage and host information; remove unused data."),
    Command("system check", _S + "check", "system check [--repair]",
            "Verify blobs and metadata; exit non-zero on any inconsistency.",
            [Opt(("--repair",), "repair", "flag", "remove the network residue a crash left; restore running "
                 "containers' rules")], max_args=0),
    Command("system df", _S + "df", "system df [OPTIONS]", "Show disk usage.",
            [Opt(("-v", "--verbose"), "verbose", "flag", "show detailed information on space usage")], max_args=0),
    Command("system prune", _S + "prune", "system prune [OPTIONS]",
            "Repair the store's network state, then remove stopped containers, unused networks, dangling "
            "images and the build cache.",
            [Opt(("-a", "--all"), "all", "flag", "remove all unused images, not only dangling ones"), _FORCE,
             Opt(("--volumes",), "volumes", "flag", "prune anonymous volumes too"),
             _PRUNE_FILTER], max_args=0),
    Command("system restore", _S + "restore", "system restore",
            "Start the containers a reboot stopped: restart policy always, unless-stopped (unless stopped by "
            "the user), on-failure (if it failed); the boot-time hook (contrib/corral-restore.service).",
            max_args=0),
    Command("info", _S + "info", "info [OPTIONS]", "Display system-wide information.",
            [Opt(("-f", "--format"), "format", "value", "a Go template of docker's info fields", "TEMPLATE")],
            max_args=0, also=("system info",)),
    Command("events", "events_cmds:events", "events [OPTIONS]",
            "Get real time events from the store (every corral process records them).",
            [Opt(("--since",), "since", "value", "events since a time (RFC 3339, Unix seconds) or for 10m", "T"),
             Opt(("--until",), "until", "value", "stop at a time (without it, follow until interrupted)", "T"),
             Opt(("-f", "--filter"), "filter", "multi",
                 "type=, event=, container=, image=, label=, network=, volume=", "KEY=VALUE"),
             Opt(("--format",), "format", "value", "json, or a Go template of each event ('{{.Action}}')",
                 "FORMAT")],
            max_args=0, also=("system events",)),
    Group("container", "container COMMAND", "Manage containers: every container verb, and ls, prune."),
    Command("container inspect", "inspect_cmds:container_inspect", "container inspect CONTAINER [CONTAINER...]",
            "Low-level information on containers, as JSON.",
            [Opt(("-s", "--size"), "size", "flag", "SizeRw and SizeRootFs"), _FORMAT_INSPECT], min_args=1),
    Command("container prune", _C + "prune", "container prune [OPTIONS]", "Remove all stopped containers.",
            [_FORCE, _PRUNE_FILTER], max_args=0),
    Group("network",
          "network create [--subnet CIDR] [--gateway IP] [--internal] [--label K=V] NAME\n"
          "        corral network ls [-q] | inspect NET... | rm NET... | prune\n"
          "        corral network connect [--ip IP] [--alias NAME] NET CONTAINER | disconnect [-f] NET CONTAINER",
          "Manage switches (NAT bridges with published ports; --internal: no way out)."),
    Command("network create", _N + "create", "network create [OPTIONS] NAME", "Create a switch.",
            [Opt(("--subnet",), "subnet", "value", "subnet in CIDR form (default: a free range of the pool)", "CIDR"),
             Opt(("--gateway",), "gateway", "value", "the bridge's address (default: the subnet's first)", "IP"),
             Opt(("--internal",), "internal", "flag", "no outbound traffic: containers reach only each other"),
             Opt(("-d", "--driver"), "driver", "value", "bridge (the only driver)", "DRIVER"),
             Opt(("-o", "--opt"), "opt", "multi", "driver option (recorded)", "K=V"),
             Opt(("--label",), "label", "multi", "set a label", "K=V")], min_args=1, max_args=1),
    Command("network ls", _N + "ls", "network ls [OPTIONS]", "List switches.",
            [Opt(("-q", "--quiet"), "quiet", "flag", "only IDs"),
             Opt(("--no-trunc",), "no_trunc", "flag", "full IDs"), _FILTER, _FORMAT_LIST], max_args=0,
            also=("network list",)),
    Command("network inspect", _N + "inspect", "network inspect [OPTIONS] NETWORK [NETWORK...]",
            "Show switches as JSON.", [_FORMAT_INSPECT], min_args=1),
    Command("network rm", _N + "rm", "network rm NETWORK [NETWORK...]", "Remove switches.", min_args=1,
            also=("network remove",)),
    Command("network prune", _N + "prune", "network prune [OPTIONS]", "Remove every switch no container uses.",
            [_FORCE, _PRUNE_FILTER], max_args=0),
    Command("network connect", _N + "connect", "network connect [OPTIONS] NETWORK CONTAINER",
            "Connect a container to a switch.",
            [Opt(("--ip",), "ip", "value", "the container's address on the switch", "IP"),
             Opt(("--alias",), "alias", "multi", "another name on the switch", "NAME")], min_args=2, max_args=2),
    Command("network disconnect", _N + "disconnect", "network disconnect [OPTIONS] NETWORK CONTAINER",
            "Disconnect a container from a switch.",
            [Opt(("-f", "--force"), "force", "flag", "no error when it is not connected")], min_args=2, max_args=2),
    # pods (issue 21) -------------------------------------------------------------------------------
    Group("pod",
          "pod create [--name N] [-p PORT] [--network NET] [--hostname H] [--label K=V]\n"
          "        corral pod ps [-q] [-f KEY=VALUE] [--format F] | inspect POD... | logs [-f] [-n] POD | top POD\n"
          "        corral pod stats [--no-stream] [POD...]\n"
          "        corral pod start|stop|restart|kill|pause|unpause|rm [-f] POD... | prune | exists POD\n"
          "        corral run|create --pod POD|new:NAME ...: a member sharing the pod's network, IPC and hostname",
          "Manage pods: containers sharing one network (127.0.0.1, the pod's ports), IPC and host name."),
    Command("pod create", _POD + "create", "pod create [OPTIONS] [NAME]",
            "Create a pod (and its infra container, which holds the shared namespaces and ports).",
            [Opt(("-n", "--name"), "name", "value", "the pod's name", "NAME"),
             Opt(("-p", "--publish"), "publish", "multi", "publish a port of the pod: [HOSTIP:][HOSTPORT:]PORT[/PROTO]",
                 "PORT"),
             Opt(("--network", "--net"), "network", "value",
                 "none (default without -p), bridge (the default switch), a switch's name, host", "NET"),
             Opt(("-h", "--hostname"), "hostname", "value", "the members' host name (default: the pod's name)",
                 "NAME"),
             Opt(("-l", "--label"), "label", "multi", "set a label", "K=V"),
             Opt(("--label-file",), "label_file", "multi", "read labels from a file", "FILE"),
             Opt(("--share",), "share", "value", "namespaces the members share (default ipc,net,uts; +pid adds "
                 "pid to them; none)", "NS,..."),
             Opt(("--replace",), "replace", "flag", "remove a pod of that name first")], max_args=1),
    Command("pod ps", _POD + "ps", "pod ps [OPTIONS]", "List pods.",
            [Opt(("-q", "--quiet"), "quiet", "flag", "only IDs"),
             Opt(("--no-trunc",), "no_trunc", "flag", "full IDs"),
             Opt(("-f", "--filter"), "filter", "multi", "id=, name=, label=, status=, network=, ctr-names=, "
                 "ctr-ids=, ctr-status=, ctr-number=, until=", "KEY=VALUE"),
             Opt(("--ctr-names",), "ctr_names", "flag", "show the containers' names"),
             Opt(("--ctr-ids",), "ctr_ids", "flag", "show the containers' IDs"),
             Opt(("--ctr-status",), "ctr_status", "flag", "show the containers' states"), _FORMAT_LIST],
            max_args=0, also=("pod ls", "pod list")),
    Command("pod inspect", _POD + "inspect", "pod inspect [OPTIONS] POD [POD...]", "Show pods as JSON.",
            [_FORMAT_INSPECT], min_args=1),
    Command("pod exists", _POD + "exists", "pod exists POD", "Exit 0 if the pod exists, 1 if not.",
            min_args=1, max_args=1),
    Command("pod start", _POD + "start", "pod start [OPTIONS] POD [POD...]",
            "Start pods: the infra container, then the members.",
            [Opt(("-a", "--all"), "all", "flag", "every pod")]),
    Command("pod stop", _POD + "stop", "pod stop [OPTIONS] POD [POD...]", "Stop pods: the members, then the infra.",
            [Opt(("-a", "--all"), "all", "flag", "every pod"),
             Opt(("-i", "--ignore"), "ignore", "flag", "no error for a pod that does not exist"),
             Opt(("-t", "--time"), "time", "value", "seconds to wait before killing (default 10)", "N")]),
    Command("pod restart", _POD + "restart", "pod restart [OPTIONS] POD [POD...]", "Restart pods.",
            [Opt(("-a", "--all"), "all", "flag", "every pod"),
             Opt(("-t", "--time"), "time", "value", "seconds to wait for the stop before killing (default 10)",
                 "N")]),
    Command("pod kill", _POD + "kill", "pod kill [OPTIONS] POD [POD...]", "Send a signal to every container of pods.",
            [Opt(("-a", "--all"), "all", "flag", "every pod"),
             Opt(("-s", "--signal"), "signal", "value", "signal to send (default KILL)", "SIGNAL")]),
    Command("pod pause", _POD + "pause", "pod pause [OPTIONS] POD [POD...]", "Pause every container of pods.",
            [Opt(("-a", "--all"), "all", "flag", "every pod")]),
    Command("pod unpause", _POD + "unpause", "pod unpause [OPTIONS] POD [POD...]", "Unpause pods.",
            [Opt(("-a", "--all"), "all", "flag", "every pod")]),
    Command("pod rm", _POD + "rm", "pod rm [OPTIONS] POD [POD...]", "Remove pods, their members and infra.",
            [Opt(("-a", "--all"), "all", "flag", "every pod"),
             Opt(("-f", "--force"), "force", "flag", "stop running containers first"),
             Opt(("-i", "--ignore"), "ignore", "flag", "no error for a pod that does not exist"),
             Opt(("-t", "--time"), "time", "value", "seconds to wait for the stop before killing", "N")],
            also=("pod remove",)),
    Command("pod prune", _POD + "prune", "pod prune [OPTIONS]", "Remove every pod none of whose containers runs.",
            [_FORCE], max_args=0),
    Command("pod logs", _POD + "logs", "pod logs [OPTIONS] POD", "Fetch the output of a pod's containers.",
            [Opt(("-c", "--container"), "container", "value", "only this member's", "CONTAINER"),
             Opt(("-f", "--follow"), "follow", "flag", "follow the output"),
             Opt(("-n", "--names"), "names", "flag", "prefix lines with container names instead of IDs"),
             Opt(("--tail",), "tail", "value", "lines from the end of each (or all)", "N"),
             Opt(("-t", "--timestamps"), "timestamps", "flag", "show timestamps"),
             Opt(("--since",), "since", "value", "lines since a time, or for 10m", "T"),
             Opt(("--until",), "until", "value", "lines until a time, or until 10m ago", "T")],
            min_args=1, max_args=1),
    Command("pod top", _POD + "top", "pod top POD", "The processes of a pod's running members.",
            min_args=1, max_args=1),
    Command("pod stats", _R + "pod_stats", "pod stats [OPTIONS] [POD...]",
            "A live stream of the resource use of pods' members (of running pods without names).",
            [Opt(("-a", "--all"), "all", "flag", "every pod"),
             Opt(("--no-stream",), "no_stream", "flag", "print one table and exit"),
             Opt(("--no-trunc",), "no_trunc", "flag", "do not truncate output"), _FORMAT_LIST]),
    Group("volume",
          "volume create [--driver local] [--opt K=V] [--label K=V] [NAME]\n"
          "        corral volume ls [-q] [-f KEY=VALUE] | inspect VOL... | rm [-f] VOL... | prune [-a] [-f]",
          "Manage volumes: data directories of the store that outlive the containers mounting them."),
    Command("volume create", _V + "create", "volume create [OPTIONS] [VOLUME]",
            "Create a volume (without a name: an anonymous one).",
            [Opt(("-d", "--driver"), "driver", "value", "local (the only driver)", "DRIVER"),
             Opt(("--name",), "name", "value", "the volume's name", "NAME"),
             Opt(("-o", "--opt"), "opt", "multi", "the local driver's type=, o=, device=", "K=V"),
             Opt(("--label",), "label", "multi", "set a label", "K=V")], max_args=1),
    Command("volume ls", _V + "ls", "volume ls [OPTIONS]", "List volumes.",
            [Opt(("-q", "--quiet"), "quiet", "flag", "only names"),
             Opt(("-f", "--filter"), "filter", "multi", "dangling=, driver=, label=, name=", "KEY=VALUE"),
             _FORMAT_LIST], max_args=0, also=("volume list",)),
    Command("volume inspect", _V + "inspect", "volume inspect [OPTIONS] VOLUME [VOLUME...]",
            "Show volumes as JSON.", [_FORMAT_INSPECT], min_args=1),
    Command("volume rm", _V + "rm", "volume rm [OPTIONS] VOLUME [VOLUME...]",
            "Remove volumes (refused while a container uses one).",
            [Opt(("-f", "--force"), "force", "flag", "no error for a volume that does not exist")], min_args=1,
            also=("volume remove",)),
    Command("volume prune", _V + "prune", "volume prune [OPTIONS]",
            "Remove the anonymous volumes no container uses (-a: every unused one).",
            [Opt(("-a", "--all"), "all", "flag", "named volumes too"), _FORCE,
             Opt(("--filter",), "filter", "multi", "label=K[=V], label!=K[=V]", "KEY=VALUE")], max_args=0),
    # kube (issue 21) --------------------------------------------------------------------------------
    Group("kube", "kube generate|play ...", "Kubernetes YAML: describe containers as Pods, run Pods from a file."),
    Command("kube generate", "kube_cmds:generate", "kube generate [OPTIONS] CONTAINER|POD [CONTAINER|POD...]",
            "Write Kubernetes YAML (a Pod, or a Deployment) describing containers, or a pod.",
            [Opt(("-s", "--service"), "service", "flag", "a NodePort Service for the published ports, not hostPorts"),
             Opt(("-t", "--type"), "type", "value", "pod (default) or deployment", "TYPE"),
             Opt(("-r", "--replicas"), "replicas", "value", "replicas of a deployment (default 1)", "N"),
             Opt(("-f", "--filename"), "filename", "value", "write to a file instead of stdout", "FILE")],
            min_args=1),
    Command("kube play", "kube_cmds:play", "kube play [OPTIONS] FILE|-",
            "Run the Pods, Deployments, Services, ConfigMaps, Secrets and claims of a Kubernetes YAML file.",
            [Opt(("--down",), "down", "flag", "remove what a play of the file made"),
             Opt(("--force",), "force", "flag", "with --down: remove the claimed volumes a play made too"),
             Opt(("--replace",), "replace", "flag", "remove what a play of the file made first"),
             Opt(("--start",), "start", "flag_on", "start the containers (default true; --start=false: create)"),
             Opt(("--network",), "network", "value", "a switch for the pods (default: the default switch)", "NET"),
             Opt(("--allow-host-paths",), "allow_host_paths", "flag", "allow hostPaths of / and system directories"),
             Opt(("--allow-privileged",), "allow_privileged", "flag",
                 "allow privileged containers and the host's namespaces")],
            min_args=1, max_args=1),
    Command("port", _N + "port", "port CONTAINER [PRIVATE_PORT[/PROTO]]",
            "List a container's published ports.", min_args=1, max_args=2),
    # corral serve (issue 18) ------------------------------------------------------------------------
    Command("serve", "serve_cmds:serve", "serve [OPTIONS]",
            "Serve the Docker Engine API over this store (docker CLI, docker-py, compose).",
            [Opt(("-H", "--host"), "host", "multi", "unix:///PATH (default unix:///run/corral.sock) or "
                 "tcp://ADDR:PORT with --tlsverify", "HOST"),
             Opt(("-G", "--group"), "group", "value", "group owning the unix socket (default root)", "GROUP"),
             Opt(("--tlsverify",), "tlsverify", "flag", "mutual TLS: clients need a certificate --tlscacert signed"),
             Opt(("--tlscacert",), "tlscacert", "value", "CA of the client certificates", "FILE"),
             Opt(("--tlscert",), "tlscert", "value", "the server's certificate", "FILE"),
             Opt(("--tlskey",), "tlskey", "value", "the server's key", "FILE")], max_args=0),
    # ----------------------------------------------------------------------------------------------
    Command("version", _S + "version", "version [OPTIONS]", "Show the corral version information.",
            [Opt(("-f", "--format"), "format", "value", "a Go template of the Client and Server sections",
                 "TEMPLATE")], max_args=0),
)
for _cmd in TABLE:  # docker's `container VERB` for each container verb (`container ls` for ps)
    if _cmd.handler.startswith(_C) or _cmd.name in ("exec", "pause", "unpause", "top", "port", "stats", "update"):
        if _cmd.name != "container prune":
            _cmd.also += {"ps": ("container ls", "container list", "container ps"),
                          "rm": ("container rm", "container remove")}.get(_cmd.name, (f"container {_cmd.name}",))


def tree(entries: tuple[Command, ...]) -> dict[str, Command]:
    """The top-level words of the entries' names, each to its command or group, with every group's
    subcommands filled in. A name given twice, or under a group the table lacks, is an error here,
    so a mistake in the table fails every test that loads it."""
    top: dict[str, Command] = {}
    for cmd in sorted(entries, key=lambda c: not isinstance(c, Group)):  # groups first, then the rest in order
        for name in cmd.names:
            words = name.split()
            if len(words) > 2:
                raise ValueError(f"{name!r}: a name is a command, or a group and one of its subcommands")
            group = top.get(words[0]) if len(words) == 2 else None
            if len(words) == 2 and not isinstance(group, Group):
                raise ValueError(f"{name!r}: the table has no group {words[0]!r}")
            where = group.subcommands if group is not None else top
            if words[-1] in where:
                raise ValueError(f"{name!r} is in the table twice")
            where[words[-1]] = cmd
    return top


TREE = tree(TABLE)


def find(argv: list[str], top: dict[str, Command] = TREE) -> tuple[Command | None, list[str]]:
    """The command argv's first words name, and the arguments after them: a group when no
    subcommand of it follows; None when the first word is no command."""
    cmd, rest = top.get(argv[0]), argv[1:]
    while isinstance(cmd, Group) and rest and rest[0] in cmd.subcommands:
        cmd, rest = cmd.subcommands[rest[0]], rest[1:]
    return cmd, rest


def command(name: str) -> Command:
    """The entry with this name or alias ("run", "network create", "image ls")."""
    cmd, rest = find(name.split())
    if cmd is None or rest:
        raise KeyError(name)
    return cmd


def listing(entries: tuple[Command, ...] = TABLE) -> list[tuple[str, str]]:
    """What `corral --help` lists, in the table's order: each entry that has a one-word name (its
    first), with its help. A group's subcommands show in the group's help, not here."""
    found = []
    for cmd in entries:
        word = next((n for n in cmd.names if " " not in n), None)
        if word is not None:
            found.append((word, cmd.help))
    return found


_GLOBAL_USAGE = "corral [OPTIONS] COMMAND [ARG...]"
_LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")
_DAEMONLESS = ("corral is daemonless: only local stores are supported until `corral serve` lands; "
               "select a store with --root DIR or CORRAL_ROOT")


def usage() -> str:
    lines = [f"Usage:  {_GLOBAL_USAGE}", "", "A container engine for Linux.", "", "Global Options:",
             "  --root DIR                   the store (default $CORRAL_ROOT, else /var/lib/corral)",
             "  --config DIR                 docker's client configuration: credentials (default ~/.docker)",
             "  -D, --debug                  show the traceback of an engine error",
             "  -l, --log-level LEVEL        debug (as -D), info (default), warn, error or fatal",
             "  -v, --version                print the version and quit", "", "Commands:"]
    lines += [f"  {name:<10} {text}" for name, text in listing()]
    lines += ["", "Environment: CORRAL_ROOT selects the store (default /var/lib/corral).",
              "Run 'corral COMMAND --help' for more on a command."]
    return "\n".join(lines)


def _global_options(argv: list[str]) -> tuple[list[str], bool]:
    """Docker's global flags before the command, applied or refused: the rest of argv, and whether
    engine errors show their traceback (-D, --log-level debug). --root selects the store, --config the
    directory of docker's config.json (the registry credentials); -H/--host and CORRAL_HOST name what
    corral does not have yet (a `corral serve` endpoint), so they are refused rather than ignored."""
    from corral.cli.parser import UsageError

    def refuse(message: str) -> UsageError:
        return UsageError(f"{message}\n\nUsage:  {_GLOBAL_USAGE}\n\nRun 'corral --help' for more information", 125)

    if os.environ.get("CORRAL_HOST"):
        raise UsageError(f"CORRAL_HOST={os.environ['CORRAL_HOST']}: {_DAEMONLESS}", 125)
    debug = False
    while argv and argv[0].startswith("-") and argv[0] not in ("-h", "--help", "-v", "--version"):
        name, eq, value = argv[0].partition("=")
        if name in ("-D", "--debug"):
            debug = value.lower() not in ("0", "f", "false") if eq else True
            argv = argv[1:]
            continue
        if name not in ("--root", "-l", "--log-level", "-H", "--host", "--config"):
            raise refuse(f"unknown flag: {name}" if name.startswith("--") else
                         f"unknown shorthand flag: '{name[1:2]}' in {name}")
        if not eq:
            if len(argv) < 2:
                raise refuse(f"flag needs an argument: {name}")
            value, argv = argv[1], argv[1:]
        argv = argv[1:]
        if name == "--root":
            os.environ["CORRAL_ROOT"] = value
        elif name in ("-l", "--log-level"):
            if value not in _LOG_LEVELS:
                raise UsageError(f"Unable to parse logging level: {value}", 1)
            debug = debug or value == "debug"
        elif name in ("-H", "--host"):
            raise UsageError(f"{name} {value}: {_DAEMONLESS}", 125)
        else:
            os.environ["DOCKER_CONFIG"] = value  # docker's: where config.json (the credentials) lives
    return argv, debug


def main(argv: list[str] | None = None) -> int:
    """Run one command line; the exit code. --help (or -h where it is no flag of the command) shows
    the command's help when it comes before the command's first positional argument, so that
    `corral run IMG sh --help` reaches the container."""
    from corral.cli.parser import HelpRequested, UsageError

    argv = sys.argv[1:] if argv is None else argv
    try:
        argv, debug = _global_options(argv)
    except UsageError as e:
        print(e, file=sys.stderr)
        return e.status
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] in ("-v", "--version"):
        argv = ["version"]
    cmd, rest = find(argv)
    if cmd is None:
        print(f"corral: '{argv[0]}' is not a corral command.\nSee 'corral --help'", file=sys.stderr)
        return 1
    from corral.errors import CorralError

    engine_code = 125 if cmd.name in ("run", "create") else 1
    DEBUG[0] = debug
    try:
        try:
            opts, args = parse(cmd, rest)
        except HelpRequested:
            print(help_text(cmd))
            return 0
        if isinstance(cmd, Group):
            raise cmd.unknown(args[0])
        module, func = cmd.handler.split(":")
        handler = getattr(__import__(f"corral.cli.{module}", fromlist=[func]), func)
        return handler(opts, args)
    except UsageError as e:
        print(e, file=sys.stderr)
        return e.status
    except CorralError as e:
        report(e)
        return e.exit_code if e.exit_code in (126, 127) else engine_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # noqa: BLE001 - no traceback reaches a user: one line, and how to get the trace
        report(_unexpected(e))
        return engine_code


def _unexpected(e: Exception) -> Exception:
    """One line for an error no verb turned into a CorralError: what the system said for an OSError (a full
    disk names the file it was writing), else the exception as a defect to report."""
    import errno

    if isinstance(e, OSError) and e.strerror:
        where = f" ({e.filename})" if e.filename else ""
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            return RuntimeError(f"the disk is full{where}: free some space and run the command again")
        return RuntimeError(f"{e.strerror}{where}; rerun with --debug for where it happened")
    return RuntimeError(f"unexpected {type(e).__name__}: {e} (a defect in corral: rerun with --debug for its "
                        "traceback and report it)")


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
