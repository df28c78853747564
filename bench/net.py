"""Networking: what a switch adds to `run --rm`, and HTTP through a published port vs direct.

Why (issue 5): a published port must be a kernel DNAT, not a userland proxy
on the hot path, and a container on a switch must still start fast. In one
run, interleaved because these machines are noisy:
- `run --rm busybox true` with --network none, on a switch, and on a switch
  with a published port (corral), and podman with --network none vs its
  bridge; target: corral's switch adds < 30 ms.
- requests/s (a new TCP connection per GET, busybox httpd) to the published
  port on 127.0.0.1 vs to the container's own address, for corral and podman;
  target: published/direct >= 0.95.
Traffic goes only to 127.0.0.1 and to the benchmark's own containers.
"""
from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.dont_write_bytecode = True  # leave no __pycache__ in bench/
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (PODMAN, PREFIX, cleanup_on_sigterm, cleanup_podman, corral_cmd, corral_env,  # noqa: E402
                     corral_ready, make_rootfs, median_table,
                     podman_import, remove_corral_root, run, timed, verdict)
import hostprep  # noqa: E402

NET = f"{PREFIX}-net"
WEB = "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 80 -h /www"
APPLETS = ("mkdir", "httpd")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rps(host: str, port: int, seconds: float, threads: int = 4) -> float:
    """GETs per second, each on a new connection, from `threads` clients for `seconds`."""
    done = [0] * threads
    deadline = time.monotonic() + seconds

    def client(i: int) -> None:
        while time.monotonic() < deadline:
            with socket.create_connection((host, port), timeout=5) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                while s.recv(65536):
                    pass
            done[i] += 1

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(done) / seconds


def wait_http(host: str, port: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            rps(host, port, 0.01, threads=1)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def latency(root: Path, runs: int, podman_image: str | None, failed: dict[str, str]) -> None:
    corral, env = corral_cmd(), corral_env(root)
    port = free_port()
    cmds = {
        "none": corral + ["run", "--rm", "--network", "none", "busybox", "true"],
        "switch": corral + ["run", "--rm", "--network", NET, "busybox", "true"],
        "switch+p": corral + ["run", "--rm", "--network", NET, "-p", f"{port}:80", "busybox", "true"],
    }
    if podman_image:
        cmds["podman-none"] = [*PODMAN, "run", "--rm", "--network", "none", podman_image, "true"]
        cmds["podman-br"] = [*PODMAN, "run", "--rm", "-p", f"{port}:80", podman_image, "true"]
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for i in range(-2, runs):
        for name, cmd in cmds.items():
            if name in failed:
                continue
            try:
                ms, _ = timed(cmd, env=env)
            except Exception as e:  # noqa: BLE001 - a failed engine is reported, not timed
                failed[name] = str(e)
                continue
            if i >= 0:
                times[name].append(ms)
    med = median_table(f"run --rm busybox true, {runs} interleaved runs each", times, failed, tuple(cmds))
    if "switch" in med and "none" in med:
        print(f"\ncorral: a switch adds (ms) {verdict(med['switch'] - med['none'], 30)}")
    if "switch+p" in med and "none" in med:
        print(f"corral: a switch and a published port add {med['switch+p'] - med['none']:.1f} ms")
    if "podman-br" in med and "podman-none" in med:
        print(f"podman: its bridge and a published port add {med['podman-br'] - med['podman-none']:.1f} ms")


def throughput(root: Path, seconds: float, podman_image: str | None, failed: dict[str, str]) -> None:
    corral, env = corral_cmd(), corral_env(root)
    targets: dict[str, tuple[str, int]] = {}
    port = free_port()
    run(corral + ["run", "-d", "--name", "web", "--network", NET, "-p", f"127.0.0.1:{port}:80", "busybox",
                  "sh", "-c", WEB], env=env)
    info = json.loads(run(corral + ["inspect", "web"], env=env).stdout)[0]
    targets["corral published"] = ("127.0.0.1", port)
    targets["corral direct"] = (info["NetworkSettings"]["Networks"][NET]["IPAddress"], 80)
    if podman_image:
        pport = free_port()
        try:
            run([*PODMAN, "run", "-d", "--name", f"{PREFIX}-web", "-p", f"127.0.0.1:{pport}:80", podman_image,
                 "sh", "-c", WEB])
            ip = run([*PODMAN, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", f"{PREFIX}-web"]).stdout.strip()
            targets["podman published"] = ("127.0.0.1", pport)
            if ip:
                targets["podman direct"] = (ip, 80)
        except RuntimeError as e:
            failed["podman"] = str(e)
    for host, port_ in targets.values():
        wait_http(host, port_)
    results: dict[str, list[float]] = {k: [] for k in targets}
    for _ in range(3):
        for name, (host, port_) in targets.items():
            results[name].append(rps(host, port_, seconds / 3))
    print(f"\nHTTP GETs per second (a new connection each, 4 clients, {seconds:.0f} s per target)")
    best = {k: max(v) for k, v in results.items()}
    for name, value in best.items():
        print(f"{name:18} {value:9.0f}")
    for engine in ("corral", "podman"):
        if f"{engine} published" in best and f"{engine} direct" in best:
            r = best[f"{engine} published"] / best[f"{engine} direct"]
            print(f"{engine}: published/direct = {r:.2f}" + (" (target >= 0.95)" if engine == "corral" else ""))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=lambda v: max(1, int(v)), default=20, help="timed runs per case (default 20)")
    ap.add_argument("--seconds", type=float, default=6, help="load time per HTTP target (default 6)")
    ap.add_argument("--no-podman", action="store_true", help="corral only")
    args = ap.parse_args()
    hostprep.prepare()
    cleanup_on_sigterm()
    tmp = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-"))
    root = tmp / "corral-root"
    root.mkdir()
    failed: dict[str, str] = {}
    image = None
    try:
        why = corral_ready(root)
        if why:
            print(f"corral could not run: {why}")
            return 1
        run(corral_cmd() + ["network", "create", NET], env=corral_env(root))
        if not args.no_podman and shutil.which(PODMAN[0]):
            try:
                rootfs = tmp / "rootfs"
                make_rootfs(rootfs)
                for applet in APPLETS:
                    (rootfs / "bin" / applet).symlink_to("busybox")
                image = podman_import(rootfs, tmp / "rootfs.tar")
            except (OSError, RuntimeError) as e:
                failed["podman"] = str(e)
        latency(root, args.runs, image, failed)
        throughput(root, args.seconds, image, failed)
    finally:
        subprocess.run(corral_cmd() + ["rm", "-f", "web"], env=corral_env(root), capture_output=True)
        subprocess.run(corral_cmd() + ["network", "rm", NET], env=corral_env(root), capture_output=True)
        if image:
            subprocess.run([*PODMAN, "rm", "-f", "-t", "0", f"{PREFIX}-web"], capture_output=True, timeout=300)
        cleanup_podman(image)
        remove_corral_root(root)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
