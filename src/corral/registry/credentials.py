"""Registry credentials in docker's ~/.docker/config.json format, shared with the docker CLI.

Credentials is what one registry request may authenticate with, whatever it came from: the caller's
docker-py `auth_config` (or the X-Registry-Auth of `corral serve`), `client.login`, or the file.

The file is docker's, in $DOCKER_CONFIG (default ~/.docker), so `docker login` and `corral login` share
it both ways. `auths` maps a registry key to base64 "user:password" (`auth`) or an `identitytoken`;
`credsStore` names a credential helper (`docker-credential-NAME` on PATH) that keeps every secret instead,
`credHelpers` one per registry. A helper speaks docker-credential-helpers' protocol: `get` reads the
server key on stdin and prints {"ServerURL", "Username", "Secret"}, `store` reads that JSON, `erase` the
key; a Username of "<token>" makes the Secret an identity token. The file is written atomically, mode
0600, every key corral does not use kept as it was (the docker CLI's psFormat, proxies, ...).

Registry keys are docker's: HOST[:PORT] (a key written as a URL, "https://host:5000/v2/", still
matches), and docker.io's legacy "https://index.docker.io/v1/".
"""
from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass

from corral.errors import APIError, InvalidArgument

HUB_KEY = "https://index.docker.io/v1/"
HUB_NAMES = ("docker.io", "index.docker.io", "registry-1.docker.io")
TOKEN_USER = "<token>"  # a helper's Username when the Secret is an identity token
HELPER_TIMEOUT = 30


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


def hostname(server: str) -> str:
    """docker's ConvertToHostname: a server address without scheme and path ("https://h:5000/v2/" is
    "h:5000"); the Hub's names are all "docker.io"."""
    stripped = server.strip()
    if "://" in stripped:
        stripped = stripped.split("://", 1)[1]
    host = stripped.split("/", 1)[0].lower()
    return "docker.io" if host in HUB_NAMES else host


def key(server: str | None) -> str:
    """The key docker files a registry's credentials under: HOST[:PORT], the Hub's legacy URL for docker.io
    (and for no server at all, as `docker login` with no argument)."""
    host = hostname(server) if server else "docker.io"
    if not host:
        raise InvalidArgument(f"{server!r} is no registry address: give HOST[:PORT]")
    return HUB_KEY if host == "docker.io" else host


def config_dir() -> str:
    return os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")


def config_path(path: str | None = None) -> str:
    """The config.json to use: `path` (docker-py's dockercfg_path), else $DOCKER_CONFIG's."""
    return path or os.path.join(config_dir(), "config.json")


