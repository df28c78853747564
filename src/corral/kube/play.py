"""Kubernetes objects as what corral creates: the plan `corral kube play` carries out.

Pure: the documents of a file in, a plan out (containers with their create options, the volumes to
make and the files to put in them, warnings), with no store touched, so that a file is refused whole
before anything exists. Every field is either mapped, known to change nothing on one machine (a
warning names it), or refused: all refused fields are listed by their path in one line
(`Pod web: spec.containers[0].lifecycle: not supported`), never dropped silently, since a workload
run differently from its description is worse than one not run.

The mapping is `kube generate`'s backwards (kube/generate.py) and podman's: a Pod's container is
named POD-CONTAINER, a Deployment's replicas are separate pods (DEPLOYMENT-pod, DEPLOYMENT-pod-1, ...),
a NodePort Service publishes its nodePort on the host for the pods it selects (replica i on
nodePort + i, as one host port has one owner), a PersistentVolumeClaim is a named volume, a
ConfigMap or Secret is environment (valueFrom, envFrom) or files in a volume of their own.
"""
from __future__ import annotations

from corral.errors import InvalidArgument
from corral.kube import names
from corral.kube.containers import container, run_as
from corral.kube.fields import Report
from corral.kube.volumes import claim_volume, config_data, pod_volumes

KINDS = {"Pod": "v1", "Deployment": "apps/v1", "Service": "v1", "ConfigMap": "v1", "Secret": "v1",
         "PersistentVolumeClaim": "v1"}
_SERVER_FIELDS = {"creationTimestamp", "uid", "resourceVersion", "generation", "managedFields", "selfLink"}
"""metadata a cluster fills in (`kubectl get -o yaml`): dropped without a word, as kubectl apply does."""
_CLUSTER_ONLY_POD = {"nodeSelector", "affinity", "tolerations", "schedulerName", "priorityClassName", "priority",
                     "serviceAccountName", "serviceAccount", "automountServiceAccountToken", "enableServiceLinks",
                     "dnsPolicy", "preemptionPolicy", "topologySpreadConstraints", "nodeName", "imagePullSecrets"}
_CLUSTER_ONLY_DEPLOYMENT = {"strategy", "revisionHistoryLimit", "progressDeadlineSeconds", "minReadySeconds"}
_RESTART = {"Always": "always", "OnFailure": "on-failure", "Never": "no"}


