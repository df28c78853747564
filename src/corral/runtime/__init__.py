"""Process-isolation runtime: OCI bundle, namespaces, mounts, cgroups and the supervisor."""
