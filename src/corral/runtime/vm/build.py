"""Builds the guest kernel and init once per host (setup.sh runs `python -m corral.runtime.vm.build`).

The kernel: Debian's linux-source tarball, `make tinyconfig`, this package's fragment merged over it
(scripts/kconfig/merge_config.sh, then olddefconfig), `nice make vmlinux`. Kconfig silently drops an
option whose dependencies are unmet, so every `=y` of the fragment is checked in the result before the
kernel is cached; a fragment that asks for something this source cannot give fails the set-up loudly
instead of booting a guest without, say, 9p. The init: gcc -static -Os of guest/init.c, packed alone
into an uncompressed newc cpio (the initramfs QEMU loads with -initrd). Each lands in the cache by an
atomic rename of a finished directory, so an interrupted build leaves only a .tmp that the next one
replaces.
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from corral.runtime.vm import assets


def linux_source() -> tuple[str, str]:
    """The newest /usr/src/linux-source-X.Y.tar.xz and its Debian package version."""
    tarballs = sorted(glob.glob("/usr/src/linux-source-*.tar.xz"),
                      key=lambda p: [int(n) for n in re.findall(r"\d+", os.path.basename(p))])
    if not tarballs:
        sys.exit("no /usr/src/linux-source-*.tar.xz: install Debian's linux-source package")
    package = os.path.basename(tarballs[-1]).removesuffix(".tar.xz")
    version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True,
                             text=True, check=True).stdout.strip()
    return tarballs[-1], version


def wanted_options(fragment: str) -> list[str]:
    with open(fragment) as f:
        return [line.strip() for line in f if line.startswith("CONFIG_")]


def missing_options(fragment: str, config: str) -> list[str]:
    with open(config) as f:
        have = {line.strip() for line in f}
    return [opt for opt in wanted_options(fragment) if opt not in have]


def build_kernel(jobs: int = 2) -> str:
    tarball, version = linux_source()
    final = assets.kernel_dir(version)
    if os.path.exists(os.path.join(final, "vmlinux")):
        print(f"guest kernel: cached in {final}")
        return final
    os.makedirs(assets.cache_dir(), exist_ok=True)
    work = final + ".tmp"
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    started = time.monotonic()
    print(f"guest kernel: building from {os.path.basename(tarball)} {version} (a few minutes, once)", flush=True)
    subprocess.run(["tar", "xJf", tarball, "-C", work, "--strip-components=1"], check=True)
    quiet = {"stdout": subprocess.DEVNULL, "cwd": work, "check": True}
    subprocess.run(["make", "tinyconfig"], **quiet)
    subprocess.run(["scripts/kconfig/merge_config.sh", "-m", ".config", assets.KERNEL_FRAGMENT], **quiet)
    subprocess.run(["make", "olddefconfig"], **quiet)
    missing = missing_options(assets.KERNEL_FRAGMENT, os.path.join(work, ".config"))
    if missing:
        sys.exit(f"guest kernel: this source cannot enable {', '.join(missing)}")
    log = os.path.join(assets.cache_dir(), "kernel-build.log")
    with open(log, "w") as out:
        done = subprocess.run(["nice", "-n", "10", "make", f"-j{jobs}", "vmlinux"], cwd=work, stdout=out,
                              stderr=subprocess.STDOUT)
    if done.returncode != 0:
        sys.exit(f"guest kernel: make vmlinux failed, see {log}")
    ready = tempfile.mkdtemp(prefix=os.path.basename(final) + ".", dir=assets.cache_dir())
    shutil.copy(os.path.join(work, "vmlinux"), os.path.join(ready, "vmlinux"))
    shutil.copy(os.path.join(work, ".config"), os.path.join(ready, "config"))
    os.chmod(ready, 0o755)
    os.rename(ready, final)
    shutil.rmtree(work, ignore_errors=True)
    print(f"guest kernel: built in {time.monotonic() - started:.0f} s, cached in {final}")
    return final


def build_init() -> str:
    final = assets.init_dir()
    if os.path.exists(os.path.join(final, "initrd.cpio")):
        print(f"guest init: cached in {final}")
        return final
    os.makedirs(assets.cache_dir(), exist_ok=True)
    ready = tempfile.mkdtemp(prefix=os.path.basename(final) + ".", dir=assets.cache_dir())
    root = os.path.join(ready, "root")
    os.mkdir(root)
    subprocess.run(["gcc", "-static", "-Os", "-s", "-Wall", "-Werror", "-o", os.path.join(root, "init"),
                    assets.INIT_SOURCE], check=True)
    with open(os.path.join(ready, "initrd.cpio"), "wb") as out:
        subprocess.run(["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"], input=b"init\n", cwd=root,
                       stdout=out, check=True)
    shutil.rmtree(root)
    os.chmod(ready, 0o755)
    os.rename(ready, final)
    print(f"guest init: built, cached in {final}")
    return final


PRUNE_AFTER = 7 * 86400
"""Seconds an init other than this package's stays cached after its last use (assets.guest_initrd marks each):
another checkout or version of corral on the host may still start VMs with it."""


def prune_inits(now: float | None = None) -> list[str]:
    """Remove the cached inits other than this package's that no VM started with for PRUNE_AFTER, and what an
    interrupted build left (its temporary directory) as old; the kernels stay (minutes to build). Each init is a
    few hundred KiB, but each init's templates (runtime/vm/template.py, prune) are 50 MiB and more."""
    now = time.time() if now is None else now
    removed = []
    for path in glob.glob(os.path.join(assets.cache_dir(), "init-*")):
        if path == assets.init_dir():
            continue
        try:
            if now - os.stat(path).st_mtime < PRUNE_AFTER:
                continue
        except FileNotFoundError:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def main() -> None:
    build_init()
    for path in prune_inits():
        print(f"guest init: removed {path} (unused for {PRUNE_AFTER // 86400} days)")
    build_kernel()
    from corral.runtime.vm import accel

    started = time.monotonic()
    fresh = not accel.cached()
    found = accel.accelerator()
    print(f"guest accelerator: {found}" + (f" (probed in {time.monotonic() - started:.1f} s)" if fresh else ""))


if __name__ == "__main__":
    main()
