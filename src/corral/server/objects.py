"""Network and volume endpoints."""
from __future__ import annotations
