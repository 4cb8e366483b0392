"""The click-free ``run`` and ``commit`` parsers must read argv exactly as the click commands do, or decline."""

from __future__ import annotations

from typing import Any

import click
import pytest

from lamina.cli import commitflags, runflags
from lamina.cli.commands.commit import command as click_commit
from lamina.cli.commands.run import command as click_run
from lamina.cli.main import fast_command

SAME_AS_CLICK = [
    ["busybox"],
    ["--rm", "busybox", "true"],
    ["--rm", "-it", "busybox", "sh"],
    ["-dit", "--name", "web", "busybox"],
    ["-e", "A=1", "--env=B=2", "-eC=3", "busybox", "env"],
    ["-w/tmp", "-u", "1000:1000", "--network", "none", "busybox", "pwd"],
    ["--net=host", "--cpus", "1.5", "--pids-limit=20", "-m", "64m", "busybox"],
    ["-v", "/a:/b", "-v/c:/d:ro", "--mount", "type=tmpfs,dst=/t", "--tmpfs", "/x", "busybox"],
    ["--entrypoint", "", "busybox", "echo", "-n", "x"],
    ["--rm", "busybox", "sh", "-c", "echo --rm -d"],          # options stop at IMAGE
    ["--rm", "--", "busybox", "ls"],
    ["-a", "STDOUT", "-a", "stderr", "busybox"],
    ["--read-only", "--privileged", "--cap-add", "NET_ADMIN", "--cap-drop=ALL", "busybox"],
    ["--ulimit", "nofile=10:20", "--stop-signal", "SIGINT", "--stop-timeout", "3", "busybox"],
    ["--security-opt", "no-new-privileges", "--oom-score-adj", "-100", "--shm-size", "1m", "busybox"],
    ["--env-file", "/dev/null", "-h", "box", "busybox"],
    ["-p", "8080:80", "-p80", "-P", "--add-host=db:10.0.0.2", "--dns", "1.1.1.1", "--dns-search=x", "busybox"],
    ["--security-opt", "seccomp=unconfined", "--dns-option", "ndots:2", "busybox"],
    ["-d", "--restart", "on-failure:3", "--init", "busybox"],
]

DECLINED = [
    ["--help"],
    ["--bogus", "busybox"],
    ["--cpus", "lots", "busybox"],
    ["--pids-limit"],
    ["-a", "stdwhat", "busybox"],
    ["--rm=yes", "busybox"],
    ["-x", "busybox"],
    ["--rm"],
    [],
]


def _click_parse(args: list[str]) -> tuple[dict[str, Any], str, tuple[str, ...]]:
    ctx = click_run.make_context("run", list(args))
    params = dict(ctx.params)
    return params, params.pop("image"), tuple(params.pop("command"))


@pytest.mark.parametrize("args", SAME_AS_CLICK, ids=" ".join)
def test_parse_run_matches_click(args: list[str]) -> None:
    parsed = runflags.parse_run(args)
    assert parsed is not None
    opts, image, command = _click_parse(args)
    assert (parsed.opts, parsed.image, parsed.command) == (opts, image, command)


@pytest.mark.parametrize("args", DECLINED, ids=lambda a: " ".join(a) or "(empty)")
def test_parse_run_declines_what_click_must_report(args: list[str]) -> None:
    assert runflags.parse_run(args) is None


def test_declined_arguments_are_click_errors_or_help() -> None:
    with pytest.raises((click.UsageError, click.exceptions.Exit)):
        click_run.make_context("run", ["--bogus", "busybox"])


COMMIT_SAME_AS_CLICK = [
    ["web"],
    ["web", "repo:tag"],
    ["-m", "msg", "-a", "me", "web", "repo"],
    ["web", "repo", "-m", "after"],                     # options may follow the positionals
    ["-c", "ENV A=1", "--change=CMD [\"sh\"]", "-cEXPOSE 80", "web"],
    ["--no-pause", "web"],
    ["-p", "web"],
    ["--pause", "--message=x", "web", "--", "repo"],
    ["--", "-web-"],
]

COMMIT_DECLINED = [["-h"], ["--help"], [], ["a", "b", "c"], ["--bogus", "web"], ["-m"], ["--pause=no", "web"]]


@pytest.mark.parametrize("args", COMMIT_SAME_AS_CLICK, ids=" ".join)
def test_parse_commit_matches_click(args: list[str]) -> None:
    parsed = commitflags.parse_commit(args)
    assert parsed is not None
    params = dict(click_commit.make_context("commit", list(args)).params)
    assert parsed == (params, params.pop("container"), params.pop("repository"))


@pytest.mark.parametrize("args", COMMIT_DECLINED, ids=lambda a: " ".join(a) or "(empty)")
def test_parse_commit_declines_what_click_must_report(args: list[str]) -> None:
    assert commitflags.parse_commit(args) is None


@pytest.mark.parametrize("argv", [
    ["commit", "web", "img"],
    ["--root", "/tmp/r", "commit", "-m", "x", "web"],
    ["run", "--rm", "busybox"],
    ["--root", "/tmp/r", "run", "busybox"],
    ["--root=/tmp/r", "--storage-driver", "copy", "-D", "run", "busybox"],
    ["-l", "debug", "run", "busybox"],
])
def test_fast_command_takes_plain_runs(argv: list[str]) -> None:
    assert fast_command(argv) is not None


@pytest.mark.parametrize("argv", [
    ["images"],
    ["--version"],
    ["-l", "loud", "run", "busybox"],
    ["--root"],
    ["run", "--help"],
    ["container", "run", "busybox"],
    [],
])
def test_fast_command_leaves_the_rest_to_click(argv: list[str]) -> None:
    assert fast_command(argv) is None


def test_group_help_lists_every_verb() -> None:
    """``lamina container --help`` names the verbs its group defines itself (inspect, prune) too."""
    from click.testing import CliRunner

    from lamina.cli.app import cli
    for group in ("container", "image"):
        res = CliRunner().invoke(cli, [group, "--help"])
        assert res.exit_code == 0, res.output
    assert "inspect" in CliRunner().invoke(cli, ["container", "--help"]).output


def test_every_verb_has_help() -> None:
    from click.testing import CliRunner

    from lamina.cli.app import VERBS, cli
    failed = {verb: res.output for verb in VERBS
              if (res := CliRunner().invoke(cli, [verb, "--help"])).exit_code != 0}
    assert failed == {}
