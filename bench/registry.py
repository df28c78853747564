"""Registry push and pull: corral against skopeo, podman and docker (through dockerd) in one run, and push's gzip.

Why (issue 17): an image moves between hosts through a registry, so pushing and pulling must cost no more
than the tools people use for it. All four engines talk to one local registry (Debian's docker-registry on
127.0.0.1, its storage in the temp dir) in the same run, because only figures of one run compare here.

1. The image: busybox and four layers of equal size (--size MiB in all, 200 by default), each a third
   random bytes, a third base64 text, a third counting text, made by corral (run + commit) and saved as a
   docker-archive that the other engines load, untimed.
2. Push, --count times per engine, interleaved, each into a registry restarted empty before it (untimed):
   `corral push`; `skopeo copy docker-archive:… docker://…`; `podman push` (a private store); `docker push`
   through Debian's dockerd, started here with its own roots and `--bridge=none --iptables=false`
   (127.0.0.0/8 is an insecure registry to docker by default), stopped after.
3. Pull, --count times per engine, interleaved, from one registry holding corral's push, into a store the
   image was removed from after the previous run (untimed): `corral pull`, `skopeo copy docker://… oci:DIR`
   (a new directory each run: skopeo stores blobs, it unpacks nothing), `podman pull`, `docker pull`.
4. Push's gzip: the image's layer tars compressed in memory, one thread, by zlib at level 1 (what push
   uses without isal) and by isal's igzip at its levels 0-2 (push uses level 1 when `isal` is installed).

Targets (issue 17): corral pull <= 0.5x podman pull and <= docker pull; corral push <= skopeo push.
Usage: bench/registry.py [--count N] (default 3); CORRAL=... as for the other benchmarks; SIZE_MIB=200.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

sys.dont_write_bytecode = True  # leave no __pycache__ in bench/
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (PREFIX, begin, corral_cmd, corral_env, interleave, median_table, private_podman,  # noqa: E402
                     ratio, remove_corral_root, remove_private_podman_store, run, timed, verdict)

ENGINES = ("corral", "skopeo", "podman", "docker")
SLOW = 900  # s: hundreds of MiB through a registry on a loaded machine is not a hang
MIB = 1 << 20


class Registry:
    """docker-registry on 127.0.0.1 at one port for the whole run; restarted with empty storage on demand."""

    def __init__(self, home: Path) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.host = f"127.0.0.1:{self.port}"
        self.home = home
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, empty: bool = False) -> None:
        import socket

        self.stop()
        storage = self.home / "storage"
        if empty:
            shutil.rmtree(storage, ignore_errors=True)
        storage.mkdir(parents=True, exist_ok=True)
        config = self.home / "config.yml"
        config.write_text(f"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                          f"storage:\n  filesystem:\n    rootdirectory: {storage}\n"
                          f"http:\n  addr: {self.host}\n  secret: corral-bench\n")
        with (self.home / "registry.log").open("ab") as log:
            self.proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {(self.home / 'registry.log').read_text()[-600:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not listen within 20 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def make_image(corral: list[str], env: dict[str, str], size_mib: int, archive: Path) -> None:
    """busybox plus four layers of size_mib/4 each (random, base64 and counting text), saved as `archive`."""
    part = size_mib * MIB // 12
    run(corral + ["image", "bootstrap", "busybox"], env=env, timeout=SLOW)
    base = "busybox"
    for i in range(4):
        script = (f"mkdir /l{i} && head -c {part} /dev/urandom > /l{i}/random && "
                  f"head -c {part * 3 // 4} /dev/urandom | base64 > /l{i}/base64 && "
                  f"seq 1 100000000 | head -c {part} > /l{i}/count")
        run(corral + ["run", "--name", f"{PREFIX}-mk", base, "sh", "-c", script], env=env, timeout=SLOW)
        run(corral + ["commit", f"{PREFIX}-mk", f"bench/app:{i}"], env=env, timeout=SLOW)
        run(corral + ["rm", f"{PREFIX}-mk"], env=env)
        base = f"bench/app:{i}"
    run(corral + ["tag", base, "bench/app:1"], env=env)
    run(corral + ["save", "-o", str(archive), "bench/app:1"], env=env, timeout=SLOW)


def gzip_table(archive: Path) -> None:
    """zlib level 1 against isal's igzip levels on the image's layer tars: MB/s of tar in, and ratio."""
    import zlib

    tars = []
    with tarfile.open(archive) as tf:
        for m in tf:
            if m.name.endswith("/layer.tar") or (m.name.startswith("blobs/") and m.isfile() and m.size > MIB):
                tars.append(tf.extractfile(m).read())  # type: ignore[union-attr]
    total = sum(map(len, tars))
    makers = {"zlib level 1": lambda: zlib.compressobj(1, zlib.DEFLATED, 31)}
    try:
        from isal import isal_zlib

        for level in (0, 1, 2):
            makers[f"isal igzip level {level}"] = lambda level=level: isal_zlib.compressobj(level, isal_zlib.DEFLATED,
                                                                                             31)
    except ImportError:
        print("\n(isal is not installed: pip install isal; only zlib measured)")
    print(f"\nPush's gzip, one thread, {total / MIB:.0f} MiB of layer tars (best of 3)")
    print(f"{'compressor':22} {'MB/s':>8} {'ratio':>7}")
    for name, make in makers.items():
        best, out = float("inf"), 0
        for _ in range(3):
            z, out, t0 = make(), 0, time.perf_counter()
            for data in tars:
                for i in range(0, len(data), MIB):
                    out += len(z.compress(data[i:i + MIB]))
            out += len(z.flush())
            best = min(best, time.perf_counter() - t0)
        print(f"{name:22} {total / best / 1e6:8.1f} {out / total:7.3f}")


def main() -> int:
    runs, tmp = begin(__doc__, 3, "runs per engine")
    size_mib = int(os.environ.get("SIZE_MIB", "200"))
    corral, root = corral_cmd(), tmp / "corral"
    env = corral_env(root)
    pull_env = corral_env(tmp / "corral-pull")
    archive = tmp / "app.tar"
    reg = Registry(tmp / "registry")
    podman = private_podman(tmp / "podman")
    podman_pull = private_podman(tmp / "podman-pull")  # a store that never had the image
    services: list = []
    failed: dict[str, str] = {}
    docker: list[str] = []
    before_docker: set[str] = set()
    try:
        make_image(corral, env, size_mib, archive)
        for d in ("root", "r", "t"):
            (tmp / "podman" / d).mkdir(parents=True)
            (tmp / "podman-pull" / d).mkdir(parents=True)
        run([*podman, "load", "-q", "-i", str(archive)], timeout=SLOW)
        podman_id = run([*podman, "image", "inspect", "--format", "{{.Id}}", "bench/app:1"]).stdout.strip()
        try:
            import api_py

            before_docker = api_py.host_paths()
            api_py.start_dockerd(tmp / "dockerd", archive.read_bytes(), services)
            docker = ["docker", "-H", f"unix://{tmp / 'dockerd' / 'docker.sock'}"]
        except Exception as e:  # noqa: BLE001 - docker's figures are missing, the others stand
            failed["docker"] = f"dockerd: {e}"
        reg.start(empty=True)
        ref = f"{reg.host}/bench/app:1"
        run(corral + ["tag", "bench/app:1", f"{reg.host}/corral/app:1"], env=env)
        if docker:
            run(docker + ["tag", "bench/app:1", f"{reg.host}/docker/app:1"])
        pushes = {
            "corral": corral + ["push", "-q", f"{reg.host}/corral/app:1"],
            "skopeo": ["skopeo", "copy", "-q", "--dest-tls-verify=false", f"docker-archive:{archive}",
                       f"docker://{reg.host}/skopeo/app:1"],
            "podman": [*podman, "push", "-q", "--tls-verify=false", podman_id, f"docker://{reg.host}/podman/app:1"],
            "docker": docker + ["push", "-q", f"{reg.host}/docker/app:1"],
        }

        def push_clock(name: str):  # noqa: ANN202
            def one(i: int) -> float:
                reg.start(empty=True)  # nothing of the image there: every layer goes up
                return timed(pushes[name], env=env if name == "corral" else None)[0]
            return one

        push_times = interleave({n: push_clock(n) for n in ENGINES if n not in failed}, runs, failed)
        reg.start(empty=True)
        run(corral + ["tag", "bench/app:1", ref], env=env)
        run(corral + ["push", "-q", ref], env=env, timeout=SLOW)
        if docker:  # dockerd pulls into a store without the image: its layers go with the loaded one
            run(docker + ["rmi", "bench/app:1", f"{reg.host}/docker/app:1"])
        pulls = {
            "corral": lambda i: corral + ["pull", "-q", ref],
            "skopeo": lambda i: ["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{ref}",
                                 f"oci:{tmp / f'skopeo-{i}'}:app"],
            "podman": lambda i: [*podman_pull, "pull", "-q", "--tls-verify=false", ref],
            "docker": lambda i: docker + ["pull", "-q", ref],
        }
        undo = {
            "corral": lambda i: run(corral + ["rmi", ref], env=pull_env),
            "skopeo": lambda i: shutil.rmtree(tmp / f"skopeo-{i}"),
            "podman": lambda i: run([*podman_pull, "rmi", ref]),
            "docker": lambda i: run(docker + ["rmi", ref]),
        }

        def pull_clock(name: str):  # noqa: ANN202
            def one(i: int) -> float:
                ms = timed(pulls[name](i), env=pull_env if name == "corral" else None)[0]
                undo[name](i)
                return ms
            return one

        failed_push = dict(failed)
        pull_times = interleave({n: pull_clock(n) for n in ENGINES if n not in failed_push}, runs, failed)
        med_push = median_table(f"Push of a {size_mib} MiB image in 5 layers, into an empty registry", push_times,
                                failed_push, ENGINES)
        med_pull = median_table("Pull of the same image into a store without it", pull_times, failed, ENGINES)
        print()
        for kind, med in (("push", med_push), ("pull", med_pull)):
            for other in ENGINES[1:]:
                r = ratio(med, "corral", other)
                print(f"corral {kind} / {other} {kind}: {'n/a' if r is None else f'{r:.3f}'}")
        print(f"\ncorral pull / podman pull: {verdict(ratio(med_pull, 'corral', 'podman'), 0.5)}")
        print(f"corral pull / docker pull: {verdict(ratio(med_pull, 'corral', 'docker'), 1)}")
        print(f"corral push / skopeo push: {verdict(ratio(med_push, 'corral', 'skopeo'), 1)}")
        gzip_table(archive)
    finally:
        reg.stop()
        for service in services:
            service.stop()
        if services:
            import api_py

            api_py.remove_dockerd_residue(before_docker)
        remove_private_podman_store(tmp / "podman")
        remove_private_podman_store(tmp / "podman-pull")
        remove_corral_root(root)
        remove_corral_root(tmp / "corral-pull")
        remove_corral_root(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
