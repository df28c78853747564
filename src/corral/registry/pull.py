"""`corral pull`: an image from a registry into the store, stored exactly as `corral load` stores it.

The manifest (a manifest list or OCI index first, resolved to the platform asked for) names a config and
compressed layer blobs. Layers the store has (same chain ID) are skipped. The others download in
parallel, a few at a time, each in one pass: the HTTP body is hashed as it arrives and fed through the
decompressor into the layer extractor (image/layers.add_layer), which records the tar-split that lets
save and push rebuild the exact tar. Nothing is kept until both digests hold: the compressed blob's (the
manifest's) is checked before the unpacked layer is put in place, the uncompressed one's (the config's
diff_id) right after it. No compressed copy is ever written.

An interrupted pull keeps what it finished: layers are recorded as soon as they and every layer below
them are in (a chain must be complete to be recorded), so the next pull starts where this one stopped
and `corral system check` finds nothing amiss; anything unfinished is removed.
"""
from __future__ import annotations

import hashlib
import threading

from corral import fastjson as json
from corral.errors import APIError, InvalidArgument, NotFound
from corral.image.extract import UnsafeArchive
from corral.image.layers import DigestMismatch, Layer, add_layer, chain_id, stored_layer
from corral.image.reference import Reference, parse
from corral.registry import client, conf
from corral.registry.progress import Meter, locked, status
from corral.store.root import Store

MAX_CONCURRENT = 3  # docker's max-concurrent-downloads

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterator

    from corral.registry.credentials import Credentials
    from corral.registry.progress import Emit


def parse_platform(text: str | None) -> tuple[str, str, str]:
    """(os, architecture, variant) of docker's --platform "os[/arch[/variant]]"; default linux and ours."""
    from corral.image.oci import go_arch

    if not text:
        return "linux", go_arch(), ""
    parts = text.lower().split("/")
    if len(parts) > 3 or not all(parts):
        raise InvalidArgument(f"invalid platform {text!r}: use os[/arch[/variant]], e.g. linux/amd64")
    os_, arch, variant = (parts + ["", ""])[:3]
    return os_, arch or go_arch(), variant


def pull(store: Store, name: str, *, platform: str | None = None, all_tags: bool = False,
         emit: Emit | None = None, credentials: Credentials | dict[str, Credentials] | None = None
         ) -> list[tuple[str, str]]:
    """Pull `name` (every tag of its repository with all_tags); returns (image ID, name) per image pulled.
    A name without a registry host is tried on each configured search registry until one has it.
    `credentials` are used instead of the stored ones (docker's auth_config), or a map of registry to
    them (docker's X-Registry-Config): each registry is given only its own."""
    ref = parse(name)
    if all_tags and (ref.tag or ref.digest):
        raise InvalidArgument("tag can't be used with --all-tags/-a")
    want = parse_platform(platform)
    say = locked(emit)
    candidates = conf.candidates(ref)
    missing: NotFound | None = None
    for registry, path in candidates:
        try:
            creds = credentials.get(registry) if isinstance(credentials, dict) else credentials
            with client.Session(registry, path, credentials=creds) as session:
                if not all_tags:
                    return [_pull_one(store, session, ref, want, platform is not None, say)]
                return [_pull_one(store, session, ref.with_tag(t), want, platform is not None, say)
                        for t in session.tags()]
        except NotFound as e:
            missing = e
    if len(candidates) > 1:
        raise NotFound(f"{ref.familiar} was found on none of the search registries "
                       f"({', '.join(r for r, _ in candidates)}): {missing}")
    raise missing  # type: ignore[misc]


def _pull_one(store: Store, session: client.Session, ref: Reference, want: tuple[str, str, str],
              explicit: bool, say: Emit) -> tuple[str, str]:
    from corral.store import distribution, images

    asked = ref.digest or ref.tag or "latest"
    first = fetch_manifest(session, ref, asked)
    say(status(f"Pulling from {session.path}", asked))  # after the manifest, as dockerd: a missing image
    # is then an error before any progress, which the API server answers with a status code
    name = ref.familiar
    tags = [] if ref.digest and not ref.tag else [name]
    before = images.by_tag(store, name) if tags else None
    image_id, digest, sources = fetch(store, session, asked, want, explicit, name, tags, say, first)
    distribution.add_repo_digest(store, ref.repository, digest, image_id)
    distribution.add_sources(store, sources)
    finish(store, name, digest, image_id, before, say)
    return image_id, name


