"""`corral kube generate` and `corral kube play` on the real kernel: generated YAML valid for two
Kubernetes releases (kubernetes-validate's offline schemas), played back into the same containers
(compared by inspect), a Deployment of two busybox httpd replicas behind a NodePort Service answering
on 127.0.0.1, `--down` leaving nothing, and hostile files refused with one line and nothing made.
Switches only in 10.243.0.0/16."""
from __future__ import annotations

import json
import socket
import urllib.request

import kubernetes_validate
import pytest
import yaml

from tests import test_archive
from tests.registryd import Registry

VERSIONS = ("1.25.0", "1.37.0")  # the oldest and newest schemas kubernetes-validate bundles


def pool(cli, third: int) -> None:
    """The default switch of this test's store in 10.243.THIRD.0/24 (kube play puts pods on it)."""
    cli.env["CORRAL_NETWORK_POOLS"] = f"10.243.{third}.0/24:24"


def free_ports(count: int = 1) -> int:
    """The first of `count` consecutive ports free on 127.0.0.1 and 0.0.0.0 (from 30000 on, NodePorts')."""
    for first in range(30100, 32700, 7):
        try:
            for port in range(first, first + count):
                with socket.socket() as s:
                    s.bind(("0.0.0.0", port))
            return first
        except OSError:
            continue
    raise AssertionError("no free ports")


def validate(text: str) -> list[dict]:
    docs = [d for d in yaml.safe_load_all(text) if d]
    for doc in docs:
        for version in VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)  # raises on any schema error
    return docs


def inspect(cli, name: str) -> dict:
    return json.loads(cli.out("inspect", name))[0]


def setup_of(cli, info: dict) -> dict:
    """What a play must reproduce: image, command, env, working dir, user, ports, mounts, limits, security,
    health check, restart policy, hostname, labels (but kube's own). A pod's member has its pod's ports,
    hostname and labels (the pod's infra container holds them); HOSTNAME is the host's or the pod's."""
    host, cfg = info["HostConfig"], info["Config"]
    pod = json.loads(cli.out("pod", "inspect", info["Pod"]))[0] if info.get("Pod") else None
    hostname = pod["Hostname"] if pod else cfg["Hostname"]
    default = hostname in (info["Id"][:12], pod and pod["Name"])  # docker's, a pod's
    return {"image": cfg["Image"], "command": [info["Path"], *info["Args"]],
            "env": [e for e in cfg["Env"] if not e.startswith("HOSTNAME=")],
            "workdir": cfg["WorkingDir"], "user": cfg["User"],
            "ports": pod["InfraConfig"]["PortBindings"] if pod else host["PortBindings"],
            "mounts": [(m["Type"], m.get("Name"), m["Source"], m["Destination"], m["RW"])
                       if len(m.get("Name") or "") != 64 else ("anonymous", m["Destination"], m["RW"])
                       for m in info["Mounts"]],
            "limits": (host["Memory"], host["NanoCpus"], host["MemoryReservation"], host["CpuShares"]),
            "security": (host["CapAdd"], host["CapDrop"], host["Privileged"], host["ReadonlyRootfs"]),
            "health": cfg.get("Healthcheck"), "restart": host["RestartPolicy"],
            "hostname": None if default else hostname,
            "labels": {k: v for k, v in {**(pod["Labels"] if pod else {}), **cfg["Labels"]}.items()
                       if k != "app" and not k.startswith("io.corral.kube.")},  # a member's: its pod's too
            "tmpfs": host.get("Tmpfs")}


SETUPS = {
    "env": ["-e", "A=1", "-e", "B=two words", "-e", "PATH=/bin", "-e", "HOME=/data", "-e", "A=2"],
    "ports": ["-p", "127.0.0.1:{port}:80", "-p", "{port2}:81/udp", "--expose", "90"],
    "volume": ["-v", "kube-data:/data", "-v", "/scratch"],
    "bind": ["-v", "{tmp}:/b:ro"],
    "limits": ["-m", "64m", "--cpus", "0.5", "--memory-reservation", "32m", "--cpu-shares", "512"],
    "user": ["-u", "1000:1000", "--cap-add", "NET_ADMIN", "--cap-drop", "CHOWN", "--read-only", "-w", "/tmp"],
    "healthcheck": ["--health-cmd", "test -d /", "--health-interval", "5s", "--health-retries", "2",
                    "--health-timeout", "3s"],
    "restart-always": ["--restart", "always", "-h", "kubehost", "-l", "tier=web", "-l", "note=has spaces"],
    "restart-on-failure": ["--restart", "on-failure", "--tmpfs", "/cache"],
    "entrypoint": ["--entrypoint", "/bin/sh"],
}


