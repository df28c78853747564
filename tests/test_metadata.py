"""The metadata layer (store/: containers, images, networks, leases, ports, build cache): its records,
its mapping of database errors into the CorralError tree, and the rule that no SQL lives elsewhere."""
from __future__ import annotations

import ast
import io
import os
import re
import tokenize

import pytest

from corral.errors import Conflict, NotFound
from corral.store import containers
from corral.store.records import Record, columns
from corral.store.root import Store


class _Thing(Record):
    __slots__ = ()
    id: str
    size: int = 0


def test_records_are_tuples_with_named_fields():
    t = _Thing("a", 1)
    assert (t.id, t.size) == ("a", 1) and t == ("a", 1) and _Thing(id="a", size=1) == t
    assert t.replace(size=2) == ("a", 2) and repr(t) == "_Thing(id='a', size=1)"
    assert columns(_Thing, "x.") == "x.id, x.size"
    assert _Thing("a") == ("a", 0) and _Thing.of(("b", 2)).size == 2
    with pytest.raises(TypeError):
        _Thing()
    with pytest.raises(TypeError):
        _Thing("a", 1, 2)
    with pytest.raises(TypeError):
        _Thing("a", 1, colour="red")
    with pytest.raises(TypeError):
        t.replace(colour="red")
    with pytest.raises(AttributeError):
        t.other = 1  # noqa: B018 - records have no __dict__


def _record(cid: str, name: str, image_id: str) -> containers.ContainerRecord:
    return containers.ContainerRecord(cid, name, image_id, "ref", "2026-01-01T00:00:00Z", {})


def test_a_constraint_the_store_cannot_name_is_a_conflict_not_a_sqlite_error(tmp_path):
    """Any IntegrityError that reaches a transaction's end leaves as a CorralError with one clear line."""
    from corral.store import db

    store = Store(str(tmp_path / "s"))
    with pytest.raises(Conflict, match="refused the change .*FOREIGN KEY") as caught:
        with store.transaction() as conn:
            conn.execute("INSERT INTO tags VALUES('x:1', 'sha256:nothing')")
    assert isinstance(caught.value.__cause__, db.IntegrityError)
    assert "\n" not in str(caught.value)
    assert store.query("SELECT count(*) FROM tags") == [(0,)]  # rolled back
    store.close()


def test_container_records_map_their_constraints(tmp_path):
    store = Store(str(tmp_path / "s"))
    with pytest.raises(NotFound, match="No such image: sha256:gone"):
        containers.insert(store, _record("a" * 64, "web", "sha256:gone"))
    with store.transaction() as conn:  # an image row for the next records to stand on
        conn.execute("INSERT INTO images VALUES('sha256:i', 'sha256:m', '', NULL, 0)")
    containers.insert(store, _record("a" * 64, "web", "sha256:i"))
    with pytest.raises(Conflict, match=f'"/web" is already in use by container "{"a" * 64}"'):
        containers.insert(store, _record("b" * 64, "web", "sha256:i"))
    containers.insert(store, _record("b" * 64, "db", "sha256:i"))
    with pytest.raises(Conflict, match='"/web" is already in use'):
        containers.rename(store, "b" * 64, "web")
    assert containers.find(store, "/db").id == "b" * 64 and containers.find(store, "aaa").name == "web"
    assert containers.state_of(store, "a" * 64) == containers.CREATED
    store.close()


def test_network_and_port_records_map_their_constraints(tmp_path):
    from corral.store import leases, networks

    store = Store(str(tmp_path / "s"))
    net = networks.NetworkRecord("ab1", "lab", "cr-ab1", "10.1.2.0/24", "10.1.2.1", False, False, "", {"a": "b"}, {})
    networks.insert(store, net)
    assert networks.find(store, "lab") == net and networks.find(store, "ab") == net
    with pytest.raises(Conflict, match="network with name lab already exists"):
        networks.insert(store, net.replace(id="ab2", bridge="cr-ab2"))
    binding = leases.PortBinding("c1", "tcp", "", 8080, "10.1.2.2", 80)
    leases.bind_ports(store, [binding])
    with pytest.raises(Conflict, match="a published host port is already allocated to another container"):
        leases.bind_ports(store, [binding.replace(container_id="c2")])
    assert leases.ports_of(store, "c1") == [binding] and leases.held_by(store, "c1")
    assert not leases.held_by(store, "c2")
    store.close()


