"""Containers as Kubernetes objects: what `corral kube generate` writes.

The input is, per container, docker's inspect dict, the image's config section (so that only what
the container changes is written: an unchanged entrypoint, the image's own environment and working
directory are left to the image, as podman leaves them) and the numeric user and group when the
container runs as a named user (Kubernetes knows numbers only). The output is the objects, in the
order kubectl applies them (claims first), and warnings for what does not carry over to a cluster
as it runs here: host paths, host ports, images that no registry has, policies Kubernetes lacks.

The mapping follows podman's (`podman kube generate`): one Pod per call, several containers in it,
entrypoint as `command` and cmd as `args` by Kubernetes' own rules, -p as hostPort (or, with
--service, a NodePort Service), named volumes as persistentVolumeClaims, binds as hostPath, the
health check as an exec livenessProbe.
"""
from __future__ import annotations

from corral.errors import InvalidArgument
from corral.kube import names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Container
    from typing import TypedDict

    class Source(TypedDict):
        inspect: dict  # docker's container inspect
        image: dict  # the image config's "config" section (Entrypoint, Cmd, Env, WorkingDir, ...)
        user: tuple[int, int | None] | None  # uid and gid of a named User, resolved in the image
        env: list[str]  # the KEY=VALUE the container was created with (not the image's, nor HOSTNAME/HOME)
        stop_timeout: int | None  # --stop-timeout: the Pod's terminationGracePeriodSeconds

NODE_PORTS = range(30000, 32768)
"""Kubernetes' default service-node-port-range: a nodePort outside it is refused by a default cluster."""
PVC_SIZE = "1Gi"
_RESTART = {"no": "Never", "": "Never", "always": "Always", "unless-stopped": "Always", "on-failure": "OnFailure"}


def generate(sources: list[Source], kind: str = "pod", service: bool = False, replicas: int = 1,
             pod: dict | None = None) -> tuple[list[dict], list[str]]:
    """The objects describing these containers as one Pod (or a Deployment of `replicas` of it), with
    a Service when asked, and the warnings to show. pod: the corral pod they are the members of (its
    name, hostname, labels, shared namespaces and infra container's inspect), whose network, ports and
    hostname are theirs."""
    warnings: list[str] = []
    if pod is not None:
        sources = _members(sources, pod)
    pod_name = pod["name"] if pod is not None else _pod_name(sources)
    containers, volumes, claims, service_ports = [], {}, {}, []
    for src, cname in zip(sources, _container_names(sources, pod_name)):
        c, cvols, cclaims, cports = _container(src, cname, service, warnings)
        containers.append(c)
        volumes.update(cvols)
        claims.update(cclaims)
        service_ports += cports
    spec: dict = {"containers": containers}
    policy = _restart_policy(sources, kind, warnings)
    if policy:
        spec["restartPolicy"] = policy
    grace = [s["stop_timeout"] for s in sources if s.get("stop_timeout") is not None]
    if grace:  # one for the Pod: the longest any container asked for
        spec["terminationGracePeriodSeconds"] = max(grace)
    hostname = _hostname(sources[0]["inspect"])
    if hostname and hostname != pod_name:  # a pod's hostname is its name unless said
        spec["hostname"] = hostname
    if volumes:
        spec["volumes"] = list(volumes.values())
    if pod is not None and "pid" in pod.get("share", ()):
        spec["shareProcessNamespace"] = True
    labels, annotations = _labels(sources, pod_name, warnings, (pod or {}).get("labels") or {})
    meta: dict = {"name": pod_name, "labels": labels}
    if annotations:
        meta["annotations"] = annotations
    objects: list[dict] = [_claim(name) for name in claims]
    app = {"app": labels["app"]}
    if kind == "deployment":
        objects.append({"apiVersion": "apps/v1", "kind": "Deployment",
                        "metadata": {"name": f"{pod_name}-deployment", "labels": app},
                        "spec": {"replicas": replicas, "selector": {"matchLabels": app},
                                 "template": {"metadata": meta, "spec": spec}}})
    else:
        objects.append({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})
    if service:
        objects.append(_service(pod_name, app, service_ports, warnings))
    return objects, warnings


