"""Checking credentials against a registry before they are kept: docker's login.

A GET of the registry's /v2/ with them, answering its challenge as any request does (registry/auth.py):
Basic sends them, Bearer trades them at the token service, asking for offline access so that a token
service that hands out refresh tokens gives one (docker's IdentityToken, kept instead of the password).
200 is a login; anything else is docker's "login attempt to URL failed with status: 401 Unauthorized".
"""
from __future__ import annotations

from corral.registry import client
from corral.registry.auth import Unauthorized
from corral.registry.credentials import Credentials, hostname


class LoginFailed(Unauthorized):
    """The registry (or its token service) refused the credentials; printed as docker prints it."""

    bare = True


def verify(server: str, creds: Credentials) -> str:
    """Log in to `server` (HOST[:PORT], a URL, or the Hub's key) with `creds`; returns the identity token
    the token service gave, or "" (none: the password is what to keep)."""
    registry = hostname(server)
    with client.Session(registry, "", credentials=creds, login=True) as session:
        url = f"{session.base}/v2/"
        try:
            resp = session.request("GET", url, ok=(200, 401, 403), what=f"login to {registry}")
        except Unauthorized as e:  # the token service said no
            raise LoginFailed(f"login attempt to {url} failed: {e}") from None
        resp.close()
        if resp.status_code != 200:
            raise LoginFailed(f"login attempt to {url} failed with status: {resp.status_code} {resp.reason_phrase}")
        return session.auth.identity_token
