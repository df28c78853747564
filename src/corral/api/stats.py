"""Samples of containers' resource use in docker's stats JSON shape, one at a time or as a stream.

A sample carries its predecessor's cpu_stats as precpu_stats (and its time
as preread), which is what CPU % is computed from: the container's CPU time
over the host's in between. As docker does: the first frame of a stream has
zeros there; a single sample (stream=False) waits for a second frame so both
are filled, unless one_shot asks for the first at once; a stopped container
gives one zeroed sample with only its name and ID.
"""
from __future__ import annotations

import time

from corral.runtime import state, stats
from corral.timestamps import rfc3339

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from corral.api.container import Container

ZERO_TIME = "0001-01-01T00:00:00Z"
INTERVAL = 1.0  # seconds between frames, docker's collector interval


def stopped(c: Container) -> dict:
    """docker's sample of a container that is not running: every counter zero, no timestamps."""
    return {"name": "/" + c.name, "id": c.id, "read": ZERO_TIME, "preread": ZERO_TIME, "pids_stats": {},
            "blkio_stats": dict.fromkeys(stats.BLKIO_KEYS), "num_procs": 0, "storage_stats": {},
            "cpu_stats": stats.empty_cpu(), "precpu_stats": stats.empty_cpu(), "memory_stats": {}}


def sample(c: Container, pre: dict | None = None, cgroup: object = None, files: stats.Files | None = None,
           system: tuple[int, int] | None = None) -> dict:
    """One frame of a running container (a zeroed one when it is not), `pre` the frame before it.

    A caller taking frames again and again keeps what it can across them: `cgroup`, the container's
    cgroup manager (it costs a read of config.json to find), `files`, its counter files open, and
    `system`, the host's CPU figures read once for all the containers of a round."""
    if c.status != state.RUNNING or not c.pid:
        return stopped(c)
    counts = stats.read(cgroup or c._cgroup(), files)
    system, online = system or stats.system_cpu()
    cpu = counts["cpu_stats"]
    cpu = {"cpu_usage": cpu["cpu_usage"], "system_cpu_usage": system, "online_cpus": online,
           "throttling_data": cpu["throttling_data"]}
    frame = {"name": "/" + c.name, "id": c.id, "read": rfc3339(), "preread": pre["read"] if pre else ZERO_TIME,
             "pids_stats": counts["pids_stats"], "blkio_stats": counts["blkio_stats"], "num_procs": 0,
             "storage_stats": {}, "cpu_stats": cpu, "precpu_stats": pre["cpu_stats"] if pre else stats.empty_cpu(),
             "memory_stats": counts["memory_stats"]}
    # the host's interfaces are not its own; without a network it has lo only, which docker does not show
    networks = {}
    if c.options.network not in ("host", "none"):
        networks = stats.networks(c.pid, text=files.text) if files is not None else stats.networks(c.pid)
    if networks:
        frame["networks"] = networks
    return frame


def one(c: Container, one_shot: bool = False, interval: float = INTERVAL) -> dict:
    """A single sample: with precpu filled from one taken `interval` before, or at once with one_shot."""
    if one_shot or c.status != state.RUNNING:
        return sample(c)
    return frames([c], interval=interval, primed=True).__next__()[0]


def stream(c: Container, interval: float = INTERVAL) -> Iterator[dict]:
    """A frame every `interval` seconds while the container runs; one zeroed frame if it is not running."""
    if c.status != state.RUNNING:
        yield stopped(c)
        return
    for (frame,) in frames([c], interval=interval):
        if frame["read"] == ZERO_TIME:
            return  # it stopped: docker ends the stream with the container
        yield frame


def frames(containers: list[Container] | None, interval: float = INTERVAL, primed: bool = False,
           running: Callable[[], list[Container]] | None = None) -> Iterator[list[dict]]:
    """A list of frames every `interval` seconds, one per container, each with its predecessor's CPU.

    One clock for all, so `corral stats` over fifty containers costs one sleep a round, not fifty.
    primed: the first list is taken one interval after a first, unshown, sample (docker's stream=false).
    `running`, giving the containers to show, replaces `containers` when that is None: the docker CLI
    without names follows the running set as it changes. Each record is read afresh every round, so
    that a stop (or a start) shows.
    """
    from corral.errors import NotFound

    previous: dict[str, dict | None] = {}
    kept: dict[str, tuple[object, stats.Files]] = {}  # a running container's cgroup manager and open files
    host = stats.Files()
    first = True
    try:
        while True:
            shown = list(containers) if containers is not None else running()  # type: ignore[misc]
            system = stats.system_cpu(text=host.text)
            batch = []
            for c in shown:
                try:
                    if not first and containers is not None:
                        c.reload()  # running() reads every record afresh itself
                    if c.status != state.RUNNING:
                        _forget(kept, c.id)  # a restart makes the cgroup again
                    elif c.id not in kept:
                        kept[c.id] = (c._cgroup(), stats.Files())
                    cgroup, files = kept.get(c.id, (None, None))
                    frame = sample(c, previous.get(c.id), cgroup, files, system)
                except (NotFound, FileNotFoundError):  # removed meanwhile
                    _forget(kept, c.id)
                    frame = stopped(c)
                previous[c.id] = frame if frame["read"] != ZERO_TIME else None
                batch.append(frame)
            for cid in set(kept) - {c.id for c in shown}:  # gone from the running set: its files closed
                _forget(kept, cid)
            if not (first and primed):
                yield batch
            first = False
            time.sleep(interval)
    finally:
        host.close()
        for cid in list(kept):
            _forget(kept, cid)


def _forget(kept: dict[str, tuple[object, stats.Files]], cid: str) -> None:
    if cid in kept:
        kept.pop(cid)[1].close()
