"""Killed mid-write (issue 20, item 6): a corral process killed at a named point (CORRAL_FAILPOINT, see
src/corral/failpoints.py) leaves a store that `system check` either finds clean or that the repair makes
clean, no container paused for good, and the next operation works."""
from __future__ import annotations

import os
import re

import pytest

COMMIT_POINTS = ("commit.paused", "commit.tar", "layer.unpacked", "layer.renamed")


def _killed(cli, point: str, *args: str):  # noqa: ANN202
    env = dict(cli.env, CORRAL_FAILPOINT=point)
    import subprocess

    from conftest import CORRAL

    return subprocess.run(CORRAL + list(args), env=env, capture_output=True, timeout=60)


@pytest.mark.parametrize("point", COMMIT_POINTS)
def test_a_commit_killed_midway_leaves_nothing_the_repair_cannot_clean(busybox, point):
    cid = busybox.out("run", "-d", "busybox", "sh", "-c", "echo data > /f; sleep 60").strip()
    r = _killed(busybox, point, "commit", cid, "snap:1")
    assert r.returncode == -9, r.stderr  # the point was reached
    status = busybox.out("ps", "--format", "{{.Status}}", "-f", f"id={cid}")
    assert status.startswith("Up ") and "Paused" not in status  # a dead committer's pause is undone
    assert busybox.out("exec", cid, "cat", "/f") == "data\n"  # and the container runs on
    check = busybox("system", "check")
    if check.returncode != 0:  # what a killed writer left is named, and only that
        problems = check.stdout.decode().splitlines()
        assert all(re.search(r"left by a writer that is gone|is not recorded in the DB \(orphan\)", p)
                   for p in problems), problems
        repaired = busybox.out("system", "check", "--repair")
        assert "left by a writer that is gone" in repaired or "orphan" in repaired
    assert busybox("system", "check").returncode == 0
    assert os.listdir(os.path.join(busybox.root, "tmp")) == []
    assert "snap:1" not in busybox.out("images", "--format", "{{.Repository}}:{{.Tag}}")
    busybox.out("commit", cid, "snap:1")  # the next commit works
    assert busybox.out("run", "--rm", "snap:1", "cat", "/f") == "data\n"
    busybox.out("rm", "-f", cid)


def test_a_user_pause_is_kept_though_a_dead_committer_once_paused_the_container(busybox):
    cid = busybox.out("run", "-d", "busybox", "sleep", "60").strip()
    assert _killed(busybox, "commit.paused", "commit", cid, "snap:2").returncode == -9
    busybox.out("ps")  # undoes the dead committer's pause
    busybox.out("pause", cid)
    assert "Paused" in busybox.out("ps", "--format", "{{.Status}}", "-f", f"id={cid}")
    assert "Paused" in busybox.out("ps", "--format", "{{.Status}}", "-f", f"id={cid}")
    busybox.out("unpause", cid)
    busybox.out("rm", "-f", cid)
