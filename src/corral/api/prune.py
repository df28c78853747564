"""The prunes (`container prune`, `image prune`, `network prune`, the build cache, `system prune`), as use-cases.

Each takes docker's prune filters (`until=`, `label=`, `label!=`; image prune
`dangling=` too) and returns what the Engine API's prune endpoints answer
(`{"ContainersDeleted": [...], "SpaceReclaimed": N}` and so on), so the CLI
prints it and a future API server sends it as is. What a prune deletes goes
the way each kind is always deleted (Container.remove, image/gc.py by
reference, switch.remove): a prune only chooses.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from corral.api.filters import Filters
    from corral.api.host import Host


def containers(host: Host, filters: Filters | None = None) -> dict:
    """Remove every container that is not running (created or exited; a paused one is running) and passes
    the filters (until= its creation, label=)."""
    from corral.api import filters as f
    from corral.api import pod

    wanted = filters or {}
    f.validate(wanted, f.PRUNE_KEYS)
    deleted, freed = [], 0
    for c in host.containers(all=True):
        if c.status in ("running", "restarting") or not f.created_before(wanted, c.created) or \
                not f.labels_match(wanted, c.options.labels):
            continue
        if c.pod_id and pod.is_infra(host, c.id):
            continue  # it goes with its pod (`pod rm`, `pod prune`)
        rw, _ = c.size()
        c.remove()
        deleted.append(c.id)
        freed += rw
    return {"ContainersDeleted": deleted, "SpaceReclaimed": freed}


def images(host: Host, all: bool = False, filters: Filters | None = None) -> dict:  # noqa: A002 - docker's flag
    """Delete the images no container uses: untagged ones, or with all=True (or dangling=false) every unused
    one, among those passing until= and label=. Each deleted image lists its untagged names, then the
    image and its layers deleted, as docker's ImagesDeleted."""
    from corral.api import events
    from corral.api import filters as f
    from corral.image import gc
    from corral.store import containers as container_records
    from corral.store import images as image_records

    wanted = filters or {}
    f.validate(wanted, ("dangling",) + f.PRUNE_KEYS)
    dangling_only = not all and f.boolean(wanted, "dangling") is not False
    before = _content_bytes(host)
    used = container_records.image_ids_in_use(host.store)
    deleted: list[dict[str, str]] = []
    for image in host.images():
        tags = image.tags
        if image.id in used or (tags and dangling_only) or not f.created_before(wanted, image.created) or \
                not f.labels_match(wanted, image.config.get("config", {}).get("Labels") or {}):
            continue
        image_records.untag(host.store, tags)
        deleted += [{"Untagged": t} for t in tags] + [{"Deleted": d} for d in gc.delete_image(host.store, image.id)]
        for action in ["untag"] * len(tags) + ["delete"]:  # the image's, not its layers': docker's
            events.record(host.store, "image", action, image.id, {"name": image.id})
    deleted += [{"Deleted": d} for d in gc.sweep(host.store)]
    return {"ImagesDeleted": deleted, "SpaceReclaimed": max(0, before - _content_bytes(host))}


def networks(host: Host, filters: Filters | None = None) -> list[str]:
    """Remove every switch no container holds an address on, among those passing until= and label= (the
    default one too: it is made again on demand); returns their names."""
    from corral.api import events
    from corral.api import filters as f
    from corral.store import leases

    wanted = filters or {}
    f.validate(wanted, f.PRUNE_KEYS)
    used = leases.network_ids_in_use(host.store)
    removed = []
    from corral.network import switch

    for sw in switch.all_switches(host.store):  # the switches only: host and none are modes, and the default
        # switch, which `network rm` refuses as docker's pre-defined bridge, goes too (made again on demand)
        if sw.id not in used and f.created_before(wanted, sw.created) and f.labels_match(wanted, sw.labels or {}):
            switch.remove(host.store, sw)
            events.record_network(host.store, "destroy", sw)
            removed.append(sw.name)
    return removed


