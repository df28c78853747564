"""corral build: every instruction, multi-stage, the cache, secrets, reproducibility, errors."""
from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile

import pytest


EVERYTHING = r"""# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM ${BASE} AS base
ARG GREETING=hello
ENV APP_HOME=/srv/app \
    MODE=test
LABEL org.example.team="web ops" version=1
WORKDIR $APP_HOME
# a comment between instructions
COPY --chmod=750 *.sh bin/
COPY --chown=1:2 conf/ conf/
ADD payload.tar.gz /opt/
RUN echo "$GREETING from $MODE" > greeting.txt && \
    mkdir -p /data
RUN ["sh", "-c", "echo exec-form > /data/exec.txt"]
RUN <<EOF
echo heredoc-one > /data/here.txt
echo heredoc-two >> /data/here.txt
EOF
COPY <<EOF /etc/motd
welcome
EOF
EXPOSE 8080 9090/udp
VOLUME ["/data"]
USER 1:2
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=5s --retries=2 CMD ["true"]
SHELL ["/bin/sh", "-ec"]
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat greeting.txt /data/exec.txt /data/here.txt /etc/motd"]
"""


def _context(tmp_path, dockerfile: str, files: dict[str, str | bytes] | None = None):
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(dockerfile)
    for name, content in (files or {}).items():
        path = ctx / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return ctx


def _tar_gz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _inspect(cli, ref: str) -> dict:
    return json.loads(cli.out("inspect", ref))[0]


