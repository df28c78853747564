"""Fuzzing (issue 20, item 10): hypothesis over the parsers that read what a user or a peer hands corral.

Each property is the same: whatever the input, the parser returns or raises corral's own error (one clear
line for the user), never another exception, and within a bounded time. The budget per property is
small so that CI stays quick; a longer run is one environment variable away:

    CORRAL_FUZZ_EXAMPLES=20000 ./run-tests.sh tests/test_fuzz.py -p no:randomly

A crash found here is fixed in the parser and pinned by a regression test named after it (at the end).
"""
from __future__ import annotations

import io
import os
import tarfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corral.errors import CorralError

EXAMPLES = int(os.environ.get("CORRAL_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=2000, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _pieces(*words: str) -> st.SearchStrategy[str]:
    """Text made of the grammar's own tokens mixed with arbitrary characters: random text alone
    rarely gets past a parser's first check."""
    token = st.one_of(st.sampled_from(words), st.text(max_size=6))
    return st.lists(token, max_size=24).map("".join)


# ------------------------------------------------------------------------------ Dockerfile parser

DOCKERFILE_WORDS = (
    "FROM ", "RUN ", "CMD ", "COPY ", "ADD ", "ENV ", "ARG ", "LABEL ", "EXPOSE ", "VOLUME ", "USER ",
    "WORKDIR ", "ENTRYPOINT ", "SHELL ", "HEALTHCHECK ", "ONBUILD ", "STOPSIGNAL ", "MAINTAINER ",
    " AS ", "--from=", "--chown=", "--mount=type=cache,target=", "--interval=", "--platform=",
    "# escape=`\n", "# syntax=x\n", "\\\n", "`\n", "\n", " ", "\t", "=", "\"", "'", "[", "]", ",",
    "[\"sh\", \"-c\"]", "<<EOF\n", "<<-EOF\n", "EOF\n", "$", "${A:-b}", "${", "}", "NONE", "CMD", "80/tcp",
    "busybox", "@sha256:", "a" * 64, "/", "..", "*",
)


INSTRUCTIONS = ("RUN", "CMD", "COPY", "ADD", "ENV", "ARG", "LABEL", "EXPOSE", "VOLUME", "USER", "WORKDIR",
                "ENTRYPOINT", "SHELL", "HEALTHCHECK", "ONBUILD", "STOPSIGNAL", "FROM", "run", "Bogus")
# A first stage, then instructions with arbitrary arguments: most inputs then reach past "FROM first".
DOCKERFILES = st.tuples(
    st.sampled_from(["", "# escape=`\n", "# syntax=docker/dockerfile:1\n", "ARG B=busybox\n"]),
    st.sampled_from(["FROM busybox\n", "FROM busybox AS base\n", "FROM ${B}\n", "FROM --platform=x busybox\n"]),
    st.lists(st.tuples(st.sampled_from(INSTRUCTIONS), _pieces(*DOCKERFILE_WORDS)), max_size=8),
).map(lambda t: t[0] + t[1] + "".join(f"{cmd} {args}\n" for cmd, args in t[2]))


@pytest.mark.unit
@FUZZ
@given(st.one_of(DOCKERFILES, _pieces(*DOCKERFILE_WORDS)))
def test_the_dockerfile_parser_returns_or_says_what_is_wrong(text):
    from corral.builder.parser import parse

    try:
        parse(text)
    except CorralError as e:
        assert str(e).strip()


# ------------------------------------------------------------------------------ image references

REFERENCE_WORDS = ("localhost:5000/", "docker.io/", "library/", "busybox", ":", "@", "sha256:", "a" * 64,
                   "/", ".", "_", "__", "-", "latest", "Upper", "..", "//", "1.2")


@pytest.mark.unit
@FUZZ
@given(_pieces(*REFERENCE_WORDS))
def test_a_reference_normalizes_or_is_refused_in_words(text):
    from corral.image import reference

    reference.normalize(text)
    try:
        name = reference.validate_tag(text)
    except CorralError as e:
        assert str(e).strip()
    else:  # a name corral accepted is accepted again (not always as is: docker.io/docker.io/x → docker.io/x → x,
        reference.validate_tag(name)  # as docker's own familiar names re-parse; found by this test)


# ------------------------------------------------------------------------------ Go templates

TEMPLATE_WORDS = (
    "{{", "}}", "{{-", "-}}", " ", ".", ".ID", ".Names", ".Labels", ".Nested.Inner", "$", "$x", ":=", "=",
    "|", "(", ")", "\"", "`", "'", "json", "range", "end", "if", "else", "with", "define", "template",
    "block", "index", "len", "printf", "%s", "%d", "println", "upper", "lower", "title", "split", "join",
    "table", "\\t", "eq", "ne", "lt", "and", "or", "not", "nil", "true", "1", "-2.5e3", "0x1F", "/*", "*/",
)
TEMPLATE_DATA = {
    "ID": "abc", "Names": ["n1", "n2"], "Labels": {"a": "1", "b": ""}, "Nested": {"Inner": [1, 2.5, None]},
    "Count": 3, "Flag": True,
}


@pytest.mark.unit
@FUZZ
@given(_pieces(*TEMPLATE_WORDS))
def test_a_go_template_renders_or_reports_a_template_error(text):
    from corral.cli import template

    try:
        out = template.render(text, TEMPLATE_DATA)
    except CorralError as e:
        assert str(e).strip()
    else:
        assert isinstance(out, str)


# ------------------------------------------------------------------------------ flag values and small grammars

def _user_input_parsers():
    """Every parser of a flag value or Dockerfile word a user types, with tokens of its grammar."""
    from corral import timestamps
    from corral.api import filters, mounts
    from corral.builder import shellwords
    from corral.network import ipam, ports
    from corral.runtime import options

    env = {"A": "1", "B": "", "PATH": "/bin"}
    return {
        "expand": (lambda t: shellwords.expand(t, env), ("$", "${", "}", "A", ":-", ":+", "\\", "'", '"', "B", "x")),
        "expand_words": (lambda t: shellwords.expand_words(t, env), ("$A", "${B:-z}", " ", "'", '"', "\\", "a")),
        "-v": (mounts.parse_volume, ("/a", "/b", ":", "ro", "rw", "z", "Z", "nocopy", "name", ",", "rshared", ".")),
        "--mount": (mounts.parse_mount, ("type=", "bind", "volume", "tmpfs", ",", "source=", "target=", "/a",
                                         "readonly", "bind-propagation=", "tmpfs-size=", "volume-opt=", "=", "\"")),
        "--filter": (lambda t: filters.parse([t]), ("=", "label", "name", "a", "!=", "status", "running")),
        "until": (filters.timestamp, ("2026-12-05", "T", "05:20:00", "Z", "+01:00", ".5", "10m", "1h", "-", "1e3")),
        "--since": (timestamps.docker_time, ("2026-12-05", "T", "05:20:00", "Z", "+01:00", "10m", "1.5", "-")),
        "--ulimit": (options.parse_ulimit, ("nofile", "nproc", "=", ":", "1024", "-1", "x", "unlimited")),
        "--device": (options.parse_device, ("/dev/null", ":", "/dev/x", "rwm", "r", "q")),
        "--expose": (options.expose_ports, ("80", "-", "90", "/tcp", "/udp", "/x", "65536", "0")),
        "--cpuset-cpus": (lambda t: options.check_cpuset(t, "cpus"), ("0", ",", "-", "1", "3", "99999999999", " ")),
        "--memory": (options.parse_bytes, ("1", "0", "k", "m", "g", "b", "kb", ".", "-", "1e9")),
        "-p": (ports.parse, ("127.0.0.1", ":", "80", "-", "81", "/tcp", "/udp", "::1", "[", "]", "0", "65536")),
        "--subnet": (ipam.parse_subnet, ("10.", "0", ".", "/", "24", "33", "256", "::", "a")),
    }


@pytest.mark.unit
@pytest.mark.parametrize("flag", sorted(_user_input_parsers()))
def test_a_flag_value_is_parsed_or_refused_in_words(flag):
    parse, words = _user_input_parsers()[flag]

    @FUZZ
    @given(_pieces(*words))
    def check(text):
        try:
            parse(text)
        except CorralError as e:
            assert str(e).strip()

    check()


# ------------------------------------------------------------------------------ the monitor's wire


@pytest.mark.unit
@FUZZ
@given(st.lists(st.binary(max_size=64), max_size=12))
def test_the_wire_reader_splits_any_chunks_into_frames_or_refuses_an_oversized_one(chunks):
    from corral.monitor import wire

    reader = wire.Reader()
    frames = []
    try:
        for chunk in chunks:
            frames += reader.feed(chunk)
    except ValueError as e:
        assert "larger than the protocol allows" in str(e)
        return
    data = b"".join(chunks)
    rebuilt = b"".join(wire.frame(kind, payload) for kind, payload in frames)
    assert data.startswith(rebuilt) and data[len(rebuilt):] == bytes(reader.buffer)


# ------------------------------------------------------------------------------ tar extraction

_NAMES = st.sampled_from(["a", "b", "a/b", "a/b/c", "./a", "../x", "/abs", "a/../../x", ".", "", "a/", "c/d",
                          ".wh.a", "a/.wh..wh..opq", "link", "link/x", "dev", "a" * 120 + "/long", "n" * 300])
_ENTRY = st.tuples(
    st.sampled_from([tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE,
                     tarfile.FIFOTYPE]),
    _NAMES,
    st.sampled_from(["", "a", "/", "/etc", "..", "../..", "a/b", "link", "/tmp"]),
    st.integers(min_value=0, max_value=0o7777),
    st.binary(max_size=32),
)


def _archive(entries: list) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for kind, name, target, mode, data in entries:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.linkname = kind, mode, target
            if kind == tarfile.REGTYPE:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    return buf.getvalue()


def _tree(path: str) -> set[str]:
    return {os.path.join(d, n) for d, dirs, files in os.walk(path) for n in dirs + files}


@FUZZ
@given(st.lists(_ENTRY, max_size=10), st.binary(max_size=16))
def test_a_hostile_layer_stays_inside_its_directory_or_is_refused(tmp_path_factory, entries, tail):
    from corral.image.extract import extract_layer, extract_tree

    base = tmp_path_factory.mktemp("fuzz")
    outside = base / "outside"
    outside.mkdir()
    (outside / "keep").write_text("host file")
    for extract in (extract_layer, extract_tree):
        dest = base / extract.__name__
        dest.mkdir()
        data = _archive(entries) + tail
        before = _tree(str(outside))
        try:
            extract(io.BytesIO(data), str(dest))
        except CorralError as e:
            assert str(e).strip()
        assert _tree(str(outside)) == before and (outside / "keep").read_text() == "host file"
        for d, dirs, files in os.walk(dest):
            for n in dirs + files:
                p = os.path.join(d, n)
                if os.path.islink(p):
                    continue  # a link's target is the container's business; nothing is written through it
                assert os.path.realpath(p).startswith(str(dest) + os.sep)


# ------------------------------------------------------------------------------ regressions found by fuzzing


def _layer(*members: tarfile.TarInfo) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for m in members:
            tf.addfile(m)
    buf.seek(0)
    return buf


def test_fuzz_found_a_symlink_with_an_empty_target_raised_file_not_found(tmp_path):
    from corral.image.extract import UnsafeArchive, extract_layer

    link = tarfile.TarInfo("a")
    link.type, link.linkname = tarfile.SYMTYPE, ""
    with pytest.raises(UnsafeArchive, match="symbolic link to ''"):
        extract_layer(_layer(link), str(tmp_path))


def test_fuzz_found_a_name_longer_than_the_kernel_takes_raised_os_error(tmp_path):
    from corral.image.extract import UnsafeArchive, extract_layer

    with pytest.raises(UnsafeArchive, match="cannot be created: File name too long"):
        extract_layer(_layer(tarfile.TarInfo("n" * 300)), str(tmp_path))
    assert os.listdir(tmp_path) == []


@pytest.mark.unit
@pytest.mark.parametrize("parse, text, said", [
    ("ports", "\0::80", "is not an IPv4 address"),  # inet_aton raised ValueError on the NUL byte
    ("expose", "\u00b9", "invalid range format for --expose"),  # "¹".isdigit() is True, int("¹") fails
    ("bytes", "1e911", "invalid size"),  # float("1e911") is infinite: int() raised OverflowError
    ("bytes", "nan", "invalid size"),
    ("cpuset", "0-99999999999", "Invalid value 0-99999999999 for cpuset cpus"),  # was expanded into a set
])
def test_fuzz_found_flag_values_that_raised_other_errors(parse, text, said):
    from corral.errors import InvalidArgument
    from corral.network import ports
    from corral.runtime import options

    call = {"ports": ports.parse, "expose": options.expose_ports, "bytes": options.parse_bytes,
            "cpuset": lambda t: options.check_cpuset(t, "cpus")}[parse]
    with pytest.raises(InvalidArgument, match=said):
        call(text)
