"""kube/'s pure parts without root: the hostile-YAML reader, quantities, and the refusals of kube play's
plan (every unsupported field by its path, in one line), on dicts."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corral.errors import InvalidArgument
from corral.kube import fields, generate, play, yamlio
from tests.test_fuzz import FUZZ

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("text", "said"), [
    ("a: &x [1]\nb: *x\n", "line 2: YAML alias *x: anchors and aliases are not accepted"),
    ("kind: Pod\nkind: Pod\n", "line 2: key 'kind' appears twice in one mapping"),
    ("x: !!python/object/apply:os.system [true]\n", "not valid YAML: could not determine a constructor"),
    ("[" * 50000, "nested too deeply"),
    ("- 1\n", "document 1 is a list, not a Kubernetes object"),
    ("a: [1,\n", "line 2 column 1: not valid YAML"),
    ("---\n---\n", "no Kubernetes object in it"),
])
def test_hostile_yaml_is_one_line(text: str, said: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        yamlio.load_all(text, "f.yaml")
    assert said in str(e.value) and "\n" not in str(e.value)


def test_alias_bomb_refused_before_any_expansion() -> None:
    """A billion-laughs document: nine levels of nine aliases, refused at its first alias."""
    lines = ['a0: &a0 ["lol"]'] + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    with pytest.raises(InvalidArgument, match=r"line 2: YAML alias \*a0"):
        yamlio.load_all("\n".join(lines) + "\n", "bomb.yaml")


def test_size_bound_is_checked_before_parsing(tmp_path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# " + b"x" * yamlio.MAX_BYTES + b"\n")
    with pytest.raises(InvalidArgument, match=r"big.yaml is larger than 16 MiB"):
        yamlio.read(str(big))
    exact = tmp_path / "ok.yaml"
    exact.write_bytes(b"kind: Pod\n")
    assert yamlio.read(str(exact), limit=10) == "kind: Pod\n"
    with pytest.raises(InvalidArgument, match="larger than"):
        yamlio.read(str(exact), limit=9)


def test_documents_and_dump_round_trip() -> None:
    shared = {"app": "a"}  # one object in two places: written out twice, never as an anchor and alias
    docs = [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "labels": shared}},
            {"kind": "Service", "x": "1", "selector": shared}]
    text = yamlio.dump_all(docs, "# header\n")
    assert text.startswith("# header\n---\napiVersion: v1\nkind: Pod\n")  # keys in the order given
    assert yamlio.load_all(text, "t") == docs


@pytest.mark.parametrize(("text", "value"), [("64Mi", 64 << 20), ("500m", 0.5), ("1.5", 1.5), ("1e3", 1000),
                                             ("2G", 2e9), ("128974848", 128974848), ("1Ki", 1024)])
def test_quantities(text: str, value: float) -> None:
    assert fields.quantity(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "Mi", "1.2.3", "5 Mi", "1x", "."])
def test_bad_quantities(text: str) -> None:
    with pytest.raises(ValueError):
        fields.quantity(text)


def test_generate_quantities_read_back() -> None:
    for n in (64 << 20, 3 << 30, 1000, 6 * 1024 * 1024 + 1):
        assert fields.quantity(generate.quantity(n)) == n
    for cpus in (0.5, 1, 1.25, 2):
        assert fields.quantity(generate.millicpus(cpus)) == pytest.approx(cpus)


def _pod(container: dict, **spec: object) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "busybox", **container}], **spec}}


def _refusal(docs: list[dict], **flags: bool) -> str:
    with pytest.raises(InvalidArgument) as e:
        play.plan(docs, "f.yaml", **flags)
    assert "\n" not in str(e.value)
    return str(e.value)


def test_unsupported_fields_are_named_by_path_all_at_once() -> None:
    said = _refusal([_pod({"lifecycle": {}, "readinessProbe": {}}, initContainers=[])])
    assert said == ("f.yaml: Pod p: spec.initContainers: not supported; Pod p: spec.containers[0].lifecycle: not "
                    "supported; Pod p: spec.containers[0].readinessProbe: not supported")


@pytest.mark.parametrize(("doc", "said"), [
    ({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s"}},
     "StatefulSet s: kind 'StatefulSet' is not supported"),
    ({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "Bad_Name"}, "spec": {}},
     "metadata.name 'Bad_Name' is not a Kubernetes name"),
    ({"apiVersion": "v2", "kind": "Pod", "metadata": {"name": "p"}}, "apiVersion 'v2': Pod is v1"),
    (_pod({"securityContext": {"privileged": True}}), "privileged: a privileged container has every capability"),
    (_pod({}, volumes=[{"name": "v", "hostPath": {"path": "/"}}]), "hostPath.path /: a host system directory"),
    (_pod({}, volumes=[{"name": "v", "hostPath": {"path": "/etc/ssl"}}]), "/etc/ssl: a host system directory"),
    (_pod({}, hostNetwork=True), "spec.hostNetwork: shares the host's namespace"),
    (_pod({}, volumes=[{"name": "v", "hostPath": {"path": "/nonexistent/kube", "type": "Directory"}}]),
     "hostPath.path /nonexistent/kube: no directory there on this host"),
    (_pod({}, volumes=[{"name": "v", "hostPath": {"path": "/tmp", "type": "Socket"}}]),
     "hostPath.type Socket: not supported"),
    (_pod({"env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "m", "key": "k"}}}]}),
     "key 'k' of ConfigMap 'm' is not in the file"),
    (_pod({"resources": {"limits": {"nvidia.com/gpu": 1}}}), "resources.limits.nvidia.com/gpu: not supported"),
    (_pod({"livenessProbe": {"httpGet": {"port": 80}}}), "livenessProbe.httpGet: not supported"),
    (_pod({"volumeMounts": [{"name": "nope", "mountPath": "/x"}]}), "no volume 'nope' in the pod's volumes"),
])
def test_refusals(doc: dict, said: str) -> None:
    assert said in _refusal([doc])


def test_flags_allow_what_is_refused_by_default() -> None:
    docs = [_pod({"securityContext": {"privileged": True}}, volumes=[{"name": "v", "hostPath": {"path": "/"}}])]
    _refusal(docs)
    found = play.plan(docs, "f.yaml", allow_host_paths=True, allow_privileged=True)
    assert found["pods"][0]["containers"][0]["options"]["privileged"] is True


def test_link_into_a_host_directory_is_refused(tmp_path) -> None:
    (tmp_path / "etc").symlink_to("/etc")
    said = _refusal([_pod({}, volumes=[{"name": "v", "hostPath": {"path": str(tmp_path / "etc")}}])])
    assert "(that is /etc)" in said


def test_a_pod_of_several_containers_shares_namespaces() -> None:
    doc = _pod({"ports": [{"containerPort": 80, "hostPort": 8080}]}, shareProcessNamespace=True)
    doc["spec"]["containers"].append({"name": "d", "image": "busybox"})
    [pod] = play.plan([doc], "f")["pods"]
    assert [c["name"] for c in pod["containers"]] == ["p-c", "p-d"]
    assert pod["share"] == ["net", "uts", "ipc", "pid"] and pod["labels"] == {}
    doc["spec"]["hostPID"] = True
    assert "spec.shareProcessNamespace: not with hostPID" in _refusal([doc], allow_privileged=True)


def test_cluster_only_fields_are_warned_about() -> None:
    found = play.plan([_pod({"terminationMessagePath": "/dev/termination-log"}, nodeSelector={"a": "b"})], "f")
    assert found["warnings"] == ["Pod p: spec.nodeSelector: has no effect on one machine: ignored",
                                 "Pod p: spec.containers[0].terminationMessagePath: has no effect on one machine: "
                                 "ignored"]


def test_mapping_of_a_container() -> None:
    doc = _pod({"command": ["/bin/sh"], "args": ["-c", "x"], "workingDir": "/w",
                "env": [{"name": "A", "value": "1"}, {"name": "P", "valueFrom": {"fieldRef": {"fieldPath":
                                                                                              "metadata.name"}}}],
                "ports": [{"containerPort": 80, "hostPort": 8080, "hostIP": "127.0.0.1"}, {"containerPort": 53,
                                                                                           "protocol": "UDP"}],
                "resources": {"limits": {"memory": "64Mi", "cpu": "500m"}, "requests": {"cpu": "250m"}},
                "securityContext": {"runAsUser": 1000, "runAsGroup": 100, "readOnlyRootFilesystem": True,
                                    "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
                                    "allowPrivilegeEscalation": False},
                "livenessProbe": {"exec": {"command": ["/bin/sh", "-c", "true"]}, "periodSeconds": 5,
                                  "failureThreshold": 2}},
               restartPolicy="OnFailure", hostname="h", terminationGracePeriodSeconds=3)
    [pod] = play.plan([doc], "f")["pods"]
    [c] = pod["containers"]
    assert (c["name"], c["image"], c["command"], c["pull"]) == ("p-c", "busybox", ["-c", "x"], "missing")
    assert c["options"] == {
        "network": "bridge", "labels": {"io.corral.kube.pod": "p", "io.corral.kube.container": "c"},
        "restart": "on-failure", "hostname": "h", "stop_timeout": 3, "entrypoint": ["/bin/sh"],
        "env": ["A=1", "P=p"], "workdir": "/w", "ports": ["127.0.0.1:8080:80/tcp"], "expose": ["53/udp"],
        "memory": 64 << 20, "cpus": 0.5, "cpu_shares": 256, "user": "1000:100", "read_only": True,
        "cap_add": ["NET_ADMIN"], "cap_drop": ["ALL"], "security_opt": ["no-new-privileges"],
        "healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000, "Retries": 2}}


def test_command_without_args_drops_the_image_cmd() -> None:
    """Kubernetes: `command` alone replaces the entrypoint and the image's cmd is not used."""
    [pod] = play.plan([_pod({"command": ["sleep", "9"]})], "f")["pods"]
    assert pod["containers"][0]["command"] == [] and pod["containers"][0]["options"]["entrypoint"] == ["sleep", "9"]
    [pod] = play.plan([_pod({"args": ["9"]})], "f")["pods"]
    assert pod["containers"][0]["command"] == ["9"] and "entrypoint" not in pod["containers"][0]["options"]


