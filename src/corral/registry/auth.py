"""Answering a registry's auth challenge: Basic, or a Bearer token from its token service.

distribution's token flow (docs/spec/auth/token.md): a request answered 401 carries
`WWW-Authenticate: Bearer realm="https://auth/token",service="registry",scope="repository:x:pull"`; the
client asks the realm for a token for that service and scope (with Basic credentials when it has some,
anonymously otherwise), and sends it as `Authorization: Bearer …` until it expires. One token per
session, for the scopes this session needs (repository:PATH:pull, or pull,push for a push, plus the
pull scope of a repository a blob is mounted from). A registry that wants Basic gets the credentials
on every request after the first challenge: those of the call, or those `corral login` stored
(registry/credentials.py). An identity token (what a token service gives a login that asks for offline
access) is exchanged for bearer tokens by OAuth2's refresh_token grant instead.
"""
from __future__ import annotations

import threading
import time

from corral.errors import APIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import httpx

    from corral.registry.client import Session
    from corral.registry.credentials import Credentials

CLIENT_ID = "corral"  # the OAuth2 client_id a token service sees (docker sends "docker")


class Unauthorized(APIError):
    """The registry wants credentials we do not have, or refused the ones we gave (`corral login`)."""

    http_status = 401


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """('bearer', {realm, service, scope}) of a WWW-Authenticate value; quoted values may hold commas."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    i = 0
    while i < len(rest):
        eq = rest.find("=", i)
        if eq < 0:
            break
        key = rest[i:eq].strip().lstrip(",").strip().lower()
        i = eq + 1
        if rest[i:i + 1] == '"':
            end = rest.find('"', i + 1)
            end = len(rest) if end < 0 else end
            params[key] = rest[i + 1:end]
            i = end + 1
        else:
            end = rest.find(",", i)
            end = len(rest) if end < 0 else end
            params[key] = rest[i:end].strip()
            i = end
        while i < len(rest) and rest[i] in ", ":
            i += 1
    return scheme.lower(), params


class Auth:
    """The Authorization header for a session's requests, renewed when the registry challenges it.

    `credentials` are those of this call (an auth_config, a login being checked); without them the stored
    ones are looked up (registry/credentials.py) at the first challenge, so a registry open to all never
    runs a credential helper. `login` asks the token service for an identity token to keep (docker's
    offline_token), which login() hands back as docker's IdentityToken."""

    def __init__(self, session: Session, actions: str, credentials: Credentials | None = None,
                 login: bool = False) -> None:
        self.session, self.actions, self.login = session, actions, login
        self.credentials = credentials
        self.extra_scopes: list[str] = []
        self.value = "Bearer " + credentials.registry_token if credentials and credentials.registry_token else ""
        self.expires = 0.0
        self.identity_token = ""
        self.asked: set[str] = set()  # the scopes of the last token asked for
        self.challenge: tuple[str, dict[str, str]] | None = None
        self.lock = threading.Lock()
        self.looked_up = credentials is not None

    def header(self) -> dict[str, str]:
        if self.value and self.expires and time.time() > self.expires - 10 and self.challenge:
            with self.lock:
                if time.time() > self.expires - 10:
                    self._token(self.challenge[1])
        return {"Authorization": self.value} if self.value else {}

    def creds(self) -> Credentials | None:
        if not self.looked_up:
            from corral.registry import credentials

            self.credentials = credentials.get(self.session.registry)
            self.looked_up = True
        return self.credentials

    def answer(self, resp: httpx.Response) -> bool:
        """Take the 401's challenge; True when there is something new to retry with."""
        header = resp.headers.get("www-authenticate", "")
        scheme, params = parse_challenge(header)
        with self.lock:
            before = self.value
            creds = self.creds()
            if scheme == "basic":
                if creds is None or not creds.username:
                    return False
                self.value = creds.basic()
            elif scheme == "bearer" and params.get("realm"):
                if creds is not None and creds.registry_token:
                    return False  # the token given was refused: there is no other to ask for
                if params.get("error") == "insufficient_scope" and set(self.scopes(params)) <= self.asked:
                    return False  # the token service gave all it would for these scopes
                self.challenge = (scheme, params)
                self._token(params)
            else:
                return False
            return self.value != before

    def scopes(self, params: dict[str, str]) -> list[str]:
        own = [f"repository:{self.session.path}:{self.actions}"] if self.session.path else []
        asked = [s for s in params.get("scope", "").split(" ") if s]
        merged: dict[str, list[str]] = {}  # one scope per resource, its actions joined: pull,push once
        for scope in own + self.extra_scopes + asked:
            resource, _, actions = scope.rpartition(":")
            have = merged.setdefault(resource or scope, [])
            have += [a for a in actions.split(",") if a and a not in have and resource]
        return [f"{resource}:{','.join(actions)}" if actions else resource for resource, actions in merged.items()]

    def _token(self, params: dict[str, str]) -> None:
        """A bearer token for the session's scopes: an identity token is exchanged by OAuth2's POST
        (grant_type=refresh_token), a user and password sent as Basic with a GET, as docker does."""
        realm = params["realm"]
        creds = self.creds()
        scopes = self.scopes(params)
        self.asked = set(scopes)
        try:
            if creds is not None and creds.identity_token:
                form = {"grant_type": "refresh_token", "refresh_token": creds.identity_token, "client_id": CLIENT_ID,
                        "service": params.get("service", ""), "scope": " ".join(scopes)}
                if self.login:
                    form["access_type"] = "offline"
                resp = self.session.http.post(realm, data=form)
            else:
                query = [("scope", s) for s in scopes]
                if params.get("service"):
                    query.insert(0, ("service", params["service"]))
                headers = {}
                if creds is not None and creds.username:
                    headers["Authorization"] = creds.basic()
                    query.append(("account", creds.username))
                if self.login:
                    query += [("client_id", CLIENT_ID), ("offline_token", "true")]
                resp = self.session.http.get(realm, params=query, headers=headers)
        except Exception as e:  # noqa: BLE001 - httpx's transport errors, named in the message
            raise Unauthorized(f"{self.session.registry}: cannot get a token from {realm}: {e}") from None
        if resp.status_code != 200:
            whose = "the credentials" if creds else "anonymous access"
            raise Unauthorized(f"{self.session.registry}: the token service {realm} refused {whose} "
                               f"(HTTP {resp.status_code} {resp.reason_phrase})"
                               + ("" if self.login else f"; try `corral login {self.session.registry}`"))
        try:
            body = resp.json()
        except ValueError:
            body = {}
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise Unauthorized(f"{self.session.registry}: the token service {realm} sent no token")
        self.value = "Bearer " + token
        self.identity_token = body.get("refresh_token") or self.identity_token
        expires_in = body.get("expires_in") or 60
        self.expires = time.time() + float(expires_in)
