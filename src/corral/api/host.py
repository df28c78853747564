"""Host: one container host's store, and the use-cases that create and find things in it."""
from __future__ import annotations

from corral import fastjson as json
import os

from corral.api.container import Container
from corral.errors import Conflict, InvalidArgument, NotFound
from corral.runtime.options import ContainerOptions
from corral.store import containers as container_records
from corral.store.root import Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO, Callable, Iterator

    from corral.api.filters import Filters
    from corral.api.image import Image, LoadedImage
    from corral.api.network import ModeNetwork, Network
    from corral.api.pod import Pod
    from corral.api.processes import HostProcess
    from corral.api.volume import Volume
    from corral.registry.credentials import Credentials


class Host:
    def __init__(self, root: str | None = None) -> None:
        self.store = Store(root)

    # containers --------------------------------------------------------------------------------------

    def create_container(self, image: str, command: list[str] | str | None = None, *, name: str | None = None,
                         image_volumes: bool = True, pull: str = "missing", pull_progress: Callable | None = None,
                         pod: str | None = None, infra_of: str | None = None,
                         **options) -> Container:  # noqa: ANN003 - ContainerOptions
        """Create (not start) a container from `image`; keyword options are ContainerOptions fields.
        A command given as a string is split as a shell would (docker-py's habit). Without an isolation, the
        host's default (api/hostconf.py: corral.conf) unless it joins a pod. The image's VOLUMEs
        become anonymous volumes unless image_volumes=False (a build's RUN step, as BuildKit's). A missing
        image is pulled first (docker's --pull: missing, always, never), its progress to pull_progress.
        pod: a pod (name, ID, or new:NAME to make one) whose namespaces it joins (api/pod.py); infra_of:
        the pod whose infra container this is (api/pod.py's create)."""
        if isinstance(command, str):
            import shlex

            command = shlex.split(command)
        opts = ContainerOptions(cmd=command, **options)
        if opts.isolation in (None, "", "default") and not pod and infra_of is None:
            from corral.api.hostconf import default_isolation  # a pod's members share namespaces: no VM

            opts.isolation = default_isolation()
        if not pod:
            return self._create_container(image, opts, name, image_volumes, pull, pull_progress, infra_of, None)
        from corral.api import pod as pods

        joined, made = pods.join(self, pod, opts)
        etc_dir = (self.store.container_dir(joined.infra_id)  # type: ignore[arg-type]
                   if "net" in joined.shared else None)
        try:
            return self._create_container(image, opts, name, image_volumes, pull, pull_progress, joined.id, etc_dir)
        except BaseException:
            if made:
                joined.remove(force=True)
            raise

    def _create_container(self, image: str, opts: ContainerOptions, name: str | None, image_volumes: bool,
                          pull: str, pull_progress: Callable | None, pod_id: str | None,
                          etc_dir: str | None) -> Container:
        """create_container's work; pod_id: the pod it belongs to, etc_dir: where its /etc/hosts, hostname
        and resolv.conf are (a pod member's: its infra container's bundle)."""
        from corral.api import names
        from corral.api.image import Image
        from corral.image import repo
        from corral.runtime import spec as specs
        from corral.store import rootfs as sandbox
        from corral.store.fsutil import remove_tree, write_atomic

        opts.check()
        if opts.memory and not opts.memory_swap:  # docker's default: as much swap as memory, where swap is limited
            from corral.runtime.cgroups import swap_accounted

            opts.memory_swap = 2 * opts.memory if swap_accounted() else -1
        image_id = repo.resolve(self.store, image) if pull == "never" else self.image_for(image, pull, pull_progress)
        if name:
            bare = names.validate(name)
            container_records.check_name_free(self.store, bare)
        else:
            bare = names.free_name(lambda n: container_records.name_holder(self.store, n) is not None)
        cid = os.urandom(32).hex()
        img = Image(self, image_id)
        image_cfg = img.config
        image_check = (image_cfg.get("config") or {}).get("Healthcheck")
        if image_check or opts.healthcheck:  # docker's create merges the image's HEALTHCHECK under the container's
            from corral.runtime.options import merge_healthcheck

            opts.healthcheck = merge_healthcheck(opts.healthcheck, image_check)
        bundle = self.store.container_dir(cid)
        net = None
        if opts.network != "none" or opts.ports or opts.publish_all or opts.ip or opts.network_aliases or \
                opts.dns or opts.dns_search or opts.dns_option or opts.add_host:
            from corral.network import endpoint  # not on the path of a container without network

            net = endpoint.plan(self.store, cid, opts, image_cfg)
        joins, shm = self._shared_namespaces(opts, bundle) if opts.ipc or opts.pid or opts.uts else (None, None)
        made: list[str] = []  # volumes made for this container: gone again if the create fails
        idmap = None
        try:
            if opts.userns not in (None, "", "host"):
                from corral.runtime import userns

                idmap = userns.allocate(bundle, userns.parse_mode(opts.userns))
            declared = list((image_cfg.get("config") or {}).get("Volumes") or ()) if image_volumes else []
            if opts.mounts or opts.volumes_from or declared:
                from corral.api import mounts

                opts.mounts, made = mounts.resolve(self, opts.mounts, mounts.volumes_from(self, opts.volumes_from),
                                                   declared, img.layer_dirs())
            rootfs = sandbox.container_rootfs(self.store, bundle, list(reversed(img.layers)))
            if idmap is not None and img.layers and not userns.can_idmap(img.layer_dirs()[0]):
                rootfs = sandbox.shifted_rootfs(rootfs, bundle, img.layer_dirs(), idmap)
            sandbox.overlay_data(rootfs)  # too many layers for an overlay: say so now, not from the init
            spec = specs.build(cid, opts, image_cfg, rootfs, bundle, joins, shm, etc_dir, idmap)
            if net is not None:
                net.allocate()
                net.annotate(spec)
            sandbox.make_sandbox(bundle, rootfs, (idmap[0][0]["hostID"], idmap[1][0]["hostID"]) if idmap else None)
            if shm == os.path.join(bundle, "shm"):
                os.mkdir(shm, 0o1777)
                os.chmod(shm, 0o1777)  # past the umask
            if etc_dir is None:  # a pod member mounts its infra's
                hostname = spec.get("hostname") or os.uname().nodename  # none in the spec: --uts host
                files = net.etc_files(hostname) if net is not None else specs.etc_files(hostname)
                for fname, text in files.items():
                    with open(os.path.join(bundle, fname), "w") as f:
                        f.write(text)
            write_atomic(os.path.join(bundle, "config.json"), json.dumps(spec).encode())
            from corral.runtime.state import now

            for retry in range(10):
                try:
                    container_records.insert(self.store, container_records.ContainerRecord(
                        cid, bare, image_id, image, now(), opts.to_dict(), pod_id=pod_id))
                    break
                except Conflict:
                    if name or retry == 9:
                        raise
                    # a generated name another create took meanwhile (corral serve creates in many threads)
                    bare = names.generate(retry + 1)
        except BaseException:
            remove_tree(bundle)
            if idmap is not None:
                userns.release(bundle)
            if net is not None:
                net.abandon()
            if made:
                from corral.store import volumes

                for vname in made:
                    volumes.discard(self.store, vname)
            raise
        from corral.api import events

        created = self.container(cid)
        events.record_container(self.store, "create", created)
        return created

    def _shared_namespaces(self, opts: ContainerOptions, bundle: str) -> tuple[dict[str, str], str | None]:
        """--ipc/--pid/--uts: the full IDs of the containers whose namespaces to join, and the host directory
        for /dev/shm: a shareable IPC namespace's own (in its bundle, so its peers can bind it as docker
        does; no host mount to leave behind), its donor's, the host's for --ipc host, else None (a tmpfs)."""
        joins = {}
        shm = None
        for kind in ("pid", "uts"):
            mode = getattr(opts, kind)
            if mode and mode.startswith("container:"):
                joins[kind] = container_records.find(self.store, mode.split(":", 1)[1]).id
        if opts.ipc == "host":
            shm = "/dev/shm"
        elif opts.ipc == "shareable":
            shm = os.path.join(bundle, "shm")
        elif opts.ipc and opts.ipc.startswith("container:"):
            donor = self.container(opts.ipc.split(":", 1)[1])
            if donor.options.ipc != "shareable":
                raise Conflict(f"cannot join the IPC namespace of {donor.name}: it is not shareable (hint: create "
                               "it with --ipc shareable)")
            joins["ipc"] = donor.id
            shm = os.path.join(donor.bundle, "shm")
        return joins, shm

    def container(self, ref: str) -> Container:
        """A container by full ID, name, or unambiguous ID prefix."""
        return Container(self, container_records.find(self.store, ref))

    def containers(self, all: bool = False) -> list[Container]:  # noqa: A002 - docker-py's name
        found = [Container(self, r) for r in container_records.newest_first(self.store)]
        return found if all else [c for c in found if c.status in ("running", "restarting")]

    # pods (api/pod.py) ---------------------------------------------------------------------------------

    def create_pod(self, name: str | None = None, *, ports: list[str] | None = None, network: str | None = None,
                   hostname: str | None = None, labels: dict[str, str] | None = None,
                   share: str | list[str] | None = None, replace: bool = False,
                   command: list[str] | None = None) -> Pod:
        """`pod create`: a pod and its infra container (api/pod.py says what they share)."""
        from corral.api import pod

        return pod.create(self, name, ports=ports, network=network, hostname=hostname, labels=labels, share=share,
                          replace=replace, command=command)

    def pod(self, ref: str) -> Pod:
        """A pod by name, full ID or unambiguous ID prefix."""
        from corral.api import pod

        return pod.find(self, ref)

    def pods(self, filters: Filters | None = None) -> list[Pod]:
        """Every pod, newest first, that passes podman's `pod ps` filters."""
        from corral.api import pod

        return pod.listing(self, filters)

    def prune_pods(self, filters: Filters | None = None) -> dict:
        """`pod prune`: remove every pod none of whose containers runs; {"PodsDeleted": [IDs], ...}."""
        from corral.api import pod

        return pod.prune(self, filters)

    # the host view of processes (api/processes.py) ---------------------------------------------------

    def processes(self, filters: Filters | None = None) -> list[HostProcess]:
        """Every process of every running container: host PID, PID in the container, user, command and the
        owning Container (`corral ps --processes`). filters: ps's, which select containers, and pid=N."""
        from corral.api import processes

        return processes.listing(self, filters)

    def process_owner(self, pid: int) -> Container:
        """The container that owns host process `pid`; NotFound when it is in none of this store's."""
        from corral.api import processes

        return processes.owner(self, pid)

    # images ------------------------------------------------------------------------------------------

    def image(self, ref: str) -> Image:
        from corral.api.image import Image  # not on the path of ps, rm, start
        from corral.image import repo

        return Image(self, repo.resolve(self.store, ref))

    def images(self, all: bool = False) -> list[Image]:  # noqa: A002 - docker-py's name
        """Newest first; the build cache's intermediate images (untagged) only with all=True."""
        from corral.api.image import Image
        from corral.store import images

        return [Image(self, image_id) for image_id in images.listed_ids(self.store, all)]

    def build(self, context: str, *, tags: list[str] | None = None, buildargs: dict[str, str] | None = None,
              dockerfile: str | None = None, target: str | None = None, nocache: bool = False,
              secrets: dict[str, str] | None = None, labels: dict[str, str] | None = None, network: str = "bridge",
              quiet: bool = False, pull: bool = False, registry_auths: dict[str, dict] | None = None
              ) -> Iterator[dict]:
        """Build the Dockerfile in `context`; yields docker's build events ({"stream": text}, then
        {"aux": {"ID": image id}}). secrets maps a secret's id to the file holding it. A base image the
        store lacks is pulled (with pull: every base image, as `docker build --pull`), with the
        credentials registry_auths has for its registry (docker's X-Registry-Config: registry → AuthConfig)."""
        from corral.builder.builder import Build

        _by_registry(registry_auths)  # a malformed one is an error before the build starts
        build = Build(self, context, dockerfile=dockerfile, tags=tags, buildargs=buildargs, target=target,
                      nocache=nocache, secrets=secrets, labels=labels, network=network, quiet=quiet,
                      pull=pull, registry_auths=registry_auths)
        return self._tag_events(build.run(), build.tags)

    def _tag_events(self, steps: Iterator[dict], tags: list[str]) -> Iterator[dict]:
        """A build's steps as they come, and an image tag event for each of its names once it is built
        (the builder records none: it sits under this API)."""
        from corral.api import events

        for step in steps:
            if "aux" in step:
                for name in tags:
                    events.record(self.store, "image", "tag", step["aux"]["ID"], {"name": name})
            yield step

    def build_from_tar(self, context: BinaryIO, **options: object) -> Iterator[dict]:
        """build() of a context given as a tar stream (plain or compressed), as docker's POST /build
        takes it: unpacked by the hostile-archive extractor into scratch space of the store, which
        goes once the build is over. options are build()'s."""
        from corral.image.extract import extract_tree
        from corral.store.fsutil import remove_tree

        scratch = self.store.mkdtemp("build-context-")
        try:
            extract_tree(context, scratch)
            yield from self.build(scratch, **options)  # type: ignore[arg-type]
        finally:
            remove_tree(scratch)

    def import_image(self, src: str | BinaryIO, tag: str | None) -> Image:
        """An image from a root filesystem tarball (path, '-' for stdin, or a binary stream); tag None:
        untagged."""
        from corral.api import events
        from corral.api.image import Image
        from corral.image.importer import import_tar

        tags = [tag] if tag else []
        if isinstance(src, str):
            if src == "-":
                import sys

                image_id = import_tar(self.store, sys.stdin.buffer, tags)
            else:
                try:
                    f = open(src, "rb")
                except FileNotFoundError:
                    raise NotFound(f"no such file: {src}") from None
                with f:
                    image_id = import_tar(self.store, f, tags)
        else:
            image_id = import_tar(self.store, src, tags)
        events.record(self.store, "image", "import", image_id, {"name": image_id})
        return Image(self, image_id)

    def remove_image(self, ref: str, force: bool = False) -> list[tuple[str, str]]:
        """`docker rmi`: untag, and delete the image once no name and no container is left on it.

        Returns ("Untagged"|"Deleted", what) lines. A name shared with other
        tags only untags; an image a container uses is refused (by name: it
        must be forced; a running container's image cannot be forced), and
        with force an image still used by a stopped container loses its names
        but stays, as in Docker. Layers go only when no other image needs them.
        """
        from corral.image import gc, repo
        from corral.image.reference import normalize

        image = self.image(ref)
        tags = image.tags
        named = normalize(ref) in tags
        if named and len(tags) > 1 and not force:
            self._untag([normalize(ref)], image.id)
            return [("Untagged", normalize(ref))]
        users = container_records.of_image(self.store, image.id)
        running = [u for u in users if Container(self, u).status in ("running", "restarting")]
        if running:
            how = "cannot be forced" if force or not named else "must force"
            raise Conflict(f"conflict: unable to delete {image.short_id} ({how}) - image is being used by "
                           f"running container {running[0][0][:12]}")
        if users and not force:
            if named:
                raise Conflict(f'conflict: unable to remove repository reference "{ref}" (must force) - '
                               f"container {users[0][0][:12]} is using its referenced image {image.short_id}")
            raise Conflict(f"conflict: unable to delete {image.short_id} (must be forced) - image is being used "
                           f"by stopped container {users[0][0][:12]}")
        gone = tags if force or not named else [normalize(ref)]
        self._untag(gone, image.id)
        done = [("Untagged", t) for t in gone]
        if not users and not repo.tags_of(self.store, image.id):
            done += [("Deleted", d) for d in gc.delete_image(self.store, image.id)]
            from corral.api import events

            events.record(self.store, "image", "delete", image.id, {"name": image.id})  # not its layers: docker's
        return done

    def _untag(self, names: list[str], image_id: str) -> None:
        from corral.api import events
        from corral.store import images

        images.untag(self.store, names)
        for _ in names:  # docker names the image by its ID in an untag event, not by the name it lost
            events.record(self.store, "image", "untag", image_id, {"name": image_id})

    def prune_images(self, all: bool = False, filters: Filters | None = None) -> dict:  # noqa: A002
        """Delete images no container uses: untagged ones, or with all=True every unused one, among those
        passing docker's prune filters; {"ImagesDeleted": [{"Untagged"|"Deleted": …}], "SpaceReclaimed": N}."""
        from corral.api import prune

        return prune.images(self, all, filters)

    def prune_containers(self, filters: Filters | None = None) -> dict:
        """Remove every container not running that passes the filters (until=, label=);
        {"ContainersDeleted": [IDs], "SpaceReclaimed": N}."""
        from corral.api import prune

        return prune.containers(self, filters)

    def prune_build_cache(self, all: bool = False, filters: Filters | None = None) -> dict:  # noqa: A002
        """Delete the build cache's intermediate images (all=True: forget every cached step too);
        {"CachesDeleted": [...], "SpaceReclaimed": N}."""
        from corral.api import prune

        return prune.build_cache(self, all, filters)

    def prune(self, all: bool = False, filters: Filters | None = None,  # noqa: A002 - docker's flag
              volumes: bool = False) -> dict:
        """`system prune`: repair the store's network state, then prune containers, switches, images and the
        build cache; the Engine API's keys of each, "Repaired" (what the repair fixed) and the total
        "SpaceReclaimed"."""
        from corral.api import prune

        return prune.system(self, all, filters, volumes)

    def df(self, verbose: bool = False) -> dict:
        """`docker system df`: images, containers, local volumes and the build cache: total, in use, bytes,
        reclaimable bytes (with verbose, the rows of `df -v` too)."""
        from corral.api import system

        return system.df(self, verbose)

    def info(self) -> dict:
        """docker's `/info` for this host and store."""
        from corral.api import system

        return system.info(self)

    def version(self) -> dict:
        """docker's `/version` for this engine."""
        from corral.api import system

        return system.version()

    def bootstrap(self, name: str) -> Image:
        """A base image made on this host: `busybox[:tag]` or `debian:<suite>`."""
        from corral.api.image import Image
        from corral.image import bootstrap
        from corral.image.reference import normalize, split, validate_tag

        repo_name, tag = split(normalize(name))
        if repo_name == "busybox":
            return Image(self, bootstrap.bootstrap_busybox(self.store, validate_tag(name)))
        if repo_name == "debian":
            suite = "bookworm" if tag == "latest" else tag
            return Image(self, bootstrap.bootstrap_debian(self.store, suite, validate_tag(name)))
        raise InvalidArgument(f"cannot bootstrap {name!r}: known bases are busybox and debian:<suite>")

    # store -------------------------------------------------------------------------------------------

    def check(self) -> list[str]:
        """Every inconsistency between blobs, layers, containers, the DB and the host's network state
        (links and firewall rules this store left or lacks); empty when the store is sound."""
        from corral.monitor.cleanup import orphan_cgroups, stale_cgroups
        from corral.network import residue
        from corral.store.check import check

        return check(self.store) + residue.check(self.store) + \
            [f"container {cid[:12]}: not running, but its cgroup is left" for cid, _ in stale_cgroups(self.store)] + \
            [f"cgroup corral/{name[:12]} is empty and no container of this store owns it: left by a store that is "
             "gone" for name, _ in orphan_cgroups(self.store)]

    def repair(self) -> list[str]:
        """`system check --repair` (and the first step of `system prune`): remove the network residue `check`
        lists (links, rules, port holds and leases of containers that are gone or stopped, what deleted
        stores left) and restore what running containers lack, and remove what killed writers left in
        tmp/, finish removals of containers and volumes that were cut short; returns what was fixed."""
        from corral.image import gc
        from corral.monitor.cleanup import orphan_cgroups, remove_container, stale_cgroups
        from corral.network import residue
        from corral.store.check import half_removed, orphan_steps, remove_dead_scratch, remove_orphan_volumes

        fixed = []
        for cid in half_removed(self.store):
            remove_container(self.store, cid)
            fixed.append(f"container {cid[:12]}, whose removal was interrupted, removed")
        for cid in orphan_steps(self.store):
            self.container(cid).remove(force=True)
            fixed.append(f"container {cid[:12]}, a RUN step of a build that was killed, removed")
        fixed += residue.prune(self.store) + remove_dead_scratch(self.store) + remove_orphan_volumes(self.store)
        for cid, cg in stale_cgroups(self.store):
            cg.destroy()
            fixed.append(f"the cgroup container {cid[:12]} left, removed")
        for name, cg in orphan_cgroups(self.store):
            cg.destroy()
            fixed.append(f"the cgroup corral/{name[:12]} a store that is gone left, removed")

        def count(d: str) -> int:
            return len(os.listdir(d)) if os.path.isdir(d) else 0

        before = count(self.store.layers), count(self.store.blobs)
        gc.sweep(self.store)  # under the exclusive content lock: a live writer's layer is waited for, not taken
        layers, blobs = (b - count(d) for b, d in zip(before, (self.store.layers, self.store.blobs)))
        if layers or blobs:
            fixed.append(f"removed what an interrupted image write left: {layers} layer(s), {blobs} blob(s)")
        return fixed

    # networks ----------------------------------------------------------------------------------------

    def create_network(self, name: str, *, subnet: str | None = None, gateway: str | None = None,
                       internal: bool = False, labels: dict[str, str] | None = None,
                       options: dict[str, str] | None = None) -> Network:
        """A new switch: a bridge with `gateway` (default: the subnet's first address) on `subnet` (default:
        the first free range of the pool); a subnet overlapping a host network or a switch is refused."""
        from corral.api import events
        from corral.api.network import Network  # not on the path of a container without network, nor of ps
        from corral.network import switch

        created = Network(self, switch.create(self.store, name, subnet, gateway, internal, labels, options))
        events.record_network(self.store, "create", created)
        return created

    def network(self, ref: str) -> Network | ModeNetwork:
        """A network by name, full ID or unambiguous ID prefix; docker's pre-defined ones by name too:
        `bridge` (the default switch, its record made if it was not yet), `host` and `none`."""
        from corral.api.network import ModeNetwork, Network
        from corral.network import switch

        if ref in ("host", "none"):
            return ModeNetwork(self, ref)
        if ref == switch.DEFAULT_NAME:
            return Network(self, switch.default(self.store))
        return Network(self, switch.find(self.store, ref))

    def networks(self) -> list[Network | ModeNetwork]:
        """Every network as docker lists them: bridge, host and none first, then the switches made."""
        from corral.api.network import ModeNetwork, Network
        from corral.network import switch

        default = switch.default(self.store)
        return [Network(self, default), ModeNetwork(self, "host"), ModeNetwork(self, "none")] + \
            [Network(self, s) for s in switch.all_switches(self.store) if s.id != default.id]

    def prune_networks(self, filters: Filters | None = None) -> list[str]:
        """Remove every switch no container holds an address on, among those passing the filters (until=,
        label=; the default one too: it is made again on demand); returns their names."""
        from corral.api import prune

        return prune.networks(self, filters)

    # volumes -----------------------------------------------------------------------------------------

    def create_volume(self, name: str | None = None, *, driver: str | None = None,
                      options: dict[str, str] | None = None, labels: dict[str, str] | None = None) -> Volume:
        """`volume create`: a named volume (no name: an anonymous one, 64 hex digits) of the local driver;
        an existing one of that name is returned as it is, as docker does."""
        from corral.api import volume

        return volume.create(self, name, driver, options, labels, anonymous=not name)

    def volume(self, name: str) -> Volume:
        from corral.api.volume import Volume
        from corral.store import volumes

        return Volume(self, volumes.find(self.store, name))

    def volumes(self, filters: Filters | None = None) -> list[Volume]:
        """Every volume that passes docker's `volume ls` filters (dangling=, driver=, label=, name=)."""
        from corral.api import filters as f

        return f.volumes(self, filters or {})

    def remove_volume(self, name: str, force: bool = False) -> None:
        """`volume rm`: refused while a container uses it; force: a missing one is no error."""
        from corral.errors import NotFound

        try:
            vol = self.volume(name)
        except NotFound:
            if force:
                return
            raise
        vol.remove(force)

    def prune_volumes(self, filters: Filters | None = None) -> dict:
        """Delete the unused anonymous volumes (filter all=true: every unused one) that pass label=/label!=;
        {"VolumesDeleted": [names], "SpaceReclaimed": N}."""
        from corral.api import prune

        return prune.volumes(self, filters)

    # save, load, export ------------------------------------------------------------------------------

    def save(self, refs: list[str], dest: str | BinaryIO, format: str | None = None) -> None:  # noqa: A002
        """`docker save`: the images `refs` name, in one docker-archive (the default `format`) or oci-archive
        written to the path `dest` (atomically) or the binary stream `dest`. An image named by name:tag
        carries that name into the archive; one named by ID or digest carries none, as with Docker. `dest`
        "oci:PATH[:REFERENCE]" adds the images to an OCI image layout directory (as a push into it does)."""
        from corral.image import archive, repo
        from corral.image.reference import normalize
        from corral.registry import layout

        chosen: dict[str, list[str]] = {}
        for ref in refs:
            image_id = repo.resolve(self.store, ref)
            names = chosen.setdefault(image_id, [])
            if normalize(ref) in repo.tags_of(self.store, image_id) and normalize(ref) not in names:
                names.append(normalize(ref))
        if layout.is_layout(dest):
            if format not in (None, "oci-archive"):
                raise InvalidArgument(f"--format {format} does not apply to an OCI layout (oci:PATH): it is OCI's")
            layout.save(self.store, list(chosen.items()), dest)  # type: ignore[arg-type]
        else:
            with archive.output(dest) as out:
                archive.save(self.store, list(chosen.items()), out, format or archive.DOCKER_ARCHIVE)
        from corral.api import events

        for image_id in chosen:
            events.record(self.store, "image", "save", image_id, {"name": image_id})

    def load(self, src: str | BinaryIO) -> list[LoadedImage]:
        """`docker load`: every image of a docker-archive or OCI-layout tarball (plain, gzip, zstd, bzip2
        or xz), from a path, '-' for stdin, or a binary stream. Digests are all verified first; a bad
        archive loads nothing. Each returned image's loaded_tags are the names the archive gave it.
        `src` "oci:PATH[:REFERENCE]" loads from an OCI image layout directory (every image of it, or the
        one the reference names), each blob verified as it is read."""
        from corral.api.image import LoadedImage
        from corral.image import archive
        from corral.registry import layout

        if layout.is_layout(src):
            loaded = layout.load(self.store, src)  # type: ignore[arg-type]
        else:
            if src == "-":
                import sys

                src = sys.stdin.buffer
            f = archive.source(src)
            try:
                loaded = archive.load(self.store, f)
            finally:
                if f is not src:
                    f.close()
        from corral.api import events

        for image_id, _ in loaded:
            events.record(self.store, "image", "load", image_id, {"name": image_id})
        return [LoadedImage(self, image_id, tags) for image_id, tags in loaded]


    # registries (issue 17) ----------------------------------------------------------------------------

    def image_for(self, ref: str, pull: str = "missing", progress: Callable[[dict], None] | None = None,
                  registry_auths: dict[str, dict] | None = None) -> str:
        """The image ID `ref` names, after docker's pull policy: `missing` pulls only when the store lacks
        it, `always` pulls first (and uses the store's copy only if that pull fails for want of a
        registry), `never` never pulls. A short name pulls only when search registries are configured.
        registry_auths: as pull's."""
        from corral.errors import ImageNotFound
        from corral.image import repo

        if pull not in ("missing", "always", "never"):
            raise InvalidArgument(f'invalid pull option: "{pull}": must be one of "always", "missing" or "never"')
        if pull != "always":
            try:
                return repo.resolve(self.store, ref)
            except ImageNotFound:
                if pull == "never":
                    raise
        return self._pull_for(ref, progress, pull == "missing", registry_auths)

    def _pull_for(self, ref: str, progress: Callable[[dict], None] | None, missing: bool,
                  registry_auths: dict[str, dict] | None) -> str:
        from corral.errors import ImageNotFound
        from corral.image.reference import parse
        from corral.registry import conf
        from corral.registry.progress import status

        try:
            parsed = parse(ref)
        except InvalidArgument:
            raise ImageNotFound(f"No such image: {ref}") from None  # an ID prefix, say: nothing to pull
        if not parsed.domain and not conf.search_registries():
            raise ImageNotFound(f"No such image: {ref} (not pulled: names without a registry host are looked "
                                f"up in the unqualified-search-registries of {conf.conf_path()}, and none is "
                                "configured)")
        if missing and progress is not None:
            progress(status(f"Unable to find image '{parsed.familiar}' locally"))
        try:
            return self.pull(ref, progress=progress, registry_auths=registry_auths)[0].id
        except NotFound as e:
            raise ImageNotFound(f"No such image: {ref}: {e}") from None

    def pull(self, name: str, *, platform: str | None = None, all_tags: bool = False,
             progress: Callable[[dict], None] | None = None, auth_config: dict | None = None,
             registry_auths: dict[str, dict] | None = None) -> list[Image]:
        """`docker pull`: the image `name` names from its registry (a short name: from the first search
        registry of registries.conf that has it); every tag of the repository with all_tags. `progress`
        receives docker's progress JSON objects as the pull goes. `auth_config` (docker's AuthConfig:
        username and password, auth, identitytoken or registrytoken) is used instead of the credentials
        `corral login` stored; registry_auths, a map of registry to AuthConfig (docker's X-Registry-Config),
        gives each registry only its own. An OCI image layout `oci:PATH[:REFERENCE]` is pulled from as skopeo
        reads it (all_tags: every image of the layout)."""
        from corral.api.image import Image
        from corral.registry import credentials, layout, pull

        if auth_config and registry_auths:
            raise InvalidArgument("pull: give auth_config or registry_auths, not both")
        if layout.is_layout(name):
            _no_auth_for_layout(auth_config)  # registry_auths (every login the client has) is not aimed at it
            pulled = layout.pull(self.store, name, platform=platform, every=all_tags, emit=progress)
        else:
            creds = credentials.from_auth_config(auth_config) if auth_config else _by_registry(registry_auths)
            pulled = pull.pull(self.store, name, platform=platform, all_tags=all_tags, emit=progress,
                               credentials=creds)
        return [Image(self, image_id) for image_id, _ in pulled]

    def push(self, name: str, destination: str | None = None, *, all_tags: bool = False,
             progress: Callable[[dict], None] | None = None, auth_config: dict | None = None,
             format: str = "oci") -> list[tuple[str, str]]:  # noqa: A002 - podman's option name
        """`docker push`: the image tagged `name` (every local tag of its repository with all_tags) to its
        registry; returns (tag, manifest digest) per tag. `progress` receives docker's progress JSON (the
        last message of each tag: an aux {Tag, Digest, Size}, as dockerd's); `auth_config` as for pull.
        `format`: the manifest's, "oci" (as podman and skopeo push) or "v2s2" (Docker's v2 schema 2, as
        docker). Into an OCI image layout: `name` "oci:PATH:REFERENCE" (the local image the reference
        names), or `destination` "oci:PATH[:REFERENCE]" for the local image `name` (podman's form)."""
        from corral.registry import credentials, layout, push

        if destination is not None and not layout.is_layout(destination):
            raise InvalidArgument(f"push destination {destination!r} is not an OCI layout (oci:PATH[:REFERENCE]); "
                                  "to push to a registry, tag the image with the registry's name and push that")
        if destination is not None or layout.is_layout(name):
            if all_tags:
                raise InvalidArgument("--all-tags/-a does not apply to an OCI layout: push each name")
            if format != "oci":
                push.check_format(format)
                raise InvalidArgument(f"--format {format} does not apply to an OCI layout: it holds OCI manifests")
            _no_auth_for_layout(auth_config)
            image, dest = (name, destination) if destination is not None else ("", name)
            return [layout.push(self.store, image, dest, emit=progress)]
        creds = credentials.from_auth_config(auth_config)
        return push.push(self.store, name, all_tags=all_tags, emit=progress, credentials=creds, format=format)

    def distribution(self, name: str, *, auth_config: dict | None = None) -> dict:
        """What the registry holds under `name`, without pulling it (docker's GET /distribution/NAME/json):
        {"Descriptor": {mediaType, digest, size}, "Platforms": [{architecture, os, ...}]}."""
        from corral.registry import credentials, lookup

        return lookup.distribution(name, credentials=credentials.from_auth_config(auth_config))


def _by_registry(auths: dict[str, dict] | None) -> dict[str, Credentials] | None:
    """{registry: Credentials} of docker's X-Registry-Config map, keyed as config.json keys them (HOST[:PORT],
    or a URL: the Hub's https://index.docker.io/v1/), turned into corral's registry names (docker.io)."""
    from corral.registry import credentials

    if not auths:
        return None
    if not isinstance(auths, dict):
        raise InvalidArgument("registry credentials must map a registry to docker's AuthConfig")
    found = {}
    for server, config in auths.items():
        creds = credentials.from_auth_config(config, f"credentials for {server}")
        if creds is not None:
            found[credentials.hostname(str(server))] = creds
    return found or None


def _no_auth_for_layout(auth_config: dict | None) -> None:
    """A layout is a directory: registry credentials have nothing to apply to, so they are refused."""
    if auth_config:
        raise InvalidArgument("auth_config does not apply to an OCI layout (oci:PATH): it is read and written as "
                              "files")
