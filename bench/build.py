"""Build time: `corral build` against `podman build` (buildah), cold and fully cached.

Why (issue 6): developers rebuild images all day, so a build must cost less
than podman's both when every step runs and when nothing changed. One
6-step Dockerfile, in a temp context made here:

    FROM <busybox>
    COPY files/ /app/files/          (500 small files)
    RUN ls /app/files | wc -l > /count
    RUN echo hi > /hi
    ENV GREETING=hi
    CMD ["cat", "/count"]

built by both engines interleaved in one process, because these machines are
noisy and only same-run figures compare:

1. Cold: `build --no-cache -t NAME`; after each build (untimed) every image
   but the base is removed from the engine's store, so each build starts
   from the same store, holding the base only. This is fairer than a fresh
   store per build, which would also time each engine's first-use set-up of
   a store (its database, corral's default switch) that no developer pays
   per build.
2. Cached: one untimed build fills the cache; then the same build, nothing
   changed, is timed: every step a cache hit.

corral's RUN steps use the build's default network, its default switch
(a veth and nft rules per RUN); the cold build is also timed with
`--network none`, shown as corral-none. podman builds with its own defaults
(a netavark bridge per RUN), which work offline here, so no --network or
--isolation is given; netavark turns net.ipv4.ip_forward on and leaves it
on, so the benchmark puts it back as it found it. The busybox base is corral's `image bootstrap busybox`
and, in podman, the same busybox-static rootfs imported as PODMAN_IMAGE.
Target: corral/podman <= 0.5 (median wall time), cold and cached.

corral uses a temp store (CORRAL_ROOT) whose switch is removed before the
store is; podman runs on a private store (--root/--runroot/--tmpdir in the
temp dir), so nothing is left in the host's podman storage.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

sys.dont_write_bytecode = True  # leave no __pycache__ in bench/
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (PREFIX, begin, Command, corral_cmd, corral_env, corral_ready, host_forwarding,  # noqa: E402
                     make_rootfs, measure, median_table, private_podman_store, ratio, remove_corral_root,
                     remove_private_podman_store, restore_forwarding, run, verdict)

FILES = 500
STEPS = """COPY files/ /app/files/
RUN ls /app/files | wc -l > /count
RUN echo hi > /hi
ENV GREETING=hi
CMD ["cat", "/count"]
"""
TAG = f"{PREFIX}-build:latest"
TARGET = 0.5
SLOW = 600  # s: a cold build of 500 files is not a hang
COLD_ENGINES = ("corral", "corral-none", "podman")


def make_context(tmp: Path, bases: dict[str, str]) -> tuple[Path, dict[str, Path]]:
    """The build context (500 files of a few bytes), and one Dockerfile per engine, outside
    the context, differing only in the FROM line's name for the same busybox."""
    ctx = tmp / "context"
    (ctx / "files").mkdir(parents=True)
    for i in range(FILES):
        (ctx / "files" / f"f{i:03}").write_text(f"file {i}\n")
    files = {}
    for engine, base in bases.items():
        files[engine] = tmp / f"Dockerfile.{engine}"
        files[engine].write_text(f"FROM {base}\n{STEPS}")
    return ctx, files


def keep_only(cli: list[str], env: dict[str, str] | None, base_id: str) -> None:
    """Remove every image of the store but the base (the built one and the intermediate ones)."""
    ids = set(run([*cli, "images", "-aq", "--no-trunc"], env=env).stdout.split()) - {base_id}
    if ids:
        run([*cli, "rmi", "-f", *sorted(ids)], env=env, timeout=SLOW)


def image_id(cli: list[str], env: dict[str, str] | None, ref: str) -> str:
    return run([*cli, "images", "-q", "--no-trunc", ref], env=env).stdout.split()[0]


def check_built(cli: list[str], env: dict[str, str] | None) -> None:
    """The built image runs its CMD and counts the 500 copied files."""
    out = run([*cli, "run", "--rm", "--network", "none", TAG], env=env, timeout=SLOW).stdout.strip()
    if out != str(FILES):
        raise RuntimeError(f"the built image's CMD printed {out!r}, not {FILES}")


