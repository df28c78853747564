"""OCI image layouts as repositories: `oci:PATH[:REFERENCE]` for pull, push, save and load.

An OCI image layout (image-spec's image-layout.md: an `oci-layout` file, `index.json`, `blobs/sha256/<hex>`)
on a filesystem several hosts share is a registry without a server. skopeo, podman and buildah read and write
it as their `oci:` transport, whose syntax this follows: the path up to the first colon, then the reference,
the value of an index entry's `org.opencontainers.image.ref.name` annotation (`oci:/share/images:app:1` is the
entry named "app:1"). An image pulled from an entry takes the reference as its name, as podman does; with no
reference, a layout of one image gives that one (skopeo's rule).

Reading goes through the registry pull's own code (pull.fetch): a Layout answers the questions a registry
Session answers (a manifest by reference or digest, a config, a blob as a stream), and every blob is hashed
while it is read and refused unless its digest and size hold. The layout is treated as hostile: only sha256
hex digests ever become paths, a blob must be a regular file (no link, no FIFO), JSON documents are bounded.

Writing goes through the registry push's code (push.upload), and two rules make pushes from several hosts at
once safe. A blob is written under a temporary name inside the layout (`.corral/tmp/`, so the rename stays on
one filesystem), fsynced, and renamed to its digest; one present and verified is not written again, and two
writers of the same blob write the same bytes. index.json changes only under an exclusive flock of
`.corral/index.lock`, and by compare-and-swap: read it, merge this entry in (replacing one of the same name),
write a temporary file, re-read index.json, and rename only if it is still what was merged into (a writer
that takes no lock, such as skopeo, is caught there and merged again). So concurrent pushes of different
names all survive.
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
import time

from corral import fastjson as json
from corral.errors import APIError, InvalidArgument, NotFound
from corral.registry.progress import locked, status
from corral.store.fsutil import fsync_dir
from corral.store.root import Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterator

    from corral.registry.progress import Emit

PREFIX = "oci:"
REF_NAME = "org.opencontainers.image.ref.name"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
LAYOUT_VERSION = "1.0.0"
MAX_INDEX = 16 << 20
STALE = 3600  # a temporary file untouched this long (seconds) was left by a writer that is gone
CAS_TRIES = 20
_HEX = re.compile(r"[0-9a-f]{64}")
_REFERENCE = re.compile(r"[A-Za-z0-9._:@/+-]{1,255}")  # the characters image-spec allows in ref.name


class BadLayout(InvalidArgument):
    """The layout is not one, or is damaged or hostile; nothing of it was stored."""


def is_layout(text: object) -> bool:
    return isinstance(text, str) and text.startswith(PREFIX)


def split(text: str) -> tuple[str, str]:
    """(absolute path, reference or "") of `oci:PATH[:REFERENCE]`, split at the first colon as skopeo does."""
    path, _, reference = text[len(PREFIX):].partition(":")
    if not path:
        raise InvalidArgument(f"invalid layout {text!r}: use oci:PATH[:REFERENCE], e.g. oci:/srv/images:app:1")
    if reference and not _REFERENCE.fullmatch(reference):
        raise InvalidArgument(f"invalid layout reference {reference!r} in {text!r}: use letters, digits and "
                              "._:@/+- (at most 255)")
    return os.path.abspath(path), reference


def local_name(reference: str) -> str:
    """The name an image pulled from entry `reference` takes here (podman's rule: the reference itself,
    normalized), or "" when the reference is no image name ("sha256:…", "a b")."""
    from corral.image.reference import validate_tag

    if not reference:
        return ""
    try:
        return validate_tag(reference)
    except InvalidArgument:
        return ""


# the layout as a repository -------------------------------------------------------------------------------


class Layout:
    """One OCI image layout directory, read and written with the methods of a registry Session that
    pull.fetch and push.upload call."""

    def __init__(self, path: str) -> None:
        self.root = path
        self.registry = PREFIX + path  # what errors and the recorded blob sources name it by
        self.path = ""  # a layout holds one repository
        self.verified: set[str] = set()

    # reading -------------------------------------------------------------------------------------------

    def check(self) -> None:
        """Refuse what is no image layout (1.x), with the reason."""
        if not os.path.isdir(self.root):
            raise NotFound(f"{self.registry}: no such directory")
        data = self._read_small(os.path.join(self.root, "oci-layout"), 4096, "oci-layout file", missing_ok=True)
        if data is None:
            raise BadLayout(f"{self.registry} is not an OCI image layout: it has no oci-layout file")
        from corral.registry.pull import json_object

        version = json_object(data, f"{self.registry}/oci-layout").get("imageLayoutVersion")
        if not isinstance(version, str) or not version.startswith("1."):
            raise BadLayout(f"{self.registry}/oci-layout has image layout version {version!r}, not 1.x")

    def index(self) -> tuple[dict, bytes]:
        """(parsed, raw bytes) of index.json; an empty index when there is none yet."""
        data = self._read_small(os.path.join(self.root, "index.json"), MAX_INDEX, "index.json", missing_ok=True)
        if data is None:
            return {"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": []}, b""
        from corral.registry.pull import json_object

        index = json_object(data, f"{self.registry}/index.json")
        if not isinstance(index.get("manifests"), list):
            raise BadLayout(f"{self.registry}/index.json has no manifests list")
        return index, data

    def entries(self) -> list[dict]:
        """index.json's descriptors, each checked (a sha256 digest, a size)."""
        return [_descriptor(d, f"{self.registry}/index.json") for d in self.index()[0]["manifests"]]

    def find(self, reference: str) -> dict:
        """The index entry `reference` names: its ref.name exactly, else (a name without tag) name:latest;
        with no reference, the layout's only entry."""
        entries = self.entries()
        if not reference:
            if len(entries) == 1:
                return entries[0]
            names = sorted({_ref_name(d) or d["digest"] for d in entries})
            raise InvalidArgument(f"{self.registry} holds {len(entries)} images ({', '.join(names) or 'none'}): "
                                  f"name one as {self.registry}:REFERENCE")
        wanted = [reference]
        if ":" not in reference.rsplit("/", 1)[-1] and "@" not in reference:
            wanted.append(reference + ":latest")
        for name in wanted:
            found = [d for d in entries if _ref_name(d) == name]
            if found:
                return found[-1]
        names = sorted({_ref_name(d) for d in entries} - {""})
        raise NotFound(f"{self.registry} has no image named {reference!r} (it has {', '.join(names) or 'no name'})")

    def manifest(self, reference: str) -> tuple[bytes, str, str]:
        """(bytes, media type, digest) of the manifest or index `reference` (a ref.name or a digest) names."""
        if reference.startswith("sha256:"):
            desc = next((d for d in self.entries() if d["digest"] == reference), None) or {"digest": reference}
        else:
            desc = self.find(reference)
        return self.manifest_of(desc)

    def manifest_of(self, desc: dict) -> tuple[bytes, str, str]:
        """manifest()'s answer for the entry (or any descriptor) `desc`, without looking it up in index.json."""
        # imported here, as below: the client's module imports httpx, which save and load (importing this module
        # to tell a layout's name) need not pay for
        from corral.registry.client import MAX_MANIFEST

        data = self.blob_bytes(desc["digest"], desc.get("size", MAX_MANIFEST), "manifest", exact=False)
        return data, str(desc.get("mediaType") or ""), desc["digest"]

    def blob_bytes(self, digest: str, size: int, what: str, exact: bool = True) -> bytes:
        """A small blob (a manifest, a config), read whole and checked against its digest and size."""
        from corral.image.layers import DigestMismatch
        from corral.registry.client import MAX_MANIFEST

        if size > MAX_MANIFEST:
            raise BadLayout(f"{what} {digest} is {size} bytes, more than the {MAX_MANIFEST} one may have")
        f = self._open_blob(digest, what)
        with f:
            data = f.read(size + 1)
        actual = "sha256:" + hashlib.sha256(data).hexdigest()
        if actual != digest or (exact and len(data) != size):
            raise DigestMismatch(f"{what} {digest} in {self.registry}: content has digest {actual} ({len(data)} "
                                 "bytes): refused")
        return data

    def blob_stream(self, digest: str) -> tuple[object, Iterator[bytes]]:
        """The blob as (something to close, its chunks); the caller hashes them (pull._Body)."""
        from corral.registry.client import CHUNK

        f = self._open_blob(digest, "blob")
        return f, iter(lambda: f.read(CHUNK), b"")

    def _open_blob(self, digest: str, what: str):  # noqa: ANN202 - a binary file
        path = self._blob_path(digest, what)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            raise BadLayout(f"{self.registry}: {what} {digest} is missing (no blobs/sha256/{digest[7:]})") from None
        except OSError as e:
            raise BadLayout(f"{self.registry}: {what} {digest} cannot be read: {e.strerror}") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise BadLayout(f"{self.registry}: {what} {digest} is not a regular file")
        return os.fdopen(fd, "rb")

    def _blob_path(self, digest: str, what: str = "blob") -> str:
        hexpart = _sha256_hex(digest)
        if hexpart is None:
            raise BadLayout(f"{self.registry} names {what} {digest!r}: only sha256 digests (64 hex digits) are "
                            "supported")
        return os.path.join(self.root, "blobs", "sha256", hexpart)

    def _read_small(self, path: str, limit: int, what: str, missing_ok: bool = False) -> bytes | None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            if missing_ok:
                return None
            raise BadLayout(f"{self.registry}: {what} is missing") from None
        except OSError as e:
            raise BadLayout(f"{self.registry}: {what} cannot be read: {e.strerror}") from None
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise BadLayout(f"{self.registry}: {what} is not a regular file")
            data = f.read(limit + 1)
        if len(data) > limit:
            raise BadLayout(f"{self.registry}: {what} is larger than the {limit} bytes it may have")
        return data

    # writing -------------------------------------------------------------------------------------------

    def create(self) -> None:
        """Make the directory a layout if it is none yet (oci-layout, blobs/sha256/); one that is, is checked."""
        from corral.store.fsutil import write_atomic

        try:
            os.makedirs(os.path.join(self.root, "blobs", "sha256"), exist_ok=True)
            os.makedirs(self._tmpdir(), exist_ok=True)
            if not os.path.lexists(os.path.join(self.root, "oci-layout")):
                write_atomic(os.path.join(self.root, "oci-layout"),
                             json.dumps({"imageLayoutVersion": LAYOUT_VERSION}).encode())
        except OSError as e:
            raise APIError(f"cannot write the layout {self.registry}: {e.strerror}") from None
        self.check()
        self._sweep_stale()

    def has_blob(self, digest: str) -> bool:
        """Whether the layout holds blob `digest` with the right content (hashed once per Layout)."""
        if digest in self.verified:
            return True
        try:
            f = self._open_blob(digest, "blob")
        except BadLayout:
            return False
        from corral.registry.client import CHUNK

        h = hashlib.sha256()
        with f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
        if "sha256:" + h.hexdigest() != digest:
            return False  # damaged: written again, over it
        self.verified.add(digest)
        return True

    def upload(self, digest: str, data: bytes) -> None:
        self._write_blob(digest, [data])

    def upload_chunks(self, chunks: Iterator[bytes], result: dict) -> str:
        """A blob whose digest is known only at the end (result["digest"], filled by the producer)."""
        return self._write_blob("", chunks, result)

    def put_manifest(self, reference: str, data: bytes, media_type: str) -> str:
        """The manifest blob, then its entry in index.json (named `reference`, replacing one of that name)."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if not self.has_blob(digest):
            self._write_blob(digest, [data])
        entry: dict = {"mediaType": media_type, "digest": digest, "size": len(data)}
        if reference:
            entry["annotations"] = {REF_NAME: reference}
        self._update_index(entry)
        return digest

    def _write_blob(self, digest: str, chunks: Iterator[bytes] | list[bytes], result: dict | None = None) -> str:
        """Chunks to a temporary file in the layout, fsynced, renamed to their digest (checked here)."""
        import tempfile

        fd, tmp = tempfile.mkstemp(prefix=f"{os.uname().nodename}-{os.getpid()}-", dir=self._tmpdir())
        try:
            os.fchmod(fd, 0o644)  # readable by the other hosts' users of the share, as skopeo writes them
            h = hashlib.sha256()
            with os.fdopen(fd, "wb") as f:
                for chunk in chunks:
                    h.update(chunk)
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            actual = "sha256:" + h.hexdigest()
            if result is not None:
                digest = result["digest"]
            if actual != digest:
                raise APIError(f"blob for {self.registry} has digest {actual}, not the {digest} it was sent as")
            os.rename(tmp, self._blob_path(digest))
            fsync_dir(os.path.dirname(self._blob_path(digest)))
        except OSError as e:
            raise APIError(f"cannot write blob {digest or ''} into {self.registry}: {e.strerror}") from None
        finally:
            if os.path.lexists(tmp):
                os.unlink(tmp)
        self.verified.add(digest)
        return digest

    def _update_index(self, entry: dict) -> None:
        """Merge `entry` into index.json under the layout's lock, by compare-and-swap (see the module)."""
        import fcntl
        import tempfile

        name = _ref_name(entry)
        lock = os.open(os.path.join(self.root, ".corral", "index.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            index_path = os.path.join(self.root, "index.json")
            for _ in range(CAS_TRIES):
                index, seen = self.index()
                kept = [d for d in index["manifests"]
                        if not (name and _ref_name(d) == name) and not (not name and d == entry)]
                index = dict(index, schemaVersion=2, mediaType=INDEX_TYPE, manifests=kept + [entry])
                fd, tmp = tempfile.mkstemp(prefix="index.", dir=self._tmpdir())
                try:
                    os.fchmod(fd, 0o644)
                    with os.fdopen(fd, "wb") as f:
                        f.write(json.dumps(index).encode())
                        f.flush()
                        os.fsync(f.fileno())
                    if self.index()[1] != seen:
                        continue  # changed by a writer that took no lock: merge into what it wrote
                    os.rename(tmp, index_path)
                    fsync_dir(self.root)
                    return
                finally:
                    if os.path.lexists(tmp):
                        os.unlink(tmp)
            raise APIError(f"{self.registry}/index.json kept changing while being updated: try again")
        except OSError as e:
            raise APIError(f"cannot update {self.registry}/index.json: {e.strerror}") from None
        finally:
            os.close(lock)

    def _tmpdir(self) -> str:
        return os.path.join(self.root, ".corral", "tmp")

    def _sweep_stale(self) -> None:
        """Remove temporary files writers on any host left long ago (killed mid-write)."""
        now = time.time()
        try:
            names = os.listdir(self._tmpdir())
        except OSError:
            return
        for name in names:
            path = os.path.join(self._tmpdir(), name)
            try:
                if now - os.lstat(path).st_mtime > STALE:
                    os.unlink(path)
            except OSError:
                pass


def _sha256_hex(digest: str) -> str | None:
    """The hex part of a sha256 digest, the only kind a blob's path may be made of; None for any other."""
    algo, _, hexpart = digest.partition(":")
    return hexpart if algo == "sha256" and _HEX.fullmatch(hexpart) else None


def _descriptor(desc: object, what: str) -> dict:
    if not isinstance(desc, dict) or not isinstance(desc.get("digest"), str) or not isinstance(desc.get("size"), int):
        raise BadLayout(f"{what} has an entry that is no descriptor (digest and size)")
    if _sha256_hex(desc["digest"]) is None or desc["size"] < 0:
        raise BadLayout(f"{what} names blob {desc['digest']!r}: only sha256 digests (64 hex digits) are supported")
    return desc


def _ref_name(desc: dict) -> str:
    notes = desc.get("annotations")
    name = notes.get(REF_NAME) if isinstance(notes, dict) else None
    return name if isinstance(name, str) else ""


# the verbs ----------------------------------------------------------------------------------------------


def pull(store: Store, text: str, *, platform: str | None = None, every: bool = False,
         emit: Emit | None = None, event: bool = True) -> list[tuple[str, str]]:
    """Pull the image `oci:PATH[:REFERENCE]` names (every image of the layout with `every`, which a
    reference may not go with); returns (image ID, local name or "") per image. `event`: record pull
    events (a load records its own)."""
    from corral.registry.pull import parse_platform

    path, reference = split(text)
    if every and reference:
        raise InvalidArgument(f"{text}: a reference can't be used with --all-tags/-a (every image is pulled)")
    layout = Layout(path)
    layout.check()
    want = parse_platform(platform)
    say = locked(emit)
    if not every:
        desc = layout.find(reference)
        return [_pull_entry(store, layout, desc, reference or _ref_name(desc), want, platform is not None, say,
                            event)]
    done: dict[str, tuple[str, str]] = {}
    for desc in layout.entries():
        name = _ref_name(desc)
        if (desc["digest"], name) not in done:
            done[desc["digest"], name] = _pull_entry(store, layout, desc, name, want, platform is not None, say,
                                                      event)
    return list(done.values())


def _pull_entry(store: Store, layout: Layout, desc: dict, reference: str, want: tuple[str, str, str],
                explicit: bool, say: Emit, event: bool) -> tuple[str, str]:
    from corral.registry import pull as registry_pull
    from corral.store import images

    name = local_name(reference)
    say(status(f"Pulling from {layout.registry}", reference or desc["digest"][7:19]))
    before = images.by_tag(store, name) if name else None
    image_id, digest, _ = registry_pull.fetch(store, layout, desc["digest"], want, explicit, name or desc["digest"],
                                              [name] if name else [], say, first=layout.manifest_of(desc))
    registry_pull.finish(store, name or image_id, digest, image_id, before, say, event)
    return image_id, name


def push(store: Store, image: str, text: str, *, emit: Emit | None = None) -> tuple[str, str]:
    """Push the local image `image` (with image "", the one the reference names) into the layout, as the
    entry named by the reference (default: the image's name; none for an image given by ID); returns
    (entry name, manifest digest)."""
    from corral.errors import ImageNotFound
    from corral.image import repo
    from corral.image.reference import normalize

    path, reference = split(text)
    if not image:
        if not reference:
            raise InvalidArgument(f"{text} names no image: use oci:PATH:NAME[:TAG], or give the image first "
                                  f"(push IMAGE {text})")
        image = reference
    try:
        image_id = repo.resolve(store, image)
    except ImageNotFound:
        raise ImageNotFound(f"An image does not exist locally with the tag: {image}") from None
    if not reference and normalize(image) in repo.tags_of(store, image_id):
        reference = normalize(image)
    say = locked(emit)
    layout = Layout(path)
    layout.create()
    return reference, _push_to(store, layout, image_id, reference, say)


def _push_to(store: Store, layout: Layout, image_id: str, reference: str, say: Emit) -> str:
    """One entry into `layout` (made already: Layout.create)."""
    from corral.api import events
    from corral.registry.push import upload

    say(status(f"The push refers to {layout.registry}"))
    digest, size = upload(store, layout, image_id, reference, say)
    events.record(store, "image", "push", f"{layout.registry}:{reference}" if reference else layout.registry,
                  {"name": reference or image_id})
    say(status(f"{reference or image_id[7:19]}: digest: {digest} size: {size}"))
    return digest


def save(store: Store, images: list[tuple[str, list[str]]], text: str, *, emit: Emit | None = None) -> None:
    """`save -o oci:PATH[:REFERENCE]`: each image into the layout once per name it is saved with (a
    reference names the one image saved); an image saved by ID gets an entry without a name."""
    path, reference = split(text)
    if reference and len(images) != 1:
        raise InvalidArgument(f"{text} names one entry, but {len(images)} images are saved: give oci:PATH alone")
    layout = Layout(path)
    layout.create()
    say = locked(emit)
    for image_id, names in images:
        for name in ([reference] if reference else names or [""]):
            _push_to(store, layout, image_id, name, say)


def load(store: Store, text: str) -> list[tuple[str, list[str]]]:
    """`load -i oci:PATH[:REFERENCE]`: the image the reference names, or every image of the layout;
    returns (image ID, names) per image."""
    _, reference = split(text)
    loaded: dict[str, list[str]] = {}
    for image_id, name in pull(store, text, every=not reference, event=False):
        names = loaded.setdefault(image_id, [])
        if name and name not in names:
            names.append(name)
    return list(loaded.items())
