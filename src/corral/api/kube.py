"""`kube generate` and `kube play`: the use-cases over kube/'s pure mappings.

generate reads containers as inspect shows them and hands them to kube/generate.py; play reads a
file (a bounded, alias-free YAML, kube/yamlio.py), has kube/play.py refuse it whole or plan it, then
creates what the plan says: claimed volumes, a volume of files per ConfigMap or Secret volume, a corral
pod per Pod (api/pod.py: its infra container holds the network, hostname and published ports) and its
containers, started unless asked not to. Whatever fails midway, what this play made is removed again,
so a failed play leaves the store as it found it. `--down` removes what a play of the same file made
(the pods carrying the kube pod label, with their containers, and their files' volumes; claimed volumes
only when asked, as podman keeps them).
"""
from __future__ import annotations

import os

from corral.errors import Conflict, CorralError, InvalidArgument, NotFound
from corral.kube.names import LABEL_POD, LABEL_VOLUME

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

    from corral.api.container import Container
    from corral.api.host import Host
    from corral.api.pod import Pod

LABEL_CLAIM = "io.corral.kube.claim"
"""On a volume `kube play` made for a PersistentVolumeClaim (`--down --force` removes only such ones)."""


def generate(host: Host, refs: list[str], *, kind: str = "pod", service: bool = False,
             replicas: int | None = None) -> tuple[str, list[str]]:
    """The YAML describing these containers, and the warnings about what does not carry over."""
    from corral import __version__
    from corral.kube import generate as mapping, yamlio
    from corral.store import distribution

    if kind not in ("pod", "deployment"):
        raise InvalidArgument(f"--type {kind}: give pod or deployment")
    if replicas is not None and kind != "deployment":
        raise InvalidArgument("--replicas is for --type deployment")
    if replicas is not None and not 0 <= replicas <= 100:
        raise InvalidArgument(f"--replicas {replicas}: give 0 to 100")
    if not refs:
        raise InvalidArgument("give at least one container")
    sources, warnings = [], []
    containers, pod = _members(host, refs)
    for c in containers:
        info = c.inspect()
        image = host.image(c.image_id)
        config = image.config.get("config") or {}
        if not distribution.repo_digests(host.store, c.image_id):
            warnings.append(f"{c.name}: image {c.image_ref} is only in this store (no registry has it): push it "
                            "(corral push) where the cluster pulls from")
        sources.append({"inspect": info, "image": config, "user": _numeric_user(c, image), "env": c.options.env,
                        "stop_timeout": c.options.stop_timeout})
    objects, more = mapping.generate(sources, kind, service, 1 if replicas is None else replicas, pod)
    header = ("# Save the output of this file and use kubectl create -f to import it into Kubernetes.\n#\n"
              f"# Created with corral {__version__}\n")
    return yamlio.dump_all(objects, header), warnings + more


def _members(host: Host, refs: list[str]) -> tuple[list[Container], dict | None]:
    """The containers to describe (a pod named stands for its members), and the pod they belong to (its
    name, hostname and infra container's inspect), or None for containers of no pod."""
    containers: list[Container] = []
    for ref in dict.fromkeys(refs):
        try:
            containers.append(host.container(ref))
        except NotFound:
            try:
                found = host.pod(ref)
            except NotFound:
                raise NotFound(f"No such container or pod: {ref}") from None
            members = found.containers(infra=False)
            if not members:
                raise InvalidArgument(f"pod {found.name} has no container but its infra container: nothing to "
                                      "describe")
            containers += members
    containers = list({c.id: c for c in containers}.values())
    pods = {c.pod_id for c in containers}
    if len(pods) > 1:
        raise InvalidArgument("give the containers of one pod, or containers of none: one Pod describes them")
    pod_id = pods.pop() if pods else None
    if pod_id is None:
        return containers, None
    pod = host.pod(pod_id)
    if any(c.id == pod.infra_id for c in containers):
        raise InvalidArgument(f"the infra container of pod {pod.name} is the pod itself: give the pod or its "
                              "other containers")
    infra = pod.infra
    return containers, {"name": pod.name, "hostname": pod.options.get("hostname") or pod.name,
                        "labels": pod.labels, "share": pod.shared,
                        "infra": infra.inspect() if infra is not None else {"HostConfig": {"NetworkMode": "none"}}}


