"""Go text/template subset: expected outputs follow Go's text/template and docker/cli's templates tests."""

from __future__ import annotations

import dataclasses

import pytest

from lamina.cli.gotemplate import Template, go_json, go_str, sprintf
from lamina.errors import InvalidTemplate

DATA = {
    "Id": "sha256:abc",
    "Name": "/web",
    "RepoTags": ["alpine:3.19", "alpine:latest"],
    "Args": ["-c", "echo hi"],
    "Config": {
        "Labels": {"org.b": "2", "org.a": "1"},
        "Env": ["A=1", "B=2"],
        "ExposedPorts": {},
        "Volumes": None,
        "User": "",
    },
    "State": {"Status": "running", "Running": True, "Pid": 42, "ExitCode": 0},
    "Size": 4260000,
    "Ratio": 1.5,
    "Mounts": [{"Source": "/a", "Destination": "/b"}],
    "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}, "host": {"IPAddress": ""}}},
    "Html": "<a&b>",
}


def render(text: str, data: object = DATA) -> str:
    return Template(text).render(data)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain text", "plain text"),
        ("{{.Id}}", "sha256:abc"),
        ("{{ .Id }}", "sha256:abc"),
        ("{{.State.Status}}", "running"),
        ("{{.NetworkSettings.Networks.bridge.IPAddress}}", "172.17.0.2"),
        ("{{.State.Pid}}", "42"),
        ("{{.State.Running}}", "true"),
        ("{{.Ratio}}", "1.5"),
        ("{{.RepoTags}}", "[alpine:3.19 alpine:latest]"),
        ("{{.Config.Labels}}", "map[org.a:1 org.b:2]"),
        ("{{.Config.ExposedPorts}}", "map[]"),
        ("{{.Config.Volumes}}", "<nil>"),
        ("{{.Missing}}", "<no value>"),
        ("{{.Missing.Deeper}}", "<no value>"),
        ("{{.Mounts}}", "[map[Destination:/b Source:/a]]"),
        ("{{.}}", go_str(DATA)),
        ("{{json .Config.Labels}}", '{"org.b":"2","org.a":"1"}'),
        ("{{.Config.Env | json}}", '["A=1","B=2"]'),
        ("{{json .Html}}", '"<a&b>"'),
        ("{{json .Config.Volumes}}", "null"),
        ('{{index .Config.Labels "org.a"}}', "1"),
        ('{{index .Config.Labels "nope"}}', ""),
        ("{{index .RepoTags 1}}", "alpine:latest"),
        ('{{index .NetworkSettings.Networks "bridge" | json}}', '{"IPAddress":"172.17.0.2"}'),
        ("{{len .RepoTags}}", "2"),
        ("{{len .Name}}", "4"),
        ("{{len .Config.Labels}}", "2"),
        ('{{printf "%s:%d" .Name .State.Pid}}', "/web:42"),
        ('{{printf "%q" .Name}}', '"/web"'),
        ('{{printf "%v %v" .RepoTags .State.Running}}', "[alpine:3.19 alpine:latest] true"),
        ('{{printf "%5d|%-5s|%05d" 42 "ab" 7}}', "   42|ab   |00007"),
        ('{{printf "%.2f %x %X %o %t %c" 1.5 255 255 8 true 65}}', "1.50 ff FF 10 true A"),
        ('{{printf "%d"}}', "%!d(MISSING)"),
        ('{{printf "%d" "x"}}', "%!d(string=x)"),
        ('{{printf "a" 1}}', "a%!(EXTRA int=1)"),
        ('{{printf "100%%"}}', "100%"),
        ("{{println .Name}}", "/web\n"),
        ("{{println .Name .State.Pid}}", "/web 42\n"),
        ("{{print}}", ""),
        ('{{print 1 2 "a" 3 "b" "c"}}', "1 2a3bc"),
        ("{{print .Config.Volumes}}", "<nil>"),
        ("{{print .Missing}}", "<nil>"),
        ("{{html .Html}}", "&lt;a&amp;b&gt;"),
        ('{{urlquery "a b&c"}}', "a+b%26c"),
        ("{{slice .Name 1 3}}", "we"),
        ('{{"a\\tb\\n\\x41\\u00e9\\101"}}', "a\tb\nAéA"),
        ("{{`raw\\n`}}", "raw\\n"),
        ("{{'a'}}", "97"),
        ("{{0x1F}} {{1e3}} {{-5}} {{1_000}}", "31 1000 -5 1000"),
        ("{{true}} {{false}}", "true false"),
    ],
)
def test_render(text: str, expected: str) -> None:
    assert render(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{range .RepoTags}}[{{.}}]{{end}}", "[alpine:3.19][alpine:latest]"),
        ("{{range $i, $t := .RepoTags}}{{$i}}={{$t}} {{end}}", "0=alpine:3.19 1=alpine:latest "),
        ("{{range $t := .RepoTags}}{{$t}};{{end}}", "alpine:3.19;alpine:latest;"),
        ("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}},{{end}}", "org.a=1,org.b=2,"),
        ("{{range .Config.Env}}{{.}}{{else}}empty{{end}}", "A=1B=2"),
        ("{{range .Config.ExposedPorts}}x{{else}}empty{{end}}", "empty"),
        ("{{range .Config.Volumes}}x{{else}}none{{end}}", "none"),
        ("{{range .NetworkSettings.Networks}}{{println .IPAddress}}{{end}}", "172.17.0.2\n\n"),
        ("{{range .Mounts}}{{.Source}}:{{.Destination}}{{end}}", "/a:/b"),
        ("{{range $i, $e := .RepoTags}}{{if eq $i 1}}{{break}}{{end}}{{$e}}{{end}}", "alpine:3.19"),
        ('{{range .RepoTags}}{{if eq . "alpine:3.19"}}{{continue}}{{end}}{{.}}{{end}}', "alpine:latest"),
        ("{{range .RepoTags}}{{$.Name}}{{end}}", "/web/web"),
        ("{{range 3}}{{.}}{{end}}", "012"),
        ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
        ("{{if .Config.User}}user{{else}}root{{end}}", "root"),
        ("{{if .Missing}}yes{{else}}no{{end}}", "no"),
        ('{{if eq .State.Status "running"}}R{{else if eq .State.Status "exited"}}E{{else}}?{{end}}', "R"),
        ('{{if eq .State.Status "exited"}}E{{else if .State.Running}}R{{end}}', "R"),
        ('{{if eq .State.Status "a" "b" "running"}}multi{{end}}', "multi"),
        ('{{if ne .Name "/db"}}ne{{end}}', "ne"),
        (
            "{{if lt .State.Pid 100}}lt{{end}}{{if le 1 1}}le{{end}}"
            "{{if gt 2 1}}gt{{end}}{{if ge 1 2}}ge{{end}}",
            "ltlegt",
        ),
        ('{{if lt "a" "b"}}strings{{end}}', "strings"),
        ("{{if and .State.Running .Name}}and{{end}}", "and"),
        ("{{and .State.Running .Config.User}}|{{or .Config.User .Name}}", "|/web"),
        ("{{if or .Missing .Config.Volumes}}x{{else}}neither{{end}}", "neither"),
        ("{{if not .Config.User}}empty user{{end}}", "empty user"),
        ("{{with .State}}{{.Status}}/{{.Pid}}{{end}}", "running/42"),
        ("{{with .Config.User}}{{.}}{{else}}no user{{end}}", "no user"),
        ("{{with .Missing}}x{{else with .Name}}{{.}}{{end}}", "/web"),
        ("{{$n := .Name}}{{with .State}}{{$n}} {{.Status}}{{end}}", "/web running"),
        ("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", "2"),
        ("{{(index .RepoTags 0)}}", "alpine:3.19"),
        ("{{(.State).Status}}", "running"),
        ('{{join .RepoTags ", "}}', "alpine:3.19, alpine:latest"),
        ('{{join (split .Name "/") "-"}}', "-web"),
        ('{{split "a:b:c" ":"}}', "[a b c]"),
        ('{{index (split "a:b" ":") 1}}', "b"),
        ('{{upper .Name}} {{lower "ABC"}} {{title "hello world-x y_z"}}', "/WEB abc Hello World-X Y_z"),
        ('{{.Name | upper | printf "<%s>"}}', "</WEB>"),
        ("{{truncate .Id 6}}|{{truncate .Id 100}}", "sha256|sha256:abc"),
        ("{{pad .Name 2 1}}|{{pad .Config.User 2 1}}|", "  /web ||"),
    ],
)
def test_control_and_functions(text: str, expected: str) -> None:
    assert render(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a  {{- .Name -}}  b", "a/webb"),
        ("a\n\t{{- .Name}}\n", "a/web\n"),
        ("{{.Name -}}\n\n  x", "/webx"),
        ("{{- /* comment */ -}}  x", "x"),
        ("a {{/* comment */}} b", "a  b"),
        ("{{range .RepoTags -}}\n  {{.}}\n{{- end}}", "alpine:3.19alpine:latest"),
        ("{{-3}}", "-3"),
    ],
)
def test_whitespace_trimming_and_comments(text: str, expected: str) -> None:
    assert render(text) == expected


