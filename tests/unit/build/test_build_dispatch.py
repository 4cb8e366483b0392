"""Dispatch details: created_by strings, the Go %q list form, owner resolution, progress rendering."""

from __future__ import annotations

from pathlib import Path

import pytest

from lamina.build.dispatch import DISPATCH, go_quote_list, resolve_owner
from lamina.build.instructions import Instruction
from lamina.build.progress import EventKind, PlainRenderer, ProgressEvent
from lamina.errors import InvalidArgument


def test_every_instruction_has_a_handler() -> None:
    kinds = {cls.__name__ for cls in Instruction.__subclasses__() if cls.keyword and cls.keyword != "FROM"}
    assert kinds <= {cls.__name__ for cls in DISPATCH}


def test_go_quote_list() -> None:
    assert go_quote_list(["/bin/sh", "-c", 'echo "x"']) == '["/bin/sh" "-c" "echo \\"x\\""]'


def test_resolve_owner(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("app:x:1000:1001::/:/bin/sh\n")
    (tmp_path / "etc" / "group").write_text("staff:x:50:\n")
    assert (resolve_owner(tmp_path, "app").uid, resolve_owner(tmp_path, "app").gid) == (1000, 1001)
    assert resolve_owner(tmp_path, "app:staff").gid == 50
    assert (resolve_owner(tmp_path, "7:8").uid, resolve_owner(tmp_path, "7:8").gid) == (7, 8)
    with pytest.raises(InvalidArgument):
        resolve_owner(tmp_path, "nobody-here")


def test_plain_renderer_matches_buildkit() -> None:
    r = PlainRenderer()
    lines = [*r.render(ProgressEvent(vertex=5, kind=EventKind.START, name="[2/4] RUN echo hi")),
             *r.render(ProgressEvent(vertex=5, kind=EventKind.LOG, text="hi", elapsed=0.2154)),
             *r.render(ProgressEvent(vertex=5, kind=EventKind.DONE, elapsed=0.31)),
             *r.render(ProgressEvent(vertex=6, kind=EventKind.START, name="[3/4] COPY a b")),
             *r.render(ProgressEvent(vertex=6, kind=EventKind.CACHED))]
    assert lines == ["#5 [2/4] RUN echo hi", "#5 0.215 hi", "#5 DONE 0.3s", "", "#6 [3/4] COPY a b", "#6 CACHED"]