def _members(sources: list[Source], pod: dict) -> list[Source]:
    """The members of a corral pod seen as if each held its share of what the pod holds for them: the
    infra container's published ports go to the member that exposes the port (else the first), its
    network and the pod's hostname to all; the namespaces they join are the Pod itself."""
    infra = pod["infra"]
    bound = infra["HostConfig"].get("PortBindings") or {}
    live = (infra.get("NetworkSettings") or {}).get("Ports") or {}
    found = []
    for i, src in enumerate(sources):
        info = dict(src["inspect"])
        exposed = info["Config"].get("ExposedPorts") or {}
        mine = {k: v for k, v in bound.items()
                if k in exposed or i == 0 and not any(k in (s["inspect"]["Config"].get("ExposedPorts") or {})
                                                      for s in sources)}
        info["HostConfig"] = dict(info["HostConfig"], PortBindings=mine, NetworkMode=infra["HostConfig"]["NetworkMode"],
                                  IpcMode="private", UTSMode="", PidMode=_pid_mode(info["HostConfig"]))
        info["NetworkSettings"] = dict(info.get("NetworkSettings") or {}, Ports={k: v for k, v in live.items()
                                                                                 if k in mine})
        info["Config"] = dict(info["Config"], Hostname=pod["hostname"])
        found.append(dict(src, inspect=info))
    return found


def _pid_mode(host: dict) -> str:
    mode = host.get("PidMode") or ""
    return "" if mode.startswith("container:") else mode  # the pod's shared PID namespace


def _pod_name(sources: list[Source]) -> str:
    """The Pod `kube play` made these containers for, when they all say the same; else podman's
    FIRST-pod."""
    played = {(s["inspect"]["Config"].get("Labels") or {}).get(names.LABEL_POD) for s in sources}
    if len(played) == 1 and None not in played:
        return played.pop()
    return names.dns_label(sources[0]["inspect"]["Name"].lstrip("/")) + "-pod"


def _container_names(sources: list[Source], pod_name: str) -> list[str]:
    """Each container's name in the Pod: the one it had in a played file, else its own without the pod's
    name before it (POD-NAME, as `kube play` names a pod's containers), made unique."""
    found: list[str] = []
    for s in sources:
        labels = s["inspect"]["Config"].get("Labels") or {}
        own = s["inspect"]["Name"].lstrip("/")
        base = labels.get(names.LABEL_CONTAINER) or names.dns_label(own.removeprefix(pod_name + "-") or own)
        found.append(_unique(base, found))
    return found


def _container(src: Source, name: str, service: bool,
               warnings: list[str]) -> tuple[dict, dict[str, dict], dict[str, None], list[dict]]:
    """One container of the Pod, the Pod volumes and claims it needs, and its ports for a Service."""
    info, image = src["inspect"], src["image"]
    cfg, host = info["Config"], info["HostConfig"]
    c: dict = {"name": name, "image": cfg["Image"]}
    c.update(_command(info, image))
    env = _env(src["env"])
    if env:
        c["env"] = env
    if cfg.get("WorkingDir") and cfg["WorkingDir"] != (image.get("WorkingDir") or "/"):
        c["workingDir"] = cfg["WorkingDir"]
    ports, service_ports = _ports(info, service, name, warnings)
    if ports:
        c["ports"] = ports
    resources = _resources(host)
    if resources:
        c["resources"] = resources
    mounts, volumes, claims = _mounts(info, name, warnings)
    if mounts:
        c["volumeMounts"] = mounts
    probe = _probe(cfg.get("Healthcheck"))
    if probe:
        c["livenessProbe"] = probe
    security = _security(cfg, host, src.get("user"), image, name, warnings)
    if security:
        c["securityContext"] = security
    _left_out(info, name, warnings)
    if cfg.get("Tty"):
        c["tty"] = True
    if cfg.get("OpenStdin"):
        c["stdin"] = True
    return c, volumes, claims, service_ports


_NO_KUBE_FIELD = (("Devices", "devices"), ("Ulimits", "ulimits"), ("PidsLimit", "the pids limit"),
                  ("Dns", "DNS servers"), ("DnsSearch", "DNS search domains"), ("DnsOptions", "DNS options"),
                  ("ExtraHosts", "extra hosts"), ("Sysctls", "sysctls"), ("GroupAdd", "added groups"),
                  ("Init", "--init"), ("CpusetCpus", "cpusets"), ("CpuQuota", "the CPU quota"),
                  ("BlkioWeight", "block I/O weights"), ("BlkioDeviceReadBps", "device rates"),
                  ("BlkioDeviceWriteBps", "device rates"), ("OomScoreAdj", "the OOM score"),
                  ("NetworkBandwidthIn", "the bandwidth limit"), ("NetworkBandwidthOut", "the bandwidth limit"))


