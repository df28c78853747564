"""docker's own clients against three engines: the docker CLI's `docker run --rm --network none busybox
true`, and docker-py's containers.run("busybox", "true", remove=True) and exec_run("true"), each against
`corral serve`, `podman system service` and Debian's dockerd; and podman's own CLI `podman run --rm`.

Why (issue 18): `corral serve` makes every tool built on the Docker Engine API a corral tool; the price
of that path must stay far below a real dockerd's. Targets: the docker CLI through corral serve
<= 0.3x the docker CLI through dockerd, and <= podman's own CLI (`podman run --rm`).
Each engine has its own store and socket (corral serve and podman's service and dockerd are started
here with private roots and stopped after; dockerd with --bridge=none --iptables=false as
design/HOST-NOTES.md says), the same busybox (corral's, loaded into the others), calls interleaved
after warm-up. The docker CLI's times include its own start-up (~30 ms), the same for every engine.
Also: the thread-per-connection server answering GET /_ping, new connection each time and kept
alive, which is the overhead a request pays before its use-case (the note in server/listen.py).
"""
from __future__ import annotations

import os
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent / "src"))
import api_py  # noqa: E402 - the daemons and clean-up of the in-process API's benchmark
from _common import (begin, host_forwarding, interleave, median_table, private_podman, ratio,  # noqa: E402
                     remove_corral_root, remove_private_podman_store, restore_forwarding)

ENGINES = ("corral", "podman", "docker")


def start_corral_serve(root: Path, services: list[api_py.Service]) -> tuple[object, bytes, Path]:
    """`corral serve` on a fresh store holding busybox; its docker-py client, busybox as an archive and
    the socket."""
    _, busybox = api_py.start_corral(root)
    sock = root.parent / "corral.sock"
    cmd = ["env", f"CORRAL_ROOT={root}", f"PYTHONPATH={BENCH.parent / 'src'}", sys.executable, "-m",
           "corral.cli.main", "serve", "--host", f"unix://{sock}"]
    service = api_py.Service("corral serve", cmd, sock, root.parent / "serve.log")
    services.append(service)
    return service.start(timeout=30), busybox, sock


def docker_cli(sock: Path) -> api_py.Call:
    env = dict(os.environ, DOCKER_HOST=f"unix://{sock}", DOCKER_CONFIG=str(sock.parent / "docker-config"))
    env.pop("DOCKER_API_VERSION", None)
    argv = ["docker", "run", "--rm", "--network", "none", "busybox", "true"]
    return lambda i: subprocess.run(argv, env=env, capture_output=True).returncode, 0, None


def podman_cli(store: Path) -> api_py.Call:
    argv = [*private_podman(store), "run", "--rm", "--network", "none", "busybox", "true"]
    return lambda i: subprocess.run(argv, capture_output=True).returncode, 0, None


def ping_overhead(sock: Path, runs: int) -> tuple[float, float]:
    """Median ms of GET /_ping on a new connection each time, and on one kept-alive connection."""
    request = b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n"

    def once(s: socket.socket) -> None:
        s.sendall(request)
        data = b""
        while not data.endswith(b"OK"):
            data += s.recv(4096)

    fresh, kept = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(sock))
            once(s)
        fresh.append((time.perf_counter() - t0) * 1000)
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(sock))
        for _ in range(runs):
            t0 = time.perf_counter()
            once(s)
            kept.append((time.perf_counter() - t0) * 1000)
    return statistics.median(fresh), statistics.median(kept)


def main() -> int:
    runs, tmp = begin(__doc__, 20, "timed calls per engine and per call")
    root, store, home = tmp / "corral-root", tmp / "podman", tmp / "dockerd"
    clients: dict[str, object] = {}
    failed: dict[str, str] = {}
    services: list[api_py.Service] = []
    before, forwarding = api_py.host_paths(), host_forwarding()
    try:
        root.mkdir()
        clients["corral"], busybox, corral_sock = start_corral_serve(root, services)
        socks = {"corral": corral_sock}
        for name, start, where in (("podman", api_py.start_podman, store), ("docker", api_py.start_dockerd, home)):
            try:
                clients[name] = start(where, busybox, services)
                socks[name] = services[-1].sock
            except Exception as e:  # noqa: BLE001 - reported in the tables
                failed[name] = str(e) or type(e).__name__
        print(f"$ {shlex.join([sys.executable, *sys.argv])}\n{api_py.versions(clients)}, "
              f"{subprocess.run(['docker', '--version'], capture_output=True, text=True).stdout.strip()}")
        fresh, kept = ping_overhead(corral_sock, 200)
        print(f"corral serve, GET /_ping: {fresh:.2f} ms on a new connection (a thread each), "
              f"{kept:.2f} ms kept alive (median of 200)\n")
        calls = {}
        hangs = {name: [0] for name in ENGINES}
        for name, sock in socks.items():
            calls[name] = api_py.clock(*docker_cli(sock), hangs[name])
        calls["podman CLI"] = api_py.clock(*podman_cli(store), [0]) if "podman" in clients else None
        calls = {k: v for k, v in calls.items() if v is not None}
        times = interleave(calls, runs, dict(failed), warmup=api_py.WARMUP)
        med = median_table(f"docker run --rm --network none busybox true, {runs} interleaved runs each",
                           times, failed, (*ENGINES, "podman CLI"))
        r = ratio(med, "corral", "docker")
        print(f"\ndocker CLI via corral serve / via dockerd: {'n/a' if r is None else f'{r:.3f}'} (target <= 0.3)")
        r = ratio(med, "corral", "podman CLI")
        print(f"docker CLI via corral serve / podman's own CLI: {'n/a' if r is None else f'{r:.3f}'} "
              "(target <= 1)\n")
        for make, title in ((api_py.run_true, 'docker-py containers.run("busybox", "true", remove=True)'),
                            (api_py.exec_true, 'docker-py exec_run("true")')):
            times, missed, _ = api_py.phase(make, clients, runs, failed)
            med = median_table(f"{title}, {runs} interleaved calls each", times, missed, ENGINES)
            for other in ENGINES[1:]:
                r = ratio(med, "corral", other)
                print(f"corral serve/{other}: {'n/a' if r is None else f'{r:.3f}'}")
            print()
        return 0
    finally:
        for name, client in clients.items():
            if name != "corral":
                api_py.remove_containers(name, client)
            else:
                try:
                    for c in client.containers.list(all=True):
                        c.remove(force=True)
                except Exception:  # noqa: BLE001, S110 - the store goes below regardless
                    pass
        for service in services:  # corral serve too: its containers outlive it, removed above
            service.stop()
        api_py.kill_processes_of(tmp)  # the store's monitor, started by corral serve, names tmp
        for path in (home, root):
            remove_corral_root(path)
        api_py.remove_dockerd_residue(before)
        remove_private_podman_store(store)
        restore_forwarding(forwarding)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