def plan(docs: list[dict], source: str, *, network: str | None = None, allow_host_paths: bool = False,
         allow_privileged: bool = False) -> dict:
    """What playing these documents creates:

        {"pods": [{"name", "kind", "labels", "share", "containers": [{"name", "image", "command", "pull",
                   "options"}], "sources": [{"volume", "files": [(path, bytes, mode)]}]}],
         "claims": [volume names], "warnings": [...]}

    "options" are ContainerOptions fields, but "volumes", which are -v texts for the API to read; the
    pod-wide ones (network, hostname, and the ports its containers and Services publish) are in each
    container's options, for the API to give the pod (a corral pod holds them for its members).
    InvalidArgument names every refused field at once."""
    report = Report()
    by_kind: dict[str, list[tuple[str, dict]]] = {k: [] for k in KINDS}
    for i, doc in enumerate(docs):
        kind = doc.get("kind")
        name = (doc.get("metadata") or {}).get("name") if isinstance(doc.get("metadata"), dict) else None
        where = f"{kind} {name}" if kind and name else f"document {i + 1}"
        if not isinstance(kind, str) or kind not in KINDS:
            report.errors.append(f"{where}: kind {kind!r} is not supported (only {', '.join(KINDS)})" if kind else
                                 f"{where}: no kind")
            continue
        if doc.get("apiVersion") != KINDS[kind]:
            report.errors.append(f"{where}: apiVersion {doc.get('apiVersion')!r}: {kind} is {KINDS[kind]}")
            continue
        if not isinstance(name, str) or not names.is_dns_subdomain(name):
            report.errors.append(f"{where}: metadata.name {name!r} is not a Kubernetes name (lower-case letters, "
                                 "digits, '-' and '.')")
            continue
        report.keys(doc, "", {"apiVersion", "kind", "metadata", "spec", "data", "binaryData", "stringData", "type",
                              "immutable"}, silent={"status"})
        _metadata(doc["metadata"], f"{where}: metadata", report)
        by_kind[kind].append((where, doc))
    configs = config_data(by_kind, report)
    claims = [claim_volume(where, doc, report) for where, doc in by_kind["PersistentVolumeClaim"]]
    pods = []
    for where, doc in by_kind["Pod"]:
        pods.append(_pod(doc["metadata"]["name"], "Pod", doc["metadata"], doc.get("spec"), where, 0, configs,
                         report, network, allow_host_paths, allow_privileged))
    for where, doc in by_kind["Deployment"]:
        pods += _deployment(where, doc, configs, report, network, allow_host_paths, allow_privileged)
    seen: set[str] = set()
    for pod in pods:
        if pod["name"] in seen:
            report.errors.append(f"{pod['where']}: a second pod named {pod['name']}")
        seen.add(pod["name"])
    for where, doc in by_kind["Service"]:
        _service(where, doc, pods, report)
    if report.errors:  # one line: a key or value with a line break in it is shown escaped
        raise InvalidArgument(f"{source}: " + "; ".join(report.errors).replace("\n", "\\n").replace("\r", "\\r"))
    for pod in pods:
        del pod["where"]
        for c in pod["containers"]:
            c.pop("ports_declared", None)
    warnings = [w.replace("\n", "\\n").replace("\r", "\\r") for w in report.warnings]
    return {"pods": pods, "claims": [c for c in claims if c], "warnings": warnings}


def _metadata(meta: object, where: str, report: Report) -> None:
    meta = report.keys(meta, where, {"name", "labels", "annotations"}, {"namespace"}, _SERVER_FIELDS)
    for key in ("labels", "annotations"):
        report.texts(meta.get(key), f"{where}.{key}")


_POD_KEYS = {"containers", "volumes", "restartPolicy", "hostname", "hostNetwork", "hostPID", "hostIPC",
             "securityContext", "terminationGracePeriodSeconds", "shareProcessNamespace"}


def _deployment(where: str, doc: dict, configs: dict, report: Report, network: str | None,
                allow_host_paths: bool, allow_privileged: bool) -> list[dict]:
    spec = report.keys(doc.get("spec"), f"{where}: spec", {"replicas", "selector", "template"},
                       _CLUSTER_ONLY_DEPLOYMENT)
    replicas = report.typed(spec.get("replicas"), f"{where}: spec.replicas", int, 1)
    if replicas < 0 or replicas > 100:
        report.errors.append(f"{where}: spec.replicas {replicas}: give 0 to 100")
        replicas = 0
    template = report.keys(spec.get("template"), f"{where}: spec.template", {"metadata", "spec"})
    meta = report.keys(template.get("metadata"), f"{where}: spec.template.metadata", {"labels", "annotations"},
                       silent=_SERVER_FIELDS | {"name"})
    selector = report.keys(spec.get("selector"), f"{where}: spec.selector", {"matchLabels"})
    wanted = report.texts(selector.get("matchLabels"), f"{where}: spec.selector.matchLabels")
    labels = report.texts(meta.get("labels"), f"{where}: spec.template.metadata.labels")
    if not wanted or any(labels.get(k) != v for k, v in wanted.items()):
        report.errors.append(f"{where}: spec.selector.matchLabels must be given and match spec.template.metadata."
                             "labels")
    base = doc["metadata"]["name"]
    if replicas == 0:
        report.warnings.append(f"{where}: 0 replicas: nothing to run")
    pods = []
    for i in range(replicas):
        sub = Report() if i else report  # replicas repeat the template: its findings once
        pods.append(_pod(names.replica_pod(base, i), "Deployment", meta, template.get("spec"), where, i, configs,
                         sub, network, allow_host_paths, allow_privileged, prefix="spec.template.spec"))
    return pods


