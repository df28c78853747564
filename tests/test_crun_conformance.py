"""The bundle corral writes for a container is a real OCI bundle: crun, given the same config.json,
must build the same container as corral's own runtime.

One probe script (busybox sh) runs as PID 1 of a container, first under corral (`corral start -a`),
then under crun with a copy of that container's config.json. It prints, one fact per line: the
hostname, PID 1's command line, the mount table, the capability sets, NoNewPrivs, what each masked
path yields, whether the read-only /proc/sys can be written, and `id`. The two reports are
normalised (only what legitimately differs between two runs: overlay paths, the host device and
filesystem options behind the /etc bind mounts, the filesystem /dev/null lives on, the size of the
empty tmpfs over masked directories), then compared line by line. Each aspect is a test of its own,
comparing the two runtimes and, where the config says what is right, checking that as well.

The crun run gets its own overlay, mounted here on the host over the same image layers with a fresh
upper/work, its own cgroup (/corral-crun-test/<id>) and its own crun state dir. Everything is undone
even when a run fails; test_cleanup_left_nothing checks that.

Runs as root, on the real kernel, with crun installed.
"""
from __future__ import annotations

import difflib
import errno
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid

import pytest

from conftest import SRC
from corral.runtime.caps import mask as capability_mask
from corral.store.rootfs import rootfs_of

pytestmark = pytest.mark.slow

CGROUP_PARENT = "corral-crun-test"
TIMEOUT = 60

# The probe prints a line for each of these paths; config.json's maskedPaths and readonlyPaths must
# be among them (test_probe_covers_the_config), so a path added to corral's defaults is not skipped.
PROBE_MASKED = [
    "/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/sched_debug", "/proc/scsi", "/proc/timer_list", "/proc/timer_stats", "/sys/devices/virtual/powercap",
    "/sys/firmware", "/sys/fs/selinux", "/sys/dev/block",
]
PROBE_READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

PROBE_FLAGS = ["--read-only", "--tmpfs", "/run:size=1m,mode=1770,uid=7", "--tmpfs", "/opt/x:exec", "--shm-size", "8m",
               "--memory", "64m", "--pids-limit", "50"]
"""Flags whose mounts both runtimes must make alike: a read-only root, tmpfs mounts with options, a sized /dev/shm;
and limits both must show in the container's view of its cgroups."""

PROBE = r"""
echo "hostname $(hostname)"
echo "hostname.proc $(cat /proc/sys/kernel/hostname)"
echo "pid1.shell_pid $$"
echo "pid1.argv0 $(tr '\0' '\n' </proc/1/cmdline | head -n 1)"
echo "pid1.argc $(tr -cd '\0' </proc/1/cmdline | wc -c)"
echo "pid1.cmdline_md5 $(md5sum </proc/1/cmdline | cut -d ' ' -f 1)"
while read -r src mp fs opts rest; do echo "mount $mp $fs $opts $src"; done </proc/self/mounts
for who in 1 self; do
  grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/$who/status | while read -r k v; do
    echo "status.$who $k $v"
  done
done
for p in @MASKED@; do
  if [ -c "$p" ]; then
    r=$(cat "$p" >/dev/null 2>&1 && echo ok || echo fails)
    w=$( (echo probe-write >"$p") 2>/dev/null && echo ok || echo fails)
    echo "masked $p chardev=$(stat -c '%t:%T' "$p") read=$r write=$w bytes=$(cat "$p" 2>/dev/null | wc -c)"
  elif [ -d "$p" ]; then
    r=$(ls -A "$p" >/dev/null 2>&1 && echo ok || echo fails)
    echo "masked $p dir list=$r entries=$(ls -A "$p" 2>/dev/null | wc -l)"
  elif [ -e "$p" ]; then
    r=$(cat "$p" >/dev/null 2>&1 && echo ok || echo fails)
    echo "masked $p file read=$r bytes=$(cat "$p" 2>/dev/null | wc -c)"
  else
    echo "masked $p absent"
  fi
done
for p in @READONLY@; do
  if [ -e "$p" ]; then echo "readonly $p present"; else echo "readonly $p absent"; fi
done
if (echo probe-write >/proc/sys/kernel/hostname) 2>/dev/null; then
  echo "write /proc/sys/kernel/hostname succeeds"
else
  echo "write /proc/sys/kernel/hostname fails"
fi
echo "id $(id)"
while read -r line; do echo "cgroup $line"; done </proc/self/cgroup
for f in memory/memory.limit_in_bytes memory.max pids/pids.max pids.max; do
  if [ -f "/sys/fs/cgroup/$f" ]; then echo "cgroupfs $f $(cat "/sys/fs/cgroup/$f")"; fi
done
echo "end"
""".replace("@MASKED@", " ".join(PROBE_MASKED)).replace("@READONLY@", " ".join(PROBE_READONLY))

