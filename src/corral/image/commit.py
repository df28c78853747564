"""A container's sandbox as changes and as one OCI layer: `corral diff` and `corral commit`.

The sandbox is the overlay upper directory, which already holds exactly the
container's own writes, in overlayfs's format: a deleted file is a 0/0
character device, a directory whose lower contents were discarded carries
the `trusted.overlay.opaque` xattr. A commit layer is that tree written as a
tar with those turned into OCI whiteouts (`.wh.NAME`, `.wh..wh..opq`); the
base image is never read, so the layer costs what was written, whatever the
image's size.
"""
from __future__ import annotations

import os
import stat

from corral.image.extract import OPAQUE, WHITEOUT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO, Iterator

    from corral.image.layers import Layer
    from corral.store.root import Store

_OVERLAY_XATTR = "trusted.overlay."


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
    except OSError:
        return False


def _walk(upper: str, skip: set[str]) -> Iterator[tuple[str, str, os.stat_result]]:
    """(relative path, full path, lstat) of every entry of the sandbox, parents first, sorted:
    the same sandbox always gives the same tar, byte for byte."""
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        full_dir = os.path.join(upper, rel_dir)
        subdirs = []
        for name in sorted(os.listdir(full_dir)):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if "/" + rel in skip:
                continue
            full = os.path.join(full_dir, name)
            st = os.lstat(full)
            yield rel, full, st
            if stat.S_ISDIR(st.st_mode):
                subdirs.append(rel)
        stack.extend(reversed(subdirs))


def _in_lower(rel: str, lower_dirs: list[str]) -> bool:
    """Whether the image (layers top first, overlay format) has `rel`, honouring whiteouts and
    opaque directories the way overlayfs does."""
    parts = rel.split("/")
    for layer in lower_dirs:
        path = os.path.join(layer, rel)
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            # an opaque parent in this layer hides everything below it
            for i in range(len(parts) - 1, 0, -1):
                if _is_opaque(os.path.join(layer, *parts[:i])):
                    return False
            continue
        return not _is_whiteout(st)
    return False


def _lower_children(rel: str, lower_dirs: list[str]) -> list[str]:
    """Names visible in the image's directory `rel`."""
    seen: dict[str, bool] = {}
    for layer in lower_dirs:
        path = os.path.join(layer, rel)
        try:
            names = os.listdir(path)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in names:
            if name not in seen:
                seen[name] = not _is_whiteout(os.lstat(os.path.join(path, name)))
        if _is_opaque(path):
            break
    return sorted(n for n, visible in seen.items() if visible)


def changes(upper: str, lower_dirs: list[str], skip: set[str]) -> list[tuple[str, str]]:
    """`docker diff`: ("A"|"C"|"D", "/path") for each path the container added, changed or deleted.

    skip holds the container's mount points (/etc/hosts…): corral put them
    there, the container did not write them.
    """
    found = []
    for rel, full, st in _walk(upper, skip):
        if _is_whiteout(st):
            found.append(("D", "/" + rel))
            continue
        existed = _in_lower(rel, lower_dirs)
        found.append(("C" if existed else "A", "/" + rel))
        if existed and stat.S_ISDIR(st.st_mode) and _is_opaque(full):
            present = set(os.listdir(full))
            found += [("D", f"/{rel}/{n}") for n in _lower_children(rel, lower_dirs) if n not in present]
    return sorted(found, key=lambda change: change[1])


