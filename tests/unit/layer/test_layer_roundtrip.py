"""Property: random trees survive write_tree → apply → changes_between (empty) and re-diff."""

import io
import shutil

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lamina.layer.changes import changes_between
from lamina.layer.tarwriter import write_tree
from lamina.testing.trees import Dir, File, Hardlink, Symlink, build_tree, snapshot

NAMES = st.sampled_from(["a", "b", "c", ".h", "é", "long" * 30])


@st.composite
def specs(draw):
    spec, files, dirs = {}, [], [""]
    for _ in range(draw(st.integers(1, 14))):
        parent = draw(st.sampled_from(dirs))
        path = f"{parent}/{draw(NAMES)}".lstrip("/")
        if path in spec:  # parents are always directories of this spec, so only repeats clash
            continue
        kind = draw(st.sampled_from(["file", "dir", "symlink", "hardlink"]))
        if kind == "hardlink" and not files:
            kind = "file"
        if kind == "file":
            spec[path] = File(draw(st.binary(max_size=700)), draw(st.sampled_from([0o644, 0o600, 0o4755])),
                              mtime=draw(st.integers(0, 2_000_000_000)))
            files.append(path)
        elif kind == "dir":
            spec[path] = Dir(mode=draw(st.sampled_from([0o755, 0o700, 0o1777])))
            dirs.append(path)
        elif kind == "symlink":
            spec[path] = Symlink(draw(st.sampled_from(["a", "../x", "/etc/passwd", "b/c"])))
        else:
            spec[path] = Hardlink(draw(st.sampled_from(files)))
    return spec


@given(specs())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_tree_round_trip(tmp_path_factory, apply_tar, diff, spec):
    base = tmp_path_factory.mktemp("rt")
    src = build_tree(base / "src", spec)
    buf = io.BytesIO()
    write_tree(src, buf)
    back = base / "back"
    apply_tar(buf.getvalue(), back)
    assert changes_between(src, back) == []
    assert snapshot(back) == snapshot(src)
    again = io.BytesIO()
    write_tree(back, again)
    assert again.getvalue() == buf.getvalue()
    copy = base / "copy"
    apply_tar(diff(None, src), copy)
    assert snapshot(copy) == snapshot(src)
    shutil.rmtree(base)