def test_deployment_replicas_and_service_ports() -> None:
    docs = [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
             "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                      "template": {"metadata": {"labels": {"app": "web"}},
                                   "spec": {"containers": [{"name": "h", "image": "busybox",
                                                            "ports": [{"containerPort": 8080, "name": "http"}]}]}}}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
             "spec": {"type": "NodePort", "selector": {"app": "web"},
                      "ports": [{"port": 80, "targetPort": "http", "nodePort": 30080}]}}]
    found = play.plan(docs, "f")
    assert [p["name"] for p in found["pods"]] == ["web-pod", "web-pod-1", "web-pod-2"]
    assert [p["containers"][0]["options"]["ports"] for p in found["pods"]] == [
        ["30080:8080/tcp"], ["30081:8080/tcp"], ["30082:8080/tcp"]]
    assert [p["containers"][0]["name"] for p in found["pods"]] == ["web-pod-h", "web-pod-1-h", "web-pod-2-h"]


def test_configmap_and_secret_files() -> None:
    docs = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "m"}, "data": {"a.conf": "x=1\n"}},
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"pw": "aHVudGVyMg=="}},
            _pod({"volumeMounts": [{"name": "conf", "mountPath": "/etc/app"}, {"name": "sec", "mountPath": "/s"}],
                  "envFrom": [{"secretRef": {"name": "s"}, "prefix": "S_"}]},
                 volumes=[{"name": "conf", "configMap": {"name": "m"}},
                          {"name": "sec", "secret": {"secretName": "s", "defaultMode": 0o400,
                                                     "items": [{"key": "pw", "path": "sub/password"}]}}])]
    [pod] = play.plan(docs, "f")["pods"]
    assert pod["sources"] == [{"volume": "p-conf", "files": [("a.conf", b"x=1\n", 0o644)]},
                              {"volume": "p-sec", "files": [("sub/password", b"hunter2", 0o400)]}]
    opts = pod["containers"][0]["options"]
    assert opts["volumes"] == ["p-conf:/etc/app:ro", "p-sec:/s:ro"] and opts["env"] == ["S_pw=hunter2"]


