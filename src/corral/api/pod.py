"""Pods: groups of containers sharing one network, IPC and UTS namespace, as podman (and Kubernetes) have them.

podman's model: `pod create` makes a pod row (store/pods.py) and its infra
container, a container of the pause image (image/pause.py: the host's
catatonit in pause mode) that holds the pod's namespaces and its published
ports; members are ordinary containers created with `pod=`, which join the
infra container's namespaces (network container:INFRA, IPC and UTS likewise)
and keep their own mount, PID and cgroup, so per-container limits apply. So
members come and go while the pod, its address and its ports stay; members
reach each other on 127.0.0.1 and share hostname and /dev/shm.

Python API (what kube and scripts use; CLI `corral pod ...` is a thin layer over it):

    client.pods.create(name=None, *, ports=None, network=None, hostname=None, labels=None, share=None,
                       replace=False) -> Pod
        ports: docker-py's {"80/tcp": 8080 | ("127.0.0.1", 8080) | [..]} or -p strings ["8080:80"]
        share: the namespaces members share, default ["ipc", "net", "uts"]; "+pid" (or a list with "pid")
        adds the PID namespace (Kubernetes' shareProcessNamespace; the infra's catatonit is PID 1)
    client.pods.get(id_or_name) -> Pod          (NotFound: "no pod with name or ID X found: no such pod")
    client.pods.list(filters=None) -> [Pod]     (filters: id, name, label, status, network, ctr-names,
                                                 ctr-ids, ctr-status, ctr-number, until)
    client.pods.prune(filters=None) -> {"PodsDeleted": [ids], "SpaceReclaimed": 0}
    client.containers.create/run(image, ..., pod=Pod | "name" | "new:NAME")
    Pod (model): id, short_id, name, attrs (podman's `pod inspect` dict: Id, Name, Created, State, Hostname,
        Labels, InfraContainerID, InfraConfig{PortBindings, Networks, ...}, SharedNamespaces, NumContainers,
        Containers[{Id, Name, State}]), status, containers (member Container models, infra excluded),
        infra (the infra Container model), start(), stop(timeout=None), restart(timeout=None),
        kill(signal="KILL"), pause(), unpause(), remove(force=False), reload(), logs(...), top()
    Engine level (corral.api.Host): create_pod, pod(ref), pods(filters) and this module's Pod.

Events: type "pod", actions create, start, stop, kill, pause, unpause, remove (podman's), attribute name.
"""
from __future__ import annotations

import os

from corral import failpoints
from corral.errors import Conflict, CorralError, InvalidArgument
from corral.runtime import state

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from corral.api.container import Container
    from corral.api.filters import Filters
    from corral.api.host import Host
    from corral.runtime.options import ContainerOptions
    from corral.store.pods import PodRecord

SHARED = ["ipc", "net", "uts"]
"""The namespaces a pod's members share by default (podman's --share)."""
SHAREABLE = ("ipc", "net", "pid", "uts")
NEW = "new:"
"""`--pod new:NAME`: create the pod NAME with the container."""


