"""A Pod's container as corral's create options: command and args by Kubernetes' rules, env (values,
ConfigMap and Secret keys, the pod's name), ports, resources, volume mounts, securityContext and an
exec livenessProbe as docker's health check."""
from __future__ import annotations

from corral.kube import names
from corral.kube.fields import Report, quantity_in, strings
from corral.kube.volumes import volume_mounts

_PULL = {"Always": "always", "IfNotPresent": "missing", "Never": "never"}
_CLUSTER_ONLY_CONTAINER = {"terminationMessagePath", "terminationMessagePolicy"}
_CONTAINER_KEYS = {"name", "image", "command", "args", "env", "envFrom", "workingDir", "ports", "resources",
                   "volumeMounts", "securityContext", "livenessProbe", "stdin", "tty", "imagePullPolicy"}


def container(c: object, at: str, pod: str, replica: int, volumes: dict, configs: dict, report: Report,
              allow_privileged: bool, used_sources: set[str]) -> dict | None:
    """The container's name in corral (POD-NAME), image, command (None: the image's cmd), pull policy and
    create options; None when it cannot be read (the report says why). used_sources gets the pod
    volumes of ConfigMap or Secret files it mounts, which are made only then."""
    c = report.keys(c, at, _CONTAINER_KEYS, _CLUSTER_ONLY_CONTAINER)
    name, image = c.get("name"), c.get("image")
    if not isinstance(name, str) or not names.is_dns_label(name):
        report.errors.append(f"{at}.name: {name!r} is not a Kubernetes name")
        return None
    if not isinstance(image, str) or not image:
        report.errors.append(f"{at}.image: missing")
        return None
    opts: dict = {}
    command = strings(c.get("command"), f"{at}.command", report)
    args = strings(c.get("args"), f"{at}.args", report)
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
    mounts, tmpfs = volume_mounts(c.get("volumeMounts"), f"{at}.volumeMounts", volumes, report, used_sources)
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


def run_as(ctx: dict, at: str, report: Report) -> str | None:
    """runAsUser[:runAsGroup] of a securityContext as docker's --user."""
    uid = report.typed(ctx.get("runAsUser"), f"{at}.runAsUser", int)
    gid = report.typed(ctx.get("runAsGroup"), f"{at}.runAsGroup", int)
    if gid is not None and uid is None:
        report.errors.append(f"{at}.runAsGroup: not supported without runAsUser")
        return None
    if uid is None:
        return None
    return f"{uid}:{gid}" if gid is not None else str(uid)


# volumes ---------------------------------------------------------------------------------------------


def _env(c: dict, at: str, pod: str, configs: dict, report: Report) -> list[str]:
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
                data = configs.get((label, body.get("name"))) if isinstance(body.get("name"), str) else None
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


def _value_from(ref: object, where: str, pod: str, configs: dict, report: Report) -> str:
    ref = report.keys(ref, where, {"configMapKeyRef", "secretKeyRef", "fieldRef"})
    if "fieldRef" in ref:
        body = report.keys(ref["fieldRef"], f"{where}.fieldRef", {"fieldPath", "apiVersion"})
        if body.get("fieldPath") != "metadata.name":
            report.errors.append(f"{where}.fieldRef.fieldPath {body.get('fieldPath')!r}: only metadata.name")
        return pod
    for key, label in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
        if key in ref:
            body = report.keys(ref[key], f"{where}.{key}", {"name", "key", "optional"})
            data = configs.get((label, body.get("name"))) or {} if isinstance(body.get("name"), str) else {}
            if isinstance(body.get("key"), str) and body["key"] in data:
                return _text(data[body["key"]], f"{where}.{key}", report)
            if not body.get("optional"):
                report.errors.append(f"{where}.{key}: key {body.get('key')!r} of {label} {body.get('name')!r} "
                                     "is not in the file")
            return ""
    report.errors.append(f"{where}: give configMapKeyRef, secretKeyRef or fieldRef")
    return ""


def _text(value: bytes, where: str, report: Report) -> str:
    try:
        text = value.decode()
    except UnicodeDecodeError:
        report.errors.append(f"{where}: a binary value cannot be an environment variable")
        return ""
    if "\0" in text:
        report.errors.append(f"{where}: a value with a NUL byte cannot be an environment variable")
    return text


def _ports(items: object, at: str, replica: int,
           report: Report) -> tuple[list[str], list[str], dict[str, int]]:
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


def _resources(body: object, at: str, report: Report) -> dict:
    """limits.memory → --memory, limits.cpu → --cpus, requests.memory → --memory-reservation, requests.cpu
    → --cpu-shares (1024 per CPU, as the kubelet)."""
    body = report.keys(body, at, {"limits", "requests"})
    found: dict = {}
    limits = report.keys(body.get("limits"), f"{at}.limits", {"memory", "cpu"})
    requests = report.keys(body.get("requests"), f"{at}.requests", {"memory", "cpu"})
    if "memory" in limits:
        found["memory"] = int(quantity_in(limits["memory"], f"{at}.limits.memory", report))
    if "cpu" in limits:
        found["cpus"] = round(quantity_in(limits["cpu"], f"{at}.limits.cpu", report), 3)
    if "memory" in requests:
        found["memory_reservation"] = int(quantity_in(requests["memory"], f"{at}.requests.memory", report))
    if "cpu" in requests:
        found["cpu_shares"] = max(2, round(quantity_in(requests["cpu"], f"{at}.requests.cpu", report) * 1024))
    return found


def _security(ctx: object, at: str, report: Report, allow_privileged: bool) -> dict:
    ctx = report.keys(ctx, at, {"runAsUser", "runAsGroup", "privileged", "readOnlyRootFilesystem", "capabilities",
                                "allowPrivilegeEscalation", "seccompProfile"})
    found: dict = {}
    user = run_as(ctx, at, report)
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
        listed = strings(caps.get(key), f"{at}.capabilities.{key}", report)
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


def _probe(body: object, at: str, report: Report) -> dict | None:
    """An exec livenessProbe as docker's health check (CMD-SHELL for /bin/sh -c, as generate writes it)."""
    body = report.keys(body, at, {"exec", "periodSeconds", "timeoutSeconds", "failureThreshold",
                                  "initialDelaySeconds", "successThreshold"})
    if not body:
        return None
    exec_ = report.keys(body.get("exec"), f"{at}.exec", {"command"})
    command = strings(exec_.get("command"), f"{at}.exec.command", report)
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
