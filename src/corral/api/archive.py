"""Files into and out of a container as tar streams: docker's PUT, GET and HEAD /containers/{id}/archive,
and `corral cp` on top of them.

Why a child process that enters the container's root. Every path inside a
container is the container's to define: any directory on it may be a link
(to the host's "/", as far as a naive reader goes), and a running container
can swap a directory for such a link between corral's check and its write.
Resolving paths in Python and then writing through the store's directories
is a race corral would lose. Instead a forked child takes a root in which
the container's root *is* "/", as docker's chrootarchive does:

- running: it joins the container's mount namespace (the overlay and the
  container's bind mounts; a VM container's: QEMU's, which has them under the
  bundle's rootfs, its root then) and takes a private copy of it, from which the
  kernel filesystems (/proc, /sys, /dev and what is under them) are
  detached: docker's archive view has none of them, and a tar must not
  reach /proc/sys through them;
- created or stopped: it mounts the container's overlay (and its bind
  mounts over paths that exist) in a private mount namespace of its own,
  which the kernel takes away with the child: nothing to unmount, no
  residue even when it is killed.

Links then resolve inside the container, whatever the container does
meanwhile; the hostile-archive rules of image/extract.py hold on top. The
child imports nothing once inside (a hostile root could hold files with the
names of Python modules or NSS libraries): every module it needs is loaded
first and the import system is emptied, and no user or group name is looked up.
"""
from __future__ import annotations

import os

from corral import fastjson as json
from corral.errors import APIError, CorralError, InvalidArgument, NotFound, from_answer, to_answer

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

    from corral.api.container import Container

CHUNK = 1 << 20
KERNEL_DIRS = ("/proc", "/sys", "/dev")  # detached from the running container's view, as docker shows none


class _Missing(Exception):
    """The path is not in the container (told to the parent, which words docker's message)."""


# the parent's side -------------------------------------------------------------------------------------

def stat_path(c: "Container", path: str) -> dict:
    """HEAD /containers/{id}/archive: docker's stat of path (the last element not followed)."""
    child = _Helper(c, "stat", {"path": path})
    try:
        return child.answer(path)["stat"]
    finally:
        child.finish()


def get(c: "Container", path: str, chunk_size: int = CHUNK) -> tuple["ArchiveStream", dict]:
    """GET /containers/{id}/archive: (a tar stream of path, its stat); the tar's top entry is named by
    path's last element ("." for a path ending "/.": the directory's contents)."""
    child = _Helper(c, "get", {"path": path})
    try:
        st = child.answer(path)["stat"]
    except BaseException:
        child.finish()
        raise
    return ArchiveStream(child, path, chunk_size), st


def put(c: "Container", path: str, data: "bytes | BinaryIO", *, no_overwrite_dir_non_dir: bool = False,
        copy_uid_gid: bool = False) -> None:
    """PUT /containers/{id}/archive: unpack the tar `data` (plain or compressed) into the directory path.

    Owners come from the tar (numeric ids, as docker); copy_uid_gid (cp -a) gives every file the
    container's configured user instead, when it has one, as docker does. no_overwrite_dir_non_dir
    refuses to replace a directory with a non-directory or the reverse.
    """
    spec = c.spec
    binds = [m["destination"] for m in spec.get("mounts", []) if m.get("type") == "bind"]
    if spec.get("root", {}).get("readonly") and not any(_under(path, b) for b in binds):
        raise InvalidArgument("container rootfs is marked read-only")
    user = None
    if copy_uid_gid:
        user = c.options.user or c.inspect()["Config"]["User"] or None
    child = _Helper(c, "put", {"path": path, "no_overwrite": no_overwrite_dir_non_dir, "user": user}, feed=True)
    try:
        try:
            _pump(data, child.data)
        except BrokenPipeError:
            pass  # the helper stopped reading: its answer says why
        os.close(child.data)
        child.data = -1
        child.answer(path)
    finally:
        child.finish()