VFS_FLAGS = {"ro", "rw", "nosuid", "nodev", "noexec", "relatime", "noatime", "nodiratime", "sync", "dirsync",
             "mand", "lazytime", "strictatime", "nosymfollow"}
OVERLAY_PATH_OPTS = ("lowerdir=", "upperdir=", "workdir=", "datadir+=", "lowerdir+=", "uuid=")
MASK_TMPFS_SIZE_OPTS = ("size=", "nr_inodes=", "nr_blocks=")


# ---------------------------------------------------------------- helpers


def cap_mask(names: list[str]) -> str:
    return f"{capability_mask(names):016x}"


def mount_points_under(*dirs: str) -> list[str]:
    """Mount points (from this process's mountinfo) at or below any of `dirs`."""
    roots = [os.path.realpath(d).rstrip("/") for d in dirs]
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            mp = mp.encode().decode("unicode_escape") if "\\" in mp else mp  # \040 etc.
            if any(mp == r or mp.startswith(r + "/") for r in roots):
                found.append(mp)
    return found


def unmount_all_under(*dirs: str) -> list[str]:
    """Unmount whatever is mounted below `dirs`, deepest first; the mount points that were there."""
    found = mount_points_under(*dirs)
    for mp in sorted(found, key=len, reverse=True):
        if subprocess.run(["umount", mp], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", mp], capture_output=True)
    return found


def remove_tree_if_unmounted(path: str, problems: list[str]) -> None:
    """rmtree, but never into a mount (an overlay left mounted would take the image layers with it)."""
    if not os.path.exists(path):
        return
    left = mount_points_under(path)
    if left:
        problems.append(f"mounts still under {path}: {left}; not removing it")
        return
    shutil.rmtree(path, ignore_errors=True)
    if os.path.exists(path):
        problems.append(f"could not remove {path}")


def cgroup_dirs(leaf: str) -> list[str]:
    """Every directory /corral-crun-test/<leaf> (or the parent alone if leaf is "") can have: one per v1
    hierarchy, the cgroup2 one of a hybrid host, and the root of a pure cgroup v2 host."""
    tail = os.path.join(CGROUP_PARENT, leaf) if leaf else CGROUP_PARENT
    return sorted(set(glob.glob(f"/sys/fs/cgroup/*/{tail}") + glob.glob(f"/sys/fs/cgroup/{tail}")))


def remove_cgroups(leaf: str, problems: list[str]) -> None:
    for d in cgroup_dirs(leaf):
        for dirpath, _dirs, _files in os.walk(d, topdown=False):
            try:
                os.rmdir(dirpath)
            except OSError as e:
                problems.append(f"could not remove cgroup {dirpath}: {e}")
    for d in cgroup_dirs(""):
        try:
            os.rmdir(d)
        except OSError as e:
            if e.errno not in (errno.ENOTEMPTY, errno.EBUSY, errno.ENOENT):
                problems.append(f"could not remove cgroup {d}: {e}")


# ---------------------------------------------------------------- normalising a report


def parse(raw: str) -> list[str]:
    lines = raw.splitlines()
    assert lines and lines[-1] == "end", f"the probe did not run to its end:\n{raw}"
    return lines[:-1]


def normalise(raw: str, cfg: dict) -> list[str]:
    """The report in a comparable form: mount lines reduced to what the config determines, then sorted.

    Under a "cgroup" mount's destination the sources are each runtime's names ("cgroup", or the mount
    point as crun has it), and so are the options of the tmpfs holding a v1 host's hierarchies; that
    tmpfs's ro/rw too: corral makes it read-only as the mount asks (as docker's runc did), crun 1.8
    and runc 1.1 leave it writable. test_cgroup_view checks corral's is read-only."""
    lines = parse(raw)
    cgroup_dest = {m["destination"] for m in cfg.get("mounts", []) if m.get("type") == "cgroup"}
    masked_char = {ln.split()[1] for ln in lines if ln.startswith("masked ") and ln.split()[2].startswith("chardev=")}
    masked_dir = {ln.split()[1] for ln in lines if ln.startswith("masked ") and ln.split()[2] == "dir"}
    binds = {m["destination"] for m in cfg.get("mounts", [])
             if m.get("type") == "bind" or "bind" in m.get("options", []) or "rbind" in m.get("options", [])}
    out, mounts = [], []
    for ln in lines:
        if not ln.startswith("mount "):
            out.append(ln)
            continue
        _, mp, fs, opts, src = ln.split(" ", 4)
        opts_l = opts.split(",")
        vfs = [o for o in opts_l if o in VFS_FLAGS]
        fsopts = [o for o in opts_l if o not in VFS_FLAGS]
        if mp in masked_char:
            # A bind of some /dev/null: which filesystem that node lives on (the host's devtmpfs, the
            # container's /dev tmpfs) and that mount's flags are the runtime's choice; ro/rw is not.
            src, fs, fsopts = "-", "(/dev/null)", []
            vfs = [o for o in vfs if o in ("ro", "rw")]
        elif mp in masked_dir and fs == "tmpfs":
            fsopts = [o for o in fsopts if not o.startswith(MASK_TMPFS_SIZE_OPTS)]
        elif fs == "overlay":
            src = "-"
            fsopts = [o for o in fsopts if not o.startswith(OVERLAY_PATH_OPTS)]
        elif mp in binds:
            src, fsopts = "-", []  # the host device and filesystem holding the bind source
        elif any(mp == d or mp.startswith(d + "/") for d in cgroup_dest):
            src = "-"
            if mp in cgroup_dest and fs == "tmpfs":
                vfs, fsopts = [o for o in vfs if o not in ("ro", "rw")], []
        mounts.append(f"mount {mp} {fs} {','.join(vfs)} [{','.join(fsopts)}] from {src}")
    first = next((i for i, ln in enumerate(out) if ln.startswith("status.")), len(out))
    return out[:first] + sorted(mounts) + out[first:]


def section(lines: list[str], *prefixes: str) -> list[str]:
    return [ln for ln in lines if ln.startswith(prefixes)]


def field(lines: list[str], key: str) -> str:
    hits = [ln[len(key) + 1:] for ln in lines if ln.startswith(key + " ")]
    assert len(hits) == 1, f"expected one {key!r} line, got {hits}"
    return hits[0]


def assert_same(corral: list[str], crun: list[str], what: str) -> None:
    if corral != crun:
        diff = "\n".join(difflib.unified_diff(corral, crun, "corral", "crun", lineterm="", n=2))
        pytest.fail(f"{what}: corral and crun differ (- corral, + crun):\n{diff}", pytrace=False)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def corral():
    """Runs the corral CLI against a private CORRAL_ROOT that has busybox:latest."""
    root = tempfile.mkdtemp(prefix="corral-crun-root-")
    env = dict(os.environ, CORRAL_ROOT=root, PYTHONPATH=SRC)  # this checkout's corral, not the installed one

    def run(*args, check=True, timeout=TIMEOUT):
        p = subprocess.run([sys.executable, "-m", "corral.cli.main", *args], env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"corral {' '.join(args)} exited {p.returncode}\nstdout:\n{p.stdout}\n"
                                 f"stderr:\n{p.stderr}")
        return p

    run.root = root
    try:
        run("image", "bootstrap", "busybox")
        yield run
    finally:
        problems: list[str] = []
        left = unmount_all_under(root)
        if left:
            problems.append(f"mounts left under CORRAL_ROOT: {left}")
        remove_tree_if_unmounted(root, problems)
        assert not problems, problems


@pytest.fixture(scope="module")
def reports(corral, peer_host):
    """Both runs of the probe; cleaned up before any test looks at them."""
    name = "probe-crun-conformance"
    tmp = tempfile.mkdtemp(prefix="corral-crun-bundle-")
    crun_id = f"corral-crun-test-{uuid.uuid4().hex[:12]}"
    crun_root = os.path.join(tmp, "crun-state")
    rootfs = os.path.join(tmp, "rootfs")
    result: dict = {"tmp": tmp, "crun_id": crun_id, "problems": []}
    created = mounted = False
    try:
        created_out = corral("create", "--name", name, *PROBE_FLAGS, "busybox", "sh", "-c", PROBE).stdout
        cid = created_out.strip().splitlines()[-1]
        created = True
        assert len(cid) == 64 and all(c in "0123456789abcdef" for c in cid), cid
        bundle = os.path.join(corral.root, "containers", cid)
        with open(os.path.join(bundle, "config.json")) as f:
            cfg = json.load(f)
        result.update(cid=cid, bundle=bundle, cfg=cfg)

        p = corral("start", "-a", name, check=False)
        assert p.returncode == 0, f"corral start -a exited {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
        result["corral_raw"] = p.stdout

        # crun: the same config.json, over an overlay of the same layers that this test mounts itself.
        lower = ":".join(rootfs_of(cfg, bundle).lowerdirs())
        assert lower, "the container's root filesystem names no layer"
        for d in ("rootfs", "upper", "work", "crun-state"):
            os.mkdir(os.path.join(tmp, d))
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir={lower},upperdir={tmp}/upper,workdir={tmp}/work", rootfs],
                       check=True, capture_output=True)
        mounted = True
        crun_cfg = json.loads(json.dumps(cfg))
        crun_cfg["root"]["path"] = rootfs
        crun_cfg["linux"]["cgroupsPath"] = f"/{CGROUP_PARENT}/{crun_id}"
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(crun_cfg, f, indent=1)
        p = subprocess.run(["crun", "--root", crun_root, "run", "-b", tmp, crun_id], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=TIMEOUT)
        assert p.returncode == 0, f"crun run exited {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
        result["crun_raw"] = p.stdout
    finally:
        problems = result["problems"]
        subprocess.run(["crun", "--root", crun_root, "delete", "-f", crun_id], capture_output=True)
        if mounted and subprocess.run(["umount", rootfs], capture_output=True).returncode != 0:
            problems.append(f"umount {rootfs} failed")
        left = unmount_all_under(tmp)
        if left:
            problems.append(f"mounts left under the crun bundle: {left}")
        remove_cgroups(crun_id, problems)
        if created:
            p = corral("rm", "-f", name, check=False)
            if p.returncode != 0:
                problems.append(f"corral rm -f {name} exited {p.returncode}: {p.stderr.strip()}")
        remove_tree_if_unmounted(tmp, problems)
        if problems:
            print("cleanup problems:", *problems, sep="\n  ", file=sys.stderr)
    result["corral"] = normalise(result["corral_raw"], result["cfg"])
    result["crun"] = normalise(result["crun_raw"], result["cfg"])
    return result


