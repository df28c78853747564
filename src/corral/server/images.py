"""Image endpoints."""
from __future__ import annotations

from corral.server.routes import not_yet, route

route("POST", "/images/create")(not_yet("pulling (the registry client) is"))
route("POST", "/images/{name}/push")(not_yet("pushing (the registry client) is"))
route("GET", "/distribution/{name}/json")(not_yet("registry lookups are"))
