"""The engine's per-store monitor: supervises every container of a store and wires it to its network
(volumes will join it here); runtime/ below it is a plain OCI runtime that knows none of this."""
