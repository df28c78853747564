"""docker login, logout and the Engine API's /auth: credentials checked against the registry, then kept.

Where they are kept is docker's config.json (registry/credentials.py), shared with the docker CLI. The
CLI's `corral login` prompts and prints; `check` is POST /auth's answer for `corral serve` (the daemon
checks, the docker CLI keeps); `client.login` checks and remembers in the client, as docker-py does.
"""
from __future__ import annotations

from corral.errors import InvalidArgument
from corral.registry import credentials
from corral.registry.credentials import Credentials

LOGIN_SUCCEEDED = "Login Succeeded"


def server_key(server: str | None) -> str:
    """The registry as docker names it in messages and config.json: HOST[:PORT], or the Hub's legacy
    https://index.docker.io/v1/ for no server at all."""
    return credentials.key(server)


def check(auth_config: dict) -> dict:
    """The credentials of `auth_config` (docker's AuthConfig: username, password or identitytoken, and
    serveraddress; no serveraddress: the Hub) checked against the registry: docker's answer
    {"Status": "Login Succeeded", "IdentityToken": ...}. A refusal raises Unauthorized (401) with docker's
    "login attempt to URL failed ..." line; nothing is kept."""
    from corral.registry import login

    creds = credentials.from_auth_config(auth_config)
    if creds is None:
        raise InvalidArgument("login: give username and password")
    server = next((v for k, v in auth_config.items() if str(k).lower() == "serveraddress" and v), None)
    token = login.verify(server_key(server), creds)
    return {"Status": LOGIN_SUCCEEDED, "IdentityToken": token}


def login(server: str | None, creds: Credentials) -> tuple[dict, str]:
    """`docker login`: check `creds` against `server`, then keep them (an identity token instead of the
    password when the registry gave one). Returns docker's answer and where they were kept: the
    config.json's path, or docker-credential-NAME."""
    key = server_key(server)
    answer = check(creds.auth_config(key))
    if answer["IdentityToken"]:
        creds = Credentials(creds.username, "", answer["IdentityToken"])
    return answer, credentials.store(key, creds)


def stored(server: str | None) -> Credentials | None:
    """The credentials kept for `server`, if any."""
    return credentials.get(server_key(server))


def logout(server: str | None) -> bool:
    """`docker logout`: forget what is kept for `server`; False when nothing was."""
    return credentials.erase(server_key(server))