def _numeric_user(c: Container, image: object) -> tuple[int, int | None] | None:
    """(uid, gid) of a container's named user, read in its image; None for a numeric one or none."""
    user = c.options.user or ""
    if not user or all(part.isdigit() for part in user.split(":")):
        return None
    from corral.runtime import users

    try:
        uid, gid, _ = users.resolve(user, image.layer_dirs())  # type: ignore[attr-defined]
    except CorralError:
        return None
    return uid, gid


def load(path: str) -> tuple[list[dict], str]:
    """The documents of a Kubernetes YAML file (`-`: stdin), read as hostile input."""
    from corral.kube import yamlio

    source = "stdin" if path == "-" else path
    return yamlio.load_all(yamlio.read(path), source), source


def play(host: Host, docs: list[dict], source: str, *, start: bool = True, replace: bool = False,
         network: str | None = None, allow_host_paths: bool = False, allow_privileged: bool = False,
         warn: Callable[[str], None] | None = None) -> list[dict]:
    """Run what the documents describe: [{"name": pod, "id": pod ID, "containers": [(name, id)]}]. The plan's
    warnings go to `warn` before anything is made (so they are seen when the play then fails)."""
    from corral.kube import play as mapping

    plan = mapping.plan(docs, source, network=network, allow_host_paths=allow_host_paths,
                        allow_privileged=allow_privileged)
    for line in plan["warnings"] if warn else ():
        warn(line)
    for pod in plan["pods"]:
        if len(pod["name"]) < 2:  # Kubernetes takes it; corral's names (docker's) have two characters at least
            raise InvalidArgument(f"{source}: pod name {pod['name']!r}: give corral a name of two characters or more")
    if network:
        host.network(network)  # NotFound now, before anything is made
    made: list[Pod] = []
    volumes: list[str] = []
    try:
        if replace:
            _remove(host, plan, claims=False)
        else:
            _check_free(host, plan)
        for claim in _claims(plan):
            volumes += _make_volume(host, claim, {LABEL_CLAIM: ""})
        report = []
        for pod in plan["pods"]:
            for src in pod["sources"]:
                volumes += _make_volume(host, src["volume"], {LABEL_VOLUME: pod["name"]}, fresh=True)
                _fill(host.volume(src["volume"]).mountpoint, src["files"])
            made.append(_create_pod(host, pod))
            done = [(c["name"], _create(host, c, made[-1]).id) for c in pod["containers"]]
            report.append({"name": pod["name"], "id": made[-1].id, "containers": done})
        if start:
            for p in made:
                p.start()
    except BaseException:
        _undo(host, made, volumes)
        raise
    return report


def down(host: Host, docs: list[dict], source: str, *, volumes: bool = False) -> list[str]:
    """Remove what a play of these documents made: its containers (those that carry its pod label), the
    volumes of its ConfigMap and Secret files, and with volumes=True the claimed volumes a play made.
    Returns what was removed, by name."""
    from corral.kube import play as mapping

    plan = mapping.plan(docs, source, allow_host_paths=True, allow_privileged=True)
    return _remove(host, plan, claims=volumes)


def _claims(plan: dict) -> list[str]:
    """The claims of the file and those its pods name: each a named volume."""
    found = dict.fromkeys(plan["claims"])
    for pod in plan["pods"]:
        for c in pod["containers"]:
            for text in c["options"].get("volumes", []):
                name = text.split(":", 1)[0]
                if not name.startswith("/") and ":" in text and name not in {s["volume"] for s in pod["sources"]}:
                    found.setdefault(name)
    return list(found)