def copy_out(c: "Container", src: str, dest: str, *, follow_link: bool = False, archive: bool = False,
             stdout: "BinaryIO | None" = None) -> tuple[int, bool]:
    """`corral cp CONTAINER:SRC DEST|-` with docker's rules; returns (bytes of tar read, whether SRC is
    a directory). DEST "-" writes the tar to stdout. The files are owned by the caller and lose
    set-id bits unless archive (-a), which keeps the container's owners and modes as they are."""
    from corral.image import extract, tree

    rebase_name = ""
    if follow_link:  # a path ending "/" or "/." is followed anyway, so never names a link here
        st = stat_path(c, src)
        if st["mode"] & tree.MODE_SYMLINK:
            if tree.go_base(src) != tree.go_base(st["linkTarget"]):
                rebase_name = tree.go_base(src)
            src = st["linkTarget"]
    stream, st = get(c, src)
    with stream:
        if dest == "-":
            out = stdout
            total = 0
            for chunk in stream:
                out.write(chunk)
                total += len(chunk)
            out.flush()
            return total, bool(st["mode"] & tree.MODE_DIR)
        src_is_dir = bool(st["mode"] & tree.MODE_DIR)
        top = tree.go_base(tree.clean(src))
        top = "." if top == "/" else top
        dest_path, exists, is_dir = _local_destination(tree.clean(dest, os.getcwd()))
        into, name = _prepare(src_is_dir, rebase_name or top, dest_path, exists, is_dir)
        counted = _Counting(stream)
        owner = None if archive else (os.getuid(), os.getgid())
        rename = None if name == top else (lambda entry: tree.rebase(entry, top, name))
        extract.extract_tree(counted, into, extract.Plain(rename=rename, owner=owner, strip_setid=not archive,
                                                          no_overwrite_dir_non_dir=True))
        return counted.total, src_is_dir


def copy_in(c: "Container", src: str, dest: str, *, follow_link: bool = False, archive: bool = False,
            stdin: "BinaryIO | None" = None) -> int:
    """`corral cp SRC|- CONTAINER:DEST` with docker's rules; returns the bytes of content copied.
    SRC "-" is a tar on stdin, unpacked into the directory DEST."""
    from corral.image import tree

    dest_path, exists, is_dir = dest, False, False
    try:
        st = stat_path(c, dest)
        if st["mode"] & tree.MODE_SYMLINK:
            dest_path = st["linkTarget"]
            st = stat_path(c, dest_path)
        if st["mode"] & (tree.MODE_SYMLINK | tree.MODE_DEVICE | tree.MODE_NAMED_PIPE | tree.MODE_SOCKET):
            raise InvalidArgument(f'destination "{c.name}:{dest}" must be a directory or a regular file')
        exists, is_dir = True, bool(st["mode"] & tree.MODE_DIR)
    except NotFound:
        pass  # its parent may exist: the unpacking says if not
    if src == "-":
        if not is_dir:
            raise InvalidArgument(f'destination "{c.name}:{dest}" must be a directory')
        put(c, dest_path, stdin, no_overwrite_dir_non_dir=True, copy_uid_gid=archive)
        return 0
    path, top, size = _local_source(tree.clean(src, os.getcwd()), follow_link)
    into, name = _prepare(os.path.isdir(path), top, dest_path, exists, is_dir)
    import threading

    r, w = os.pipe2(os.O_CLOEXEC)
    failed: list[BaseException] = []

    def produce() -> None:
        try:
            with os.fdopen(w, "wb", buffering=CHUNK) as out:
                tree.write_tar(out, path, name)
        except BaseException as e:  # noqa: BLE001 - told to the caller below
            failed.append(e)

    writer = threading.Thread(target=produce, daemon=True)
    writer.start()
    try:
        with os.fdopen(r, "rb", buffering=0) as data:
            put(c, into, data, no_overwrite_dir_non_dir=True, copy_uid_gid=archive)
    finally:
        writer.join()
    if failed and not isinstance(failed[0], BrokenPipeError):
        raise APIError(f"reading {src}: {failed[0]}")
    return size


