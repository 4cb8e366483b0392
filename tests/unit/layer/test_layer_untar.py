"""extract_all: PEP 706's ``tar`` filter on every Python 3.11, including the fallback for 3.11.0–3.11.3."""

from __future__ import annotations

import io
import os
import stat
import tarfile

import pytest

from lamina.layer import untar


def _tar(*members: tuple[str, int, bytes | str | None]) -> bytes:
    """(name, mode, body) members; a str body makes a symlink, None a directory."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, mode, body in members:
            info = tarfile.TarInfo(name)
            info.mode = mode
            if body is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif isinstance(body, str):
                info.type, info.linkname = tarfile.SYMTYPE, body
                tar.addfile(info)
            else:
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
    return buf.getvalue()


@pytest.fixture(params=["native", "fallback"])
def filters(request, monkeypatch):
    if request.param == "native" and not untar._HAS_FILTERS:
        pytest.skip("this Python's tarfile has no extraction filters")
    monkeypatch.setattr(untar, "_HAS_FILTERS", request.param == "native")
    return request.param


def _extract(data: bytes, dest, **kw) -> None:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|*") as tar:
        untar.extract_all(tar, dest, **kw)


def test_extracts_files_and_clears_setuid_and_group_write(tmp_path, filters):
    _extract(_tar(("d", 0o775, None), ("/d/f", 0o4777, b"x")), tmp_path)
    assert (tmp_path / "d/f").read_bytes() == b"x"
    assert stat.S_IMODE((tmp_path / "d/f").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755


def test_directory_modes_apply_after_their_contents(tmp_path, filters):
    _extract(_tar(("ro", 0o555, None), ("ro/f", 0o644, b"x")), tmp_path)
    assert (tmp_path / "ro/f").read_bytes() == b"x"
    assert stat.S_IMODE((tmp_path / "ro").stat().st_mode) == 0o555


@pytest.mark.parametrize("members", [
    (("../escape", 0o644, b"x"),),
    (("a/../../escape", 0o644, b"x"),),
    (("link", 0o777, "/"), ("link/escape", 0o644, b"x")),
])
def test_refuses_members_outside_the_destination(tmp_path, filters, members):
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(tarfile.TarError, match="escape"):
        _extract(_tar(*members), dest)
    assert not (tmp_path / "escape").exists()


def test_trusted_keeps_modes(tmp_path, filters):
    _extract(_tar(("f", 0o4755, b"x"),), tmp_path, trusted=True)
    assert stat.S_IMODE(os.stat(tmp_path / "f").st_mode) == 0o4755
