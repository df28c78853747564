"""Image objects: a config blob with layers (parent links) and tags."""
from __future__ import annotations


from corral.image import repo

TYPE_CHECKING = False

if TYPE_CHECKING:
    from corral.api.host import Host


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