def write_layer(upper: str, out: BinaryIO, skip: set[str]) -> None:
    """The sandbox as an uncompressed OCI layer tar: whiteouts converted, hard links kept as links,
    owners numeric, modes, times and xattrs (overlayfs's own excepted) preserved."""
    import tarfile

    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for rel, full, st in _walk(upper, skip):
            if _is_whiteout(st):
                parent, name = os.path.split(rel)
                info = tarfile.TarInfo(os.path.join(parent, WHITEOUT + name))
                info.mtime = int(st.st_mtime)
                tar.addfile(info)
                continue
            info = tar.gettarinfo(full, rel)  # a second name of an inode already written is a hard link
            info.uname = info.gname = ""
            info.mtime = int(st.st_mtime)
            if info.ischr() or info.isblk():
                info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            xattrs = _xattrs(full)
            if xattrs:
                info.pax_headers = xattrs
            if info.isreg():
                with open(full, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
            if info.isdir() and _is_opaque(full):
                marker = tarfile.TarInfo(f"{rel}/{OPAQUE}")
                marker.mtime = info.mtime
                tar.addfile(marker)


def _xattrs(path: str) -> dict[str, str]:
    """PAX records for the file's xattrs; values are bytes carried through surrogateescape, as the
    extractor reads them."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    found = {}
    for name in sorted(names):
        if name.startswith(_OVERLAY_XATTR):
            continue
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
        found["SCHILY.xattr." + name] = value.decode("utf-8", "surrogateescape")
    return found


def stored_layers(store: "Store", image_id: str) -> list["Layer"]:
    """The image's layers as layers.Layer records, base first."""
    from corral.image import repo
    from corral.image.layers import Layer

    found = []
    for chain in repo.layer_chain(store, repo.top_layer(store, image_id)):
        chain_id, diff_id, parent, blob, media_type, size = store.query(
            "SELECT chain_id, diff_id, parent, blob_digest, media_type, size FROM layers WHERE chain_id=?",
            (chain,))[0]
        found.append(Layer(chain_id, diff_id, parent, blob, media_type, size,
                           os.path.getsize(store.blob_path(blob))))
    return found


def commit(store: "Store", upper: str, skip: set[str], base_image_id: str, container_config: dict,
           tags: list[str], *, author: str = "", message: str = "", created_by: str = "") -> str:
    """One new image: the base image's layers plus the sandbox as one layer; returns its ID.

    container_config is the new image's `config` (what the container ran
    with, changes applied); the history gains one entry, as `docker commit`
    writes it.
    """
    from corral.image import gc, oci, repo
    from corral.image.layers import add_layer
    from corral.timestamps import rfc3339

    with gc.writing(store):
        base = repo.config(store, base_image_id)
        layers = stored_layers(store, base_image_id)
        tmpdir = store.mkdtemp("commit-")
        try:
            path = os.path.join(tmpdir, "layer.tar")
            with open(path, "wb") as out:
                write_layer(upper, out, skip)
            with open(path, "rb") as src:
                layer = add_layer(store, src, layers[-1].chain_id if layers else None)
        finally:
            from corral.store.fsutil import remove_tree

            remove_tree(tmpdir)
        created = rfc3339()
        entry = {"created": created, "created_by": created_by}
        if author:
            entry["author"] = author
        if message:
            entry["comment"] = message
        history = list(base.get("history") or []) + [entry]
        config = oci.new_config(layers + [layer], container_config, history, created)
        if author:
            config["author"] = author
        return oci.register_image(store, config, layers + [layer], tags)


_CHANGEABLE = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "USER", "WORKDIR", "VOLUME", "STOPSIGNAL", "ONBUILD")


def apply_changes(config: dict, changes: list[str]) -> dict:
    """`docker commit -c`: Dockerfile instructions that change only the image config."""
    from corral import fastjson as json
    from corral.errors import InvalidArgument

    config = dict(config)
    for change in changes:
        word, _, rest = change.strip().partition(" ")
        word, rest = word.upper(), rest.strip()
        if word not in _CHANGEABLE:
            raise InvalidArgument(f"{word or change!r} is not a valid change: use one of {', '.join(_CHANGEABLE)}")

        def as_list() -> list[str]:
            if rest.startswith("["):
                try:
                    value = json.loads(rest)
                except ValueError:
                    raise InvalidArgument(f"{change!r}: not a valid JSON array") from None
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise InvalidArgument(f"{change!r}: the JSON array must hold strings")
                return value
            return ["/bin/sh", "-c", rest]

        if word in ("CMD", "ENTRYPOINT"):
            config["Cmd" if word == "CMD" else "Entrypoint"] = as_list()
        elif word in ("ENV", "LABEL"):
            pairs = _pairs(rest, change)
            if word == "ENV":
                env = [e for e in config.get("Env") or [] if e.split("=", 1)[0] not in pairs]
                config["Env"] = env + [f"{k}={v}" for k, v in pairs.items()]
            else:
                config["Labels"] = dict(config.get("Labels") or {}, **pairs)
        elif word in ("EXPOSE", "VOLUME"):
            items = as_list() if rest.startswith("[") else rest.split()
            key = "ExposedPorts" if word == "EXPOSE" else "Volumes"
            if word == "EXPOSE":
                items = [p if "/" in p else p + "/tcp" for p in items]
            config[key] = dict(config.get(key) or {}, **{i: {} for i in items})
        elif word == "ONBUILD":
            config["OnBuild"] = list(config.get("OnBuild") or []) + [rest]
        else:
            config[{"USER": "User", "WORKDIR": "WorkingDir", "STOPSIGNAL": "StopSignal"}[word]] = rest
    return config


def _pairs(text: str, change: str) -> dict[str, str]:
    """K=V pairs (quotes allowed), or Dockerfile's legacy `K V` form."""
    import shlex

    from corral.errors import InvalidArgument

    try:
        words = shlex.split(text)
    except ValueError as e:
        raise InvalidArgument(f"{change!r}: {e}") from None
    if words and "=" not in words[0]:
        return {words[0]: text.split(None, 1)[1] if len(words) > 1 else ""}
    if not words or not all("=" in w for w in words):
        raise InvalidArgument(f"{change!r}: expected KEY=VALUE")
    return dict(w.split("=", 1) for w in words)
