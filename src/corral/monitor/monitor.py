"""The store's monitor: one process that supervises every container of a store.

A Python process holds 3–4 MiB of private memory, so one supervisor per
container (what conmon is to podman) would cost that much per container.
One monitor per store costs that once, and each container only its pipes and
a few objects. It is started on demand, listens on an abstract unix socket
named after the store (no file to leave behind, same-uid callers only), and
exits once it has had nothing to supervise for a while. Killing it kills its
containers (their inits have PDEATHSIG), which then read as exited: no
running ghosts, as with a per-container supervisor.

Every start goes through it, attached (`run`, `start -a`) or not, and every
exec: it holds each process's output pipes or terminal master, writes a
container's log (never an exec's), and relays to any attached clients
(monitor/wire.py), so a client can detach, re-attach, or vanish while the
process runs on. A client then needs no runtime: `corral exec` loads
neither ctypes nor the namespace code.

It also runs what happens to a container without any client: its health
check (monitor/health.py, as execs on timers) and its restart policy
(monitor/restart.py: a container whose command exits is started again, the
same container, after a back-off). Timers (monitor/timers.py) bound the
poll's wait only while one is pending, so a store without checks or pending
restarts sleeps until an fd wakes it.
"""
from __future__ import annotations

import _signal as signal  # the C core of `signal`, without its enum wrappers
import _socket
import os
import select
import struct
import time

from corral import fastjson as json
from corral.api.events import record_container
from corral.errors import APIError, Conflict, CorralError, InvalidArgument
from corral.monitor import logs, supervisor, wire
from corral.monitor.timers import Timer, Timers
from corral.runtime import console, state
from corral.runtime.start import exit_code
from corral.store.root import Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from corral.monitor.health import Health, Output
    from corral.runtime.vm.exec import Spawning
    from corral.runtime.vm.start import VmProcess
    from corral.monitor.restart import Backoff

    _Done = Callable[["_Proc | None", "Exception | None"], None]

IDLE_EXIT_SECONDS = 2.0
REQUEST_SECONDS = 5.0  # for a client to send its request line once connected
MAX_REQUEST = 1 << 20
_SO_PEERCRED = 17


_HIGH_WATER = 1 << 20  # bytes queued for a client, or for a process's stdin, before reading pauses


