"""Image references as Docker users type them: busybox, busybox:1, docker.io/library/busybox, name@sha256:…

Stored tags use the familiar form (`busybox:latest`), as `docker images` shows them.
"""
from __future__ import annotations

from corral.errors import InvalidArgument

_DOCKER_PREFIXES = ("docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/")


def normalize(ref: str) -> str:
    """Familiar `repo:tag` (or `repo@digest`) for a reference; cheap, no validation."""
    for prefix in _DOCKER_PREFIXES:
        if ref.startswith(prefix):
            ref = ref[len(prefix):]
            break
    if "@" in ref:
        return ref
    if ":" not in ref.rsplit("/", 1)[-1]:
        ref += ":latest"
    return ref


def split(ref: str) -> tuple[str, str]:
    """(repository, tag) of a normalized tagged reference."""
    repo, _, tag = normalize(ref).rpartition(":")
    return repo, tag


def validate_tag(ref: str) -> str:
    """Normalize a reference that is about to name an image, refusing what registries would refuse."""
    import re

    norm = normalize(ref)
    if "@" in norm:
        raise InvalidArgument(f"invalid reference format: {ref!r}: a digest cannot be used as a new name")
    repo, tag = split(norm)
    component = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
    host = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9-]+)*(?::[0-9]+)?/)?"
    if not re.fullmatch(host + component + "(?:/" + component + ")*", repo) or len(repo) > 255:
        raise InvalidArgument(
            f"invalid reference format: {ref!r}: repository names are lowercase letters, digits and . _ - separators"
        )
    if not re.fullmatch(r"[\w][\w.-]{0,127}", tag):
        raise InvalidArgument(f"invalid reference format: {ref!r}: a tag is up to 128 letters, digits, _ . -")
    return norm