def prepare(tmp: Path, root: Path, failed: dict[str, str]
            ) -> tuple[dict[str, tuple[list[str], dict[str, str] | None, str]], Path, dict[str, Path]]:
    """Each engine's CLI, environment and base image ID; an engine that cannot be set up
    is recorded in `failed`. Returns them with the context and the Dockerfiles."""
    engines: dict[str, tuple[list[str], dict[str, str] | None, str]] = {}
    bases = {"corral": "busybox"}
    why = corral_ready(root)
    if why:
        failed["corral"] = failed["corral-none"] = why
    else:
        try:
            cli, env = corral_cmd(), corral_env(root)
            engines["corral"] = engines["corral-none"] = (cli, env, image_id(cli, env, "busybox"))
        except (OSError, RuntimeError, subprocess.TimeoutExpired, IndexError) as e:
            failed["corral"] = failed["corral-none"] = str(e)
    try:
        make_rootfs(tmp / "rootfs")
        podman, image = private_podman_store(tmp / "p", tmp / "rootfs")
        engines["podman"] = (list(podman), None, image_id(list(podman), None, image))
        bases["podman"] = image
    except (OSError, RuntimeError, subprocess.TimeoutExpired, IndexError) as e:
        failed["podman"] = str(e)
    ctx, files = make_context(tmp, bases)
    files["corral-none"] = files["corral"]
    return engines, ctx, files


def build_cmds(engines: dict, ctx: Path, files: dict[str, Path], cold: bool) -> dict[str, Command]:
    cmds: dict[str, Command] = {}
    for name, (cli, _, _) in engines.items():
        if name == "corral-none" and not cold:
            continue  # a fully cached build runs no RUN step: its network does not matter
        opts = ["--no-cache"] * cold + ["--network", "none"] * (name == "corral-none")
        cmds[name] = lambda i, cli=cli, opts=opts, f=files[name]: [
            *cli, "build", *opts, "-f", str(f), "-t", TAG, str(ctx)]
    return cmds


def cleanup_corral(root: Path) -> None:
    """Remove any container a killed build left, then corral's switches (the default one a
    RUN made: its bridge and nft table live outside the store), then the store."""
    if root.exists():
        cli, env = corral_cmd(), corral_env(root)
        try:
            ids = run(cli + ["ps", "-aq"], env=env, check=False).stdout.split()
            if ids:
                run(cli + ["rm", "-f", *ids], env=env, check=False, timeout=300)
            run(cli + ["network", "prune", "-f"], env=env, check=False, timeout=300)
        except (OSError, subprocess.TimeoutExpired):
            pass
    remove_corral_root(root)


def main() -> int:
    forwarding = host_forwarding()
    runs, tmp = begin(__doc__, 5, "timed builds per engine and case")
    root = tmp / "corral-root"
    root.mkdir()
    failed: dict[str, str] = {}
    try:
        engines, ctx, files = prepare(tmp, root, failed)
        after = {n: (lambda i, e=e: keep_only(e[0], e[1], e[2])) for n, e in engines.items()}
        cold = measure(build_cmds(engines, ctx, files, cold=True), runs, root, failed, after=after)
        cached = measure(build_cmds(engines, ctx, files, cold=False), runs, root, failed)
        for name in ("corral", "podman"):
            if name in cached:
                try:
                    check_built(*engines[name][:2])
                except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
                    failed[name] = f"built a wrong image: {e}"
                    for times in (cold, cached):
                        times.pop(name, None)
        steps = (f"the 6-step Dockerfile (COPY of {FILES} files, 2 RUNs), wall time of `build`,"
                 f" {runs} interleaved runs each")
        med_cold = median_table(f"cold build, --no-cache, every image but the base removed between builds: {steps}",
                                cold, failed, engines=COLD_ENGINES)
        med_cached = median_table(f"fully cached build, nothing changed: {steps}", cached, failed,
                                  engines=("corral", "podman"))
        print(f"\ncold:   corral/podman median ratio: {verdict(ratio(med_cold, 'corral', 'podman'), TARGET)}")
        r = ratio(med_cold, "corral-none", "podman")
        print(f"cold:   corral-none/podman ratio:   {'n/a (not measured)' if r is None else f'{r:.3f}'}"
              "  (corral with --network none)")
        print(f"cached: corral/podman median ratio: {verdict(ratio(med_cached, 'corral', 'podman'), TARGET)}")
    finally:
        cleanup_corral(root)
        remove_private_podman_store(tmp / "p")
        restore_forwarding(forwarding)  # after corral's switch is gone: corral restores its own
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
