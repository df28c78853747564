"""Unpack OCI image layer tarballs into overlayfs lower directories, refusing any archive that could write outside its destination."""
from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO, Callable

from corral.errors import InvalidArgument
from corral.store.fsutil import remove_tree

MAX_MEMBER_SIZE = 64 << 30  # no real layer holds a bigger file; a header saying so is hostile or corrupt
CHUNK = 1 << 20
OPAQUE = ".wh..wh..opq"
AUFS_META = ".wh..wh."
WHITEOUT = ".wh."
XATTR = "SCHILY.xattr."
_VERIFIED = "\0verified"  # dir_meta's entry for the set of parents already checked (no path has a NUL)
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"


class UnsafeArchive(InvalidArgument):
    """The layer is malformed or tries to escape its directory; nothing outside dest was touched."""


def _corrupt(err: object, what: str = "layer archive") -> UnsafeArchive:
    return UnsafeArchive(f"{what} is truncated or corrupt: {err}")


class _Reader:
    """read()-only stream that puts back the sniffed magic bytes (so pipes work) and reports decoder
    failures as UnsafeArchive, so a bad blob is never mistaken for a disk error. codec is what
    open_stream found ("gzip", "zstd", "bzip2", "xz"), None for plain input."""

    def __init__(self, head: bytes, raw, errors: tuple = (), what: str = "layer archive",
                 codec: str | None = None):
        self.head, self.raw, self.errors, self.what, self.codec = head, raw, errors, what, codec

    def read(self, n: int = -1) -> bytes:
        if self.head:
            out = self.head if n < 0 else self.head[:n]
            self.head = self.head[len(out):]
            return out
        try:
            return self.raw.read(n)
        except self.errors as e:
            raise _corrupt(e, self.what) from e


def open_stream(f, what: str = "layer archive") -> _Reader:
    """Plain, gzip, zstd (if `zstandard` is importable), bzip2 or xz input as an uncompressed stream.

    The decompressor is picked from magic bytes, not from media types or file
    names, which registries and users get wrong; decoder failures surface as
    UnsafeArchive ("`what` is truncated or corrupt"), never as a traceback.
    Shared by layers, `corral import` and `corral load`.
    """
    import zlib

    head = b""
    while len(head) < 10 and (more := f.read(10 - len(head))):
        head += more
    raw = _Reader(head, f)
    if head.startswith(GZIP_MAGIC):
        import gzip

        return _Reader(b"", gzip.GzipFile(fileobj=raw, mode="rb"), (EOFError, OSError, zlib.error), what, "gzip")
    if head.startswith(ZSTD_MAGIC):
        try:
            import zstandard
        except ImportError:
            raise UnsafeArchive(f"{what} is zstd-compressed, which needs the 'zstandard' module (not installed)") from None
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        return _Reader(b"", reader, (EOFError, OSError, zstandard.ZstdError), what, "zstd")
    if head[:3] == BZIP2_MAGIC and head[3:4].isdigit() and head[4:10] == b"1AY&SY":  # not a file named BZh…
        import bz2

        return _Reader(b"", bz2.BZ2File(raw), (EOFError, OSError), what, "bzip2")  # type: ignore[arg-type]
    if head.startswith(XZ_MAGIC):
        import lzma

        return _Reader(b"", lzma.LZMAFile(raw), (EOFError, OSError, lzma.LZMAError), what,  # type: ignore[arg-type]
                       "xz")
    return _Reader(b"", raw, (OSError,), what)


def _normalise(name: str, entry: str, *, strip_root: bool = False) -> str:
    """Canonical relative path; hard-link targets may start with '/' (tar names them from the root)."""
    if "\0" in name:
        raise UnsafeArchive(f"entry {entry!r} contains a NUL byte")
    if name.startswith("/"):
        if not strip_root:
            raise UnsafeArchive(f"entry {entry!r} has an absolute path")
        name = name.lstrip("/")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(f"entry {entry!r} has a '..' component")
    return "/".join(parts)


def _walk_parents(dest: str, rel: str, entry: str, *, create: bool, verified: set[str] | None = None) -> str:
    """Return the absolute path of rel, having checked that every parent under dest is a real
    directory: a symlinked parent would let a later write land anywhere on the host.

    `verified` remembers directories already checked in this layer (until _make_room removes
    one), so a deeply nested layer costs linear, not cubic, time."""
    path = dest
    for comp in rel.split("/")[:-1]:
        path = os.path.join(path, comp)
        if verified is not None and path in verified:
            continue
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            if not create:
                raise
            os.mkdir(path)
            os.chmod(path, 0o755)  # not left to the umask: every container user must traverse it
            if verified is not None:
                verified.add(path)
            continue
        if stat.S_ISLNK(st.st_mode):
            raise UnsafeArchive(f"entry {entry!r} escapes through symlink {path[len(dest):]!r}")
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafeArchive(f"entry {entry!r}: parent {path[len(dest):]!r} is not a directory")
        if verified is not None:
            verified.add(path)
    return os.path.join(dest, rel) if rel else dest