@pytest.mark.parametrize("case", list(SETUPS))
def test_generate_validates_and_play_reproduces(busybox, tmp_path, case: str) -> None:
    pool(busybox, 10 + list(SETUPS).index(case))
    port = free_ports(2)
    flags = [f.format(port=port, port2=port + 1, tmp=tmp_path) for f in SETUPS[case]]
    command = ["-c", "sleep 300"] if case == "entrypoint" else ["sleep", "300"]
    busybox.out("run", "-d", "--name", "orig", "--stop-timeout", "1", *flags, "busybox", *command)
    before = setup_of(busybox, inspect(busybox, "orig"))
    made = busybox("kube", "generate", "orig")
    assert made.returncode == 0, made.stderr
    docs = validate(made.stdout.decode())
    assert "image busybox is only in this store" in made.stderr.decode()
    assert docs[-1]["kind"] == "Pod" and docs[-1]["metadata"]["name"] == "orig-pod"
    path = tmp_path / "orig.yaml"
    path.write_bytes(made.stdout)
    busybox.out("rm", "-f", "orig")
    busybox.out("kube", "play", str(path))
    after = inspect(busybox, "orig-pod-orig")
    assert after["State"]["Running"], after["State"]
    assert setup_of(busybox, after) == before
    # generate of the played container names the same pod again: the file is stable
    again = busybox("kube", "generate", "orig-pod-orig")
    assert list(yaml.safe_load_all(again.stdout.decode())) == docs
    busybox.out("kube", "play", "--down", str(path))
    assert busybox.out("ps", "-aq") == ""


def test_generate_mapping_details(busybox, tmp_path) -> None:
    """The fields of the Pod for one full set-up, as podman maps them."""
    pool(busybox, 30)
    port = free_ports()
    busybox.out("create", "--name", "web", "-e", "A=1", "-w", "/srv", "-u", "1000:100", "--cap-add", "NET_ADMIN",
                "-p", f"127.0.0.1:{port}:80", "-m", "64m", "--cpus", "1.5", "-v", "kv:/data",
                "-v", f"{tmp_path}:/host", "--health-cmd", "true", "--health-interval", "10s",
                "--restart", "on-failure:3", "-h", "web1", "--ulimit", "nofile=1024:2048", "--init",
                "busybox", "httpd", "-f")
    made = busybox("kube", "generate", "web")
    claim, pod = validate(made.stdout.decode())
    assert claim == {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "kv"},
                     "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    [c] = pod["spec"]["containers"]
    assert c == {"name": "web", "image": "busybox", "args": ["httpd", "-f"], "env": [{"name": "A", "value": "1"}],
                 "workingDir": "/srv",
                 "ports": [{"containerPort": 80, "protocol": "TCP", "hostPort": port, "hostIP": "127.0.0.1"}],
                 "resources": {"limits": {"memory": "64Mi", "cpu": "1500m"}},
                 "volumeMounts": [{"name": "kv", "mountPath": "/data"},
                                  {"name": c["volumeMounts"][1]["name"], "mountPath": "/host"}],
                 "livenessProbe": {"exec": {"command": ["/bin/sh", "-c", "true"]}, "periodSeconds": 10},
                 "securityContext": {"runAsUser": 1000, "runAsGroup": 100, "capabilities": {"add": ["NET_ADMIN"]}}}
    assert pod["spec"]["restartPolicy"] == "OnFailure" and pod["spec"]["hostname"] == "web1"
    assert {"name": c["volumeMounts"][1]["name"], "hostPath": {"path": str(tmp_path)}} in pod["spec"]["volumes"]
    err = made.stderr.decode()
    for said in (f"bind mount {tmp_path} is a hostPath", f"host port {port} (80/tcp) binds the port",
                 "the retry count 3 of on-failure does not carry over", "image busybox is only in this store",
                 "web: ulimits do not carry over to the Pod", "web: --init does not carry over to the Pod"):
        assert said in err, err


