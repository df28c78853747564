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

import base64
import os
import re

from corral.errors import InvalidArgument
from corral.kube import names

KINDS = {"Pod": "v1", "Deployment": "apps/v1", "Service": "v1", "ConfigMap": "v1", "Secret": "v1",
         "PersistentVolumeClaim": "v1"}
HOST_DIRS = ("/etc", "/proc", "/sys", "/dev", "/boot", "/root", "/run", "/var/run", "/var/lib", "/usr", "/bin",
             "/sbin", "/lib", "/lib64")
"""Host directories a hostPath may not name (nor anything under them), nor `/` itself, unless
--allow-host-paths: a Pod from a stranger's file must not read the host's secrets or write its system."""

_SERVER_FIELDS = {"creationTimestamp", "uid", "resourceVersion", "generation", "managedFields", "selfLink"}
"""metadata a cluster fills in (`kubectl get -o yaml`): dropped without a word, as kubectl apply does."""
_CLUSTER_ONLY_POD = {"nodeSelector", "affinity", "tolerations", "schedulerName", "priorityClassName", "priority",
                     "serviceAccountName", "serviceAccount", "automountServiceAccountToken", "enableServiceLinks",
                     "dnsPolicy", "preemptionPolicy", "topologySpreadConstraints", "nodeName", "imagePullSecrets"}
_CLUSTER_ONLY_CONTAINER = {"terminationMessagePath", "terminationMessagePolicy"}
_CLUSTER_ONLY_DEPLOYMENT = {"strategy", "revisionHistoryLimit", "progressDeadlineSeconds", "minReadySeconds"}
_PULL = {"Always": "always", "IfNotPresent": "missing", "Never": "never"}
_RESTART = {"Always": "always", "OnFailure": "on-failure", "Never": "no"}


