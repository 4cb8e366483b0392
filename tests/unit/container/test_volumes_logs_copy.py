"""container.volumes (grammar, store), container.logs (json-file) and container.copy (path safety)."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from lamina._internal.fsops import resolve_in_root
from lamina.container.copy import copy_in, copy_out
from lamina.container.logs import LogWriter, pump, read_logs, timestamp_ns
from lamina.container.volumes import ANONYMOUS_LABEL, VolumeStore, parse_mount, parse_volume
from lamina.errors import InvalidArgument, InvalidOption, VolumeInUse, VolumeNotFound


@pytest.mark.parametrize(("spec", "kind", "source", "dest", "ro"), [
    ("/data", "volume", "", "/data", False),
    ("named:/data", "volume", "named", "/data", False),
    ("named:/data:ro", "volume", "named", "/data", True),
    ("/host/x:/ctr", "bind", "/host/x", "/ctr", False),
    ("/host/x:/ctr:ro,rprivate", "bind", "/host/x", "/ctr", True),
])
def test_parse_volume(spec, kind, source, dest, ro):
    req = parse_volume(spec)
    assert (req.kind, req.source, req.destination, req.read_only) == (kind, source, dest, ro)


@pytest.mark.parametrize("spec", ["a:b:c:d", "", "rel/dir:/x", "/h:rel", "/h:/x:bogus", "/h:/", "x::y"])
def test_parse_volume_rejects(spec):
    with pytest.raises(InvalidOption) as info:
        parse_volume(spec)
    assert spec in str(info.value)


def test_parse_mount():
    req = parse_mount("type=bind,source=/h,target=/c,readonly")
    assert (req.kind, req.source, req.destination, req.read_only) == ("bind", "/h", "/c", True)
    assert parse_mount("type=volume,src=v,dst=/c").source == "v"
    assert parse_mount("type=tmpfs,target=/t,tmpfs-size=1m").options == ("size=1m",)
    for bad in ("type=nfs,target=/c", "type=bind,source=rel,target=/c", "source=/x", "type=bind,target=/c,x=1"):
        with pytest.raises(InvalidOption):
            parse_mount(bad)


def test_volume_store(tmp_path):
    store = VolumeStore(tmp_path)
    named = store.create("v1", labels={"a": "b"})
    assert store.create("v1") == named  # idempotent
    anon = store.create()
    assert len(anon.name) == 64 and anon.anonymous and ANONYMOUS_LABEL in anon.labels
    info = named.to_inspect()
    assert info["Mountpoint"] == str(tmp_path / "v1" / "_data") and info["Driver"] == "local"
    assert info["Scope"] == "local" and info["Labels"] == {"a": "b"}
    with pytest.raises(VolumeInUse):
        store.remove("v1", users=["web"])
    (named.mountpoint / "f").write_bytes(b"12345")
    assert store.prune([], all_volumes=False) == [(anon.name, 0)]
    assert store.prune([], all_volumes=True) == [("v1", 5)]
    with pytest.raises(VolumeNotFound):
        store.get("v1")
    with pytest.raises(InvalidOption):
        store.create("bad/name")


def test_logs_round_trip(tmp_path):
    path = tmp_path / "log"
    writer = LogWriter(path)
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    threads = [pump(r1, "stdout", writer, None), pump(r2, "stderr", writer, None)]
    os.write(w1, b"one\ntwo\npartial")
    os.write(w2, b"err\n")
    os.close(w1)
    os.close(w2)
    for t in threads:
        t.join()
    writer.close()
    entries = read_logs(path)
    assert sorted((e.stream, e.data) for e in entries) == [
        ("stderr", b"err\n"), ("stdout", b"one\n"), ("stdout", b"partial"), ("stdout", b"two\n")]
    assert [e.data for e in read_logs(path, tail=1)] == [entries[-1].data]
    assert read_logs(tmp_path / "missing") == []
    assert timestamp_ns(1_500_000_000_000_000_001) == "2017-07-14T02:40:00.000000001Z"


def test_resolve_in_root_never_escapes(tmp_path):
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "abs").symlink_to("/etc")
    (root / "up").symlink_to("../../..")
    (root / "etc" / "rel").symlink_to("../etc")
    assert resolve_in_root(root, "/abs/passwd") == root / "etc" / "passwd"
    assert resolve_in_root(root, "/up/x") == root / "x"
    assert resolve_in_root(root, "/../../x") == root / "x"
    assert resolve_in_root(root, "/etc/rel/rel/f") == root / "etc" / "f"
    assert resolve_in_root(root, "/abs", follow_last=False) == root / "abs"
    (root / "loop").symlink_to("/loop")
    with pytest.raises(InvalidArgument, match="too many levels of symbolic links"):
        resolve_in_root(root, "/loop")


def test_copy_both_ways(tmp_path):
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "f").write_text("in\n")
    (root / "bin").symlink_to("/etc")
    copy_out(root, "/etc/f", str(tmp_path / "out.txt"))
    assert (tmp_path / "out.txt").read_text() == "in\n"
    host = tmp_path / "h.txt"
    host.write_text("host\n")
    copy_in(root, str(host), "/bin/")  # /bin -> /etc inside the rootfs, not the host's /etc
    assert (root / "etc" / "h.txt").read_text() == "host\n"
    buf = io.BytesIO()
    copy_out(root, "/etc", buf)
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        assert {"etc", "etc/f", "etc/h.txt"} <= set(tar.getnames())
    buf.seek(0)
    (root / "dst").mkdir()
    copy_in(root, buf, "/dst")
    assert (root / "dst" / "etc" / "f").exists()


def test_resolve_in_root_follows_the_deepest_mount(tmp_path):
    from lamina._internal.fsops import resolve_in_root
    root, outer, inner = tmp_path / "root", tmp_path / "outer", tmp_path / "inner"
    for d in (root / "etc", outer / "sub", inner):
        d.mkdir(parents=True)
    (root / "link").symlink_to("/data/sub")
    mounts = [("/data", outer), ("/data/sub", inner)]
    assert resolve_in_root(root, "/etc/x", mounts=mounts) == root / "etc" / "x"
    assert resolve_in_root(root, "/data/y", mounts=mounts) == outer / "y"
    assert resolve_in_root(root, "/data/sub", mounts=mounts) == inner
    assert resolve_in_root(root, "/data/sub/x", mounts=mounts) == inner / "x"
    assert resolve_in_root(root, "/link/x", mounts=mounts) == inner / "x"          # a symlink into a mount
    assert resolve_in_root(root, "/data/sub/../../etc", mounts=mounts) == root / "etc"
