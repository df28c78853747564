"""The Store object: where a store lives on disk and its DB connection.

Everything that writes the store goes through `Store.transaction()` for
metadata and through write-then-rename for files, so a crash leaves either
the old state or the new one.
"""
from __future__ import annotations

import errno
import os

from corral.errors import Conflict, StoreError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3

DEFAULT_ROOT = "/var/lib/corral"
RESERVE_BYTES = 1 << 20
"""The size of <store>/reserve: space held back so that on a full disk a removal (whose DB change needs
a little room) still works, and so the user can free space with corral itself (Store.transaction)."""


def default_root() -> str:
    return os.environ.get("CORRAL_ROOT") or DEFAULT_ROOT


class Store:
    """One store root: blobs/, layers/, containers/, tmp/ and corral.db."""

    def __init__(self, root: str | None = None) -> None:
        self.root = os.path.abspath(root or default_root())
        self.blobs = os.path.join(self.root, "blobs", "sha256")
        self.layers = os.path.join(self.root, "layers")
        self.containers = os.path.join(self.root, "containers")
        self.tmp = os.path.join(self.root, "tmp")
        self.seccomp_cache = os.path.join(self.root, "seccomp")  # compiled filters by hash (runtime/seccomp.py)
        self._conn: sqlite3.Connection | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        """Opened on first use, and only then is SQLite loaded: a Store that only names a root (a
        client of the monitor, `corral exec`) costs nothing."""
        if self._conn is None:
            from corral.store import db

            with store_errors(self.root):
                fresh = not os.path.exists(os.path.join(self.root, "corral.db"))
                if fresh:
                    for d in (self.blobs, self.layers, self.containers, self.tmp):
                        os.makedirs(d, exist_ok=True)
                self._conn = db.connect(os.path.join(self.root, "corral.db"))
                db.ensure_schema(self._conn)
            if not os.path.exists(os.path.join(self.root, "reserve")):
                self._make_reserve()
        return self._conn

    def _make_reserve(self) -> None:
        """Hold RESERVE_BYTES back (again, after a removal on a full disk used them), if the disk has twice that."""
        path = os.path.join(self.root, "reserve")
        try:
            st = os.statvfs(self.root)
            if st.f_bavail * st.f_frsize < 2 * RESERVE_BYTES:
                return
            with open(path + ".tmp", "wb") as f:
                f.write(bytes(RESERVE_BYTES))  # written, not a hole: the blocks are really taken
            os.rename(path + ".tmp", path)
        except OSError:
            try:
                os.unlink(path + ".tmp")
            except OSError:
                pass

    def _release_reserve(self) -> None:
        """On a disk with less free space than the reserve: give the reserve back, for a removal to use."""
        try:
            st = os.statvfs(self.root)
            if st.f_bavail * st.f_frsize < RESERVE_BYTES:
                os.unlink(os.path.join(self.root, "reserve"))
        except OSError:
            pass

    def close(self) -> None:
        """Close before fork(): an SQLite connection must not cross into a child."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def transaction(self, freeing: bool = False) -> "_Transaction":
        """`with store.transaction() as conn:` one BEGIN IMMEDIATE … COMMIT, rolled back on any error.
        freeing: the change removes something (a row, and then its data), so on a full disk it may use the
        store's reserve: a user can always free space with corral's own rm, rmi, volume rm and prune."""
        return _Transaction(self, freeing)

    def query(self, sql: str, args: tuple = ()) -> list[tuple]:
        with store_errors(self.root):
            return self.conn.execute(sql, args).fetchall()

    def content_lock(self, exclusive: bool = False) -> "_ContentLock":
        """`with store.content_lock():` around writing blobs and layers until their image is registered.

        Garbage collection (image/gc.py) takes it exclusively: a blob written
        but not yet recorded in the DB looks unreferenced, and must not be
        swept from under the writer.
        """
        return _ContentLock(self, exclusive)

    def blob_path(self, digest: str) -> str:
        return os.path.join(self.blobs, digest.split(":", 1)[-1])

    def layer_dir(self, chain_id: str) -> str:
        return os.path.join(self.layers, chain_id.split(":", 1)[-1])

    def container_dir(self, cid: str) -> str:
        return os.path.join(self.containers, cid)

    def mkdtemp(self, prefix: str) -> str:
        """A scratch directory in tmp/ named for its writer ("commit-<owner identity>.<random>"), so that
        what a killed writer left is told from a live writer's work (check.dead_scratch)."""
        import tempfile

        from corral.store.owners import identity

        self.conn  # noqa: B018 - a fresh store gets its directories here
        with store_errors(self.root):
            return tempfile.mkdtemp(prefix=f"{prefix}{identity()}.", dir=self.tmp)