def test_every_instruction(busybox, tmp_path):
    ctx = _context(tmp_path, EVERYTHING, {
        "run.sh": "#!/bin/sh\necho run\n", "conf/app.conf": "k=v\n", "secret.txt": "nope\n",
        "payload.tar.gz": _tar_gz({"payload/readme": b"unpacked\n"}), ".dockerignore": "secret.txt\n",
    })
    out = busybox.out("build", "-t", "every:1", str(ctx))
    assert "Step 1/" in out and "Successfully tagged every:1" in out
    assert busybox.out("run", "--rm", "every:1") == \
        "hello from test\nexec-form\nheredoc-one\nheredoc-two\nwelcome\n"
    listing = busybox.out("run", "--rm", "--entrypoint", "sh", "every:1", "-c",
                          "stat -c '%n %a %u %g' bin/run.sh conf/app.conf; cat /opt/payload/readme; "
                          "ls /srv/app; id -u")
    assert "bin/run.sh 750 0 0" in listing and "conf/app.conf 644 1 2" in listing
    assert "unpacked" in listing and "secret.txt" not in listing and listing.endswith("1\n")
    cfg = _inspect(busybox, "every:1")["Config"]
    assert cfg["Env"][-2:] == ["APP_HOME=/srv/app", "MODE=test"] and cfg["WorkingDir"] == "/srv/app"
    assert cfg["Labels"] == {"org.example.team": "web ops", "version": "1"}
    assert cfg["ExposedPorts"] == {"8080/tcp": {}, "9090/udp": {}} and cfg["Volumes"] == {"/data": {}}
    assert cfg["User"] == "1:2" and cfg["StopSignal"] == "SIGUSR1" and cfg["Shell"] == ["/bin/sh", "-ec"]
    assert cfg["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 5_000_000_000, "Retries": 2}
    history = busybox.out("history", "--no-trunc", "every:1")
    assert "WORKDIR" in history and "/bin/sh -c echo \"$GREETING from $MODE\"" in history


def test_healthcheck_durations_are_read_as_the_parser_reads_them(busybox, tmp_path):
    """The executor once read durations with a float parser of its own: `1500µs` passed the
    parser and failed the build, and `1.005s` came out a nanosecond short."""
    ctx = _context(tmp_path, "FROM busybox\n"
                             "HEALTHCHECK --interval=1500\u00b5s --timeout=1.005s --start-period=1m30s CMD true\n")
    busybox.out("build", "-t", "hc:1", str(ctx))
    assert _inspect(busybox, "hc:1")["Config"]["Healthcheck"] == {
        "Test": ["CMD-SHELL", "true"], "Interval": 1_500_000, "Timeout": 1_005_000_000, "StartPeriod": 90 * 10**9}


def test_multi_stage_into_scratch_and_target(busybox, tmp_path):
    ctx = _context(tmp_path, """
FROM busybox AS builder
RUN mkdir /out && cp /bin/busybox /out/busybox && echo built > /out/stamp
FROM scratch
COPY --from=builder /out/busybox /busybox
COPY --from=0 /out/stamp /stamp
ENTRYPOINT ["/busybox"]
CMD ["cat", "/stamp"]
""")
    busybox.out("build", "-t", "small:1", str(ctx))
    assert busybox.out("run", "--rm", "small:1") == "built\n"
    assert len(_inspect(busybox, "small:1")["RootFS"]["Layers"]) == 2  # no busybox base layer in scratch
    busybox.out("build", "--target", "builder", "-t", "builder:1", str(ctx))
    assert busybox.out("run", "--rm", "builder:1", "cat", "/out/stamp") == "built\n"


def test_copy_from_an_image_not_a_stage(busybox, tmp_path):
    ctx = _context(tmp_path, """
FROM scratch
COPY --from=busybox /bin/busybox /busybox
COPY --from=busybox /etc/passwd /passwd
ENTRYPOINT ["/busybox"]
CMD ["cat", "/passwd"]
""")
    busybox.out("build", "-t", "fromimage:1", str(ctx))
    passwd = busybox.out("run", "--rm", "busybox", "cat", "/etc/passwd")
    assert "root:" in passwd and busybox.out("run", "--rm", "fromimage:1") == passwd


def test_cache_reuses_until_a_copied_file_changes(busybox, tmp_path):
    ctx = _context(tmp_path, """
FROM busybox
RUN echo one > /one
COPY a.txt /a.txt
RUN cat /a.txt > /copy
COPY b.txt /b.txt
""", {"a.txt": "a1\n", "b.txt": "b\n"})
    first = busybox.out("build", "-q", str(ctx)).strip()
    again = busybox.out("build", str(ctx))
    assert again.count("Using cache") == 4 and f"Successfully built {first[7:19]}" in again
    (ctx / "a.txt").write_text("a2\n")
    third = busybox.out("build", "-t", "c:3", str(ctx))
    assert third.count("Using cache") == 1  # only the RUN before the changed COPY
    assert busybox.out("run", "--rm", "c:3", "cat", "/copy") == "a2\n"
    nocache = busybox.out("build", "--no-cache", str(ctx))
    assert "Using cache" not in nocache


def test_secrets_never_reach_the_image(busybox, tmp_path):
    secret = b"s3cr3t-" + os.urandom(8).hex().encode()
    (tmp_path / "pw").write_bytes(secret)
    ctx = _context(tmp_path, """
FROM busybox
RUN --mount=type=secret,id=pw test "$(cat /run/secrets/pw)" != "" && wc -c < /run/secrets/pw > /len
RUN --mount=type=secret,id=pw,target=/etc/pw cat /etc/pw | wc -c > /len2
""")
    out = busybox.out("build", "--secret", f"id=pw,src={tmp_path / 'pw'}", "-t", "sec:1", str(ctx))
    assert "Successfully tagged sec:1" in out
    assert busybox.out("run", "--rm", "sec:1", "cat", "/len") == f"{len(secret)}\n"
    assert busybox.out("run", "--rm", "sec:1", "sh", "-c", "ls /run/secrets /etc/pw 2>&1; true").count("No such") == 2
    saved = tmp_path / "saved"
    saved.mkdir()
    busybox.out("save", "-o", str(saved / "docker.tar"), "sec:1")
    busybox.out("save", "--format", "oci-archive", "-o", str(saved / "oci.tar"), "sec:1")
    for path in saved.iterdir():
        assert secret not in path.read_bytes(), f"the secret is in the saved {path.name}"
    for dirpath, _dirs, files in os.walk(busybox.root):
        for name in files:
            path = os.path.join(dirpath, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            with open(path, "rb") as f:
                assert secret not in f.read(), f"the secret is in {path}"
    r = busybox("build", "--build-arg", "DB_PASSWORD=x", str(ctx))
    assert b"looks like a secret" in r.stdout


def test_reproducible_with_source_date_epoch(busybox, new_store, tmp_path):
    ctx = _context(tmp_path, """
FROM busybox
COPY f.txt /f.txt
RUN echo data > /made && mkdir /d && touch /d/x
CMD ["cat", "/made"]
""", {"f.txt": "content\n"})
    ids = []
    for i in range(2):  # each on a clean store: nothing cached, nothing shared
        other = new_store()
        other.env["SOURCE_DATE_EPOCH"] = "1700000000"
        other.out("image", "bootstrap", "busybox")
        ids.append(other.out("build", "-q", "--network", "none", str(ctx)).strip())  # no switch in this store
        assert other.out("ps", "-aq") == ""
    assert ids[0] == ids[1] and ids[0].startswith("sha256:")
    busybox.env["SOURCE_DATE_EPOCH"] = "1700000000"
    busybox.out("build", "-t", "r:1", str(ctx))
    assert _inspect(busybox, "r:1")["Created"].startswith("2023-11-14T22:13:20")


@pytest.mark.parametrize("dockerfile, message", [
    ("FROM busybox\nFROOM x\n", "Dockerfile:2:"),
    ("RUN true\n", "Dockerfile:1:"),
    ("FROM busybox\nCOPY onlyone\n", "Dockerfile:2:"),
    ("FROM nosuchimage\nRUN true\n", "Dockerfile:1: base image 'nosuchimage': No such image: nosuchimage"),
    ("FROM busybox\nCOPY --from=later /x /x\nFROM busybox AS later\nCOPY --from=0 /x /y\n", "Dockerfile:2:"),
    ("FROM busybox\nRUN echo ok\nRUN exit 3\n", "returned a non-zero code: 3"),
    ("FROM busybox\nCOPY missing.txt /x\n", "missing.txt"),
])
def test_errors_are_reported_with_file_and_line(busybox, tmp_path, dockerfile, message):
    ctx = _context(tmp_path, dockerfile)
    r = busybox("build", str(ctx))
    assert r.returncode == 1 and message in r.stderr.decode(), r.stderr
    assert busybox.out("ps", "-aq") == ""  # no RUN container left behind
    assert busybox("system", "check").returncode == 0


def test_build_from_python(busybox, tmp_path):
    ctx = _context(tmp_path, "FROM busybox\nARG WHO\nRUN echo hi $WHO > /who\n")
    code = ("import json; from corral.api import Host; "
            f"events = list(Host().build({str(ctx)!r}, tags=['py:1'], buildargs={{'WHO': 'there'}})); "
            "print(json.dumps(events[-1]))")
    import sys

    r = subprocess.run([sys.executable, "-c", code], env=busybox.env, capture_output=True, check=True)
    assert json.loads(r.stdout)["aux"]["ID"] == _inspect(busybox, "py:1")["Id"]
    assert busybox.out("run", "--rm", "py:1", "cat", "/who") == "hi there\n"


def test_run_steps_use_the_default_switch_unless_told_otherwise(busybox, tmp_path):
    ctx = _context(tmp_path, "FROM busybox\nRUN grep -c eth0 /proc/net/dev > /n || true\n")
    busybox.out("build", "-t", "net:1", str(ctx))
    assert busybox.out("run", "--rm", "net:1", "cat", "/n") == "1\n"
    busybox.out("build", "--network", "none", "-t", "nonet:1", str(ctx))
    assert busybox.out("run", "--rm", "nonet:1", "cat", "/n") == "0\n"


def test_dockerfile_flag_is_relative_to_the_working_directory(busybox, tmp_path):
    from conftest import CORRAL

    ctx = _context(tmp_path, "FROM busybox\nRUN false\n")  # the context's own Dockerfile would fail
    (tmp_path / "other.Dockerfile").write_text("FROM busybox\nRUN echo other > /which\n")
    subprocess.run(CORRAL + ["build", "--network", "none", "-f", "other.Dockerfile", "-t", "f:1", str(ctx)],
                   env=busybox.env, cwd=tmp_path, check=True, capture_output=True)
    assert busybox.out("run", "--rm", "f:1", "cat", "/which") == "other\n"


def test_reading_through_layers_survives_deep_trees(tmp_path):
    """COPY --from walks the source stage's tree; a tree deeper than Python's recursion limit must not
    crash it."""
    import sys

    from conftest import SRC

    sys.path.insert(0, SRC)
    from corral.store.merged import MergedTree

    layer = str(tmp_path / "layer")
    deep = layer
    os.mkdir(layer)
    for _ in range(1100):  # one mkdir at a time: os.makedirs itself recurses
        deep += "/d"
        os.mkdir(deep)
    with open(deep + "/f", "w") as f:
        f.write("bottom\n")
    try:
        found = [rel for rel, _real, _st in MergedTree([layer]).walk("d")]
    finally:
        from corral.store.fsutil import remove_tree

        remove_tree(layer)  # pytest's own clean-up of old tmp dirs recurses, and would fail on it
    assert len(found) == 1101 and found[-1].endswith("/d/f") and found[0] == "d"


def test_links_are_followed_inside_the_stage_or_context_never_on_the_host(busybox, tmp_path):
    """A build may be hostile: a link in a stage or in the context pointing at the host's files must
    lead nowhere outside (BuildKit resolves each link within its root, so does corral)."""
    host_secret = tmp_path / "host-only"
    host_secret.mkdir()
    (host_secret / "secret").write_text("host secret\n")
    ctx = _context(tmp_path, f"""FROM busybox AS stage
RUN mkdir -p /in && echo in-stage > /in/file && ln -s / /root-link && ln -s {host_secret} /escape && \\
    ln -s file /in/rel-link && ln -s /in /abs-dir-link
FROM busybox
COPY --from=stage /root-link/in/file /a
COPY --from=stage /in/rel-link /b
COPY --from=stage /abs-dir-link/ /c/
COPY linked-dir/file /d
COPY file-link /e
COPY tree /f/
""", {"real-dir/file": "from-context\n", "tree/plain": "p\n"})
    os.symlink("real-dir", ctx / "linked-dir")
    os.symlink("real-dir/file", ctx / "file-link")
    os.symlink("../plain", ctx / "tree" / "inner-link")
    busybox.out("build", "--network", "none", "-t", "links:1", str(ctx))
    script = "cat /a /b /c/file /d /e; readlink /c/rel-link; readlink /f/inner-link"
    assert busybox.out("run", "--rm", "links:1", "sh", "-c", script) == \
        "in-stage\nin-stage\nin-stage\nfrom-context\nfrom-context\nfile\n../plain\n"

    stage = "FROM busybox AS stage\nRUN ln -s {} /escape\nFROM busybox\nCOPY --from=stage {} /x\n"
    escapes = [stage.format(host_secret, "/escape/secret"), stage.format(host_secret / "secret", "/escape"),
               stage.format("/", f"/escape{host_secret}/secret"),
               "FROM busybox\nCOPY out/secret /x\n", "FROM busybox\nCOPY out-file /x\n", "FROM busybox\nCOPY out/* /x/\n"]
    for i, dockerfile in enumerate(escapes):
        (tmp_path / f"bad{i}").mkdir()
        bad = _context(tmp_path / f"bad{i}", dockerfile)
        os.symlink(host_secret, bad / "out")
        os.symlink(host_secret / "secret", bad / "out-file")
        r = busybox("build", "--network", "none", "-t", f"escape:{i}", str(bad))
        refused = b"not found" in r.stderr or b"nothing matches" in r.stderr
        assert r.returncode != 0 and refused, (dockerfile, r.stderr)
        assert busybox("inspect", f"escape:{i}").returncode != 0
