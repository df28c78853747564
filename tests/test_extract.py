"""extract_layer on the real filesystem: the happy path, overlay whiteouts, and one test per hostile archive.

Runs as root (chown, mknod, trusted.* xattrs). Every hostile test checks nothing appeared outside dest.
"""
from __future__ import annotations

import io
import os
import stat
import tarfile

import pytest

from corral.errors import InvalidArgument
from corral.image.extract import UnsafeArchive, extract_layer

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="requires root (chown, mknod, trusted xattrs)")

MTIME = 1_600_000_000


def entry(name, kind=tarfile.REGTYPE, data=b"", *, mode=0o644, uid=0, gid=0, link="", mtime=MTIME, xattrs=None, dev=(0, 0)):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.uid, info.gid, info.mtime, info.linkname = kind, mode, uid, gid, mtime, link
    info.devmajor, info.devminor = dev
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    if xattrs:
        info.pax_headers = {f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape") for k, v in xattrs.items()}
    return info, data


def make_tar(*entries, gz=False) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w", format=tarfile.PAX_FORMAT) as tf:
        for info, data in entries:
            tf.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


@pytest.fixture
def box(tmp_path):
    """dest, an empty sentinel dir next to it, and a check that only those two exist and the sentinel stays empty."""
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()

    def contained():
        assert sorted(p.name for p in tmp_path.iterdir()) == ["dest", "outside"]
        assert list(outside.iterdir()) == []

    return dest, outside, contained


def run(data: bytes, dest, **kw) -> int:
    return extract_layer(io.BytesIO(data), str(dest), **kw)


class Pipe:
    """A read()-only, non-seekable stream like an HTTP body."""

    def __init__(self, data):
        self._f = io.BytesIO(data)

    def read(self, n=-1):
        return self._f.read(min(n, 7) if n >= 0 else n)  # short reads on purpose


# ---------------------------------------------------------------- happy path

HAPPY = [
    entry("./", tarfile.DIRTYPE, mode=0o755),
    entry("./usr/", tarfile.DIRTYPE, mode=0o755, mtime=MTIME + 1),
    entry("./usr/bin/", tarfile.DIRTYPE, mode=0o750, uid=7, gid=8, mtime=MTIME + 2),
    entry("./usr/bin/su", data=b"#!setuid\n", mode=0o4755, uid=0, gid=0),
    entry("./usr/bin/sg", data=b"#!setgid\n", mode=0o2711, uid=1234, gid=5678, mtime=MTIME + 3),
    entry("./usr/bin/ln-to-su", tarfile.LNKTYPE, link="./usr/bin/su"),
    entry("./usr/bin/ln-abs", tarfile.LNKTYPE, link="/usr/bin/sg"),
    entry("./bin", tarfile.SYMTYPE, link="usr/bin", uid=3, gid=4, mtime=MTIME + 4),
    entry("./etc/abs-link", tarfile.SYMTYPE, link="/etc/hostname"),
    entry("./dangling", tarfile.SYMTYPE, link="../../../nowhere"),
    entry("./data", data=b"x" * 3_000_000, mode=0o600,
          xattrs={"user.comment": b"hello", "user.bin": b"\x00\xff\x01", "trusted.note": b"t"}),
    entry("./fifo", tarfile.FIFOTYPE, mode=0o640),
]


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("how", ["fileobj", "path", "pipe"])
def test_happy_path(box, tmp_path, gz, how):
    dest, outside, contained = box
    data = make_tar(*HAPPY, gz=gz)
    if how == "path":
        layer = outside / "layer.tar"
        layer.write_bytes(data)
        written = extract_layer(str(layer), str(dest))
        layer.unlink()
    else:
        written = extract_layer(io.BytesIO(data) if how == "fileobj" else Pipe(data), str(dest))
    assert written == len(b"#!setuid\n") + len(b"#!setgid\n") + 3_000_000

    su, sg = os.lstat(dest / "usr/bin/su"), os.lstat(dest / "usr/bin/sg")
    assert stat.S_IMODE(su.st_mode) == 0o4755 and stat.S_ISREG(su.st_mode)
    assert stat.S_IMODE(sg.st_mode) == 0o2711 and (sg.st_uid, sg.st_gid) == (1234, 5678)
    assert sg.st_mtime == MTIME + 3 and (dest / "usr/bin/sg").read_bytes() == b"#!setgid\n"
    assert os.lstat(dest / "usr/bin/ln-to-su").st_ino == su.st_ino and su.st_nlink == 2
    assert os.lstat(dest / "usr/bin/ln-abs").st_ino == sg.st_ino

    bindir = os.lstat(dest / "usr/bin")
    assert stat.S_IMODE(bindir.st_mode) == 0o750 and (bindir.st_uid, bindir.st_gid) == (7, 8)
    assert bindir.st_mtime == MTIME + 2 and os.lstat(dest / "usr").st_mtime == MTIME + 1

    link = os.lstat(dest / "bin")
    assert stat.S_ISLNK(link.st_mode) and os.readlink(dest / "bin") == "usr/bin"
    assert (link.st_uid, link.st_gid, link.st_mtime) == (3, 4, MTIME + 4)
    assert os.readlink(dest / "etc/abs-link") == "/etc/hostname"
    assert os.readlink(dest / "dangling") == "../../../nowhere"
    assert stat.S_IMODE(os.lstat(dest / "etc").st_mode) == 0o755  # implicit parent

    assert os.getxattr(dest / "data", "user.comment") == b"hello"
    assert os.getxattr(dest / "data", "user.bin") == b"\x00\xff\x01"
    assert os.getxattr(dest / "data", "trusted.note") == b"t"
    assert stat.S_IMODE(os.lstat(dest / "data").st_mode) == 0o600
    fifo = os.lstat(dest / "fifo")
    assert stat.S_ISFIFO(fifo.st_mode) and stat.S_IMODE(fifo.st_mode) == 0o640
    contained()


def test_empty_archive(box):
    dest, _, contained = box
    assert run(make_tar(), dest) == 0
    assert list(dest.iterdir()) == []
    contained()


# ---------------------------------------------------------------- whiteouts

def test_whiteout_and_opaque(box):
    dest, _, contained = box
    (dest / "etc").mkdir()
    (dest / "etc/old").write_text("lower")
    (dest / "olddir").mkdir()
    (dest / "olddir/f").write_text("x")
    run(make_tar(
        entry("etc/.wh.old"),
        entry(".wh.olddir"),
        entry(".wh.never-existed"),
        entry("var/cache/.wh..wh..opq"),
        entry("var/cache/kept", data=b"k"),
        entry("opt/", tarfile.DIRTYPE, mode=0o711),
        entry("opt/.wh..wh..opq"),
    ), dest)
    for name in ("etc/old", "olddir", "never-existed"):
        st = os.lstat(dest / name)
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0 and stat.S_IMODE(st.st_mode) == 0
    assert not (dest / "etc/.wh.old").exists()
    assert os.getxattr(dest / "var/cache", "trusted.overlay.opaque") == b"y"
    assert os.getxattr(dest / "opt", "trusted.overlay.opaque") == b"y"
    assert stat.S_IMODE(os.lstat(dest / "opt").st_mode) == 0o711
    assert (dest / "var/cache/kept").read_bytes() == b"k"
    assert not (dest / "var/cache/.wh..wh..opq").exists()
    contained()


def test_aufs_metadata_skipped(box):
    dest, _, contained = box
    skipped = []
    run(make_tar(entry(".wh..wh.plnk/", tarfile.DIRTYPE), entry(".wh..wh.plnk/12.34", data=b"x"),
                 entry("a/.wh..wh.aufs", data=b"")), dest, on_skip=lambda n, r: skipped.append(n))
    assert skipped == [".wh..wh.plnk", ".wh..wh.plnk/12.34", "a/.wh..wh.aufs"]
    assert os.listdir(dest) == []
    contained()


def test_whiteout_of_dotdot_rejected(box):
    dest, _, contained = box
    with pytest.raises(UnsafeArchive, match="whiteout"):
        run(make_tar(entry("a/.wh..."), entry("a/.wh..")), dest)
    contained()


def test_overlay_xattrs_from_headers_are_dropped(box):
    dest, _, contained = box
    skipped = []
    run(make_tar(entry("d/", tarfile.DIRTYPE, xattrs={"trusted.overlay.redirect": b"/etc"})),
        dest, on_skip=lambda *a: skipped.append(a))
    assert os.listxattr(dest / "d") == []
    assert skipped == [("d", "overlay xattr trusted.overlay.redirect not allowed in a layer")]
    contained()


# ---------------------------------------------------------------- hostile archives

@pytest.mark.parametrize("name", ["../escape", "a/../../escape", "a/b/../../../escape", ".."])
def test_dotdot_entry(box, name):
    dest, _, contained = box
    with pytest.raises(UnsafeArchive, match=r"'\.\.'") as exc:
        run(make_tar(entry(name, data=b"evil")), dest)
    assert name in str(exc.value)
    assert isinstance(exc.value, InvalidArgument)
    contained()


def test_absolute_entry(box, tmp_path):
    dest, _, contained = box
    target = tmp_path / "abs-target"
    with pytest.raises(UnsafeArchive, match="absolute"):
        run(make_tar(entry(str(target), data=b"evil")), dest)
    assert not target.exists()
    contained()


def test_symlink_outside_then_file_through_it(box, tmp_path):
    dest, outside, contained = box
    x = tmp_path / "x"
    for target in (x, outside):
        with pytest.raises(UnsafeArchive, match="escapes through symlink"):
            run(make_tar(entry("evil", tarfile.SYMTYPE, link=str(target)), entry("evil/file", data=b"pwned")), dest)
        assert os.readlink(dest / "evil") == str(target)  # the symlink itself is fine
        os.unlink(dest / "evil")
    assert not x.exists()
    contained()


def test_symlink_to_dotdot_then_file_through_it(box, tmp_path):
    dest, _, contained = box
    with pytest.raises(UnsafeArchive, match="escapes through symlink"):
        run(make_tar(entry("up", tarfile.SYMTYPE, link=".."), entry("up/file", data=b"pwned")), dest)
    with pytest.raises(UnsafeArchive, match="escapes through symlink"):
        run(make_tar(entry("a/b/up", tarfile.SYMTYPE, link="../../.."), entry("a/b/up/outside/f", data=b"x")), dest)
    contained()


def test_directory_replaced_by_symlink_then_write_through(box):
    dest, outside, contained = box
    with pytest.raises(UnsafeArchive, match="escapes through symlink"):
        run(make_tar(
            entry("d/", tarfile.DIRTYPE),
            entry("d/ok", data=b"1"),
            entry("d", tarfile.SYMTYPE, link=str(outside)),
            entry("d/evil", data=b"pwned"),
        ), dest)
    contained()


def test_hardlink_to_etc_passwd(box):
    dest, _, contained = box
    before = os.lstat("/etc/passwd").st_nlink
    with pytest.raises(UnsafeArchive, match="hard-links"):
        run(make_tar(entry("passwd", tarfile.LNKTYPE, link="/etc/passwd")), dest)
    assert os.lstat("/etc/passwd").st_nlink == before
    assert not (dest / "passwd").exists()
    contained()


def test_hardlink_to_dotdot(box):
    dest, outside, contained = box
    with pytest.raises(UnsafeArchive, match=r"'\.\.'"):
        run(make_tar(entry("h", tarfile.LNKTYPE, link="../outside/x")), dest)
    with pytest.raises(UnsafeArchive, match=r"'\.\.'"):
        run(make_tar(entry("h", tarfile.LNKTYPE, link="../x")), dest)
    assert not (dest / "h").exists()
    contained()


def test_hardlink_through_symlinked_parent(box, tmp_path):
    dest, outside, contained = box
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "secret").write_text("s")
    with pytest.raises(UnsafeArchive, match="escapes through symlink"):
        run(make_tar(entry("lnk", tarfile.SYMTYPE, link=str(victim)), entry("h", tarfile.LNKTYPE, link="lnk/secret")), dest)
    assert os.lstat(victim / "secret").st_nlink == 1 and not (dest / "h").exists()
    (victim / "secret").unlink()
    victim.rmdir()
    contained()