def test_docker_templates_tests() -> None:
    # docker/cli templates_test.go
    assert render("{{json .Ports}}", {"Ports": "0.0.0.0:2->8/udp"}) == '"0.0.0.0:2->8/udp"'
    assert render('{{join (split . ":") "/"}}', "text:with:colon") == "text/with/colon"
    assert render("this is a {{ . }}", "string") == "this is a string"
    source = "tupx5xzf6hvsrhnruz5cr8gwp"
    assert render("{{truncate . 5}}", source) == "tupx5"
    assert render("{{truncate . 25}}", source) == source
    assert render("{{truncate . 30}}", source) == source
    assert render("{{pad . 3 3}}", source) == f"   {source}   "
    for text in ("{{truncate . 5}}", "{{pad . 3 3}}"):
        assert render(text, "") == ""
        with pytest.raises(InvalidTemplate):
            render(text, None)


def test_header_functions_leave_the_header_alone() -> None:
    for text in (
        "{{ json .}}",
        '{{ split . ","}}',
        '{{ join . ","}}',
        "{{ title .}}",
        "{{ lower .}}",
        "{{ upper .}}",
    ):
        assert Template(text).render_header("hello world") == "hello world"
    assert Template("{{ truncate . 2}}").render_header("hello world") == "hello world"
    assert (
        Template("{{.ID}}\t{{upper .Name}}").render_header({"ID": "IMAGE ID", "Name": "NAME"})
        == "IMAGE ID\tNAME"
    )


