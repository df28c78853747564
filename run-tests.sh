#!/bin/sh
# Runs the whole test suite (as root, on the real kernel). Extra arguments go to pytest.
set -eu
cd "$(dirname "$0")"
exec /opt/corral/bin/python -m pytest -q -p no:cacheprovider "$@" tests
