"""Answering a registry's auth challenge: Basic, or a Bearer token from its token service.

distribution's token flow (docs/spec/auth/token.md): a request answered 401 carries
`WWW-Authenticate: Bearer realm="https://auth/token",service="registry",scope="repository:x:pull"`; the
client asks the realm for a token for that service and scope (with Basic credentials when it has some,
anonymously otherwise), and sends it as `Authorization: Bearer …` until it expires. One token per
session, for the scopes this session needs (repository:PATH:pull, or pull,push for a push, plus the
pull scope of a repository a blob is mounted from). A registry that wants Basic gets the credentials
`corral login` stored (registry/credentials.py) on every request after the first challenge.
"""
from __future__ import annotations

import base64
import threading
import time

from corral.errors import APIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import httpx

    from corral.registry.client import Session


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
    """The Authorization header for a session's requests, renewed when the registry challenges it."""

    def __init__(self, session: Session, actions: str, credentials: tuple[str, str] | None = None) -> None:
        self.session, self.actions = session, actions
        self.credentials = credentials
        self.extra_scopes: list[str] = []
        self.value = ""
        self.expires = 0.0
        self.challenge: tuple[str, dict[str, str]] | None = None
        self.lock = threading.Lock()
        self.looked_up = credentials is not None

    def header(self) -> dict[str, str]:
        if self.value and self.expires and time.time() > self.expires - 10 and self.challenge:
            with self.lock:
                if time.time() > self.expires - 10:
                    self._token(self.challenge[1])
        return {"Authorization": self.value} if self.value else {}

    def creds(self) -> tuple[str, str] | None:
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
            if scheme == "basic":
                creds = self.creds()
                if creds is None:
                    return False
                self.value = "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
            elif scheme == "bearer" and params.get("realm"):
                self.challenge = (scheme, params)
                self._token(params)
            else:
                return False
            return self.value != before

    def scopes(self, params: dict[str, str]) -> list[str]:
        own = f"repository:{self.session.path}:{self.actions}"
        asked = [s for s in params.get("scope", "").split(" ") if s]
        return list(dict.fromkeys([own] + self.extra_scopes + asked))

    def _token(self, params: dict[str, str]) -> None:
        query = [("scope", s) for s in self.scopes(params)]
        if params.get("service"):
            query.insert(0, ("service", params["service"]))
        headers = {}
        creds = self.creds()
        if creds is not None:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
        try:
            resp = self.session.http.get(params["realm"], params=query, headers=headers)
        except Exception as e:  # noqa: BLE001 - httpx's transport errors, named in the message
            raise Unauthorized(f"{self.session.registry}: cannot get a token from {params['realm']}: {e}") from None
        if resp.status_code != 200:
            raise Unauthorized(f"{self.session.registry}: the token service {params['realm']} refused "
                               f"{'the stored credentials' if creds else 'anonymous access'} "
                               f"(HTTP {resp.status_code}); try `corral login {self.session.registry}`")
        body = resp.json()
        token = body.get("token") or body.get("access_token")
        if not token:
            raise Unauthorized(f"{self.session.registry}: the token service {params['realm']} sent no token")
        self.value = "Bearer " + token
        expires_in = body.get("expires_in") or 60
        self.expires = time.time() + float(expires_in)
