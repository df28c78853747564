"""Registry credentials in docker's ~/.docker/config.json format (filled in by `corral login`)."""
from __future__ import annotations


def get(registry: str) -> tuple[str, str] | None:
    return None
