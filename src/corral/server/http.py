"""One client connection of `corral serve`: h11 reads the requests (chunked bodies included) and frames
the responses (chunked when streamed); a hijacked request (attach, exec start) leaves h11 and gets the
raw socket, as dockerd's do.

h11 is a sans-I/O state machine: it never touches the socket, so taking the connection over after
a `101 UPGRADED` is ours to do, and it refuses malformed requests (RemoteProtocolError), which end
that connection with a 400 and nothing else.
"""
from __future__ import annotations

import json
import re
import select
import socket
import time
from urllib.parse import parse_qs, unquote

import h11

from corral import __version__
from corral.api.system import API_VERSION
from corral.errors import CorralError, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

MAX_JSON_BODY = 16 << 20
"""A JSON request body larger than this is refused (413): create, exec and network bodies are a few KB."""
MAX_HEADER = 64 << 10
"""The most bytes of a request line and headers (h11's bound; dockerd's Go server allows 1 MiB)."""
_SKIP_LIMIT = 1 << 20
"""An unread request body up to this is read past to keep the connection; a longer one closes it."""
_VERSIONED = re.compile(r"/v(\d+\.\d+)(/.*)")
_FALSE = ("", "0", "no", "false", "none")


def common_headers() -> list[tuple[str, str]]:
    """What every dockerd response carries (moby's version middleware): the API version, and the
    server and OS the docker CLI reads from `Server` for `stats` and `build`."""
    return [("Api-Version", API_VERSION), ("Server", f"Docker/{__version__} (linux)"), ("Ostype", "linux"),
            ("Docker-Experimental", "false")]


class ClientGone(Exception):
    """The peer closed the connection (or it broke) while we were answering."""


class Request:
    """One request: method, path without the /vN.NN prefix, the query, headers, and the body on demand."""

    def __init__(self, conn: Connection, event: h11.Request) -> None:
        self.connection = conn
        self.method = event.method.decode()
        target = event.target.decode("latin-1")
        raw_path, _, query = target.partition("?")
        path = unquote(raw_path)
        m = _VERSIONED.fullmatch(path)
        self.version, self.path = (m.group(1), m.group(2)) if m else (None, path)
        self.params = parse_qs(query, keep_blank_values=True)
        self.headers = {k.decode().lower(): v.decode("latin-1") for k, v in event.headers}
        self._body_read = False

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.path}>"

    # the query -------------------------------------------------------------------------------------

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.params.get(name)
        return values[-1] if values else default

    def args(self, name: str) -> list[str]:
        return self.params.get(name, [])

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean as moby's BoolValue reads it: false iff empty, 0, no, false or none."""
        value = self.arg(name)
        if value is None:
            return default
        return value.strip().lower() not in _FALSE

    def int_arg(self, name: str, default: int | None = None) -> int | None:
        value = self.arg(name)
        if value in (None, ""):
            return default
        try:
            return int(value)
        except ValueError:
            raise InvalidArgument(f"invalid value for {name}: {value!r}: not an integer") from None

    def json_arg(self, name: str, default: object = None) -> object:
        value = self.arg(name)
        if value in (None, ""):
            return default
        try:
            return json.loads(value)
        except ValueError:
            raise InvalidArgument(f"invalid JSON in the {name} parameter: {value!r}") from None

    def filters(self) -> dict[str, list[str]]:
        """`filters` as docker-py sends it ({"k": ["v"]}) or as the CLI does ({"k": {"v": true}})."""
        found = self.json_arg("filters", {})
        if not isinstance(found, dict):
            raise InvalidArgument("filters must be a JSON object")
        return {k: [x for x, on in v.items() if on] if isinstance(v, dict) else list(v) if isinstance(v, list)
                else [str(v)] for k, v in found.items()}

    # the body --------------------------------------------------------------------------------------

    def chunks(self) -> Iterator[bytes]:
        """The body as it arrives (h11 undoes chunked transfer coding)."""
        if self._body_read:
            return
        self._body_read = True
        while True:
            event = self.connection.next_event()
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage) or event is h11.PAUSED:
                return
            elif isinstance(event, h11.ConnectionClosed):
                raise ClientGone()

    def body(self, limit: int = MAX_JSON_BODY) -> bytes:
        declared = self.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge(f"request body larger than {limit} bytes")
        data = bytearray()
        for chunk in self.chunks():
            data += chunk
            if len(data) > limit:
                raise BodyTooLarge(f"request body larger than {limit} bytes")
        return bytes(data)

    def json(self) -> dict:
        """The body as a JSON object; {} for none."""
        data = self.body()
        if not data.strip():
            return {}
        try:
            found = json.loads(data)
        except ValueError as e:
            raise InvalidArgument(f"invalid JSON body: {e}") from None
        if not isinstance(found, dict):
            raise InvalidArgument("the request body must be a JSON object")
        return found

    def stream(self) -> BodyReader:
        """The body as a binary file (read(n)), for tar bodies of any size."""
        return BodyReader(self.chunks())

    @property
    def upgrade(self) -> bool:
        return "upgrade" in self.headers

    def registry_auth(self, header: str = "X-Registry-Auth") -> dict | None:
        """docker's AuthConfig from X-Registry-Auth (base64url of its JSON; X-Registry-Config for a
        build: a JSON map of registry to AuthConfig); None when absent or empty (`e30=`, {})."""
        import base64
        import binascii

        value = self.headers.get(header.lower(), "").strip()
        if not value:
            return None
        try:
            found = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        except (binascii.Error, ValueError):
            raise InvalidArgument(f"{header}: not base64url-encoded JSON (docker's AuthConfig)") from None
        if not isinstance(found, dict):
            raise InvalidArgument(f"{header}: the JSON must be an object (docker's AuthConfig)")
        return found or None