@pytest.mark.parametrize("link", ["missing", "dir", "sym", "hl"])
def test_hardlink_to_non_file(box, link):
    dest, _, contained = box
    with pytest.raises(UnsafeArchive, match="hard-links"):
        run(make_tar(entry("dir/", tarfile.DIRTYPE), entry("sym", tarfile.SYMTYPE, link="/etc/passwd"),
                     entry("hl", tarfile.LNKTYPE, link=link)), dest)
    contained()


def test_devices_skipped_by_default(box):
    dest, _, contained = box
    skipped = []
    run(make_tar(entry("dev/null", tarfile.CHRTYPE, mode=0o666, dev=(1, 3)),
                 entry("dev/sda", tarfile.BLKTYPE, mode=0o660, dev=(8, 0)),
                 entry("dev/fifo", tarfile.FIFOTYPE)),
        dest, on_skip=lambda *a: skipped.append(a))
    assert skipped == [("dev/null", "device node"), ("dev/sda", "device node")]
    assert sorted(os.listdir(dest / "dev")) == ["fifo"]
    run(make_tar(entry("dev/zero", tarfile.CHRTYPE, dev=(1, 5))), dest)  # no callback: silently skipped
    assert sorted(os.listdir(dest / "dev")) == ["fifo"]
    contained()