def fetch(store: Store, source: client.Session, asked: str, want: tuple[str, str, str], explicit: bool, name: str,
          tags: list[str], say: Emit, first: tuple[bytes, str, str] | None = None) -> tuple[str, str, list]:
    """The image manifest `asked` (tag, digest, or a layout's reference) names at `source` (a registry
    Session, or a layout.Layout: the same reading methods) into the store with `tags`; returns (image ID,
    manifest digest, the blob sources to record). `first`: that manifest, when the caller fetched it already."""
    from corral import failpoints
    from corral.image import gc, oci
    from corral.store import distribution

    data, media_type, digest = first or source.manifest(asked)
    manifest = json_object(data, f"manifest {digest}")
    indexed = (media_type or manifest.get("mediaType")) in client.INDEXES or "manifests" in manifest
    if indexed:
        desc = _choose(manifest, want, digest)
        data, media_type, digest = source.manifest(desc["digest"])
        manifest = json_object(data, f"manifest {digest}")
    config_desc, layer_descs = _parts(manifest, digest)
    config_bytes = source.blob_bytes(config_desc["digest"], config_desc["size"], "config")
    config = json_object(config_bytes, f"config {config_desc['digest']}")
    diff_ids = (config.get("rootfs") or {}).get("diff_ids")
    if not isinstance(diff_ids, list) or len(diff_ids) != len(layer_descs):
        raise InvalidArgument(f"manifest {digest} lists {len(layer_descs)} layers, its config's rootfs.diff_ids "
                              f"{len(diff_ids) if isinstance(diff_ids, list) else 'nothing'}: refused")
    if explicit and not indexed and (config.get("os"), config.get("architecture")) != want[:2]:
        raise NotFound(f"image {name} was found but is {config.get('os')}/{config.get('architecture')}, "
                       f"not the {'/'.join(p for p in want if p)} asked for")
    with gc.writing(store, keep_layers=True):  # shared content lock: no sweep until the image holds its layers
        layers = _layers(store, source, layer_descs, diff_ids, say)
        failpoints.hit("pull.layers")
        image_id = oci.register_image(store, config_bytes, layers, tags)
    sources = [distribution.BlobSource(d, desc["digest"], desc.get("mediaType", ""), desc["size"], source.registry,
                                       source.path) for d, desc in zip(diff_ids, layer_descs)]
    return image_id, digest, sources


def finish(store: Store, name: str, digest: str, image_id: str, before: str | None, say: Emit,
           event: bool = True) -> None:
    """The pull event (unless a load records its own) and docker's closing lines."""
    from corral.api import events

    if event:
        events.record(store, "image", "pull", name, {"name": name})  # docker's: the actor is the reference
    say(status(f"Digest: {digest}"))
    what = "Image is up to date" if before == image_id else "Downloaded newer image"
    say(status(f"Status: {what} for {name}"))


def fetch_manifest(session: client.Session, ref: Reference, asked: str) -> tuple[bytes, str, str]:
    """session.manifest(asked), its refusals in dockerd's words (distribution/errors.go), which clients
    and people know: "manifest for x:1 not found: manifest unknown: ...", "pull access denied for x,
    repository does not exist or may require 'docker login': denied: ...", "repository x not found"."""
    from corral.registry.auth import Unauthorized

    try:
        return session.manifest(asked)
    except (NotFound, Unauthorized) as e:
        detail = getattr(e, "registry_detail", "")
        code = getattr(e, "registry_code", "")
        if code == "MANIFEST_UNKNOWN":
            raise NotFound(f"manifest for {ref.familiar} not found: {detail}") from None
        if code == "NAME_UNKNOWN":
            raise NotFound(f"repository {ref.repository} not found: {detail}") from None
        if code == "DENIED":
            raise NotFound(f"pull access denied for {ref.repository}, repository does not exist or may require "
                           f"'docker login': {detail}") from None
        raise


def json_object(data: bytes, what: str) -> dict:
    """`data` as a JSON object (a manifest, config or layout file), or one line naming `what` is wrong."""
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError) as e:  # RecursionError: nesting deep enough to be hostile
        raise InvalidArgument(f"{what} is not valid JSON: {e}") from None
    if not isinstance(parsed, dict):
        raise InvalidArgument(f"{what} is not a JSON object")
    return parsed