def _left_out(info: dict, name: str, warnings: list[str]) -> None:
    """A warning for each setting of the container that the Pod does not describe, so that none is
    dropped without a word."""
    host = info["HostConfig"]
    said = set()
    for key, text in _NO_KUBE_FIELD:
        if host.get(key) and text not in said:
            said.add(text)
            warnings.append(f"{name}: {text} do not carry over to the Pod" if text.endswith("s") else
                            f"{name}: {text} does not carry over to the Pod")
    mode = host.get("NetworkMode") or ""
    if mode not in ("", "none", "bridge", "default"):
        warnings.append(f"{name}: network {mode} does not carry over (a Pod has its own address in the cluster)")
    for key in ("IpcMode", "PidMode", "UTSMode"):
        if host.get(key) == "host" or str(host.get(key) or "").startswith("container:"):
            warnings.append(f"{name}: {key} {host[key]} does not carry over to the Pod")
    if any(o.startswith("seccomp") for o in host.get("SecurityOpt") or []):
        warnings.append(f"{name}: the seccomp profile does not carry over (the cluster's default applies)")


def _command(info: dict, image: dict) -> dict:
    """Kubernetes' rules: `command` replaces the entrypoint and drops the image's cmd; `args` alone
    replaces the cmd. So: a changed entrypoint is `command` with the rest of the argv as `args`; an
    unchanged one, the argv past it as `args` when it differs from the image's cmd."""
    argv = ([info["Path"]] if info.get("Path") else []) + list(info.get("Args") or [])
    entry, image_entry = info["Config"].get("Entrypoint") or [], image.get("Entrypoint") or []
    if entry != image_entry:
        return {"command": argv[:len(entry)], **({"args": argv[len(entry):]} if argv[len(entry):] else {})}
    rest = argv[len(image_entry):]
    if rest != list(image.get("Cmd") or []):
        return {"args": rest}
    return {}


def _env(given: list[str]) -> list[dict]:
    """The variables the container was created with, the last value of a name winning, as in the container;
    the image's own and those every container gets (PATH, HOSTNAME, HOME) are the cluster's too."""
    found: dict[str, str] = {}
    for item in given:
        key, sep, value = item.partition("=")
        if sep and key != "HOSTNAME":  # the host's, or the pod's (its name): the cluster's there
            found[key] = value  # in the place of its first, as the container's environment has it
    return [{"name": k, "value": v} for k, v in found.items()]


def _ports(info: dict, service: bool, name: str, warnings: list[str]) -> tuple[list[dict], list[dict]]:
    """containerPort for each exposed port; hostPort (and hostIP) for each published one, or with
    --service a NodePort of the Service instead. A port published on a random host port takes the
    port it has now (none while the container is not running)."""
    bound = info["HostConfig"].get("PortBindings") or {}
    live = (info.get("NetworkSettings") or {}).get("Ports") or {}
    keys = list(dict.fromkeys(list(bound) + list((info["Config"].get("ExposedPorts") or {}))))
    ports, service_ports = [], []
    for key in keys:
        number, _, proto = key.partition("/")
        for i, binding in enumerate(bound.get(key) or [None]):
            entry: dict = {"containerPort": int(number), "protocol": (proto or "tcp").upper()}
            host_port = int(binding["HostPort"]) if binding and binding.get("HostPort") else None
            if binding and host_port is None and live.get(key):
                host_port = int(live[key][min(i, len(live[key]) - 1)]["HostPort"])
            elif binding and host_port is None:
                warnings.append(f"{name}: port {key} is published on a random host port and the container is not "
                                "running: written without a host port")
            if host_port and service:
                service_ports.append({"name": f"{number}-{entry['protocol'].lower()}", "port": int(number),
                                      "targetPort": int(number), "nodePort": host_port,
                                      "protocol": entry["protocol"]})
            elif host_port:
                entry["hostPort"] = host_port
                ip = binding.get("HostIp") if binding else ""
                if ip and ip not in ("0.0.0.0", "::"):
                    entry["hostIP"] = ip
                warnings.append(f"{name}: host port {host_port} ({key}) binds the port on whichever node the Pod "
                                "lands: at most one such Pod per node (--service for a NodePort Service instead)")
            if entry not in ports:
                ports.append(entry)
    return ports, service_ports