class _Counting:
    """A stream that counts the bytes read through it (what cp reports as transferred)."""

    def __init__(self, raw: "ArchiveStream") -> None:
        self.raw, self.total = raw, 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.total += len(data)
        return data


def _prepare(src_is_dir: bool, top: str, dest: str, exists: bool, is_dir: bool) -> tuple[str, str]:
    """Docker's PrepareArchiveCopy: the directory to unpack into and the name the top entry takes there."""
    from corral.image import tree

    parent, base = tree.split_entry(dest)
    if exists and is_dir:
        return dest, top
    if exists and src_is_dir:
        raise InvalidArgument("cannot copy directory")
    if exists or src_is_dir:
        return parent, base
    if tree.ends_as_dir(dest):
        raise NotFound("no such directory")
    return parent, base


def _local_destination(path: str) -> tuple[str, bool, bool]:
    """Docker's CopyInfoDestinationPath: (the path, its links followed; exists; is a directory)."""
    import errno
    import stat

    from corral.image import tree

    for _ in range(11):
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            break
        if not stat.S_ISLNK(st.st_mode):
            return path, True, stat.S_ISDIR(st.st_mode)
        target = os.readlink(path)
        path = target if target.startswith("/") else os.path.join(tree.split_entry(path)[0], target)
    else:
        raise InvalidArgument(f"too many symlinks in {path}")
    parent = tree.split_entry(path)[0]
    try:
        if not stat.S_ISDIR(os.stat(parent).st_mode):
            raise InvalidArgument("not a directory")
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            raise NotFound(f"stat {parent}: no such file or directory") from None
        raise
    return path, False, False


def _local_source(path: str, follow_link: bool) -> tuple[str, str, int]:
    """Docker's CopyInfoSourcePath: (the path to archive, the name its top entry takes, the bytes of
    file content under it); links before the last element are followed, the last one only with -L."""
    import stat

    from corral.image import tree

    parent, _, base = path.rpartition("/")
    resolved = os.path.realpath(path) if follow_link else os.path.realpath(parent or "/").rstrip("/") + "/" + base
    try:
        st = os.stat(resolved) if follow_link or path.endswith("/") else os.lstat(resolved)
    except OSError:
        raise NotFound(f"lstat {path.rstrip('/.') or '/'}: no such file or directory") from None
    top = tree.go_base(path)
    if top == "/":
        top = "."
    size = st.st_size if stat.S_ISREG(st.st_mode) else 0
    if stat.S_ISDIR(st.st_mode):
        for root, _, files in os.walk(resolved):
            for f in files:
                try:
                    sub = os.lstat(os.path.join(root, f))
                except OSError:
                    continue
                size += sub.st_size if stat.S_ISREG(sub.st_mode) else 0
    if resolved.endswith("/."):
        resolved = resolved[:-2] or "/"
    return resolved, top, size


