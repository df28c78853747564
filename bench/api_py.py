"""The Python API: `client.containers.run("busybox", "true", remove=True)` through corral's in-process
API, beside docker-py doing the same against `podman system service` and against a real dockerd.

Why (issue 13): corral's API is the engine itself in this process (no daemon, no HTTP), in docker-py's
shape, so a script moving from docker-py changes its import and gets its containers much sooner.
The three clients are driven by the same code, in this one Python process, interleaved, after
warm-up: interpreter start-up is not counted, only the API call. Each engine has its own store
(podman and dockerd private roots and sockets, started and stopped here) and the same busybox image
(corral's, loaded into the others with images.load); every container runs with network_mode="none",
corral's default, so that no engine sets up networking. Also timed: run("busybox", "echo hi")
returning b"hi\\n" (not detached, not removed: the container is removed untimed afterwards), and
exec_run("true") into a running container.
Target: corral/podman <= 0.2 for run(remove=True) (median); corral/docker is shown for scale.
dockerd is the optional second anchor (Debian: `apt-get install --no-install-recommends docker.io`,
never started as a service here); docker-py comes with corral's test extra.
"""
from __future__ import annotations

import importlib.util
import io
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

sys.dont_write_bytecode = True  # leave no __pycache__ in bench/
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent / "src"))  # this checkout's corral, whatever the venv has installed
from _common import (PREFIX, Clocked, begin, host_forwarding, interleave, median_table, private_podman,  # noqa: E402
                     ratio, remove_corral_root, remove_private_podman_store, restore_forwarding, verdict)

ENGINES = ("corral", "podman", "docker")
WARMUP = 3
HANG_S = 15
"""A call that takes longer hung (the slowest normal one here takes about 1 s): see clock()."""
HANGS_MAX = 3
OPTS = {"network_mode": "none"}
SLEEPER = f"{PREFIX}-exec"
DOCKERD_HOST_PATHS = ("/etc/docker/key.json", "/run/docker/plugins", "/run/docker", "/run/containerd/s",
                      "/run/containerd")
"""What dockerd 20.10 and its containerd make outside their private roots, children before parents:
removed afterwards when they were not there before."""
CGROUP_PARENT = f"{PREFIX}-docker"
"""dockerd's containers' cgroup parent, in every hierarchy: named so that cleanup can remove it."""


class Service:
    """A daemon this benchmark starts (podman system service, dockerd) with a docker-py client on
    its unix socket; stop() ends it, whatever state it is in."""

    def __init__(self, name: str, cmd: list[str], sock: Path, log: Path) -> None:
        self.name, self.cmd, self.sock, self.log = name, cmd, sock, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.client = None

    def start(self, timeout: float) -> object:
        """Start the daemon and return a docker-py client once it answers ping."""
        import docker

        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}: {self.tail()}")
            if self.sock.exists():
                try:
                    client = docker.DockerClient(base_url=f"unix://{self.sock}", timeout=120)
                    client.ping()
                    self.client = client
                    return client
                except Exception:  # noqa: BLE001 - not listening yet
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not answer within {timeout:g} s: {self.tail()}")
            time.sleep(0.1)

    def tail(self) -> str:
        try:
            return self.log.read_text(errors="replace").strip()[-600:]
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 30 s; the docker-py client is closed first."""
        if self.client is not None:
            self.client.close()
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)


# --- engines ------------------------------------------------------------------------------------

def start_corral(root: Path) -> tuple[object, bytes]:
    """corral's in-process client on a fresh store with busybox; busybox as a docker-archive."""
    import corral

    client = corral.Client(str(root))
    client.api.bootstrap("busybox")
    archive = io.BytesIO()
    client.api.save(["busybox"], archive)
    return client, archive.getvalue()


def start_podman(store: Path, busybox: bytes, services: list[Service]) -> object:
    """A docker-py client of `podman system service` on a private store (as the other benchmarks'
    podman), busybox loaded."""
    podman = private_podman(store)
    for d in ("root", "r", "t"):
        (store / d).mkdir(parents=True)
    service = Service("podman system service", [*podman, "system", "service", "--time=0",
                                                f"unix://{store / 'api.sock'}"], store / "api.sock",
                      store / "service.log")
    services.append(service)  # to be stopped even if it never answers
    client = service.start(timeout=60)
    client.images.load(busybox)
    return client