def _make_room(path: str, is_dir: bool, dir_meta: dict) -> bool:
    """Clear path for a new entry, as later layer entries replace earlier ones; never follows a
    symlink. Returns True when an existing directory is kept (directory over directory)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(st.st_mode):
        if is_dir:
            return True
        remove_tree(path)  # not shutil.rmtree: it recurses, and a hostile layer can nest thousands deep
        for p in [p for p in dir_meta if p == path or p.startswith(path + "/")]:
            del dir_meta[p]
        verified = dir_meta.get(_VERIFIED)
        if verified:
            verified.difference_update([p for p in verified if p == path or p.startswith(path + "/")])
    else:
        os.unlink(path)
    return False


def _set_xattrs(path: str, m, skip) -> None:
    for key, value in m.pax_headers.items():
        if not key.startswith(XATTR):
            continue
        attr = key[len(XATTR):]
        if attr.startswith("trusted.overlay."):
            # overlayfs control data (redirects, metacopy, opaque) must come from our own whiteout handling
            skip(m.name, f"overlay xattr {attr} not allowed in a layer")
            continue
        try:
            os.setxattr(path, attr, value.encode("utf-8", "surrogateescape"), follow_symlinks=False)
        except OSError as e:
            import errno

            if e.errno != errno.EOPNOTSUPP:
                raise


def _chown_and_xattrs(path: str, m, skip) -> None:
    os.chown(path, m.uid, m.gid, follow_symlinks=False)  # numeric ids only: host names mean nothing here
    _set_xattrs(path, m, skip)


def _set_mtime(path: str, mtime: float) -> None:
    ns = int(mtime * 1_000_000_000)
    os.utime(path, ns=(ns, ns), follow_symlinks=False)


def _set_dir_meta(path: str, mode: int, mtime: float) -> None:
    """A directory's mode and mtime, through an fd opened without following a link (chmod with
    follow_symlinks=False needs /proc in glibc, which a container's root as api/archive.py enters lacks)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.chmod(fd, mode)
        ns = int(mtime * 1_000_000_000)
        os.utime(fd, ns=(ns, ns))
    finally:
        os.close(fd)


def _header_class(tarfile, what: str = "layer archive"):
    class _StrictHeader(tarfile.TarInfo):
        """tarfile silently ends the archive at a garbled or partial header; a layer must not."""

        @classmethod
        def fromtarfile(cls, tf):
            try:
                return super().fromtarfile(tf)
            except (tarfile.EOFHeaderError, tarfile.EmptyHeaderError):
                raise  # end-of-archive block, or a clean EOF at a header boundary (as Go's archive/tar)
            except tarfile.HeaderError as e:
                raise _corrupt(e, what) from None

    return _StrictHeader


def extract_layer(
    src: "BinaryIO | str",
    dest: str,
    *,
    allow_devices: bool = False,
    on_skip: Callable[[str, str], None] | None = None,
    recorder=None,  # noqa: ANN001 - a tarsplit.Recorder reading src: told where each file's content went
) -> int:
    """Unpack one OCI image layer tarball (plain, gzip, or zstd if `zstandard` is importable) into
    the existing directory `dest`, converting OCI whiteouts to overlayfs ones so `dest` can be a
    lower directory. Returns the number of file-data bytes written.

    The archive is streamed (never buffered) and treated as hostile: entries that could write
    outside dest raise UnsafeArchive. Device nodes are skipped unless allow_devices (a container's
    /dev is a fresh tmpfs anyway); each skipped entry is reported to on_skip(name, reason).
    On any error dest is left half-written: the CALLER must delete it.
    """
    import tarfile

    own = isinstance(src, str)
    f = open(src, "rb") if own else src
    try:
        stream = open_stream(f)
        try:
            tf = tarfile.open(fileobj=stream, mode="r|", tarinfo=_header_class(tarfile))
            written = _extract_all(tf, os.path.abspath(dest), allow_devices, on_skip, recorder)
            while stream.read(CHUNK):
                pass  # reach the gzip/zstd trailer so its checksum is verified
        except tarfile.TarError as e:
            raise _corrupt(e) from None
    finally:
        if own:
            f.close()
    return written