@pytest.mark.parametrize("path", ["../x", "/etc/x", "a/../../x", ".", "a//b", "", "a/."])
def test_item_paths_stay_inside_the_volume(path: str) -> None:
    docs = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "m"}, "data": {"k": "v"}},
            _pod({}, volumes=[{"name": "v", "configMap": {"name": "m", "items": [{"key": "k", "path": path}]}}])]
    assert "give a relative path without '..'" in _refusal(docs)


# ------------------------------------------------------------------------------ fuzzing (tests/test_fuzz.py's)

JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=8)
RICH = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "m"}, "data": {"k": "v"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"pw": "aHVudGVyMg=="}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "labels": {"app": "d"}},
         "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "d"}},
                  "template": {"metadata": {"labels": {"app": "d"}}, "spec": {
                      "restartPolicy": "Always", "securityContext": {"runAsUser": 1, "sysctls": [{"name": "a"}]},
                      "containers": [{"name": "c", "image": "busybox", "command": ["sh"], "args": ["-c", "x"],
                                      "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "m",
                                                                                              "key": "k"}}}],
                                      "envFrom": [{"secretRef": {"name": "s"}}],
                                      "ports": [{"containerPort": 80, "hostPort": 8080, "name": "http"}],
                                      "resources": {"limits": {"memory": "64Mi", "cpu": "1"}},
                                      "volumeMounts": [{"name": "m", "mountPath": "/m"},
                                                       {"name": "e", "mountPath": "/e"}],
                                      "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}},
                                      "livenessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 3}}],
                      "volumes": [{"name": "m", "configMap": {"name": "m", "items": [{"key": "k", "path": "f"}]}},
                                  {"name": "e", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "d"},
         "spec": {"type": "NodePort", "selector": {"app": "d"},
                  "ports": [{"port": 80, "targetPort": "http", "nodePort": 30080}]}}]


