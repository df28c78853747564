"""`logs --tail N` reads the log from its end (the index of marks beside it, monitor/logs.py), and says
what a whole read would: the unit tests compare tail() with the whole read over logs written through the
writer's Marker (small marks, lines cut across them, a stream whose last line began long before, a wrong
index, none at all); the root test bounds the time of --tail on a large log a real container wrote."""
from __future__ import annotations

import os
import random
import time

import pytest

from corral.monitor import logs


def write_log(path: str, chunks: list[tuple[int, bytes]], marker: bool = True) -> None:
    """The log as the monitor writes it: a record per chunk, a mark before each due one."""
    with open(path, "ab") as f:
        m = logs.Marker(path, f.tell()) if marker else None
        for i, (stream, data) in enumerate(chunks):
            if m:
                m.before()
            record = logs.frame(stream, 1_000_000 + i, data)
            f.write(record)
            f.flush()
            if m:
                m.wrote(stream, data, len(record))


def expected(path: str, count: int, streams: set[int]) -> list:
    return [e for e in logs.lines(path) if e[0] in streams][-count:] if count > 0 else []


@pytest.fixture
def small_marks(monkeypatch):
    monkeypatch.setattr(logs, "INDEX_EVERY", 64)


@pytest.mark.unit
@pytest.mark.parametrize("seed", range(40))
def test_tail_says_what_the_whole_read_says(tmp_path, small_marks, seed):
    rnd = random.Random(seed)
    path = str(tmp_path / "log")
    words = [b"a", b"bb\n", b"c\nd", b"\n", b"eee\nf\ng", b"hh", b"x" * 70, b"y\n" * 40]
    chunks = [(rnd.choice((1, 1, 1, 2)), rnd.choice(words)) for _ in range(rnd.randint(0, 200))]
    if seed % 4 == 0:  # stderr's unfinished line began before everything else
        chunks = [(2, b"early and unfinished")] + [(1, b"line\n")] * 100
    write_log(path, chunks[: len(chunks) // 2])
    write_log(path, chunks[len(chunks) // 2:])  # a reopened log: the Marker learns where the streams are
    if os.path.getsize(path) > 200:  # a mark is due every 64 bytes, before the record that crosses it
        assert os.path.getsize(path + ".idx") > 0
    for streams in ({1, 2}, {1}, {2}):
        for count in (0, 1, 2, 3, 7, 50, 10_000):
            assert logs.tail(path, count, streams) == expected(path, count, streams), (streams, count)


@pytest.mark.unit
def test_a_wrong_or_missing_index_costs_a_whole_read_not_a_wrong_answer(tmp_path, small_marks):
    path = str(tmp_path / "log")
    write_log(path, [(1, b"line %d\n" % i) for i in range(100)], marker=False)
    assert not os.path.exists(path + ".idx")
    assert logs.tail(path, 3, {1}) == expected(path, 3, {1})
    for offset in (5, os.path.getsize(path) - 3):  # inside a record
        with open(path + ".idx", "wb") as f:
            f.write(logs.MARK.pack(offset, 0))
        assert logs.tail(path, 3, {1}) == expected(path, 3, {1})
    with open(path + ".idx", "wb") as f:
        f.write(logs.MARK.pack(10**12, 0) + b"torn")
    assert logs.tail(path, 2, {1, 2})[-1][2] == b"line 99\n"


@pytest.mark.unit
def test_the_tail_of_a_large_log_reads_only_its_end(tmp_path):
    """A 64 MiB log: --tail 5 parses a mark's stretch, not the file (the whole read takes seconds)."""
    path = str(tmp_path / "log")
    line = b"0123456789" * 6 + b"\n"
    write_log(path, [(1, line * 1000)] * 1100 + [(2, b"the end\n")])
    t0 = time.monotonic()
    got = logs.tail(path, 5, {1, 2})
    took = time.monotonic() - t0
    assert [e[2] for e in got] == [line] * 4 + [b"the end\n"]
    assert took < 0.2, f"--tail 5 of a 64 MiB log took {took:.2f} s"


def test_tail_of_a_large_container_log_is_quick_and_since_until_follow_still_hold(busybox):
    """A container writes 150 MB through the monitor (which keeps the index); `logs --tail 1` answers in
    about the time of any corral command, and --since/--until/-f still apply after the tail."""
    busybox.out("run", "--name", "big", "busybox", "sh", "-c",
                "yes 0123456789012345678901234567890123456789 | head -n 3700000; echo the last line", timeout=300)
    assert os.path.getsize(os.path.join(busybox.root, "containers",
                                        busybox.out("inspect", "-f", "{{.Id}}", "big").strip(), "log")) > 150e6
    t0 = time.monotonic()
    assert busybox.out("logs", "--tail", "1", "big") == "the last line\n"
    took = time.monotonic() - t0
    print(f"logs --tail 1 of a 150 MB log: {took:.2f} s")
    assert took < 3, f"logs --tail 1 of a 150 MB log took {took:.1f} s"
    assert busybox.out("logs", "-n", "2", "big") == "0123456789012345678901234567890123456789\nthe last line\n"
    assert busybox.out("logs", "--tail", "1", "--since", "1h", "big") == "the last line\n"
    assert busybox.out("logs", "--tail", "1", "--until", "2000-01-01T00:00:00Z", "big") == ""
    assert busybox.out("logs", "--tail", "0", "big") == ""
    busybox.out("rm", "big")
    busybox.out("run", "-d", "--name", "live", "busybox", "sh", "-c",
                "echo one; echo two; sleep 2; echo three")
    deadline = time.monotonic() + 20
    while busybox.out("logs", "live") != "one\ntwo\n" and time.monotonic() < deadline:
        time.sleep(0.05)
    # -f from the tail: the last line before it, then what comes, nothing twice
    assert busybox.out("logs", "-f", "--tail", "1", "live", timeout=30) == "two\nthree\n"
    assert busybox.out("logs", "--tail", "2", "live") == "two\nthree\n"
    busybox.out("rm", "live")