def quantity(n: int) -> str:
    """Bytes as a Kubernetes quantity: Gi, Mi or Ki when exact, else plain bytes."""
    for suffix, size in (("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
        if n % size == 0:
            return f"{n // size}{suffix}"
    return str(n)


def millicpus(cpus: float) -> str:
    milli = round(cpus * 1000)
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def _resources(host: dict) -> dict:
    """limits from --memory and --cpus; requests from --memory-reservation and --cpu-shares (the
    inverse of the kubelet's 1024 shares per CPU requested)."""
    limits, requests = {}, {}
    if host.get("Memory"):
        limits["memory"] = quantity(host["Memory"])
    if host.get("NanoCpus"):
        limits["cpu"] = millicpus(host["NanoCpus"] / 1e9)
    if host.get("MemoryReservation"):
        requests["memory"] = quantity(host["MemoryReservation"])
    if host.get("CpuShares"):
        requests["cpu"] = millicpus(max(host["CpuShares"], 2) / 1024)
    return {k: v for k, v in (("limits", limits), ("requests", requests)) if v}


def _mounts(info: dict, name: str, warnings: list[str]) -> tuple[list[dict], dict[str, dict], dict[str, None]]:
    """volumeMounts, the Pod's volumes by name, and the claims (PVC names) to write."""
    mounts, volumes, claims = [], {}, {}
    for m in info.get("Mounts") or []:
        kind = m["Type"]
        if kind == "volume" and m.get("Name") and not _anonymous(m["Name"]):
            claim = names.dns_label(m["Name"])
            if claim != m["Name"]:
                warnings.append(f"{name}: volume {m['Name']} is claimed as {claim} (a Kubernetes name)")
            vol_name, volume = claim, {"name": claim, "persistentVolumeClaim": {"claimName": claim}}
            claims[claim] = None
        elif kind == "volume":
            vol_name = f"{name}-anon-{len(volumes)}"
            volume = {"name": vol_name, "emptyDir": {}}
        elif kind == "bind":
            volume = {"hostPath": {"path": m["Source"]}}
            same = [v["name"] for v in volumes.values() if v.get("hostPath") == volume["hostPath"]]
            base = names.dns_label(m["Source"].strip("/").replace("/", "-") or "root")[:50].rstrip("-") + "-host"
            vol_name = same[0] if same else _unique(base, volumes)
            volume = {"name": vol_name, **volume}
            warnings.append(f"{name}: bind mount {m['Source']} is a hostPath: it reads that path on whichever node "
                            "the Pod lands (use a volume for data that must follow the Pod)")
        elif kind == "tmpfs":
            vol_name = f"{name}-tmpfs-{len(volumes)}"
            volume = {"name": vol_name, "emptyDir": {"medium": "Memory"}}
        else:
            warnings.append(f"{name}: mount {m.get('Destination')} of type {kind} has no Kubernetes volume: left out")
            continue
        volumes[vol_name] = volume
        entry = {"name": vol_name, "mountPath": m["Destination"]}
        if not m.get("RW", True):
            entry["readOnly"] = True
        mounts.append(entry)
    for target, options in (info["HostConfig"].get("Tmpfs") or {}).items():
        vol_name = f"{name}-tmpfs-{len(volumes)}"
        volumes[vol_name] = {"name": vol_name, "emptyDir": {"medium": "Memory"}}
        mounts.append({"name": vol_name, "mountPath": target})
        if options:
            warnings.append(f"{name}: the options {options} of tmpfs {target} do not carry over")
    return mounts, volumes, claims


def _unique(base: str, taken: Container[str]) -> str:
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


def _anonymous(volume: str) -> bool:
    return len(volume) == 64 and all(ch in "0123456789abcdef" for ch in volume)


def _probe(check: dict | None) -> dict | None:
    """docker's health check as an exec livenessProbe: CMD-SHELL runs through /bin/sh -c, as docker
    runs it; durations in whole seconds (at least 1), Kubernetes' unit."""
    if not check or not check.get("Test") or check["Test"][0] == "NONE":
        return None
    test = check["Test"]
    command = ["/bin/sh", "-c", test[1]] if test[0] == "CMD-SHELL" else list(test[1:])
    probe: dict = {"exec": {"command": command}}
    for key, field in (("Interval", "periodSeconds"), ("Timeout", "timeoutSeconds"),
                       ("StartPeriod", "initialDelaySeconds")):
        if check.get(key):
            probe[field] = max(1, -(-check[key] // 1_000_000_000))
    if check.get("Retries"):
        probe["failureThreshold"] = check["Retries"]
    return probe


def _security(cfg: dict, host: dict, user: tuple[int, int | None] | None, image: dict, name: str,
              warnings: list[str]) -> dict:
    found: dict = {}
    text = cfg.get("User") or ""
    if text and text != (image.get("User") or ""):
        uid, _, gid = text.partition(":")
        if uid.isdigit() and (not gid or gid.isdigit()):
            found["runAsUser"] = int(uid)
            if gid:
                found["runAsGroup"] = int(gid)
        elif user is not None:
            found["runAsUser"] = user[0]
            if gid and user[1] is not None:
                found["runAsGroup"] = user[1]
            warnings.append(f"{name}: user {text} is written as its number {user[0]} (Kubernetes takes numbers)")
        else:
            warnings.append(f"{name}: user {text} has no number in the image: left out")
    caps = {}
    if host.get("CapAdd"):
        caps["add"] = list(host["CapAdd"])
    if host.get("CapDrop"):
        caps["drop"] = list(host["CapDrop"])
    if caps:
        found["capabilities"] = caps
    if host.get("Privileged"):
        found["privileged"] = True
    if host.get("ReadonlyRootfs"):
        found["readOnlyRootFilesystem"] = True
    opts = host.get("SecurityOpt") or []
    if any(o.startswith("no-new-privileges") and o.rpartition("=")[2] != "false" for o in opts):
        found["allowPrivilegeEscalation"] = False
    return found


def _restart_policy(sources: list[Source], kind: str, warnings: list[str]) -> str:
    """One policy for the Pod (Kubernetes has no per-container one): the first container's; a
    Deployment's Pods restart Always whatever was asked."""
    policies = [s["inspect"]["HostConfig"].get("RestartPolicy") or {} for s in sources]
    first = policies[0]
    name = first.get("Name") or "no"
    if any((p.get("Name") or "no") != name for p in policies[1:]):
        warnings.append(f"the containers have different restart policies: the Pod takes the first's ({name})")
    if first.get("MaximumRetryCount"):
        warnings.append(f"the retry count {first['MaximumRetryCount']} of on-failure does not carry over "
                        "(Kubernetes retries with a back-off)")
    if kind == "deployment":
        if name not in ("always", "unless-stopped"):
            warnings.append(f"restart policy {name}: a Deployment's Pods always restart (restartPolicy Always)")
        return "Always"
    return _RESTART.get(name, "Never")


def _hostname(info: dict) -> str | None:
    """--hostname as the Pod's hostname; the default (the short ID) is left to the cluster."""
    hostname = info["Config"].get("Hostname") or ""
    return hostname if hostname and hostname != info["Id"][:12] and names.is_dns_label(hostname) else None


def _labels(sources: list[Source], pod_name: str, warnings: list[str], pod_labels: dict) -> tuple[dict, dict]:
    """The pod's and the containers' labels on the Pod: those that are valid Kubernetes labels as labels,
    the rest as annotations; `app: POD` for the selector of a Deployment or Service (podman's)."""
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    for found in [pod_labels] + [s["inspect"]["Config"].get("Labels") or {} for s in sources]:
        for key, value in found.items():
            if key in names.OWN_LABELS:
                continue
            where = labels if _label_key(key) and (not value or _label_name(value)) else annotations
            if key in where and where[key] != value:
                warnings.append(f"label {key} differs between the containers: the Pod takes {where[key]!r}")
                continue
            where[key] = value
    return ({"app": pod_name, **labels} if "app" not in labels else labels), annotations


def _label_key(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    return (not prefix or names.is_dns_subdomain(prefix)) and _label_name(name)


def _label_name(text: str) -> bool:
    """A label's name or value: at most 63 of [A-Za-z0-9_.-], starting and ending alphanumeric."""
    return 0 < len(text) <= 63 and text.isascii() and text[0].isalnum() and text[-1].isalnum() and \
        all(ch.isalnum() or ch in "-_." for ch in text)


def _claim(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": PVC_SIZE}}}}


def _service(pod_name: str, app: dict, ports: list[dict], warnings: list[str]) -> dict:
    """A NodePort Service for the published ports: nodePort is the host port, so `kube play` of the
    file publishes the same port again; a cluster takes only 30000-32767 by default."""
    for p in ports:
        if p["nodePort"] not in NODE_PORTS:
            warnings.append(f"nodePort {p['nodePort']} is outside 30000-32767, the range a default cluster accepts")
    if not ports:
        raise InvalidArgument("--service: none of the containers publishes a port (-p) for the Service to serve")
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": pod_name, "labels": app},
            "spec": {"type": "NodePort", "selector": app, "ports": ports}}
