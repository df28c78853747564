"""`corral push`: an image from the store to a registry, layers compressed on the way with a fast gzip.

A layer is kept here as its unpacked files plus a tar-split; the registry wants a compressed blob named
by its digest. Rebuilding the tar and compressing it costs time, so first the layer is looked up in what
earlier pulls and pushes recorded (store/distribution.py): a blob of this content that the target
repository has (HEAD) is not sent again, and one another repository of the same registry has is mounted
from there. Only then is the tar rebuilt (image/layers.open_layer, byte for byte the diff_id's tar) and
compressed with a fast gzip (ISA-L's igzip when the optional `isal` is installed, else zlib at level 1):
in memory and sent in one PUT for a small layer, or streamed in chunks (PATCH) for a large one, hashed as
it goes, so nothing is written to disk. Layers go up a few at a time in parallel (zlib compresses outside
the GIL), then the config, then the manifest: an OCI image manifest (Docker's v2 schema 2 with
--format v2s2, as docker pushes), whose digest is printed and kept as the image's repo digest.
"""
from __future__ import annotations

import hashlib

from corral.errors import InvalidArgument
from corral.image.layers import Layer
from corral.image.reference import Reference, parse
from corral.registry import client, conf
from corral.registry.progress import Meter, locked, status
from corral.store.root import Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterator

    from corral.registry.credentials import Credentials
    from corral.registry.progress import Emit

GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ZSTD_LAYER = "application/vnd.oci.image.layer.v1.tar+zstd"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
DOCKER_GZIP_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
FORMATS = {  # --format: (manifest, config, gzip layer) media types; docker pushes v2s2, podman and skopeo oci
    "oci": ("application/vnd.oci.image.manifest.v1+json", CONFIG_TYPE, GZIP_LAYER),
    "v2s2": (client.DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_GZIP_LAYER),
}
MONOLITHIC = 16 << 20  # a layer tar up to this size is compressed in memory and sent in one request
CHUNK = 16 << 20
MAX_CONCURRENT = 3
LEVEL = 1  # gzip's fastest: a push is bound by compression, and level 1 is within a few % of 6 on layers
ISAL_LEVEL = 1  # igzip's: 4-9x zlib's level 1 on layer tars, the same ratio within 3% (bench/registry.py)


def push(store: Store, name: str, *, all_tags: bool = False, emit: Emit | None = None,
         credentials: Credentials | None = None, format: str = "oci") -> list[tuple[str, str]]:  # noqa: A002
    """Push the image `name` names (every local tag of its repository with all_tags) with manifests of
    `format` (oci or v2s2, Docker's v2 schema 2); returns (tag, manifest digest) per tag pushed.
    `credentials` are used instead of the stored ones."""
    from corral.store import images

    check_format(format)
    ref = parse(name)
    if all_tags and (ref.tag or ref.digest):
        raise InvalidArgument("tag can't be used with --all-tags/-a")
    if ref.digest:
        raise InvalidArgument(f"cannot push a digest reference: {name}; tag the image and push the tag")
    registry, path = conf.candidates(ref)[0]
    say = locked(emit)
    if all_tags:
        prefix = ref.repository + ":"
        tags = sorted(t[len(prefix):] for t in images.all_tags(store) if t.startswith(prefix))
        if not tags:
            raise InvalidArgument(f"An image does not exist locally with the tag: {ref.repository}")
    else:
        tags = [ref.tag or "latest"]
    say(status(f"The push refers to repository [{registry}/{path}]"))
    done = []
    with client.Session(registry, path, actions="pull,push", credentials=credentials) as session:
        for tag in tags:
            done.append((tag, _push_one(store, session, ref.with_tag(tag), say, format)))
    return done


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise InvalidArgument(f"unknown manifest format {fmt!r}: use {' or '.join(FORMATS)}")


def _push_one(store: Store, session: client.Session, ref: Reference, say: Emit, fmt: str) -> str:
    from corral.errors import ImageNotFound
    from corral.image import repo
    from corral.store import distribution

    try:
        image_id = repo.resolve(store, ref.familiar)
    except ImageNotFound:
        raise ImageNotFound(f"An image does not exist locally with the tag: {ref.familiar}") from None
    digest, size = upload(store, session, image_id, ref.tag, say, fmt)
    distribution.add_repo_digest(store, ref.repository, digest, image_id)
    from corral.api import events

    events.record(store, "image", "push", ref.familiar, {"name": ref.familiar})  # as docker's, by reference
    say(status(f"{ref.tag}: digest: {digest} size: {size}"))
    say({"progressDetail": {}, "aux": {"Tag": ref.tag, "Digest": digest, "Size": size}})  # dockerd's
    return digest


