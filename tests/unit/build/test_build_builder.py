"""Builder over FakeBuildBackend: cache hits/misses, explain, stages, ARG scoping, history rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from lamina.build.builder import Builder, BuildRequest
from lamina.build.cache import CacheStore
from lamina.build.context import SourceTree
from lamina.build.progress import EventKind, Progress, ProgressEvent
from lamina.errors import BuildFailed, DockerfileError, ImageNotFound
from lamina.testing.build import FakeBuildBackend

BASE = {"bin/sh": "sh", "etc/passwd": "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
        "etc/group": "root:x:0:\napp:x:1000:\n", "app/": ""}


@pytest.fixture
def backend(tmp_path: Path) -> FakeBuildBackend:
    b = FakeBuildBackend(tmp_path / "fake")
    b.add_image("base", BASE)
    return b


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    (root / "src").mkdir(parents=True)
    (root / "src" / "a.txt").write_text("a\n")
    (root / "src" / "b.txt").write_text("b\n")
    (root / "top.txt").write_text("top\n")
    return root


class Run:
    """Builds with one cache and records progress events."""

    def __init__(self, backend: FakeBuildBackend, tmp: Path) -> None:
        self.backend = backend
        self.cache = CacheStore(tmp / "cache.db")
        self.events: list[ProgressEvent] = []

    def __call__(self, dockerfile: str, ctx: Path | None = None, **kw: object):
        self.events = []
        request = BuildRequest(dockerfile=dockerfile, context=SourceTree.context(ctx) if ctx else None,
                               tags=("docker.io/library/out:latest",), **kw)  # type: ignore[arg-type]
        return Builder(self.backend, cache=self.cache, progress=Progress(self.events.append)).build(request)

    def texts(self, kind: EventKind) -> list[str]:
        return [e.text for e in self.events if e.kind == kind]

    def config(self) -> dict:
        return self.backend.config("docker.io/library/out:latest")


@pytest.fixture
def build(backend: FakeBuildBackend, tmp_path: Path) -> Run:
    return Run(backend, tmp_path)


DF = """FROM base
ENV APP=/app
WORKDIR /app
RUN echo hi && echo one > /app/one
COPY src/ /app/src/
RUN true
EXPOSE 8080
CMD ["/bin/sh", "-c", "cat /app/one"]
"""


def test_history_rows_follow_buildkit(build: Run, ctx: Path) -> None:
    result = build(DF, ctx)
    rows = [(h["created_by"], h.get("empty_layer", False)) for h in build.config()["history"][1:]]
    assert rows == [
        ("ENV APP=/app", True),
        ("WORKDIR /app", True),  # /app exists: mkdir changes nothing
        ("RUN /bin/sh -c echo hi && echo one > /app/one # buildkit", False),
        ("COPY src/ /app/src/ # buildkit", False),
        ("RUN /bin/sh -c true # buildkit", True),  # no changes: no layer (BuildKit drops empty diffs)
        ("EXPOSE map[8080/tcp:{}]", True),
        ('CMD ["/bin/sh" "-c" "cat /app/one"]', True),
    ]
    assert len(build.config()["rootfs"]["diff_ids"]) == 3
    assert result.built == 4 and result.cached == 0
    assert "hi" in build.texts(EventKind.LOG)


def test_rebuild_is_fully_cached_and_identical(build: Run, ctx: Path) -> None:
    first = build(DF, ctx)
    runs = len(build.backend.runs)
    second = build(DF, ctx)
    assert second.image_id == first.image_id
    assert second.cached == 4 and second.built == 0
    assert len(build.backend.runs) == runs
    assert sum(1 for e in build.events if e.kind == EventKind.CACHED) == 4


def test_changed_file_rebuilds_copy_and_after_and_explains(build: Run, ctx: Path) -> None:
    build(DF, ctx)
    (ctx / "src" / "b.txt").write_text("changed\n")
    result = build(DF, ctx, cache_explain=True)
    assert result.cached == 2 and result.built == 2
    explained = build.texts(EventKind.EXPLAIN)
    assert any("file changed: src/b.txt" in t for t in explained)
    assert any("previous step was rebuilt" in t for t in explained)


def test_build_arg_change_is_explained(build: Run) -> None:
    df = "FROM base\nARG V=1\nRUN echo $V > /v\n"
    build(df)
    result = build(df, build_args={"V": "2"}, cache_explain=True)
    assert result.built == 1
    assert any("ARG V=2" in t and "instruction changed" in t for t in build.texts(EventKind.EXPLAIN))
    history = build.config()["history"]
    assert history[-1]["created_by"] == "RUN |1 V=2 /bin/sh -c echo $V > /v # buildkit"


def test_base_image_change_is_explained(build: Run, backend: FakeBuildBackend) -> None:
    df = "FROM base\nRUN touch /x\n"
    build(df)
    backend.add_image("base", {**BASE, "etc/new": "1"})
    result = build(df, cache_explain=True)
    assert result.built == 1
    assert any("base image base changed" in t for t in build.texts(EventKind.EXPLAIN))


def test_no_cache_runs_everything(build: Run, ctx: Path) -> None:
    build(DF, ctx)
    result = build(DF, ctx, no_cache=True)
    assert result.cached == 0 and result.built == 4


def test_missing_layer_is_a_miss(build: Run, ctx: Path, backend: FakeBuildBackend) -> None:
    import shutil
    build(DF, ctx)
    for path in (backend.home / "layers").iterdir():
        shutil.rmtree(path)
    backend.add_image("base", BASE)
    result = build(DF, ctx)  # steps with layers rerun; empty steps on an identical parent stay cached
    assert result.built == 2 and result.cached == 2


def test_multistage_target_and_copy_from(build: Run, ctx: Path) -> None:
    df = """FROM base AS builder
