"""Typed instructions: each instruction's fields, BuildKit's error messages, stages and meta ARGs."""

from __future__ import annotations

import pytest

from lamina.build.instructions import (
    Add,
    Arg,
    Cmd,
    Copy,
    Entrypoint,
    Env,
    Expose,
    From,
    Healthcheck,
    Label,
    Maintainer,
    Onbuild,
    Run,
    Shell,
    Stopsignal,
    User,
    Volume,
    Workdir,
    parse_dockerfile,
    parse_go_duration,
    parse_mount,
)
from lamina.errors import DockerfileError


def _one(line: str) -> object:
    (instruction,) = parse_dockerfile("FROM base\n" + line + "\n").stages[0].instructions
    return instruction


def _error(text: str, match: str) -> DockerfileError:
    with pytest.raises(DockerfileError, match=match) as info:
        parse_dockerfile(text)
    return info.value


def test_stages_meta_args_and_directives() -> None:
    dockerfile = parse_dockerfile(
        "# syntax=docker/dockerfile:1\nARG BASE=alpine\nARG V\nFROM --platform=linux/arm64 $BASE AS Builder\n"
        "RUN make\nFROM scratch\nCOPY --from=builder /out /\n"
    )
    assert dockerfile.directives == {"syntax": "docker/dockerfile:1"}
    assert [(a.name, a.default) for a in dockerfile.meta_args] == [("BASE", "alpine"), ("V", None)]
    first, second = dockerfile.stages
    assert (first.name, first.base, first.platform, first.index) == ("builder", "$BASE", "linux/arm64", 0)
    assert (second.name, second.base, second.index) == (None, "scratch", 1)
    assert dockerfile.stage("BUILDER") is first and dockerfile.stage(1) is second
    assert isinstance(first.instructions[0], Run)
    with pytest.raises(DockerfileError, match="target stage 'nope' could not be found"):
        dockerfile.stage("nope")


def test_locations_and_original() -> None:
    run = _one("RUN a \\\n  b")
    assert isinstance(run, Run)
    assert run.location == (2, 3) and run.original == "RUN a   b"


def test_from_forms_and_errors() -> None:
    head = parse_dockerfile("FROM img:1 as x\n").stages[0].from_
    assert head == From(
        image="img:1", stage_name="x", platform=None, location=(1, 1), original="FROM img:1 as x"
    )
    _error("FROM a b\n", "FROM requires either one or three arguments")
    _error("FROM a AS 1x\n", "invalid name for build stage")
    _error("FROM a AS x\nFROM b AS X\n", "duplicate stage name 'x'")
    _error("ARG A\n", "dockerfile contains no stages")
    _error("RUN x\nFROM a\n", "no build stage in current context")


def test_run_forms() -> None:
    shell = _one("RUN echo $HOME && ls")
    assert isinstance(shell, Run) and shell.shell_form and shell.cmd == ("echo $HOME && ls",)
    exec_form = _one('RUN ["sh", "-c", "x"]')
    assert isinstance(exec_form, Run) and not exec_form.shell_form and exec_form.cmd == ("sh", "-c", "x")
    heredoc = _one("RUN <<EOF\necho hi\nEOF")
    assert isinstance(heredoc, Run) and heredoc.heredocs[0].content == "echo hi\n"
    _error("FROM a\nRUN\n", "RUN requires at least one argument")


