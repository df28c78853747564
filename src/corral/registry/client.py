"""One repository of one registry over the OCI distribution API (and Docker's v2 registry API), on httpx.

What a pull and a push need of the wire and no more: the /v2/ probe, manifests by tag or digest,
blobs streamed, HEAD before upload, cross-repository mounts, monolithic and chunked uploads. Every
answer is checked here (status, digest of what was asked by digest, sizes), so the callers see content
they can trust or one clear error: the registry's own error code and message when it sent one.

Transient failures (connection refused or reset, 502/503/504) are retried with back-off, a few times;
a registry that stops answering is not waited on for long (CORRAL_REGISTRY_TIMEOUT seconds, 30 by
default), and the error says which registry and what it was asked.
"""
from __future__ import annotations

import os
import time
from typing import Iterator

import httpx

from corral.errors import APIError, InvalidArgument, NotFound
from corral.registry import conf
from corral.registry.auth import Auth, Unauthorized

TYPE_CHECKING = False
if TYPE_CHECKING:
    from corral.registry.credentials import Credentials

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
INDEXES = (DOCKER_LIST, OCI_INDEX)
MANIFESTS = (DOCKER_MANIFEST, OCI_MANIFEST)
MAX_MANIFEST = 4 << 20  # as containerd: manifests and configs are a few KiB
RETRIES = 3
CHUNK = 1 << 20


class RegistryUnavailable(APIError):
    """The registry could not be reached or did not answer in time."""

    http_status = 502


class UntrustedCertificate(RegistryUnavailable):
    """The registry's TLS certificate does not verify against the system's CAs and its certs.d."""


def _timeout() -> float:
    try:
        return float(os.environ.get("CORRAL_REGISTRY_TIMEOUT", "30"))
    except ValueError:
        return 30.0


