"""continuity fstest scenarios (§4.5): after each step, diff → apply onto a replica must equal the tree."""

import itertools
import os
import shutil
from pathlib import Path

import pytest

from lamina.testing.trees import snapshot

_clock = itertools.count(1_600_000_000, 7)


class Scenario:
    def __init__(self, tmp_path: Path, apply_tar, diff) -> None:
        self.live, self.replica = tmp_path / "live", tmp_path / "replica"
        self.live.mkdir()
        self.replica.mkdir()
        self.apply_tar, self.diff = apply_tar, diff

    # mutations on the live tree (explicit mtimes: a rewrite within one second is still seen)
    def write(self, rel, data=b"", mode=0o644):
        p = self.live / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        os.chmod(p, mode)
        t = next(_clock)
        os.utime(p, (t, t))

    def mkdir(self, rel, mode=0o755):
        (self.live / rel).mkdir(parents=True, exist_ok=True)
        os.chmod(self.live / rel, mode)

    def chmod(self, rel, mode):
        os.chmod(self.live / rel, mode)

    def link(self, target, rel):
        os.link(self.live / target, self.live / rel)

    def symlink(self, target, rel):
        os.symlink(target, self.live / rel)

    def remove(self, rel):
        p = self.live / rel
        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()

    def rename(self, a, b):
        os.rename(self.live / a, self.live / b)

    def check(self):
        self.apply_tar(self.diff(self.replica, self.live), self.replica)
        assert snapshot(self.replica) == snapshot(self.live)


@pytest.fixture
def s(tmp_path, apply_tar, diff):
    return Scenario(tmp_path, apply_tar, diff)


def base(s):
    s.mkdir("etc")
    s.write("etc/hosts", b"127.0.0.1 localhost")
    s.link("etc/hosts", "etc/hosts.allow")
    s.mkdir("usr/local/lib")
    s.write("usr/local/lib/libnothing.so", b"\0\0", 0o755)
    s.symlink("libnothing.so", "usr/local/lib/libnothing.so.2")
    s.mkdir("home")
    s.mkdir("home/derek", 0o700)
    s.check()


def rewrite_hosts(s):
    with open(s.live / "etc/hosts", "wb") as f:  # in place: hosts.allow keeps following it
        f.write(b"127.0.0.1 localhost\n::1 localhost6")
    t = next(_clock)
    os.utime(s.live / "etc/hosts", (t, t))


def test_basic(s):
    base(s)
    rewrite_hosts(s)
    s.write("etc/fstab", b"/dev/sda1 / ext4", 0o600)
    s.write("etc/badfile", b"bad", 0o666)
    s.write("home/derek/.zshrc", b"PS1=%", 0o640)
    s.check()
    assert os.path.samefile(s.replica / "etc/hosts", s.replica / "etc/hosts.allow")
    s.remove("etc/badfile")
    s.rename("home/derek", "home/notderek")
    s.check()
    s.remove("usr")
    s.remove("etc/hosts.allow")
    s.check()
    s.remove("home")
    s.mkdir("home/derek", 0o700)
    s.write("home/derek/.bashrc", b"alias ll='ls -l'")
    s.link("etc/hosts", "etc/hosts.allow")
    s.check()


def test_deletion(s):
    s.mkdir("test/somedir")
    s.mkdir("lib", 0o700)
    s.write("lib/hidden", b"secret")
    s.check()
    s.write("test/a")
    s.write("test/b")
    s.write("test/otherdir/.empty")
    s.remove("lib")
    s.mkdir("lib", 0o700)
    s.write("lib/not-hidden", b"plain")
    s.check()
    assert not (s.replica / "lib/hidden").exists()
    s.remove("test/a")
    s.remove("test/b")
    s.remove("test/otherdir")
    s.write("lib/newfile")
    s.check()


def test_update(s):
    s.mkdir("d1")
    for name in ("f1", "f2", "f3"):
        s.write(f"d1/{name}", name.encode())
    s.mkdir("d2", 0o700)
    s.check()
    s.write("d1/f1", b"f1 but different", 0o664)
    s.remove("d1/f3")
    s.write("d1/f3", b"f3")
    s.chmod("d1/f2", 0o766)
    s.chmod("d2", 0o777)
    s.check()


def test_directory_permission(s):
    for d, mode in (("d1", 0o700), ("d2", 0o751), ("d3", 0o777)):
        s.mkdir(d, mode)
    s.check()
    for d in ("d1", "d2", "d3"):
        s.write(f"{d}/f", d.encode())
    s.check()


def test_parent_directory_permission(s):
    s.mkdir("d1", 0o700)
    s.mkdir("d1/a", 0o751)
    s.mkdir("d1/a/b", 0o700)
    s.write("d1/a/b/f", b"one")
    s.mkdir("d2/c/d", 0o751)
    s.check()
    s.write("d1/a/b/f", b"two, longer")
    s.chmod("d2/c/d", 0o700)
    s.check()


@pytest.mark.parametrize("name,recreate", [("hosts.deny", False), ("before-hosts", False),
                                           ("before-hosts", True)],
                         ids=["HardlinkUnmodified", "HardlinkBeforeUnmodified", "HardlinkBeforeModified"])
def test_hardlinks(s, name, recreate):
    base(s)
    rewrite_hosts(s)
    if recreate:
        s.remove("etc/hosts")
        s.write("etc/hosts", b"127.0.0.1 recreated")
    s.link("etc/hosts", f"etc/{name}")
    s.check()
    assert os.path.samefile(s.replica / "etc/hosts", s.replica / f"etc/{name}")
