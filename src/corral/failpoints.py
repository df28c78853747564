"""Kill points for tests (issue 20, item 6): with CORRAL_FAILPOINT=NAME in its environment, a corral process
kills itself (SIGKILL, as a crash or `kill -9` would) when it reaches `hit("NAME")`.

Without the variable `hit` is a function that returns at once: one string comparison per point.
The points, each where a writer is halfway through a change:

  commit.paused    Container.commit, the container frozen, nothing written yet
  commit.tar       the new layer's tar written in tmp/
  layer.unpacked   a layer unpacked in tmp/, not yet in layers/
  layer.renamed    a layer in layers/, not yet recorded in the DB
  pull.partial     a pull halfway through a large layer, its bytes so far kept in tmp/ (registry/resume.py)
  pod.created      `pod create`: the pod recorded, its infra container not yet made
  pod.removing     `pod rm`: the pod marked as being removed, one of its containers removed
"""
from __future__ import annotations

import os

_POINT = os.environ.get("CORRAL_FAILPOINT")


def hit(name: str) -> None:
    if name == _POINT:
        os.kill(os.getpid(), 9)