class Session:
    """HTTP to `registry` for repository `path`, with its auth; usable from several threads at once."""

    def __init__(self, registry: str, path: str, actions: str = "pull", credentials: Credentials | None = None,
                 login: bool = False) -> None:
        self.registry, self.path = registry, path
        self.base = conf.endpoint(registry)
        verify = conf.ssl_context(registry) if self.base.startswith("https:") else False
        t = _timeout()
        self.http = httpx.Client(verify=verify, timeout=httpx.Timeout(t, connect=min(t, 10.0)),
                                 follow_redirects=True, limits=httpx.Limits(max_connections=16))
        self.auth = Auth(self, actions, credentials, login)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(self, tail: str) -> str:
        return f"{self.base}/v2/{self.path}/{tail}"

    # requests -------------------------------------------------------------------------------------------

    def request(self, method: str, url: str, *, ok: tuple[int, ...] = (200,), stream: bool = False,
                what: str = "", **kw: object) -> httpx.Response:
        """One request, retried on transient failures and once more after answering an auth challenge;
        a status outside `ok` becomes an error naming `what` was asked."""
        what = what or f"{method} {url}"
        delay = 0.25
        extra = kw.pop("headers", None) or {}
        for attempt in range(RETRIES + 1):
            kw_now = dict(kw, headers=dict(extra, **self.auth.header()))  # type: ignore[arg-type]
            try:
                req = self.http.build_request(method, url, **kw_now)  # type: ignore[arg-type]
                resp = self.http.send(req, stream=stream)
            except httpx.TimeoutException:
                raise RegistryUnavailable(f"{self.registry}: no answer within {_timeout():g}s to {what} "
                                          "(the registry hangs or is overloaded)") from None
            except httpx.TransportError as e:
                if _untrusted(e):
                    raise UntrustedCertificate(_untrusted_message(self.registry, self.base, e)) from None
                if attempt == RETRIES or not _replayable(kw):
                    raise RegistryUnavailable(f"{self.registry}: {what} failed: {_reason(e)}") from None
                time.sleep(delay)
                delay *= 2
                continue
            if resp.status_code == 401 and attempt < RETRIES and self.auth.answer(resp) and _replayable(kw):
                resp.close()
                continue
            if resp.status_code in (502, 503, 504) and attempt < RETRIES and _replayable(kw):
                resp.close()
                time.sleep(delay)
                delay *= 2
                continue
            if resp.status_code not in ok:
                raise self.error(resp, what)
            return resp
        raise RegistryUnavailable(f"{self.registry}: {what} failed after {RETRIES} retries")  # not reached

    def error(self, resp: httpx.Response, what: str) -> APIError:
        """The registry's own error ("MANIFEST_UNKNOWN: manifest unknown") as the right kind of error."""
        errors: list = []
        try:
            resp.read()
            errors = [e for e in resp.json().get("errors") or [] if isinstance(e, dict)]
            detail = "; ".join(_registry_error(e) for e in errors)
        except Exception:  # noqa: BLE001 - any body: the status alone says enough
            detail = ""
        finally:
            resp.close()
        detail = detail or f"HTTP {resp.status_code} {resp.reason_phrase}"
        message = f"{what}: {detail}"
        if resp.status_code == 401:
            from corral.registry.auth import parse_challenge

            challenge = parse_challenge(resp.headers.get("www-authenticate", ""))[1]
            if challenge.get("error") == "insufficient_scope" and self.auth.creds() is not None:
                error: APIError = Unauthorized(f"{message} (the credentials give no {challenge.get('scope', '')} "
                                               "access)")
            else:
                error = Unauthorized(f"{message} (authentication required: corral login {self.registry})")
        elif resp.status_code == 403:
            error = Unauthorized(f"{message} (denied)")
        elif resp.status_code == 404:
            error = NotFound(message)
        elif resp.status_code in (400, 405, 409, 413, 416):
            error = InvalidArgument(message)
        else:
            error = APIError(message)
        error.registry_code = str(errors[0].get("code", "")) if errors else ""  # type: ignore[attr-defined]
        error.registry_detail = _registry_error(errors[0]) if errors else detail  # type: ignore[attr-defined]
        return error

    # API ---------------------------------------------------------------------------------------------

    def manifest(self, reference: str) -> tuple[bytes, str, str]:
        """(bytes, media type, digest) of the manifest `reference` (tag or digest) names; one asked for
        by digest is checked against it."""
        import hashlib

        resp = self.request("GET", self.url(f"manifests/{reference}"), stream=True,
                            headers={"Accept": ", ".join(MANIFESTS + INDEXES)},
                            what=f"manifest for {self.registry}/{self.path}:{reference}"
                            if not reference.startswith("sha256:") else
                            f"manifest {self.registry}/{self.path}@{reference}")
        try:
            data = _read_limited(resp, MAX_MANIFEST, f"manifest {self.path}:{reference}")
        finally:
            resp.close()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if reference.startswith("sha256:") and digest != reference:
            raise InvalidArgument(f"manifest {reference} from {self.registry} has digest {digest}: refused")
        media_type = resp.headers.get("content-type", "").split(";")[0].strip()
        return data, media_type, digest

    def blob_bytes(self, digest: str, size: int, what: str) -> bytes:
        """A small blob (a config), read whole and checked against its digest."""
        import hashlib

        if size > MAX_MANIFEST:
            raise InvalidArgument(f"{what} {digest} is {size} bytes, more than the {MAX_MANIFEST} one may have")
        resp = self.request("GET", self.url(f"blobs/{digest}"), stream=True, what=f"{what} {digest}")
        try:
            data = _read_limited(resp, size, f"{what} {digest}")
        finally:
            resp.close()
        actual = "sha256:" + hashlib.sha256(data).hexdigest()
        if actual != digest:
            from corral.image.layers import DigestMismatch

            raise DigestMismatch(f"{what} {digest} from {self.registry}: content has digest {actual}: refused")
        return data

    resumable = True  # blob_stream honours an offset (HTTP Range), so a pull keeps partial downloads

    def blob_stream(self, digest: str, offset: int = 0) -> tuple[httpx.Response, Iterator[bytes]]:
        """The blob's bytes from `offset` on: a 206 answer when the registry honoured the Range asked for,
        200 (the whole blob) when it ignored it."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        resp = self.request("GET", self.url(f"blobs/{digest}"), stream=True, what=f"blob {digest}", headers=headers,
                            ok=(200, 206) if offset else (200,))
        return resp, resp.iter_raw(CHUNK)

    def has_blob(self, digest: str) -> bool:
        resp = self.request("HEAD", self.url(f"blobs/{digest}"), ok=(200, 404), what=f"HEAD blob {digest}")
        resp.close()
        return resp.status_code == 200

    def tags(self) -> list[str]:
        resp = self.request("GET", self.url("tags/list"), what=f"tags of {self.registry}/{self.path}")
        try:
            return list(resp.json().get("tags") or [])
        finally:
            resp.close()

    def mount(self, digest: str, source: str) -> bool:
        """Cross-repository mount of blob `digest` from repository `source`: True when the registry did.
        A mount the credentials do not cover (no pull of `source`) is no error: the blob is uploaded
        instead, as docker does."""
        try:
            resp = self.request("POST", self.url("blobs/uploads/"), params={"mount": digest, "from": source},
                                ok=(201, 202), what=f"mount of blob {digest} from {source}")
        except Unauthorized:
            return False
        resp.close()
        if resp.status_code == 202 and (loc := resp.headers.get("location")):
            self._cancel(loc)  # the registry opened an upload instead; drop it
        return resp.status_code == 201

    def upload(self, digest: str, data: bytes) -> None:
        """A monolithic upload: POST for a session, PUT the whole blob with its digest."""
        loc = self._start_upload(digest)
        self.request("PUT", _with_digest(loc, digest), content=data, ok=(201,),
                     headers={"Content-Type": "application/octet-stream"}, what=f"upload of blob {digest}").close()

    def upload_chunks(self, chunks: Iterator[bytes], result: dict) -> str:
        """A chunked upload of what `chunks` yields (PATCH with Content-Range each); the digest is known
        only at the end (result["digest"], filled by the producer once exhausted). Returns the digest."""
        loc = self._start_upload("")
        offset = 0
        for chunk in chunks:
            resp = self.request("PATCH", loc, content=chunk, ok=(202,), what="chunked upload",
                                headers={"Content-Type": "application/octet-stream",
                                         "Content-Range": f"{offset}-{offset + len(chunk) - 1}"})
            resp.close()
            loc = self._absolute(resp.headers.get("location") or loc)
            offset += len(chunk)
        digest = result["digest"]
        self.request("PUT", _with_digest(loc, digest), ok=(201,), what=f"upload of blob {digest}").close()
        return digest

    def put_manifest(self, reference: str, data: bytes, media_type: str) -> str:
        resp = self.request("PUT", self.url(f"manifests/{reference}"), content=data, ok=(201, 200),
                            headers={"Content-Type": media_type},
                            what=f"manifest for {self.registry}/{self.path}:{reference}")
        resp.close()
        return resp.headers.get("docker-content-digest", "")

    def _start_upload(self, digest: str) -> str:
        resp = self.request("POST", self.url("blobs/uploads/"), ok=(202,), what=f"upload of blob {digest}".strip())
        resp.close()
        loc = resp.headers.get("location")
        if not loc:
            raise APIError(f"{self.registry}: an upload session came without a Location")
        return self._absolute(loc)

    def _cancel(self, loc: str) -> None:
        try:
            self.request("DELETE", self._absolute(loc), ok=(200, 202, 204, 404), what="cancel upload").close()
        except APIError:
            pass

    def _absolute(self, loc: str) -> str:
        return loc if "://" in loc else self.base + loc


def _with_digest(loc: str, digest: str) -> httpx.URL:
    """The upload URL with ?digest= added to the query it has (the registry's own state rides there)."""
    return httpx.URL(loc).copy_merge_params({"digest": digest})


def _registry_error(err: dict) -> str:
    """One error of the registry's JSON body as docker words it: "manifest unknown: manifest unknown"."""
    kind = str(err.get("code", "")).lower().replace("_", " ")
    return f"{kind}: {err.get('message', '')}"


def _replayable(kw: dict) -> bool:
    """A request whose body is bytes (or none) can be sent again; a streamed one cannot."""
    content = kw.get("content")
    return content is None or isinstance(content, (bytes, bytearray))


def _untrusted(e: Exception) -> bool:
    return "CERTIFICATE_VERIFY_FAILED" in str(e)


def _untrusted_message(registry: str, base: str, e: Exception) -> str:
    """What is wrong with the certificate (OpenSSL's words) and where the CA that would trust it goes."""
    text = str(e)
    reason = text.split("certificate verify failed:", 1)[-1].split("(_ssl.c", 1)[0].strip(" ()") or text
    return (f"{registry}: the TLS certificate of {base} is not trusted (certificate verify failed: {reason}): "
            f"put the CA that signed it in {os.path.join(conf.certs_dir(), registry, 'ca.crt')}")


def _reason(e: Exception) -> str:
    text = str(e) or type(e).__name__
    if "Connection refused" in text or "ConnectError" in text:
        return f"connection refused ({text})" if "refused" not in text else text
    return text


def _read_limited(resp: httpx.Response, limit: int, what: str) -> bytes:
    out = bytearray()
    for chunk in resp.iter_raw(CHUNK):
        out += chunk
        if len(out) > limit:
            raise InvalidArgument(f"{what} is larger than the {limit} bytes it may have: refused")
    return bytes(out)
