"""Image objects: a config blob with layers (parent links) and tags."""
from __future__ import annotations


from corral.image import repo

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import BinaryIO

    from corral.api.host import Host
    from corral.store.images import ImageRecord


class Image:
    def __init__(self, host: "Host", image_id: str) -> None:
        self.host = host
        self.id = image_id
        self._record: ImageRecord | None = None

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
        return repo.layer_chain(self.host.store, self.record().top_layer)

    def layer_dirs(self) -> list[str]:
        """Unpacked layer directories, top layer first (overlayfs lowerdir order)."""
        from corral.store.rootfs import layer_diff

        return [layer_diff(self.host.store, c) for c in reversed(self.layers)]

    def inspect(self) -> dict:
        cfg = self.config
        record = self.record()
        manifest_digest, created, size = record.manifest_digest, record.created, record.size
        return {
            "Id": self.id,
            "RepoTags": self.tags,
            "RepoDigests": self.repo_digests(manifest_digest),
            "Created": created,
            "Author": cfg.get("author", ""),
            "Comment": ((cfg.get("history") or [{}])[-1]).get("comment", ""),
            "Config": cfg.get("config", {}),
            "Architecture": cfg.get("architecture"),
            "Os": cfg.get("os"),
            "Size": size,
            "RootFS": {"Type": "layers", "Layers": cfg.get("rootfs", {}).get("diff_ids", [])},
            "GraphDriver": {"Name": "overlay", "Data": {"LowerDir": ":".join(self.layer_dirs())}},
            "Metadata": {"LastTagTime": created},
        }

    def repo_digests(self, manifest_digest: str) -> list[str]:
        """`name@digest` of the registry manifests this image was pulled or pushed as; for a name never
        seen in a registry, the local manifest's digest."""
        from corral.store import distribution

        known = distribution.repo_digests(self.host.store, self.id)
        seen = {d.split("@", 1)[0] for d in known}
        return known + [f"{repo}@{manifest_digest}" for repo in dict.fromkeys(t.rsplit(":", 1)[0] for t in self.tags)
                        if repo not in seen]

    # repository ------------------------------------------------------------------------------------

    def record(self) -> ImageRecord:
        """The image's row, read once for the properties below (one query, not one per property). It
        cannot go stale: an image ID is its config's digest, and the row's fields follow from the content."""
        if self._record is None:
            from corral.errors import ImageNotFound
            from corral.store import images

            self._record = images.get(self.host.store, self.id)
            if self._record is None:
                raise ImageNotFound(f"No such image: {self.id}")
        return self._record

    @property
    def created(self) -> str:
        return self.record().created

    @property
    def size(self) -> int:
        """Bytes of all its layers, unpacked (what `docker images` shows)."""
        return self.record().size

    @property
    def manifest_digest(self) -> str:
        return self.record().manifest_digest

    def tag(self, repository: str, tag: str | None = None) -> None:
        """Give the image one more name (`corral tag`); a name another image had moves here."""
        from corral.image.reference import validate_tag

        name = validate_tag(f"{repository}:{tag}" if tag else repository)
        from corral.store import images

        images.tag(self.host.store, [name], self.id)
        from corral.api import events

        events.record(self.host.store, "image", "tag", self.id, {"name": name})

    def history(self) -> list[dict]:
        """The config's history, newest first, each step with the size of the layer it made (0 for
        metadata-only steps), in docker-py's shape; only the newest step carries the image ID, as
        only it is an image here (older ones show "<missing>", as in Docker for pulled images)."""
        from corral.timestamps import parse

        from corral.store import images

        sizes = [images.layer(self.host.store, c).size for c in self.layers]
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

    def users(self) -> list[tuple[str, str, str]]:
        """(container ID, name, state) of every container created from this image."""
        from corral.store import containers

        return [(c.id, c.name, c.state) for c in containers.of_image(self.host.store, self.id)]

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
