"""Image objects: a config blob with layers (parent links) and tags."""
from __future__ import annotations


from corral.image import repo

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import BinaryIO

    from corral.api.host import Host
    from corral.store.containers import ContainerRecord


class Image:
    def __init__(self, host: "Host", image_id: str) -> None:
        self.host = host
        self.id = image_id

    def __repr__(self) -> str:
        return f"<Image {self.short_id} {' '.join(self.tags)}>"

    @property
    def short_id(self) -> str:
        return self.id.split(":", 1)[1][:12]

    @property
    def tags(self) -> list[str]:
        return repo.tags_of(self.host.store, self.id)

    @property
    def config(self) -> dict:
        return repo.config(self.host.store, self.id)

    @property
    def layers(self) -> list[str]:
        """Chain IDs, base layer first."""
        return repo.layer_chain(self.host.store, repo.top_layer(self.host.store, self.id))

    def layer_dirs(self) -> list[str]:
        """Unpacked layer directories, top layer first (overlayfs lowerdir order)."""
        return [self.host.store.layer_dir(c) + "/diff" for c in reversed(self.layers)]

    def inspect(self) -> dict:
        store = self.host.store
        cfg = self.config
        manifest_digest, created, size = store.query(
            "SELECT manifest_digest, created, size FROM images WHERE id=?", (self.id,))[0]
        return {
            "Id": self.id,
            "RepoTags": self.tags,
            "RepoDigests": [f"{t.rsplit(':', 1)[0]}@{manifest_digest}" for t in self.tags],
            "Created": created,
            "Config": cfg.get("config", {}),
            "Architecture": cfg.get("architecture"),
            "Os": cfg.get("os"),
            "Size": size,
            "RootFS": {"Type": "layers", "Layers": cfg.get("rootfs", {}).get("diff_ids", [])},
            "GraphDriver": {"Name": "overlay", "Data": {"LowerDir": ":".join(self.layer_dirs())}},
            "Metadata": {"LastTagTime": created},
        }

    # repository ------------------------------------------------------------------------------------

    @property
    def created(self) -> str:
        return self.host.store.query("SELECT created FROM images WHERE id=?", (self.id,))[0][0]

    @property
    def size(self) -> int:
        """Bytes of all its layers, unpacked (what `docker images` shows)."""
        return self.host.store.query("SELECT size FROM images WHERE id=?", (self.id,))[0][0]

    @property
    def manifest_digest(self) -> str:
        return self.host.store.query("SELECT manifest_digest FROM images WHERE id=?", (self.id,))[0][0]

    def tag(self, repository: str, tag: str | None = None) -> None:
        """Give the image one more name (`corral tag`); a name another image had moves here."""
        from corral.image.reference import validate_tag

        name = validate_tag(f"{repository}:{tag}" if tag else repository)
        with self.host.store.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO tags VALUES(?,?)", (name, self.id))

    def history(self) -> list[dict]:
        """The config's history, newest first, each step with the size of the layer it made (0 for
        metadata-only steps), in docker-py's shape; only the newest step carries the image ID, as
        only it is an image here (older ones show "<missing>", as in Docker for pulled images)."""
        from corral.timestamps import parse

        store = self.host.store
        sizes = [store.query("SELECT size FROM layers WHERE chain_id=?", (c,))[0][0] for c in self.layers]
        steps = []
        for entry in self.config.get("history") or [{}] * len(sizes):
            size = 0 if entry.get("empty_layer") or not sizes else sizes.pop(0)
            steps.append({"Id": "<missing>", "Created": int(parse(entry["created"])) if entry.get("created") else 0,
                          "CreatedBy": entry.get("created_by", ""), "Tags": None, "Size": size,
                          "Comment": entry.get("comment", "")})
        steps.reverse()
        if steps:
            steps[0]["Id"], steps[0]["Tags"] = self.id, self.tags or None
        return steps

    def users(self) -> list[ContainerRecord]:
        """The records (ID, name, state, …) of every container created from this image."""
        from corral.store import containers

        return containers.of_image(self.host.store, self.id)

    # save, load, export ------------------------------------------------------------------------------

    def save(self, dest: str | BinaryIO, format: str = "docker-archive") -> None:  # noqa: A002
        """This image with all its names as a docker-archive or oci-archive, to the path `dest` (written
        atomically) or the binary stream `dest`; Host.load elsewhere gives it back with the same ID."""
        from corral.image import archive

        with archive.output(dest) as out:
            archive.save(self.host.store, [(self.id, self.tags)], out, format)


class LoadedImage(Image):
    """An image Host.load brought in; loaded_tags are the names the archive gave it (`Loaded image: …`),
    which may be fewer than its tags if it was in the store already."""

    def __init__(self, host: "Host", image_id: str, loaded_tags: list[str]) -> None:
        super().__init__(host, image_id)
        self.loaded_tags = loaded_tags
