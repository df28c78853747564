"""Which registries serve short names, which may be reached over plain HTTP, and whose CA to trust.

The file is a subset of containers-registries.conf(5) (podman's and skopeo's format, TOML), so one file
can serve both:

    unqualified-search-registries = ["registry.example.com", "localhost:5000"]

    [[registry]]
    location = "registry.example.com:5000"
    insecure = true          # reached over plain HTTP

It is /etc/corral/registries.conf, or the file CORRAL_REGISTRIES_CONF names (tests give each store its own).
There is no Docker Hub here (no internet), so a name without a registry host resolves only through the
search list; with none configured the error says so and names the file. Registries on localhost and
127.0.0.0/8 are reached over plain HTTP, as docker does (unless listed `insecure = false`); any other over
TLS verified against the system's CAs plus /etc/corral/certs.d/HOST:PORT/ca.crt (docker's certs.d layout;
CORRAL_CERTS_D overrides).
"""
from __future__ import annotations

import os

from corral.errors import InvalidArgument
from corral.image.reference import DOCKER_HUB, Reference

DEFAULT_CONF = "/etc/corral/registries.conf"
DEFAULT_CERTS_D = "/etc/corral/certs.d"
HUB_ENDPOINT = "registry-1.docker.io"


def conf_path() -> str:
    return os.environ.get("CORRAL_REGISTRIES_CONF") or DEFAULT_CONF


def certs_dir() -> str:
    return os.environ.get("CORRAL_CERTS_D") or DEFAULT_CERTS_D


def load() -> dict:
    """The parsed file ({} when it does not exist); a malformed one is refused with its path."""
    import tomllib

    path = conf_path()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise InvalidArgument(f"cannot read {path}: {e}") from None
    search = data.get("unqualified-search-registries", [])
    if not isinstance(search, list) or not all(isinstance(r, str) and r for r in search):
        raise InvalidArgument(f"{path}: unqualified-search-registries must be a list of registry hosts")
    registries = data.get("registry", [])
    if not isinstance(registries, list) or not all(isinstance(r, dict) and isinstance(r.get("location"), str)
                                                   for r in registries):
        raise InvalidArgument(f"{path}: each [[registry]] needs a location")
    return data


def search_registries() -> list[str]:
    return list(load().get("unqualified-search-registries", []))


def candidates(ref: Reference) -> list[tuple[str, str]]:
    """(registry, repository path on it) to try in order for `ref`: its own host, or the search list."""
    if ref.domain:
        return [(ref.domain, ref.remote_path(ref.domain))]
    search = search_registries()
    if not search:
        raise InvalidArgument(
            f"{ref.familiar}: a name without a registry host needs a registry to search, and none is "
            f"configured: list them as unqualified-search-registries in {conf_path()} "
            "(or give the full name, e.g. localhost:5000/" + ref.path + ")")
    return [(reg, ref.remote_path(reg)) for reg in search]


def is_local(registry: str) -> bool:
    """localhost or 127.0.0.0/8 (docker's implicit insecure registries), with or without a port."""
    host = registry.rsplit("]", 1)[0].lstrip("[") if registry.startswith("[") else registry.split(":", 1)[0]
    return host == "localhost" or host.startswith("127.") or host == "::1"


def insecure(registry: str) -> bool | None:
    """`insecure` as the configuration file lists it for this registry (None: not said)."""
    return next((r["insecure"] for r in load().get("registry", [])
                 if r.get("location") == registry and isinstance(r.get("insecure"), bool)), None)


def endpoint(registry: str) -> str:
    """The base URL of a registry's API: plain HTTP for local and insecure-listed ones; a local one listed
    `insecure = false` is reached over verified TLS."""
    host = HUB_ENDPOINT if registry == DOCKER_HUB else registry
    listed = insecure(registry)
    scheme = "http" if listed or (listed is None and is_local(registry)) else "https"
    return f"{scheme}://{host}"


def ssl_context(registry: str):  # noqa: ANN201 - ssl.SSLContext, imported here only
    """The system's CAs plus certs.d/REGISTRY/*.crt; client certificates (client.cert/.key) as docker."""
    import glob
    import ssl

    ctx = ssl.create_default_context()
    folder = os.path.join(certs_dir(), registry)
    path = ""
    try:
        for path in sorted(glob.glob(os.path.join(folder, "*.crt"))):
            ctx.load_verify_locations(path)
        for path in sorted(glob.glob(os.path.join(folder, "*.cert"))):
            key = path[:-5] + ".key"
            if os.path.exists(key):
                ctx.load_cert_chain(path, key)
    except (ssl.SSLError, OSError) as e:
        reason = getattr(e, "reason", None) or getattr(e, "strerror", None) or str(e)
        raise InvalidArgument(f"{path}: cannot be used as a certificate ({reason}): fix or remove it") from None
    return ctx
