"""Mounts a container asks for: docker's `-v`/`--mount` grammar read into one description per mount, and
their resolution at create (volumes made or found, bind sources checked, the image's VOLUMEs added).

A description is a plain dict, recorded in the container's options (so `volume rm` and
`volume ls -f dangling` see who uses a volume, and inspect shows `Mounts`):

    {"type": "bind"|"volume"|"tmpfs", "source": host path | volume name | "", "target": "/ctr",
     "readonly": bool, "propagation": "" (rprivate) | "shared" | "rslave" ..., "nocopy": bool,
     "anonymous": bool (a volume made for this container), "inherited": "C[:ro]" (from --volumes-from C),
     "declared": bool (an image's VOLUME), "oci": {type, source, options} at create}

runtime/spec.py turns the resolved ones into OCI mounts; runtime/ never sees the store.
"""
from __future__ import annotations

from corral.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from corral.api.host import Host

PROPAGATIONS = ("shared", "rshared", "slave", "rslave", "private", "rprivate")
MOUNT_KEYS = ("type", "source", "src", "target", "destination", "dst", "readonly", "ro", "bind-propagation",
              "volume-nocopy", "volume-opt", "volume-driver", "volume-label", "tmpfs-size", "tmpfs-mode",
              "consistency", "bind-nonrecursive")


def _mount(kind: str, source: str, target: str, **more: object) -> dict:
    found = {"type": kind, "source": source, "target": target, "readonly": False, "propagation": "",
             "nocopy": False, "anonymous": False}
    found.update(more)
    return found


def _check_target(kind: str, target: str, text: str, flag: str) -> None:
    if not target:
        raise InvalidArgument(f"invalid mount config for type \"{kind}\": field Target must not be empty")
    if not target.startswith("/"):
        where = f"invalid volume specification: '{text}': " if flag == "-v" else ""
        raise InvalidArgument(f"{where}invalid mount config for type \"{kind}\": invalid mount path: '{target}' "
                              "mount path must be absolute")
    if target == "/":
        raise InvalidArgument(f"invalid mount config for type \"{kind}\": invalid specification: destination "
                              "can't be '/'")


def parse_volume(text: str) -> tuple[dict, list[str]]:
    """`-v [SOURCE:]TARGET[:MODES]` as docker reads it: a SOURCE starting with / (or . as docker's CLI
    makes absolute) is a bind of a host path (created when missing), another a named volume, none an
    anonymous volume; MODES are comma-separated ro|rw, z|Z, nocopy and a propagation. Returns the
    description and warnings to show (z/Z: corral does no SELinux relabelling)."""
    import os

    from corral.api.volume import valid_name

    parts = text.split(":")
    if len(parts) > 3 or not all(parts):
        raise InvalidArgument(f"invalid volume specification: '{text}'")
    modes = parts[2].split(",") if len(parts) == 3 else []
    source, target = (parts[0], parts[1]) if len(parts) >= 2 else ("", parts[0])
    warnings = []
    m = _mount("volume", "", target)
    if source.startswith(".") or source.startswith("/"):
        m = _mount("bind", os.path.abspath(source), target, create_source=True)
    elif source:
        if not valid_name(source):
            raise InvalidArgument(f'invalid volume specification: \'{text}\': "{source}" includes invalid characters '
                                  'for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you '
                                  "intended to pass a host directory, use absolute path")
        m["source"] = source
    _check_target(m["type"], target, text, "-v")
    m["spec"] = text  # as typed: docker's HostConfig.Binds lists -v entries so (but anonymous ones)
    seen_rw = seen_prop = False
    for mode in modes:
        if mode in ("ro", "rw") and not seen_rw:
            m["readonly"], seen_rw = mode == "ro", True
        elif mode in ("z", "Z"):
            warnings.append(f"ignoring the SELinux relabelling option '{mode}' of -v {text}: corral does not "
                            "relabel")
        elif mode == "nocopy" and m["type"] == "volume" and not m["nocopy"]:
            m["nocopy"] = True
        elif mode in PROPAGATIONS and not seen_prop and m["type"] == "bind":
            m["propagation"], seen_prop = mode, True
        else:
            raise InvalidArgument(f"invalid volume specification: '{text}': invalid mode: {parts[2]}")
    return m, warnings


def _truth(key: str, value: str | None) -> bool:
    if value is None or value.lower() in ("1", "true"):
        return True
    if value.lower() in ("0", "false"):
        return False
    raise InvalidArgument(f"invalid value for {key}: {value}")