def test_devices_created_when_allowed(box):
    dest, _, contained = box
    run(make_tar(entry("dev/null", tarfile.CHRTYPE, mode=0o666, dev=(1, 3)),
                 entry("dev/sda", tarfile.BLKTYPE, mode=0o660, uid=0, gid=6, dev=(8, 0))),
        dest, allow_devices=True)
    null, sda = os.lstat(dest / "dev/null"), os.lstat(dest / "dev/sda")
    assert stat.S_ISCHR(null.st_mode) and null.st_rdev == os.makedev(1, 3) and stat.S_IMODE(null.st_mode) == 0o666
    assert stat.S_ISBLK(sda.st_mode) and sda.st_rdev == os.makedev(8, 0) and sda.st_gid == 6
    contained()


LAYER = [entry("a/", tarfile.DIRTYPE), entry("a/one", data=os.urandom(200_000)), entry("a/two", data=b"2" * 5000)]


def test_truncated_gzip(box):
    dest, _, contained = box
    data = make_tar(*LAYER, gz=True)
    for cut in (len(data) // 2, len(data) - 4, 5):
        with pytest.raises(UnsafeArchive, match="truncated or corrupt"):
            run(data[:cut], dest)
    contained()


def test_corrupt_gzip(box):
    dest, _, contained = box
    data = bytearray(make_tar(*LAYER, gz=True))
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(UnsafeArchive, match="truncated or corrupt"):
        run(bytes(data), dest)
    trailer = bytearray(make_tar(*LAYER, gz=True))
    trailer[-8] ^= 0xFF  # CRC32 only: every tar byte is intact
    with pytest.raises(UnsafeArchive, match="truncated or corrupt"):
        run(bytes(trailer), dest)
    with pytest.raises(UnsafeArchive, match="truncated or corrupt"):
        run(b"\x1f\x8b" + b"garbage" * 10, dest)
    contained()


@pytest.mark.parametrize("cut", [200, 512 + 100, 1024 + 1000, 1024 + 200_000 + 100, 1024 + 200_192 + 300])
def test_truncated_tar(box, cut):
    """Cuts in the first header, a later header, file data, the padding after it, and the last header."""
    dest, _, contained = box
    data = make_tar(*[(i, d) for i, d in LAYER])
    with pytest.raises(UnsafeArchive, match="truncated or corrupt"):
        run(data[:cut], dest)
    contained()


def test_garbled_header_mid_archive(box):
    dest, _, contained = box
    data = bytearray(make_tar(*LAYER))
    second = data.index(b"a/two") // 512 * 512
    data[second:second + 512] = b"\x42" * 512
    with pytest.raises(UnsafeArchive, match="truncated or corrupt"):
        run(bytes(data), dest)
    contained()


def test_absurd_size(box):
    dest, _, contained = box
    big = tarfile.TarInfo("big")
    big.size = 1 << 40
    data = big.tobuf(tarfile.PAX_FORMAT) + b"\0" * 4096
    with pytest.raises(UnsafeArchive, match="absurd size"):
        run(data, dest)
    assert not (dest / "big").exists()
    gnu = tarfile.TarInfo("big")
    gnu.size = 1 << 37  # base-256 encoded size field
    with pytest.raises(UnsafeArchive, match="absurd size"):
        run(gnu.tobuf(tarfile.GNU_FORMAT) + b"\0" * 4096, dest)
    contained()


def test_duplicate_entries_later_wins(box):
    dest, _, contained = box
    run(make_tar(
        entry("f", data=b"first", mode=0o600),
        entry("f", data=b"second", mode=0o644),
        entry("d/", tarfile.DIRTYPE, mode=0o700),
        entry("d/inner", data=b"x"),
        entry("d/", tarfile.DIRTYPE, mode=0o755, mtime=MTIME + 9),  # dir over dir keeps contents
        entry("gone/", tarfile.DIRTYPE),
        entry("gone/inner", data=b"x"),
        entry("gone", data=b"now a file"),  # dir replaced by a file: removed recursively
        entry("s", tarfile.SYMTYPE, link="f"),
        entry("s", data=b"not through the link"),  # never written through the old symlink
        entry("wasfile", data=b"x"),
        entry("wasfile/", tarfile.DIRTYPE),
    ), dest)
    assert (dest / "f").read_bytes() == b"second" and stat.S_IMODE(os.lstat(dest / "f").st_mode) == 0o644
    assert (dest / "d/inner").read_bytes() == b"x"
    d = os.lstat(dest / "d")
    assert stat.S_IMODE(d.st_mode) == 0o755 and d.st_mtime == MTIME + 9
    assert (dest / "gone").read_bytes() == b"now a file"
    assert not os.path.islink(dest / "s") and (dest / "s").read_bytes() == b"not through the link"
    assert (dest / "f").read_bytes() == b"second"
    assert os.path.isdir(dest / "wasfile") and not os.path.islink(dest / "wasfile")
    contained()


def test_file_under_regular_file_rejected(box):
    dest, _, contained = box
    with pytest.raises(UnsafeArchive, match="not a directory"):
        run(make_tar(entry("f", data=b"x"), entry("f/g", data=b"y")), dest)
    contained()


def test_root_replaced_by_non_directory_rejected(box):
    dest, _, contained = box
    with pytest.raises(UnsafeArchive, match="layer root"):
        run(make_tar(entry("./", tarfile.SYMTYPE, link="/")), dest)
    assert os.path.isdir(dest) and not os.path.islink(dest)
    contained()


def test_unknown_entry_type(box):
    dest, _, contained = box
    with pytest.raises(UnsafeArchive, match="unsupported tar type"):
        run(make_tar(entry("vol", b"V")), dest)
    contained()


def test_zstd(box):
    dest, _, contained = box
    try:
        import zstandard
    except ImportError:
        with pytest.raises(UnsafeArchive, match="zstd"):
            run(b"\x28\xb5\x2f\xfd" + b"\0" * 100, dest)
    else:
        data = zstandard.ZstdCompressor().compress(make_tar(*LAYER))
        assert run(data, dest) == 205_000
        with pytest.raises(UnsafeArchive, match="truncated or corrupt"):
            run(data[: len(data) // 2], dest)
    contained()
