"""What registries hold of our images: repo_digests and blob_sources, the one place their rows are kept.

A pulled or pushed image is known to a registry by its manifest's digest (docker's RepoDigests,
`name@sha256:…`), which is not the digest of the manifest corral keeps locally (layers are stored
uncompressed, as tar-split). And a layer, known here by its diff_id, is a compressed blob there: the
pairing diff_id → (blob digest, media type, size, registry, repository) lets a push skip compressing and
uploading a layer the registry has (HEAD), or mount it from another repository of the same registry, as
docker's v2 metadata does. Rows of a removed image's repo digests go with it (ON DELETE CASCADE); a
blob_sources row is only a hint, checked against the registry before it is relied on.
"""
from __future__ import annotations

from corral.store.records import Record, columns
from corral.store.root import Store


class BlobSource(Record):
    __slots__ = ()
    diff_id: str
    digest: str
    media_type: str
    size: int
    registry: str
    repository: str


_SOURCE_COLUMNS = columns(BlobSource)


def add_repo_digest(store: Store, name: str, digest: str, image_id: str) -> None:
    with store.transaction() as conn:
        conn.execute("INSERT OR REPLACE INTO repo_digests(name, digest, image_id) VALUES(?,?,?)",
                     (name, digest, image_id))


def repo_digests(store: Store, image_id: str) -> list[str]:
    """`name@digest` for each registry manifest this image was pulled as or pushed as."""
    rows = store.query("SELECT name, digest FROM repo_digests WHERE image_id=? ORDER BY name, digest", (image_id,))
    return [f"{name}@{digest}" for name, digest in rows]


def by_repo_digest(store: Store, digest: str) -> str | None:
    rows = store.query("SELECT image_id FROM repo_digests WHERE digest=?", (digest,))
    return rows[0][0] if rows else None


def add_sources(store: Store, sources: list[BlobSource]) -> None:
    with store.transaction() as conn:
        conn.executemany(f"INSERT OR IGNORE INTO blob_sources({_SOURCE_COLUMNS}) VALUES(?,?,?,?,?,?)", sources)


def all_sources(store: Store, diff_id: str) -> list[BlobSource]:
    """Every recorded blob of this content, on any registry, most recently recorded first."""
    rows = store.query(f"SELECT {_SOURCE_COLUMNS} FROM blob_sources WHERE diff_id=? ORDER BY rowid DESC", (diff_id,))
    return [BlobSource.of(r) for r in rows]
