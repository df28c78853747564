"""The benchmarks' timing loop (bench/_common.interleave) and api_py's guard against a peer's hung
call: a wrong figure there would be printed as a fact, so their logic is tested here without engines."""
from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))  # as the benchmarks run: scripts
_bytecode = sys.dont_write_bytecode
import _common  # noqa: E402
import api_py  # noqa: E402

sys.dont_write_bytecode = _bytecode  # api_py sets it for its own run, not for the test session

pytestmark = pytest.mark.unit


def test_interleave_rotates_order_drops_failures_and_skips_warmup() -> None:
    order: list[tuple[str, int]] = []

    def engine(name: str, fail_at: int | None = None):  # noqa: ANN202
        def one(i: int) -> float:
            order.append((name, i))
            if i == fail_at:
                raise RuntimeError(f"{name} broke")
            return float(i)
        return one

    failed: dict[str, str] = {}
    times = _common.interleave({"a": engine("a"), "b": engine("b"), "c": engine("c", fail_at=3)},
                               runs=3, failed=failed, warmup=2)
    assert times == {"a": [2.0, 3.0, 4.0], "b": [2.0, 3.0, 4.0]}  # warm-up runs 0 and 1 not counted
    assert failed == {"c": "c broke"}
    firsts = [order[k][0] for k in (0, 3, 6)]  # each round starts with a different engine
    assert len(set(firsts)) == 3
    assert ("c", 4) not in order  # a failed engine is not run again


def test_clock_abandons_a_hung_call_counts_it_and_times_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api_py, "HANG_S", 0.05)
    calls: list[int] = []

    def call(i: int) -> bytes:
        calls.append(i)
        if len(calls) == 1:
            time.sleep(5)  # interrupted by the guard
        return b"ok"

    hangs = [0]
    ms = api_py.clock(call, b"ok", None, hangs)(7)
    assert calls == [7, 7] and hangs == [1]
    assert 0 <= ms < 50  # the second call's time, not the hang's


def test_clock_gives_up_after_hangs_max_and_checks_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api_py, "HANG_S", 0.02)
    hangs, before = [0], signal.getsignal(signal.SIGALRM)
    with pytest.raises(api_py.Hang):
        api_py.clock(lambda i: time.sleep(5), None, None, hangs)(0)
    assert hangs == [api_py.HANGS_MAX]
    assert signal.getsignal(signal.SIGALRM) is before  # the guard's handler is gone again
    with pytest.raises(RuntimeError, match="expected b'hi\\\\n'"):
        api_py.clock(lambda i: b"", b"hi\n", None, [0])(0)
