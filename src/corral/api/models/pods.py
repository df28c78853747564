"""client.pods and the Pod model: podman-py's shape (podman.domain.pods) over api/pod.py.

docker-py has no pods; podman-py's PodsManager and Pod are the models scripts
know: pods.create(name, ...), get, list, prune, exists; pod.start/stop/
restart/kill/pause/unpause/remove/top/reload, attrs the `pod inspect` dict.
api/pod.py's docstring lists the whole shape.
"""
from __future__ import annotations

from corral.api.models import Collection, Model, check_type, refuse_unknown, wanted_filters

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from corral.api.models.containers import Container
    from corral.api.pod import Pod as Engine


class Pod(Model):
    """A pod as podman-py shows it; `attrs` is `corral pod inspect`'s dict."""

    @property
    def engine(self) -> Engine:
        """The engine's Pod under this model (corral.api.pod.Pod)."""
        return self.client.api.pod(self.id)

    @property
    def name(self) -> str:
        return self.attrs["Name"]

    @property
    def status(self) -> str:
        """podman's pod state as attrs last read it: Created, Running, Degraded, Paused, Exited."""
        return self.attrs["State"]

    @property
    def containers(self) -> list[Container]:
        """The pod's members (its infra container left out), oldest first, read now."""
        from corral.api.models.containers import Container

        return [Container(None, self.client, self.client.containers, c) for c in self.engine.containers(infra=False)]

    @property
    def infra(self) -> Container | None:
        infra_id = self.attrs.get("InfraContainerID")
        return self.client.containers.get(infra_id) if infra_id else None

    def reload(self) -> None:
        self.attrs = self.engine.inspect()

    def start(self) -> None:
        self.engine.start()
        self.reload()

    def stop(self, timeout: int | None = None) -> None:
        check_type("stop", "timeout", timeout, int)
        self.engine.stop(timeout)
        self.reload()

    def restart(self, timeout: int | None = None) -> None:
        check_type("restart", "timeout", timeout, int)
        self.engine.restart(timeout)
        self.reload()

    def kill(self, signal: str | int | None = None) -> None:
        check_type("kill", "signal", signal, str, int)
        self.engine.kill(signal or "KILL")
        self.reload()

    def pause(self) -> None:
        self.engine.pause()
        self.reload()

    def unpause(self) -> None:
        self.engine.unpause()
        self.reload()

    def remove(self, force: bool = False, timeout: int | None = None) -> None:
        """The pod, its members and its infra container; a running pod only with force."""
        self.engine.remove(force=force, timeout=timeout)

    def top(self) -> dict:
        """{"Titles": [...], "Processes": [[...], ...]} of the running members, podman-py's shape."""
        titles, rows = self.engine.top()
        return {"Titles": titles, "Processes": rows}

    def logs(self, container: str | None = None, follow: bool = False, tail: int | None = None,
             since: object = None, until: object = None) -> Iterator[tuple[str, int, bytes]]:
        """(member name, stream 1|2, line) of the members' output in time order; follow waits for more."""
        for c, stream, _, data in self.engine.logs(container=container, follow=follow, tail=tail, since=since,
                                                   until=until):
            yield c.name, stream, data


class PodCollection(Collection):
    model = Pod

    def create(self, name: str | None = None, *, ports: dict | list | None = None, network: str | None = None,
               hostname: str | None = None, labels: dict | None = None, share: str | list | None = None,
               replace: bool = False, **kwargs: object) -> Pod:
        """A pod and its infra container (created, not started). ports: docker-py's dict ({"80/tcp": 8080,
        "53/udp": ("127.0.0.1", 5353)}) or `-p` specs (["8080:80"]); network: a switch's name, bridge, host
        or none (the default unless ports are published); hostname: the members' (default: the name);
        share: the namespaces members share (["ipc", "net", "uts"] by default; "+pid" or a list with "pid"
        shares PIDs too); replace: remove a pod of that name first."""
        refuse_unknown("create", kwargs)
        check_type("create", "share", share, str, list, tuple)
        check_type("create", "name", name, str)
        check_type("create", "ports", ports, dict, list, tuple)
        check_type("create", "network", network, str)
        check_type("create", "hostname", hostname, str)
        check_type("create", "labels", labels, dict)
        if isinstance(ports, dict):
            from corral.api.models.create import ports as port_specs

            specs = port_specs("create", "ports", ports)
        else:
            specs = [str(p) for p in ports or ()]
        pod = self.client.api.create_pod(name, ports=specs, network=network, hostname=hostname, labels=labels,
                                         share=share, replace=bool(replace))
        return self.prepare_model(pod.inspect())  # type: ignore[return-value]

    def get(self, pod_id: str) -> Pod:
        """A pod by name, ID or ID prefix; NotFound otherwise."""
        check_type("get", "pod_id", pod_id, str)
        return self.prepare_model(self.client.api.pod(pod_id).inspect())  # type: ignore[return-value]

    def exists(self, pod_id: str) -> bool:
        from corral.errors import NotFound

        try:
            self.client.api.pod(pod_id)
        except NotFound:
            return False
        return True

    def list(self, filters: dict | None = None) -> list[Pod]:
        """Pods, newest first, passing `corral pod ps --filter`'s filters (a dict of key to value(s))."""
        check_type("list", "filters", filters, dict)
        return [self.prepare_model(p.inspect()) for p in  # type: ignore[misc]
                self.client.api.pods(wanted_filters(filters))]

    def prune(self, filters: dict | None = None) -> dict:
        """Remove every pod none of whose containers runs: {"PodsDeleted": [IDs], "SpaceReclaimed": 0}."""
        check_type("prune", "filters", filters, dict)
        return self.client.api.prune_pods(wanted_filters(filters))