def parse_mount(text: str) -> dict:
    """`--mount type=bind|volume|tmpfs,source=,target=,readonly,...` as docker reads it (type volume when
    not given); an unknown key is docker's error."""
    import csv

    try:
        [fields] = list(csv.reader([text]))
    except (csv.Error, ValueError):
        raise InvalidArgument(f"invalid argument \"{text}\" for \"--mount\" flag: not a CSV line") from None
    values: dict[str, str | None] = {}
    volume_opts: dict[str, str] = {}
    for field in fields:
        key, sep, value = field.partition("=")
        key = key.strip().lower()
        if key not in MOUNT_KEYS:
            raise InvalidArgument(f"invalid argument \"{text}\" for \"--mount\" flag: unexpected key '{key}' in "
                                  f"'{field}'")
        if not sep and key not in ("readonly", "ro", "volume-nocopy", "bind-nonrecursive"):
            raise InvalidArgument(f"invalid argument \"{text}\" for \"--mount\" flag: invalid field '{field}' must "
                                  "be a key=value pair")
        if key == "volume-opt":
            k, _, v = value.partition("=")
            volume_opts[k] = v
        else:
            values[{"src": "source", "destination": "target", "dst": "target", "ro": "readonly"}.get(key, key)] = \
                value if sep else None
    kind = (values.pop("type", None) or "volume").lower()
    if kind not in ("bind", "volume", "tmpfs"):
        raise InvalidArgument(f"invalid mount config for type \"{kind}\": mount type unknown (corral takes bind, "
                              "volume and tmpfs)")
    source, target = values.pop("source", "") or "", values.pop("target", "") or ""
    _check_target(kind, target, text, "--mount")
    m = _mount(kind, source, target, readonly=_truth("readonly", values.pop("readonly")) if "readonly" in values
               else False)
    for key, owner in (("bind-propagation", "bind"), ("volume-nocopy", "volume"), ("volume-opt", "volume"),
                       ("volume-driver", "volume"), ("volume-label", "volume"), ("tmpfs-size", "tmpfs"),
                       ("tmpfs-mode", "tmpfs")):
        if (key in values or key == "volume-opt" and volume_opts) and kind != owner:
            raise InvalidArgument(f"invalid mount config for type \"{kind}\": cannot mix '{key}' with "
                                  f"type '{kind}'")
    if kind == "bind":
        if not source:
            raise InvalidArgument('invalid mount config for type "bind": field Source must not be empty')
        if not source.startswith("/"):
            raise InvalidArgument(f'invalid mount config for type "bind": invalid mount path: \'{source}\' mount '
                                  "path must be absolute")
        prop = values.pop("bind-propagation", None) or ""
        if prop and prop not in PROPAGATIONS:
            raise InvalidArgument(f"invalid value for bind-propagation: {prop}")
        m["propagation"] = prop
    elif kind == "volume":
        from corral.api.volume import check_name

        if source:
            check_name(source)
        if values.get("volume-driver") not in (None, "local"):
            raise InvalidArgument(f"volume driver {values['volume-driver']!r} not found (corral has the local driver "
                                  "only)")
        m["nocopy"] = _truth("volume-nocopy", values.pop("volume-nocopy")) if "volume-nocopy" in values else False
        m["volume_options"] = volume_opts
        if values.get("volume-label"):
            k, _, v = str(values["volume-label"]).partition("=")
            m["volume_labels"] = {k: v}
    else:
        if source:
            raise InvalidArgument('invalid mount config for type "tmpfs": field Source must be empty')
        m["tmpfs_options"] = _tmpfs_options(values.pop("tmpfs-size", None), values.pop("tmpfs-mode", None))
    return m


def _tmpfs_options(size: str | None, mode: str | None) -> str:
    from corral.runtime.options import parse_bytes

    opts = []
    if size:
        try:
            opts.append(f"size={parse_bytes(size)}")
        except (InvalidArgument, ValueError):
            raise InvalidArgument(f"invalid value for tmpfs-size: {size}") from None
    if mode:
        try:
            opts.append(f"mode={int(mode, 8):o}")
        except ValueError:
            raise InvalidArgument(f"invalid value for tmpfs-mode: {mode}") from None
    return ",".join(opts)


def _clean(target: str) -> str:
    import posixpath

    return posixpath.normpath(target)


def volumes_from(host: Host, refs: list[str]) -> list[dict]:
    """`--volumes-from C[:ro|rw]`: the mounts of container C (binds and volumes, not tmpfs), read-only
    with :ro, as C has them with :rw or nothing; each marked "inherited" (from C), so that inspect lists
    them in Mounts but not in HostConfig.Binds or HostConfig.Mounts, as docker does."""
    found = []
    for ref in refs:
        name, _, mode = ref.partition(":")
        if mode not in ("", "ro", "rw"):
            raise InvalidArgument(f"invalid mode for volumes-from: {mode}")
        donor = host.container(name)
        for m in donor.options.mounts:
            if m["type"] == "tmpfs":
                continue
            m = {k: v for k, v in m.items() if k != "spec"}  # docker's HostConfig shows VolumesFrom, not Binds
            m.update(anonymous=False, inherited=ref)  # the donor's anonymous volumes stay the donor's
            if mode:
                m["readonly"] = mode == "ro"
            found.append(m)
    return found