def _pod(name: str, kind: str, meta: dict, spec: object, where: str, replica: int, configs: dict,
         report: Report, network: str | None, allow_host_paths: bool, allow_privileged: bool,
         prefix: str = "spec") -> dict:
    at = f"{where}: {prefix}"
    spec = report.keys(spec, at, _POD_KEYS, _CLUSTER_ONLY_POD)
    if not spec:
        report.errors.append(f"{at}: missing")
    own = report.texts(meta.get("labels"), f"{where}: labels")
    labels = {**report.texts(meta.get("annotations"), f"{where}: annotations"), **own}
    pod = {"name": name, "kind": kind, "where": where, "labels": own, "containers": [],
           "sources": []}
    volumes = pod_volumes(name, spec.get("volumes"), at, configs, report, allow_host_paths)
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if report.typed(spec.get(key), f"{at}.{key}", bool, False) and not allow_privileged:
            report.errors.append(f"{at}.{key}: shares the host's namespace: refused without --allow-privileged")
    common: dict = {"network": network or "bridge", "labels": labels}
    if spec.get("hostNetwork"):
        common["network"] = "host"
    if spec.get("hostPID"):
        common["pid"] = "host"
    if spec.get("hostIPC"):
        common["ipc"] = "host"
    policy = spec.get("restartPolicy")
    if policy is not None:
        if not isinstance(policy, str) or policy not in _RESTART:
            report.errors.append(f"{at}.restartPolicy {policy!r}: give Always, OnFailure or Never")
        elif kind == "Deployment" and policy != "Always":
            report.errors.append(f"{at}.restartPolicy: a Deployment's pods restart Always")
        else:
            common["restart"] = _RESTART[policy]
    else:
        common["restart"] = "always"  # Kubernetes' default
    if common.get("restart") == "no":
        del common["restart"]
    hostname = report.typed(spec.get("hostname"), f"{at}.hostname", str) or name  # Kubernetes': the pod's name
    if not spec.get("hostNetwork"):
        common["hostname"] = hostname
    grace = report.typed(spec.get("terminationGracePeriodSeconds"), f"{at}.terminationGracePeriodSeconds", int)
    if grace is not None:
        common["stop_timeout"] = grace
    pod_security = _pod_security(spec.get("securityContext"), f"{at}.securityContext", report)
    containers = report.items(spec.get("containers"), f"{at}.containers")
    if spec and not containers:
        report.errors.append(f"{at}.containers: a pod needs at least one container")
    pod["share"] = ["net", "uts"] + ([] if spec.get("hostIPC") else ["ipc"])  # a corral pod's (api/pod.py)
    if report.typed(spec.get("shareProcessNamespace"), f"{at}.shareProcessNamespace", bool, False):
        if spec.get("hostPID"):
            report.errors.append(f"{at}.shareProcessNamespace: not with hostPID")
        pod["share"].append("pid")
    used_sources: set[str] = set()
    for i, c in enumerate(containers):
        made = container(c, f"{at}.containers[{i}]", name, replica, volumes, configs, report, allow_privileged,
                          used_sources)
        if made:
            opts = dict(common, **made["options"])
            opts["labels"] = {**common["labels"], names.LABEL_POD: name, names.LABEL_CONTAINER: made["short"]}
            for key, value in pod_security.items():
                if key == "user" and opts.get("user") is None:
                    opts["user"] = value
                elif key != "user":
                    opts.setdefault(key, value)
            made["options"] = opts
            del made["short"]
            pod["containers"].append(made)
    pod["sources"] = [v["source"] for key, v in volumes.items() if key in used_sources]
    return pod


