"""The attach protocol's frames, the detach keys, and image references: pure logic, no monitor, no store."""
from __future__ import annotations

import _socket
import random

import pytest

from corral.errors import InvalidArgument
from corral.image import reference
from corral.monitor import wire
from corral.monitor.client import Session, parse_detach_keys

pytestmark = pytest.mark.unit

FRAMES = [(wire.STDOUT, b"hello\n"), (wire.STDERR, b""), (wire.RESIZE, b"24 80"),
          (wire.STDOUT, bytes(range(256)) * 300), (wire.EXIT, b"0")]
STREAM = b"".join(wire.frame(kind, payload) for kind, payload in FRAMES)


# ------------------------------------------------------------------------------------- frames


def test_a_frame_is_a_type_byte_a_big_endian_length_and_the_payload():
    assert wire.frame(wire.STDERR, b"abc") == b"\x02\x00\x00\x00\x03abc"
    assert wire.frame(wire.STDIN_EOF) == b"\x0b\x00\x00\x00\x00"
    assert wire.HEADER_SIZE == 5


def test_the_reader_returns_whole_frames_whatever_the_chunks():
    rng = random.Random(7)
    for _ in range(20):
        reader, got, at = wire.Reader(), [], 0
        while at < len(STREAM):
            step = rng.choice([1, 2, 4, 5, 6, 4096, 100000])
            got += reader.feed(STREAM[at:at + step])
            at += step
        assert got == FRAMES and reader.buffer == bytearray()


def test_byte_by_byte_and_all_at_once():
    reader = wire.Reader()
    assert [f for i in range(len(STREAM)) for f in reader.feed(STREAM[i:i + 1])] == FRAMES
    assert wire.Reader().feed(STREAM) == FRAMES


def test_a_partial_frame_waits_for_the_rest():
    reader = wire.Reader()
    data = wire.frame(wire.STDOUT, b"0123456789")
    assert reader.feed(data[:3]) == [] and reader.feed(data[3:9]) == []
    assert reader.feed(data[9:] + data[:1]) == [(wire.STDOUT, b"0123456789")]
    assert reader.buffer == bytearray(data[:1])


def test_a_frame_longer_than_the_protocol_allows_is_an_error_not_an_allocation():
    reader = wire.Reader()
    assert reader.feed(wire.frame(wire.STDOUT, b"x" * wire.MAX_PAYLOAD)) == [(wire.STDOUT, b"x" * wire.MAX_PAYLOAD)]
    with pytest.raises(ValueError, match="larger than the protocol allows"):
        wire.Reader().feed(b"\x01" + (wire.MAX_PAYLOAD + 1).to_bytes(4, "big"))


# ------------------------------------------------------------------------------------- detach keys


@pytest.mark.parametrize("spec, keys", [
    ("ctrl-p,ctrl-q", b"\x10\x11"), ("ctrl-P,Ctrl-Q", b"\x10\x11"), ("a", b"a"), ("ctrl-a,x", b"\x01x"),
    ("ctrl-@", b"\x00"), ("ctrl-[", b"\x1b"), ("ctrl-\\", b"\x1c"), ("ctrl-]", b"\x1d"), ("ctrl-^", b"\x1e"),
    ("ctrl-_", b"\x1f"), ("ctrl-z, ctrl-z", b"\x1a\x1a"),
])
def test_detach_keys_as_docker_reads_them(spec, keys):
    assert parse_detach_keys(spec) == keys


@pytest.mark.parametrize("spec", ["", "ctrl-", "ctrl-1", "ctrl-pp", "abc", "ctrl-p,,ctrl-q", "shift-a"])
def test_bad_detach_keys(spec):
    with pytest.raises(ValueError):
        parse_detach_keys(spec)


@pytest.fixture
def session():
    """A terminal session with the default keys, over a socket pair whose other end is returned."""
    ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
    s = Session(ours, b"", tty=True, detach_keys=b"\x10\x11")
    yield s, theirs
    ours.close()
    theirs.close()


def sent(s: Session) -> list[tuple[int, bytes]]:
    return wire.Reader().feed(bytes(s.outbound))