def test_generate_service_and_deployment(busybox, tmp_path) -> None:
    pool(busybox, 31)
    port = free_ports()
    busybox.out("create", "--name", "web", "-p", f"{port}:8080", "busybox", "httpd", "-f", "-p", "8080")
    made = busybox("kube", "generate", "--service", "--type", "deployment", "--replicas", "2", "-f",
                   str(tmp_path / "d.yaml"), "web")
    assert made.returncode == 0 and made.stdout == b""
    deployment, service = validate((tmp_path / "d.yaml").read_text())
    assert deployment["kind"] == "Deployment" and deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["template"]["spec"]["containers"][0]["ports"] == [{"containerPort": 8080,
                                                                                 "protocol": "TCP"}]
    assert deployment["spec"]["template"]["spec"]["restartPolicy"] == "Always"
    assert service["spec"] == {"type": "NodePort", "selector": {"app": "web-pod"}, "ports": [
        {"name": "8080-tcp", "port": 8080, "targetPort": 8080, "nodePort": port, "protocol": "TCP"}]}
    for args, said in ((["--replicas", "2", "web"], "--replicas is for --type deployment"),
                       (["--type", "job", "web"], "--type job: give pod or deployment"),
                       (["--service", "nosuch"], "No such container"),
                       (["--replicas", "x", "--type", "deployment", "web"], "invalid value 'x' for --replicas"),
                       (["-f", str(tmp_path / "no" / "d.yaml"), "web"], "No such file or directory")):
        bad = busybox("kube", "generate", *args)
        assert bad.returncode != 0 and said in bad.stderr.decode() and bad.stderr.count(b"\n") == 1, bad.stderr


def test_round_trip_with_a_service(busybox, tmp_path) -> None:
    """generate --service, rm, play: the Service's nodePort publishes the same host port again."""
    pool(busybox, 32)
    port = free_ports()
    busybox.out("run", "-d", "--name", "web", "--stop-timeout", "1", "-p", f"{port}:8080", "-v", "kube-www:/www",
                "busybox",
                "sh", "-c", "echo round > /www/index.html && exec httpd -f -p 8080 -h /www")
    before = setup_of(busybox, inspect(busybox, "web"))
    text = busybox.out("kube", "generate", "--service", "web")
    (tmp_path / "web.yaml").write_text(text)
    busybox.out("rm", "-f", "web")
    busybox.out("kube", "play", str(tmp_path / "web.yaml"))
    assert setup_of(busybox, inspect(busybox, "web-pod-web")) == before
    assert get(port, "/index.html") == "round\n"  # the volume's data came through too
    assert busybox.out("kube", "play", "--down", "--force", str(tmp_path / "web.yaml")) == "web-pod\n"
    assert "kube-www" in busybox.out("volume", "ls", "-q")  # a volume this play did not make is kept


def get(port: int, path: str = "/") -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return r.read().decode()


def answer(port: int, path: str) -> str:
    import time

    deadline = time.monotonic() + 10
    while True:
        try:
            return get(port, path)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


DEPLOYMENT = """\
apiVersion: v1
kind: ConfigMap
metadata: {{name: site}}
data:
  index.html: "hello from a replica\\n"
  GREETING: hi
---
apiVersion: v1
kind: Secret
metadata: {{name: creds}}
stringData: {{password: hunter2}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: httpd
        image: busybox
        command: [sh, -c, 'hostname > /tmp/www/who && cp /www/index.html /tmp/www/ &&
                  exec httpd -f -p 8080 -h /tmp/www']
        env:
        - {{name: GREETING, valueFrom: {{configMapKeyRef: {{name: site, key: GREETING}}}}}}
        - {{name: PASSWORD, valueFrom: {{secretKeyRef: {{name: creds, key: password}}}}}}
        ports: [{{containerPort: 8080, name: http}}]
        volumeMounts:
        - {{name: site, mountPath: /www}}
        - {{name: scratch, mountPath: /tmp/www}}
        - {{name: creds, mountPath: /run/creds}}
        - {{name: data, mountPath: /data}}
      volumes:
      - {{name: site, configMap: {{name: site}}}}
      - {{name: scratch, emptyDir: {{}}}}
      - {{name: creds, secret: {{secretName: creds, defaultMode: 0400}}}}
      - {{name: data, persistentVolumeClaim: {{claimName: kube-shared}}}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: kube-shared}}
spec: {{accessModes: [ReadWriteOnce], resources: {{requests: {{storage: 1Gi}}}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  type: NodePort
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: http, nodePort: {port}}}]
"""


