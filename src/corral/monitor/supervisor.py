"""Supervision: a container started under the store's monitor, and seen to the end.

The runtime (runtime/start.py) turns a bundle into a running init; this adds
what the engine owns around it: the container's network, wired before the
fork so the command never runs unwired and released at the end; its record
in the store (running, or exited and why); and --rm. Only the store's
monitor calls it: every container is the monitor's child, so a client may
come and go (`run` attached, `attach`, a detach key, a closed terminal)
while the container runs on, and the monitor alone reaps the init and
records the exit.
"""
from __future__ import annotations

import os
import time

from corral import failpoints
from corral import fastjson as json
from corral.errors import APIError, CorralError
from corral.monitor import logs
from corral.monitor.cleanup import remove_container
from corral.runtime import backend
from corral.runtime import start as runtime
from corral.runtime import state
from corral.runtime.spec import JOINS_ANNOTATION, NETWORK_ANNOTATION
from corral.store.root import Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

    from corral.network.endpoint import Attachment
    from corral.runtime.vm import start as vm


class Started:
    """A container whose command has been exec'd: what the monitor keeps to see it to the end.

    outputs maps each fd to read to the log stream it feeds (a terminal's
    master is one stdout stream); stdin is where attached clients write.
    """

    def __init__(self, cid: str, process: runtime.Process, net: Attachment | None, log_path: str) -> None:
        self.cid, self.process, self.net, self.log_path = cid, process, net, log_path
        self.since = time.monotonic()  # for the die event's execDuration
        self.pid, self.stdin, self.tty = process.pid, process.stdin, process.tty
        self.outputs = {process.stdout: logs.STDOUT}
        if process.stderr is not None:
            self.outputs[process.stderr] = logs.STDERR


class Booting:
    """A VM container whose guest has not answered yet (runtime/vm/start.py's Booting): the monitor polls
    `fd` and calls `finish`, which does what start does after the runtime's start."""

    def __init__(self, store: Store, cid: str, supervisor: str, autoremove: bool, vm: vm.Booting,
                 net: Attachment | None) -> None:
        self.store, self.cid, self.supervisor, self.autoremove, self.vm, self.net = \
            store, cid, supervisor, autoremove, vm, net
        self.deadline = vm.deadline

    @property
    def fd(self) -> int:
        """What to poll now: QEMU's monitor while a template is restored, then the guest's control port."""
        return self.vm.fd

    def finish(self, answer: bytes | None) -> Started:
        """The started container when the guest answered 'R'; else the failure recorded and raised, as start's."""
        try:
            try:
                process = self.vm.finish(answer)
            except runtime.StartFailed as failure:
                _start_failed(self.store, self.cid, self.net, failure)
            return _running(self.store, self.cid, self.supervisor, process, self.net)
        except CorralError:
            if self.autoremove:
                remove_container(self.store, self.cid, volumes=True)
            raise


def start(store: Store, cid: str, supervisor: str, autoremove: bool,
          window: tuple[int, int] = (0, 0)) -> Started | Booting:
    """Wire the container's network, start its init (runtime.start) and record it as running under
    `supervisor` (an identity from state.identity); or record the failure with its reason (the state
    stays created, as docker's) and raise the error (after removing the container when it was created
    with --rm). `window` is the initial (rows, cols) of a terminal. A VM container comes back Booting."""
    try:
        return _start(store, cid, supervisor, window, autoremove)
    except CorralError:
        if autoremove:
            remove_container(store, cid, volumes=True)
        raise


def _start(store: Store, cid: str, supervisor: str, window: tuple[int, int], autoremove: bool) -> Started | Booting:
    bundle = store.container_dir(cid)
    with open(os.path.join(bundle, "config.json")) as f:
        spec = json.loads(f.read())
    if JOINS_ANNOTATION in spec["annotations"]:
        _join_namespaces(store, cid, spec)
    net = _attach_network(store, cid, spec)
    try:
        process = backend.start(bundle, spec, window, net.after_fork if net is not None else None,
                                store.seccomp_cache)
    except runtime.StartFailed as failure:
        _start_failed(store, cid, net, failure)
    if not isinstance(process, runtime.Process):
        return Booting(store, cid, supervisor, autoremove, process, net)
    return _running(store, cid, supervisor, process, net)