class Plain:
    """How extract_tree differs from a layer: names as written (".wh." files are files), entries renamed
    (docker cp's rebase), owners replaced, set-id bits dropped, and docker's NoOverwriteDirNonDir."""

    __slots__ = ("rename", "owner", "strip_setid", "no_overwrite_dir_non_dir")

    def __init__(self, rename: Callable[[str], str] | None = None, owner: tuple[int, int] | None = None,
                 strip_setid: bool = False, no_overwrite_dir_non_dir: bool = False) -> None:
        self.rename, self.owner, self.strip_setid = rename, owner, strip_setid
        self.no_overwrite_dir_non_dir = no_overwrite_dir_non_dir


def extract_tree(src: "BinaryIO", dest: str, plain: Plain | None = None,
                 on_skip: Callable[[str, str], None] | None = None) -> int:
    """Unpack a tar of files (plain, gzip, bzip2, xz) into the existing directory dest, as `docker cp`
    and PUT /containers/{id}/archive do: the same hostile-archive rules as a layer (nothing
    absolute, no "..", no write through a link, no device nodes), but no whiteouts, and an entry
    "." does not touch dest itself. On error, dest keeps what was written before it."""
    import tarfile

    plain = plain or Plain()
    stream = open_stream(src, "archive")
    try:
        tf = tarfile.open(fileobj=stream, mode="r|", tarinfo=_header_class(tarfile, "archive"))
        written = _extract_all(tf, os.path.abspath(dest), False, on_skip, None, plain)
        while stream.read(CHUNK):
            pass
    except tarfile.TarError as e:
        raise _corrupt(e, "archive") from None
    return written


# What an entry's own name, link or kind can make the kernel refuse (as opposed to a full disk or an I/O error).
_ARCHIVE_ERRNOS = frozenset({errno.ENAMETOOLONG, errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EEXIST,
                             errno.ELOOP, errno.EINVAL, errno.ENOTEMPTY, errno.EPERM, errno.EMLINK})


def _extract_all(tf, dest: str, allow_devices: bool, on_skip, recorder,  # noqa: ANN001
                 plain: Plain | None = None) -> int:
    skip = on_skip or (lambda name, reason: None)
    written = 0
    dir_meta: dict = {_VERIFIED: set()}  # mode and mtime of each directory, applied last; checked parents
    while (m := tf.next()) is not None:
        tf.members.clear()  # tarfile keeps every header otherwise: memory would grow with the layer
        try:
            if plain is not None:
                written += _extract_plain(tf, m, dest, dir_meta, skip, plain)
                continue
            written += _extract_one(tf, m, dest, dir_meta, allow_devices, skip, recorder)
        except (OverflowError, ValueError) as e:  # e.g. an mtime or uid no syscall can take
            raise UnsafeArchive(f"entry {m.name!r} has an invalid header field: {e}") from None
        except OSError as e:
            if e.errno not in _ARCHIVE_ERRNOS:
                raise  # the disk, not the archive: the caller reports it as such
            raise UnsafeArchive(f"entry {m.name!r} cannot be created: {e.strerror}") from None
    del dir_meta[_VERIFIED]
    for path, (mode, mtime) in dir_meta.items():
        _set_dir_meta(path, mode, mtime)
    return written


