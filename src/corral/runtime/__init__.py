"""The OCI runtime: a bundle (config.json) in, a running process out; namespaces, mounts, cgroups, exec.

It knows nothing above it: wiring containers to their networks and
supervising them are the monitor's (corral/monitor/), and no module here
imports network/, monitor/, api/ or anything else above it
(tests/test_layers.py). Two modules here are still the engine's rather than
a runtime's: state.py (the containers' rows in the DB) and options.py
(`docker create`'s flags).
"""
