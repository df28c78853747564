#!/bin/sh
# Installs everything corral needs on a Debian 12+ host, as root, and runs a first container.
# Idempotent: run it again after pulling changes.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
VENV=${CORRAL_VENV:-/opt/corral}
PKGS="busybox-static catatonit debootstrap nftables iproute2 python3-venv crun runc podman skopeo umoci tmux openssl"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "installing Debian packages:$missing"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null
fi
# docker-compose (a peer client in corral serve's tests) without docker.io, which it recommends: no dockerd
if ! dpkg-query -W -f='${Status}' docker-compose 2>/dev/null | grep -q "ok installed"; then
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker-compose >/dev/null
fi

[ -x "$VENV/bin/python" ] || /usr/bin/python3 -m venv "$VENV"
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

corral images -q busybox | grep -q . || corral image bootstrap busybox >/dev/null
corral run --rm busybox echo "corral is ready: hello from a busybox container"
