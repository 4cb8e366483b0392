"""Black-box ``lamina build`` / ``builder prune`` with real crun and the busybox base."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from lamina.testing import probes
from lamina.testing.cli import Lamina

pytestmark = pytest.mark.skipif(probes.crun() is not None or probes.root() is not None,
                                reason=str(probes.crun() or probes.root()))

DOCKERFILE = """FROM busybox
ENV APP=/app
WORKDIR /app
RUN echo building && echo one > /app/one
COPY src/ /app/src/
RUN cat /app/src/a.txt
EXPOSE 8080
CMD ["/bin/sh", "-c", "cat /app/one"]
"""


@pytest.fixture
def cli(tmp_path: Path, busybox_tar: Path) -> Lamina:
    lamina = Lamina(tmp_path / "root")
    lamina.ok("import", "-c", 'CMD ["/bin/sh"]', str(busybox_tar), "busybox:latest")
    return lamina


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    (root / "src").mkdir(parents=True)
    (root / "src" / "a.txt").write_text("content-a\n")
    (root / "src" / "b.txt").write_text("content-b\n")
    (root / "Dockerfile").write_text(DOCKERFILE)
    return root


def leftovers(root: Path) -> list[str]:
    found = [p.parent.name for p in (root / "storage").glob("*/build-*/writable")]  # unfinished rw layers
    run = root / "run" / "build"
    return found + ([p.name for p in run.iterdir()] if run.exists() else [])


def test_build_history_cache_and_explain(cli: Lamina, ctx: Path) -> None:
    res = cli("build", "--progress", "plain", "-t", "app:1", "-t", "app:2", str(ctx))
    assert res.code == 0, res.err
    assert "#7 0." in res.err or " building" in res.err
    assert "naming to docker.io/library/app:1 done" in res.err
    history = cli.ok("history", "--no-trunc", "--format", "{{.CreatedBy}}", "app:1").splitlines()
    assert history[:6] == ['CMD ["/bin/sh" "-c" "cat /app/one"]', "EXPOSE map[8080/tcp:{}]",
                           "RUN /bin/sh -c cat /app/src/a.txt # buildkit", "COPY src/ /app/src/ # buildkit",
                           "RUN /bin/sh -c echo building && echo one > /app/one # buildkit", "WORKDIR /app"]
    image_id = cli.ok("inspect", "--format", "{{.Id}}", "app:2").strip()
    again = cli("build", "--progress", "plain", "--iidfile", str(ctx.parent / "iid"), "-t", "app:1", str(ctx))
    assert again.code == 0 and again.err.count("CACHED") == 4
    assert (ctx.parent / "iid").read_text() == image_id
    (ctx / "src" / "b.txt").write_text("changed\n")
    res = cli("build", "--progress", "plain", "--cache-explain", "-t", "app:1", str(ctx))
    assert res.code == 0 and "CACHE MISS: file changed: src/b.txt" in res.err
    assert res.err.count("CACHED") == 2
    assert leftovers(cli.root) == []


def test_quiet_prints_only_the_id_and_stdin_tar_context(cli: Lamina, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("Dockerfile", b"FROM busybox AS build\nRUN echo made > /made\n"
                                          b"FROM busybox\nCOPY --from=build /made /made\nADD t.tar /opt/\n"
                                          b"RUN cat /made /opt/inside\n"),
                           ("t.tar", _tar({"inside": b"extracted\n"}))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    res = cli("build", "-q", "-t", "multi", "-", input=buf.getvalue())
    assert res.code == 0, res.err
    assert res.out.strip().startswith("sha256:") and len(res.out.strip().splitlines()) == 1
    plain = cli("build", "--progress", "plain", "--no-cache", "-t", "multi", "-", input=buf.getvalue())
    assert "made" in plain.err and "extracted" in plain.err


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_failing_run_leaves_nothing(cli: Lamina, tmp_path: Path) -> None:
    ctx = tmp_path / "bad"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN touch /ok\nRUN echo last-words && exit 3\n")
    res = cli("build", "--progress", "plain", "-t", "bad:1", str(ctx))
    assert res.code == 1
    assert 'process "/bin/sh -c echo last-words && exit 3" did not complete successfully: exit code: 3' in res.err
    assert "last-words" in res.err and ">>> RUN echo last-words" in res.err
    assert "bad" not in cli.ok("images")
    assert leftovers(cli.root) == []
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN touch /ok\nRUN true\n")
    res = cli("build", "--progress", "plain", "-t", "bad:1", str(ctx))
    assert res.code == 0 and res.err.count("CACHED") == 1  # the finished step was kept


@pytest.mark.parametrize(("dockerfile", "message"), [
    ("FROM busybox\nFROB x\n", "Dockerfile:2: unknown instruction: FROB"),
    ("FROM nothere:1\n", "nothere:1"),
    ("FROM busybox\nCOPY missing.txt /x\n", "Dockerfile:2: COPY missing.txt /x"),
    ("FROM busybox\nRUN --frob=1 true\n", "Dockerfile:2: unknown flag: --frob"),
])
def test_bad_input_exits_1(cli: Lamina, tmp_path: Path, dockerfile: str, message: str) -> None:
    ctx = tmp_path / "c"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(dockerfile)
    res = cli("build", "--progress", "plain", "-t", "never", str(ctx))
    assert res.code == 1 and message in res.err
    assert "never" not in cli.ok("images")


def test_builder_prune(cli: Lamina, ctx: Path) -> None:
    (ctx / "Dockerfile").write_text("FROM busybox AS tmp\nRUN head -c 50000 /bin/busybox > /blob && echo x > /other\n"
                                    "FROM busybox\nCOPY --from=tmp /blob /blob\n")
    cli.ok("build", "-q", "-t", "app", str(ctx))
    out = cli.ok("builder", "prune", "-f")  # the tmp stage's layer is held only by the cache
    assert out.startswith("Total reclaimed space: ") and not out.strip().endswith(" 0B")
    res = cli("build", "--progress", "plain", "-t", "app", str(ctx))
    assert res.code == 0 and "CACHED" not in res.err


def test_fully_cached_rebuild_is_replayed_and_follows_the_base(cli: Lamina, ctx: Path, busybox_tar: Path) -> None:
    first = cli.ok("build", "-q", "-t", "app:1", str(ctx)).strip()
    res = cli("build", "--progress", "plain", "-t", "app:new", str(ctx))
    assert res.code == 0 and res.err.count("CACHED") == 4, res.err
    assert "naming to docker.io/library/app:new done" in res.err and "exporting to image" in res.err
    assert cli.ok("inspect", "--format", "{{.Id}}", "app:new").strip() == first
    cli.ok("import", "-c", 'CMD ["/bin/echo"]', str(busybox_tar), "busybox:latest")  # the base tag moves
    res = cli("build", "--progress", "plain", "-t", "app:1", str(ctx))
    assert res.code == 0 and "CACHED" not in res.err
    assert cli.ok("inspect", "--format", "{{.Id}}", "app:1").strip() != first
    assert leftovers(cli.root) == []


def test_writable_bind_mount_writes_are_thrown_away(cli: Lamina, tmp_path: Path) -> None:
    """BuildKit's ``--mount=type=bind,rw``: RUN may write, the build context and the stage keep their bytes."""
    ctx = tmp_path / "rwctx"
    (ctx / "sub").mkdir(parents=True)
    (ctx / "f.txt").write_text("orig\n")
    (ctx / "sub" / "g.txt").write_text("orig\n")
    (ctx / "Dockerfile").write_text(
        "FROM busybox AS stage\nRUN echo staged > /s.txt\n"
        "FROM busybox\n"
        "RUN --mount=type=bind,target=/ctx,rw echo changed > /ctx/f.txt && echo new > /ctx/sub/h.txt"
        " && cat /ctx/f.txt > /seen.txt\n"
        "RUN --mount=type=bind,source=f.txt,target=/one,rw echo changed > /one && cat /one >> /seen.txt\n"
        "RUN --mount=type=bind,from=stage,target=/st,rw echo changed > /st/s.txt && cat /st/s.txt >> /seen.txt\n"
        "COPY --from=stage /s.txt /s.txt\n")
    cli.ok("build", "-q", "-t", "rw:1", str(ctx))
    assert (ctx / "f.txt").read_text() == "orig\n"
    assert sorted(p.name for p in (ctx / "sub").iterdir()) == ["g.txt"]
    assert cli.ok("run", "--rm", "rw:1", "cat", "/seen.txt", "/s.txt") == "changed\nchanged\nchanged\nstaged\n"
    assert leftovers(cli.root) == []