def test_deployment_of_two_replicas_behind_a_service(busybox, tmp_path) -> None:
    pool(busybox, 33)
    port = free_ports(2)
    path = tmp_path / "web.yaml"
    path.write_text(DEPLOYMENT.format(port=port))
    validate(path.read_text())
    played = busybox("kube", "play", str(path))
    assert played.returncode == 0, played.stderr
    assert f"web-pod-1 serves nodePort {port} on host port {port + 1}" in played.stderr.decode()
    assert busybox.out("pod", "ps", "--format", "{{.Name}} {{.Status}}").splitlines() == [
        "web-pod-1 Running", "web-pod Running"]
    for n, pod in ((0, "web-pod"), (1, "web-pod-1")):
        assert json.loads(busybox.out("pod", "inspect", pod))[0]["InfraConfig"]["PortBindings"] == {
            "8080/tcp": [{"HostIp": "", "HostPort": str(port + n)}]}
    for n, name in ((0, "web-pod-httpd"), (1, "web-pod-1-httpd")):
        assert answer(port + n, "/index.html") == "hello from a replica\n"
        assert answer(port + n, "/who").strip() == name.removesuffix("-httpd")  # the pod's name
        out = busybox.out("exec", name, "sh", "-c", "echo $GREETING $PASSWORD; stat -c %a /run/creds/password")
        assert out == "hi hunter2\n400\n"
    volumes = busybox.out("volume", "ls", "-q").split()
    named = sorted(v for v in volumes if len(v) != 64)
    assert named == ["kube-shared", "web-pod-1-creds", "web-pod-1-site", "web-pod-creds", "web-pod-site"]
    assert len(volumes) == len(named) + 2  # each replica's emptyDir, an anonymous volume
    again = busybox("kube", "play", str(path))
    assert again.returncode != 0 and "exists already: play with --replace" in again.stderr.decode()
    busybox.out("kube", "play", "--replace", str(path))
    assert answer(port, "/index.html") == "hello from a replica\n"
    down = busybox.out("kube", "play", "--down", str(path)).split()
    assert down == ["web-pod", "web-pod-site", "web-pod-creds", "web-pod-1", "web-pod-1-site", "web-pod-1-creds"]
    assert busybox.out("ps", "-aq") == "" and busybox.out("pod", "ps", "-q") == ""
    assert busybox.out("volume", "ls", "-q").split() == ["kube-shared"]  # the claim stays without --force
    assert busybox.out("kube", "play", "--down", "--force", str(path)).split() == ["kube-shared"]
    assert busybox.out("volume", "ls", "-q") == ""


def test_start_false_and_a_failed_play_leaves_nothing(busybox, tmp_path) -> None:
    pool(busybox, 34)
    port = free_ports()
    pods = "".join(f"""---
apiVersion: v1
kind: Pod
metadata: {{name: p{i}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {{name: c, image: busybox, command: [sleep, "300"], ports: [{{containerPort: 80, hostPort: {port}}}]}}
  volumes: [{{name: v, persistentVolumeClaim: {{claimName: kube-p{i}}}}}]
""" for i in (1, 2))
    path = tmp_path / "two.yaml"
    path.write_text(pods)
    failed = busybox("kube", "play", str(path))  # the second pod's host port is the first's
    assert failed.returncode != 0 and failed.stderr.count(b"\n") == 1, failed.stderr
    assert busybox.out("ps", "-aq") == "" and busybox.out("volume", "ls", "-q") == ""
    one = tmp_path / "one.yaml"
    one.write_text(pods.split("---\n")[1])
    busybox.out("kube", "play", "--start=false", str(one))
    assert busybox.out("ps", "-a", "-f", "name=p1-c", "--format", "{{.Names}} {{.Status}}") == "p1-c Created\n"
    busybox.out("kube", "play", "--down", "--force", str(one))
    assert busybox.out("ps", "-aq") == "" and busybox.out("volume", "ls", "-q") == ""