def test_run_flags_and_mounts() -> None:
    run = _one(
        "RUN --network=none --mount=type=cache,target=/root/.cache,id=pip,sharing=locked,uid=1000 "
        "--mount=type=bind,from=builder,source=/out,target=/in,rw "
        "--mount=type=secret,id=token,required --mount=type=tmpfs,target=/t,size=64m pip install"
    )
    assert isinstance(run, Run) and run.network == "none"
    cache, bind, secret, tmpfs = run.mounts
    assert (cache.type, cache.target, cache.id, cache.sharing, cache.uid, cache.readonly) == (
        "cache",
        "/root/.cache",
        "pip",
        "locked",
        1000,
        False,
    )
    assert (bind.type, bind.from_, bind.source, bind.target, bind.readonly) == (
        "bind",
        "builder",
        "/out",
        "/in",
        False,
    )
    assert (secret.type, secret.id, secret.required, secret.readonly) == ("secret", "token", True, True)
    assert (tmpfs.type, tmpfs.size, tmpfs.readonly) == ("tmpfs", 64 << 20, False)
    default = _one("RUN --mount=target=/x ls")
    assert isinstance(default, Run) and (default.mounts[0].type, default.mounts[0].readonly) == ("bind", True)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("type=nfs,target=/x", "unsupported mount type 'nfs'"),
        ("type=cache,target=/x,sharing=maybe", "unsupported sharing value 'maybe'"),
        ("type=bind,target=/x,mode=0700", 'mode not allowed for "bind" type mounts'),
        ("type=cache,target=/x,bogus=1", "unexpected key 'bogus'"),
        ("type=cache,target,x", "must be a key=value pair"),
        ("type=bind,target=/x,required", "unexpected key 'required' for mount type 'bind'"),
        ("type=secret,id=a,from=b", "secret mount should not have a from"),
        ("type=bind,target=/x,sharing=shared", "invalid cache sharing set for bind mount"),
        ("type=cache,target=/x,uid=abc", "invalid value abc for uid"),
    ],
)
def test_mount_errors(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_mount(spec)
    _error(f"FROM a\nRUN --mount={spec} x\n", message)


def test_mount_with_variable_is_validated_after_expansion() -> None:
    mount = parse_mount("type=$T,target=$DIR")
    assert mount.type == "$t"
    expanded = parse_mount(mount.spec, lambda v: {"$T": "cache", "$DIR": "/c"}.get(v, v))
    assert (expanded.type, expanded.target, expanded.readonly) == ("cache", "/c", False)


def test_unknown_flags_and_flag_values() -> None:
    err = _error("FROM a\nRUN --foo=bar x\n", "unknown flag: --foo")
    assert err.location == (2, 2) and err.instruction == "RUN --foo=bar x"
    _error("FROM a\nCOPY --chown a b\n", "missing a value on flag: --chown")
    _error("FROM a\nCOPY --link=maybe a b\n", "expecting boolean value for flag --link, not: maybe")
    _error("FROM a\nCOPY --from=a --from=b a b\n", "duplicate flag specified: --from")
    _error("FROM a\nWORKDIR --x /a\n", "unknown flag: --x")
    _error("FROM a\nRUN --network=bridge x\n", "unsupported network mode 'bridge'")


def test_copy_and_add() -> None:
    copy = _one(
        "COPY --from=build --chown=1:2 --chmod=0644 --link --parents --exclude=*.md --exclude=x a b /dst/"
    )
    assert copy == Copy(
        sources=("a", "b"),
        dest="/dst/",
        from_="build",
        chown="1:2",
        chmod="0644",
        link=True,
        parents=True,
        exclude=("*.md", "x"),
        location=(2, 2),
        original=copy.original,
    )  # type: ignore[attr-defined]
    add = _one("ADD --checksum=sha256:00 --keep-git-dir=true --unpack=false https://x/y.tgz /y")
    assert isinstance(add, Add)
    assert (add.checksum, add.keep_git_dir, add.unpack, add.sources) == (
        "sha256:00",
        True,
        False,
        ("https://x/y.tgz",),
    )
    assert isinstance(_one("ADD a.tar /"), Add) and _one("ADD a.tar /").unpack is None  # type: ignore[attr-defined]
    json_form = _one('COPY ["a b", "/c d"]')
    assert isinstance(json_form, Copy) and json_form.sources == ("a b",) and json_form.dest == "/c d"
    heredoc = _one("COPY <<A <<B /dest/\na\nA\nb\nB")
    assert (
        isinstance(heredoc, Copy)
        and heredoc.sources == ()
        and [d.name for d in heredoc.heredocs] == ["A", "B"]
    )
    _error("FROM a\nCOPY onlyone\n", "COPY requires at least two arguments, but only one was provided")
    _error("FROM a\nADD --from=x a b\n", "unknown flag: --from")


def test_env_label_arg() -> None:
    env = _one('ENV A=1 B="two words" C=x\\ y')
    assert isinstance(env, Env) and env.pairs == (("A", "1"), ("B", '"two words"'), ("C", "x\\ y"))
    old = _one("ENV KEY value with spaces")
    assert isinstance(old, Env) and old.pairs == (("KEY", "value with spaces"),)
    label = _one('LABEL "com.x"="y" v=1')
    assert isinstance(label, Label) and label.pairs == (('"com.x"', '"y"'), ("v", "1"))
    args = parse_dockerfile('FROM a\nARG X Y=z W="q r"\n').stages[0].instructions
    assert [(a.name, a.default) for a in args if isinstance(a, Arg)] == [
        ("X", None),
        ("Y", "z"),
        ("W", '"q r"'),
    ]
    _error("FROM a\nARG\n", "ARG requires at least one argument")
    _error("FROM a\nARG =x\n", "ARG names can not be blank")
    _error("FROM a\nLABEL\n", "LABEL requires at least one argument")


def test_simple_instructions() -> None:
    assert _one("WORKDIR /a b") == Workdir(path="/a b", location=(2, 2), original="WORKDIR /a b")
    assert isinstance(_one("USER me:grp"), User)
    assert _one("STOPSIGNAL SIGKILL") == Stopsignal(
        signal="SIGKILL", location=(2, 2), original="STOPSIGNAL SIGKILL"
    )
    assert _one("MAINTAINER A <a@b>") == Maintainer(
        name="A <a@b>", location=(2, 2), original="MAINTAINER A <a@b>"
    )
    expose = _one("EXPOSE 80/tcp 53/udp")
    assert isinstance(expose, Expose) and expose.ports == ("80/tcp", "53/udp")
    volume = _one('VOLUME ["/a", "/b"]')
    assert isinstance(volume, Volume) and volume.paths == ("/a", "/b")
    for text, message in [
        ("WORKDIR", "WORKDIR requires exactly one argument"),
        ("USER", "USER requires exactly one argument"),
        ("EXPOSE", "EXPOSE requires at least one argument"),
        ('VOLUME [""]', "VOLUME specified can not be an empty string"),
    ]:
        _error(f"FROM a\n{text}\n", message)


def test_cmd_entrypoint_shell() -> None:
    cmd = _one("CMD echo hi")
    assert isinstance(cmd, Cmd) and cmd.shell_form and cmd.cmd == ("echo hi",)
    entry = _one('ENTRYPOINT ["/bin/app", "--x"]')
    assert isinstance(entry, Entrypoint) and not entry.shell_form and entry.cmd == ("/bin/app", "--x")
    empty = _one("CMD []")
    assert isinstance(empty, Cmd) and empty.cmd == () and not empty.shell_form
    shell = _one('SHELL ["powershell", "-c"]')
    assert isinstance(shell, Shell) and shell.shell == ("powershell", "-c")
    _error("FROM a\nSHELL bash -c\n", "SHELL requires the arguments to be in JSON form")


def test_healthcheck() -> None:
    check = _one(
        "HEALTHCHECK --interval=1m30s --timeout=3s --start-period=500ms --start-interval=2s "
        "--retries=4 CMD curl -f http://x/"
    )
    assert check == Healthcheck(
        test=("CMD-SHELL", "curl -f http://x/"),
        interval=90 * 10**9,
        timeout=3 * 10**9,
        start_period=500 * 10**6,
        start_interval=2 * 10**9,
        retries=4,
        location=(2, 2),
        original=check.original,
    )  # type: ignore[attr-defined]
    exec_check = _one('HEALTHCHECK CMD ["/bin/check", "-q"]')
    assert isinstance(exec_check, Healthcheck) and exec_check.test == ("CMD", "/bin/check", "-q")
    none = _one("HEALTHCHECK NONE")
    assert isinstance(none, Healthcheck) and none.test == ("NONE",)
    for text, message in [
        ("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments"),
        ("HEALTHCHECK FOO x", 'unknown type "FOO" in HEALTHCHECK'),
        ("HEALTHCHECK CMD", "missing command after HEALTHCHECK CMD"),
        ("HEALTHCHECK --interval=1us CMD x", 'interval "interval" cannot be less than 1ms'),
        ("HEALTHCHECK --retries=-1 CMD x", "--retries cannot be negative"),
        ("HEALTHCHECK --timeout=abc CMD x", "invalid duration"),
        ("HEALTHCHECK", "HEALTHCHECK requires at least one argument"),
    ]:
        _error(f"FROM a\n{text}\n", message)


@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        ("0", 0),
        ("5s", 5 * 10**9),
        ("1m30s", 90 * 10**9),
        ("1.5h", 5400 * 10**9),
        ("300ms", 300 * 10**6),
        ("2us", 2000),
        ("2µs", 2000),
        ("7ns", 7),
        ("-1s", -(10**9)),
        (".5s", 5 * 10**8),
    ],
)
def test_go_durations(text: str, nanos: int) -> None:
    assert parse_go_duration(text) == nanos