RUN echo built > /artifact
FROM base AS unused
RUN exit 9
FROM base
COPY --from=builder /artifact /out/
"""
    result = build(df, ctx)
    assert result.built == 2  # the unused stage (RUN exit 9) is skipped
    layers = build.backend.images[result.image_id].layers
    top = build.backend.layer_dir(layers[-1])
    assert top is not None and (top / "out" / "artifact").read_text() == "built\n"
    build(df, ctx, target="builder")
    assert build.config()["history"][-1]["created_by"] == "RUN /bin/sh -c echo built > /artifact # buildkit"


def test_arg_scoping(build: Run) -> None:
    df = """ARG TAG=base
ARG GLOBAL=g
FROM $TAG
RUN echo $GLOBAL > /before
ARG GLOBAL
ENV E=$GLOBAL
"""
    build(df)
    env = build.config()["config"]["Env"]
    assert "E=g" in env
    assert build.backend.runs[0].env.count("GLOBAL=g") == 0  # not declared in the stage yet


def test_unused_build_arg_warns(build: Run) -> None:
    result = build("FROM base\n", build_args={"NOPE": "1"})
    assert any("NOPE" in w for w in result.warnings)


def test_entrypoint_resets_inherited_cmd_and_metadata(build: Run, backend: FakeBuildBackend) -> None:
    backend.add_image("withcmd", BASE, config={"Cmd": ["sh"]})
    df = """FROM withcmd