# ---------------------------------------------------------------- tests


def test_probe_covers_the_config(reports):
    linux = reports["cfg"].get("linux", {})
    assert set(linux.get("maskedPaths", [])) <= set(PROBE_MASKED), "extend PROBE_MASKED"
    assert set(linux.get("readonlyPaths", [])) <= set(PROBE_READONLY), "extend PROBE_READONLY"


def test_whole_report_is_the_same(reports):
    """The requirement in one comparison: every line of both normalised reports."""
    assert_same(reports["corral"], reports["crun"], "probe report")


def test_hostname(reports):
    assert_same(section(reports["corral"], "hostname"), section(reports["crun"], "hostname"), "hostname")
    want = reports["cfg"]["hostname"]
    for side in ("corral", "crun"):
        assert field(reports[side], "hostname") == want, side
        assert field(reports[side], "hostname.proc") == want, side


def test_pid1_is_the_probe(reports):
    assert_same(section(reports["corral"], "pid1."), section(reports["crun"], "pid1."), "PID 1")
    args = reports["cfg"]["process"]["args"]
    md5 = hashlib.md5(b"".join(a.encode() + b"\0" for a in args)).hexdigest()
    for side in ("corral", "crun"):
        lines = reports[side]
        assert field(lines, "pid1.shell_pid") == "1", side
        assert field(lines, "pid1.argv0") == args[0], side
        assert field(lines, "pid1.argc") == str(len(args)), side
        assert field(lines, "pid1.cmdline_md5") == md5, side


