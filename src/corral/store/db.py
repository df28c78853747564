"""SQLite metadata: images, layers, tags, containers, pods, switches (networks), address leases,
published ports, volumes, the events journal and what registries hold of our images, one transaction per
change.

WAL mode lets `ps` read while a `run` writes; busy_timeout makes concurrent
CLI invocations wait for each other instead of failing. Only the typed modules
beside this one (containers, images, networks, leases, buildcache, volumes, events, distribution,
pods) speak SQL.
"""
from __future__ import annotations

import sys


def _import_sqlite():  # noqa: ANN202 - the _sqlite3 module
    """The C module _sqlite3, without the ~5 ms of Python it would import on a CLI's start-up.

    sqlite3/dbapi2.py only adds datetime adapters (~2 ms of imports). The C
    module itself takes one thing from functools, lru_cache (the statement
    cache of each connection), and importing functools pulls in collections,
    types, operator and more: half of what a `corral run` imports. So, only
    while _sqlite3 initialises and only when nothing has imported functools
    yet, a stand-in module offers lru_cache built directly on its C core
    (_functools._lru_cache_wrapper, which functools.lru_cache also returns);
    it is removed at once, so a later `import functools` gets the real one.
    """
    if "functools" in sys.modules or "_sqlite3" in sys.modules:
        import _sqlite3

        return _sqlite3
    import _functools

    def lru_cache(maxsize: int = 128, typed: bool = False):  # noqa: ANN202 - as functools.lru_cache
        return lambda func: _functools._lru_cache_wrapper(func, maxsize, typed, tuple)

    stand_in = type(sys)("functools")
    stand_in.lru_cache = lru_cache
    sys.modules["functools"] = stand_in
    try:
        import _sqlite3
    finally:
        if sys.modules.get("functools") is stand_in:
            del sys.modules["functools"]
    return _sqlite3


sqlite3 = _import_sqlite()

IntegrityError = sqlite3.IntegrityError
OperationalError = sqlite3.OperationalError

SCHEMA = """
CREATE TABLE IF NOT EXISTS layers(
    chain_id TEXT PRIMARY KEY, diff_id TEXT NOT NULL, parent TEXT,
    blob_digest TEXT NOT NULL, media_type TEXT NOT NULL, size INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS images(
    id TEXT PRIMARY KEY, manifest_digest TEXT NOT NULL, created TEXT NOT NULL,
    top_layer TEXT, size INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tags(name TEXT PRIMARY KEY, image_id TEXT NOT NULL REFERENCES images(id));
CREATE TABLE IF NOT EXISTS containers(
    id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, image_id TEXT NOT NULL REFERENCES images(id),
    image_ref TEXT NOT NULL, created TEXT NOT NULL, options TEXT NOT NULL,
    state TEXT NOT NULL, pid INTEGER, supervisor TEXT, exit_code INTEGER,
    started_at TEXT, finished_at TEXT, error TEXT, oom_killed INTEGER NOT NULL DEFAULT 0,
    pod_id TEXT REFERENCES pods(id));
CREATE TABLE IF NOT EXISTS networks(
    id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, bridge TEXT UNIQUE NOT NULL, subnet TEXT NOT NULL,
    gateway TEXT NOT NULL, internal INTEGER NOT NULL, is_default INTEGER NOT NULL, created TEXT NOT NULL,
    labels TEXT NOT NULL, options TEXT NOT NULL, cursor INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS leases(
    network_id TEXT NOT NULL REFERENCES networks(id), container_id TEXT NOT NULL, ip TEXT NOT NULL,
    ifname TEXT NOT NULL, aliases TEXT NOT NULL,
    PRIMARY KEY(network_id, container_id), UNIQUE(network_id, ip));
CREATE TABLE IF NOT EXISTS ports(
    container_id TEXT NOT NULL, proto TEXT NOT NULL, host_ip TEXT NOT NULL, host_port INTEGER NOT NULL,
    container_ip TEXT NOT NULL, container_port INTEGER NOT NULL, UNIQUE(proto, host_ip, host_port));
CREATE TABLE IF NOT EXISTS build_cache(
    key TEXT PRIMARY KEY, image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS volumes(
    name TEXT PRIMARY KEY, driver TEXT NOT NULL, labels TEXT NOT NULL, options TEXT NOT NULL,
    created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events(
    seq INTEGER PRIMARY KEY AUTOINCREMENT, time_ns INTEGER NOT NULL, type TEXT NOT NULL, action TEXT NOT NULL,
    actor TEXT NOT NULL, attributes TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS repo_digests(
    name TEXT NOT NULL, digest TEXT NOT NULL, image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    PRIMARY KEY(name, digest));
CREATE TABLE IF NOT EXISTS pods(
    id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, created TEXT NOT NULL, infra_id TEXT, labels TEXT NOT NULL,
    options TEXT NOT NULL, removing INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS blob_sources(
    diff_id TEXT NOT NULL, digest TEXT NOT NULL, media_type TEXT NOT NULL, size INTEGER NOT NULL,
    registry TEXT NOT NULL, repository TEXT NOT NULL, PRIMARY KEY(diff_id, digest, registry, repository));
"""
SCHEMA_VERSION = 6  # 3: networks, leases, ports; 4: volumes; 5: events, oom_killed, repo_digests, blob_sources;
# 6: pods, containers.pod_id
"""Bump whenever SCHEMA gains a table, an index or a column: older stores then get it on their next open."""
ADDED_COLUMNS = (("containers", "oom_killed", "INTEGER NOT NULL DEFAULT 0"),
                 ("containers", "pod_id", "TEXT REFERENCES pods(id)"))
"""Columns SCHEMA's tables gained after a store could have been made without them: (table, column, type),
added to an older store's table by ensure_schema (CREATE TABLE IF NOT EXISTS leaves an old table as it is)."""


def connect(path: str) -> "sqlite3.Connection":
    """Open the DB; isolation_level=None so transactions are explicit (BEGIN IMMEDIATE)."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def ensure_schema(conn: "sqlite3.Connection") -> None:
    """Create what is missing; one cheap PRAGMA read when the store is up to date."""
    if conn.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
        return
    conn.executescript(SCHEMA)
    for table, column, kind in ADDED_COLUMNS:
        if column not in {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