def test_down_leaves_a_pod_it_did_not_make(busybox, tmp_path) -> None:
    pool(busybox, 35)
    busybox.out("pod", "create", "--name", "mine")
    busybox.out("create", "--name", "mine-c", "--pod", "mine", "busybox", "true")
    path = tmp_path / "p.yaml"
    path.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: mine}\nspec:\n"
                    "  containers: [{name: c, image: busybox}]\n")
    down = busybox("kube", "play", "--down", str(path))
    assert down.returncode != 0 and "pod mine was not made by kube play: left alone" in down.stderr.decode()
    replace = busybox("kube", "play", "--replace", str(path))
    assert replace.returncode != 0 and "was not made by kube play" in replace.stderr.decode()
    again = busybox("kube", "play", str(path))
    assert again.returncode != 0 and "pod mine exists already" in again.stderr.decode()
    assert busybox.out("pod", "ps", "--format", "{{.Name}}") == "mine\n"
    assert busybox.out("ps", "-a", "-f", "name=mine-c", "--format", "{{.Names}}") == "mine-c\n"
    for flags, said in ((["--down", "--replace"], "--replace: not with --down"),
                        (["--down", "--start=false", "--network", "n"], "--start=false, --network: not with --down"),
                        (["--force"], "--force is for --down")):
        bad = busybox("kube", "play", *flags, str(path))
        assert bad.returncode != 0 and bad.stderr.decode().startswith(f"Error: {said}")
        assert bad.stderr.count(b"\n") == 1


def test_several_containers_are_one_pod(busybox, tmp_path) -> None:
    """Containers of no pod: one Pod with a container each (podman's); played back as a corral pod."""
    pool(busybox, 36)
    busybox.out("create", "--name", "front", "--stop-timeout", "1", "busybox", "sleep", "300")
    busybox.out("create", "--name", "back", "-u", "nobody", "busybox", "sleep", "300")
    made = busybox("kube", "generate", "front", "back")
    text = made.stdout.decode()
    [pod] = validate(text)
    assert [c["name"] for c in pod["spec"]["containers"]] == ["front", "back"]
    assert pod["spec"]["containers"][1]["securityContext"] == {"runAsUser": 65534}  # nobody, in the image
    assert "back: user nobody is written as its number 65534" in made.stderr.decode()
    assert pod["metadata"]["name"] == "front-pod"
    (tmp_path / "ab.yaml").write_text(text)
    busybox.out("kube", "play", str(tmp_path / "ab.yaml"))
    assert [c["Name"] for c in json.loads(busybox.out("pod", "inspect", "front-pod"))[0]["Containers"]][1:] == [
        "front-pod-front", "front-pod-back"]
    busybox.out("kube", "play", "--down", str(tmp_path / "ab.yaml"))