def upload(store: Store, target: client.Session, image_id: str, put_as: str, say: Emit,
           fmt: str = "oci") -> tuple[str, int]:
    """The image's layers, config and a manifest of format `fmt` sent to `target` (a registry Session, or
    a layout.Layout: the same writing methods), the manifest put under the name `put_as`; returns the
    manifest's (digest, size)."""
    from concurrent.futures import ThreadPoolExecutor

    from corral.image import oci
    from corral.image.layers import image_layers
    from corral.store import blobs, distribution

    with store.content_lock():  # the layers stay while they are read
        layers = image_layers(store, image_id)
        config = blobs.read(store, image_id)
        for layer in layers:
            say(status("Preparing", layer.diff_id[7:19]))
        with ThreadPoolExecutor(max_workers=MAX_CONCURRENT) as pool:
            known = [[src for src in distribution.all_sources(store, layer.diff_id)
                      if fmt == "oci" or src.media_type.endswith("gzip")]  # v2s2 has no zstd layers
                     for layer in layers]
            descs = list(pool.map(lambda layer, sources: _push_layer(store, target, layer, say, sources),
                                  layers, known))
    distribution.add_sources(store, [distribution.BlobSource(layer.diff_id, d["digest"], d["mediaType"], d["size"],
                                                             target.registry, target.path)
                                     for layer, d in zip(layers, descs)])  # here: the threads share no DB
    if not target.has_blob(image_id):
        target.upload(image_id, config)
    manifest_type, config_type, gzip_type = FORMATS[fmt]
    manifest = oci.canonical({
        "schemaVersion": 2, "mediaType": manifest_type,
        "config": {"mediaType": config_type, "digest": image_id, "size": len(config)},
        "layers": [dict(d, mediaType=gzip_type) if d["mediaType"] == GZIP_LAYER else d for d in descs]})
    digest = target.put_manifest(put_as, manifest, manifest_type)
    actual = "sha256:" + hashlib.sha256(manifest).hexdigest()
    if digest and digest != actual:
        raise InvalidArgument(f"{target.registry} stored manifest {put_as} as {digest}, not {actual}")
    return actual, len(manifest)


def _push_layer(store: Store, session: client.Session, layer: Layer, say: Emit, known: list) -> dict:
    """The layer's descriptor in the registry, after sending it if the registry needs it (in a thread:
    `known` are its recorded blob sources, read before)."""
    short = layer.diff_id[7:19]
    headed = set()
    for src in known:  # a blob of this content the repository may have (ours, or one pulled elsewhere)
        if (src.registry != session.registry or src.repository == session.path) and src.digest not in headed:
            headed.add(src.digest)
            if session.has_blob(src.digest):
                return _done(store, session, layer, src.digest, src.media_type, src.size, say, "Layer already exists")
    for src in known:  # one another repository of this registry has: mounted, not sent
        if src.registry == session.registry and src.repository != session.path:
            session.auth.extra_scopes.append(f"repository:{src.repository}:pull")
            if session.mount(src.digest, src.repository):
                return _done(store, session, layer, src.digest, src.media_type, src.size, say,
                             f"Mounted from {src.repository}")
    if layer.size <= MONOLITHIC:
        data = _compress_all(store, layer)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if not session.has_blob(digest):
            say(status("Pushing", short))
            session.upload(digest, data)
            return _done(store, session, layer, digest, GZIP_LAYER, len(data), say, "Pushed")
        return _done(store, session, layer, digest, GZIP_LAYER, len(data), say, "Layer already exists")
    result: dict = {}
    digest = session.upload_chunks(_compressed_chunks(store, layer, result, Meter(say, "Pushing", short,
                                                                                   layer.size)), result)
    return _done(store, session, layer, digest, GZIP_LAYER, result["size"], say, "Pushed")


def _done(store: Store, session: client.Session, layer: Layer, digest: str, media_type: str, size: int,
          say: Emit, what: str) -> dict:
    media_type = {DOCKER_GZIP_LAYER: GZIP_LAYER}.get(media_type, media_type)
    say(status(what, layer.diff_id[7:19]))
    return {"mediaType": media_type, "digest": digest, "size": size}


def _compress_all(store: Store, layer: Layer) -> bytes:
    return b"".join(_gzip(store, layer, {}, None))


def _compressed_chunks(store: Store, layer: Layer, result: dict, meter: Meter) -> Iterator[bytes]:
    """The gzip of the layer's tar in chunks of about CHUNK bytes; result gets digest and size at the end."""
    pending: list[bytes] = []
    size = 0
    for piece in _gzip(store, layer, result, meter):
        pending.append(piece)
        size += len(piece)
        if size >= CHUNK:
            yield b"".join(pending)
            pending, size = [], 0
    if pending:
        yield b"".join(pending)


def _compressor():  # noqa: ANN202 - a zlib-like compress object
    """A gzip stream compressor: ISA-L's igzip when `isal` is installed (an optional dependency: several
    times faster than zlib), else zlib's."""
    try:
        from isal import isal_zlib
    except ImportError:
        import zlib

        return zlib.compressobj(LEVEL, zlib.DEFLATED, 31)
    return isal_zlib.compressobj(ISAL_LEVEL, isal_zlib.DEFLATED, 31)


def _gzip(store: Store, layer: Layer, result: dict, meter: Meter | None) -> Iterator[bytes]:
    """gzip (no name, mtime 0: the same tar and compressor always give the same blob) of the layer's tar,
    checked against its diff_id as it is read: a store that no longer rebuilds it pushes nothing."""
    from corral.errors import StoreError
    from corral.image.layers import open_layer

    z = _compressor()
    tar_hash, blob_hash = hashlib.sha256(), hashlib.sha256()
    read = size = 0
    tar = open_layer(store, layer)
    try:
        while chunk := tar.read(1 << 20):
            tar_hash.update(chunk)
            read += len(chunk)
            if meter is not None:
                meter.update(read)
            out = z.compress(chunk)
            if out:
                blob_hash.update(out)
                size += len(out)
                yield out
    finally:
        tar.close()
    if "sha256:" + tar_hash.hexdigest() != layer.diff_id:
        raise StoreError(f"layer {layer.chain_id} does not rebuild to diff_id {layer.diff_id}: the store is damaged, "
                         "run `corral system check`")
    out = z.flush()
    blob_hash.update(out)
    size += len(out)
    result["digest"], result["size"] = "sha256:" + blob_hash.hexdigest(), size
    yield out