class _Report:
    """What the walk found: refusals (by path) and warnings."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def keys(self, obj: object, where: str, supported: set[str], cluster_only: set[str] = frozenset(),
             silent: set[str] = frozenset()) -> dict:
        """obj as a mapping, each of its keys refused or warned about unless supported; {} if no mapping."""
        if obj is None:
            return {}
        if not isinstance(obj, dict):
            self.errors.append(f"{where}: must be a mapping, not {type(obj).__name__}")
            return {}
        for key in obj:
            path = f"{where}.{key}" if where else str(key)
            if key in supported or key in silent:
                continue
            if key in cluster_only:
                self.warnings.append(f"{path}: has no effect on one machine: ignored")
            else:
                self.errors.append(f"{path}: not supported")
        return obj

    def typed(self, value: object, where: str, kind: type | tuple, default: object = None) -> object:
        if value is None:
            return default
        if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
            names_ = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.errors.append(f"{where}: must be a {names_.replace('str', 'string').replace('int', 'integer')}")
            return default
        return value

    def items(self, value: object, where: str) -> list:
        if value is None:
            return []
        if not isinstance(value, list):
            self.errors.append(f"{where}: must be a list")
            return []
        return value


def plan(docs: list[dict], source: str, *, network: str | None = None, allow_host_paths: bool = False,
         allow_privileged: bool = False) -> dict:
    """What playing these documents creates:

        {"pods": [{"name", "kind", "containers": [{"name", "image", "command", "pull", "options"}],
                   "sources": [{"volume", "files": [(path, bytes, mode)]}]}],
         "claims": [volume names], "warnings": [...]}

    "options" are ContainerOptions fields, but "volumes", which are -v texts for the API to read.
    InvalidArgument names every refused field at once."""
    report = _Report()
    by_kind: dict[str, list[tuple[str, dict]]] = {k: [] for k in KINDS}
    for i, doc in enumerate(docs):
        kind = doc.get("kind")
        name = (doc.get("metadata") or {}).get("name") if isinstance(doc.get("metadata"), dict) else None
        where = f"{kind} {name}" if kind and name else f"document {i + 1}"
        if kind not in KINDS:
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
    configs = _configs(by_kind, report)
    claims = [_claim(where, doc, report) for where, doc in by_kind["PersistentVolumeClaim"]]
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
    if report.errors:
        raise InvalidArgument(f"{source}: " + "; ".join(report.errors))
    for pod in pods:
        del pod["where"], pod["labels"]
        for c in pod["containers"]:
            c.pop("ports_declared", None)
    return {"pods": pods, "claims": [c for c in claims if c], "warnings": report.warnings}


def _metadata(meta: object, where: str, report: _Report) -> None:
    meta = report.keys(meta, where, {"name", "labels", "annotations"}, {"namespace"}, _SERVER_FIELDS)
    for key in ("labels", "annotations"):
        for k, v in report.keys(meta.get(key), f"{where}.{key}", set(meta.get(key) or ())).items():
            report.typed(v, f"{where}.{key}.{k}", str)


# ConfigMaps and Secrets ---------------------------------------------------------------------------

def _configs(by_kind: dict, report: _Report) -> dict[tuple[str, str], dict[str, bytes]]:
    """("ConfigMap"|"Secret", name) → {key: bytes}."""
    found = {}
    for where, doc in by_kind["ConfigMap"]:
        data: dict[str, bytes] = {}
        for key, value in report.keys(doc.get("data"), f"{where}: data", set(doc.get("data") or ())).items():
            data[key] = str(report.typed(value, f"{where}: data.{key}", str, "")).encode()
        for key, value in report.keys(doc.get("binaryData"), f"{where}: binaryData",
                                      set(doc.get("binaryData") or ())).items():
            data[key] = _base64(value, f"{where}: binaryData.{key}", report)
        if "stringData" in doc or "type" in doc:
            report.errors.append(f"{where}: stringData and type belong to a Secret")
        found[("ConfigMap", doc["metadata"]["name"])] = _checked_keys(data, where, report)
    for where, doc in by_kind["Secret"]:
        data = {}
        for key, value in report.keys(doc.get("data"), f"{where}: data", set(doc.get("data") or ())).items():
            data[key] = _base64(value, f"{where}: data.{key}", report)
        for key, value in report.keys(doc.get("stringData"), f"{where}: stringData",
                                      set(doc.get("stringData") or ())).items():
            data[key] = str(report.typed(value, f"{where}: stringData.{key}", str, "")).encode()
        if "binaryData" in doc:
            report.errors.append(f"{where}: binaryData belongs to a ConfigMap")
        found[("Secret", doc["metadata"]["name"])] = _checked_keys(data, where, report)
    return found


def _base64(value: object, where: str, report: _Report) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except ValueError:
        report.errors.append(f"{where}: not base64")
        return b""


def _checked_keys(data: dict[str, bytes], where: str, report: _Report) -> dict[str, bytes]:
    for key in data:
        if not re.match(r"^[-._a-zA-Z0-9]+$", key) or key in (".", ".."):
            report.errors.append(f"{where}: key {key!r} is not a valid key (letters, digits, '-', '_', '.')")
    return data


def _claim(where: str, doc: dict, report: _Report) -> str | None:
    """A PersistentVolumeClaim: a named volume of its name. Its size, access modes and class describe
    what a cluster provisions; a local volume has the host's disk, so they change nothing here."""
    spec = report.keys(doc.get("spec"), f"{where}: spec", {"accessModes", "resources", "storageClassName"},
                       silent={"volumeMode"})
    if spec.get("volumeMode") not in (None, "Filesystem"):
        report.errors.append(f"{where}: spec.volumeMode {spec['volumeMode']}: only Filesystem")
    return doc["metadata"]["name"]


# Pods ------------------------------------------------------------------------------------------------

_POD_KEYS = {"containers", "volumes", "restartPolicy", "hostname", "hostNetwork", "hostPID", "hostIPC",
             "securityContext", "terminationGracePeriodSeconds"}


