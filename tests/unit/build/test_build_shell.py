"""Shell-word expansion: every line of BuildKit's envVarTest and wordsTest, the lex_test cases, the
instruction expander and the ARG scoping rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from lamina.build.instructions import parse_dockerfile
from lamina.build.shell import BuildArgs, ExpansionError, ShellLex, expand_instruction, platform_args
from lamina.errors import DockerfileError

_HERE = Path(__file__).resolve()
_WORDS = next(
    (
        p / "shared" / "conformance" / "shell-words"
        for p in _HERE.parents
        if (p / "shared" / "conformance").is_dir()
    ),
    Path("/nonexistent"),
)
_ENV_VAR_ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}


def _env_var_cases() -> list[object]:
    path = _WORDS / "envVarTest"
    if not path.exists():
        return [pytest.param("A", "", "", marks=pytest.mark.skip(reason="conformance corpus missing"))]
    cases: list[object] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        platform, text, expected = (field.strip() for field in line.split("|"))
        marks = [pytest.mark.skip(reason="Windows-only: case-insensitive names")] if platform == "W" else []
        cases.append(pytest.param(platform, text, expected, marks=marks, id=f"line{number}"))
    return cases


@pytest.mark.parametrize(("platform", "text", "expected"), _env_var_cases())
def test_env_var_table(platform: str, text: str, expected: str) -> None:
    lex = ShellLex()
    if expected == "error":
        with pytest.raises(ExpansionError):
            lex.process_word(text, _ENV_VAR_ENV)
    else:
        assert lex.process_word(text, _ENV_VAR_ENV) == expected


def _words_cases() -> list[object]:
    path = _WORDS / "wordsTest"
    if not path.exists():
        return [pytest.param("", {}, [], marks=pytest.mark.skip(reason="conformance corpus missing"))]
    env: dict[str, str] = {}
    cases: list[object] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("#"):
            continue
        if line.startswith("ENV "):
            name, _, value = line.split(" ", 1)[1].partition("=")
            env[name] = value
            continue
        text, expected = line.split("|")
        cases.append(pytest.param(text.strip(), dict(env), expected.lstrip().split(","), id=f"line{number}"))
    return cases


@pytest.mark.parametrize(("text", "env", "expected"), _words_cases())
def test_words_table(text: str, env: dict[str, str], expected: list[str]) -> None:
    try:
        words = ShellLex().process_words(text, env)
    except ExpansionError:
        words = ["error"]
    assert words == expected


_FOO_BAR = {"FOO": "xxx", "BAR": ""}


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("x ${UNUSED}", {"DUMMY": "dummy"}, "x "),
        ("${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", _FOO_BAR, "xxx  ccc"),
        ("${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", _FOO_BAR, "xxx bbb ccc"),
        ("${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", _FOO_BAR, "aaa bbb "),
        ("${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", _FOO_BAR, "aaa  "),
        ("${FOO?aaa}", _FOO_BAR, "xxx"),
        ("${BAR?bbb}", _FOO_BAR, ""),
        ("${FOO:?aaa}", _FOO_BAR, "xxx"),
        ("${VAR?message here$ARG}", {"VAR": "", "ARG": "x"}, ""),
        ("${FOO#()[]{\\}^$.\\*\\?|\\\\}", {"FOO": "()[]{}^$.*?|\\x"}, "x"),
        ("${FOO%%\\**}", {"FOO": "xx**"}, "xx"),
        ("${FOO#*x*y}", {"FOO": "xxyy"}, "y"),
        ("${FOO#*}", {"FOO": "xxyy"}, "xxyy"),
        ("${FOO##*x}", {"FOO": "xxyy"}, "yy"),
        ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": "x"}, "xyy"),
        ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": ""}, "xxyy"),
        ("${FOO#}", {"FOO": "xxyy"}, "xxyy"),
        ("${FOO##}", {"FOO": "xxyy"}, "xxyy"),
        ("${FOO%}", {"FOO": "xxyy"}, "xxyy"),
        ("${FOO%%$BAR}", {"FOO": "xxyy", "BAR": ""}, "xxyy"),
        ("${FOO#?\\?}", {"FOO": "???y"}, "?y"),
        ("${ABC:-.}${FOO%x}${ABC:-.}", {"FOO": "xxyy"}, ".xxyy."),
        ("${FOO%%\\**\\*}", {"FOO": "a***yy*"}, "a"),
        (
            "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
            {"FOO": "/foo*/*/*.txt", "NEEDLE": "\\*/"},
            "/foo.*/*.txt - /foo..*.txt",
        ),
        (
            "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
            {"FOO": "/tmp/tmp/bar.txt", "NEEDLE": "/tmp"},
            "/tmp/bar.txt - /bar.txt",
        ),
        (
            "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
            {"FOO": "/a/foo/b/c.txt", "NEEDLE": "/?/", "REPLACEMENT": "/"},
            "/foo/b/c.txt - /foo/c.txt",
        ),
        (
            "${FOO/$NEEDLE/$REPLACEMENT}",
            {"FOO": "http://google.de", "NEEDLE": "http://", "REPLACEMENT": "https://"},
            "https://google.de",
        ),
        ("${FOO//\\//\\/}", {"FOO": "/tmp/foo.txt"}, "\\/tmp\\/foo.txt"),
        ("${FOO/$BAR/ww}", {"FOO": "xxyy", "BAR": ""}, "wwxxyy"),
        ("${FOO///}", {"FOO": "xxyy"}, "xxyy"),
        ("${FOO///}", {}, ""),
        (
            "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz",
            {"VERSION": "v1.2.3", "TARGETOS": "linux", "TARGETARCH": "arm", "TARGETVARIANT": "v7"},
            "something-v1.2.3.linux-arm-v7.tar.gz",
        ),
        (
            "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz",
            {"VERSION": "v1.2.3", "TARGETOS": "linux", "TARGETARCH": "arm64", "TARGETVARIANT": ""},
            "something-v1.2.3.linux-arm64.tar.gz",
        ),
        (
            "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz",
            {"VERSION": "v1.2.3", "TARGETOS": "linux", "TARGETARCH": "arm64"},
            "something-v1.2.3.linux-arm64.tar.gz",
        ),
    ],
)
def test_lex_cases(text: str, env: dict[str, str], expected: str) -> None:
    assert ShellLex().process_word(text, env) == expected


@pytest.mark.parametrize(
    ("text", "env"),
    [
        ("${BAZ?ccc}", _FOO_BAR),
        ("${BAR:?bbb}", _FOO_BAR),
        ("${BAZ:?ccc}", _FOO_BAR),
        ("${BAZ:?}", _FOO_BAR),
        ("${FOO=aaa}", {}),
        ("${FOO=:aaa}", {}),
        ("${FOO=}", {}),
        ("${FOO:#}", {}),
        ("${FOO:##}", {}),
        ("${FOO:%}", {}),
        ("${FOO:%%}", {}),
        ("${FOO//ww}", {"FOO": "xxyy"}),
        ("${FOO//}", {"FOO": "xxyy"}),
    ],
)
def test_lex_errors(text: str, env: dict[str, str]) -> None:
    with pytest.raises(ExpansionError):
        ShellLex().process_word(text, env)


@pytest.mark.parametrize("env", [{"VAR": "", "ARG": "x"}, {"ARG": "x"}])
def test_required_message_is_expanded(env: dict[str, str]) -> None:
    with pytest.raises(ExpansionError, match="message herex"):
        ShellLex().process_word("${VAR:?message here$ARG}", env)


def test_matches_and_unmatches_are_reported() -> None:
    result = ShellLex().expand("x ${UNUSED} $DUMMY", {"DUMMY": "dummy"})
    assert (result.result, result.matched, result.unmatched) == ("x  dummy", {"DUMMY"}, {"UNUSED"})


def test_backtick_escape_token() -> None:
    lex = ShellLex("`")
    assert lex.process_word("a`$b c\\d", {"b": "x"}) == "a$b c\\d"
    assert lex.process_word('"`"x"', {}) == '"x'


def test_skip_unset_and_raw_modes() -> None:
    assert ShellLex(skip_unset=True).process_word("$A ${B} ${C:-x} $D", {"D": "d"}) == "$A ${B} ${C:-x} d"
    assert (
        ShellLex(raw_quotes=True, raw_escapes=True).process_word("'a' \"$X\" \\$", {"X": "1"})
        == "'a' \"1\" \\$"
    )


# ---------------------------------------------------------------------- expand_instruction
def _instructions(text: str) -> list[object]:
    return list(parse_dockerfile("FROM a\n" + text).stages[0].instructions)


def test_expand_instruction_fields() -> None:
    env = {"SRC": "src dir", "DST": "/d", "P": "80 443", "U": "me", "V": "1", "W": "/w", "FROM": "st"}
    copy, env_i, expose, user, workdir, run, cmd = _instructions(
        'COPY --from=$FROM --chown=$U "$SRC" ${DST}/\nENV A=$V B="${V} 2"\nEXPOSE $P 22\nUSER $U\n'
        "WORKDIR $W/x\nRUN --mount=type=cache,target=$W echo $V\nCMD echo $V\n"
    )
    assert expand_instruction(copy, env).sources == ("src dir",)  # type: ignore[attr-defined]
    assert expand_instruction(copy, env).dest == "/d/"  # type: ignore[attr-defined]
    assert expand_instruction(copy, env).from_ == "st"  # type: ignore[attr-defined]
    assert expand_instruction(env_i, env).pairs == (("A", "1"), ("B", "1 2"))  # type: ignore[attr-defined]
    assert expand_instruction(expose, env).ports == ("80", "443", "22")  # type: ignore[attr-defined]
    assert expand_instruction(user, env).user == "me"  # type: ignore[attr-defined]
    assert expand_instruction(workdir, env).path == "/w/x"  # type: ignore[attr-defined]
    expanded_run = expand_instruction(run, env)
    assert expanded_run.mounts[0].target == "/w"  # type: ignore[attr-defined]
    assert expanded_run.cmd == ("echo $V",)  # type: ignore[attr-defined]
    assert expand_instruction(cmd, env) is cmd


def test_expand_heredoc_content_keeps_quotes() -> None:
    (copy,) = _instructions("COPY <<EOF /f\n\"$V\" 'x'\nEOF\n")
    expanded = expand_instruction(copy, {"V": "1"})
    assert expanded.heredocs[0].content == "\"1\" 'x'\n"  # type: ignore[attr-defined]
    (quoted,) = _instructions("COPY <<'EOF' /f\n$V\nEOF\n")
    assert expand_instruction(quoted, {"V": "1"}).heredocs[0].content == "$V\n"  # type: ignore[attr-defined]


def test_expand_error_has_location() -> None:
    (workdir,) = _instructions("WORKDIR ${X:?must be set}\n")
    with pytest.raises(DockerfileError, match="X: must be set") as info:
        expand_instruction(workdir, {})
    assert info.value.location == (2, 2)


def test_expand_from_with_meta_args() -> None:
    dockerfile = parse_dockerfile("ARG TAG=3\nFROM --platform=$BUILDPLATFORM alpine:$TAG AS b\n")
    head = dockerfile.stages[0].from_
    assert head is not None
    args = BuildArgs({"TAG": "4"}, target_platform="linux/arm64/v8", build_platform="linux/amd64")
    args.add_meta("TAG", "3")
    expanded = expand_instruction(head, args.meta_env())
    assert (expanded.image, expanded.platform) == ("alpine:4", "linux/amd64")


# ---------------------------------------------------------------------- BuildArgs
def test_meta_args_only_visible_after_redeclaration() -> None:
    args = BuildArgs()
    args.add_meta("VERSION", "1.0")
    assert args.meta_env()["VERSION"] == "1.0"
    args.enter_stage()
    assert "VERSION" not in args.stage_env()
    assert args.declare("VERSION", None) == "1.0"
    assert args.stage_env()["VERSION"] == "1.0"
    args.enter_stage()
    assert "VERSION" not in args.stage_env()


def test_build_arg_overrides_defaults() -> None:
    args = BuildArgs({"A": "cli", "B": "cli-b"})
    args.add_meta("B", "meta")
    args.enter_stage()
    assert args.declare("A", "default") == "cli"
    assert args.declare("B", None) == "cli-b"
    assert args.declare("C", "c") == "c"
    assert args.declare("D", None) is None
    assert args.stage_env() == {"A": "cli", "B": "cli-b", "C": "c"}


def test_env_overrides_arg() -> None:
    args = BuildArgs()
    args.enter_stage()
    args.declare("X", "arg")
    assert args.expansion_env({"X": "env"})["X"] == "env"
    assert args.run_env({"X": "env"}) == {}


def test_proxy_args_usable_without_arg_and_hidden_from_history() -> None:
    args = BuildArgs({"HTTP_PROXY": "http://p:3128", "https_proxy": "http://q", "ftp_proxy": None})
    args.enter_stage()
    assert args.run_env({}) == {"HTTP_PROXY": "http://p:3128", "https_proxy": "http://q"}
    assert args.history_env({}) == []
    args.declare("HTTP_PROXY", None)
    assert args.history_env({}) == ["HTTP_PROXY=http://p:3128"]
    assert args.unused_warnings() == []


def test_platform_args() -> None:
    assert platform_args("linux/arm/v7", "linux/amd64") == {
        "TARGETPLATFORM": "linux/arm/v7",
        "TARGETOS": "linux",
        "TARGETARCH": "arm",
        "TARGETVARIANT": "v7",
        "BUILDPLATFORM": "linux/amd64",
        "BUILDOS": "linux",
        "BUILDARCH": "amd64",
        "BUILDVARIANT": "",
    }
    args = BuildArgs(target_platform="linux/arm64")
    assert args.meta_env()["TARGETARCH"] == "arm64"
    args.enter_stage()
    assert "TARGETARCH" not in args.stage_env()
    assert args.declare("TARGETARCH", None) == "arm64"


def test_unused_build_args_warning() -> None:
    args = BuildArgs({"USED": "1", "B_UNUSED": "2", "A_UNUSED": "3", "TARGETOS": "x"})
    args.enter_stage()
    args.declare("USED", None)
    assert args.unused() == ["A_UNUSED", "B_UNUSED"]
    assert args.unused_warnings() == [
        "[Warning] One or more build-args [A_UNUSED B_UNUSED] were not consumed"
    ]
