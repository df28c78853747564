"""Names both ways: corral's names ([a-zA-Z0-9][a-zA-Z0-9_.-]*) and Kubernetes' DNS labels
(lower-case letters, digits and '-', at most 63), and the names `kube play` gives what it makes,
as podman names them (a Pod's container is POD-CONTAINER; a Deployment's pods DEPLOYMENT-pod, then
DEPLOYMENT-pod-1, ...), so that a file played by either engine leaves containers of the same names.
"""
from __future__ import annotations

import re

LABEL_POD = "io.corral.kube.pod"
"""The label `kube play` puts on each pod and container it makes: the Pod it stands for (--down checks
it before removing a pod of that name, and `kube generate` names the Pod after it again)."""
LABEL_CONTAINER = "io.corral.kube.container"
"""The container's own name inside its Pod."""
LABEL_VOLUME = "io.corral.kube.volume"
"""On a volume `kube play` made from a ConfigMap or Secret: the Pod it was made for (removed with it)."""
OWN_LABELS = (LABEL_POD, LABEL_CONTAINER)

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def is_dns_label(name: str) -> bool:
    return len(name) <= 63 and bool(_DNS_LABEL.match(name))


def is_dns_subdomain(name: str) -> bool:
    return len(name) <= 253 and bool(_DNS_SUBDOMAIN.match(name))


def dns_label(name: str) -> str:
    """corral's name as a DNS label: lower case, '_' and '.' as '-', trimmed to 63."""
    text = re.sub(r"[^a-z0-9-]", "-", name.lower()).strip("-")[:63].rstrip("-")
    return text or "x"


def container_name(pod: str, container: str) -> str:
    return f"{pod}-{container}"


def replica_pod(deployment: str, index: int) -> str:
    return f"{deployment}-pod" if index == 0 else f"{deployment}-pod-{index}"


def source_volume(pod: str, volume: str) -> str:
    """The corral volume holding the files of a Pod's configMap or secret volume."""
    return f"{pod}-{volume}"