class ArchiveStream:
    """The tar of get(): iterate for chunks of bytes, or read() it as a file. Reading to the end
    checks that the helper finished well (an error there raises); close() ends it early."""

    def __init__(self, child: "_Helper", path: str, chunk_size: int) -> None:
        self._child: _Helper | None = child
        self._path, self.chunk_size = path, chunk_size

    def __iter__(self) -> "ArchiveStream":
        return self

    def __next__(self) -> bytes:
        chunk = self.read(self.chunk_size)
        if not chunk:
            raise StopIteration
        return chunk

    def read(self, n: int = -1) -> bytes:
        if self._child is None:
            return b""
        if n is None or n < 0:
            return b"".join(iter(lambda: self.read(CHUNK), b""))
        chunk = os.read(self._child.data, n)
        if chunk or n == 0:
            return chunk
        child, self._child = self._child, None
        try:
            child.answer(self._path)
        finally:
            child.finish()
        return b""

    def close(self) -> None:
        if self._child is not None:
            child, self._child = self._child, None
            child.finish(kill=True)

    def __enter__(self) -> "ArchiveStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def _pump(data: "bytes | BinaryIO", fd: int) -> None:
    if isinstance(data, (bytes, bytearray, memoryview)):
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view[:CHUNK]):]
        return
    if not hasattr(data, "read"):
        raise InvalidArgument(f"data must be bytes or a binary file object, not {type(data).__name__}")
    while chunk := data.read(CHUNK):
        if isinstance(chunk, str):
            raise InvalidArgument("data must be bytes or a binary file object, not text")
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view):]


def _under(path: str, top: str) -> bool:
    """Whether the container path `path` is `top` or inside it (both taken as absolute, cleaned)."""
    import posixpath

    path, top = posixpath.normpath("/" + path.lstrip("/")), posixpath.normpath("/" + top.lstrip("/"))
    return path == top or path.startswith(top.rstrip("/") + "/")


class _Helper:
    """The forked child inside the container's root, and the parent's ends of its two pipes: `ctl`
    carries one JSON line per answer, `data` the tar (to the child for put, from it for get)."""

    def __init__(self, c: "Container", job: str, arg: dict, feed: bool = False) -> None:
        plan, self._lock = _plan(c)
        self.name = c.name
        _preload()
        ctl_r, ctl_w = os.pipe2(os.O_CLOEXEC)
        data_r, data_w = os.pipe2(os.O_CLOEXEC)
        theirs = data_r if feed else data_w
        try:
            self.pid = os.fork()
        except BaseException:
            for fd in (ctl_r, ctl_w, data_r, data_w, plan.get("ns", -1), self._lock):
                if fd >= 0:
                    os.close(fd)
            raise
        if self.pid == 0:
            _child(plan, ctl_w, theirs, job, arg)  # never returns
        for fd in (ctl_w, theirs, plan.get("ns", -1)):
            if fd >= 0:
                os.close(fd)
        self.ctl = ctl_r
        self.data = data_w if feed else data_r
        self._buffer = b""

    def answer(self, path: str) -> dict:
        """The helper's next answer; its error raised as the corral error it names."""
        while b"\n" not in self._buffer:
            more = os.read(self.ctl, 65536)
            if not more:
                raise APIError(f"copying {path} in container {self.name} failed: the helper process ended"
                                  f" without an answer ({self._status()})")
            self._buffer += more
        line, self._buffer = self._buffer.split(b"\n", 1)
        record = json.loads(line)
        if "missing" in record:
            raise NotFound(f"Could not find the file {path} in container {self.name}")
        if "error" in record:
            raise from_answer(record["error"])
        return record

    def _status(self) -> str:
        pid, self.pid = self.pid, 0
        if not pid:
            return "already reaped"
        _, status = os.waitpid(pid, 0)
        return f"killed by signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else \
            f"exit status {os.WEXITSTATUS(status)}"

    def finish(self, kill: bool = False) -> None:
        """Close the pipes and reap the helper (killing it first when the caller gave up early)."""
        for fd in (self.data, self.ctl):
            if fd >= 0:
                os.close(fd)
        self.data = self.ctl = -1
        if self.pid:
            if kill:
                try:
                    os.kill(self.pid, 9)
                except ProcessLookupError:
                    pass
            os.waitpid(self.pid, 0)
            self.pid = 0
        if self._lock >= 0:
            os.close(self._lock)
            self._lock = -1