def _descriptor(desc: object, what: str) -> dict:
    if (not isinstance(desc, dict) or not isinstance(desc.get("digest"), str) or not isinstance(desc.get("size"), int)
            or not desc["digest"].startswith("sha256:") or len(desc["digest"]) != 71 or desc["size"] < 0):
        raise InvalidArgument(f"{what} has an invalid descriptor (only sha256 digests are supported)")
    return desc


def _choose(index: dict, want: tuple[str, str, str], digest: str) -> dict:
    """The index entry for the platform asked for, as docker picks it (a variant only when asked)."""
    entries = index.get("manifests")
    if not isinstance(entries, list):
        raise InvalidArgument(f"image index {digest} has no manifests list")
    os_, arch, variant = want
    for desc in entries:
        p = desc.get("platform") if isinstance(desc, dict) else None
        if isinstance(p, dict) and p.get("os") == os_ and p.get("architecture") == arch and (
                not variant or p.get("variant") == variant):
            return _descriptor(desc, f"image index {digest}")
    found = sorted({"/".join(x for x in (d["platform"].get("os"), d["platform"].get("architecture"),
                                         d["platform"].get("variant")) if x)
                    for d in entries if isinstance(d, dict) and isinstance(d.get("platform"), dict)})
    raise NotFound(f"no matching manifest for {'/'.join(p for p in want if p)} in the manifest list entries "
                   f"(it has {', '.join(found) or 'none'})")


def _parts(manifest: dict, digest: str) -> tuple[dict, list[dict]]:
    what = f"manifest {digest}"
    if manifest.get("schemaVersion") != 2 or not isinstance(manifest.get("layers"), list):
        raise InvalidArgument(f"{what} is not an image manifest of schema 2 (Docker v2 schema 2 or OCI)")
    return _descriptor(manifest.get("config"), what), [_descriptor(d, what) for d in manifest["layers"]]


# layers ------------------------------------------------------------------------------------------------


def _layers(store: Store, session: client.Session, descs: list[dict], diff_ids: list[str],
            say: Emit) -> list[Layer]:
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    from corral.store import images

    chain, parent = [], None
    for diff_id in diff_ids:
        parent = chain_id(parent, diff_id)
        chain.append(parent)
    have: list[Layer | None] = [stored_layer(store, cid) for cid in chain]
    for desc, layer in zip(descs, have):
        say(status("Already exists" if layer else "Pulling fs layer", desc["digest"][7:19]))
    cancel = threading.Event()
    recorded = [layer is not None for layer in have]

    def record_prefix() -> None:
        """Record every finished layer whose whole chain below is in (serialised by the caller)."""
        new = []
        for i, layer in enumerate(have):
            if layer is None:
                break
            if not recorded[i]:
                new.append(images.LayerRecord(layer.chain_id, layer.diff_id, layer.parent, layer.blob_digest,
                                              layer.media_type, layer.size))
                recorded[i] = True
        if new:
            images.add_layers(store, new)

    todo = [i for i, layer in enumerate(have) if layer is None]
    if todo:
        with ThreadPoolExecutor(max_workers=MAX_CONCURRENT) as pool:
            futures = {pool.submit(_fetch, store, session, descs[i], diff_ids[i], chain[i - 1] if i else None,
                                   say, cancel): i for i in todo}
            pending = set(futures)
            error: BaseException | None = None
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    try:
                        have[futures[fut]] = fut.result()
                    except BaseException as e:  # noqa: BLE001 - the first error is raised after the pool stops
                        if error is None:
                            error = e
                        cancel.set()
                record_prefix()
            if error is not None:
                raise error
    return [layer for layer in have if layer is not None]


