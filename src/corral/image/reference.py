"""Image references as Docker users type them: busybox, busybox:1, docker.io/library/busybox, name@sha256:…

Stored tags use the familiar form (`busybox:latest`), as `docker images` shows them.
`parse` applies docker's full grammar (distribution/reference): an optional
registry host (a first component with a dot or a port, or `localhost`), a
repository path of one or more lowercase components, an optional tag and an
optional `@sha256:` digest. Which registry serves a name without a host is not
decided here: registry/conf.py reads the configured search list.
"""
from __future__ import annotations

from corral.errors import InvalidArgument

_DOCKER_PREFIXES = ("docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/")
DOCKER_HUB = "docker.io"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])"
_TAG = r"[\w][\w.-]{0,127}"
MAX_NAME = 255


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


class Reference:
    """A parsed reference: `domain` as typed ("" when none was), `path` the repository below it,
    `tag` and `digest` ("" when absent; a name with neither means tag latest)."""

    __slots__ = ("domain", "path", "tag", "digest")

    def __init__(self, domain: str, path: str, tag: str, digest: str) -> None:
        self.domain, self.path, self.tag, self.digest = domain, path, tag, digest

    def __repr__(self) -> str:
        return f"Reference({self.domain!r}, {self.path!r}, {self.tag!r}, {self.digest!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reference) and (self.domain, self.path, self.tag, self.digest) == (
            other.domain, other.path, other.tag, other.digest)

    @property
    def repository(self) -> str:
        """The familiar repository name: `busybox`, `me/app`, `localhost:5000/app`."""
        if self.domain in ("", DOCKER_HUB, "index.docker.io"):
            return self.path[8:] if self.path.startswith("library/") and self.path.count("/") == 1 else self.path
        return f"{self.domain}/{self.path}"

    @property
    def familiar(self) -> str:
        """The name as the store keeps it: `repo:tag`, or `repo@digest` for a reference by digest only."""
        if self.digest and not self.tag:
            return f"{self.repository}@{self.digest}"
        return f"{self.repository}:{self.tag or 'latest'}"

    def remote_path(self, registry: str) -> str:
        """The repository's path on `registry`: Docker Hub's official images live under library/."""
        if registry in (DOCKER_HUB, "index.docker.io", "registry-1.docker.io") and "/" not in self.path:
            return "library/" + self.path
        return self.path

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.domain, self.path, tag, "")


def parse(ref: str) -> Reference:
    """`ref` split by docker's grammar, or InvalidArgument with docker's "invalid reference format"."""
    import re

    bad = f"invalid reference format: {ref!r}"
    name, digest = ref, ""
    if "@" in ref:
        name, _, digest = ref.partition("@")
        algo, _, hexpart = digest.partition(":")
        if algo != "sha256":
            raise InvalidArgument(f"{bad}: only sha256 digests are supported")
        if not re.fullmatch(r"[0-9a-f]{64}", hexpart):
            raise InvalidArgument(f"{bad}: a sha256 digest is 64 lowercase hex digits")
    tag = ""
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, _, tag = name.rpartition(":")
        if not re.fullmatch(_TAG, tag):
            raise InvalidArgument(f"{bad}: a tag is up to 128 letters, digits, _ . -")
    domain, path = "", name
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        domain, path = first, rest
        if not re.fullmatch(_HOST + r"(?::[0-9]+)?", domain):
            raise InvalidArgument(f"{bad}: {domain!r} is not a registry host[:port]")
    if not re.fullmatch(_COMPONENT + "(?:/" + _COMPONENT + ")*", path):
        raise InvalidArgument(f"{bad}: repository names are lowercase letters, digits and . _ - separators")
    if len(name) > MAX_NAME:
        raise InvalidArgument(f"{bad}: a repository name is at most {MAX_NAME} characters")
    if domain in ("index.docker.io",):
        domain = DOCKER_HUB
    return Reference(domain, path, tag, digest)


def validate_tag(ref: str) -> str:
    """Normalize a reference that is about to name an image, refusing what registries would refuse."""
    norm = normalize(ref)
    if "@" in norm:
        raise InvalidArgument(f"invalid reference format: {ref!r}: a digest cannot be used as a new name")
    parse(norm)
    return norm