def _plan(c: "Container") -> tuple[dict, int]:
    """How the helper reaches c's root, and the fd of a lock held meanwhile (-1 for none).

    A running container: its mount namespace, opened here and then checked to still be the
    container's (its pid could otherwise have been reused). A stopped one: its overlay and
    bind mounts, with the bundle locked so two copies never mount one sandbox at once.
    """
    from corral.runtime import state
    from corral.runtime.spec import is_vm

    spec = c.spec
    binds = [m for m in spec.get("mounts", []) if m.get("type") == "bind"]
    if c.status == state.RUNNING and c.pid:
        pid = c.pid
        try:
            fd = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            fd = -1
        if fd >= 0:
            if c.reload().status == state.RUNNING and c.pid == pid:
                plan = {"ns": fd, "binds": [m["destination"] for m in binds]}
                if is_vm(spec):
                    plan["root"] = os.path.join(c.bundle, spec["root"]["path"])  # where QEMU's namespace has it
                return plan, -1
            os.close(fd)
    import fcntl

    from corral.store.rootfs import rootfs_of

    plan = {"rootfs": rootfs_of(spec, c.bundle), "target": os.path.join(c.bundle, "rootfs"), "binds": binds}
    lock = os.open(c.bundle, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    fcntl.flock(lock, fcntl.LOCK_EX)
    return plan, lock


# the child's side --------------------------------------------------------------------------------------

_PRELOAD = ("bz2", "errno", "gzip", "lzma", "posixpath", "stat", "tarfile", "time", "zlib", "corral.image.extract",
            "corral.image.tree", "corral.runtime.mounts", "corral.runtime.users", "corral.store.fsutil",
            "corral.store.merged", "corral.sys.libc")


def _preload() -> None:
    """Every module and codec the helper uses, loaded while imports still come from the host."""
    import codecs
    import importlib

    for name in _PRELOAD:
        importlib.import_module(name)
    for name in ("utf-8", "ascii", "latin-1"):
        codecs.lookup(name)
    try:
        importlib.import_module("zstandard")
    except ImportError:
        pass


def _child(plan: dict, ctl: int, data: int, job: str, arg: dict) -> None:
    code = 0
    try:
        from corral.sys import libc

        libc.prctl(libc.PR_SET_PDEATHSIG, 9)
        libc.close_fds_but({ctl, data, plan.get("ns", -1)})
        _enter(plan)
        _seal_imports()
        _JOBS[job](ctl, data, **arg)
        _send(ctl, {"done": True})
    except BaseException as e:  # noqa: BLE001 - everything is told to the parent, nothing is printed here
        code = 1
        _send(ctl, _error_record(e))
    os._exit(code)


def _enter(plan: dict) -> None:
    """Make the container's root this process's "/" (see the module's docstring)."""
    from corral.runtime import mounts
    from corral.sys import libc

    if "root" in plan:  # a VM container's: QEMU's mount namespace, the container's root and binds under a path
        libc.setns(plan["ns"], libc.CLONE_NEWNS)
        os.close(plan["ns"])
        libc.unshare(libc.CLONE_NEWNS)
        libc.mount(None, "/", None, libc.MS_REC | libc.MS_PRIVATE)
        os.chdir(plan["root"])  # the guest's kernel filesystems are its own: none of the host's under it
        os.chroot(".")
        os.chdir("/")
        return
    if "ns" in plan:
        proc = os.open("/proc", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)  # the host's, for our mountinfo
        libc.setns(plan["ns"], libc.CLONE_NEWNS)
        os.close(plan["ns"])
        libc.unshare(libc.CLONE_NEWNS)
        libc.mount(None, "/", None, libc.MS_REC | libc.MS_PRIVATE)  # nothing done here reaches the container
        fd = os.open("thread-self/mountinfo", os.O_RDONLY | os.O_CLOEXEC, dir_fd=proc)
        with os.fdopen(fd, "rb") as f:
            text = f.read().decode("utf-8", "surrogateescape")
        points = [mounts.unescape(line.split()[4]) for line in text.splitlines()]
        os.close(proc)
        keep = [mounts.secure_join("/", d) for d in plan["binds"]]
        for point in reversed(points):
            if point == "/" or (any(_under(point, k) for k in keep) and not any(_under(point, k) for k in KERNEL_DIRS)):
                continue
            try:
                libc.umount(point, libc.MNT_DETACH)
            except OSError:
                pass  # gone with a parent detached before it
        os.chdir("/")
        return
    libc.unshare(libc.CLONE_NEWNS)
    libc.mount(None, "/", None, libc.MS_REC | libc.MS_PRIVATE)
    target = plan["target"]
    mounts.mount_rootfs(target, plan["rootfs"])
    for m in plan["binds"]:
        where = mounts.secure_join(target, m["destination"])
        if os.path.lexists(where) and os.path.exists(m["source"]):  # the container's init makes missing ones
            mounts.apply_mount(target, m)
    os.chdir(target)
    os.chroot(".")
    os.chdir("/")


def _seal_imports() -> None:
    """From here an import fails instead of reading the container's files as code."""
    import sys

    sys.meta_path[:] = []
    sys.path_hooks[:] = []
    sys.path[:] = []
    sys.path_importer_cache.clear()


def _send(ctl: int, record: dict) -> None:
    try:
        os.write(ctl, json.dumps(record).encode() + b"\n")
    except OSError:
        pass  # the parent is gone or gave up


def _error_record(e: BaseException) -> dict:
    if isinstance(e, _Missing):
        return {"missing": True}
    if not isinstance(e, CorralError):
        if isinstance(e, OSError):
            e = APIError(f"{e.strerror}: {e.filename}" if e.filename else (e.strerror or str(e)))
        else:
            e = APIError(f"{type(e).__name__}: {e}")
    return {"error": to_answer(e)}  # errors' one line, read back by from_answer with its kind


def _resolve(path: str) -> tuple[str, str, os.stat_result]:
    """(docker's absolute path, the path with every link before its last element followed inside
    this root, that path's lstat): docker's ResolvePath and StatPath."""
    import errno

    from corral.image import tree

    absolute = tree.clean(path)
    parent, _, base = absolute.rpartition("/")
    resolved = os.path.realpath(parent or "/").rstrip("/") + "/" + base
    try:
        return absolute, resolved, os.lstat(resolved)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            raise _Missing() from None
        raise


def _stat_of(absolute: str, st: os.stat_result) -> dict:
    import stat

    from corral.image import tree

    target = os.path.realpath(absolute) if stat.S_ISLNK(st.st_mode) else ""
    return tree.stat_dict(tree.go_base(absolute), st, target)


def _job_stat(ctl: int, data: int, path: str) -> None:
    absolute, _, st = _resolve(path)
    _send(ctl, {"stat": _stat_of(absolute, st)})


def _job_get(ctl: int, data: int, path: str) -> None:
    from corral.image import tree

    absolute, resolved, st = _resolve(path)
    _send(ctl, {"stat": _stat_of(absolute, st)})
    top = tree.go_base(absolute)
    with os.fdopen(data, "wb", buffering=CHUNK) as out:
        tree.write_tar(out, resolved, "." if top == "/" else top)


def _job_put(ctl: int, data: int, path: str, no_overwrite: bool, user: str | None) -> None:
    import errno
    import stat

    from corral.image import extract, tree

    try:
        dest = os.path.realpath(tree.clean(path))
        st = os.stat(dest)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            raise _Missing() from None
        raise
    if not stat.S_ISDIR(st.st_mode):
        raise InvalidArgument("extraction point is not a directory")
    owner = None
    if user:
        from corral.runtime import users

        owner = users.resolve(user, ["/"])[:2]
    with os.fdopen(data, "rb") as src:
        extract.extract_tree(src, dest, extract.Plain(owner=owner, no_overwrite_dir_non_dir=no_overwrite))


_JOBS = {"stat": _job_stat, "get": _job_get, "put": _job_put}
