#!/bin/sh
# Runs the whole test suite (as root, on the real kernel); arguments select tests as pytest takes them.
set -eu
cd "$(dirname "$0")"
[ $# -gt 0 ] || set -- tests
exec /opt/corral/bin/python -m pytest -q -p no:cacheprovider "$@"