def test_header_render_keeps_output_before_an_error() -> None:
    assert Template("{{.A}}-{{.A.B}}").render_header({"A": "X"}) == "X-"


@dataclasses.dataclass(frozen=True)
class _Image:
    ID: str
    Tags: list[str]

    def Short(self) -> str:
        return self.ID[:3]

    def Label(self, key: str) -> str:
        return f"label:{key}"


def test_objects_by_attribute_and_methods() -> None:
    image = _Image("abcdef", ["a", "b"])
    assert render("{{.ID}} {{.Short}} {{.Tags}}", image) == "abcdef abc [a b]"
    assert render('{{.Label "com.x"}}', image) == "label:com.x"
    assert render("{{.}}", image) == "{abcdef [a b]}"
    assert render("{{json .}}", image) == '{"ID":"abcdef","Tags":["a","b"]}'
    assert render('{{.Label "k"}}', {"Label": lambda key: key.upper()}) == "K"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{.Id}", 'template: :1: unexpected "}" in operand'),
        ("{{.Id", "template: :1: unclosed action"),
        ("line1\n{{if .Id}}x", "template: :2: unexpected EOF"),
        ("{{end}}", "template: :1: unexpected {{end}}"),
        ("{{else}}", "template: :1: unexpected {{else}}"),
        ("{{nosuch .Id}}", 'template: :1: function "nosuch" not defined'),
        ("{{$x}}", 'template: :1: undefined variable "$x"'),
        ('{{"abc}}', "template: :1: unterminated quoted string"),
        ("{{}}", "template: :1: missing value for command"),
        ("{{if}}{{end}}", "template: :1: missing value for if"),
        ("{{break}}", "template: :1: {{break}} outside {{range}}"),
        ("{{.Id | 3}}", "template: :1: non executable command in pipeline stage 2"),
        ("{{/* open", "template: :1: unclosed comment"),
        ('{{template "x"}}', "template: :1: {{template}} is not supported"),
        ("{{3x}}", 'template: :1: bad number syntax: "3x"'),
        ("{{(.Id}}", 'template: :1: unexpected "}}" in parenthesized pipeline'),
        ("{{.Id)}}", 'template: :1: unexpected ")" in command'),
        ('{{"\\q"}}', "template: :1: invalid syntax"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidTemplate) as info:
        Template(text)
    assert info.value.fields["template"] == text
    assert str(info.value) == f"template parsing error: {message}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{upper .State.Pid}}", "at <.State.Pid>: wrong type for value; expected string; got int"),
        ("{{index .RepoTags 5}}", "at <index .RepoTags 5>: error calling index: index out of range: 5"),
        ("{{.Config.Volumes.X}}", "nil pointer evaluating interface {}.X"),
        ("{{.Name.Foo}}", "can't evaluate field Foo in type string"),
        ('{{eq .State.Pid "x"}}', "error calling eq: incompatible types for comparison"),
        ("{{lt true false}}", "error calling lt: invalid type for comparison"),
        ("{{eq .RepoTags .RepoTags}}", "error calling eq: non-comparable type"),
        ("{{range .Name}}{{end}}", "range can't iterate over /web"),
        ("{{.Name 1}}", "Name is not a method but has arguments"),
        ("{{len 3}}", "error calling len: len of type int"),
        ("{{join .RepoTags}}", "wrong number of args for join: want 2 got 1"),
        ('{{join .Mounts ","}}', "wrong type for value; expected []string; got []interface {}"),
        ("{{nil}}", "nil is not a command"),
        ("{{.Name | .State}}", "State is not a method but has arguments"),
        ("{{1 | printf}}", "wrong type for value; expected string; got int"),
    ],
)
def test_execution_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidTemplate) as info:
        render(text)
    assert str(info.value).startswith("template parsing error: template: :1:")
    assert 'executing ""' in str(info.value)
    assert str(info.value).endswith(message)