def test_typed_keys_go_in_as_stdin(session):
    s, _ = session
    assert s._keys(b"ls\r") is False
    assert sent(s) == [(wire.STDIN, b"ls\r")]


def test_a_prefix_of_the_detach_keys_is_held_then_sent_when_the_rest_does_not_follow(session):
    s, _ = session
    assert s._keys(b"a\x10") is False
    assert sent(s) == [(wire.STDIN, b"a")]
    assert s._keys(b"b") is False
    assert sent(s) == [(wire.STDIN, b"a"), (wire.STDIN, b"\x10b")]


def test_the_first_key_repeated_still_starts_the_sequence(session):
    s, _ = session
    assert s._keys(b"\x10") is False
    assert s._keys(b"\x10") is False
    assert sent(s) == [(wire.STDIN, b"\x10")]  # the first one goes in; the second may start the sequence
    assert s._keys(b"\x11") is True


def test_the_detach_keys_across_reads_send_detach_and_not_the_keys(session):
    s, theirs = session
    s._keys(b"x")
    assert s._keys(b"\x10") is False
    assert s._keys(b"\x11") is True
    theirs.settimeout(5)
    assert wire.Reader().feed(theirs.recv(4096)) == [(wire.STDIN, b"x"), (wire.DETACH, b"")]


def test_piped_input_is_never_taken_for_detach_keys():
    """Binary stdin (no terminal) must pass unchanged, whatever bytes it holds."""
    ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        s = Session(ours, b"", tty=False, detach_keys=b"\x10\x11")
        assert s._keys(b"\x10\x11") is False
        assert sent(s) == [(wire.STDIN, b"\x10\x11")]
    finally:
        ours.close()
        theirs.close()


def test_stdin_data_is_sent_in_frames_then_its_end():
    ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        s = Session(ours, b"", tty=False, stdin_data=b"y" * 70000)
        assert sent(s) == [(wire.STDIN, b"y" * 65536), (wire.STDIN, b"y" * 4464), (wire.STDIN_EOF, b"")]
    finally:
        ours.close()
        theirs.close()


# ------------------------------------------------------------------------------------- references


@pytest.mark.parametrize("ref, familiar", [
    ("busybox", "busybox:latest"), ("busybox:1", "busybox:1"), ("docker.io/library/busybox", "busybox:latest"),
    ("index.docker.io/library/busybox:2", "busybox:2"), ("docker.io/me/app", "me/app:latest"),
    ("localhost:5000/app", "localhost:5000/app:latest"), ("localhost:5000/app:v1", "localhost:5000/app:v1"),
    ("busybox@sha256:" + "a" * 64, "busybox@sha256:" + "a" * 64), ("quay.io/x/y", "quay.io/x/y:latest"),
])
def test_references_in_their_familiar_form(ref, familiar):
    assert reference.normalize(ref) == familiar


def test_split_into_repository_and_tag():
    assert reference.split("busybox") == ("busybox", "latest")
    assert reference.split("localhost:5000/app") == ("localhost:5000/app", "latest")
    assert reference.split("localhost:5000/app:v1") == ("localhost:5000/app", "v1")


@pytest.mark.parametrize("ref", ["app", "my-app_2.x:1.0", "registry.example.com:443/team/app:v1.2-rc_3",
                                 "a__b", "a" * 255, "x:" + "t" * 128])
def test_valid_new_names(ref):
    assert reference.validate_tag(ref) == reference.normalize(ref)


@pytest.mark.parametrize("ref, message", [
    ("App", "lowercase"), ("app/", "lowercase"), ("-app", "lowercase"), ("a" * 256, "at most 255"),
    ("app:-x", "a tag is up to 128"), ("app:" + "t" * 129, "a tag is up to 128"), ("app:t!", "a tag is up to 128"),
    ("app@sha256:" + "a" * 64, "a digest cannot be used as a new name"),
])
def test_invalid_new_names(ref, message):
    with pytest.raises(InvalidArgument, match=message):
        reference.validate_tag(ref)
