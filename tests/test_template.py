"""The Go template engine of --format, as a table: (template, data, expected output or error).

Expected outputs are what Go's text/template (with docker's functions) prints for the same data
decoded from JSON; errors are Go's wording behind docker's "template parsing error: " prefix.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import SRC

sys.path.insert(0, SRC)

from corral.cli import template  # noqa: E402

pytestmark = pytest.mark.unit

C = {  # a container as `inspect` shows it, cut down
    "Id": "4f66ad9a0b2e",
    "Name": "/web",
    "State": {"Status": "running", "Running": True, "Paused": False, "Pid": 4242, "ExitCode": 0, "Error": ""},
    "Config": {"Labels": {"app": "shop", "tier": "front"}, "Cmd": ["httpd", "-f"], "Env": ["A=1", "B=2"],
               "Entrypoint": None, "Hostname": "web"},
    "NetworkSettings": {"Networks": {"lab": {"IPAddress": "10.1.0.2", "Aliases": None},
                                     "my-net": {"IPAddress": "10.2.0.2"}},
                        "Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}},
    "Mounts": [],
    "Size": 1.5e6,
    "Ratio": 0.25,
    "Whole": 3.0,
    "Empty": "",
    "Zero": 0,
}
N = {"Name": "lab", "IPAM": {"Config": [{"Subnet": "10.1.0.0/24", "Gateway": "10.1.0.1"}]}}
ERR = "template parsing error: template: "

CASES = [
    # text and fields
    ("plain text", C, "plain text"),
    ("", C, ""),
    ("{{.Name}}", C, "/web"),
    ("{{.State.Status}}", C, "running"),
    ("{{.State.Pid}}", C, "4242"),
    ("{{.State.Running}} {{.State.Paused}}", C, "true false"),
    ("{{.NetworkSettings.Networks.lab.IPAddress}}", C, "10.1.0.2"),
    ("{{.Missing}}", C, "<no value>"),
    ("{{.State.Missing}}", C, "<no value>"),
    ("{{.Missing.Deeper}}", C, "<no value>"),
    ("{{.Config.Entrypoint}}", C, "<nil>"),
    ("{{.Config.Labels}}", C, "map[app:shop tier:front]"),
    ("{{.Config.Cmd}}", C, "[httpd -f]"),
    ("{{.Mounts}}", C, "[]"),
    ("{{.NetworkSettings.Ports}}", C, "map[80/tcp:[map[HostIp:0.0.0.0 HostPort:8080]]]"),
    ("{{.IPAM.Config}}", N, "[map[Gateway:10.1.0.1 Subnet:10.1.0.0/24]]"),
    ("{{.}}", "just a string", "just a string"),
    ("{{.}}", [1, "a", None, True], "[1 a <nil> true]"),
    # numbers as Go prints them
    ("{{.Size}}", C, "1.5e+06"),
    ("{{.Ratio}}", C, "0.25"),
    ("{{.Whole}}", C, "3"),
    ("{{1}} {{-2}} {{0x1F}} {{017}} {{1_000}} {{1.5}} {{1e3}} {{'a'}}", C, "1 -2 31 15 1000 1.5 1000 97"),
    ("{{0.000001}}", C, "1e-06"),
    # literals
    ('{{"a\\tb"}}', C, "a\tb"),
    ("{{`raw\\n`}}", C, "raw\\n"),
    ('{{"\\u00e9\\x41"}}', C, "\u00e9A"),
    ("{{true}} {{false}}", C, "true false"),
    # json
    ("{{json .Config.Labels}}", C, '{"app":"shop","tier":"front"}'),
    ("{{json .Config.Cmd}}", C, '["httpd","-f"]'),
    ("{{json .Name}}", C, '"/web"'),
    ("{{json .Missing}}", C, "null"),
    ("{{json .Whole}}", C, "3"),
    ("{{json .State.Running}}", C, "true"),
    ("{{json .}}", {"b": "<&>", "a": 1}, '{"a":1,"b":"<&>"}'),
    ("{{.Config | json}}", {"Config": {"Entrypoint": None}}, '{"Entrypoint":null}'),
    # range
    ("{{range .Config.Cmd}}[{{.}}]{{end}}", C, "[httpd][-f]"),
    ("{{range $i, $e := .Config.Cmd}}{{$i}}={{$e}} {{end}}", C, "0=httpd 1=-f "),
    ("{{range $e := .Config.Env}}{{$e}};{{end}}", C, "A=1;B=2;"),
    ("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}},{{end}}", C, "app=shop,tier=front,"),
    ("{{range .Config.Labels}}{{.}} {{end}}", C, "shop front "),
    ("{{range $name, $net := .NetworkSettings.Networks}}{{$name}}:{{$net.IPAddress}} {{end}}", C,
     "lab:10.1.0.2 my-net:10.2.0.2 "),
    ("{{range .Mounts}}x{{else}}no mounts{{end}}", C, "no mounts"),
    ("{{range .Missing}}x{{else}}none{{end}}", C, "none"),
    ("{{range .Config.Entrypoint}}x{{end}}.", C, "."),
    ("{{range 3}}{{.}}{{end}}", C, "012"),
    ("{{range .Config.Cmd}}{{$.Name}}{{end}}", C, "/web/web"),
    ("{{range .Config.Env}}{{if eq . \"B=2\"}}{{break}}{{end}}{{.}}{{end}}", C, "A=1"),
    ("{{range .Config.Env}}{{if eq . \"A=1\"}}{{continue}}{{end}}{{.}}{{end}}", C, "B=2"),
    ("{{range $i, $e := .Config.Cmd}}{{if $i}},{{end}}{{$e}}{{end}}", C, "httpd,-f"),
    # if / else / with
    ("{{if .State.Running}}up{{else}}down{{end}}", C, "up"),
    ("{{if .State.Paused}}paused{{else}}not{{end}}", C, "not"),
    ("{{if .Empty}}a{{else if .Zero}}b{{else if .Mounts}}c{{else}}d{{end}}", C, "d"),
    ("{{if .Missing}}a{{else if .Config.Labels}}b{{end}}", C, "b"),
    ("{{if .Config.Entrypoint}}set{{else}}nil{{end}}", C, "nil"),
    ("{{if and .State.Running (eq .State.ExitCode 0)}}ok{{end}}", C, "ok"),
    ("{{with .State}}{{.Status}}/{{.Pid}}{{end}}", C, "running/4242"),
    ("{{with .Missing}}x{{else}}no{{end}}", C, "no"),
    ("{{with .Empty}}x{{else with .Name}}{{.}}{{end}}", C, "/web"),
    ("{{with $s := .State.Status}}{{$s}}{{end}}", C, "running"),
    # variables
    ("{{$x := .Name}}{{$x}}", C, "/web"),
    ("{{$x := 1}}{{$x = 2}}{{$x}}", C, "2"),
    ("{{$n := .NetworkSettings.Networks}}{{$n.lab.IPAddress}}", C, "10.1.0.2"),
    ("{{$}}", "root", "root"),
    ("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", C, "2"),
    ("{{with .State}}{{$.Name}} {{.Status}}{{end}}", C, "/web running"),
    # comparison and logic
    ('{{eq .State.Status "running"}}', C, "true"),
    ('{{eq .State.Status "exited" "running"}}', C, "true"),
    ("{{ne .State.Pid 1}}", C, "true"),
    ("{{lt 1 2}} {{le 2 2}} {{gt 1 2}} {{ge 3 2}}", C, "true true false true"),
    ('{{lt "a" "b"}}', C, "true"),
    ('{{eq .Missing "x"}}', C, "false"),
    ("{{and 1 0 2}} {{and 1 2}} {{or 0 \"\" \"x\"}} {{or 0 \"\"}}", C, "0 2 x "),
    ("{{not .State.Running}} {{not .Empty}}", C, "false true"),
    ("{{and .Missing .Nope}}", C, "<no value>"),
    # index, len, slice
    ('{{index .Config.Labels "app"}}', C, "shop"),
    ('{{index .Config.Labels "nope"}}.', C, "."),
    ('{{index .NetworkSettings.Networks "my-net" "IPAddress"}}', C, "10.2.0.2"),
    ("{{index .Config.Cmd 1}}", C, "-f"),
    ('{{(index .NetworkSettings.Ports "80/tcp" 0).HostPort}}', C, "8080"),
    ("{{len .Config.Cmd}} {{len .Config.Labels}} {{len .Name}} {{len \"\u00e9\"}}", C, "2 2 4 2"),
    ("{{slice .Name 1 3}} {{slice .Config.Cmd 1}}", C, "we [-f]"),
    # print, printf, println
    ('{{print "a" 1 2 "b"}}', C, "a1 2b"),
    ("{{print .Missing}}", C, "<no value>"),
    ('{{println "x" 1}}', C, "x 1\n"),
    ('{{printf "%s has pid %d" .Name .State.Pid}}', C, "/web has pid 4242"),
    ('{{printf "%v|%q|%5s|%-5s|%05d|%x|%.2f|%t|%%" .Config.Cmd "a" "b" "c" 42 255 .Ratio true}}', C,
     '[httpd -f]|"a"|    b|c    |00042|ff|0.25|true|%'),
    ('{{printf "%d" "x"}}', C, "%!d(string=x)"),
    ('{{printf "%s %s" "x"}}', C, "x %!s(MISSING)"),
    ('{{printf "%s" "x" 1}}', C, "x%!(EXTRA int=1)"),
    # docker's functions
    ("{{.Name | upper}}", C, "/WEB"),
    ('{{upper "abc"}} {{lower "ABC"}}', C, "ABC abc"),
    ('{{title "hello wide world"}}', C, "Hello Wide World"),
    ('{{split "a:b:c" ":"}}', C, "[a b c]"),
    ('{{join .Config.Env ","}}', C, "A=1,B=2"),
    ('{{range split "x,y" ","}}<{{.}}>{{end}}', C, "<x><y>"),
    ('{{truncate .Id 4}} {{truncate "ab" 5}}', C, "4f66 ab"),
    ('[{{pad .Config.Hostname 2 1}}][{{pad "" 2 2}}]', C, "[  web ][]"),
    ('{{.Name | printf "%s!" | upper}}', C, "/WEB!"),
    ("{{.Config.Labels | len}}", C, "2"),
    # whitespace trimming and comments
    ("a  {{- .Config.Hostname -}}  b", C, "awebb"),
    ("a\n  {{- /* gone */ -}}\n  b", C, "ab"),
    ("{{/* a comment */}}x", C, "x"),
    ("{{- 3}} {{-3}}", C, "3 -3"),
    ("{{range .Config.Cmd -}}\n  {{.}}\n{{- end}}", C, "httpd-f"),
    ("{{ .Name }}", C, "/web"),
    # methods and attributes of Python objects (list rows)
    ('{{.Label "app"}}/{{.Names}}', "row", "shop/web"),
    ("{{.Lazy}}", "row", "computed"),
    ("{{.Port}}", "object", "80"),
    # parse errors
    ("{{.Name", C, ERR + ":1: unclosed action"),
    ("{{nosuch .Name}}", C, ERR + ':1: function "nosuch" not defined'),
    ("{{end}}", C, ERR + ":1: unexpected {{end}}"),
    ("{{else}}", C, ERR + ":1: unexpected {{else}}"),
    ("{{if .X}}a", C, ERR + ":1: unexpected EOF"),
    ("{{if}}{{end}}", C, ERR + ":1: missing value for if"),
    ("{{}}", C, ERR + ":1: missing value for command"),
    ("{{$x}}", C, ERR + ':1: undefined variable "$x"'),
    ("{{.NetworkSettings.Networks.my-net.IPAddress}}", C, ERR + ":1: bad character U+002D '-'"),
    ('{{"open}}', C, ERR + ":1: unterminated quoted string"),
    ("{{`open}}", C, ERR + ":1: unterminated raw quoted string"),
    ("{{/* open }}", C, ERR + ":1: unclosed comment"),
    ("{{3x}}", C, ERR + ':1: bad number syntax: "3x"'),
    ("{{1 | 2}}", C, ERR + ":1: non executable command in pipeline stage 2"),
    ("{{break}}", C, ERR + ":1: {{break}} outside {{range}}"),
    ("{{(.Name}}", C, ERR + ":1: unclosed left paren"),
    ("{{.Name)}}", C, ERR + ":1: unexpected right paren U+0029 ')'"),
    ("{{.Name # x}}", C, ERR + ':1: unexpected "#" in operand'),
    ("{{if .X}}{{else}}{{else}}{{end}}", C, ERR + ":1: expected end; found {{else}}"),
    ("{{range $a, $b, $c := .X}}{{end}}", C, ERR + ":1: too many declarations in range"),
    ("{{1.Name}}", C, ERR + ":1: bad number syntax: \"1.N\""),
    ('{{"x".Name}}', C, ERR + ':1: unexpected . after term "\\"x\\""'),
    ("line one\n{{.A}}\n{{end}}", C, ERR + ":3: unexpected {{end}}"),
    # execution errors
    ("{{.Name.X}}", C, ERR + ':1:7: executing "" at <.Name.X>: can\'t evaluate field X in type interface {}'),
    ("{{.Config.Entrypoint.X}}", C,
     ERR + ':1:9: executing "" at <.Config.Entrypoint.X>: nil pointer evaluating interface {}.X'),
    ('{{eq .State.Pid "x"}}', C,
     ERR + ':1:2: executing "" at <eq .State.Pid "x">: error calling eq: incompatible types for comparison'),
    ("{{index .Config.Cmd 5}}", C,
     ERR + ':1:2: executing "" at <index .Config.Cmd 5>: error calling index: index out of range: 5'),
    ("{{index .Config.Cmd \"a\"}}", C,
     ERR + ':1:2: executing "" at <index .Config.Cmd "a">: error calling index: cannot index slice/array with type '
     'string'),
    ("{{len .State.Pid}}", C, ERR + ':1:2: executing "" at <len .State.Pid>: error calling len: len of type int'),
    ("{{upper 3}}", C, ERR + ':1:8: executing "" at <3>: expected string; found 3'),
    ("{{upper .State.Pid}}", C,
     ERR + ':1:14: executing "" at <.State.Pid>: wrong type for value; expected string; got int'),
    ("{{upper .Missing}}", C, ERR + ':1:8: executing "" at <.Missing>: invalid value; expected string'),
    ('{{truncate .Name "x"}}', C, ERR + ':1:17: executing "" at <"x">: expected integer; found "x"'),
    ("{{index}}", C, ERR + ':1:2: executing "" at <index>: wrong number of args for index: want at least 1 got 0'),
    ('{{upper "a" "b"}}', C, ERR + ':1:2: executing "" at <upper>: wrong number of args for upper: want 1 got 2'),
    ("{{.Name 1}}", C, ERR + ':1:2: executing "" at <.Name>: Name is not a method but has arguments'),
    ("{{range .Name}}{{end}}", C,
     ERR + ':1:8: executing "" at <{{range .Name}}{{end}}>: range can\'t iterate over /web'),
    ("{{nil}}", C, ERR + ':1:2: executing "" at <nil>: nil is not a command'),
    ('{{lt true false}}', C, ERR + ':1:2: executing "" at <lt true false>: error calling lt: invalid type for '
     'comparison'),
    ("x\n  {{.Name.Y}}", C, ERR + ':2:9: executing "" at <.Name.Y>: can\'t evaluate field Y in type interface {}'),
]


class _Row(dict):
    """A list row as the CLI builds them: fields in the dict, methods for fields with arguments."""

    def Label(self, key: str) -> str:  # noqa: N802 - docker's field name
        return {"app": "shop"}.get(key, "")


class _Object:
    def __init__(self) -> None:
        self.Port = 80


def _data(data: object) -> object:
    if data == "row":
        return _Row(Names="web", Lazy=lambda: "computed")
    if data == "object":
        return _Object()
    return data


@pytest.mark.parametrize("text,data,expected", CASES, ids=[c[0][:40] for c in CASES])
def test_template(text, data, expected):
    if expected.startswith(ERR):
        with pytest.raises(template.TemplateError) as e:
            template.render(text, _data(data))
        assert str(e.value) == expected
    else:
        assert template.render(text, _data(data)) == expected


def test_the_table_is_large_enough():
    assert len(CASES) >= 80
    assert sum(c[2].startswith(ERR) for c in CASES) >= 30


def test_a_template_parses_once_and_runs_on_many_objects():
    tmpl = template.parse("{{.Name}}:{{len .Config.Cmd}}")
    assert [template.apply(tmpl, {"Name": n, "Config": {"Cmd": ["a"] * i}}) for i, n in enumerate("ab")] == \
        ["a:0", "b:1"]


def test_the_module_imports_nothing_heavy():
    code = ("import sys; from corral.cli import template; "
            "print(sorted({'re', 'json', 'dataclasses', 'typing', 'functools'} & set(sys.modules)))")
    r = subprocess.run([sys.executable, "-IS", "-c", f"import sys; sys.path.insert(0, {SRC!r}); {code}"],
                       capture_output=True, text=True, check=True)
    assert r.stdout == "[]\n"
