"""The OCI runtime: a bundle (config.json) in, a running process out; namespaces, mounts, cgroups, exec.

It knows nothing above it: wiring containers to networks and volumes, their
records and their supervision are the monitor's (corral/monitor/), and no
module here imports network/, monitor/, api/ or anything else above it
(tests/test_layers.py).
"""
