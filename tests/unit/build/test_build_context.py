"""SourceTree selection (globs, .dockerignore), hashing (no mtime) and docker's COPY rules."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from lamina._internal.fsops import resolve_in_root
from lamina.build.cache import FileHasher
from lamina.build.context import (
    CopyOptions,
    Owner,
    SourceTree,
    copy_into,
    copy_sources,
    dest_is_dir,
    hash_sources,
)
from lamina.errors import PathNotFound


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    (root / "dir" / "sub").mkdir(parents=True)
    (root / "dir" / "a.txt").write_text("a")
    (root / "dir" / "sub" / "b.txt").write_text("b")
    (root / "x.log").write_text("log")
    (root / "y.log").write_text("log2")
    (root / ".dockerignore").write_text("*.log\n!y.log\n")
    return root


def test_select_globs_and_ignore(ctx: Path) -> None:
    tree = SourceTree.context(ctx)
    assert tree.select("*.log") == ["y.log"]
    assert tree.select("dir/*.txt") == ["dir/a.txt"]
    assert tree.select("/dir/../dir") == ["dir"]
    with pytest.raises(PathNotFound):
        tree.select("x.log")


def test_hash_ignores_mtime_but_sees_mode_and_content(ctx: Path) -> None:
    tree = SourceTree.context(ctx)
    first, details = hash_sources(tree, ["dir"], FileHasher())
    assert set(details) == {"file:dir", "file:dir/a.txt", "file:dir/sub", "file:dir/sub/b.txt"}
    os.utime(ctx / "dir" / "a.txt", (1, 1))
    assert hash_sources(tree, ["dir"], FileHasher())[0] == first
    os.chmod(ctx / "dir" / "a.txt", 0o600)
    assert hash_sources(tree, ["dir"], FileHasher())[0] != first


def test_copy_rules(ctx: Path, tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    tree = SourceTree.context(ctx)
    copy_sources(tree, ["dir"], rootfs, "/app/", CopyOptions())
    assert (rootfs / "app" / "a.txt").read_text() == "a"  # directory contents, not the dir
    copy_sources(tree, ["dir/a.txt"], rootfs, "/renamed", CopyOptions(chmod=0o700, owner=Owner(5, 6)))
    st = os.stat(rootfs / "renamed")
    assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o700, 5, 6)
    copy_sources(tree, ["dir/a.txt"], rootfs, "/app", CopyOptions())  # existing dir: keeps base name
    assert (rootfs / "app" / "a.txt").exists()


def test_add_extracts_local_tar(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("inside.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    (ctx / "a.tar.gz").write_bytes(buf.getvalue())
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    copy_sources(SourceTree(ctx), ["a.tar.gz"], rootfs, "/opt/", CopyOptions(unpack=True))
    assert (rootfs / "opt" / "inside.txt").read_text() == "hi"


def test_resolve_in_root_stays_inside(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    os.symlink("/real", tmp_path / "link")
    os.symlink("../../..", tmp_path / "up")
    assert resolve_in_root(tmp_path, "/link/x") == tmp_path / "real" / "x"
    assert resolve_in_root(tmp_path, "/up/etc") == tmp_path / "etc"


def _tree_state(root: Path) -> dict[str, tuple[int, int, int, int, int, bytes]]:
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath, name)
            st = path.lstat()
            out[str(path.relative_to(root))] = (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns,
                                                path.read_bytes())
    return out


def test_copy_into_matches_copy_sources_and_keeps_setuid(ctx: Path, tmp_path: Path) -> None:
    os.chmod(ctx / "dir" / "a.txt", 0o4755)
    tree = SourceTree.context(ctx)
    plain, direct = tmp_path / "plain", tmp_path / "direct"
    plain.mkdir()
    (direct / "app").mkdir(parents=True)
    assert dest_is_dir(tree, ["dir"], "/app") and not dest_is_dir(tree, ["dir/a.txt"], "/app")
    copy_sources(tree, ["dir", "y.log"], plain, "/app/", CopyOptions(owner=Owner(3, 4)))
    copy_into(tree, ["dir", "y.log"], direct / "app", CopyOptions(owner=Owner(3, 4)))
    assert _tree_state(plain / "app") == _tree_state(direct / "app")
    assert os.stat(direct / "app" / "a.txt").st_mode & 0o7777 == 0o4755   # chown before chmod


def test_fast_tar_header_is_byte_identical_to_tarfile() -> None:
    from lamina.layer.tarwriter import encode_header
    cases = [("a", tarfile.REGTYPE, "", 0, 0o644, 0), ("dir", tarfile.DIRTYPE, "", 7, 0o4755, 946684800),
             ("l", tarfile.SYMTYPE, "../target with space", 0, 0o777, 1),
             ("x" * 100, tarfile.REGTYPE, "", 8 ** 7, 0, 0),
             ("y" * 101, tarfile.REGTYPE, "", 1, 0o600, 5), ("é", tarfile.LNKTYPE, "a", 0, 0o644, 5),
             ("dev", tarfile.CHRTYPE, "", 0, 0o600, 5), ("big", tarfile.REGTYPE, "", 0, 0o644, 8 ** 11)]
    for name, kind, link, uid, mode, mtime in cases:
        info = tarfile.TarInfo(name)
        info.type, info.linkname, info.uid, info.gid, info.mode, info.mtime = kind, link, uid, uid, mode, mtime
        info.size = 12345 if kind == tarfile.REGTYPE else 0
        info.uname = info.gname = ""
        assert encode_header(info) == info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"), name


def _many_files(root: Path, count: int = 40) -> dict[str, tuple[int, int, bytes]]:
    """``count`` files, some big (a second thread copies those), assorted modes and mtimes.

    Returns name -> (mode, mtime, data)."""
    modes = [0o644, 0o666, 0o600, 0o4755, 0o2750, 0o755, 0o444]
    (root / "d").mkdir(parents=True)
    want = {}
    for n in range(count):
        name = f"d/f{n:02}" if n % 3 else f"f{n:02}"
        data = f"{n}\n".encode() * (n * 97 + 1) if n % 9 else os.urandom(1 << 20) * (n // 9 + 1)  # some big
        (root / name).write_bytes(data)
        os.chmod(root / name, modes[n % len(modes)])
        os.utime(root / name, (1_000_000 + n, 1_000_000 + n))
        want[name] = (modes[n % len(modes)], 1_000_000 + n, data)
    return want


@pytest.mark.parametrize("chmod", [None, 0o640])
def test_copy_of_many_files_keeps_content_owner_mode_and_mtime(tmp_path: Path, chmod: int | None) -> None:
    want = _many_files(tmp_path / "src")
    out = tmp_path / "out"
    (out / "f03").mkdir(parents=True)   # a directory where a file goes: replaced
    copy_into(SourceTree(tmp_path / "src"), [""], out, CopyOptions(owner=Owner(3, 4), chmod=chmod))
    for name, (mode, mtime, data) in want.items():
        st = os.lstat(out / name)
        assert (stat_mode(st), st.st_uid, st.st_gid, st.st_mtime, (out / name).read_bytes()) == (
            chmod if chmod is not None else mode, 3, 4, mtime, data), name


def test_copy_of_many_files_raises_the_first_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lamina.build.context as context
    _many_files(tmp_path / "src")
    real = context._copy_file

    def failing(src: str, out: str, st: os.stat_result, mode: int, owner: Owner) -> None:
        if src.endswith(("f07", "f18")):   # a small file and a big one
            raise PermissionError(13, "refused", src)
        real(src, out, st, mode, owner)
    monkeypatch.setattr(context, "_copy_file", failing)
    (tmp_path / "out").mkdir()
    with pytest.raises(PermissionError):
        copy_into(SourceTree(tmp_path / "src"), [""], tmp_path / "out", CopyOptions())


def stat_mode(st: os.stat_result) -> int:
    return st.st_mode & 0o7777