def test_execution_error_position() -> None:
    with pytest.raises(InvalidTemplate, match=r'template: :2:5: executing "" at <\.Foo\.Bar>'):
        render("x\nab {{.Foo.Bar}}", {"Foo": None})


def test_missing_key_error_mode() -> None:
    strict = Template("{{.State.Nope}}", missing_key="error")
    with pytest.raises(InvalidTemplate, match='map has no entry for key "Nope"'):
        strict.render(DATA)
    assert Template("{{.State.Status}}", missing_key="error").render(DATA) == "running"


def test_compile_once_render_many() -> None:
    template = Template("{{.A}}-{{.B}}")
    assert [template.render({"A": i, "B": i * 2}) for i in range(3)] == ["0-0", "1-2", "2-4"]
    assert template.text == "{{.A}}-{{.B}}"


def test_variables_are_scoped_to_their_block() -> None:
    with pytest.raises(InvalidTemplate, match='undefined variable "\\$y"'):
        Template("{{if true}}{{$y := 1}}{{end}}{{$y}}")
    assert render("{{range $i, $e := .RepoTags}}{{$v := $e}}{{end}}ok") == "ok"


# ---------------------------------------------------------------- value formatting
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.0, "1"),
        (0.1, "0.1"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (1e21, "1e+21"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-2.5, "-2.5"),
        (float("inf"), "+Inf"),
        (float("nan"), "NaN"),
        ([1, "a", None, True], "[1 a <nil> true]"),
        ({"b": [1], "a": {"x": 1}}, "map[a:map[x:1] b:[1]]"),
        ({2: "b", 1: "a"}, "map[1:a 2:b]"),
        ((), "[]"),
    ],
)
def test_go_str(value: object, expected: str) -> None:
    assert go_str(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"a": "<x>&"}, '{"a":"\\u003cx\\u003e\\u0026"}'),
        ("line\u2028sep", '"line\\u2028sep"'),
        ("tab\tnl\nctl\x01", '"tab\\tnl\\nctl\\u0001"'),
        ("é", '"é"'),
        (1.0, "1"),
        (1e21, "1e+21"),
        (1e-7, "1e-7"),
        (0.000001, "0.000001"),
        (123456789012345680000.0, "123456789012345680000"),
        ([], "[]"),
        ({}, "{}"),
        ((1, None, False), "[1,null,false]"),
    ],
)
def test_go_json(value: object, expected: str) -> None:
    assert go_json(value) == expected


def test_go_json_indent_and_errors() -> None:
    assert go_json({"a": [1, {}], "b": {}}, indent="  ") == '{\n  "a": [\n    1,\n    {}\n  ],\n  "b": {}\n}'
    with pytest.raises(ValueError, match="unsupported value"):
        go_json(float("nan"))
    assert render("{{json .}}", float("nan")) == ""


@pytest.mark.parametrize(
    ("fmt", "args", "expected"),
    [
        ("%s:%d", ["a", 1], "a:1"),
        ("%6.2f|%-4d|%+d", [3.14159, 7, 3], "  3.14|7   |+3"),
        ("%e %g %g", [1234.5678, 0.00001234, 100000.0], "1.234568e+03 1.234e-05 100000"),
        ("%x %s", ["hi", ["a", "b"]], "6869 [a b]"),
        ("%s", [5], "%!s(int=5)"),
        ("%s", [None], "%!s(<nil>)"),
        ("%q", ['a"b'], '"a\\"b"'),
        ("%.2s", ["abcdef"], "ab"),
        ("%z", [1], "%!z(int=1)"),
        ("trailing %", [], "trailing %!(NOVERB)"),
        ("%v", [{"k": 1}], "map[k:1]"),
        ("%#x %08.3f", [255, -3.5], "0xff -003.500"),
    ],
)
def test_sprintf(fmt: str, args: list[object], expected: str) -> None:
    assert sprintf(fmt, args) == expected
