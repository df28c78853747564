"""The engine's per-store monitor: supervises every container, wires it to networks and volumes."""