def start_dockerd(home: Path, busybox: bytes, services: list[Service]) -> object:
    """A docker-py client of dockerd with its own data and exec roots and socket, no bridge and no
    firewall or forwarding changes (design/HOST-NOTES.md), busybox loaded."""
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise FileNotFoundError("dockerd is not installed (Debian: apt-get install --no-install-recommends "
                                "docker.io); the figures of the other engines stand without it")
    home.mkdir()
    sock = home / "docker.sock"
    cmd = [dockerd, "--data-root", str(home / "root"), "--exec-root", str(home / "exec"), "-H", f"unix://{sock}",
           "--pidfile", str(home / "pid"), "--bridge=none", "--iptables=false", "--ip-forward=false",
           "--ip-masq=false", "--cgroup-parent", f"/{CGROUP_PARENT}"]
    service = Service("dockerd", cmd, sock, home / "dockerd.log")
    services.append(service)
    client = service.start(timeout=60)
    client.images.load(busybox)
    return client


def host_paths() -> set[str]:
    return {p for p in DOCKERD_HOST_PATHS if os.path.lexists(p)}


def remove_dockerd_residue(before: set[str]) -> None:
    """What dockerd made outside its roots: the host paths that were not there before (directories
    only when empty), and its cgroup parent in every hierarchy (empty once its containers are gone)."""
    for p in DOCKERD_HOST_PATHS:
        if p in before or not os.path.lexists(p):
            continue
        try:
            os.rmdir(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)
        except OSError:
            pass
    cgroups = Path("/sys/fs/cgroup")
    for d in [cgroups / CGROUP_PARENT, *cgroups.glob(f"*/{CGROUP_PARENT}")]:
        try:
            d.rmdir()
        except OSError:
            pass


def remove_containers(name: str, client: object) -> None:
    """Every container of an engine's store, running or not (each store is this benchmark's own);
    corral's through the engine's own list (client.api), which the model layer's rests on."""
    try:
        listing = client.api.containers if name == "corral" else client.containers.list  # type: ignore
        found = listing(all=True)
    except Exception as e:  # noqa: BLE001 - a broken engine: its store is removed below regardless
        print(f"could not list {name}'s containers: {e}", file=sys.stderr)
        return
    for c in found:
        try:
            c.remove(force=True)
        except Exception:  # noqa: BLE001 - gone already (auto-removed): go on
            pass


def kill_processes_of(tmp: Path) -> None:
    """SIGKILL what the peers left running that names this benchmark's temp dir: podman's exec
    sessions keep a conmon for 300 s after the command exits (its --exit-delay), even once the
    container is removed. Only processes whose command line names `tmp`, which is ours alone."""
    needle = str(tmp).encode()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if needle in (proc / "cmdline").read_bytes() and int(proc.name) != os.getpid():
                os.kill(int(proc.name), signal.SIGKILL)
        except (OSError, ValueError):
            pass


# --- the calls ----------------------------------------------------------------------------------

class Hang(Exception):
    """A call that did not return within HANG_S."""


def no_hang(signum: int, frame: object) -> None:
    raise Hang(f"no answer within {HANG_S} s")


def clock(call: Callable[[int], object], expect: object, after: Callable[[int], None] | None,
          hangs: list[int]) -> Clocked:
    """The i-th call timed in ms; its answer must be `expect`; after(i) runs untimed.

    podman 4's compat API can miss the exit of a container that ends at once, and then docker-py's
    wait (which has no timeout) never returns (containers/podman#10256): a call that hangs for
    HANG_S is abandoned, counted in hangs[0], and made again; after HANGS_MAX the engine is dropped."""
    def one(i: int) -> float:
        while True:
            before = signal.signal(signal.SIGALRM, no_hang)
            signal.setitimer(signal.ITIMER_REAL, HANG_S)
            try:
                t0 = time.perf_counter()
                got = call(i)
                ms = (time.perf_counter() - t0) * 1000
            except Hang:
                hangs[0] += 1
                if hangs[0] >= HANGS_MAX:
                    raise
                continue
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, before)
            if got != expect:
                raise RuntimeError(f"expected {expect!r}, got {got!r}")
            if after is not None:
                after(i)
            return ms
    return one


Call = tuple[Callable[[int], object], object, Callable[[int], None] | None]
"""What a phase times on one client: the i-th call, its expected answer, what to do after it, untimed."""


def run_true(client: object) -> Call:
    return lambda i: client.containers.run("busybox", "true", remove=True, **OPTS), b"", None  # type: ignore


def run_echo(client: object) -> Call:
    """Each call names its container (fresh after a hang, as the abandoned one may exist), to remove it."""
    names: list[str] = []

    def call(i: int) -> object:
        names.append(f"{PREFIX}-echo-{len(names)}")
        return client.containers.run("busybox", "echo hi", name=names[-1], **OPTS)  # type: ignore

    return call, b"hi\n", lambda i: client.containers.get(names[-1]).remove()  # type: ignore