def _deployment(where: str, doc: dict, configs: dict, report: _Report, network: str | None,
                allow_host_paths: bool, allow_privileged: bool) -> list[dict]:
    spec = report.keys(doc.get("spec"), f"{where}: spec", {"replicas", "selector", "template"},
                       _CLUSTER_ONLY_DEPLOYMENT)
    replicas = report.typed(spec.get("replicas"), f"{where}: spec.replicas", int, 1)
    if replicas < 0 or replicas > 100:
        report.errors.append(f"{where}: spec.replicas {replicas}: give 0 to 100")
        replicas = 0
    template = report.keys(spec.get("template"), f"{where}: spec.template", {"metadata", "spec"})
    meta = template.get("metadata") or {}
    report.keys(meta, f"{where}: spec.template.metadata", {"labels", "annotations"}, silent=_SERVER_FIELDS | {"name"})
    selector = report.keys(spec.get("selector"), f"{where}: spec.selector", {"matchLabels"})
    wanted = selector.get("matchLabels") or {}
    labels = meta.get("labels") or {}
    if not wanted or any(labels.get(k) != v for k, v in wanted.items()):
        report.errors.append(f"{where}: spec.selector.matchLabels must be given and match spec.template.metadata."
                             "labels")
    base = doc["metadata"]["name"]
    if replicas == 0:
        report.warnings.append(f"{where}: 0 replicas: nothing to run")
    pods = []
    for i in range(replicas):
        sub = _Report() if i else report  # replicas repeat the template: its findings once
        pods.append(_pod(names.replica_pod(base, i), "Deployment", meta, template.get("spec"), where, i, configs,
                         sub, network, allow_host_paths, allow_privileged, prefix="spec.template.spec"))
    return pods


