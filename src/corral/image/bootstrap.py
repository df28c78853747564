"""Base images made on this host, with no registry: busybox from busybox-static, Debian by debootstrap.

They play the part of the OS images (Nano Server, Server Core) that every
other image in a repository is built on.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from typing import Callable

from corral.errors import InvalidArgument, NotFound
from corral.image.importer import import_rootfs_dir, import_tar
from corral.store.root import Store

BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")

_PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
"""
_GROUP = """root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
wheel:x:10:root
mail:x:12:
www-data:x:33:
operator:x:37:
users:x:100:
nogroup:x:65534:
"""


def find_busybox() -> str:
    for path in BUSYBOX_CANDIDATES:
        if os.path.exists(path):
            out = subprocess.run(["ldd", path], capture_output=True, text=True)
            if "not a dynamic executable" in out.stdout + out.stderr or out.returncode != 0:
                return path
    raise NotFound("no static busybox on this host: install it with `apt-get install busybox-static`")


def busybox_tar(busybox: str, mtime: int) -> bytes:
    """A tiny root filesystem: busybox, a symlink per applet, passwd/group and the usual directories."""
    applets = subprocess.run([busybox, "--list-full"], capture_output=True, text=True, check=True).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def add_dir(name: str, mode: int = 0o755) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, mtime
            tar.addfile(info)

        def add_file(name: str, data: bytes, mode: int = 0o644) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, mtime
            tar.addfile(info, io.BytesIO(data))

        for d in ("bin", "dev", "etc", "home", "proc", "root", "sys", "usr", "usr/bin", "usr/sbin", "sbin",
                  "var", "var/www", "var/spool", "var/spool/mail"):
            add_dir(d, 0o700 if d == "root" else 0o755)
        add_dir("tmp", 0o1777)
        with open(busybox, "rb") as f:
            add_file("bin/busybox", f.read(), 0o755)
        add_file("etc/passwd", _PASSWD.encode())
        add_file("etc/group", _GROUP.encode())
        for applet in sorted(set(applets)):
            path = applet.lstrip("/")
            if path == "bin/busybox" or "/" not in path:
                continue
            info = tarfile.TarInfo(path)
            info.type, info.mtime, info.mode = tarfile.SYMTYPE, mtime, 0o777
            info.linkname = "/bin/busybox"
            tar.addfile(info)
    return buf.getvalue()


def bootstrap_busybox(store: Store, tag: str = "busybox:latest") -> str:
    busybox = find_busybox()
    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", os.stat(busybox).st_mtime))
    data = busybox_tar(busybox, mtime)
    return import_tar(store, io.BytesIO(data), [tag], cmd=["sh"], created_by="corral image bootstrap busybox",
                      created_ts=mtime)


def apt_mirror() -> str:
    """The Debian mirror this host's apt already uses (deb822 or one-line sources)."""
    candidates = ["/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"]
    sources_d = "/etc/apt/sources.list.d"
    if os.path.isdir(sources_d):
        candidates += [os.path.join(sources_d, n) for n in sorted(os.listdir(sources_d))]
    for path in candidates:
        if not os.path.isfile(path):
            continue
        with open(path) as f:
            for line in f:
                words = line.split()
                if path.endswith(".sources") and words[:1] == ["URIs:"] and len(words) > 1:
                    if "security" not in words[1]:
                        return words[1]
                if words[:1] == ["deb"]:
                    uri = next((w for w in words[1:] if not w.startswith("[")), "")
                    if uri and "security" not in uri and "]" not in uri:
                        return uri
    raise NotFound("found no Debian mirror in /etc/apt/sources.list*: configure apt first")


def bootstrap_debian(store: Store, suite: str, tag: str, progress: Callable[[str], None] | None = None) -> str:
    if not shutil.which("debootstrap"):
        raise NotFound("debootstrap is not installed: run `apt-get install debootstrap`")
    if not suite.isalnum():
        raise InvalidArgument(f"invalid Debian suite {suite!r}")
    mirror = apt_mirror()
    workdir = store.mkdtemp("debootstrap-")
    rootfs = os.path.join(workdir, "rootfs")
    try:
        cmd = ["debootstrap", "--variant=minbase", suite, rootfs, mirror]
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if out.returncode != 0:
            tail = out.stdout.strip().splitlines()[-3:]
            raise InvalidArgument(f"debootstrap {suite} from {mirror} failed: {' / '.join(tail)}")
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for name in os.listdir(os.path.join(rootfs, cache)):
                p = os.path.join(rootfs, cache, name)
                if os.path.isfile(p) and name.endswith((".deb", "_Packages", "_Release", "_InRelease")):
                    os.unlink(p)
        return import_rootfs_dir(store, rootfs, [tag], cmd=["bash"],
                                 created_by=f"corral image bootstrap debian:{suite} (debootstrap --variant=minbase)")
    finally:
        from corral.store.fsutil import remove_tree

        remove_tree(workdir)