def _extract_plain(tf, m, dest: str, dir_meta: dict, skip, plain: Plain) -> int:  # noqa: ANN001
    """One entry of extract_tree: renamed, checked for dir/non-dir replacement, then made as a layer's
    entry is (with no whiteout meaning to any name)."""
    if plain.rename is not None:
        m.name = plain.rename(m.name)
        if m.islnk():
            m.linkname = plain.rename(m.linkname)
    rel = _normalise(m.name, m.name)
    if not rel:
        if not m.isdir():
            raise UnsafeArchive(f"entry {m.name!r} would replace the destination directory")
        return 0  # "." is the destination itself, which stays as it is
    if plain.owner is not None:
        m.uid, m.gid = plain.owner
    if plain.strip_setid:
        m.mode &= ~(stat.S_ISUID | stat.S_ISGID)
    if plain.no_overwrite_dir_non_dir:
        try:
            is_dir = stat.S_ISDIR(os.lstat(os.path.join(dest, rel)).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            pass
        else:
            if is_dir != m.isdir():
                what = ("directory", "non-directory") if is_dir else ("non-directory", "directory")
                raise InvalidArgument(f"cannot overwrite {what[0]} {'/' + rel!r} with {what[1]} {m.name!r}")
    return _extract_one(tf, m, dest, dir_meta, False, skip, plain=True)


def _extract_one(tf, m, dest: str, dir_meta: dict, allow_devices: bool, skip, recorder=None,  # noqa: ANN001
                 plain: bool = False) -> int:
    """Create one entry; returns the file-data bytes written."""
    rel = _normalise(m.name, m.name)
    *parents, base = rel.split("/")
    if recorder is not None and rel and base != OPAQUE:
        hidden = base[len(WHITEOUT):] if base.startswith(WHITEOUT) else None
        kept_dir = m.isdir() and not hidden and os.path.isdir(os.path.join(dest, rel)) and \
            not os.path.islink(os.path.join(dest, rel))  # a directory entry over a directory removes nothing
        if not kept_dir:
            recorder.replacing("/".join(parents + [hidden]) if hidden else rel)
    if plain:
        pass  # a file named .wh.x is a file
    elif any(p.startswith(AUFS_META) for p in parents) or (base.startswith(AUFS_META) and base != OPAQUE):
        skip(m.name, "aufs metadata")  # .wh..wh.plnk and the like mean nothing to overlayfs
        return 0
    elif base == OPAQUE:
        path = _walk_parents(dest, rel, m.name, create=True, verified=dir_meta[_VERIFIED])
        os.setxattr(os.path.dirname(path), "trusted.overlay.opaque", b"y", follow_symlinks=False)
        return 0
    path = _walk_parents(dest, rel, m.name, create=True, verified=dir_meta[_VERIFIED])
    if base.startswith(WHITEOUT) and not plain:
        hidden = base[len(WHITEOUT):]
        if hidden in ("", ".", ".."):
            raise UnsafeArchive(f"entry {m.name!r} is a whiteout of an invalid name")
        target = os.path.join(os.path.dirname(path), hidden)
        _make_room(target, False, dir_meta)
        os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0))
        return 0
    if not rel and not m.isdir():
        raise UnsafeArchive(f"entry {m.name!r} would replace the layer root")
    if m.isdir():
        if not _make_room(path, True, dir_meta):
            os.mkdir(path)
        _chown_and_xattrs(path, m, skip)
        dir_meta[path] = (m.mode & 0o7777, m.mtime)
        return 0
    if m.islnk():
        target = _normalise(m.linkname, m.name, strip_root=True)
        if target == rel:
            raise UnsafeArchive(f"entry {m.name!r} hard-links to itself")
        try:
            tpath = _walk_parents(dest, target, m.name, create=False, verified=dir_meta[_VERIFIED])
            is_file = bool(target) and stat.S_ISREG(os.lstat(tpath).st_mode)
        except FileNotFoundError:
            is_file = False
        if not is_file:
            raise UnsafeArchive(f"entry {m.name!r} hard-links to {m.linkname!r}, not an earlier file of this layer")
        _make_room(path, False, dir_meta)
        os.link(tpath, path, follow_symlinks=False)  # metadata is the target's: it is one inode
        return 0
    if (m.ischr() or m.isblk()) and not allow_devices:
        skip(m.name, "device node")
        return 0
    written = 0
    if m.isreg():
        if m.size > MAX_MEMBER_SIZE:
            raise UnsafeArchive(f"entry {m.name!r} declares an absurd size ({m.size} bytes)")
        _make_room(path, False, dir_meta)
        if recorder is not None and m.sparse is None:
            recorder.payload(m.offset_data, m.size, rel)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            with os.fdopen(fd, "wb") as out, tf.extractfile(m) as data:
                while chunk := data.read(CHUNK):
                    out.write(chunk)
                    written += len(chunk)
        except BaseException as e:
            if plain:
                os.unlink(path)  # a disk that filled up, or a cut stream, leaves no half file
                if isinstance(e, OSError) and e.filename is None:  # a write's error names no file: this one
                    raise OSError(e.errno, e.strerror, path) from None
            raise
    elif m.issym():
        if "\0" in m.linkname or not m.linkname:
            raise UnsafeArchive(f"entry {m.name!r} is a symbolic link to {m.linkname!r}, which no link can hold")
        _make_room(path, False, dir_meta)
        os.symlink(m.linkname, path)  # any target: never followed while extracting
    elif m.isfifo():
        _make_room(path, False, dir_meta)
        os.mkfifo(path, 0o600)
    elif m.ischr() or m.isblk():
        _make_room(path, False, dir_meta)
        kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
        os.mknod(path, kind | 0o600, os.makedev(m.devmajor, m.devminor))
    else:
        raise UnsafeArchive(f"entry {m.name!r} has unsupported tar type {m.type!r}")
    _chown_and_xattrs(path, m, skip)
    if not m.issym():
        os.chmod(path, m.mode & 0o7777)  # after chown, which clears setuid/setgid
    _set_mtime(path, m.mtime)
    return written
