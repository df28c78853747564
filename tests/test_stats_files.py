"""`corral stats` keeps each container's counter files open between frames (runtime/stats.Files): a re-read
is one pread at offset 0, which the kernel's generated files answer afresh. The figures must still move,
a stop or restart must show, and no descriptor may outlive the stream."""
from __future__ import annotations

import os
import time

import pytest

from corral.runtime import stats


@pytest.mark.unit
def test_files_reread_from_the_start_and_remember_what_is_missing(tmp_path):
    f = tmp_path / "counter"
    f.write_text("1\n")
    files = stats.Files()
    assert files.text(str(f)) == "1\n"
    f.write_text("22\n")  # the same inode, new content: as a cgroup file changes
    assert files.text(str(f)) == "22\n"  # through the descriptor kept open
    assert files.text(str(tmp_path / "absent")) is None
    (tmp_path / "absent").write_text("late")
    assert files.text(str(tmp_path / "absent")) is None  # a cgroup's files are fixed when it is made
    first = files.text("/proc/stat").split("\n")[0]
    time.sleep(0.1)
    assert files.text("/proc/stat").split("\n")[0] != first  # the kernel made it afresh: time went by
    assert len([fd for fd in files.fds.values() if fd >= 0]) == 2
    files.close()
    assert files.fds == {}


@pytest.mark.unit
def test_the_readers_take_kept_files_and_read_the_same(tmp_path):
    (tmp_path / "stat").write_text("cpu  100 0 100 0 0 0 0 0 0 0\ncpu0 100 0 100 0 0 0 0 0 0 0\nintr 1\n")
    files = stats.Files()
    assert stats.system_cpu(str(tmp_path), text=files.text) == stats.system_cpu(str(tmp_path))
    files.close()


def used(frame: dict) -> int:
    """CPU ns between a frame and the one before it."""
    return frame["cpu_stats"]["cpu_usage"]["total_usage"] - frame["precpu_stats"]["cpu_usage"]["total_usage"]


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_a_stream_over_containers_sees_them_work_stop_and_closes_its_files(busybox, monkeypatch):
    from corral.api import Host
    from corral.api import stats as samples

    monkeypatch.setenv("CORRAL_ROOT", busybox.root)
    host = Host(busybox.root)
    busy = host.create_container("busybox", ["sh", "-c", "while :; do :; done"], name="busy")
    idle = host.create_container("busybox", ["sleep", "300"], name="idle")
    busy.start()
    idle.start()
    host.containers()  # the store's database open, before the count
    before = open_fds()
    try:
        frames = samples.frames(None, interval=0.2, running=lambda: host.containers())
        rounds = [next(frames) for _ in range(4)]
        by_name = {f["name"]: f for f in rounds[-1]}
        assert used(by_name["/busy"]) > 50_000_000 and used(by_name["/idle"]) < 10_000_000
        assert by_name["/idle"]["pids_stats"]["current"] == 1
        assert len(open_fds() - before) >= 10  # the files are kept open between frames
        busy.stop(timeout=0)
        assert [f["name"] for f in next(frames)] == ["/idle"]  # the running set, read afresh
        frames.close()
        assert open_fds() - before == set()  # the stream's end closes every file it kept
    finally:
        busy.remove(force=True)
        idle.remove(force=True)
