"""What a registry holds under a name, without pulling it: docker's DistributionInspect (GET
/distribution/{name}/json, docker-py's `images.get_registry_data`): the manifest's descriptor and the
platforms it is for (an index's entries, or a single manifest's config)."""
from __future__ import annotations

from corral.errors import NotFound
from corral.image.reference import parse
from corral.registry import client, conf

_PLATFORM_KEYS = ("architecture", "os", "os.version", "os.features", "variant")


def distribution(name: str, credentials: tuple[str, str] | None = None) -> dict:
    """{"Descriptor": {mediaType, digest, size}, "Platforms": [{architecture, os, ...}]} of `name`; a name
    without a registry host is looked up on each search registry until one has it."""
    from corral.registry.pull import fetch_manifest, json_object

    ref = parse(name)
    asked = ref.digest or ref.tag or "latest"
    missing: NotFound | None = None
    for registry, path in conf.candidates(ref):
        try:
            with client.Session(registry, path, credentials=credentials) as session:
                data, media_type, digest = fetch_manifest(session, ref, asked)
                manifest = json_object(data, f"manifest {digest}")
                media_type = media_type or manifest.get("mediaType") or client.OCI_MANIFEST
                desc = {"mediaType": media_type, "digest": digest, "size": len(data)}
                if media_type in client.INDEXES or "manifests" in manifest:
                    platforms = [_platform(m.get("platform")) for m in manifest.get("manifests") or []
                                 if isinstance(m, dict) and isinstance(m.get("platform"), dict)]
                else:
                    config = manifest.get("config") if isinstance(manifest.get("config"), dict) else {}
                    found = json_object(session.blob_bytes(config["digest"], config["size"], "config"),
                                        f"config {config['digest']}") \
                        if isinstance(config.get("digest"), str) and isinstance(config.get("size"), int) else {}
                    platforms = [_platform(found)] if found.get("os") or found.get("architecture") else []
                return {"Descriptor": desc, "Platforms": platforms}
        except NotFound as e:
            missing = e
    raise missing or NotFound(f"{ref.familiar}: no registry to look it up in")


def _platform(found: dict) -> dict:
    return {k: found[k] for k in _PLATFORM_KEYS if found.get(k) not in (None, "", [])}
