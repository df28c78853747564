"""Images in and out of single files: docker-archive and OCI-layout tarballs (`corral save`, `corral load`).

Both formats carry the image config verbatim, so an image keeps its ID (the
config's digest) across any number of save/load trips and between engines.

Loading treats the archive as hostile. The outer tar is read once, as a
stream (a pipe works), and never extracted by its own names: each regular
entry is hashed and either left where it is (a plain archive in a regular
file is read again at its offset) or copied to a numbered file under the
store's tmp/. Links inside the archive are resolved in memory only. Every
blob and config digest the manifests name is checked before any layer is
stored; layers then go through layers.add_layer (the safe extractor), which
checks each diff_id before unpacking. A failure at any point leaves no image,
blob, layer or temporary file behind (gc.writing sweeps what an attempt wrote).
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import tarfile
from typing import BinaryIO

from corral import failpoints
from corral import fastjson as json
from corral.errors import APIError, InvalidArgument, StoreError
from corral.image import oci
from corral.image.extract import CHUNK, MAX_MEMBER_SIZE, UnsafeArchive, _header_class, open_stream
from corral.image.layers import DigestMismatch, Layer, add_layer, chain_id, image_layers, open_layer, stored_layer
from corral.store import blobs
from corral.store import images as image_records
from corral.store.fsutil import remove_tree
from corral.store.root import Store, store_errors

DOCKER_ARCHIVE = "docker-archive"
OCI_ARCHIVE = "oci-archive"
FORMATS = (DOCKER_ARCHIVE, OCI_ARCHIVE)

MAX_JSON = 4 << 20  # manifests and configs are a few KiB; containerd refuses manifests over 4 MiB too
MAX_ENTRIES = 100_000  # a real archive has a few entries per layer
MAX_LINK_HOPS = 40  # as the kernel's own symlink limit

REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"
INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_HEX_NAME = re.compile(r"(?:.*/)?([0-9a-f]{64})(?:\.json)?")  # <hex>.json, blobs/sha256/<hex>


class BadArchive(InvalidArgument):
    """The image archive is malformed, hostile, or does not match its own digests; nothing was stored."""


# save ----------------------------------------------------------------------------------------------


def save(store: Store, images: list[tuple[str, list[str]]], out: BinaryIO, fmt: str = DOCKER_ARCHIVE) -> None:
    """Write (image ID, names) pairs as one archive to the writable stream `out`.

    docker-archive holds the uncompressed layer tars Docker's format wants
    (their digests are the config's diff_ids); oci-archive holds the stored
    manifest, config and gzip layer blobs byte for byte.
    """
    if fmt not in FORMATS:
        raise InvalidArgument(f"unknown archive format {fmt!r}: use {' or '.join(FORMATS)}")
    if not images:
        raise InvalidArgument("no image to save")
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        writer = _Writer(tar)
        if fmt == DOCKER_ARCHIVE:
            _write_docker(store, images, writer)
        else:
            _write_oci(store, images, writer)


class _Writer:
    """Archive entries owned by root, dated 1970 and with no user names, as `docker save` writes them,
    so the same images always make the same bytes; each name is written once."""

    def __init__(self, tar: tarfile.TarFile) -> None:
        self.tar = tar
        self.names: set[str] = set()

    def _info(self, name: str, kind: bytes, size: int = 0) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type, info.size, info.mtime, info.uname, info.gname = kind, size, 0, "", ""
        info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
        return info

    def directory(self, name: str) -> None:
        if name not in self.names:
            self.names.add(name)
            self.tar.addfile(self._info(name, tarfile.DIRTYPE))

    def data(self, name: str, data: bytes) -> None:
        if name not in self.names:
            self.names.add(name)
            self.tar.addfile(self._info(name, tarfile.REGTYPE, len(data)), io.BytesIO(data))

    def stream(self, name: str, size: int, src: BinaryIO) -> None:
        self.names.add(name)
        self.tar.addfile(self._info(name, tarfile.REGTYPE, size), src)


def _store_corrupt(what: str) -> StoreError:
    return StoreError(f"{what}: the store is damaged, run `corral system check`")


def _read_blob(store: Store, digest: str) -> bytes:
    try:
        return blobs.read(store, digest)
    except FileNotFoundError:
        raise _store_corrupt(f"blob {digest} is missing") from None


class _Hashing:
    """The decompressed layer as it goes into the archive, checked against its diff_id afterwards."""

    def __init__(self, src: BinaryIO) -> None:
        self.src, self.hash = src, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.src.read(n)
        self.hash.update(data)
        return data


def _write_docker(store: Store, images: list[tuple[str, list[str]]], w: _Writer) -> None:
    from corral.image.reference import split

    manifest, repositories = [], {}
    for image_id, tags in images:
        config_name = image_id[7:] + ".json"
        w.data(config_name, _read_blob(store, image_id))
        paths = []
        layers = image_layers(store, image_id)
        for layer in layers:
            path = layer.diff_id[7:] + "/layer.tar"
            if path not in w.names:
                w.directory(layer.diff_id[7:])
                _write_layer_tar(store, layer, path, w)
            paths.append(path)
        manifest.append({"Config": config_name, "RepoTags": tags or None, "Layers": paths})
        for tag in tags:
            name, version = split(tag)
            repositories.setdefault(name, {})[version] = layers[-1].diff_id[7:] if layers else ""
    w.data("manifest.json", json.dumps(manifest).encode())
    if repositories:
        w.data("repositories", json.dumps(repositories).encode())


def _write_layer_tar(store: Store, layer: Layer, path: str, w: _Writer) -> None:
    """The layer's tar into the archive, proved equal to the diff_id the config names."""
    damaged = _store_corrupt(f"layer {layer.chain_id} does not rebuild to diff_id {layer.diff_id}")
    tar = open_layer(store, layer)
    try:
        src = _Hashing(tar)
        try:
            w.stream(path, layer.size, src)  # type: ignore[arg-type]
        except UnsafeArchive:
            raise damaged from None
        except OSError as e:
            if e.errno is None:  # tarfile's "unexpected end of data": shorter than recorded
                raise damaged from None
            raise
        if src.src.read(1) or "sha256:" + src.hash.hexdigest() != layer.diff_id:
            raise damaged
    finally:
        tar.close()


def _write_oci(store: Store, images: list[tuple[str, list[str]]], w: _Writer) -> None:
    w.data("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
    w.directory("blobs")
    w.directory("blobs/sha256")
    entries = []
    for image_id, tags in images:
        manifest_digest = image_records.get(store, image_id).manifest_digest
        manifest_bytes = _read_blob(store, manifest_digest)
        manifest = json.loads(manifest_bytes)
        kept_as_tar = {layer.blob_digest: layer for layer in image_layers(store, image_id)
                       if layer.blob_digest == layer.diff_id}
        for desc in [manifest["config"]] + manifest["layers"]:
            name = "blobs/sha256/" + desc["digest"][7:]
            if name in w.names:
                continue
            if desc["digest"] in kept_as_tar and not os.path.exists(store.blob_path(desc["digest"])):
                _write_layer_tar(store, kept_as_tar[desc["digest"]], name, w)  # rebuilt from its tar-split
                continue
            path = store.blob_path(desc["digest"])
            try:
                with open(path, "rb") as f:
                    if os.fstat(f.fileno()).st_size != desc["size"]:
                        raise _store_corrupt(f"blob {desc['digest']} is not {desc['size']} bytes")
                    w.stream(name, desc["size"], f)
            except FileNotFoundError:
                raise _store_corrupt(f"blob {desc['digest']} is missing") from None
        w.data("blobs/sha256/" + manifest_digest[7:], manifest_bytes)
        desc = {"mediaType": manifest.get("mediaType", oci.MANIFEST_TYPE), "digest": manifest_digest,
                "size": len(manifest_bytes)}
        entries += [dict(desc, annotations={REF_NAME: tag}) for tag in tags] or [desc]
    w.data("index.json", json.dumps({"schemaVersion": 2, "mediaType": INDEX_TYPES[0], "manifests": entries}).encode())


# load: reading the outer archive ----------------------------------------------------------------------


class _Entry:
    """One entry of the outer archive: a directory, a link (target as written), or a regular file
    whose bytes are at `offset` of the input file or in the spool file `path`."""

    __slots__ = ("name", "kind", "target", "size", "digest", "offset", "path", "checked")

    def __init__(self, name: str, kind: str, target: str = "", size: int = 0) -> None:
        self.name, self.kind, self.target, self.size = name, kind, target, size
        self.digest, self.offset, self.path, self.checked = "", -1, "", False


class _Slice:
    """read() over `size` bytes at `offset` of an open file, without moving its file position."""

    def __init__(self, fd: int, offset: int, size: int) -> None:
        self.fd, self.offset, self.left = fd, offset, size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 or n > self.left else n
        data = os.pread(self.fd, n, self.offset) if n else b""
        if n and not data:
            raise BadArchive("image archive is truncated: it changed while being loaded")
        self.offset += len(data)
        self.left -= len(data)
        return data


def _normalise(name: str, entry: str) -> str:
    if "\0" in name:
        raise BadArchive(f"archive entry {entry!r} contains a NUL byte")
    if name.startswith("/"):
        raise BadArchive(f"archive entry {entry!r} has an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise BadArchive(f"archive entry {entry!r} has a '..' component")
    return "/".join(parts)


class _Archive:
    """The outer tar as an in-memory table of entries, read in one pass."""

    def __init__(self, store: Store, tmpdir: str) -> None:
        self.store, self.tmpdir = store, tmpdir
        self.entries: dict[str, _Entry] = {}
        self.parents: set[str] = set()  # directories implied by deeper names
        self.fd = -1

    def read(self, src: BinaryIO) -> None:
        base = _file_offset(src)
        stream = open_stream(src, "image archive")
        if base is not None and stream.codec is None:
            self.fd = src.fileno()  # plain tar in a regular file: entries are read in place, not copied
        try:
            tf = tarfile.open(fileobj=stream, mode="r|", tarinfo=_header_class(tarfile, "image archive"))  # type: ignore[arg-type]
            while (m := tf.next()) is not None:
                tf.members.clear()  # tarfile keeps every header otherwise
                if len(self.entries) >= MAX_ENTRIES:
                    raise BadArchive(f"image archive has more than {MAX_ENTRIES} entries")
                self._add(tf, m, base)
            while stream.read(CHUNK):
                pass  # reach a gzip/zstd trailer, so its checksum is verified
        except tarfile.TarError as e:
            raise BadArchive(f"image archive is truncated or corrupt: {e}") from None
        except (OverflowError, ValueError) as e:
            raise BadArchive(f"image archive has an invalid header field: {e}") from None

    def _add(self, tf: tarfile.TarFile, m: tarfile.TarInfo, base: int | None) -> None:
        name = _normalise(m.name, m.name)
        if name in self.entries:
            raise BadArchive(f"archive entry {m.name!r} appears twice")
        parent = name
        while "/" in parent:  # no entry lives below a link or a file: paths here never go through a link
            parent = parent.rsplit("/", 1)[0]
            above = self.entries.get(parent)
            if above is not None and above.kind != "dir":
                raise BadArchive(f"archive entry {m.name!r} is inside {above.name!r}, which is not a directory")
            self.parents.add(parent)
        if m.isdir():
            self.entries[name] = _Entry(name, "dir")
            return
        if not name:
            raise BadArchive(f"archive entry {m.name!r} is not a directory but names the archive root")
        if name in self.parents:
            raise BadArchive(f"archive entry {m.name!r} is not a directory, but earlier entries are inside it")
        if m.issym() or m.islnk():
            self.entries[name] = _Entry(name, "symlink" if m.issym() else "hardlink", self._link_target(m, name))
        elif m.isreg():
            self.entries[name] = self._file(tf, m, name, base)
        elif m.ischr() or m.isblk():
            raise BadArchive(f"archive entry {m.name!r} is a device node")
        elif m.isfifo():
            raise BadArchive(f"archive entry {m.name!r} is a FIFO")
        else:
            raise BadArchive(f"archive entry {m.name!r} has unsupported tar type {m.type!r}")

    @staticmethod
    def _link_target(m: tarfile.TarInfo, name: str) -> str:
        """The target as a path from the archive root, refusing any that leaves the archive."""
        if "\0" in m.linkname or not m.linkname:
            raise BadArchive(f"archive entry {m.name!r} is a link with an invalid target")
        if m.linkname.startswith("/"):
            raise BadArchive(f"archive entry {m.name!r} links to {m.linkname!r}, outside the archive")
        parts = name.split("/")[:-1] if m.issym() else []  # a hard link's target is named from the root
        for part in m.linkname.split("/"):
            if part == "..":
                if not parts:
                    raise BadArchive(f"archive entry {m.name!r} links to {m.linkname!r}, outside the archive")
                parts.pop()
            elif part not in ("", "."):
                parts.append(part)
        return "/".join(parts)

    def _file(self, tf: tarfile.TarFile, m: tarfile.TarInfo, name: str, base: int | None) -> _Entry:
        if m.size > MAX_MEMBER_SIZE:
            raise BadArchive(f"archive entry {m.name!r} declares an absurd size ({m.size} bytes)")
        entry = _Entry(name, "file", size=m.size)
        h = hashlib.sha256()
        data: BinaryIO = tf.extractfile(m)  # type: ignore[assignment] - never None for a regular file
        if self.fd >= 0 and m.sparse is None:  # a sparse member's bytes in the file are not its contents
            entry.offset = base + m.offset_data  # type: ignore[operator]
            while chunk := data.read(CHUNK):
                h.update(chunk)
        else:
            self._check_room(m)
            entry.path = os.path.join(self.tmpdir, str(len(self.entries)))
            with store_errors(self.store.root), open(entry.path, "wb") as out:
                while chunk := data.read(CHUNK):
                    h.update(chunk)
                    out.write(chunk)
        entry.digest = "sha256:" + h.hexdigest()
        return entry

    def _check_room(self, m: tarfile.TarInfo) -> None:
        st = os.statvfs(self.tmpdir)
        free = st.f_bavail * st.f_frsize
        if m.size > free:
            raise BadArchive(f"archive entry {m.name!r} declares {m.size} bytes, more than the {free} bytes free "
                             f"in the store")

    # looking entries up ---------------------------------------------------------------------------

    def has(self, name: str) -> bool:
        return name in self.entries

    def resolve(self, path: str, named_by: str) -> _Entry:
        """The regular file `path` names, following links inside the archive only."""
        if not isinstance(path, str) or not path:
            raise BadArchive(f"{named_by} names an invalid path {path!r}")
        if "\0" in path or path.startswith("/") or ".." in path.split("/"):
            raise BadArchive(f"{named_by} names {path!r}, outside the archive")
        todo = [p for p in path.split("/") if p not in ("", ".")]
        done: list[str] = []
        hops = 0
        while todo:
            here = "/".join(done + [todo[0]])
            entry = self.entries.get(here)
            if entry is None:
                if here in self.parents and len(todo) > 1:
                    done.append(todo.pop(0))
                    continue
                raise BadArchive(f"{named_by} names {path!r}, which is not in the archive")
            if entry.kind in ("symlink", "hardlink"):
                hops += 1
                if hops > MAX_LINK_HOPS:
                    raise BadArchive(f"{named_by} names {path!r}, which goes through a loop of links")
                todo = entry.target.split("/") + todo[1:] if entry.target else todo[1:]
                done = []
                continue
            if entry.kind == "dir":
                if len(todo) == 1:
                    raise BadArchive(f"{named_by} names {path!r}, which is a directory")
                done.append(todo.pop(0))
                continue
            if len(todo) > 1:
                raise BadArchive(f"{named_by} names {path!r}, but {entry.name!r} is not a directory")
            return entry
        raise BadArchive(f"{named_by} names {path!r}, which is a directory")

    def open(self, entry: _Entry) -> BinaryIO:
        if entry.path:
            return open(entry.path, "rb")
        return _Slice(self.fd, entry.offset, entry.size)  # type: ignore[return-value]

    def json(self, path: str, named_by: str, what: str) -> tuple[bytes, object]:
        """(bytes, parsed) of a small JSON document of the archive, refusing absurd sizes."""
        entry = self.resolve(path, named_by)
        if entry.size > MAX_JSON:
            raise BadArchive(f"{what} {path!r} is {entry.size} bytes, more than the {MAX_JSON} a {what} may have")
        data = self.read_bytes(entry)
        return data, _parse(data, f"{what} {path!r}")

    def read_bytes(self, entry: _Entry) -> bytes:
        f = self.open(entry)
        try:
            return f.read()
        finally:
            if entry.path:
                f.close()


def _file_offset(src: BinaryIO) -> int | None:
    """Where a regular file's archive starts, or None for a pipe or anything not read in place."""
    try:
        if not stat.S_ISREG(os.fstat(src.fileno()).st_mode):
            return None
        return src.tell()
    except (AttributeError, OSError, ValueError):
        return None


def _parse(data: bytes, what: str) -> object:
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as e:
        raise BadArchive(f"{what} is not valid JSON: {e}") from None


# load: what the manifests say ---------------------------------------------------------------------------


class _Plan:
    """One image to load: its config bytes, and (path, entry, diff_id) per layer, base first."""

    def __init__(self, config: bytes, layers: list[tuple[str, _Entry, str]], tags: list[str]) -> None:
        self.config, self.layers, self.tags = config, layers, tags


def _diff_ids(config: object, what: str) -> list[str]:
    rootfs = config.get("rootfs") if isinstance(config, dict) else None
    if not isinstance(rootfs, dict) or rootfs.get("type") != "layers":
        raise BadArchive(f"{what} has no rootfs of type 'layers'")
    diff_ids = rootfs.get("diff_ids")
    if not isinstance(diff_ids, list) or not all(isinstance(d, str) and _DIGEST.fullmatch(d) for d in diff_ids):
        raise BadArchive(f"{what} has no valid rootfs.diff_ids list")
    return diff_ids


def _tag(name: object, named_by: str) -> str:
    from corral.image.reference import validate_tag

    if not isinstance(name, str):
        raise BadArchive(f"{named_by} has an invalid image name {name!r}")
    try:
        return validate_tag(name)
    except InvalidArgument as e:
        raise BadArchive(f"{named_by}: {e}") from None


def _docker_plans(arc: _Archive) -> list[_Plan]:
    _, manifest = arc.json("manifest.json", "the archive", "manifest")
    if not isinstance(manifest, list) or not manifest:
        raise BadArchive("manifest.json is not a list of images")
    plans = []
    for item in manifest:
        if not isinstance(item, dict) or not isinstance(item.get("Layers"), list):
            raise BadArchive("manifest.json has an entry without Config and Layers")
        config_path = item.get("Config")
        config, parsed = arc.json(config_path, "manifest.json", "config")  # type: ignore[arg-type]
        digest = "sha256:" + hashlib.sha256(config).hexdigest()
        named = _HEX_NAME.fullmatch(config_path)  # type: ignore[arg-type]
        if named and named.group(1) != digest[7:]:
            raise BadArchive(f"config {config_path!r} has digest {digest}, not the one its name says")
        diff_ids = _diff_ids(parsed, f"config {config_path!r}")
        if len(diff_ids) != len(item["Layers"]):
            raise BadArchive(f"manifest.json lists {len(item['Layers'])} layers for config {config_path!r}, "
                             f"whose rootfs.diff_ids has {len(diff_ids)}")
        layers = []
        for path, diff_id in zip(item["Layers"], diff_ids):
            entry = arc.resolve(path, "manifest.json")
            named = _HEX_NAME.fullmatch(path) if path.startswith("blobs/") else None
            if named and named.group(1) != entry.digest[7:]:
                raise BadArchive(f"layer {path!r} has digest {entry.digest}, not the one its name says")
            layers.append((path, entry, diff_id))
        names = item.get("RepoTags") or []
        if not isinstance(names, list):
            raise BadArchive(f"manifest.json has RepoTags {names!r}, not a list")
        tags = [_tag(t, "manifest.json") for t in names]
        plans.append(_Plan(config, layers, tags))
    return plans


def _descriptor(desc: object, named_by: str) -> dict:
    if not isinstance(desc, dict) or not isinstance(desc.get("digest"), str) or not isinstance(desc.get("size"), int):
        raise BadArchive(f"{named_by} has an invalid descriptor")
    if not _DIGEST.fullmatch(desc["digest"]):
        raise BadArchive(f"{named_by} names blob {desc['digest']!r}: only sha256 digests are supported")
    return desc


def _blob(arc: _Archive, desc: dict, named_by: str) -> _Entry:
    """The blob a descriptor names, its digest and size checked against the descriptor."""
    path = "blobs/sha256/" + desc["digest"][7:]
    entry = arc.resolve(path, named_by)
    if entry.digest != desc["digest"]:
        raise BadArchive(f"blob {path!r} has digest {entry.digest}, not the {desc['digest']} {named_by} names")
    if entry.size != desc["size"]:
        raise BadArchive(f"blob {path!r} is {entry.size} bytes, not the {desc['size']} {named_by} says")
    return entry


def _blob_json(arc: _Archive, desc: dict, named_by: str, what: str) -> tuple[bytes, object]:
    if desc["size"] > MAX_JSON:
        raise BadArchive(f"{what} {desc['digest']} is {desc['size']} bytes, more than the {MAX_JSON} a {what} "
                         "may have")
    entry = _blob(arc, desc, named_by)
    data = arc.read_bytes(entry)
    return data, _parse(data, f"{what} {desc['digest']}")


def _oci_plans(arc: _Archive) -> list[_Plan]:
    _, layout = arc.json("oci-layout", "the archive", "oci-layout")
    version = layout.get("imageLayoutVersion") if isinstance(layout, dict) else None
    if not isinstance(version, str) or not version.startswith("1."):
        raise BadArchive(f"oci-layout has image layout version {version!r}, not 1.x")
    _, index = arc.json("index.json", "the archive", "index")
    if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
        raise BadArchive("index.json has no manifests list")
    by_digest: dict[str, _Plan] = {}
    for desc in index["manifests"]:
        desc = _descriptor(desc, "index.json")
        tags = [_tag(n, "index.json") for n in _names(desc)]
        plan = by_digest.get(desc["digest"])
        if plan is None:
            by_digest[desc["digest"]] = _oci_plan(arc, desc, "index.json", tags, depth=0)
        else:
            plan.tags += [t for t in tags if t not in plan.tags]
    return list(by_digest.values())


def _names(desc: dict) -> list[str]:
    """The image's name from its index entry: containerd's full name, else ref.name when it is a full
    reference (a bare tag like "1.0" names no repository, so it names nothing here)."""
    notes = desc.get("annotations")
    if not isinstance(notes, dict):
        return []
    if isinstance(notes.get(CONTAINERD_NAME), str):
        return [notes[CONTAINERD_NAME]]
    ref = notes.get(REF_NAME)
    if isinstance(ref, str) and (":" in ref or "/" in ref):
        return [ref]
    return []


def _oci_plan(arc: _Archive, desc: dict, named_by: str, tags: list[str], depth: int) -> _Plan:
    if desc.get("mediaType") in INDEX_TYPES:
        if depth > 2:
            raise BadArchive(f"{named_by} nests image indexes too deeply")
        _, nested = _blob_json(arc, desc, named_by, "image index")
        return _oci_plan(arc, _for_this_platform(nested, desc["digest"]), f"image index {desc['digest']}", tags,
                         depth + 1)
    _, manifest = _blob_json(arc, desc, named_by, "manifest")
    what = f"manifest {desc['digest']}"
    if not isinstance(manifest, dict) or not isinstance(manifest.get("layers"), list):
        raise BadArchive(f"{what} has no layers list")
    config_desc = _descriptor(manifest.get("config"), what)
    config, parsed = _blob_json(arc, config_desc, what, "config")
    diff_ids = _diff_ids(parsed, f"config {config_desc['digest']}")
    if len(diff_ids) != len(manifest["layers"]):
        raise BadArchive(f"{what} lists {len(manifest['layers'])} layers, but its config's rootfs.diff_ids has "
                         f"{len(diff_ids)}")
    layers = []
    for layer_desc, diff_id in zip(manifest["layers"], diff_ids):
        layer_desc = _descriptor(layer_desc, what)
        layers.append(("blobs/sha256/" + layer_desc["digest"][7:], _blob(arc, layer_desc, what), diff_id))
    return _Plan(config, layers, tags)


def _for_this_platform(index: object, digest: str) -> dict:
    manifests = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(manifests, list):
        raise BadArchive(f"image index {digest} has no manifests list")
    arch = oci.go_arch()
    for desc in manifests:
        platform = desc.get("platform") if isinstance(desc, dict) else None
        if isinstance(platform, dict) and platform.get("os") == "linux" and platform.get("architecture") == arch:
            return _descriptor(desc, f"image index {digest}")
    raise BadArchive(f"image index {digest} has no image for linux/{arch}")


# load: into the store ------------------------------------------------------------------------------------


def load(store: Store, src: BinaryIO) -> list[tuple[str, list[str]]]:
    """Load every image of a docker-archive or OCI-layout tarball (plain or compressed) read from `src`;
    returns (image ID, names) per image. All or nothing: any error leaves the store as it was."""
    from corral.image import gc

    tmpdir = store.mkdtemp("load-")
    try:
        with gc.writing(store):
            arc = _Archive(store, tmpdir)
            arc.read(src)
            if arc.has("manifest.json"):
                plans = _docker_plans(arc)
            elif arc.has("oci-layout") and arc.has("index.json"):
                plans = _oci_plans(arc)
            else:
                raise BadArchive("not an image archive: found neither manifest.json (docker-archive) nor "
                                 "oci-layout and index.json (OCI layout) at its root")
            if not plans:
                raise BadArchive("the archive holds no image")
            added: dict[str, Layer] = {}
            staged = [(plan, _add_layers(store, arc, plan, added)) for plan in plans]
            failpoints.hit("load.layers")
            return [(oci.register_image(store, plan.config, layers, plan.tags), plan.tags)
                    for plan, layers in staged]
    finally:
        remove_tree(tmpdir)


def _add_layers(store: Store, arc: _Archive, plan: _Plan, added: dict[str, Layer]) -> list[Layer]:
    """The plan's layers in the store. One the store already has (same chain ID) is not stored or
    unpacked again, only checked against its diff_id (free for an uncompressed tar: it was hashed
    while the archive was read)."""
    layers: list[Layer] = []
    parent = None
    for path, entry, diff_id in plan.layers:
        cid = chain_id(parent, diff_id)
        layer = added.get(cid) or stored_layer(store, cid)
        if layer is None:
            layer = _from_entry(arc, entry, path, lambda tar: add_layer(store, tar, parent, diff_id=diff_id))
        elif entry.digest != diff_id and not entry.checked:
            _from_entry(arc, entry, path, lambda tar: _check_diff_id(tar, diff_id))
            entry.checked = True  # once, however many images name it
        added[cid] = layer
        layers.append(layer)
        parent = cid
    return layers


def _from_entry(arc: _Archive, entry: _Entry, path: str, use):  # noqa: ANN001, ANN202
    """use(the entry's layer tar, decompressed), with its errors named after the entry."""
    f = arc.open(entry)
    try:
        return use(open_stream(f))
    except (UnsafeArchive, DigestMismatch) as e:
        raise BadArchive(f"layer {path!r}: {e}") from None
    finally:
        if entry.path:
            f.close()


def _check_diff_id(tar: BinaryIO, diff_id: str) -> None:
    h = hashlib.sha256()
    while chunk := tar.read(CHUNK):
        h.update(chunk)
    if "sha256:" + h.hexdigest() != diff_id:
        raise DigestMismatch(f"layer content has digest sha256:{h.hexdigest()}, not the {diff_id} its image "
                             "config names")


# files in and out ----------------------------------------------------------------------------------------


class output:  # noqa: N801 - used like a function: `with output(dest) as f:`
    """A binary stream to write an archive to: `dest` itself when it is a stream, else a temporary file
    renamed to the path `dest` on success and removed on failure, so no half archive is ever left."""

    def __init__(self, dest: str | os.PathLike | BinaryIO) -> None:
        self.dest = os.fspath(dest) if isinstance(dest, os.PathLike) else dest
        self.tmp = ""

    def __enter__(self) -> BinaryIO:
        if not isinstance(self.dest, str):
            return self.dest
        if os.path.isdir(self.dest):
            raise InvalidArgument(f"{self.dest} is a directory")
        from corral.store.fsutil import writer_id

        self.tmp = f"{self.dest}.tmp-{writer_id()}"
        try:
            self.f = open(self.tmp, "wb")
        except OSError as e:
            raise APIError(f"cannot write {self.dest}: {e.strerror}") from None
        return self.f

    def __exit__(self, kind, value, tb) -> bool:  # noqa: ANN001
        if not self.tmp:
            return False
        done = False
        try:
            if kind is None:
                self.f.flush()
                os.fsync(self.f.fileno())
            self.f.close()
            if kind is None:
                os.rename(self.tmp, self.dest)  # type: ignore[arg-type]
                done = True
        except OSError as e:
            raise APIError(f"cannot write {self.dest}: {e.strerror}") from None
        finally:
            if not done:
                try:
                    os.unlink(self.tmp)
                except FileNotFoundError:
                    pass
        if isinstance(value, OSError) and value.errno is not None and not isinstance(value, BrokenPipeError):
            raise APIError(f"cannot write {self.dest}: {value.strerror}") from None  # e.g. the disk is full
        return False


def source(src: str | os.PathLike | BinaryIO) -> BinaryIO:
    """A binary stream to read from: the stream itself, or the file at path `src`."""
    if isinstance(src, os.PathLike):
        src = os.fspath(src)
    if not isinstance(src, str):
        return src
    try:
        return open(src, "rb")
    except FileNotFoundError:
        from corral.errors import NotFound

        raise NotFound(f"no such file: {src}") from None
    except IsADirectoryError:
        raise InvalidArgument(f"{src} is a directory, not an archive") from None
    except OSError as e:
        raise APIError(f"cannot read {src}: {e.strerror}") from None
