"""--format on a real store: inspect -f, list commands with docker's column fields, table and json."""
from __future__ import annotations

import json
import subprocess
import sys

from conftest import SRC


def test_inspect_format_runs_the_template_on_each_object(busybox):
    busybox.out("run", "-d", "--name", "web", "-l", "app=shop", "busybox", "sleep", "60")
    busybox.out("create", "--name", "idle", "busybox", "true")
    assert busybox.out("inspect", "-f", "{{.State.Status}}", "web") == "running\n"
    assert busybox.out("inspect", "--format", '{{.Name}} {{index .Config.Labels "app"}}', "web", "idle") == \
        "/web shop\n/idle \n"
    assert busybox.out("inspect", "-f", "{{json .State.Running}}", "web") == "true\n"
    assert busybox.out("inspect", "-f", "{{.Config.Cmd}} {{.Missing}}", "web") == "[sleep 60] <no value>\n"
    assert busybox.out("image", "inspect", "-f", "{{.Os}} {{len .RootFS.Layers}}", "busybox") == "linux 1\n"
    busybox.out("rm", "-f", "web", "idle")


def test_list_commands_render_docker_fields(busybox):
    busybox.out("run", "-d", "--name", "web", "-l", "app=shop", "busybox", "sleep", "60")
    cid = busybox.out("inspect", "-f", "{{.Id}}", "web").strip()
    assert busybox.out("ps", "--format", "{{.Names}}") == "web\n"
    assert busybox.out("ps", "--format", '{{.ID}} {{.Label "app"}} {{.State}} {{.Labels}} {{.Image}}') == \
        f"{cid[:12]} shop running app=shop busybox\n"
    table = busybox.out("ps", "--format", "table {{.ID}}\\t{{.Names}}").splitlines()
    assert table == ["CONTAINER ID   NAMES", f"{cid[:12]}   web"]
    row = json.loads(busybox.out("ps", "--format", "json"))
    assert row["Names"] == "web" and row["ID"] == cid[:12] and row["State"] == "running"
    assert {"Command", "CreatedAt", "RunningFor", "Ports", "Status", "Size", "Labels", "Mounts",
            "Networks"} <= row.keys()
    default = busybox.out("ps")
    header = [w.strip() for w in default.splitlines()[0].split("  ") if w.strip()]
    assert header == ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    assert busybox.out("ps", "--format", "table").splitlines()[0] == default.splitlines()[0]
    assert busybox.out("ps", "-a", "--no-trunc", "--format", "{{.ID}}") == cid + "\n"
    assert busybox.out("images", "--format", "{{.Repository}}:{{.Tag}}") == "busybox:latest\n"
    assert busybox.out("images", "--format", "table {{.Repository}}").splitlines() == ["REPOSITORY", "busybox"]
    assert json.loads(busybox.out("images", "--format", "json"))["Tag"] == "latest"
    assert busybox.out("history", "--format", "{{.CreatedBy}}", "busybox") == "corral image bootstrap busybox\n"
    busybox.out("rm", "-f", "web")


def test_network_formats(busybox):
    busybox.out("network", "create", "--subnet", "10.231.77.0/24", "--label", "team=ops", "fmtnet")
    assert busybox.out("network", "inspect", "-f", "{{.IPAM.Config}}", "fmtnet") == \
        "[map[Gateway:10.231.77.1 Subnet:10.231.77.0/24]]\n"
    assert busybox.out("network", "ls", "--format", '{{.Name}} {{.Driver}} {{.Label "team"}} {{.Internal}}') == \
        "fmtnet bridge ops false\n"
    busybox.out("network", "rm", "fmtnet")


def test_a_template_error_exits_1_with_dockers_wording(busybox):
    r = busybox("inspect", "-f", "{{.State.Status", "busybox")
    assert (r.returncode, r.stdout, r.stderr) == (1, b"", b"template parsing error: template: :1: unclosed action\n")
    r = busybox("ps", "-a", "--format", "{{nosuch .Names}}")
    assert r.returncode == 1 and r.stderr == b'template parsing error: template: :1: function "nosuch" not defined\n'
    r = busybox("image", "inspect", "-f", "{{.Os.Name}}", "busybox")
    assert r.returncode == 1 and r.stderr == (b'template parsing error: template: :1:5: executing "" at <.Os.Name>: '
                                              b"can't evaluate field Name in type interface {}\n")
    r = busybox("images", "--format", "{{.Repository | upper 1}}")
    assert r.returncode == 1 and b"wrong number of args for upper: want 1 got 2" in r.stderr
    assert busybox.out("version", "--format", "{{.Server.Os}}") == "linux\n"


def test_ps_without_format_loads_no_template_engine(cli):
    code = ("import sys; from corral.cli import main; main.main(['ps', '-a']); "
            "print(sorted({'re', 'corral.cli.template', 'json'} & set(sys.modules)))")
    r = subprocess.run([sys.executable, "-IS", "-c", f"import sys; sys.path.insert(0, {SRC!r}); {code}"],
                       capture_output=True, text=True, env=cli.env, check=True)
    assert r.stdout.splitlines()[-1] == "[]"