def test_an_image_is_read_once_not_once_per_property(busybox, monkeypatch):
    from corral.api.host import Host
    from corral.store import images

    image = Host(busybox.root).image("busybox")
    reads = []
    get = images.get
    monkeypatch.setattr(images, "get", lambda *a: reads.append(a) or get(*a))
    assert image.created and image.size > 0 and image.manifest_digest.startswith("sha256:")
    assert image.inspect()["Size"] == image.size
    assert len(reads) == 1


def test_an_image_removed_while_a_container_is_created_is_a_clear_error(busybox, monkeypatch):
    """The regression: a foreign-key failure (not a name clash) escaped api/host.py as a raw
    sqlite3.IntegrityError traceback. Now it is NotFound, and the half-made bundle is gone."""
    from corral.api.host import Host
    from corral.image import gc
    from corral.runtime import spec

    host = Host(busybox.root)
    build = spec.build

    def build_then_lose_the_image(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        made = build(*args, **kwargs)
        gc.delete_image(host.store, host.image("busybox").id)  # its tags, its rows, its layers
        return made

    monkeypatch.setattr(spec, "build", build_then_lose_the_image)
    with pytest.raises(NotFound, match="No such image: sha256:.*removed while the container was being created"):
        host.create_container("busybox", ["true"], name="late", network="none")
    assert host.containers(all=True) == []
    assert os.listdir(host.store.containers) == []


# no SQL outside store/ -----------------------------------------------------------------------------

SRC_ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src", "corral")
_SQL = re.compile(r"\b(SELECT\s.*\bFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\S+\s+SET|DELETE\s+FROM|"
                  r"(CREATE|DROP|ALTER)\s+(TABLE|INDEX)|PRAGMA\s+\w+|BEGIN\s+(IMMEDIATE|EXCLUSIVE)|ROLLBACK|COMMIT)\b",
                  re.DOTALL)
_DB_CALLS = {"execute", "executemany", "executescript", "query", "transaction", "conn"}
_DB_MODULES = ("sqlite3", "_sqlite3", "corral.store.db")


def _sql_in(source: str) -> list[str]:
    """What in `source` talks to the metadata DB directly: SQL text in a string, a call of the DB
    connection's or Store's query methods, or an import of the SQLite modules."""
    found = []
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    for i, tok in enumerate(tokens):
        if tok.type == tokenize.STRING and _SQL.search(tok.string):
            found.append(f"line {tok.start[0]}: SQL {tok.string[:60]!r}")
        elif tok.type == tokenize.NAME and tok.string in _DB_CALLS and i and tokens[i - 1].string == ".":
            found.append(f"line {tok.start[0]}: .{tok.string}")
    for node in ast.walk(ast.parse(source)):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names] if isinstance(node, ast.ImportFrom) \
            else []
        if any(n in _DB_MODULES for n in names):
            found.append(f"line {node.lineno}: imports {', '.join(n for n in names if n in _DB_MODULES)}")
    return found


def test_the_scan_finds_sql_and_db_calls():
    """The rule below is only as good as this scanner: each way of reaching the DB is caught."""
    planted = {
        'rows = store.query("SELECT id FROM images WHERE id=?", (x,))': 2,
        'with store.transaction() as conn:\n    conn.execute("DELETE FROM tags WHERE name=?", (n,))\n': 3,
        'sql = (\n    "INSERT OR REPLACE INTO tags"\n    " VALUES(?,?)")\n': 1,
        'q = f"UPDATE {table} SET state=?"\n': 1,
        "from corral.store.db import IntegrityError\n": 1,
        "from corral.store import db\n": 1,
        "import sqlite3\n": 1,
        "store.conn  # noqa: B018\n": 1,
    }
    for source, hits in planted.items():
        assert len(_sql_in(source)) == hits, (source, _sql_in(source))
    clean = ('"""Docker\'s exit codes: 126 the command could not be executed, 127 it was not found."""\n'
             'print("Select a network; update it, then delete it from the list")\n')
    assert _sql_in(clean) == []


def test_no_sql_outside_store():
    """Every statement lives in store/ (containers, images, networks, leases, buildcache…), which owns the
    transactions and maps database errors into the CorralError tree; the rest of corral calls those
    typed modules and never sees a connection, a row of SQL or a sqlite3 exception."""
    offenders = []
    for dirpath, dirnames, filenames in os.walk(SRC_ROOT):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        if os.path.relpath(dirpath, SRC_ROOT).split(os.sep)[0] == "store":
            continue
        for name in filenames:
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                with open(path, encoding="utf-8") as f:
                    offenders += [f"{os.path.relpath(path, SRC_ROOT)} {hit}" for hit in _sql_in(f.read())]
    assert offenders == []