def exec_true(client: object) -> Call:
    box = client.containers.run("busybox", "sleep 100000", name=SLEEPER, detach=True, **OPTS)  # type: ignore
    return lambda i: tuple(box.exec_run("true")), (0, b""), None


def phase(make: Callable[[object], Call], clients: dict[str, object], runs: int,
          setup_failed: dict[str, str]) -> tuple[dict[str, list[float]], dict[str, str], dict[str, int]]:
    """Time one call on every engine that was set up, interleaved; an engine failing here is
    dropped from this phase only. Also returns how many calls of each engine hung."""
    failed = dict(setup_failed)
    calls: dict[str, Clocked] = {}
    hangs: dict[str, list[int]] = {}
    for name, client in clients.items():
        try:
            hangs[name] = [0]
            calls[name] = clock(*make(client), hangs[name])
        except Exception as e:  # noqa: BLE001 - reported in the table
            failed[name] = str(e) or type(e).__name__
    return interleave(calls, runs, failed, warmup=WARMUP), failed, {n: h[0] for n, h in hangs.items() if h[0]}


def ratios(med: dict[str, float], target: float | None = None) -> None:
    for other in ENGINES[1:]:
        r = ratio(med, "corral", other)
        shown = verdict(r, target) if target is not None and other == "podman" else (
            "n/a (not measured)" if r is None else f"{r:.3f}")
        print(f"corral/{other:7} median ratio: {shown}")


def versions(clients: dict[str, object]) -> str:
    parts = [f"Python {sys.version.split()[0]}"]
    if len(clients) > 1:
        import docker

        parts.append(f"docker-py {docker.__version__}")
    for name in ENGINES[1:]:
        if name in clients:
            parts.append(f"{name} {clients[name].version().get('Version', '?')}")  # type: ignore[attr-defined]
    return ", ".join(parts)


PHASES = ((run_true, 'client.containers.run("busybox", "true", remove=True)', 0.2),
          (run_echo, 'client.containers.run("busybox", "echo hi") returning b"hi\\n"', None),
          (exec_true, 'container.exec_run("true") into a running container', None))
"""Each call timed: how its Clocked is made for a client, the table's title, corral/podman's target."""


def main() -> int:
    runs, tmp = begin(__doc__, 30, "timed calls per engine and per call")
    root, store, home = tmp / "corral-root", tmp / "podman", tmp / "dockerd"
    clients: dict[str, object] = {}
    failed: dict[str, str] = {}
    services: list[Service] = []
    before, forwarding = host_paths(), host_forwarding()
    try:
        root.mkdir()
        try:
            clients["corral"], busybox = start_corral(root)
        except Exception as e:  # noqa: BLE001 - nothing to compare with: say why and stop
            print(f"corral could not run: {e}")
            return 1
        if importlib.util.find_spec("docker") is None:
            failed["podman"] = failed["docker"] = ("docker-py is not installed: pip install 'docker>=7.1' "
                                                   "(it is in corral's test extra)")
        for name, start, where in (("podman", start_podman, store), ("docker", start_dockerd, home)):
            if name in failed:
                continue
            try:
                clients[name] = start(where, busybox, services)
            except Exception as e:  # noqa: BLE001 - reported in the tables
                failed[name] = str(e) or type(e).__name__
        print(f"$ {shlex.join([sys.executable, *sys.argv])}\n{versions(clients)}")
        missed_any = set(failed)
        for make, title, target in PHASES:
            times, missed, hung = phase(make, clients, runs, failed)
            med = median_table(f"{title}, {runs} interleaved calls each, after {WARMUP} warm-up calls",
                               times, missed, ENGINES)
            for name, n in hung.items():
                print(f"{name}: {n} call(s) hung for {HANG_S} s and were abandoned, untimed (see api_py.clock())")
            print()
            ratios(med, target)
            missed_any |= set(missed)
        optional = {"docker"} if shutil.which("dockerd") is None else set()
        return 1 if missed_any - optional else 0
    finally:
        for name, client in clients.items():
            remove_containers(name, client)
        tear_down(tmp, services, before, forwarding, store, home, root)


def tear_down(tmp: Path, services: list[Service], before: set[str], forwarding: tuple[str, set[str]], store: Path,
              home: Path, root: Path) -> None:
    """Once the engines' containers are gone: stop the daemons, kill what they left, remove what dockerd made
    outside its roots (host_paths() `before`), restore forwarding, and delete the podman store, dockerd's
    home, corral's root and the temp dir (bench/stats.py ends so too)."""
    for service in services:
        service.stop()
    kill_processes_of(tmp)
    remove_dockerd_residue(before)
    restore_forwarding(forwarding)
    remove_private_podman_store(store)
    remove_corral_root(home)
    remove_corral_root(root)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
