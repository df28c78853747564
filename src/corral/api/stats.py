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


def sample(c: Container, pre: dict | None = None, cgroup: object = None) -> dict:
    """One frame of a running container (a zeroed one when it is not), `pre` the frame before it.

    `cgroup` is the container's cgroup manager when the caller keeps it across frames (it costs a
    read of config.json to find)."""
    if c.status != state.RUNNING or not c.pid:
        return stopped(c)
    counts = stats.read(cgroup or c._cgroup())
    system, online = stats.system_cpu()
    cpu = counts["cpu_stats"]
    cpu = {"cpu_usage": cpu["cpu_usage"], "system_cpu_usage": system, "online_cpus": online,
           "throttling_data": cpu["throttling_data"]}
    frame = {"name": "/" + c.name, "id": c.id, "read": rfc3339(), "preread": pre["read"] if pre else ZERO_TIME,
             "pids_stats": counts["pids_stats"], "blkio_stats": counts["blkio_stats"], "num_procs": 0,
             "storage_stats": {}, "cpu_stats": cpu, "precpu_stats": pre["cpu_stats"] if pre else stats.empty_cpu(),
             "memory_stats": counts["memory_stats"]}
    networks = {} if c.options.network == "host" else stats.networks(c.pid)  # the host's interfaces are not its own
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
    cgroups: dict[str, object] = {}
    first = True
    while True:
        shown = list(containers) if containers is not None else running()  # type: ignore[misc]
        batch = []
        for c in shown:
            try:
                if not first:
                    c.reload()
                if c.status != state.RUNNING:
                    cgroups.pop(c.id, None)  # a restart makes the cgroup again
                elif c.id not in cgroups:
                    cgroups[c.id] = c._cgroup()
                frame = sample(c, previous.get(c.id), cgroups.get(c.id))
            except (NotFound, FileNotFoundError):  # removed meanwhile
                frame = stopped(c)
            previous[c.id] = frame if frame["read"] != ZERO_TIME else None
            batch.append(frame)
        if not (first and primed):
            yield batch
        first = False
        time.sleep(interval)
