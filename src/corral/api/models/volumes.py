"""client.volumes and the Volume model, in docker-py's shape (docker.models.volumes)."""
from __future__ import annotations

from corral.api.models import Collection, Model, check_type, wanted_filters


class Volume(Model):
    """A volume as docker-py shows it; `attrs` is `corral volume inspect`'s dict, its id the name."""

    id_attribute = "Name"

    @property
    def name(self) -> str:
        return self.attrs["Name"]

    def reload(self) -> None:
        self.attrs = self.client.api.volume(self.id).inspect()

    def remove(self, force: bool = False) -> None:
        """Delete it; refused (Conflict) while a container uses it."""
        self.client.api.remove_volume(self.id, force=force)


class VolumeCollection(Collection):
    model = Volume

    def create(self, name: str | None = None, driver: str | None = None, driver_opts: dict | None = None,
               labels: dict | None = None) -> Volume:
        """A volume of the local driver (no name: an anonymous one); driver_opts are docker's
        type=, o=, device=. An existing volume of that name is returned, as docker does."""
        check_type("create", "name", name, str)
        check_type("create", "driver_opts", driver_opts, dict)
        check_type("create", "labels", labels, dict)
        vol = self.client.api.create_volume(name, driver=driver, options=driver_opts, labels=labels)
        return self.prepare_model(vol.inspect())  # type: ignore[return-value]

    def get(self, volume_id: str) -> Volume:
        check_type("get", "volume_id", volume_id, str)
        return self.prepare_model(self.client.api.volume(volume_id).inspect())  # type: ignore[return-value]

    def list(self, filters: dict | None = None) -> list[Volume]:
        """The volumes passing `filters` as `docker volume ls --filter` (dangling, driver, label, name)."""
        return [self.prepare_model(v.inspect()) for v in  # type: ignore[misc]
                self.client.api.volumes(wanted_filters(filters))]

    def prune(self, filters: dict | None = None) -> dict:
        """Delete the unused anonymous volumes ({"all": True}: every unused one):
        {"VolumesDeleted": [names], "SpaceReclaimed": bytes}."""
        return self.client.api.prune_volumes(wanted_filters(filters))