class _ContentLock:
    def __init__(self, store: Store, exclusive: bool) -> None:
        self.store, self.exclusive = store, exclusive

    def __enter__(self) -> None:
        import fcntl

        self.store.conn  # noqa: B018 - a fresh store gets its directories here
        with store_errors(self.store.root):
            self.fd = os.open(os.path.join(self.store.root, "content.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                              0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH)

    def __exit__(self, kind, value, tb) -> bool:  # noqa: ANN001
        os.close(self.fd)  # releases the lock
        return False


class _Transaction:
    """A class rather than @contextmanager: contextlib costs a millisecond of imports per CLI call."""

    def __init__(self, store: Store, freeing: bool = False) -> None:
        self.store, self.freeing = store, freeing
        self.errors = store_errors(store.root)

    def __enter__(self) -> "sqlite3.Connection":
        self.conn = self.store.conn
        if self.freeing:
            self.store._release_reserve()
        self.errors.__enter__()
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, kind, value, tb) -> bool:  # noqa: ANN001
        try:
            self.conn.execute("ROLLBACK" if kind else "COMMIT")
        except BaseException as e:  # noqa: BLE001 - reported through store_errors below
            if kind is None:
                return bool(self.errors.__exit__(type(e), e, e.__traceback__))
        return bool(self.errors.__exit__(kind, value, tb))


_FS_ERRNOS = {errno.EROFS: "it is on a read-only file system", errno.ENOSPC: "the disk is full",
              errno.EDQUOT: "the disk quota is exceeded", errno.EACCES: "permission denied"}


class store_errors:  # noqa: N801 - used like a function: `with store_errors(root):`
    """Turn a read-only, full or unwritable store into one clear StoreError line, and a change the
    DB's constraints refuse into a Conflict: no sqlite3 exception reaches a user as a traceback.

    The typed modules (store/containers.py, …) catch the constraint failures they
    can name better ("the container name is already in use") before this does.
    """

    def __init__(self, root: str) -> None:
        self.root = root

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, value, tb) -> bool:  # noqa: ANN001
        if value is None:
            return False
        from corral.store import db

        if isinstance(value, (OSError, db.OperationalError, db.IntegrityError)):
            translated = _translate(self.root, value)
            if translated is not value:
                raise translated from value
        return False


def _translate(root: str, e: BaseException) -> BaseException:
    hint = "free some space or set CORRAL_ROOT to a writable directory"
    if isinstance(e, OSError):
        if e.errno in _FS_ERRNOS:
            return StoreError(f"cannot write the store at {root}: {_FS_ERRNOS[e.errno]}; {hint}")
        return e
    text = str(e)
    from corral.store import db

    if isinstance(e, db.IntegrityError):
        return Conflict(f"the store at {root} refused the change ({text}): it conflicts with what is "
                        "recorded there; nothing was changed")
    if "readonly" in text or "read-only" in text:
        return StoreError(f"cannot write the store at {root}: it is read-only; {hint}")
    if "full" in text:
        return StoreError(f"cannot write the store at {root}: the disk is full; {hint}")
    if "unable to open" in text:
        return StoreError(f"cannot open the store at {root}: {text}; {hint}")
    return StoreError(f"store database error at {root}: {text}")