def _pod(name: str, kind: str, meta: dict, spec: object, where: str, replica: int, configs: dict,
         report: _Report, network: str | None, allow_host_paths: bool, allow_privileged: bool,
         prefix: str = "spec") -> dict:
    at = f"{where}: {prefix}"
    spec = report.keys(spec, at, _POD_KEYS, _CLUSTER_ONLY_POD)
    if not spec:
        report.errors.append(f"{at}: missing")
    labels = {**(meta.get("annotations") or {}), **(meta.get("labels") or {})}
    pod = {"name": name, "kind": kind, "where": where, "labels": meta.get("labels") or {}, "containers": [],
           "sources": []}
    volumes = _volumes(name, spec.get("volumes"), at, configs, report, allow_host_paths)
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
        if policy not in _RESTART:
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
    if len(containers) > 1:
        report.errors.append(f"{at}.containers: {len(containers)} containers share one network namespace in a pod, "
                             "which this corral cannot make yet (no pods): give each its own Pod")
    used_sources: set[str] = set()
    for i, c in enumerate(containers):
        made = _container(c, f"{at}.containers[{i}]", name, replica, volumes, configs, report, allow_privileged,
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


def _pod_security(ctx: object, at: str, report: _Report) -> dict:
    ctx = report.keys(ctx, at, {"runAsUser", "runAsGroup", "supplementalGroups", "sysctls"})
    found: dict = {}
    user = _user(ctx, at, report)
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


def _user(ctx: dict, at: str, report: _Report) -> str | None:
    uid = report.typed(ctx.get("runAsUser"), f"{at}.runAsUser", int)
    gid = report.typed(ctx.get("runAsGroup"), f"{at}.runAsGroup", int)
    if gid is not None and uid is None:
        report.errors.append(f"{at}.runAsGroup: not supported without runAsUser")
        return None
    if uid is None:
        return None
    return f"{uid}:{gid}" if gid is not None else str(uid)


# volumes ---------------------------------------------------------------------------------------------

def _volumes(pod: str, items: object, at: str, configs: dict, report: _Report,
             allow_host_paths: bool) -> dict[str, dict]:
    """Pod volume name → {"kind", and "claim" | "path" | "source" | "medium"}."""
    found: dict[str, dict] = {}
    for i, v in enumerate(report.items(items, f"{at}.volumes")):
        where = f"{at}.volumes[{i}]"
        v = report.keys(v, where, {"name", "persistentVolumeClaim", "hostPath", "configMap", "secret", "emptyDir"})
        name = v.get("name")
        if not isinstance(name, str) or not names.is_dns_label(name):
            report.errors.append(f"{where}.name: {name!r} is not a Kubernetes name")
            continue
        kinds = [k for k in v if k != "name"]
        if len(kinds) != 1:
            report.errors.append(f"{where}: give exactly one volume source")
            continue
        kind = kinds[0]
        body = report.keys(v[kind], f"{where}.{kind}", {
            "persistentVolumeClaim": {"claimName", "readOnly"}, "hostPath": {"path", "type"},
            "configMap": {"name", "items", "defaultMode", "optional"},
            "secret": {"secretName", "items", "defaultMode", "optional"}, "emptyDir": {"medium", "sizeLimit"}}[kind])
        if kind == "persistentVolumeClaim":
            claim = body.get("claimName")
            if not isinstance(claim, str) or not names.is_dns_subdomain(claim):
                report.errors.append(f"{where}.persistentVolumeClaim.claimName: {claim!r} is not a Kubernetes name")
            found[name] = {"kind": kind, "claim": claim, "readonly": bool(body.get("readOnly"))}
        elif kind == "hostPath":
            found[name] = {"kind": kind, **_host_path(body, f"{where}.hostPath", report, allow_host_paths)}
        elif kind == "emptyDir":
            medium = body.get("medium") or ""
            if medium not in ("", "Memory"):
                report.errors.append(f"{where}.emptyDir.medium {medium!r}: give Memory or nothing")
            size = _quantity(body["sizeLimit"], f"{where}.emptyDir.sizeLimit", report) if "sizeLimit" in body else 0
            found[name] = {"kind": kind, "medium": medium, "size": size}
        else:
            ref = body.get("name" if kind == "configMap" else "secretName")
            files = _source_files(kind, ref, body, f"{where}.{kind}", configs, report)
            found[name] = {"kind": kind, "source": {"volume": names.source_volume(pod, name), "files": files}}
    return found


def _host_path(body: dict, where: str, report: _Report, allow_host_paths: bool) -> dict:
    """A hostPath as a bind: `/`, the host's system directories, and a link into them are refused unless
    --allow-host-paths; any other path is warned about (it ties the Pod to this machine)."""
    path = body.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        report.errors.append(f"{where}.path: give an absolute path")
        return {}
    kind = body.get("type") or ""
    if kind not in ("", "DirectoryOrCreate", "Directory", "File"):
        report.errors.append(f"{where}.type {kind}: not supported (Directory, DirectoryOrCreate or File)")
    elif kind == "Directory" and not os.path.isdir(path) or kind == "File" and not os.path.isfile(path):
        report.errors.append(f"{where}.path {path}: no {kind.lower()} there on this host")
    real = os.path.realpath(path)
    system = [p for p in {os.path.normpath(path), real} if p == "/" or
              any(p == d or p.startswith(d + "/") for d in HOST_DIRS)]
    if system and not allow_host_paths:
        shown = path if real == os.path.normpath(path) else f"{path} (that is {real})"
        report.errors.append(f"{where}.path {shown}: a host system directory: refused without --allow-host-paths")
    elif not system:
        report.warnings.append(f"{where}.path {path}: the pod reads and writes this host directory")
    return {"path": path, "type": kind}


def _source_files(kind: str, ref: object, body: dict, where: str, configs: dict,
                  report: _Report) -> list[tuple[str, bytes, int]]:
    """The files of a configMap or secret volume: each key (or the items chosen) as a file."""
    label = "ConfigMap" if kind == "configMap" else "Secret"
    data = configs.get((label, ref))
    if data is None:
        if not body.get("optional"):
            report.errors.append(f"{where}: {label} {ref!r} is not in the file")
        return []
    mode = _mode(body.get("defaultMode", 0o644), f"{where}.defaultMode", report)
    items = report.items(body.get("items"), f"{where}.items")
    if not items:
        return [(key, value, mode) for key, value in data.items()]
    files = []
    for i, item in enumerate(items):
        item = report.keys(item, f"{where}.items[{i}]", {"key", "path", "mode"})
        key, path = item.get("key"), item.get("path")
        if key not in data:
            report.errors.append(f"{where}.items[{i}].key {key!r}: not in {label} {ref}")
            continue
        if not isinstance(path, str) or not path or path.startswith("/") or ".." in path.split("/"):
            report.errors.append(f"{where}.items[{i}].path {path!r}: give a relative path without '..'")
            continue
        files.append((path, data[key], _mode(item.get("mode", mode), f"{where}.items[{i}].mode", report)))
    return files


def _mode(value: object, where: str, report: _Report) -> int:
    mode = report.typed(value, where, int, 0o644)
    if not 0 <= mode <= 0o777:
        report.errors.append(f"{where}: {mode} is no file mode (0 to 0777)")
        return 0o644
    return mode


# containers -----------------------------------------------------------------------------------------

_CONTAINER_KEYS = {"name", "image", "command", "args", "env", "envFrom", "workingDir", "ports", "resources",
                   "volumeMounts", "securityContext", "livenessProbe", "stdin", "tty", "imagePullPolicy"}


def _container(c: object, at: str, pod: str, replica: int, volumes: dict, configs: dict, report: _Report,
               allow_privileged: bool, used_sources: set[str]) -> dict | None:
    c = report.keys(c, at, _CONTAINER_KEYS, _CLUSTER_ONLY_CONTAINER)
    name, image = c.get("name"), c.get("image")
    if not isinstance(name, str) or not names.is_dns_label(name):
        report.errors.append(f"{at}.name: {name!r} is not a Kubernetes name")
        return None
    if not isinstance(image, str) or not image:
        report.errors.append(f"{at}.image: missing")
        return None
    opts: dict = {}
    command = _strings(c.get("command"), f"{at}.command", report)
    args = _strings(c.get("args"), f"{at}.args", report)
    if command is not None:
        opts["entrypoint"] = command
    cmd = args if args is not None else ([] if command is not None else None)
    env = _env(c, at, pod, configs, report)
    if env:
        opts["env"] = env
    workdir = report.typed(c.get("workingDir"), f"{at}.workingDir", str)
    if workdir:
        opts["workdir"] = workdir
    ports, expose, declared = _ports(c.get("ports"), f"{at}.ports", replica, report)
    if ports:
        opts["ports"] = ports
    if expose:
        opts["expose"] = expose
    opts.update(_resources(c.get("resources"), f"{at}.resources", report))
    mounts, tmpfs = _mounts(c.get("volumeMounts"), f"{at}.volumeMounts", volumes, report, used_sources)
    if mounts:
        opts["volumes"] = mounts
    if tmpfs:
        opts["tmpfs"] = tmpfs
    opts.update(_security(c.get("securityContext"), f"{at}.securityContext", report, allow_privileged))
    check = _probe(c.get("livenessProbe"), f"{at}.livenessProbe", report)
    if check:
        opts["healthcheck"] = check
    if report.typed(c.get("tty"), f"{at}.tty", bool, False):
        opts["tty"] = True
    if report.typed(c.get("stdin"), f"{at}.stdin", bool, False):
        opts["interactive"] = True
    pull = c.get("imagePullPolicy")
    if pull is not None and pull not in _PULL:
        report.errors.append(f"{at}.imagePullPolicy {pull!r}: give Always, IfNotPresent or Never")
    return {"name": names.container_name(pod, name), "short": name, "image": image, "command": cmd,
            "pull": _PULL.get(pull, "missing"), "options": opts, "ports_declared": declared}


def _strings(value: object, where: str, report: _Report) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool)
                                              for v in value):
        report.errors.append(f"{where}: must be a list of strings")
        return None
    return [str(v) for v in value]