def _pod_security(ctx: object, at: str, report: Report) -> dict:
    ctx = report.keys(ctx, at, {"runAsUser", "runAsGroup", "supplementalGroups", "sysctls"})
    found: dict = {}
    user = run_as(ctx, at, report)
    if user:
        found["user"] = user
    groups = report.items(ctx.get("supplementalGroups"), f"{at}.supplementalGroups")
    if groups:
        found["group_add"] = [str(report.typed(g, f"{at}.supplementalGroups", int, 0)) for g in groups]
    sysctls = {}
    for i, item in enumerate(report.items(ctx.get("sysctls"), f"{at}.sysctls")):
        item = report.keys(item, f"{at}.sysctls[{i}]", {"name", "value"})
        sysctls[str(item.get("name"))] = str(item.get("value", ""))
    if sysctls:
        found["sysctls"] = sysctls
    return found


def _service(where: str, doc: dict, pods: list[dict], report: Report) -> None:
    """A NodePort Service: each of its ports published on the host for each pod it selects (the i-th on
    nodePort + i); a ClusterIP one publishes nothing (a warning says so), other types are refused."""
    spec = report.keys(doc.get("spec"), f"{where}: spec", {"type", "selector", "ports"},
                       {"sessionAffinity", "externalTrafficPolicy", "internalTrafficPolicy", "ipFamilyPolicy",
                        "ipFamilies"}, silent={"clusterIP", "clusterIPs"})
    kind = spec.get("type") or "ClusterIP"
    if kind not in ("NodePort", "ClusterIP"):
        report.errors.append(f"{where}: spec.type {kind}: only NodePort (or ClusterIP) is supported")
        return
    selector = report.texts(spec.get("selector"), f"{where}: spec.selector")
    if not selector:
        report.errors.append(f"{where}: spec.selector: a Service without a selector selects nothing here")
        return
    chosen = [p for p in pods if all(p["labels"].get(k) == v for k, v in selector.items())]
    if not chosen:
        report.warnings.append(f"{where}: selects no pod of the file")
    for i, port in enumerate(report.items(spec.get("ports"), f"{where}: spec.ports")):
        at = f"{where}: spec.ports[{i}]"
        port = report.keys(port, at, {"name", "port", "targetPort", "nodePort", "protocol"})
        number = report.typed(port.get("port"), f"{at}.port", int)
        target = port.get("targetPort", number)
        proto = str(port.get("protocol") or "TCP")
        node_port = report.typed(port.get("nodePort"), f"{at}.nodePort", int)
        if proto not in ("TCP", "UDP"):
            report.errors.append(f"{at}.protocol {proto}: give TCP or UDP")
            continue
        if kind == "ClusterIP":
            report.warnings.append(f"{at}: a ClusterIP Service has no host port here: port {number} not published "
                                   "(type NodePort publishes one)")
            continue
        if node_port is not None and not 0 < node_port + len(chosen) - 1 < 65536:
            report.errors.append(f"{at}.nodePort: give a port from 1 to 65535")
            continue
        for n, pod in enumerate(chosen):
            if not pod["containers"]:
                continue
            container = _target(pod, target, proto)
            if container is None:
                report.errors.append(f"{at}.targetPort {target!r}: no container port of that name in {pod['name']}")
                continue
            number_in = container[1]
            text = f"{node_port + n}:{number_in}/{proto.lower()}" if node_port else f"{number_in}/{proto.lower()}"
            container[0]["options"].setdefault("ports", []).append(text)
            if n:
                report.warnings.append(f"{where}: {pod['name']} serves nodePort {node_port} on host port "
                                       f"{node_port + n}" if node_port else f"{where}: {pod['name']} on a random port")


def _target(pod: dict, target: object, proto: str) -> tuple[dict, int] | None:
    """The container (and port number) a Service's targetPort reaches in a pod: a number reaches the pod's
    first container that declares it (else its first container, as a pod's IP answers on any port);
    a name, the container port of that name."""
    containers = pod["containers"]
    if isinstance(target, int) and not isinstance(target, bool):
        for c in containers:
            if any(e.startswith(f"{target}/") or f":{target}/" in e for e in
                   c["options"].get("expose", []) + c["options"].get("ports", [])):
                return c, target
        return containers[0], target
    for c in containers:
        number = c.get("ports_declared", {}).get(str(target))
        if number:
            return c, number
    return None