def _paths(obj: object, here: tuple = ()) -> list[tuple]:
    found = [here]
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in items:
        found += _paths(value, here + (key,))
    return found


@FUZZ
@given(st.data())
def test_fuzz_plan_of_a_mangled_file_is_a_plan_or_one_line(data: st.DataObject) -> None:
    """Any subtree of a rich file replaced by any JSON value: a plan, or InvalidArgument in one line."""
    import copy

    docs = copy.deepcopy(RICH)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(docs)[1:]))
        where = docs
        for key in path[:-1]:
            where = where[key]
        where[path[-1]] = data.draw(JSON)
    docs = [d for d in docs if isinstance(d, dict)] or [{}]
    try:
        play.plan(docs, "f.yaml")
    except InvalidArgument as e:
        assert "\n" not in str(e)


@FUZZ
@given(st.lists(st.sampled_from(["a:", " ", "\n", "- ", "&x ", "*x", "{", "}", "[", "]", "'", '"', "!!str ",
                                 "kind: Pod", "---", "\t", ":", "#"]) | st.text(max_size=4), max_size=30)
       .map("".join))
def test_fuzz_yaml_reader_is_documents_or_one_line(text: str) -> None:
    try:
        docs = yamlio.load_all(text, "f.yaml")
    except InvalidArgument as e:
        assert "\n" not in str(e)
        return
    assert docs and all(isinstance(d, dict) for d in docs)
