"""inspect tells the truth about a container's name and /etc files when it shares them: a pod member shows
the pod's hostname and the infra container's hosts/hostname/resolv.conf (the files it mounts), a --uts
container: joiner the joined container's name, --uts host the host's (docker's container-network habit)."""
from __future__ import annotations

import json
import os


def test_a_pod_member_shows_the_pods_hostname_and_the_files_it_mounts(busybox):
    busybox.out("pod", "create", "--name", "duo", "--hostname", "duohost")
    member = busybox.out("create", "--pod", "duo", "busybox", "sh", "-c", "hostname; cat /etc/hosts").strip()
    infra = busybox.out("pod", "inspect", "-f", "{{.InfraContainerID}}", "duo").strip()
    mine, theirs = json.loads(busybox.out("inspect", member, infra))
    assert mine["Config"]["Hostname"] == theirs["Config"]["Hostname"] == "duohost"
    for key in ("HostsPath", "HostnamePath", "ResolvConfPath"):
        assert mine[key] == theirs[key] and theirs[key].startswith(busybox.root + "/containers/" + infra), key
    assert not os.path.exists(os.path.join(busybox.root, "containers", member, "hosts"))  # no file of its own
    busybox.out("start", member)
    assert busybox.out("wait", member).strip() == "0"
    with open(mine["HostsPath"]) as f:
        assert busybox.out("logs", member) == "duohost\n" + f.read()  # the file inspect names is the one it sees
    busybox.out("pod", "rm", "-f", "-t", "0", "duo")


def test_uts_joined_and_host_show_the_name_the_namespace_has(busybox):
    first = busybox.out("create", "-h", "firstbox", "busybox", "sleep", "30").strip()
    joined = busybox.out("create", "--uts", f"container:{first}", "busybox", "hostname").strip()
    host = busybox.out("create", "--uts", "host", "busybox", "hostname").strip()
    busybox.out("start", first)
    busybox.out("start", "-a", joined)
    assert busybox.out("logs", joined) == "firstbox\n"
    assert busybox.out("inspect", "-f", "{{.Config.Hostname}}", joined, host, first).split() == \
        ["firstbox", os.uname().nodename, "firstbox"]
    own = busybox.out("inspect", "-f", "{{.HostsPath}}", joined).strip()
    assert own == os.path.join(busybox.root, "containers", joined, "hosts")
    busybox.out("rm", "-f", first)