def build_cache(host: Host, all: bool = False, filters: Filters | None = None) -> dict:  # noqa: A002
    """Empty the build cache: delete the intermediate images only the cache holds (untagged, used by no
    container) with their steps; with all=True forget every step too, so the next build runs each one again
    (the images a step made that have names stay). until= picks steps remembered before a time."""
    from corral.api import filters as f
    from corral.image import gc, repo
    from corral.store import buildcache
    from corral.store import containers as container_records

    wanted = filters or {}
    f.validate(wanted, f.PRUNE_KEYS)
    before = _content_bytes(host)
    used = container_records.image_ids_in_use(host.store)
    deleted: list[str] = []
    forgotten: list[str] = []
    for key, image_id, created in buildcache.entries(host.store):
        if not f.created_before(wanted, created):
            continue
        if image_id not in used and not repo.tags_of(host.store, image_id) and image_id not in deleted:
            gc.delete_image(host.store, image_id)  # its cached steps go with it (store/buildcache.py)
            deleted.append(image_id)
        elif all:
            forgotten.append(key)
    buildcache.forget(host.store, forgotten)
    return {"CachesDeleted": deleted + forgotten, "SpaceReclaimed": max(0, before - _content_bytes(host))}


def system(host: Host, all: bool = False, filters: Filters | None = None,  # noqa: A002 - docker's flag
           volumes_too: bool = False) -> dict:
    """`docker system prune`: first repair what a crash left of the store's network state (Host.repair),
    then remove stopped containers, unused switches, dangling (all=True: every unused) images and the
    build cache, in docker's order; volumes_too: the unused anonymous volumes as well (after the containers)."""
    wanted = filters or {}
    check_system(wanted, volumes_too)
    repaired = host.repair()
    done = containers(host, wanted)
    nets = networks(host, wanted)
    vols = volumes(host, {k: v for k, v in wanted.items() if k != "until"}) if volumes_too else \
        {"VolumesDeleted": [], "SpaceReclaimed": 0}
    imgs = images(host, all, wanted)
    cache = build_cache(host, all, wanted)
    return {"Repaired": repaired, "ContainersDeleted": done["ContainersDeleted"], "NetworksDeleted": nets,
            "VolumesDeleted": vols["VolumesDeleted"], "ImagesDeleted": imgs["ImagesDeleted"],
            "CachesDeleted": cache["CachesDeleted"],
            "SpaceReclaimed": done["SpaceReclaimed"] + vols["SpaceReclaimed"] + imgs["SpaceReclaimed"] +
            cache["SpaceReclaimed"]}


def volumes(host: Host, filters: Filters | None = None) -> dict:
    """`volume prune`: delete every volume no container mounts that is anonymous (filter all=true: named
    ones too) and passes label=/label!=, as docker 23+; {"VolumesDeleted": [...], "SpaceReclaimed": N}."""
    from corral.api import events
    from corral.api import filters as f
    from corral.api.volume import Volume, users
    from corral.store import volumes as records

    wanted = filters or {}
    f.validate(wanted, f.VOLUME_PRUNE_KEYS)
    every = bool(f.boolean(wanted, "all"))
    used = users(host)
    deleted, reclaimed = [], 0
    for rec in records.by_name(host.store):
        vol = Volume(host, rec)
        if rec.name in used or not (every or vol.anonymous) or not f.labels_match(wanted, rec.labels):
            continue
        size = vol.size()
        records.delete(host.store, rec.name)
        events.record(host.store, "volume", "destroy", rec.name, {"driver": rec.driver})
        deleted.append(rec.name)
        reclaimed += max(size, 0)
    return {"VolumesDeleted": deleted, "SpaceReclaimed": reclaimed}


def check_system(filters: Filters, volumes: bool) -> None:
    """The filters system prune takes, checked before anything is removed (and before the CLI's prompt,
    as docker's refusal of until= with volumes comes first)."""
    from corral.api import filters as f
    from corral.errors import InvalidArgument

    f.validate(filters, f.PRUNE_KEYS)
    if volumes and "until" in filters:
        raise InvalidArgument('The "until" filter is not supported with "--volumes"')


def _content_bytes(host: Host) -> int:
    """Bytes on disk of the store's layers and blobs: what deleting images gives back."""
    from corral.store.fsutil import disk_usage

    return disk_usage(host.store.layers) + disk_usage(host.store.blobs)