def load(path: str | None = None) -> dict:
    """The file as docker wrote it ({} when there is none); a malformed one is refused with its path."""
    path = config_path(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise InvalidArgument(f"cannot read {path}: {e.strerror}") from None
    try:
        config = json.loads(data) if data.strip() else {}
    except ValueError as e:
        raise InvalidArgument(f"{path} is not valid JSON ({e}): fix or remove it") from None
    if not isinstance(config, dict) or not isinstance(config.get("auths", {}), dict) \
            or not isinstance(config.get("credHelpers", {}), dict):
        raise InvalidArgument(f"{path}: auths and credHelpers must be JSON objects")
    return config


def save(config: dict, path: str | None = None) -> None:
    """Write the file atomically (a temporary file renamed over it), mode 0600, owned as it was."""
    path = os.path.realpath(config_path(path))  # a symlinked config.json stays a symlink, as docker keeps it
    folder = os.path.dirname(path)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    try:
        owner = os.stat(path)
    except FileNotFoundError:
        owner = None
    tmp = os.path.join(folder, f".config.json.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(config, f, indent="\t")
            f.flush()
            os.fsync(f.fileno())
        if owner is not None:
            os.chown(tmp, owner.st_uid, owner.st_gid)
        os.rename(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise InvalidArgument(f"cannot write {path}: {e.strerror}") from None


def helper_of(config: dict, server_key: str) -> str:
    """The credential helper that keeps this registry's secrets ("" for the file itself)."""
    helpers = config.get("credHelpers") or {}
    host = hostname(server_key)
    for name, helper in helpers.items():
        if name == server_key or hostname(name) == host:
            return str(helper)
    return str(config.get("credsStore") or "")


def _entry(config: dict, server_key: str) -> tuple[str, dict] | None:
    """(key, entry) of `auths` for this registry: its own key, else one that names the same host."""
    auths = config.get("auths") or {}
    if isinstance(auths.get(server_key), dict):
        return server_key, auths[server_key]
    host = hostname(server_key)
    for name, entry in auths.items():
        if isinstance(entry, dict) and hostname(name) == host:
            return name, entry
    return None


def get(registry: str, path: str | None = None) -> Credentials | None:
    """The stored credentials for `registry` (a reference's domain or a server address), or None."""
    server_key = key(registry)
    config = load(path)
    helper = helper_of(config, server_key)
    if helper:
        return _helper_get(helper, server_key, config_path(path))
    found = _entry(config, server_key)
    if found is None:
        return None
    name, entry = found
    where = f"{config_path(path)}: auths[{name!r}]"
    username, password = str(entry.get("username") or ""), str(entry.get("password") or "")
    if entry.get("auth"):
        username, password = _decode_auth(str(entry["auth"]), where)
    creds = Credentials(username, password, str(entry.get("identitytoken") or ""),
                        str(entry.get("registrytoken") or ""))
    return None if creds == Credentials() or (not password and not creds.identity_token
                                              and not creds.registry_token) else creds


def store(server: str | None, creds: Credentials, path: str | None = None) -> str:
    """Keep `creds` for `server` (in its helper, or the file); returns where: the file's path, or
    "docker-credential-NAME". The file keeps an empty entry for a helper's registry, as docker's does."""
    server_key = key(server)
    config = load(path)
    helper = helper_of(config, server_key)
    auths = config.setdefault("auths", {})
    found = _entry(config, server_key)
    if found is not None and found[0] != server_key:
        del auths[found[0]]  # an old spelling of the same registry ("https://host/v2/") gives way
    if helper:
        user, secret = (TOKEN_USER, creds.identity_token) if creds.identity_token else (creds.username, creds.password)
        _helper(helper, "store", json.dumps({"ServerURL": server_key, "Username": user, "Secret": secret}),
                config_path(path))
        auths[server_key] = {}
        save(config, path)
        return f"docker-credential-{helper}"
    entry: dict = {"auth": base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()}
    if creds.identity_token:
        entry = {"auth": base64.b64encode(f"{creds.username}:".encode()).decode(),
                 "identitytoken": creds.identity_token}
    auths[server_key] = entry
    save(config, path)
    return config_path(path)


def erase(server: str | None, path: str | None = None) -> bool:
    """Forget the credentials for `server` (file and helper); False when there were none."""
    server_key = key(server)
    config = load(path)
    found = _entry(config, server_key)
    helper = helper_of(config, server_key)
    if helper:
        erased = _helper(helper, "erase", server_key, config_path(path), missing_ok=True) is not None
    else:
        erased = False
    if found is not None:
        del config["auths"][found[0]]
        save(config, path)
    return erased or found is not None


def _helper_get(helper: str, server_key: str, where: str) -> Credentials | None:
    out = _helper(helper, "get", server_key, where, missing_ok=True)
    if out is None:
        return None
    try:
        answer = json.loads(out)
        username, secret = str(answer.get("Username") or ""), str(answer.get("Secret") or "")
    except (ValueError, AttributeError):
        raise APIError(f"docker-credential-{helper} get {server_key}: its answer is not the protocol's "
                       "JSON {\"Username\", \"Secret\"}") from None
    if not secret:
        return None
    if username == TOKEN_USER:
        return Credentials(identity_token=secret)
    return Credentials(username, secret)


def _helper(helper: str, action: str, data: str, where: str, missing_ok: bool = False) -> str | None:
    """Run `docker-credential-HELPER ACTION` with `data` on stdin; its stdout, or None when it answered
    that it has no credentials for the server (missing_ok); any other failure is one clear error."""
    import subprocess

    program = f"docker-credential-{helper}"
    try:
        p = subprocess.run([program, action], input=data.encode(), capture_output=True, timeout=HELPER_TIMEOUT)
    except FileNotFoundError:
        raise APIError(f"the credential helper {program} (named in {where}) is not on PATH: install it, or "
                       "remove it from the file") from None
    except subprocess.TimeoutExpired:
        raise APIError(f"{program} {action} did not answer in {HELPER_TIMEOUT}s") from None
    out = p.stdout.decode(errors="replace").strip()
    if p.returncode != 0:
        said = out or p.stderr.decode(errors="replace").strip()
        if missing_ok and "credentials not found" in said.lower():
            return None
        raise APIError(f"{program} {action} failed (exit {p.returncode}): {said or 'no message'}")
    return out