class _Proc:
    """A process the monitor supervises: a container's init (started is set) or an exec'd process."""

    def __init__(self, cid: str, pid: int, outputs: dict[int, int], stdin: int | None, tty: bool,
                 started: supervisor.Started | None = None, autoremove: bool = False) -> None:
        self.cid, self.pid, self.outputs, self.stdin, self.tty = cid, pid, outputs, stdin, tty
        if stdin is not None:
            os.set_blocking(stdin, False)  # a full pipe or terminal must never stall the whole monitor
        self.started, self.autoremove = started, autoremove
        self.exec_id: str | None = None  # an exec'd process's ID, as its exec_* events name it
        self.status: int | None = None
        self.since = time.monotonic()
        self.exit_on_next = False  # the user stopped or killed it: no restart, whatever its policy
        self.probe: _Probe | None = None  # set on a health check's process
        self.stdin_buffer = bytearray()
        self.stdin_eof = False
        self.clients: list[_Client] = []
        self.log = -1
        if started is not None:
            self.log = os.open(started.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
            self.log_marker = logs.Marker(started.log_path, os.fstat(self.log).st_size)  # its index, for --tail

    @property
    def congested(self) -> bool:
        return any(len(c.out) > _HIGH_WATER for c in self.clients)


class _HealthRun:
    """A running container's health check: its state, its next probe's timer, its probe in flight."""

    def __init__(self, cid: str, health: Health, command: list[str]) -> None:
        self.cid, self.health, self.command = cid, health, command
        self.timer: Timer | None = None


class _Probe:
    """One run of a health check: its output so far, its timeout."""

    def __init__(self, run: _HealthRun, start_ns: int, output: Output) -> None:
        self.run, self.start_ns, self.output = run, start_ns, output
        self.timed_out = False
        self.timer: Timer | None = None


class _Client:
    """An attached connection: receives the process's output frames, may send its stdin and controls.

    The owner is the connection that started the process (`run`, `start -a`,
    `exec`): when it goes away without detaching, the process's stdin is
    closed and its terminal hung up, as when an ssh session's network drops.
    """

    def __init__(self, sock: "_socket.socket", proc: _Proc, stdin: bool, owner: bool) -> None:
        self.sock, self.fd, self.proc, self.stdin, self.owner = sock, sock.fileno(), proc, stdin, owner
        self.reader = wire.Reader()
        self.out = bytearray()
        self.closing = False
        sock.setblocking(False)


class _Boot:
    """A VM container's start waiting for its guest's answer, and who is to hear how it went."""

    def __init__(self, booting: supervisor.Booting, manual: bool, done: _Done) -> None:
        self.booting, self.manual, self.done = booting, manual, done
        self.timer: Timer


class _Pending:
    """A connection whose request line has not all come yet."""

    __slots__ = ("sock", "data", "timer")

    def __init__(self, sock: "_socket.socket") -> None:
        self.sock, self.data = sock, bytearray()
        self.timer: Timer


class Monitor:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.identity = state.identity(os.getpid())
        self.procs: dict[int, _Proc] = {}
        self.containers: dict[str, _Proc] = {}
        self.clients: dict[int, _Client] = {}
        self.handlers: dict[int, object] = {}
        self.poller = select.poll()
        self.timers = Timers()
        self.healths: dict[str, _HealthRun] = {}
        self.backoffs: dict[str, Backoff] = {}
        self.pending_restarts: dict[str, Timer] = {}
        self.booting: dict[int, _Boot] = {}  # VM containers whose guest has not answered, by QEMU's pid
        self.spawning: dict[int, Spawning] = {}  # VM execs whose guest has not answered, by their relay's pid

    # the loop ---------------------------------------------------------------------------------------

    def serve(self) -> None:
        listener = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            listener.bind(wire.socket_name(self.store.root))
        except OSError:
            return  # another monitor serves this store
        listener.listen(64)
        from corral.sys import libc

        # Not dumpable, and so neither is any child until it execs the container's binary (execve makes it
        # dumpable again): between the fork into a container's PID namespace and that exec, a process of
        # the container cannot open /proc/N/exe (this host's interpreter) or /proc/N/fd (the monitor's fds).
        libc.prctl(libc.PR_SET_DUMPABLE, 0)
        self._recover()
        for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_IGN)
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda _s, _f: None)
        self._watch(listener.fileno(), lambda _fd, _ev: self._accept(listener), select.POLLIN)
        self._watch(wake_r, lambda _fd, _ev: self._wakeup(wake_r), select.POLLIN)
        idle_since = time.monotonic()
        while True:
            busy = self.procs or self.clients or self.timers  # a booting VM has its deadline's timer
            for fd, events in self.poller.poll(self.timers.timeout_ms() if busy else 250):
                handler = self.handlers.get(fd)
                if handler is not None:
                    handler(fd, events)
            self.timers.run_due()
            if self.procs or self.clients or self.timers:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > IDLE_EXIT_SECONDS:
                listener.close()  # callers now get a refusal and start a successor
                return

    def _recover(self) -> None:
        """Whatever this store's containers held when their monitor died (with them) is released before
        anything starts: their cgroups, and on the network ports, rules, peers' hosts lines."""
        try:
            from corral.monitor.cleanup import stale_cgroups
            from corral.store import leases

            for _, cg in stale_cgroups(self.store, died_running=True):
                cg.destroy()  # type: ignore[attr-defined]
            if not leases.held_by_the_dead(self.store):
                return
            from corral.network.endpoint import recover

            recover(self.store)
        except Exception:  # noqa: BLE001, S110 - `corral system check` reports what could not be released
            pass

    def _watch(self, fd: int, handler: object, mask: int) -> None:
        self.handlers[fd] = handler
        self.poller.register(fd, mask)

    def _unwatch(self, fd: int) -> None:
        if self.handlers.pop(fd, None) is not None:
            self.poller.unregister(fd)

    def _wakeup(self, wake_r: int) -> None:
        while True:
            try:
                if not os.read(wake_r, 512):
                    break
            except BlockingIOError:
                break
        self._reap()

    # requests ---------------------------------------------------------------------------------------

    def _accept(self, listener: "_socket.socket") -> None:
        """Take a connection and read its request as it comes, in the loop: a client that connects and
        sends nothing (or half a line) holds only its own socket, never the monitor, and is dropped after
        REQUEST_SECONDS."""
        try:
            fd, _ = listener._accept()
        except OSError:
            return  # gone before it was taken (or the fd table is full): the caller retries
        sock = _socket.socket(fileno=fd)
        try:
            creds = sock.getsockopt(_socket.SOL_SOCKET, _SO_PEERCRED, struct.calcsize("3i"))
            _pid, uid, _gid = struct.unpack("3i", creds)
            if uid != os.getuid():
                sock.sendall(wire.answer(APIError("permission denied")))
                _discard_pending(sock)  # closing with its request unread would reset the answer away
                sock.close()
                return
            sock.setblocking(False)
        except OSError:
            sock.close()
            return
        pending = _Pending(sock)
        pending.timer = self.timers.after(REQUEST_SECONDS, lambda: self._drop_pending(pending))
        self._watch(sock.fileno(), lambda _fd, _ev: self._on_request(pending), select.POLLIN)

    def _drop_pending(self, pending: _Pending) -> None:
        self._unwatch(pending.sock.fileno())
        pending.timer.cancel()
        pending.sock.close()

    def _on_request(self, pending: _Pending) -> None:
        sock = pending.sock
        try:
            chunk = sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        pending.data += chunk
        if not chunk or len(pending.data) > MAX_REQUEST:
            self._drop_pending(pending)
            return
        if not pending.data.endswith(b"\n"):
            return
        self._unwatch(sock.fileno())
        pending.timer.cancel()
        keep = False
        try:
            sock.settimeout(5)  # an answer is a line: it fits the socket's buffer
            try:
                keep = self._handle(sock, json.loads(bytes(pending.data)))
            except CorralError as e:
                sock.sendall(wire.answer(e))
            except Exception as e:  # noqa: BLE001 - one request's failure must not take the monitor down
                sock.sendall(wire.answer(APIError(str(e))))
        except OSError:
            pass
        finally:
            if not keep:
                sock.close()

    def _handle(self, sock: "_socket.socket", req: dict) -> bool:
        """Serve one request; True when `sock` stays open as an attached client."""
        op = req.get("op")
        window = (int(req.get("rows") or 0), int(req.get("cols") or 0))
        if op == "resize":
            self._resize(req["id"], window)
            sock.sendall(wire.OK)
            return False
        if op == "kill":
            self._kill(req["id"], int(req["signal"]), bool(req.get("ends")))
            sock.sendall(wire.OK)
            return False
        if op == "start":
            cid = req["id"]
            if req.get("attach"):  # docker's order: attach, then start
                record_container(self.store, "attach", cid)
            self._start(cid, bool(req.get("autoremove")), window, manual=True,
                        done=lambda proc, error: self._answer_later(sock, req, proc, error))
            return True  # answered once started: a VM's guest answers later (the socket is _answer_later's)
        if op == "exec":
            self._exec(req, window, done=lambda proc, error: self._answer_later(sock, req, proc, error))
            return True  # likewise
        if op == "attach":
            proc = self.containers.get(req["id"])
            if proc is None or proc.status is not None:
                raise Conflict("You cannot attach to a stopped container, start it first")
            if proc.tty and proc.stdin is not None:
                console.set_size(proc.stdin, *window)
            record_container(self.store, "attach", proc.cid)
        else:
            raise InvalidArgument(f"bad request {op!r}")
        return self._answer(sock, req, proc)

    def _answer_later(self, sock: "_socket.socket", req: dict, proc: _Proc | None, error: Exception | None) -> None:
        """Answer a start or exec request, now or once a VM's guest has answered; the client stays if it attached."""
        keep = False
        try:
            if proc is None:
                sock.sendall(wire.answer(error if isinstance(error, CorralError) else APIError(str(error))))
            else:
                keep = self._answer(sock, req, proc)
        except OSError:
            pass
        finally:
            if not keep:
                sock.close()

    def _answer(self, sock: "_socket.socket", req: dict, proc: _Proc) -> bool:
        """"ok" (and an exec's PID); True when `sock` stays open as an attached client."""
        op = req.get("op")
        attach = op == "attach" or req.get("attach")
        pid = wire.frame(wire.PID, str(proc.pid).encode()) if op == "exec" and req.get("pid") else b""
        sock.sendall(wire.OK + pid)  # in one write: the client reads the PID with the answer
        if attach:
            client = _Client(sock, proc, bool(req.get("stdin")), owner=op != "attach")
            proc.clients.append(client)
            self.clients[client.fd] = client
            self._watch(client.fd, lambda _f, ev, c=client: self._on_client(c, ev), select.POLLIN)
        self._reap()  # a command that exited at once may have sent SIGCHLD before it was known
        return bool(attach)

    def _supervise(self, proc: _Proc) -> None:
        """Reap `proc` and read its outputs from now on."""
        self.procs[proc.pid] = proc
        for fd in proc.outputs:
            self._watch(fd, lambda f, ev, p=proc: self._on_process_fd(p, f, ev), select.POLLIN)

    def _start(self, cid: str, autoremove: bool, window: tuple[int, int], manual: bool, done: _Done) -> None:
        """Start container `cid` and supervise it: for a client (`manual`: its restart count and the user's
        stop are forgotten, as docker's start resets them) or for its restart policy. `done` gets the
        process, or the error: at once, or for a VM once its guest answers (the loop serves the other
        containers meanwhile; _on_boot)."""
        if manual:
            pending = self.pending_restarts.pop(cid, None)
            if pending is not None:
                pending.cancel()
            self.backoffs.pop(cid, None)
        try:
            started = supervisor.start(self.store, cid, self.identity, autoremove, window)
        except Exception as e:  # noqa: BLE001 - the requester's to hear
            done(None, e)
            return
        if isinstance(started, supervisor.Booting):
            boot = _Boot(started, manual, done)
            self.booting[started.vm.pid] = boot
            boot.timer = self.timers.after(max(0.0, started.deadline - time.monotonic()),
                                           lambda: self._booted(boot, None))
            self._watch(started.fd, lambda _fd, _ev: self._on_boot(boot), select.POLLIN)
            return
        done(self._supervise_started(started, autoremove, manual), None)

    def _on_boot(self, boot: _Boot) -> None:
        polled = boot.booting.fd
        answer = boot.booting.vm.feed()
        if boot.booting.fd != polled:  # restored: the guest's control port from now on
            self._unwatch(polled)
            self._watch(boot.booting.fd, lambda _fd, _ev: self._on_boot(boot), select.POLLIN)
        if answer is not None:
            self._booted(boot, answer)

    def _booted(self, boot: _Boot, answer: bytes | None) -> None:
        """A VM's guest answered (None: it did not, in time): the start completes or fails."""
        vm = boot.booting.vm
        if self.booting.pop(vm.pid, None) is None:
            return
        self._unwatch(boot.booting.fd)
        boot.timer.cancel()
        try:
            started = boot.booting.finish(answer)
        except Exception as e:  # noqa: BLE001 - the requester's to hear
            boot.done(None, e)
            return
        proc = self._supervise_started(started, boot.booting.autoremove, boot.manual)
        if vm.reaped is not None:  # QEMU ended (and was reaped) before its answer was read
            proc.status = started.process.exit_status(vm.reaped)
        else:
            control = started.process.ctl.fileno()
            self._watch(control, lambda _fd, _ev: self._on_guest_control(started.process), select.POLLIN)
            self._on_guest_control(started.process)  # a quick command's exit may have come with its 'R'
        boot.done(proc, None)

    def _on_guest_control(self, vm: VmProcess) -> None:
        """A running VM's guest said something on its control port: once its command's exit, QEMU is ended."""
        said = vm.read_control()
        if said is not False:
            self._unwatch(vm.ctl.fileno())
        if said:
            vm.kill(signal.SIGKILL)

    def _supervise_started(self, started: supervisor.Started, autoremove: bool, manual: bool) -> _Proc:
        proc = _Proc(started.cid, started.pid, started.outputs, started.stdin, started.tty, started, autoremove)
        self.containers[started.cid] = proc
        self._supervise(proc)
        try:
            self._after_start(started.cid, manual)
        except Exception:  # noqa: BLE001, S110 - the container runs; a damaged check or run state must not stop it
            pass
        return proc

    def _after_start(self, cid: str, manual: bool) -> None:
        """The run state a start resets, and the container's health check set going (if it has one)."""
        from corral.store import containers, runstate

        if manual and os.path.exists(runstate.path(self.store, cid)):
            self._save_runstate(cid, durable=True, RestartCount=0, ManuallyStopped=False)
        rec = containers.get(self.store, cid)
        check = (rec.options.get("healthcheck") if rec is not None else None) or {}
        if not check.get("Test") or check["Test"][0] == "NONE":
            return
        from corral.monitor import health

        shell = None
        if check["Test"][0] == "CMD-SHELL":
            from corral.image import repo

            shell = (repo.config(self.store, rec.image_id).get("config") or {}).get("Shell")
        command = health.probe_command(check, shell)
        if command is None:
            return
        previous = runstate.read(self.store, cid).get("Health")
        run = _HealthRun(cid, health.Health(check, time.time_ns(), previous), command)
        self.healths[cid] = run
        self._save_runstate(cid, Health=run.health.state)
        self._schedule_probe(run, time.time_ns())

    def _save_runstate(self, cid: str, durable: bool = False, **fields: object) -> None:
        from corral.store import runstate

        data = runstate.read(self.store, cid)
        data.update(fields)
        runstate.write(self.store, cid, data, durable)

    # health checks ----------------------------------------------------------------------------------

    def _schedule_probe(self, run: _HealthRun, now_ns: int) -> None:
        run.timer = self.timers.after(run.health.next_delay_ns(now_ns) / 1e9, lambda: self._probe(run))

    def _probe(self, run: _HealthRun) -> None:
        """Run the container's check once, as an exec in it (never while it is paused: docker stops
        checking a paused container, and an exec would freeze in its cgroup)."""
        init = self.containers.get(run.cid)
        if self.healths.get(run.cid) is not run or init is None or init.status is not None:
            return
        start_ns = time.time_ns()
        req = {"cmd": run.command, "attach": True}  # as `exec` without -i (filtered, as any exec)
        try:
            self._launch_exec(req, run.cid, init, (0, 0))(
                lambda proc, error: self._probe_started(run, start_ns, proc, error))
        except (CorralError, OSError) as e:
            self._probe_started(run, start_ns, None, e)

    def _probe_started(self, run: _HealthRun, start_ns: int, proc: _Proc | None, error: Exception | None) -> None:
        """The probe's process runs (supervised from now on), or could not be started."""
        from corral.monitor.health import Output

        if isinstance(error, Conflict):  # paused, or a VM's exec port busy with another exec
            self._schedule_probe(run, time.time_ns())
            return
        if proc is None:  # the command cannot run: a failed probe, as docker's
            self._probe_result(run, start_ns, -1, str(error))
            return
        proc.probe = _Probe(run, start_ns, Output())
        proc.probe.timer = self.timers.after(run.health.timeout / 1e9, lambda: self._probe_timeout(proc))
        self._supervise(proc)
        self._reap()  # a probe that exited at once

    def _probe_timeout(self, proc: _Proc) -> None:
        if proc.status is None and proc.pid in self.procs:
            proc.probe.timed_out = True
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except OSError:
                pass

    def _probe_done(self, proc: _Proc) -> None:
        probe = proc.probe
        if probe.timer is not None:
            probe.timer.cancel()
        code, text = exit_code(proc.status), probe.output.text()
        if probe.timed_out:
            code, text = probe.run.health.timed_out(text)
        self._probe_result(probe.run, probe.start_ns, code, text)

    def _probe_result(self, run: _HealthRun, start_ns: int, code: int, output: str) -> None:
        if self.healths.get(run.cid) is not run:
            return  # the container stopped meanwhile: its check with it
        end_ns = time.time_ns()
        if run.health.record(start_ns, end_ns, code, output):  # a change of status: docker's health_status event
            record_container(self.store, f"health_status: {run.health.status}", run.cid)
        try:
            self._save_runstate(run.cid, Health=run.health.state)
        except OSError:
            pass
        self._schedule_probe(run, end_ns)

    def _stop_health(self, cid: str) -> None:
        run = self.healths.pop(cid, None)
        if run is not None and run.timer is not None:
            run.timer.cancel()

    # restart policies -------------------------------------------------------------------------------

    def _kill(self, cid: str, sig: int, ends: bool) -> None:
        """`corral kill`/`stop` of a container with a restart policy: `ends` (its stop signal, SIGKILL, or
        any signal when it has none) means the user stopped it, so it is not restarted (and an
        unless-stopped one stays stopped through `system restore`); a pending restart is cancelled."""
        pending = self.pending_restarts.get(cid)
        if pending is not None:
            if ends:
                pending.cancel()
                del self.pending_restarts[cid]
                self._stopped_while_restarting(cid)
            return
        proc = self.containers.get(cid)
        if proc is None:
            raise Conflict(f"Cannot kill container: {cid}: container {cid} is not running")
        if ends:
            proc.exit_on_next = True
            self._save_runstate(cid, durable=True, ManuallyStopped=True)
        if proc.status is not None:
            return  # it exited on its own a moment ago: its output is being drained, and no restart follows
        try:
            proc.started.process.kill(sig)
        except ProcessLookupError:
            pass

    def _stopped_while_restarting(self, cid: str) -> None:
        """A stop between two runs: exited with the last run's code, as docker's SetStopped."""
        from corral.store import containers

        rec = containers.get(self.store, cid)
        if rec is not None and rec.state == state.RESTARTING:
            state.mark_exited(self.store, cid, rec.exit_code or 0)
        self._save_runstate(cid, durable=True, ManuallyStopped=True)

    def _restart_delay(self, proc: _Proc, code: int) -> float | None:
        """Seconds until the container that just exited with `code` is to start again; None: it is not."""
        from corral.monitor import restart
        from corral.store import containers, runstate

        rec = containers.get(self.store, proc.cid)
        policy = rec.options.get("restart") if rec is not None else None
        if not policy or policy == "no":
            return None
        run = runstate.read(self.store, proc.cid)
        count = run.get("RestartCount") or 0
        if not restart.wanted(policy, code, proc.exit_on_next, count):
            return None
        backoff = self.backoffs.setdefault(proc.cid, restart.Backoff())
        self._save_runstate(proc.cid, durable=True, RestartCount=count + 1)
        return backoff.next(time.monotonic() - proc.since)

    def _restart(self, cid: str) -> None:
        """The back-off is over: start the same container again (its sandbox, its network wired anew)."""
        from corral.store import containers

        self.pending_restarts.pop(cid, None)
        rec = containers.get(self.store, cid)
        if rec is None or rec.state != state.RESTARTING:
            return
        def done(_proc: _Proc | None, error: Exception | None) -> None:
            if error is not None:  # docker: a restart that fails leaves the container stopped
                state.mark_exited(self.store, cid, rec.exit_code or 0, f"restart failed: {error}")

        self._start(cid, False, (0, 0), manual=False, done=done)

    def _resize(self, cid: str, window: tuple[int, int]) -> None:
        """Set the size of a running container's terminal, for a client that holds no session (the
        Python API's Container.resize; an attached client sends RESIZE frames instead)."""
        proc = self.containers.get(cid)
        if proc is None or proc.status is not None:
            raise Conflict(f"Container {cid} is not running")
        if not proc.tty or proc.stdin is None:
            raise Conflict(f"Container {cid} has no terminal to resize: it was created without a TTY")
        if window[0] <= 0 or window[1] <= 0:
            raise InvalidArgument(f"invalid terminal size {window[0]}x{window[1]}: give rows and columns above 0")
        console.set_size(proc.stdin, *window)

    def _exec(self, req: dict, window: tuple[int, int], done: _Done) -> None:
        """A process in the running container that req["ref"] names (an ID, a name or an ID prefix):
        on a terminal, on pipes to an attached client, or on /dev/null (detached). `done` gets it, supervised,
        or the error: at once, or for a VM once its guest says whether the command runs. Bad input raises.

        Every running container of the store is this monitor's child, so what
        it holds is the truth about which are running (and their inits' PIDs).
        """
        from corral.store import containers

        rec = containers.find(self.store, req["ref"])
        init = self.containers.get(rec.id)
        if init is None or init.status is not None:
            raise Conflict(f"Container {rec.id} is not running")
        launch = self._launch_exec(req, rec.id, init, window)
        exec_id, command = os.urandom(32).hex(), req["cmd"][0] + " " + " ".join(req["cmd"][1:])  # docker's, "true "
        record_container(self.store, "exec_create: " + command, rec, {"execID": exec_id})

        def started(proc: _Proc | None, error: Exception | None) -> None:
            if proc is not None:
                proc.exec_id = exec_id
                record_container(self.store, "exec_start: " + command, rec, {"execID": exec_id})
                self._supervise(proc)
            done(proc, error)

        launch(started)

    def _launch_exec(self, req: dict, cid: str, init: _Proc, window: tuple[int, int]) -> Callable[[_Done], None]:
        """An exec into the running container whose init is `init`, prepared (bad input raises now); calling the
        result with `done` starts it (a process container's at once, a VM's once its guest answers)."""
        if init.started is not None and init.started.process.isolation == "vm":
            return self._exec_in_vm(req, cid, init.started.process, window)
        in_namespaces = self._exec_in_namespaces(req, cid, init.pid, window)

        def launch(done: _Done) -> None:
            done(in_namespaces(), None)

        return launch

    def _exec_in_namespaces(self, req: dict, cid: str, init_pid: int, window: tuple[int, int]) -> Callable[[], _Proc]:
        """A process container's exec, prepared (bad input is refused now); calling the result starts it."""
        from corral.runtime import exec as exec_

        process, cgroup, filter_ = exec_.prepare(self.store.container_dir(cid), init_pid, req["cmd"], req.get("user"),
                                                 req.get("env") or [], req.get("workdir"),
                                                 bool(req.get("privileged")), self.store.seccomp_cache)
        args = (init_pid, process, cgroup)

        def launch() -> _Proc:
            if req.get("tty"):
                pid, master = exec_.spawn(*args, None, window, seccomp_filter=filter_)
                return _Proc(cid, pid, {master: logs.STDOUT}, master, True)
            if req.get("attach"):
                pid, stdin, out, err = exec_.spawn_piped(*args, bool(req.get("stdin")), filter_)
                return _Proc(cid, pid, {out: logs.STDOUT, err: logs.STDERR}, stdin, False)
            null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
            try:
                pid, _ = exec_.spawn(*args, (null, null, null), seccomp_filter=filter_)
            finally:
                os.close(null)
            return _Proc(cid, pid, {}, None, False)

        return launch

    def _exec_in_vm(self, req: dict, cid: str, vm: VmProcess, window: tuple[int, int]) -> Callable[[_Done], None]:
        """A VM container's exec (runtime/vm/exec.py), prepared (bad input is refused now): a relay that the monitor
        reaps, reads and writes to as it would the exec'd process (a terminal's master with -t, a pipe to its stdin
        with -i). Calling the result with `done` forks the relay; `done` hears once the guest ran the command or
        could not, while the loop serves everything else."""
        from corral.runtime.vm import exec as vm_exec

        bundle = self.store.container_dir(cid)
        prepared = vm_exec.prepare(bundle, vm, req["cmd"], req.get("user"), req.get("env") or [], req.get("workdir"),
                                   bool(req.get("privileged")))
        tty = bool(req.get("tty"))

        def launch(done: _Done) -> None:
            spawning = vm_exec.spawn(bundle, vm, prepared, bool(req.get("attach")), tty,
                                     bool(req.get("stdin")) and bool(req.get("attach")), window)
            self.spawning[spawning.pid] = spawning
            report = bytearray()

            def answered(failure: bytes | None) -> None:
                if self.spawning.pop(spawning.pid, None) is None:
                    return
                self._unwatch(spawning.report)
                timer.cancel()
                try:
                    pid, stdin, out, err = spawning.finish(failure)
                except Exception as e:  # noqa: BLE001 - the requester's to hear
                    done(None, e)
                    return
                outputs = {out: logs.STDOUT} if tty else {out: logs.STDOUT, err: logs.STDERR} if out is not None else {}
                proc = _Proc(cid, pid, outputs, stdin, tty)
                done(proc, None)
                if spawning.reaped is not None:  # the relay ended before its report was read
                    proc.status = spawning.reaped
                    self._maybe_finish(proc)

            def on_report(fd: int, _events: int) -> None:
                try:
                    chunk = os.read(fd, 4096)
                except BlockingIOError:
                    return
                except OSError:
                    chunk = b""
                report.extend(chunk)
                if not chunk:
                    answered(bytes(report))

            self._watch(spawning.report, on_report, select.POLLIN)
            timer = self.timers.after(max(0.0, spawning.deadline - time.monotonic()), lambda: answered(None))

        return launch

    # a supervised process's fds ---------------------------------------------------------------------

    def _on_process_fd(self, proc: _Proc, fd: int, events: int) -> None:
        if events & select.POLLOUT and fd == proc.stdin:
            self._flush_stdin(proc)
        if fd not in proc.outputs or not events & (select.POLLIN | select.POLLHUP | select.POLLERR):
            return
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:  # EIO: every holder of a terminal's slave side is gone
            data = b""
        if not data:
            self._close_output(proc, fd)
            return
        stream = proc.outputs[fd]
        if proc.probe is not None:
            proc.probe.output.feed(data)
            return
        if proc.log >= 0:
            self._log(proc, stream, data)
        message = wire.frame(stream, data)
        for client in proc.clients:
            if not client.closing:
                client.out += message
                self._update_client(client)
        self._update_process(proc)

    def _log(self, proc: _Proc, stream: int, data: bytes) -> None:
        """Append one record to the container's log (and, every logs.INDEX_EVERY bytes, a mark to its index,
        for --tail). On a full disk (or any write error) the log ends at the last whole record and is kept no
        further: the process runs on, its attached clients still get the output, and the monitor serves every
        other container as before."""
        proc.log_marker.before()
        record = logs.frame(stream, time.time_ns(), data)
        try:
            written = os.write(proc.log, record)
        except OSError:
            written = 0
        if written == len(record):
            proc.log_marker.wrote(stream, data, written)
            return
        try:
            os.ftruncate(proc.log, os.lseek(proc.log, 0, os.SEEK_CUR) - written)  # no half record
        except OSError:
            pass
        os.close(proc.log)
        proc.log = -1

    def _close_output(self, proc: _Proc, fd: int) -> None:
        self._unwatch(fd)
        del proc.outputs[fd]
        if fd == proc.stdin:  # a terminal's master: input and output close together
            proc.stdin = None
        os.close(fd)
        self._maybe_finish(proc)

    def _flush_stdin(self, proc: _Proc) -> None:
        if proc.stdin is not None and proc.stdin_buffer:
            try:
                sent = os.write(proc.stdin, proc.stdin_buffer[:65536])
                del proc.stdin_buffer[:sent]
            except BlockingIOError:
                pass
            except OSError:  # the reading side is gone: whatever is queued can never be read
                proc.stdin_buffer.clear()
                if not proc.tty:
                    proc.stdin_eof = True
        if proc.stdin_eof and not proc.stdin_buffer and proc.stdin is not None and not proc.tty:
            self._unwatch(proc.stdin)
            os.close(proc.stdin)
            proc.stdin = None
        self._update_process(proc)
        for client in proc.clients:
            self._update_client(client)

    def _update_process(self, proc: _Proc) -> None:
        """Poll the process's fds for what is wanted now: output unless a client lags, stdin if queued."""
        reading = 0 if proc.congested else select.POLLIN
        for fd in proc.outputs:
            mask = reading | (select.POLLOUT if fd == proc.stdin and proc.stdin_buffer else 0)
            self.poller.modify(fd, mask)
        if proc.stdin is not None and proc.stdin not in proc.outputs:
            if proc.stdin_buffer:
                if proc.stdin not in self.handlers:
                    self._watch(proc.stdin, lambda f, ev, p=proc: self._on_process_fd(p, f, ev), select.POLLOUT)
            else:
                self._unwatch(proc.stdin)

    def _hangup(self, proc: _Proc) -> None:
        """The session's terminal is gone: close the master, so the shell inside reads the end and exits."""
        if proc.tty and proc.stdin is not None:
            self._close_output(proc, proc.stdin)

    # attached clients -------------------------------------------------------------------------------

    def _on_client(self, client: _Client, events: int) -> None:
        if events & select.POLLOUT:
            try:
                sent = client.sock.send(client.out)
                del client.out[:sent]
            except BlockingIOError:
                pass
            except OSError:
                self._drop(client, gone=True)
                return
            if client.closing and not client.out:
                self._drop(client, gone=False)
                return
        if events & (select.POLLIN | select.POLLHUP | select.POLLERR):
            try:
                data = client.sock.recv(65536)
            except BlockingIOError:
                data = None
            except OSError:
                data = b""
            if data == b"":
                self._drop(client, gone=True)
                return
            if data:
                try:
                    frames = client.reader.feed(data)
                except ValueError:
                    self._drop(client, gone=True)
                    return
                for kind, payload in frames:
                    if not self._on_frame(client, kind, payload):
                        return
        self._update_client(client)
        self._update_process(client.proc)

    def _on_frame(self, client: _Client, kind: int, payload: bytes) -> bool:
        """Act on one frame from a client; False once the client is gone."""
        proc = client.proc
        if kind == wire.STDIN:
            if client.stdin and proc.stdin is not None and not proc.stdin_eof:
                proc.stdin_buffer += payload
                self._flush_stdin(proc)
        elif kind == wire.STDIN_EOF:
            if client.owner and not proc.tty:
                proc.stdin_eof = True
                self._flush_stdin(proc)
        elif kind == wire.RESIZE:
            rows, _, cols = payload.partition(b" ")
            if proc.tty and proc.stdin is not None and rows.isdigit() and cols.isdigit():
                console.set_size(proc.stdin, int(rows), int(cols))
                if proc.started is not None:  # a container's terminal (docker records no exec's resize)
                    record_container(self.store, "resize", proc.cid, {"height": int(rows), "width": int(cols)})
        elif kind == wire.SIGNAL:
            if payload.isdigit() and proc.status is None:
                try:
                    if proc.started is not None:
                        proc.started.process.kill(int(payload))
                    else:
                        os.kill(proc.pid, int(payload))
                except OSError:
                    pass
                else:
                    if proc.started is not None:  # a container's, relayed by `run`/`attach` (docker's sig-proxy)
                        record_container(self.store, "kill", proc.cid, {"signal": int(payload)})
        elif kind == wire.DETACH:
            self._drop(client, gone=False)
            return False
        elif kind == wire.HANGUP:
            self._hangup(proc)
        return True

    def _update_client(self, client: _Client) -> None:
        if client.fd not in self.handlers:
            return
        reading = 0 if client.closing or len(client.proc.stdin_buffer) > _HIGH_WATER else select.POLLIN
        self.poller.modify(client.fd, reading | (select.POLLOUT if client.out else 0))

    def _drop(self, client: _Client, gone: bool) -> None:
        """Forget a client; `gone` means it vanished without detaching (see _Client)."""
        self._unwatch(client.fd)
        self.clients.pop(client.fd, None)
        client.sock.close()
        proc = client.proc
        if client in proc.clients:
            proc.clients.remove(client)
        if gone and client.owner and proc.status is None:
            if proc.tty:
                self._hangup(proc)
            elif proc.stdin is not None:
                proc.stdin_eof = True
                self._flush_stdin(proc)
        self._update_process(proc)

    # exits ------------------------------------------------------------------------------------------

    def _reap(self) -> None:
        while self.procs:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            proc = self.procs.get(pid)
            if proc is None and pid in self.booting:
                self.booting[pid].booting.vm.reaped = status  # its answer, if any, is still to be read
            if proc is None and pid in self.spawning:
                self.spawning[pid].reaped = status
            if proc is not None:
                if proc.started is not None and proc.started.process.isolation == "vm":
                    self._unwatch(proc.started.process.ctl.fileno())  # exit_status closes it
                proc.status = proc.started.process.exit_status(status) if proc.started is not None else status
                if proc.probe is not None:
                    self._drain(proc)  # a child the probe left may hold its pipes: its result is in
                self._maybe_finish(proc)

    def _drain(self, proc: _Proc) -> None:
        """Read what a reaped process's pipes hold now, and close them."""
        for fd in list(proc.outputs):
            os.set_blocking(fd, False)
            try:
                while data := os.read(fd, 65536):
                    proc.probe.output.feed(data)
            except OSError:
                pass
            self._unwatch(fd)
            del proc.outputs[fd]
            os.close(fd)

    def _maybe_finish(self, proc: _Proc) -> None:
        """Once the process is reaped and its output drained: record the exit, tell the clients."""
        if proc.status is None or proc.outputs or proc.pid not in self.procs:
            return
        del self.procs[proc.pid]
        if self.containers.get(proc.cid) is proc:
            del self.containers[proc.cid]
        if proc.stdin is not None:
            self._unwatch(proc.stdin)
            os.close(proc.stdin)
            proc.stdin = None
        if proc.log >= 0:
            os.close(proc.log)
        if proc.probe is not None:
            self._probe_done(proc)
            return
        code = exit_code(proc.status)
        if proc.started is not None:
            self._stop_health(proc.cid)
            delay = None
            try:
                delay = None if proc.autoremove else self._restart_delay(proc, code)
            except Exception:  # noqa: BLE001, S110 - a damaged record or run state: no restart
                pass
            try:
                code = supervisor.finish(self.store, proc.started, proc.status, proc.autoremove, delay is not None)
            except Exception:  # noqa: BLE001, S110 - recorded state falls back to "supervisor gone" on read
                delay = None
            if delay is not None:  # docker's die event, then its start event when the restart is done
                self.pending_restarts[proc.cid] = self.timers.after(delay, lambda cid=proc.cid: self._restart(cid))
        elif proc.exec_id is not None:
            record_container(self.store, "exec_die", proc.cid, {"execID": proc.exec_id, "exitCode": code})
        for client in proc.clients:
            client.out += wire.frame(wire.EXIT, str(code).encode())
            client.closing = True
            self._update_client(client)


def _discard_pending(sock: "_socket.socket") -> None:
    """Read whatever the peer has already sent, without waiting for more."""
    sock.setblocking(False)
    try:
        while sock.recv(65536):
            pass
    except OSError:
        pass
