"""Kill points for tests (issue 20, item 6): with CORRAL_FAILPOINT=NAME in its environment, a corral process
kills itself (SIGKILL, as a crash or `kill -9` would) when it reaches `hit("NAME")`.

Without the variable `hit` is a function that returns at once: one string comparison per point.
The points, each where a writer is halfway through a change:

  commit.paused    Container.commit, the container frozen, nothing written yet
  commit.tar       the new layer's tar written in tmp/
  layer.unpacked   a layer unpacked in tmp/, not yet in layers/ (commit, build, pull, load, import)
  layer.renamed    a layer in layers/, not yet recorded in the DB
  image.blobs      an image's config and manifest blobs written, its row not (every image made)
  pull.partial     a pull halfway through a large layer, its bytes so far kept in tmp/ (registry/resume.py)
  pull.layers      a pull's layers stored and recorded, its image not
  load.layers      a load's layers stored, its images not
  push.blob        a push with one layer's blob uploaded, the others (in other threads) maybe not
  push.layers      a push's layers uploaded, its config and manifest not
  build.step       a build between two steps (the last one's image made)
  build.run        a RUN step's container started, its command running
  rm.stopped       rm, the container's processes gone, nothing removed yet
  rm.files         rm, the container's cgroups and directory removed, its row and leases not
  volume.dir       volume create, the data directory made, the row not yet committed
  volume.row       volume rm, the row deleted, the data directory not
  network.bridge   a switch's firewall elements added and its bridge made and addressed, its sysctls not set
  network.veth     network connect, the veth wired into the running container, the peers' hosts files not
  monitor.spawned  the monitor (it dies, and its containers with it): an init spawned, not yet recorded running
  seccomp.tmp      a compiled seccomp program written to its temporary file, not yet renamed into the cache
  pod.created      `pod create`: the pod recorded, its infra container not yet made
  pod.removing     `pod rm`: the pod marked as being removed, one of its containers removed
"""
from __future__ import annotations

import os

_POINT = os.environ.get("CORRAL_FAILPOINT")


def hit(name: str) -> None:
    if name == _POINT:
        os.kill(os.getpid(), 9)
