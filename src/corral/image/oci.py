"""OCI image configs and manifests, and registering an image (blobs + DB rows) in one step."""
from __future__ import annotations

from corral import failpoints
from corral import fastjson as json
from corral.image.layers import Layer
from corral.store import blobs, images
from corral.store.root import Store

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def go_arch() -> str:
    import platform

    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def canonical(obj: object) -> bytes:
    """Deterministic JSON bytes, so the same image content always has the same digest."""
    return json.dumps(obj, sort_keys=True).encode()


def new_config(layers: list[Layer], container_config: dict, history: list[dict], created: str) -> dict:
    return {
        "architecture": go_arch(),
        "os": "linux",
        "created": created,
        "config": container_config,
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": history,
    }


def register_image(store: Store, config: dict | bytes, layers: list[Layer], tags: list[str]) -> str:
    """Write config and manifest blobs and record image, layers and tags in one transaction.

    Returns the image ID (the config digest, as Docker and podman use it).
    A config given as bytes (a loaded image's) is stored verbatim: any
    re-serialisation would change the image ID the image had elsewhere.
    """
    config_bytes = config if isinstance(config, bytes) else canonical(config)
    created = (json.loads(config_bytes) if isinstance(config, bytes) else config).get("created")
    image_id = blobs.put_bytes(store, config_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": image_id, "size": len(config_bytes)},
        "layers": [{"mediaType": lay.media_type, "digest": lay.blob_digest, "size": lay.blob_size} for lay in layers],
    }
    manifest_digest = blobs.put_bytes(store, canonical(manifest))
    size = sum(lay.size for lay in layers)
    failpoints.hit("image.blobs")
    images.register(
        store, images.ImageRecord(image_id, manifest_digest, str(created or ""),
                                  layers[-1].chain_id if layers else None, size),
        [images.LayerRecord(lay.chain_id, lay.diff_id, lay.parent, lay.blob_digest, lay.media_type, lay.size)
         for lay in layers], tags)
    return image_id