@pytest.mark.parametrize("text", ["", "5", "s", "1x", "1s5", "."])
def test_bad_go_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_go_duration(text)


def test_onbuild() -> None:
    trigger = _one("ONBUILD COPY --from=x . /app")
    assert isinstance(trigger, Onbuild) and trigger.expression == "COPY --from=x . /app"
    assert isinstance(trigger.inner, Copy) and trigger.inner.from_ == "x"
    for text, message in [
        ("ONBUILD ONBUILD RUN x", "ONBUILD isn't allowed as an ONBUILD trigger"),
        ("ONBUILD FROM x", "FROM isn't allowed as an ONBUILD trigger"),
        ("ONBUILD MAINTAINER x", "MAINTAINER isn't allowed as an ONBUILD trigger"),
        ("ONBUILD", "ONBUILD requires at least one argument"),
        ("ONBUILD FOO x", "unknown instruction: FOO"),
    ]:
        _error(f"FROM a\n{text}\n", message)


def test_unknown_instruction() -> None:
    err = _error("FROM a\nFOO bar\n", "^Dockerfile:2: unknown instruction: FOO$")
    assert err.location == (2, 2) and err.instruction == "FOO bar"
    _error("FROM a\nCOPPY a b\n", r"unknown instruction: COPPY \(did you mean copy\?\)")


def test_warnings_are_carried() -> None:
    dockerfile = parse_dockerfile("FROM a\nRUN a \\\n\n  b\n")
    assert dockerfile.warnings == ("Empty continuation line found in: RUN a   b",)


def test_every_conformance_case_builds(conformance: object) -> None:
    from pathlib import Path

    base = Path(str(conformance)) / "dockerfile-parser" / "testfiles"
    built = 0
    for case in sorted(base.iterdir()):
        text = (case / "Dockerfile").read_text(encoding="utf-8")
        try:
            parse_dockerfile(text, str(case / "Dockerfile"))
            built += 1
        except DockerfileError as exc:  # a few cases are parser-only (e.g. no FROM, FROM with 2 words)
            assert exc.location is not None or "no stages" in str(exc), str(exc)
    assert built >= 25
