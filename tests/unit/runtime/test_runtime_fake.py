"""testing.runtime.FakeRuntime follows the Runtime protocol's state rules."""

from __future__ import annotations

import json

import pytest

from lamina.errors import (
    CommandNotFound,
    ContainerNotFound,
    ContainerRunning,
    InvalidStateTransition,
    NameInUse,
)
from lamina.runtime import Runtime, RuntimeStatus
from lamina.testing.runtime import FakeRuntime


@pytest.fixture
def bundle(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"process": {"args": ["/bin/app"]}}))
    return tmp_path


def test_is_a_runtime():
    assert isinstance(FakeRuntime(), Runtime)


def test_lifecycle(bundle, tmp_path):
    rt = FakeRuntime()
    rt.create("a", bundle, pid_file=tmp_path / "pid")
    assert rt.state("a").status is RuntimeStatus.CREATED
    assert int((tmp_path / "pid").read_text()) == rt.state("a").pid
    with pytest.raises(NameInUse):
        rt.create("a", bundle, pid_file=tmp_path / "pid")
    rt.start("a")
    with pytest.raises(InvalidStateTransition):
        rt.start("a")
    with pytest.raises(ContainerRunning):
        rt.delete("a")
    assert rt.exec("a", {"args": ["ls"]}) == 0
    rt.kill("a", 9)
    assert rt.state("a").status is RuntimeStatus.STOPPED and rt.results["a"] == 137
    with pytest.raises(InvalidStateTransition):
        rt.kill("a", 9)
    rt.delete("a")
    with pytest.raises(ContainerNotFound):
        rt.state("a")
    assert rt.verbs()[:3] == ["create", "state", "state"]


def test_run_scripted_exit_codes_and_oom(bundle):
    rt = FakeRuntime()
    rt.exit_codes["/bin/app"] = 3
    assert rt.run("a", bundle) == 3
    assert rt.list() == []
    rt.oom["b"] = True
    assert rt.run("b", bundle, keep=True) == 137
    assert rt.oom_killed("b") is True
    assert rt.run("c", bundle, detach=True) == 0
    assert rt.state("c").status is RuntimeStatus.RUNNING
    rt.finish("c", 4)
    assert rt.results["c"] == 4 and rt.state("c").pid == 0


def test_missing_command(bundle):
    rt = FakeRuntime()
    rt.missing_commands.add("/bin/app")
    with pytest.raises(CommandNotFound):
        rt.run("a", bundle)
