"""Registries that want credentials, for the auth tests: Debian's docker-registry behind htpasswd Basic
auth, behind token auth (a small token server here, issuing JWTs signed with its own key through openssl,
which the registry verifies against that key's certificate), and over TLS with a certificate from a test
CA made by openssl. Everything listens on 127.0.0.1 and is stopped by its fixture."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import subprocess
import threading
import time
import urllib.parse

import pytest

from tests.registryd import Registry

USERS = {"alice": "alice-secret", "bob": "bob-secret"}
SERVICE, ISSUER = "corral-test-registry", "corral-test-tokens"


def openssl(*args: str) -> None:
    p = subprocess.run(["openssl", *args], capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr.decode()


def htpasswd(path: str) -> str:
    lines = [subprocess.run(["htpasswd", "-Bbn", user, password], capture_output=True, text=True, check=True,
                            timeout=30).stdout.strip() for user, password in USERS.items()]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def make_ca(folder: str) -> tuple[str, str]:
    """A test CA: (ca.crt, ca.key)."""
    os.makedirs(folder, exist_ok=True)
    crt, key = os.path.join(folder, "ca.crt"), os.path.join(folder, "ca.key")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "2", "-subj", "/CN=corral test CA",
            "-keyout", key, "-out", crt)
    return crt, key


def server_cert(folder: str, ca: tuple[str, str]) -> tuple[str, str]:
    """A certificate for 127.0.0.1 signed by `ca`: (server.crt, server.key)."""
    crt, key, csr = (os.path.join(folder, n) for n in ("server.crt", "server.key", "server.csr"))
    ext = os.path.join(folder, "san.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName = IP:127.0.0.1\nextendedKeyUsage = serverAuth\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", csr)
    openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial", "-days", "2", "-sha256",
            "-extfile", ext, "-out", crt)
    return crt, key


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """distribution's token service, small: GET /token with Basic credentials (or none) and ?scope=,
    POST /token with OAuth2's refresh_token grant; offline_token=true adds a refresh token (docker's
    identity token). Grants follow `policy`: user -> {repository prefix: actions}; anonymous gets none.
    Tokens are RS256 JWTs whose x5c names the certificate the registry's rootcertbundle holds."""

    def __init__(self, folder: str, policy: dict[str, dict[str, list[str]]]) -> None:
        import http.server

        os.makedirs(folder, exist_ok=True)
        self.key, self.cert = os.path.join(folder, "token.key"), os.path.join(folder, "token.crt")
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "2", "-subj",
                "/CN=corral test tokens", "-keyout", self.key, "-out", self.cert)
        import ssl

        with open(self.cert) as f:
            self.x5c = base64.b64encode(ssl.PEM_cert_to_DER_cert(f.read())).decode()
        self.policy, self.refresh, self.requests = policy, {}, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's names
                url = urllib.parse.urlparse(self.path)
                server.answer(self, urllib.parse.parse_qs(url.query), self.headers.get("Authorization", ""))

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                server.answer(self, urllib.parse.parse_qs(self.rfile.read(length).decode()), "", post=True)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def registry_config(self) -> str:
        return (f"auth:\n  token:\n    realm: {self.realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n"
                f"    rootcertbundle: {self.cert}\n")

    def answer(self, handler, query: dict, authorization: str, post: bool = False) -> None:  # noqa: ANN001
        one = {k: v[-1] for k, v in query.items()}
        scopes = [s for v in query.get("scope", []) for s in v.split(" ") if s]
        self.requests.append({"method": "POST" if post else "GET", "scopes": scopes, **one})
        user = None
        if post:
            user = self.refresh.get(one.get("refresh_token", "")) if one.get("grant_type") == "refresh_token" else None
            if user is None:
                return self.send(handler, 400, {"error": "invalid_grant"})
        elif authorization.startswith("Basic "):
            name, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
            if USERS.get(name) != password:
                return self.send(handler, 401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad password"}]})
            user = name
        body = {"token": self.jwt(user or "", scopes), "expires_in": 300,
                "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        body["access_token"] = body["token"]
        if user and (one.get("offline_token") == "true" or post):
            body["refresh_token"] = self.refresh_token(user)
        return self.send(handler, 200, body)

    def refresh_token(self, user: str) -> str:
        token = secrets.token_hex(16)
        self.refresh[token] = user
        return token

    def grants(self, user: str, scope: str) -> dict | None:
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        if kind != "repository":
            return None
        allowed = next((acts for prefix, acts in self.policy.get(user, {}).items() if name.startswith(prefix)), [])
        given = [a for a in actions.split(",") if a in allowed]
        return {"type": "repository", "name": name, "actions": given}

    def jwt(self, user: str, scopes: list[str]) -> str:
        now = int(time.time())
        access = [g for g in (self.grants(user, s) for s in scopes) if g and g["actions"]]
        header = {"alg": "RS256", "typ": "JWT", "x5c": [self.x5c]}
        claims = {"iss": ISSUER, "sub": user, "aud": SERVICE, "exp": now + 300, "nbf": now - 10, "iat": now,
                  "jti": secrets.token_hex(8), "access": access}
        signing = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        p = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key], input=signing.encode(),
                           capture_output=True, timeout=30)
        assert p.returncode == 0, p.stderr
        return f"{signing}.{b64url(p.stdout)}"

    @staticmethod
    def send(handler, status: int, body: dict) -> None:  # noqa: ANN001
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def basic_registry(tmp_path, peer_host):
    """docker-registry wanting htpasswd Basic auth (USERS)."""
    path = htpasswd(str(tmp_path / "htpasswd"))
    reg = Registry(str(tmp_path / "basic-registry"),
                   extra=f"auth:\n  htpasswd:\n    realm: corral-tests\n    path: {path}\n").start()
    yield reg
    reg.stop()


@pytest.fixture
def token_registry(tmp_path, peer_host):
    """docker-registry behind the token server: alice may push and pull alice/*, pull shared/*; bob may
    push and pull bob/* and shared/*; anonymous may do nothing. The server is `reg.tokens`."""
    tokens = TokenServer(str(tmp_path / "tokens"), {"alice": {"alice/": ["pull", "push"], "shared/": ["pull"]},
                                                     "bob": {"bob/": ["pull", "push"], "shared/": ["pull", "push"]}})
    reg = Registry(str(tmp_path / "token-registry"), extra=tokens.registry_config())
    reg.tokens = tokens
    try:
        reg.start()
        yield reg
    finally:
        reg.stop()
        tokens.stop()


@pytest.fixture
def tls_registry(tmp_path, peer_host):
    """docker-registry over TLS with a certificate for 127.0.0.1 from a test CA (`reg.ca` is its ca.crt)."""
    ca = make_ca(str(tmp_path / "ca"))
    crt, key = server_cert(str(tmp_path / "ca"), ca)
    reg = Registry(str(tmp_path / "tls-registry"), extra=f"  tls:\n    certificate: {crt}\n    key: {key}\n",
                   scheme="https")
    reg.ca = ca[0]
    yield reg.start()
    reg.stop()


def docker_config_of(folder: str) -> dict:
    with open(os.path.join(folder, "config.json")) as f:
        return json.load(f)


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()