def _start_failed(store: Store, cid: str, net: Attachment | None, failure: runtime.StartFailed) -> NoReturn:
    _release_network(net)
    state.mark_start_failed(store, cid, failure.error.exit_code, failure.reason)
    raise failure.error from None


def _running(store: Store, cid: str, supervisor: str, process: runtime.Process, net: Attachment | None) -> Started:
    bundle = store.container_dir(cid)
    failpoints.hit("monitor.spawned")
    state.mark_running(store, cid, process.pid, supervisor)
    started = Started(cid, process, net, os.path.join(bundle, "log"))
    _record_events(store, cid, net, "connect", "mount", ("start", None))
    return started


def _join_namespaces(store: Store, cid: str, spec: dict) -> None:
    """--ipc/--pid container:ID: the paths of the running peer's namespaces, for the init to join."""
    joins = json.loads(spec["annotations"][JOINS_ANNOTATION])
    for kind, target in joins.items():
        try:
            pid = state.running_pid(store, target, kind.upper() + " namespace")
        except CorralError as e:
            state.mark_exited(store, cid, 125, str(e))
            raise
        spec["linux"]["namespaces"].append({"type": kind, "path": f"/proc/{pid}/ns/{kind}"})


def _attach_network(store: Store, cid: str, spec: dict) -> Attachment | None:
    """The container's network wired before its init is forked (which then joins it), if it has one."""
    if NETWORK_ANNOTATION not in spec.get("annotations", {}):
        return None
    from corral.network import endpoint  # only containers with a network pay for its imports

    try:
        return endpoint.attach(store, cid, spec)
    except BaseException as e:
        state.mark_start_failed(store, cid, 125, f"cannot set up the container's network: {e}")
        if isinstance(e, CorralError):
            raise
        raise APIError(f"cannot set up the container's network: {e}") from e


def _release_network(net: Attachment | None) -> None:
    if net is not None:
        try:
            net.release()
        except Exception:  # noqa: BLE001, S110 - the exit or failure is what to record; `system check` finds residue
            pass


def finish(store: Store, started: Started, status: int, autoremove: bool, restarting: bool = False) -> int:
    """Record the exit of a reaped init, release its cgroup and network, and remove the container if asked;
    `restarting` records it as waiting for its restart policy's restart instead of exited."""
    code = runtime.exit_code(status)
    oom_killed = started.process.cg.oom_kills() > 0  # read before the cgroup goes
    if not autoremove:  # else remove_container below releases it, with everything else
        started.process.cg.destroy()
    _release_network(started.net)
    if oom_killed:  # docker's order: oom, then die
        from corral.api import events

        events.record_container(store, "oom", started.cid)
    if restarting:
        state.mark_restarting(store, started.cid, code)
    else:
        state.mark_exited(store, started.cid, code, oom_killed=oom_killed)
    _record_events(store, started.cid, started.net, "disconnect", "unmount",
                   ("die", {"exitCode": code, "execDuration": int(time.monotonic() - started.since)}))
    if restarting:
        return code
    if autoremove:
        remove_container(store, started.cid, volumes=True)
    return code


def _record_events(store: Store, cid: str, net: Attachment | None, network_action: str, volume_action: str,
                   last: tuple[str, dict | None]) -> None:
    """docker's events around a start (network connect, volume mount, then start) or an exit (network
    disconnect, volume unmount, then die): the monitor records them, as it alone sees every start and exit."""
    from corral.api import events
    from corral.store import containers

    try:
        rec = containers.get(store, cid)
        if rec is None:
            return
        if net is not None:
            from corral.store import leases

            for network, _ in leases.of_container(store, cid):
                events.record_network(store, network_action, network, cid)
    except Exception:  # noqa: BLE001, S110 - events must not fail the start or the exit they report
        return
    events.record_mounts(store, volume_action, cid, rec.options.get("mounts") or ())
    events.record_container(store, last[0], rec, last[1])