ENTRYPOINT ["/bin/sh"]
USER app
LABEL a=b
VOLUME /data
STOPSIGNAL SIGTERM
SHELL ["/bin/sh", "-e", "-c"]
ONBUILD RUN touch /triggered
HEALTHCHECK --interval=5s CMD true
"""
    build(df, labels={"extra": "1"})
    cfg = build.config()["config"]
    assert cfg["Cmd"] is None and cfg["Entrypoint"] == ["/bin/sh"]
    assert cfg["User"] == "app" and cfg["Labels"] == {"a": "b", "extra": "1"}
    assert cfg["Volumes"] == {"/data": {}} and cfg["StopSignal"] == "SIGTERM"
    assert cfg["OnBuild"] == ["RUN touch /triggered"]
    assert cfg["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000}


def test_onbuild_triggers_run_in_child(build: Run, backend: FakeBuildBackend) -> None:
    build("FROM base\nONBUILD RUN touch /triggered\n")
    backend.tags["parent"] = backend.tags["docker.io/library/out:latest"]
    build("FROM parent\n")
    assert build.config()["config"].get("OnBuild") is None
    assert any("touch /triggered" in h["created_by"] for h in build.config()["history"])


def test_failing_run_raises_with_status_and_tail(build: Run, backend: FakeBuildBackend) -> None:
    with pytest.raises(BuildFailed) as info:
        build("FROM base\nRUN echo oops && exit 3\n")
    assert info.value.status == 3 and info.value.output == ("oops",)
    assert 'process "/bin/sh -c echo oops && exit 3" did not complete successfully: exit code: 3' in str(info.value)
    assert info.value.location == (2, 2)
    assert backend.open_layers == 0 and "docker.io/library/out:latest" not in backend.tags


def test_failed_build_caches_only_finished_steps(build: Run) -> None:
    with pytest.raises(BuildFailed):
        build("FROM base\nRUN touch /a\nRUN exit 1\n")
    result = build("FROM base\nRUN touch /a\nRUN true\n")
    assert result.cached == 1 and result.built == 1


def test_dockerfile_errors_and_missing_base(build: Run, ctx: Path) -> None:
    with pytest.raises(DockerfileError) as info:
        build("FROM base\nFROB x\n")
    assert info.value.location == (2, 2)
    with pytest.raises(ImageNotFound):
        build("FROM nothere\n")
    with pytest.raises(BuildFailed, match=r"Dockerfile:2: COPY nope /x: .*not found"):
        build("FROM base\nCOPY nope /x\n", ctx)


def test_scratch_and_heredoc_copy(build: Run) -> None:
    result = build("FROM scratch\nCOPY <<EOF /hello.txt\nhi there\nEOF\n", epoch=0)
    layers = build.backend.images[result.image_id].layers
    top = build.backend.layer_dir(layers[-1])
    assert top is not None and (top / "hello.txt").read_text() == "hi there\n"
    assert build.config()["created"] == "1970-01-01T00:00:00Z"


def test_run_heredoc_and_mounts(build: Run, ctx: Path) -> None:
    build("FROM base\nRUN --mount=type=cache,target=/cache --mount=type=bind,source=src,target=/src <<EOF\n"
          "touch /made\nEOF\n", ctx)
    spec = build.backend.runs[-1]
    assert spec.args == ("/bin/sh", "-c", "touch /made\n")
    assert {m.target for m in spec.mounts} == {"/cache", "/src"}


def test_epoch_from_source_date_epoch(build: Run) -> None:
    build("FROM base\nRUN touch /x\n", epoch=86400)
    assert {h["created"] for h in build.config()["history"][1:]} == {"1970-01-02T00:00:00Z"}


LINKED = "FROM base\nRUN echo one > /one\nCOPY --link src/ /app/src/\nRUN echo two > /two\n"


def test_copy_link_survives_a_rebuilt_step_before_it(build: Run, ctx: Path, backend: FakeBuildBackend) -> None:
    build(LINKED, ctx)
    result = build(LINKED.replace("one > /one", "uno > /one"), ctx, cache_explain=True)
    names = {e.vertex: e.name for e in build.events if e.name}
    cached = [names.get(e.vertex, "") for e in build.events if e.kind == EventKind.CACHED]
    assert result.built == 2 and result.cached == 1          # the RUNs rebuild, the linked COPY does not
    assert any("COPY --link src/ /app/src/" in name for name in cached), cached
    root = backend.layer_dir(backend.base_image("docker.io/library/out:latest").top)
    assert root is not None
    assert (root / "app/src/a.txt").read_text() == "a\n" and (root / "one").read_text() == "uno\n"
    assert (root / "two").read_text() == "two\n"


def test_copy_link_survives_a_new_base_and_matches_plain_copy_content(
        build: Run, ctx: Path, backend: FakeBuildBackend) -> None:
    df = "FROM base\nCOPY --link top.txt /top.txt\n"
    build(df, ctx)
    backend.add_image("base", {**BASE, "etc/new": "1"})
    result = build(df, ctx)
    assert result.cached == 1 and result.built == 0
    linked = backend.base_image("docker.io/library/out:latest")
    plain = build(df.replace("--link ", ""), ctx)
    assert plain.built == 1
    assert linked.config["rootfs"] == backend.base_image("docker.io/library/out:latest").config["rootfs"]


def test_copy_link_with_a_user_name_is_a_plain_copy(build: Run, ctx: Path, backend: FakeBuildBackend) -> None:
    df = "FROM base\nRUN echo one > /one\nCOPY --link --chown=root top.txt /top.txt\n"
    build(df, ctx)
    result = build(df.replace("one > /one", "uno > /one"), ctx)
    assert result.built == 2   # a name needs the stage's /etc/passwd: keyed on the steps before it
