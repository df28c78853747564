"""The storage of a Pod as corral has it: PersistentVolumeClaims as named volumes, ConfigMaps and Secrets
as the files of a volume made for the pod (and as the data environment variables come from), emptyDir
as an anonymous volume or a tmpfs, hostPath as a bind, guarded: `/`, the host's system directories
and links into them need --allow-host-paths."""
from __future__ import annotations

import base64
import os
import re

from corral.kube import names
from corral.kube.fields import Report, quantity_in

HOST_DIRS = ("/etc", "/proc", "/sys", "/dev", "/boot", "/root", "/run", "/var/run", "/var/lib", "/usr", "/bin",
             "/sbin", "/lib", "/lib64")
"""Host directories a hostPath may not name (nor anything under them), nor `/` itself, unless
--allow-host-paths: a Pod from a stranger's file must not read the host's secrets or write its system."""


def config_data(by_kind: dict, report: Report) -> dict[tuple[str, str], dict[str, bytes]]:
    """("ConfigMap"|"Secret", name) → {key: bytes}."""
    found = {}
    for where, doc in by_kind["ConfigMap"]:
        data: dict[str, bytes] = {}
        for key, value in report.texts(doc.get("data"), f"{where}: data").items():
            data[key] = value.encode()
        for key, value in report.texts(doc.get("binaryData"), f"{where}: binaryData").items():
            data[key] = _base64(value, f"{where}: binaryData.{key}", report)
        if "stringData" in doc or "type" in doc:
            report.errors.append(f"{where}: stringData and type belong to a Secret")
        found[("ConfigMap", doc["metadata"]["name"])] = _checked_keys(data, where, report)
    for where, doc in by_kind["Secret"]:
        data = {}
        for key, value in report.texts(doc.get("data"), f"{where}: data").items():
            data[key] = _base64(value, f"{where}: data.{key}", report)
        for key, value in report.texts(doc.get("stringData"), f"{where}: stringData").items():
            data[key] = value.encode()
        if "binaryData" in doc:
            report.errors.append(f"{where}: binaryData belongs to a ConfigMap")
        found[("Secret", doc["metadata"]["name"])] = _checked_keys(data, where, report)
    return found


def _base64(value: object, where: str, report: Report) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except ValueError:
        report.errors.append(f"{where}: not base64")
        return b""


def _checked_keys(data: dict[str, bytes], where: str, report: Report) -> dict[str, bytes]:
    for key in data:
        if not re.match(r"^[-._a-zA-Z0-9]+$", key) or key in (".", ".."):
            report.errors.append(f"{where}: key {key!r} is not a valid key (letters, digits, '-', '_', '.')")
    return data


def claim_volume(where: str, doc: dict, report: Report) -> str | None:
    """A PersistentVolumeClaim: a named volume of its name. Its size, access modes and class describe
    what a cluster provisions; a local volume has the host's disk, so they change nothing here."""
    spec = report.keys(doc.get("spec"), f"{where}: spec", {"accessModes", "resources", "storageClassName"},
                       silent={"volumeMode"})
    if spec.get("volumeMode") not in (None, "Filesystem"):
        report.errors.append(f"{where}: spec.volumeMode {spec['volumeMode']}: only Filesystem")
    return doc["metadata"]["name"]


def pod_volumes(pod: str, items: object, at: str, configs: dict, report: Report,
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
            size = quantity_in(body["sizeLimit"], f"{where}.emptyDir.sizeLimit", report) if "sizeLimit" in body else 0
            found[name] = {"kind": kind, "medium": medium, "size": size}
        else:
            ref = body.get("name" if kind == "configMap" else "secretName")
            files = _source_files(kind, ref, body, f"{where}.{kind}", configs, report)
            found[name] = {"kind": kind, "source": {"volume": names.source_volume(pod, name), "files": files}}
    return found


def _host_path(body: dict, where: str, report: Report, allow_host_paths: bool) -> dict:
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
                  report: Report) -> list[tuple[str, bytes, int]]:
    """The files of a configMap or secret volume: each key (or the items chosen) as a file."""
    label = "ConfigMap" if kind == "configMap" else "Secret"
    data = configs.get((label, ref)) if isinstance(ref, str) else None
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
        if not isinstance(key, str) or key not in data:
            report.errors.append(f"{where}.items[{i}].key {key!r}: not in {label} {ref}")
            continue
        if not isinstance(path, str) or any(part in ("", ".", "..") for part in path.split("/")) or "\0" in path:
            report.errors.append(f"{where}.items[{i}].path {path!r}: give a relative path without '..'")
            continue
        files.append((path, data[key], _mode(item.get("mode", mode), f"{where}.items[{i}].mode", report)))
    return files


def _mode(value: object, where: str, report: Report) -> int:
    mode = report.typed(value, where, int, 0o644)
    if not 0 <= mode <= 0o777:
        report.errors.append(f"{where}: {mode} is no file mode (0 to 0777)")
        return 0o644
    return mode


# containers -----------------------------------------------------------------------------------------


def volume_mounts(items: object, at: str, volumes: dict, report: Report,
                  used_sources: set[str]) -> tuple[list[str], dict[str, str]]:
    """-v texts (volume:target, /host:target, /target for an emptyDir) and tmpfs mounts (Memory emptyDirs)."""
    texts, tmpfs = [], {}
    for i, m in enumerate(report.items(items, at)):
        where = f"{at}[{i}]"
        m = report.keys(m, where, {"name", "mountPath", "readOnly"})
        vol = volumes.get(m.get("name")) if isinstance(m.get("name"), str) else None
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
