"""Registry credentials in docker's ~/.docker/config.json format (filled in by `corral login`).

Credentials is what one registry request may authenticate with, whatever it came from: the caller's
docker-py `auth_config` (or the X-Registry-Auth of `corral serve`), `client.login`, or the file.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from corral.errors import InvalidArgument


@dataclass(frozen=True)
class Credentials:
    """A user and password, or an identity token (an OAuth2 refresh token a token service handed out at
    login), or a registry token (a bearer token sent as it is)."""

    username: str = ""
    password: str = ""
    identity_token: str = ""
    registry_token: str = ""

    def basic(self) -> str:
        """The Basic Authorization header of the user and password."""
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()

    def auth_config(self, server: str = "") -> dict:
        """docker-py's authconfig dict of these credentials."""
        out = {"username": self.username, "password": self.password, "serveraddress": server}
        if self.identity_token:
            out["identitytoken"] = self.identity_token
        if self.registry_token:
            out["registrytoken"] = self.registry_token
        return out


def from_auth_config(config: dict | None, what: str = "auth_config") -> Credentials | None:
    """docker's AuthConfig (docker-py's auth_config, the decoded X-Registry-Auth): username and password,
    `auth` (base64 "user:password"), identitytoken or registrytoken; keys in any case, as Go decodes them.
    None for an empty one (docker-py sends {} when it has nothing); email and serveraddress say nothing
    about how to authenticate and are taken as docker takes them."""
    if config is None:
        return None
    if not isinstance(config, dict):
        raise InvalidArgument(f"{what} must be a dict such as {{'username': ..., 'password': ...}}, "
                              f"not {type(config).__name__}")
    fields: dict[str, str] = {}
    for key, value in config.items():
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidArgument(f"{what}: {key} must be a string, not {type(value).__name__}")
        fields[str(key).lower()] = value
    username, password = fields.get("username", ""), fields.get("password", "")
    if fields.get("auth"):
        username, password = _decode_auth(fields["auth"], what)
    found = Credentials(username, password, fields.get("identitytoken", ""), fields.get("registrytoken", ""))
    if found == Credentials():
        return None
    if not (found.identity_token or found.registry_token) and not (found.username and found.password):
        raise InvalidArgument(f"{what}: give username and password (or auth, identitytoken or registrytoken)")
    return found


def _decode_auth(value: str, what: str) -> tuple[str, str]:
    """docker's `auth`: base64 of "user:password"."""
    try:
        text = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidArgument(f"{what}: auth is not base64 of user:password") from None
    username, colon, password = text.partition(":")
    if not colon:
        raise InvalidArgument(f"{what}: auth is not base64 of user:password")
    return username, password.strip("\x00")


def get(registry: str) -> Credentials | None:
    return None
