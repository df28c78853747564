#!/bin/sh
# Installs everything corral needs on a Debian 12+ host, as root, and runs a first container.
# Idempotent: run it again after pulling changes.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
VENV=${CORRAL_VENV:-/opt/corral}
PKGS="busybox-static catatonit debootstrap nftables iproute2 python3-venv crun runc podman skopeo umoci tmux docker.io
      docker-registry apache2-utils openssl"

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }
missing=""
for p in $PKGS; do
    installed "$p" || missing="$missing $p"
done

# docker.io is for the benchmarks only (bench/api_py.py and bench/stats.py start a private dockerd and stop
# it): its install must leave no daemon running or starting at boot. Debian's packages start and enable
# docker.service, docker.socket and containerd.service; a policy-rc.d that refuses every start keeps them
# stopped during the install, and those this run installed are disabled after (a containerd the host had
# before is left as it was).
daemons=""
case " $missing " in *" docker.io "*)
    daemons="docker.service docker.socket"
    installed containerd || daemons="$daemons containerd.service";;
esac
policy=""
if [ -n "$daemons" ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    trap 'rm -f "$policy"' EXIT
    printf '#!/bin/sh\n# made by corral setup.sh while it installs docker.io\nexit 101\n' > "$policy"
    chmod 755 "$policy"
fi
if [ -n "$missing" ]; then
    echo "installing Debian packages:$missing"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null
fi
if [ -n "$policy" ]; then
    rm -f "$policy"
    trap - EXIT
fi
if [ -n "$daemons" ] && [ -d /run/systemd/system ]; then
    systemctl disable --now $daemons >/dev/null 2>&1 || true
fi

# Tests start their own docker-registry on 127.0.0.1 (tests/registryd.py); Debian's package enables and
# starts a service on :5000, which nothing here wants running: stopped and disabled (offline too).
if [ -e /lib/systemd/system/docker-registry.service ]; then
    if [ -d /run/systemd/system ]; then
        systemctl disable --now docker-registry.service >/dev/null 2>&1 || true
    else
        systemctl disable docker-registry.service >/dev/null 2>&1 || rm -f /etc/systemd/system/multi-user.target.wants/docker-registry.service
    fi
fi

# docker-compose (a peer client in corral serve's tests) without docker.io, which it recommends: no dockerd
if ! dpkg-query -W -f='${Status}' docker-compose 2>/dev/null | grep -q "ok installed"; then
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker-compose >/dev/null
fi

# --isolation=vm (issue 19): QEMU, Debian's kernel source and what builds it (and cpio, which packs the guest's
# init), without recommends: no GUI libraries, no firmware beyond what qemu-system-x86 depends on
VM_PKGS="qemu-system-x86 linux-source flex bison bc libelf-dev libssl-dev make gcc libc6-dev cpio xz-utils"
vm_missing=""
for p in $VM_PKGS; do
    installed "$p" || vm_missing="$vm_missing $p"
done
if [ -n "$vm_missing" ]; then
    echo "installing Debian packages for VM containers:$vm_missing"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $vm_missing >/dev/null
fi

[ -x "$VENV/bin/python" ] || /usr/bin/python3 -m venv "$VENV"
# pyproject.toml's dependencies come with it: httpx, h11, PyYAML (kube generate/play), and for the tests
# kubernetes-validate (the schemas of several Kubernetes releases, offline) among the test extra
"$VENV/bin/pip" install -q --disable-pip-version-check -e "$HERE[test]" 2>&1 | grep -v -i "warning" || true

# The command itself starts the system interpreter with -I -S: no site scan, a few ms less per call.
# The venv's site-packages comes last on the path: the libraries a few verbs import lazily (the
# registry client's, the API server's) are found there, and the run/exec/ps path never looks.
PURELIB=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
cat > /usr/local/bin/corral <<LAUNCHER
#!/usr/bin/python3 -IS
import sys
sys.path.insert(0, "$HERE/src")
sys.path.append("$PURELIB")
from corral.cli.main import entry
entry()
LAUNCHER
chmod 755 /usr/local/bin/corral

# --userns=auto (issue 20): the user whose /etc/subuid and /etc/subgid ranges the containers' mappings come
# from, "containers" as podman's; its ranges, 2^31 ids from 2^31 (podman's suggestion), only if it has none
id -u containers >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin containers
grep -q '^containers:' /etc/subuid 2>/dev/null || usermod --add-subuids 2147483647-4294967294 containers
grep -q '^containers:' /etc/subgid 2>/dev/null || usermod --add-subgids 2147483647-4294967294 containers

# The guest kernel and init of --isolation=vm, built once and cached in /var/cache/corral/vm (the kernel
# takes minutes: `nice make -j2 vmlinux`); then which accelerator boots it here (KVM or TCG), probed once
"$VENV/bin/python" -m corral.runtime.vm.build
# The default VM template (128 MiB, 1 CPU): a guest booted to its init's wait and saved, which VM containers
# resume instead of booting (runtime/vm/template.py; other shapes are built by their first container)
"$VENV/bin/python" -m corral.runtime.vm.template

corral images -q busybox | grep -q . || corral image bootstrap busybox >/dev/null
corral run --rm busybox echo "corral is ready: hello from a busybox container"