def _env(c: dict, at: str, pod: str, configs: dict, report: _Report) -> list[str]:
    """env (value, or valueFrom a ConfigMap or Secret key of the file, or the pod's name) and envFrom;
    later entries win, as in Kubernetes, where env wins over envFrom."""
    found: dict[str, str] = {}
    for i, ref in enumerate(report.items(c.get("envFrom"), f"{at}.envFrom")):
        where = f"{at}.envFrom[{i}]"
        ref = report.keys(ref, where, {"configMapRef", "secretRef", "prefix"})
        prefix = str(ref.get("prefix") or "")
        for key, label in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            if key in ref:
                body = report.keys(ref[key], f"{where}.{key}", {"name", "optional"})
                data = configs.get((label, body.get("name")))
                if data is None and not body.get("optional"):
                    report.errors.append(f"{where}.{key}: {label} {body.get('name')!r} is not in the file")
                for k, v in (data or {}).items():
                    found[prefix + k] = _text(v, f"{where}.{key}", report)
    for i, item in enumerate(report.items(c.get("env"), f"{at}.env")):
        where = f"{at}.env[{i}]"
        item = report.keys(item, where, {"name", "value", "valueFrom"})
        key = item.get("name")
        if not isinstance(key, str) or not key or "=" in key:
            report.errors.append(f"{where}.name: {key!r} is no variable name")
            continue
        if "valueFrom" in item:
            found[key] = _value_from(item["valueFrom"], f"{where}.valueFrom", pod, configs, report)
        else:
            value = item.get("value", "")
            found[key] = str(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else \
                report.errors.append(f"{where}.value: must be a string") or ""
    return [f"{k}={v}" for k, v in found.items()]


def _value_from(ref: object, where: str, pod: str, configs: dict, report: _Report) -> str:
    ref = report.keys(ref, where, {"configMapKeyRef", "secretKeyRef", "fieldRef"})
    if "fieldRef" in ref:
        body = report.keys(ref["fieldRef"], f"{where}.fieldRef", {"fieldPath", "apiVersion"})
        if body.get("fieldPath") != "metadata.name":
            report.errors.append(f"{where}.fieldRef.fieldPath {body.get('fieldPath')!r}: only metadata.name")
        return pod
    for key, label in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
        if key in ref:
            body = report.keys(ref[key], f"{where}.{key}", {"name", "key", "optional"})
            data = configs.get((label, body.get("name"))) or {}
            if body.get("key") in data:
                return _text(data[body["key"]], f"{where}.{key}", report)
            if not body.get("optional"):
                report.errors.append(f"{where}.{key}: key {body.get('key')!r} of {label} {body.get('name')!r} "
                                     "is not in the file")
            return ""
    report.errors.append(f"{where}: give configMapKeyRef, secretKeyRef or fieldRef")
    return ""


def _text(value: bytes, where: str, report: _Report) -> str:
    try:
        text = value.decode()
    except UnicodeDecodeError:
        report.errors.append(f"{where}: a binary value cannot be an environment variable")
        return ""
    if "\0" in text:
        report.errors.append(f"{where}: a value with a NUL byte cannot be an environment variable")
    return text


def _ports(items: object, at: str, replica: int,
           report: _Report) -> tuple[list[str], list[str], dict[str, int]]:
    """-p texts for host ports (replica i on hostPort + i), --expose texts for the rest, and the named
    ports (a Service's targetPort may name one)."""
    ports, expose, declared = [], [], {}
    for i, p in enumerate(report.items(items, at)):
        where = f"{at}[{i}]"
        p = report.keys(p, where, {"containerPort", "hostPort", "hostIP", "protocol", "name"})
        number = report.typed(p.get("containerPort"), f"{where}.containerPort", int)
        proto = str(p.get("protocol") or "TCP")
        if number is None or not 0 < number < 65536:
            report.errors.append(f"{where}.containerPort: give a port from 1 to 65535")
            continue
        if proto not in ("TCP", "UDP"):
            report.errors.append(f"{where}.protocol {proto}: give TCP or UDP")
            continue
        if p.get("name"):
            declared[str(p["name"])] = number
        host_port = report.typed(p.get("hostPort"), f"{where}.hostPort", int)
        if host_port:
            if not 0 < host_port + replica < 65536:
                report.errors.append(f"{where}.hostPort: give a port from 1 to 65535")
                continue
            ip = report.typed(p.get("hostIP"), f"{where}.hostIP", str)
            ports.append(f"{ip + ':' if ip else ''}{host_port + replica}:{number}/{proto.lower()}")
        else:
            expose.append(f"{number}/{proto.lower()}")
    return ports, expose, declared


def quantity(text: object) -> float:
    """A Kubernetes quantity ("64Mi", "500m", "1.5", "1e3", "2G") as a number; ValueError if none."""
    m = re.fullmatch(r"([+-]?[0-9.]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?", str(text).strip())
    if not m or m.group(1).count(".") > 1 or m.group(1) in (".", "+.", "-."):
        raise ValueError(text)
    number, suffix = float(m.group(1)), m.group(2) or ""
    factors = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60, "n": 1e-9,
               "u": 1e-6, "m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
    return number * (factors[suffix] if suffix in factors else 10 ** int(suffix[1:]))


def _quantity(value: object, where: str, report: _Report) -> float:
    try:
        found = quantity(value)
    except ValueError:
        report.errors.append(f"{where}: {value!r} is no quantity (e.g. 64Mi, 500m)")
        return 0
    if found < 0:
        report.errors.append(f"{where}: cannot be negative")
        return 0
    return found


def _resources(body: object, at: str, report: _Report) -> dict:
    """limits.memory → --memory, limits.cpu → --cpus, requests.memory → --memory-reservation, requests.cpu
    → --cpu-shares (1024 per CPU, as the kubelet)."""
    body = report.keys(body, at, {"limits", "requests"})
    found: dict = {}
    limits = report.keys(body.get("limits"), f"{at}.limits", {"memory", "cpu"})
    requests = report.keys(body.get("requests"), f"{at}.requests", {"memory", "cpu"})
    if "memory" in limits:
        found["memory"] = int(_quantity(limits["memory"], f"{at}.limits.memory", report))
    if "cpu" in limits:
        found["cpus"] = round(_quantity(limits["cpu"], f"{at}.limits.cpu", report), 3)
    if "memory" in requests:
        found["memory_reservation"] = int(_quantity(requests["memory"], f"{at}.requests.memory", report))
    if "cpu" in requests:
        found["cpu_shares"] = max(2, round(_quantity(requests["cpu"], f"{at}.requests.cpu", report) * 1024))
    return found


def _mounts(items: object, at: str, volumes: dict, report: _Report,
            used_sources: set[str]) -> tuple[list[str], dict[str, str]]:
    """-v texts (volume:target, /host:target, /target for an emptyDir) and tmpfs mounts (Memory emptyDirs)."""
    texts, tmpfs = [], {}
    for i, m in enumerate(report.items(items, at)):
        where = f"{at}[{i}]"
        m = report.keys(m, where, {"name", "mountPath", "readOnly"})
        vol = volumes.get(m.get("name"))
        target = m.get("mountPath")
        if vol is None:
            report.errors.append(f"{where}.name: no volume {m.get('name')!r} in the pod's volumes")
            continue
        if not isinstance(target, str) or not target.startswith("/") or ":" in target or "," in target:
            report.errors.append(f"{where}.mountPath: give an absolute path (without ':' or ',')")
            continue
        ro = bool(m.get("readOnly")) or vol.get("readonly", False)
        suffix = ":ro" if ro else ""
        if vol["kind"] == "persistentVolumeClaim":
            texts.append(f"{vol['claim']}:{target}{suffix}")
        elif vol["kind"] == "hostPath":
            if "," in vol.get("path", "") or ":" in vol.get("path", ""):
                report.errors.append(f"{where}: host path {vol['path']!r} has a ':' or ','")
                continue
            texts.append(f"{vol['path']}:{target}{suffix}")
        elif vol["kind"] == "emptyDir" and vol["medium"] == "Memory":
            tmpfs[target] = f"size={int(vol['size'])}" if vol["size"] else ""
        elif vol["kind"] == "emptyDir":
            if vol["size"]:
                report.warnings.append(f"{where}: the sizeLimit of emptyDir {m['name']} is not enforced on a volume")
            texts.append(target)
        else:  # configMap, secret: read-only, as the kubelet mounts them
            used_sources.add(m["name"])
            texts.append(f"{vol['source']['volume']}:{target}:ro")
    return texts, tmpfs


def _security(ctx: object, at: str, report: _Report, allow_privileged: bool) -> dict:
    ctx = report.keys(ctx, at, {"runAsUser", "runAsGroup", "privileged", "readOnlyRootFilesystem", "capabilities",
                                "allowPrivilegeEscalation", "seccompProfile"})
    found: dict = {}
    user = _user(ctx, at, report)
    if user:
        found["user"] = user
    if report.typed(ctx.get("privileged"), f"{at}.privileged", bool, False):
        if not allow_privileged:
            report.errors.append(f"{at}.privileged: a privileged container has every capability and device of the "
                                 "host: refused without --allow-privileged")
        found["privileged"] = True
    if report.typed(ctx.get("readOnlyRootFilesystem"), f"{at}.readOnlyRootFilesystem", bool, False):
        found["read_only"] = True
    caps = report.keys(ctx.get("capabilities"), f"{at}.capabilities", {"add", "drop"})
    for key in ("add", "drop"):
        listed = _strings(caps.get(key), f"{at}.capabilities.{key}", report)
        if listed:
            found[f"cap_{key}"] = listed
    security_opt = []
    if report.typed(ctx.get("allowPrivilegeEscalation"), f"{at}.allowPrivilegeEscalation", bool, True) is False:
        security_opt.append("no-new-privileges")
    profile = report.keys(ctx.get("seccompProfile"), f"{at}.seccompProfile", {"type"})
    if profile.get("type") == "Unconfined":
        security_opt.append("seccomp=unconfined")
    elif profile and profile.get("type") != "RuntimeDefault":
        report.errors.append(f"{at}.seccompProfile.type {profile.get('type')!r}: give RuntimeDefault or Unconfined")
    if security_opt:
        found["security_opt"] = security_opt
    return found


def _probe(body: object, at: str, report: _Report) -> dict | None:
    """An exec livenessProbe as docker's health check (CMD-SHELL for /bin/sh -c, as generate writes it)."""
    body = report.keys(body, at, {"exec", "periodSeconds", "timeoutSeconds", "failureThreshold",
                                  "initialDelaySeconds", "successThreshold"})
    if not body:
        return None
    exec_ = report.keys(body.get("exec"), f"{at}.exec", {"command"})
    command = _strings(exec_.get("command"), f"{at}.exec.command", report)
    if not command:
        report.errors.append(f"{at}: only an exec probe with a command is supported")
        return None
    if body.get("successThreshold", 1) != 1:
        report.errors.append(f"{at}.successThreshold: must be 1 for a liveness probe")
    test = ["CMD-SHELL", command[2]] if len(command) == 3 and command[:2] == ["/bin/sh", "-c"] else ["CMD", *command]
    check: dict = {"Test": test}
    for field, key in (("periodSeconds", "Interval"), ("timeoutSeconds", "Timeout"),
                       ("initialDelaySeconds", "StartPeriod")):
        seconds = report.typed(body.get(field), f"{at}.{field}", int)
        if seconds is not None:
            if seconds < (0 if field == "initialDelaySeconds" else 1):
                report.errors.append(f"{at}.{field}: {seconds} is too small")
            elif seconds:
                check[key] = seconds * 1_000_000_000
    retries = report.typed(body.get("failureThreshold"), f"{at}.failureThreshold", int)
    if retries is not None:
        check["Retries"] = retries
    return check


# Services --------------------------------------------------------------------------------------------

def _service(where: str, doc: dict, pods: list[dict], report: _Report) -> None:
    """A NodePort Service: each of its ports published on the host for each pod it selects (the i-th on
    nodePort + i); a ClusterIP one publishes nothing (a warning says so), other types are refused."""
    spec = report.keys(doc.get("spec"), f"{where}: spec", {"type", "selector", "ports"},
                       {"sessionAffinity", "externalTrafficPolicy", "internalTrafficPolicy", "ipFamilyPolicy",
                        "ipFamilies"}, silent={"clusterIP", "clusterIPs"})
    kind = spec.get("type") or "ClusterIP"
    if kind not in ("NodePort", "ClusterIP"):
        report.errors.append(f"{where}: spec.type {kind}: only NodePort (or ClusterIP) is supported")
        return
    selector = spec.get("selector") or {}
    if not isinstance(selector, dict) or not selector:
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