class BodyTooLarge(InvalidArgument):
    http_status = 413


class BodyReader:
    """A request body as a readable binary stream."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = bytearray()
        self._done = False

    def read(self, n: int = -1) -> bytes:
        while not self._done and (n < 0 or len(self._buffer) < n):
            chunk = next(self._chunks, None)
            if chunk is None:
                self._done = True
            else:
                self._buffer += chunk
        if n < 0:
            n = len(self._buffer)
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    def readable(self) -> bool:
        return True


class Stream:
    """A streamed response body: each write goes out at once as a chunk."""

    def __init__(self, conn: Connection) -> None:
        self.connection = conn

    def write(self, data: bytes) -> int:
        if data:
            self.connection.send(h11.Data(data=data))
        return len(data)

    def flush(self) -> None:
        pass

    def json(self, obj: object) -> None:
        """One JSON object and a newline (docker's streamed messages: pull, build, load, stats)."""
        self.write(json.dumps(obj).encode() + b"\r\n")


class Connection:
    """One accepted socket; `serve` answers its requests in turn until it closes."""

    def __init__(self, sock: socket.socket, dispatch: Callable[[Request, Connection], None]) -> None:
        self.sock = sock
        self.dispatch = dispatch
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER)
        self.request: Request | None = None
        self.hijacked = False

    # reading and writing -------------------------------------------------------------------------

    def next_event(self) -> object:
        while True:
            event = self.h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            try:
                data = self.sock.recv(65536)
            except (ConnectionError, OSError):
                data = b""
            self.h11.receive_data(data)

    def send(self, event: object) -> None:
        data = self.h11.send(event)
        if data:
            self.send_raw(data)

    def send_raw(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionError, OSError) as e:
            raise ClientGone() from e

    # responses -----------------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        """True once the response's head is out (an error can then only end the connection)."""
        return self.hijacked or self.h11.our_state is not h11.SEND_RESPONSE

    def respond(self, status: int, body: bytes = b"", content_type: str | None = None,
                headers: list[tuple[str, str]] | None = None) -> None:
        head = common_headers() + list(headers or [])
        if content_type:
            head.append(("Content-Type", content_type))
        if status not in (204, 304):
            head.append(("Content-Length", str(len(body))))
        self.send(h11.Response(status_code=status, headers=head, reason=reason(status)))
        if body and self.request is not None and self.request.method != "HEAD":
            self.send(h11.Data(data=body))
        self.send(h11.EndOfMessage())

    def json(self, obj: object, status: int = 200) -> None:
        self.respond(status, json.dumps(obj).encode() + b"\n", "application/json")

    def error(self, status: int, message: str) -> None:
        """docker's error body, with the exact Content-Type the Go client parses JSON errors under."""
        self.respond(status, json.dumps({"message": message}).encode() + b"\n", "application/json")

    def empty(self, status: int = 204) -> None:
        self.respond(status)

    def stream(self, content_type: str = "application/json", status: int = 200,
               headers: list[tuple[str, str]] | None = None) -> Stream:
        """Send the head now (no Content-Length: chunked) and return the body's writer; call end() after."""
        head = common_headers() + [("Content-Type", content_type)] + list(headers or [])
        self.send(h11.Response(status_code=status, headers=head, reason=reason(status)))
        return Stream(self)

    def end(self) -> None:
        self.send(h11.EndOfMessage())

    def hijack(self, content_type: str) -> tuple[socket.socket, bytes]:
        """Answer `101 UPGRADED` (or, to a request without Upgrade, `200 OK` with a raw stream, as dockerd)
        and hand over the socket with the bytes that came after the request. Output must not follow in
        the same packet as the head: docker-py reads the head through a buffered reader and the frames
        from the socket, so what the buffer took would be lost (docker-api-notes §0.6)."""
        req = self.request
        if req is not None and req.upgrade:
            head = [b"HTTP/1.1 101 UPGRADED", b"Content-Type: " + content_type.encode(),
                    b"Connection: Upgrade", b"Upgrade: tcp"]
            head += [f"{k}: {v}".encode() for k, v in common_headers()]
        else:
            head = [b"HTTP/1.1 200 OK", b"Content-Type: application/vnd.docker.raw-stream"]
        leftover, _ = self.h11.trailing_data
        self.hijacked = True
        self.send_raw(b"\r\n".join(head) + b"\r\n\r\n")
        if req is not None and not req.headers.get("user-agent", "").startswith("Docker-Client/"):
            time.sleep(0.02)
        return self.sock, bytes(leftover)

    # the loop ------------------------------------------------------------------------------------

    def serve(self) -> None:
        try:
            while not self.hijacked:
                try:
                    event = self.next_event()
                except h11.RemoteProtocolError as e:
                    self._bad_request(e)
                    return
                if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                    return
                if not isinstance(event, h11.Request):
                    return
                self.request = Request(self, event)
                try:
                    self.dispatch(self.request, self)
                except h11.RemoteProtocolError as e:
                    self._bad_request(e)
                    return
                if self.hijacked or not self._next_cycle():
                    return
        except ClientGone:
            return
        finally:
            self.close()

    def _next_cycle(self) -> bool:
        """Ready for the next request on this connection; False when it must close (unread body, errors)."""
        if self.h11.their_state is h11.SEND_BODY:  # a body the handler did not want: skip a small one
            skipped = 0
            try:
                for chunk in self.request.chunks():
                    skipped += len(chunk)
                    if skipped > _SKIP_LIMIT:
                        return False
            except (h11.RemoteProtocolError, ClientGone):
                return False
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
            return True
        return False

    def _bad_request(self, e: h11.RemoteProtocolError) -> None:
        """A malformed request: a 400 when nothing of an answer went out yet; the connection closes."""
        if self.h11.our_state in (h11.IDLE, h11.SEND_RESPONSE) and not self.hijacked:
            body = json.dumps({"message": f"bad request: {e}"}).encode() + b"\n"
            head = [b"HTTP/1.1 %d Bad Request" % (e.error_status_hint or 400),
                    b"Content-Type: application/json", b"Content-Length: %d" % len(body), b"Connection: close"]
            try:
                self.send_raw(b"\r\n".join(head) + b"\r\n\r\n" + body)
            except ClientGone:
                pass

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def gone(self) -> bool:
        """True when the client hung up entirely (a half-close, shutdown(SHUT_WR), is not that)."""
        poller = select.poll()
        poller.register(self.sock, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
        for _, events in poller.poll(0):
            if events & (select.POLLHUP | select.POLLERR):
                return True
        return False


def reason(status: int) -> bytes:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


def error_status(e: CorralError) -> int:
    return getattr(e, "http_status", 500) or 500