def resolve(host: Host, asked: list[dict], inherited: list[dict], image_volumes: list[str],
            layer_dirs: list[str]) -> tuple[list[dict], list[str]]:
    """The mounts of a new container, each with its "oci" part: `asked` (-v/--mount; two on one target
    are docker's error), then `inherited` (--volumes-from) and the image's VOLUMEs (anonymous volumes)
    on targets not taken. Volumes are found or made (a named one on first use); an empty local volume
    mounted over an image directory with content gets a copy of it (docker's copy-up) unless nocopy.
    Returns the mounts and the volumes made here (removed by the caller when the create fails)."""
    import os

    from corral.api import volume as volumes

    taken: dict[str, dict] = {}
    for m in asked:
        target = _clean(m["target"])
        if target in taken:
            raise InvalidArgument(f"Duplicate mount point: {target}")
        taken[target] = dict(m, target=target)
    for m in inherited:
        taken.setdefault(_clean(m["target"]), m)
    for path in image_volumes:
        if path.startswith("/"):
            taken.setdefault(_clean(path), _mount("volume", "", _clean(path), declared=True))
    from corral.store import volumes as records

    made: list[str] = []
    used = volumes.users(host) if any(m["type"] == "volume" for m in taken.values()) else {}
    try:
        for m in taken.values():
            if m["type"] == "bind":
                if not os.path.exists(m["source"]):
                    if not m.get("create_source"):
                        raise InvalidArgument(f"invalid mount config for type \"bind\": bind source path does not "
                                              f"exist: {m['source']}")
                    os.makedirs(m["source"], exist_ok=True)
                m["oci"] = {"type": "bind", "source": m["source"], "options": []}
            elif m["type"] == "volume":
                name = m["source"]
                if not name or records.get(host.store, name) is None:
                    vol = volumes.create(host, name or None, None, m.get("volume_options"), m.get("volume_labels"),
                                         anonymous=not name)
                    made.append(vol.name)
                    m["anonymous"] = not name
                else:
                    vol = host.volume(name)
                m["source"] = vol.name
                m["oci"] = vol.source()
                if not m["nocopy"] and not vol.options.get("type") and vol.name not in used:
                    from corral.store.root import store_errors

                    with store_errors(host.store.root):  # a full disk named as the store's, as any write to it
                        copy_up(layer_dirs, m["target"], vol.mountpoint)
            else:
                from corral.runtime import spec

                m["oci"] = spec.tmpfs_mount(m["target"], m.get("tmpfs_options", ""))
    except BaseException:
        for name in made:
            records.discard(host.store, name)
        raise
    return sorted(taken.values(), key=lambda m: m["target"].count("/")), made


def copy_up(layer_dirs: list[str], target: str, dest: str) -> None:
    """Copy what the image holds at `target` (read through its layers, links inside it followed as the
    container would, never out to the host) into the empty volume directory `dest`: modes, owners,
    times, links and hard links kept. Nothing when dest is not empty or the image has no directory there."""
    import os
    import stat

    from corral.store.merged import MergedTree

    if os.listdir(dest):
        return
    tree = MergedTree(layer_dirs)
    rel = tree.resolve(target.lstrip("/"))
    found = tree.lookup(rel) if rel is not None else None
    if found is None or not stat.S_ISDIR(found[1].st_mode):
        return
    inodes: dict[tuple[int, int], str] = {}
    dirs: list[tuple[str, os.stat_result]] = []
    for path, real, st in tree.walk(rel):
        out = os.path.join(dest, path[len(rel):].lstrip("/")) if path != rel else dest
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISDIR(st.st_mode):
            if out != dest:
                os.mkdir(out, 0o700)
            dirs.append((out, st))
            continue
        key = (st.st_dev, st.st_ino)
        if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1 and key in inodes:
            os.link(inodes[key], out)
            continue
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(real), out)
        elif stat.S_ISREG(st.st_mode):
            src = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
                try:
                    while os.sendfile(fd, src, None, 1 << 24):
                        pass
                finally:
                    os.close(fd)
            finally:
                os.close(src)
        else:
            os.mknod(out, st.st_mode, st.st_rdev)
        os.lchown(out, st.st_uid, st.st_gid)
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(out, mode)
        os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
        inodes[key] = out
    for out, st in reversed(dirs):  # after their contents: a read-only directory was still writable
        os.chown(out, st.st_uid, st.st_gid)
        os.chmod(out, stat.S_IMODE(st.st_mode))
        os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns))