def test_mounts(reports):
    assert_same(section(reports["corral"], "mount "), section(reports["crun"], "mount "), "mount table")
    cfg = reports["cfg"]
    present_ro = {ln.split()[1] for ln in reports["crun"] if ln.startswith("readonly ") and ln.endswith(" present")}
    for side in ("corral", "crun"):
        table = {ln.split()[1]: ln.split()[2:4] for ln in reports[side] if ln.startswith("mount ")}
        assert table.get("/", [None])[0] == "overlay", (side, table.get("/"))
        assert table["/"][1].split(",")[0] == ("ro" if cfg["root"]["readonly"] else "rw"), (side, table["/"])
        for m in cfg["mounts"]:
            assert m["destination"] in table, (side, m["destination"])
            if "ro" in m.get("options", []) and m.get("type") != "cgroup":  # that one: test_cgroup_view
                assert table[m["destination"]][1].split(",")[0] == "ro", (side, m["destination"])
        for p in present_ro:
            assert p in table and table[p][1].split(",")[0] == "ro", (side, p, table.get(p))


def test_capabilities(reports):
    keys = tuple(f"status.{w} Cap" for w in ("1", "self"))
    assert_same(section(reports["corral"], *keys), section(reports["crun"], *keys), "capabilities")
    caps = reports["cfg"]["process"]["capabilities"]
    want = {"CapInh:": cap_mask(caps.get("inheritable", [])), "CapPrm:": cap_mask(caps.get("permitted", [])),
            "CapEff:": cap_mask(caps.get("effective", [])), "CapBnd:": cap_mask(caps.get("bounding", [])),
            "CapAmb:": cap_mask(caps.get("ambient", []))}
    for side in ("corral", "crun"):
        for key, mask in want.items():
            assert field(reports[side], f"status.1 {key}") == mask, (side, key)