class Pod:
    """A pod of the store: its record, its containers, and what podman's `pod` verbs do to them."""

    def __init__(self, host: Host, record: PodRecord) -> None:
        self.host = host
        self._load(record)

    def _load(self, record: PodRecord) -> None:
        self.record = record
        self.id, self.name, self.created, self.infra_id = record.id, record.name, record.created, record.infra_id
        self.labels, self.options = record.labels, record.options

    def __repr__(self) -> str:
        return f"<Pod {self.id[:12]} {self.name}>"

    @property
    def short_id(self) -> str:
        return self.id[:12]

    def reload(self) -> Pod:
        from corral.errors import NotFound
        from corral.store import pods

        record = pods.get(self.host.store, self.id)
        if record is None:
            raise NotFound(f"no pod with name or ID {self.id} found: no such pod")
        self._load(record)
        return self

    # its containers ----------------------------------------------------------------------------------

    def containers(self, infra: bool = True) -> list[Container]:
        """The pod's containers, oldest first (the infra container first), without it if infra=False."""
        from corral.api.container import Container
        from corral.store import containers

        found = [Container(self.host, r) for r in containers.of_pod(self.host.store, self.id)]
        if not infra:
            found = [c for c in found if c.id != self.infra_id]
        elif self.infra_id:
            found.sort(key=lambda c: c.id != self.infra_id)
        return found

    @property
    def infra(self) -> Container | None:
        if not self.infra_id:
            return None
        from corral.errors import NotFound

        try:
            return self.host.container(self.infra_id)
        except NotFound:
            return None

    @property
    def status(self) -> str:
        """podman's pod state from its containers' (the infra's among them): Created (none ran, or no
        container), Running (all running), Degraded (some running, some not), Paused, Exited."""
        return self.state_of(self.containers())

    @staticmethod
    def state_of(found: list[Container]) -> str:
        """status, from the pod's containers read already."""
        return pod_status([_container_state(c) for c in found])

    def inspect(self) -> dict:
        """podman's `pod inspect` of the pod."""
        found = self.containers()
        infra = next((c for c in found if c.id == self.infra_id), None)
        infra_view = infra.inspect() if infra is not None else {}
        network = self.options.get("network") or "default"
        return {
            "Id": self.id, "Name": self.name, "Created": self.created,
            "CreateCommand": self.options.get("command") or [],
            "ExitPolicy": "continue", "State": self.state_of(found),
            "Hostname": self.options.get("hostname") or "", "Labels": self.labels,
            "CreateCgroup": False, "CgroupParent": "", "CgroupPath": "", "CreateInfra": True,
            "InfraContainerID": self.infra_id or "",
            "InfraConfig": {
                "PortBindings": (infra_view.get("HostConfig") or {}).get("PortBindings") or {},
                "HostNetwork": network == "host", "StaticIP": "", "StaticMAC": "", "NoManageResolvConf": False,
                "DNSServer": None, "DNSSearch": None, "DNSOption": None, "NoManageHosts": False, "HostAdd": None,
                "Networks": self.networks(infra), "NetworkOptions": None, "pid_ns": "private", "userns": "host",
                "uts_ns": "private",
            },
            "SharedNamespaces": self.shared, "NumContainers": len(found),
            "Containers": [{"Id": c.id, "Name": c.name, "State": _container_state(c)} for c in found],
        }

    @property
    def shared(self) -> list[str]:
        """The namespaces its members share (of ipc, net, pid, uts)."""
        return list(self.options.get("share", SHARED))

    def networks(self, infra: Container | None = None) -> list[str]:
        """The switches the pod is on (its infra container's), or its mode (none, host) when on none."""
        infra = infra if infra is not None else self.infra
        names = sorted(infra.networks) if infra is not None else []
        if names:
            return names
        network = (infra.options.network if infra is not None else None) or "none"
        return [network] if network in ("none", "host") else []

    # lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the infra container, then every member not running (podman's order); the first error is
        raised once all were tried."""
        self._start_infra()
        errors = []
        for c in self.containers(infra=False):
            try:
                if c.status != state.RUNNING:
                    c.start()
            except CorralError as e:
                errors.append(e)
        self._event("start")
        if errors:
            raise errors[0]

    def _start_infra(self) -> None:
        """The infra container started if it is not running (Container.start says when it may not)."""
        infra = self.infra
        if infra is None:
            raise Conflict(f"pod {self.name} has no infra container: remove it (corral pod rm -f {self.name})")
        if infra.status != state.RUNNING:
            infra.start()

    def stop(self, timeout: int | None = None) -> None:
        """Stop the members (all at once, each with its stop signal, then SIGKILL after `timeout`
        seconds), then the infra container."""
        members = [c for c in self.containers(infra=False) if c.status in state.SUPERVISED]
        _together(members, lambda c: c.stop(timeout))
        infra = self.infra
        if infra is not None and infra.status in state.SUPERVISED:
            infra.stop(timeout)
        self._event("stop")

    def restart(self, timeout: int | None = None) -> None:
        self.stop(timeout)
        self.start()

    def kill(self, signal: str | int = "KILL") -> None:
        """Send `signal` to every running container of the pod, the infra's too (podman's pod kill)."""
        from corral.api.container import parse_signal

        sig = parse_signal(signal)
        running = [c for c in self.containers() if c.status == state.RUNNING]
        if not running:
            raise Conflict(f"pod {self.name} is not running: no container of it to kill")
        for c in running:
            try:
                c.kill(sig)
            except Conflict:
                pass  # it ended meanwhile
        self._event("kill")

    def pause(self) -> None:
        running = [c for c in self.containers() if c.status == state.RUNNING and not c.paused]
        if not running:
            raise Conflict(f"pod {self.name} has no running container to pause")
        for c in running:
            c.pause()
        self._event("pause")

    def unpause(self) -> None:
        paused = [c for c in self.containers() if c.paused]
        if not paused:
            raise Conflict(f"pod {self.name} is not paused")
        for c in paused:
            c.unpause()
        self._event("unpause")

    def remove(self, force: bool = False, timeout: int | None = None) -> None:
        """Remove the pod, its members and its infra container. A pod with a running container (its
        infra's too) only with force (its containers are stopped first: members, then the infra). A
        removal cut short (a crash) is finished by the next one."""
        from corral.store import pods

        self.reload()
        running = [c for c in self.containers() if c.status in state.SUPERVISED]
        if running and not force:
            shown = [c.name for c in running if c.id != self.infra_id] or [c.name for c in running]
            raise Conflict(f"pod {self.name} has running containers ({', '.join(shown)}): "
                           f"stop it first (corral pod stop {self.name}), or remove it with -f")
        pods.mark_removing(self.host.store, self.id)
        if running:
            self.stop(timeout)
        infra = self.infra
        for c in self.containers(infra=False) + ([infra] if infra else []):
            c.remove(force=True, volumes=True)
            failpoints.hit("pod.removing")
        pods.delete(self.host.store, self.id)
        self._event("remove")

    # observing ---------------------------------------------------------------------------------------

    def logs(self, *, container: str | None = None, follow: bool = False, tail: int | None = None,
             since: object = None, until: object = None) -> Iterator[tuple[Container, int, int, bytes]]:
        """(member, stream, time_ns, line) of the members' output (the infra container's is nothing),
        merged in time order; follow waits for more from every member. container= keeps one member."""
        members = self.containers(infra=False)
        if container is not None:
            members = [c for c in members if container in (c.id, c.name) or c.id.startswith(container)]
            if not members:
                raise InvalidArgument(f"container {container} is not in pod {self.name}")
        how = {"tail": tail, "since": since, "until": until}
        if not follow:
            lines = [(t, i, c, stream, data) for i, c in enumerate(members) for stream, t, data in c.logs(**how)]
            lines.sort(key=lambda line: line[:2])
            return ((c, stream, t, data) for t, _, c, stream, data in lines)
        return _followed(members, how)

    def top(self) -> tuple[list[str], list[list[str]]]:
        """podman's `pod top`: `top`'s table of every running member, with a NAME column of its own."""
        titles: list[str] = []
        rows: list[list[str]] = []
        for c in self.containers(infra=False):
            if c.status != state.RUNNING:
                continue
            titles, found = c.top_table()
            rows += [[c.name] + row for row in found]
        if not titles:
            raise Conflict(f"pod {self.name} has no running container")
        return ["NAME"] + titles, rows

    def _event(self, action: str) -> None:
        from corral.api import events

        events.record_pod(self.host.store, action, self)


def pod_status(states: list[str]) -> str:
    """podman's pod state of its containers' states (created, running, paused, exited)."""
    if not states:
        return "Created"
    count = {s: states.count(s) for s in set(states)}
    if count.get("running"):
        return "Degraded" if set(count) - {"running", "created"} else "Running"
    if count.get("paused") == len(states):
        return "Paused"
    if count.get("exited"):
        return "Exited"
    return "Created"


def _container_state(c: Container) -> str:
    status = c.status
    if status == state.RUNNING and c.paused:
        return "paused"
    return "running" if status == state.RESTARTING else status


def _own(c: Container) -> Container:
    """The container `c` read through a Host of its own: a thread's (a store's database connection is no
    place for two threads' transactions)."""
    return type(c.host)(c.host.store.root).container(c.id)


