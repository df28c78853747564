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
from corral.store.fsutil import read_beneath
from corral.store.merged import MergedTree, is_opaque, is_whiteout

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO, Iterator

    from corral.store.root import Store

_OVERLAY_XATTR = "trusted.overlay."


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


def mount_stubs(upper: str, mount_points: set[str]) -> set[str]:
    """The mount points, plus each directory that is in the sandbox only to hold them (created for
    them, or copied up from the image when they were): the runtime wrote those, not the container,
    so no diff or commit shows them."""
    stubs = set(mount_points)
    for point in sorted(mount_points, key=len, reverse=True):
        parent = os.path.dirname(point)
        while parent != "/":
            full = os.path.join(upper, parent.lstrip("/"))
            try:
                names = os.listdir(full)
            except (FileNotFoundError, NotADirectoryError):
                break
            if any(f"{parent}/{n}" not in stubs for n in names):
                break
            stubs.add(parent)
            parent = os.path.dirname(parent)
    return stubs


def changes(upper: str, lower_dirs: list[str], skip: set[str]) -> list[tuple[str, str]]:
    """`docker diff`: ("A"|"C"|"D", "/path") for each path the container added, changed or deleted.

    skip holds the container's mount points (/etc/hosts…): corral put them
    there, the container did not write them.
    """
    image = MergedTree(lower_dirs)
    found = []
    for rel, full, st in _walk(upper, skip):
        if is_whiteout(st):
            found.append(("D", "/" + rel))
            continue
        existed = image.lookup(rel) is not None
        found.append(("C" if existed else "A", "/" + rel))
        if existed and stat.S_ISDIR(st.st_mode) and is_opaque(full):
            present = set(os.listdir(full))
            found += [("D", f"/{rel}/{n}") for n in image.listdir(rel) if n not in present]
    return sorted(found, key=lambda change: change[1])


def changes_size(upper: str, skip: set[str]) -> int:
    """Bytes the container wrote (docker's SizeRw): every file of the sandbox but whiteouts and
    directories, a hard-linked inode once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for _, _, st in _walk(upper, skip):
        if stat.S_ISDIR(st.st_mode) or is_whiteout(st) or (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        total += st.st_size
    return total


def write_layer(upper: str, out: BinaryIO, skip: set[str], clamp_mtime: int | None = None) -> None:
    """The sandbox as an uncompressed OCI layer tar: whiteouts converted, hard links kept as links,
    owners numeric, modes, times and xattrs (overlayfs's own excepted) preserved. clamp_mtime
    (SOURCE_DATE_EPOCH) caps every time, so a rebuild gives the same bytes."""
    import tarfile

    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for rel, full, st in _walk(upper, skip):
            if is_whiteout(st):
                parent, name = os.path.split(rel)
                info = tarfile.TarInfo(os.path.join(parent, WHITEOUT + name))
                info.mtime = _clamp(st.st_mtime, clamp_mtime)
                tar.addfile(info)
                continue
            info = tar.gettarinfo(full, rel)  # a second name of an inode already written is a hard link
            info.uname = info.gname = ""
            info.mtime = _clamp(st.st_mtime, clamp_mtime)
            if info.ischr() or info.isblk():
                info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            records = xattrs(full)
            if records:
                info.pax_headers = records
            if info.isreg():
                with read_beneath(upper, rel, info.size) as f:  # with --pause=false the container may race
                    tar.addfile(info, f)  # type: ignore[arg-type]
            else:
                tar.addfile(info)
            if info.isdir() and is_opaque(full):
                marker = tarfile.TarInfo(f"{rel}/{OPAQUE}")
                marker.mtime = info.mtime
                tar.addfile(marker)


def _clamp(mtime: float, limit: int | None) -> int:
    return int(mtime) if limit is None else min(int(mtime), limit)


def xattrs(path: str) -> dict[str, str]:
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


def commit(store: "Store", upper: str, skip: set[str], base_image_id: str, container_config: dict,
           tags: list[str], *, author: str = "", message: str = "", created_by: str = "",
           created: str | None = None, clamp_mtime: int | None = None, history_extra: dict | None = None) -> str:
    """One new image: the base image's layers plus the sandbox as one layer; returns its ID.

    container_config is the new image's `config` (what the container ran
    with, changes applied); the history gains one entry, as `docker commit`
    writes it.
    """
    from corral import failpoints
    from corral.image import gc, oci, repo
    from corral.store.root import store_errors
    from corral.image.layers import add_layer, image_layers
    from corral.timestamps import rfc3339

    with gc.writing(store):
        base = repo.config(store, base_image_id)
        layers = image_layers(store, base_image_id)
        tmpdir = store.mkdtemp("commit-")
        try:
            path = os.path.join(tmpdir, "layer.tar")
            with store_errors(store.root), open(path, "wb") as out:  # a full disk: one line, tmpdir removed
                write_layer(upper, out, skip, clamp_mtime)
            failpoints.hit("commit.tar")
            with open(path, "rb") as src:
                layer = add_layer(store, src, layers[-1].chain_id if layers else None)
        finally:
            from corral.store.fsutil import remove_tree

            remove_tree(tmpdir)
        created = created or rfc3339()
        entry = {"created": created, "created_by": created_by, **(history_extra or {})}
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