def test_round_trip_of_a_running_pod(busybox, tmp_path) -> None:
    """A pod of two containers (a web server and a client of it over the pod's 127.0.0.1) with a volume
    and a published port: generate, --down, play gives the same containers, ports and volumes, and the
    members still reach each other."""
    pool(busybox, 40)
    port = free_ports()
    busybox.out("pod", "create", "--name", "shop", "-p", f"127.0.0.1:{port}:8080", "-l", "tier=shop", "--share", "+pid")
    busybox.out("run", "-d", "--pod", "shop", "--name", "shop-web", "--stop-timeout", "1", "-v", "kube-stock:/www",
                "busybox", "sh", "-c", "echo stock > /www/index.html && exec httpd -f -p 8080 -h /www")
    busybox.out("run", "-d", "--pod", "shop", "--name", "shop-client", "--stop-timeout", "1",
                "-e", "TARGET=http://127.0.0.1:8080/", "busybox", "sh", "-c", "sleep 300")
    before = {n: setup_of(busybox, inspect(busybox, n)) for n in ("shop-web", "shop-client")}
    assert answer(port, "/index.html") == "stock\n"
    text = busybox.out("kube", "generate", "shop")
    [claim, pod] = validate(text)
    assert pod["metadata"]["name"] == "shop" and [c["name"] for c in pod["spec"]["containers"]] == ["web", "client"]
    assert pod["metadata"]["labels"] == {"app": "shop", "tier": "shop"} and pod["spec"]["shareProcessNamespace"]
    (tmp_path / "shop.yaml").write_text(text)
    busybox.out("pod", "rm", "-f", "shop")
    busybox.out("kube", "play", str(tmp_path / "shop.yaml"))
    after = {n: setup_of(busybox, inspect(busybox, n)) for n in ("shop-web", "shop-client")}
    assert after == before
    played = json.loads(busybox.out("pod", "inspect", "shop"))[0]
    assert "pid" in played["SharedNamespaces"] and played["Labels"]["tier"] == "shop"
    assert answer(port, "/index.html") == "stock\n"  # the volume's data, through the pod's port
    got = busybox.out("exec", "shop-client", "sh", "-c", "wget -q -O- $TARGET")
    assert got == "stock\n"
    assert busybox.out("kube", "play", "--down", str(tmp_path / "shop.yaml")) == "shop\n"
    assert busybox.out("ps", "-aq") == "" and busybox.out("pod", "ps", "-q") == ""


def test_image_in_a_registry_is_not_warned_about(busybox, tmp_path, peer_host) -> None:
    reg = Registry(str(tmp_path / "registry")).start()
    try:
        ref = f"{reg.host}/kube/web:1"
        busybox.out("tag", "busybox", ref)
        busybox.out("push", ref)
        busybox.out("create", "--name", "web", ref, "sleep", "1")
        made = busybox("kube", "generate", "web")
        assert made.returncode == 0 and b"only in this store" not in made.stderr, made.stderr
        assert validate(made.stdout.decode())[0]["spec"]["containers"][0]["image"] == ref
    finally:
        reg.stop()


ALIAS_BOMB = "a0: &a0 [lol]\n" + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10))
POD = ("apiVersion: v1\nkind: Pod\nmetadata: {{name: pp}}\nspec:\n  terminationGracePeriodSeconds: 1\n"
       "  containers: [{{name: c, image: busybox{more}}}]\n{vols}")