def _together(containers: list[Container], action: object) -> None:
    """action(c) for every container at once (threads): a pod's stop waits for the slowest, not the sum."""
    import threading

    errors: list[BaseException] = []

    def run(c: Container) -> None:
        try:
            action(_own(c))  # type: ignore[operator]
        except CorralError as e:
            errors.append(e)

    threads = [threading.Thread(target=run, args=(c,), daemon=True) for c in containers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def _followed(members: list[Container], how: dict) -> Iterator[tuple[Container, int, int, bytes]]:
    """Every member's logs followed at once, lines as they come (a thread per member)."""
    import queue
    import threading

    lines: queue.Queue = queue.Queue()

    def feed(c: Container) -> None:
        try:
            for stream, t, data in _own(c).logs(follow=True, **how):
                lines.put((c, stream, t, data))
        except CorralError:
            pass  # removed meanwhile: its lines end
        finally:
            lines.put(None)

    for c in members:
        threading.Thread(target=feed, args=(c,), daemon=True).start()
    open_feeds = len(members)
    while open_feeds:
        item = lines.get()
        if item is None:
            open_feeds -= 1
        else:
            yield item


# use-cases (Host's pod methods call these) ------------------------------------------------------------

def parse_share(text: str | list[str] | None) -> list[str]:
    """podman's --share: a comma list of ipc, net, pid, uts (or none); with a leading + those are added to
    the default (ipc, net, uts), so `+pid` shares the PID namespace too (Kubernetes' shareProcessNamespace).
    A list is taken as the namespaces themselves."""
    if text is None:
        return list(SHARED)
    if isinstance(text, str):
        added = text.startswith("+")
        names = [n.strip() for n in text.lstrip("+").split(",") if n.strip()]
        if names == ["none"]:
            names = []
        names = (list(SHARED) if added else []) + names
    else:
        names = list(text)
    for n in names:
        if n not in SHAREABLE:
            raise InvalidArgument(f"invalid kernel namespace to share: {n}: give ipc, net, pid or uts (or none)")
    return sorted(set(names))


def create(host: Host, name: str | None = None, *, ports: list[str] | None = None, network: str | None = None,
           hostname: str | None = None, labels: dict[str, str] | None = None, share: str | list[str] | None = None,
           replace: bool = False, command: list[str] | None = None) -> Pod:
    """A new pod and its infra container (created, not started: podman's `pod create`). ports are -p
    specs, network a switch's name (or bridge, none, host; default none unless ports are published, as
    for a container), hostname the members' (default: the pod's name). On a user-created switch the
    pod's name is the infra container's alias: its peers reach the pod by name. share: the namespaces
    the members share (parse_share: podman's --share). replace: a pod of that name is removed first
    (podman's --replace). command: what made it, for inspect's CreateCommand."""
    from corral.api import events, names
    from corral.image import pause
    from corral.runtime.state import now
    from corral.store import pods

    shared = parse_share(share)
    if network and network.startswith("container:"):
        raise InvalidArgument("a pod's network cannot be another container's: give a switch, bridge, host or none")
    if "net" not in shared and (ports or network):
        raise InvalidArgument("a pod's published ports and network are its members' only when they share its "
                              "network namespace: add net to --share")
    if "uts" not in shared and hostname:
        raise InvalidArgument("a pod's hostname is its members' only when they share its UTS namespace: add uts "
                              "to --share")
    if name:
        try:
            bare = names.validate(name)
        except InvalidArgument:
            raise InvalidArgument(f"Invalid pod name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed") from None
        if replace and (existing := pods.by_name(host.store, bare)) is not None:
            Pod(host, existing).remove(force=True)
        pods.check_name_free(host.store, bare)
    else:
        bare = names.free_name(lambda n: pods.by_name(host.store, n) is not None)
    for spec in ports or ():
        from corral.network import ports as portmod

        portmod.parse(spec)  # a bad -p is an error before anything is made
    pod_id = os.urandom(32).hex()
    options = {"hostname": hostname or bare, "network": network or "default", "ports": list(ports or ()),
               "share": shared, "command": list(command or ())}
    pods.insert(host.store, pods.PodRecord(pod_id, bare, now(), None, dict(labels or {}), options))
    infra = None
    try:
        failpoints.hit("pod.created")
        user_switch = options["network"] not in ("default", "bridge", "none", "host")
        infra = host.create_container(pause.image(host.store), name=f"{pod_id[:12]}-infra", pull="never",
                                      infra_of=pod_id, network=options["network"], ports=options["ports"],
                                      hostname=options["hostname"], ipc="shareable" if "ipc" in shared else None,
                                      network_aliases=[bare] if user_switch else None)
        pods.set_infra(host.store, pod_id, infra.id)
    except BaseException:
        if infra is not None:
            from corral.monitor.cleanup import remove_container

            remove_container(host.store, infra.id)
        pods.delete(host.store, pod_id)
        raise
    pod = Pod(host, pods.get(host.store, pod_id))  # type: ignore[arg-type]
    events.record_pod(host.store, "create", pod)
    return pod


def find(host: Host, ref: str) -> Pod:
    from corral.store import pods

    return Pod(host, pods.find(host.store, ref))


def listing(host: Host, filters: Filters | None = None) -> list[Pod]:
    """Every pod, newest first, that passes podman's `pod ps` filters."""
    from corral.store import pods

    found = [Pod(host, r) for r in pods.by_creation(host.store)]
    if not filters:
        return found
    from corral.api import filters as f

    keep = f.pod_filter(filters)
    return [p for p in found if keep(p)]


def prune(host: Host, filters: Filters | None = None) -> dict:
    """Remove every pod none of whose containers runs (podman's pod prune: stopped pods)."""
    removed = []
    for p in listing(host, filters):
        if p.status in ("Exited", "Created"):
            p.remove()
            removed.append(p.id)
    return {"PodsDeleted": removed, "SpaceReclaimed": 0}


def join(host: Host, ref: str, opts: ContainerOptions) -> tuple[Pod, bool]:
    """A member's options made to join pod `ref`'s infra container: network, IPC and UTS. What a member
    cannot have of its own (ports, a network, a hostname, its own IPC or UTS mode) is refused in podman's
    words; with new:NAME its ports, network and hostname are the new pod's, as podman's. Returns the
    pod, and whether it was made here (new:NAME: the caller removes it if the container's creation then
    fails)."""
    made = None
    if ref.startswith(NEW):  # podman's: the container's ports, network and hostname become the new pod's
        network = None if opts.network in ("default", "") else opts.network
        made = create(host, ref[len(NEW):] or None, ports=opts.ports, network=network, hostname=opts.hostname)
        opts.ports, opts.network, opts.hostname = [], "default", None
        pod = made
    else:
        pod = find(host, ref)
    try:
        _refuse_own_namespaces(opts, pod.shared)
        if not pod.infra_id:
            raise Conflict(f"pod {pod.name} has no infra container: remove it (corral pod rm -f {pod.name})")
        if pod.record.removing:
            raise Conflict(f"pod {pod.name} is being removed")
    except BaseException:
        if made is not None:
            made.remove(force=True)
        raise
    infra = f"container:{pod.infra_id}"
    shared = pod.shared
    if "net" in shared:
        opts.network = infra
    for kind in ("ipc", "pid", "uts"):
        if kind in shared:
            setattr(opts, kind, infra)
    if "uts" in shared:
        opts.env = [f"HOSTNAME={pod.options.get('hostname') or pod.name}"] + list(opts.env)
    return pod, made is not None


def _refuse_own_namespaces(opts: ContainerOptions, shared: list[str]) -> None:
    """A member's flags for a namespace it shares with its pod: podman's refusals."""
    if "net" in shared:
        if opts.ports or opts.publish_all:
            raise InvalidArgument("invalid config provided: published or exposed ports must be defined when the pod "
                                  "is created: network cannot be configured when it is shared with a pod")
        if opts.network not in ("default", "") or opts.ip or opts.network_aliases or opts.dns or opts.dns_search \
                or opts.dns_option or opts.add_host or opts.network_bandwidth_in or opts.network_bandwidth_out:
            raise InvalidArgument("invalid config provided: network cannot be configured when it is shared with a "
                                  "pod (give --network, --dns, --add-host ... to `pod create`)")
    if "uts" in shared and opts.hostname:
        raise InvalidArgument("invalid config provided: cannot set hostname when joining the pod UTS namespace")
    for kind in ("ipc", "pid", "uts"):
        if kind in shared and getattr(opts, kind):
            raise InvalidArgument(f"invalid config provided: --{kind} cannot be given to a container of a pod "
                                  f"sharing its {kind.upper()} namespace")


def is_infra(host: Host, cid: str) -> bool:
    from corral.store import pods

    return pods.of_infra(host.store, cid) is not None