def test_no_new_privs(reports):
    keys = tuple(f"status.{w} {k}" for w in ("1", "self") for k in ("NoNewPrivs", "Seccomp"))
    assert_same(section(reports["corral"], *keys), section(reports["crun"], *keys), "NoNewPrivs / Seccomp")
    want = "1" if reports["cfg"]["process"].get("noNewPrivileges") else "0"
    for side in ("corral", "crun"):
        assert field(reports[side], "status.1 NoNewPrivs:") == want, side
        assert field(reports[side], "status.self NoNewPrivs:") == want, side


def test_masked_and_readonly_paths(reports):
    keys = ("masked ", "readonly ", "write ")
    assert_same(section(reports["corral"], *keys), section(reports["crun"], *keys), "masked / read-only paths")
    masked = set(reports["cfg"].get("linux", {}).get("maskedPaths", []))
    for side in ("corral", "crun"):
        for ln in section(reports[side], "masked "):
            path, kind = ln.split()[1:3]
            if path not in masked or kind == "absent":
                continue
            if kind == "dir":
                assert ln.endswith(" entries=0"), (side, ln)
            else:
                assert ln.endswith(" bytes=0"), (side, ln)
        if "/proc/sys" in reports["cfg"].get("linux", {}).get("readonlyPaths", []):
            assert field(reports[side], "write /proc/sys/kernel/hostname") == "fails", side


def test_identity(reports):
    assert_same(section(reports["corral"], "id "), section(reports["crun"], "id "), "id")
    user = reports["cfg"]["process"]["user"]
    for side in ("corral", "crun"):
        ident = field(reports[side], "id")
        assert ident.startswith(f"uid={user['uid']}(") and f" gid={user['gid']}(" in ident, (side, ident)


def test_cgroup_view(reports):
    """The container's own cgroup, read-only, at /sys/fs/cgroup: its limits there, "/" its path in every
    hierarchy (the cgroup namespace was made once in the cgroup), on v1 a read-only tmpfs holding them."""
    keys = ("cgroup ", "cgroupfs ")
    assert_same(section(reports["corral"], *keys), section(reports["crun"], *keys), "cgroups")
    for side in ("corral", "crun"):
        assert {ln.rsplit(":", 1)[1] for ln in section(reports[side], "cgroup ")} == {"/"}, side
        found = dict(ln.split()[1:3] for ln in section(reports[side], "cgroupfs "))
        assert found.get("memory/memory.limit_in_bytes", found.get("memory.max")) == str(64 << 20), (side, found)
        assert found.get("pids/pids.max", found.get("pids.max")) == "50", (side, found)
    for side in ("corral", "crun"):
        table = {ln.split()[1]: ln.split()[2:4] for ln in reports[side] if ln.startswith("mount ")}
        under = [mp for mp in table if mp.startswith("/sys/fs/cgroup")]
        assert under and all(table[mp][1].split(",")[0] == "ro" for mp in under if table[mp][0] != "tmpfs"), side
    raw = [ln.split() for ln in parse(reports["corral_raw"]) if ln.startswith("mount /sys/fs/cgroup ")]
    assert all(fields[3].split(",")[0] == "ro" for fields in raw), raw


def test_cleanup_left_nothing(reports):
    assert reports["problems"] == []
    assert mount_points_under(reports["tmp"]) == []
    assert not os.path.exists(reports["tmp"])
    assert cgroup_dirs(reports["crun_id"]) == []
    cid = reports["cid"]
    assert glob.glob(f"/sys/fs/cgroup/*/corral/{cid}") + glob.glob(f"/sys/fs/cgroup/corral/{cid}") == []
    # (not `crun --root <tmp>/crun-state state`: crun would create that state dir again)