@pytest.mark.parametrize(("text", "said"), [
    ("apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: s}\n", "kind 'StatefulSet' is not supported"),
    (POD.format(more="", vols="  volumes: [{name: root, hostPath: {path: /}}]\n"),
     "spec.volumes[0].hostPath.path /: a host system directory: refused without --allow-host-paths"),
    (POD.format(more=", securityContext: {privileged: true}", vols=""),
     "spec.containers[0].securityContext.privileged: a privileged container"),
    (POD.format(more=", lifecycle: {}", vols=""), "Pod pp: spec.containers[0].lifecycle: not supported"),
    (ALIAS_BOMB, "line 2: YAML alias *a0: anchors and aliases are not accepted"),
    ("big", "is larger than 16 MiB"),
])
def test_hostile_files_are_refused_with_one_line(busybox, tmp_path, text: str, said: str) -> None:
    path = tmp_path / "hostile.yaml"
    if text == "big":
        with open(path, "wb") as f:  # 16 MiB and one byte of a valid-looking file
            f.write(b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  k: '")
            f.write(b"x" * ((16 << 20) - f.tell()) + b"'\n")
    else:
        path.write_text(text)
    refused = busybox("kube", "play", str(path))
    err = refused.stderr.decode()
    assert refused.returncode != 0 and said in err and err.count("\n") == 1 and err.startswith("Error: "), err
    assert busybox.out("ps", "-aq") == "" and busybox.out("volume", "ls", "-q") == ""


def test_flags_let_a_host_path_and_privilege_through(busybox, tmp_path) -> None:
    pool(busybox, 37)
    path = tmp_path / "p.yaml"
    path.write_text(POD.format(more=", command: [sleep, '300'], securityContext: {privileged: true}, "
                                    "volumeMounts: [{name: root, mountPath: /host, readOnly: true}]",
                               vols="  volumes: [{name: root, hostPath: {path: /}}]\n"))
    busybox.out("kube", "play", "--allow-host-paths", "--allow-privileged", str(path))
    info = inspect(busybox, "pp-c")
    assert info["HostConfig"]["Privileged"] and ("bind", None, "/", "/host", False) in setup_of(busybox, info)["mounts"]
    busybox.out("kube", "play", "--down", str(path))
    assert busybox.out("ps", "-aq") == ""


podman = test_archive.podman  # the fixture: podman on a private store


def test_play_what_podman_generates(busybox, podman, tmp_path) -> None:
    """podman's `kube generate` of a container (created, never started: no podman network) played by
    corral: the same environment, user, capabilities, ports, limits and volume."""
    busybox.out("save", "-o", str(tmp_path / "bb.tar"), "busybox")
    podman("load", "-i", str(tmp_path / "bb.tar"))
    busybox.out("tag", "busybox", "localhost/busybox:latest")  # the name podman gives a loaded short name
    pool(busybox, 38)
    port = free_ports()
    podman("create", "--name", "pweb", "-e", "A=1", "-w", "/tmp", "-u", "1000:1000", "--cap-add", "NET_ADMIN",
           "-p", f"127.0.0.1:{port}:80", "-m", "64m", "--cpus", "0.5", "-v", "kube-pdata:/data", "busybox",
           "sh", "-c", "trap exit TERM; sleep 300 & wait")
    path = tmp_path / "podman.yaml"
    path.write_text(podman("kube", "generate", "pweb").stdout)
    podman("rm", "-f", "pweb")
    played = busybox("kube", "play", str(path))
    assert played.returncode == 0, played.stderr
    assert "spec.enableServiceLinks: has no effect on one machine" in played.stderr.decode()
    info = inspect(busybox, "pweb-pod-pweb")
    assert info["State"]["Running"] and "A=1" in info["Config"]["Env"] and info["Config"]["WorkingDir"] == "/tmp"
    assert info["Config"]["User"] == "1000:1000" and "CAP_NET_ADMIN" in info["HostConfig"]["CapAdd"]
    assert setup_of(busybox, info)["ports"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    assert (info["HostConfig"]["Memory"], info["HostConfig"]["NanoCpus"]) == (64 << 20, 500_000_000)
    assert [(m["Name"], m["Destination"]) for m in info["Mounts"]] == [("kube-pdata", "/data")]
    busybox.out("kube", "play", "--down", "--force", str(path))
    assert busybox.out("ps", "-aq") == "" and busybox.out("volume", "ls", "-q") == ""


def test_play_from_stdin_on_a_switch_of_its_own(busybox, tmp_path) -> None:
    busybox.out("network", "create", "--subnet", "10.243.39.0/24", "kubenet")
    text = ("apiVersion: v1\nkind: Pod\nmetadata: {name: net}\nspec:\n  restartPolicy: Never\n"
            "  terminationGracePeriodSeconds: 1\n"
            "  containers: [{name: c, image: busybox, command: [sleep, '300']}]\n")
    missing = busybox("kube", "play", "--network", "nosuch", "-", input=text.encode())
    assert missing.returncode != 0 and missing.stderr.count(b"\n") == 1 and b"nosuch" in missing.stderr
    assert busybox.out("ps", "-aq") == ""
    busybox.out("kube", "play", "--network", "kubenet", "-", input=text.encode())
    info = inspect(busybox, "net-c")
    pod = json.loads(busybox.out("pod", "inspect", "net"))[0]
    assert info["HostConfig"]["RestartPolicy"]["Name"] == "no" and pod["Hostname"] == "net"  # the pod's name
    infra = inspect(busybox, pod["InfraContainerID"])
    assert infra["NetworkSettings"]["Networks"]["kubenet"]["IPAddress"].startswith("10.243.39.")
    assert busybox.out("kube", "play", "--down", "-", input=text.encode()) == "net\n"
    busybox.out("network", "rm", "kubenet")
