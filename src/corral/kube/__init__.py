"""Kubernetes YAML both ways: corral's containers described as Pods, Deployments, Services and
PersistentVolumeClaims (`corral kube generate`), and such files read back into what corral creates
(`corral kube play`).

The modules here are pure mappings between dicts: docker's inspect shape on one side, Kubernetes
objects on the other. They touch no store and start nothing; corral.api.kube drives them, as
podman's `kube generate`/`kube play` are its model. PyYAML is imported only here, and only by the
kube verbs.
"""