def _check_free(host: Host, plan: dict) -> None:
    from corral.store import containers as records

    for pod in plan["pods"]:
        if _pod(host, pod["name"]) is not None:
            raise Conflict(f"pod {pod['name']} exists already: play with --replace, or remove it")
        for c in pod["containers"]:
            if records.name_holder(host.store, c["name"]) is not None:
                raise Conflict(f"container {c['name']} exists already: play with --replace, or remove it")


def _make_volume(host: Host, name: str, labels: dict, fresh: bool = False) -> list[str]:
    """[name] when this made the volume, [] when it was there (a fresh one must not be)."""
    from corral.store import volumes as records

    try:
        records.find(host.store, name)
    except NotFound:
        host.create_volume(name, labels=labels)
        return [name]
    if fresh:
        raise Conflict(f"volume {name} exists already: remove it, or play with --replace")
    return []


def _fill(root: str, files: list[tuple[str, bytes, int]]) -> None:
    """The files of a ConfigMap or Secret in a volume just made: each written whole, with its mode."""
    from corral.store.fsutil import write_atomic

    for rel, data, mode in files:
        path = os.path.join(root, rel)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            write_atomic(path, data, mode)
            os.chmod(path, mode)  # past the umask
        except OSError as e:  # two items, one a file and one under it as a directory
            raise InvalidArgument(f"cannot write {rel} of a ConfigMap or Secret volume: {e.strerror}") from None


_POD_WIDE = ("network", "hostname", "ports")
"""Options of a Pod's containers that are the pod's (its infra container holds them for its members)."""


def _create_pod(host: Host, pod: dict) -> Pod:
    """The pod, with its network, hostname and every port its containers and Services publish."""
    first = pod["containers"][0]["options"] if pod["containers"] else {}
    ports = [p for c in pod["containers"] for p in c["options"].get("ports", [])]
    return host.create_pod(pod["name"], ports=ports, network=first.get("network"), hostname=first.get("hostname"),
                           labels={**pod["labels"], LABEL_POD: pod["name"]}, share=pod["share"])


def _create(host: Host, c: dict, pod: Pod) -> Container:
    from corral.api import mounts

    options = {k: v for k, v in c["options"].items() if k not in _POD_WIDE}
    texts = options.pop("volumes", [])
    if texts:
        options["mounts"] = [mounts.parse_volume(text)[0] for text in texts]
    return host.create_container(c["image"], c["command"], name=c["name"], pull=c["pull"], pod=pod.id, **options)


def _undo(host: Host, made: list[Pod], volumes: list[str]) -> None:
    """Remove what a failed play made, newest first; a failure here does not hide the first one."""
    for p in reversed(made):
        try:
            p.remove(force=True, timeout=0)  # nothing of it worth a graceful stop yet
        except CorralError:
            pass
    for name in reversed(volumes):
        try:
            host.remove_volume(name, force=True)
        except CorralError:
            pass


def _remove(host: Host, plan: dict, claims: bool) -> list[str]:
    removed = []
    for pod in plan["pods"]:
        found = _pod(host, pod["name"])
        if found is not None:
            if found.labels.get(LABEL_POD) != pod["name"]:
                raise Conflict(f"pod {pod['name']} was not made by kube play: left alone; remove it yourself")
            found.remove(force=True)  # its containers with it, and their anonymous volumes
            removed.append(pod["name"])
        for src in pod["sources"]:
            if _remove_volume(host, src["volume"], LABEL_VOLUME, pod["name"]):
                removed.append(src["volume"])
    if claims:
        for name in _claims(plan):
            if _remove_volume(host, name, LABEL_CLAIM, ""):
                removed.append(name)
    return removed


def _pod(host: Host, name: str) -> Pod | None:
    """The pod of exactly that name, if any."""
    from corral.api.pod import Pod
    from corral.store import pods

    rec = pods.by_name(host.store, name)
    return Pod(host, rec) if rec is not None else None


def _remove_volume(host: Host, name: str, label: str, value: str) -> bool:
    try:
        vol = host.volume(name)
    except NotFound:
        return False
    if vol.labels.get(label) != value:
        return False
    vol.remove()
    return True