class _Body:
    """The HTTP body of one blob as a file for the extractor: hashed and counted as it is read, refused
    beyond its declared size, and checked against its digest (check()) before the layer is kept. A large
    blob's bytes are also kept in tmp/ as they arrive, and a download a dead pull left there is resumed
    (registry/resume.py): its bytes are replayed first, then the registry sends the rest."""

    def __init__(self, store: Store, session: client.Session, desc: dict, say: Emit, cancel: threading.Event) -> None:
        import itertools

        from corral.registry import resume

        self.desc, self.cancel = desc, cancel
        self.registry = session.registry
        self.partial = None
        if getattr(session, "resumable", False) and desc["size"] >= resume.KEEP:
            self.partial = resume.Partial.claim(store, desc["digest"])
            if self.partial.size > desc["size"]:
                self.partial.restart()
        offset = self.partial.size if self.partial else 0
        self.resp, net = (None, iter(())) if offset and offset == desc["size"] else \
            session.blob_stream(desc["digest"], offset) if offset else session.blob_stream(desc["digest"])
        if offset and self.resp is not None and (self.resp.status_code != 206 or
                                                 resume.content_range_start(self.resp.headers) != offset):
            if self.resp.status_code == 206:  # a range other than the one asked for: the whole blob instead
                self.resp.close()
                self.resp, net = session.blob_stream(desc["digest"])
            self.partial.restart()  # type: ignore[union-attr] - the registry ignored the Range: from 0
            offset = 0
        self.chunks = itertools.chain(self.partial.replay(offset) if offset else (), self._kept(net))
        self.hash = hashlib.sha256()
        self.got = 0
        self.buf, self.pos = b"", 0
        self.meter = Meter(say, "Downloading", desc["digest"][7:19], desc["size"])

    def _kept(self, net: Iterator[bytes]) -> Iterator[bytes]:
        """The registry's chunks, each appended to the partial file first (when one is kept)."""
        from corral import failpoints

        halfway = False
        for chunk in net:
            if self.partial is not None:
                self.partial.append(chunk)
                if not halfway and self.partial.size * 2 >= self.desc["size"]:
                    halfway = True
                    failpoints.hit("pull.partial")
            yield chunk

    def read(self, n: int = -1) -> bytes:
        if self.pos >= len(self.buf):
            if self.cancel.is_set():
                raise APIError("pull stopped: another layer failed")
            try:
                self.buf = next(self.chunks, b"")
            except Exception as e:  # noqa: BLE001 - httpx's read errors, as one clear error
                raise client.RegistryUnavailable(
                    f"{self.registry}: download of blob {self.desc['digest']} failed after {self.got} bytes: "
                    f"{e or type(e).__name__}") from None
            self.pos = 0
            if not self.buf:
                return b""
            self.hash.update(self.buf)
            self.got += len(self.buf)
            if self.got > self.desc["size"]:
                raise DigestMismatch(f"blob {self.desc['digest']} is larger than the {self.desc['size']} bytes "
                                     "its manifest says: refused")
            self.meter.update(self.got)
        end = len(self.buf) if n < 0 else min(len(self.buf), self.pos + n)
        out = self.buf[self.pos:end]
        self.pos = end
        return out

    def check(self) -> None:
        """Read what the decompressor left (a trailer, padding) and hold the blob to its digest."""
        while self.read(client.CHUNK):
            pass
        actual = "sha256:" + self.hash.hexdigest()
        if actual != self.desc["digest"] or self.got != self.desc["size"]:
            raise DigestMismatch(f"blob {self.desc['digest']} from {self.registry}: content has digest {actual} "
                                 f"({self.got} bytes): refused")

    def close(self, keep: bool) -> None:
        """Done with the blob; its partial file kept for a next pull (`keep`) or deleted."""
        if self.resp is not None:
            self.resp.close()
        if self.partial is not None and keep:
            self.partial.close()
        elif self.partial is not None:
            self.partial.drop()


def _fetch(store: Store, session: client.Session, desc: dict, diff_id: str, parent: str | None, say: Emit,
           cancel: threading.Event) -> Layer:
    from corral.registry import resume

    layer = resume.adopt(store, chain_id(parent, diff_id), diff_id, parent)
    if layer is not None:  # unpacked by a pull killed before it could record it
        say(status("Already exists", desc["digest"][7:19]))
        return layer
    body = _Body(store, session, desc, say, cancel)
    keep = True  # a download cut short is kept to resume from; wrong content is not
    try:
        try:
            layer = add_layer(store, body, parent, diff_id=diff_id, verify=body.check)
            keep = False
        except (UnsafeArchive, DigestMismatch) as e:
            keep = False
            if not isinstance(e, DigestMismatch) or str(desc["digest"]) not in str(e):
                body.check()  # wrong content says so by its digest first, whatever the extractor thought of it
            raise type(e)(f"blob {desc['digest']}: {e}") if str(desc["digest"]) not in str(e) else e from None
    finally:
        body.close(keep)
    say(status("Pull complete", desc["digest"][7:19]))
    return layer