def test_copy_link_is_not_rebuilt_when_a_step_before_it_changes(cli: Lamina, tmp_path: Path) -> None:
    ctx = tmp_path / "linkctx"
    ctx.mkdir()
    (ctx / "data.txt").write_text("payload\n")
    dockerfile = ("FROM busybox\nRUN echo {v} > /v\nCOPY --link data.txt /srv/data.txt\n"
                  "RUN cat /v /srv/data.txt > /both\n")
    (ctx / "Dockerfile").write_text(dockerfile.format(v=1))
    cli.ok("build", "-q", "-t", "link:1", str(ctx))
    (ctx / "Dockerfile").write_text(dockerfile.format(v=2))
    res = cli("build", "--progress", "plain", "-t", "link:2", str(ctx))
    assert res.code == 0, res.err
    steps = [line for line in res.err.splitlines() if "COPY --link" in line or "CACHED" in line]
    copy_vertex = next(line.split()[0] for line in steps if "COPY --link" in line)
    assert f"{copy_vertex} CACHED" in res.err                    # stacked from its blob, not copied again
    assert cli.ok("run", "--rm", "link:2", "cat", "/both") == "2\npayload\n"
    assert cli.ok("run", "--rm", "link:2", "stat", "-c", "%a %u", "/srv") == "755 0\n"
    assert leftovers(cli.root) == []
    assert "0 damaged, 0 orphaned" in cli.ok("system", "check")   # the unstacked layer is the cache's
