"""Hostile layers must stay inside the target (conformance README §4.3 breakouts, §4.4, §4.6, §4.7).

Decisions where upstreams disagree (see lamina.layer.pathsafety): names and hardlink
targets climbing above the root are refused (moby, ggcr) rather than clamped (umoci,
containerd); a *relative* symlink climbing above the root while resolving a parent is
refused (moby) rather than clamped (containerd); absolute symlinks resolve inside the
root; backslashes are ordinary name characters.
"""

import os
import stat
from pathlib import Path

import pytest

from lamina.errors import InvalidLayer
from lamina.layer.whiteout import LiteralWhiteouts, OCIWhiteouts
from lamina.testing.trees import Dir, File, Hardlink, Symlink, build_tree, layer_tar, listing

HELLO = b"hello: unique victim content 7f3a\n"


# ---------------------------------------------------------------- moby go-archive breakouts
def _hl(name, target):
    return (name, Hardlink(target))


def _sl(name, target):
    return (name, Symlink(target))


def _loophole(first):
    return [
        [first("loophole-victim", "../victim"), ("loophole-victim/file", File(b"pwn"))],
        [first("loophole-victim", "../victim"), _sl("symlink", "loophole-victim/hello")],
        [first("loophole-victim", "../victim"), _hl("hardlink", "loophole-victim/hello")],
        [first("loophole-victim", "../victim"), ("loophole-victim", File(b"pwn"))],
    ]


BREAKOUTS = {
    "file-dotdot": [("../victim/dotdot", File(b"pwn"))],
    "file-slash-dotdot": [("/../victim/slash-dotdot", File(b"pwn"))],
    "hardlink-dotdot": [_hl("dotdot", "../victim/hello")],
    "hardlink-slash-dotdot": [_hl("slash-dotdot", "/../victim/hello")],
    "symlink-dotdot": [_sl("dotdot", "../victim/hello")],
    "symlink-slash-dotdot": [_sl("slash-dotdot", "/../victim/hello")],
    **{f"hardlink-loophole-{i}": layer for i, layer in enumerate(_loophole(_hl))},
    **{f"symlink-loophole-{i}": layer for i, layer in enumerate(_loophole(_sl))},
    "symlink-dir-loophole": [_sl("dir/loophole", "../../victim"),
                             ("dir/loophole/newdir/newfile", File(b"pwn"))],
    "two-hop-chain": [("inner", Dir()), _sl("inner/go_up", ".."), _sl("inner/go_up/escape", "../victim"),
                      ("inner/go_up/escape/newfile", File(b"pwn"))],
    "prefix-sibling": [_hl("grab", "../dest-evil/secret")],
    "hardlink-to-symlink": [_sl("symlink1", "regfile"), _hl("symlink2", "symlink1"),
                            ("regfile", File(b"regular"))],
}


@pytest.fixture
def arena(tmp_path):
    (tmp_path / "victim").mkdir()
    (tmp_path / "victim/hello").write_bytes(HELLO)
    os.chmod(tmp_path / "victim/hello", 0o644)
    (tmp_path / "dest-evil").mkdir()
    (tmp_path / "dest-evil/secret").write_bytes(HELLO)
    (tmp_path / "dest/victim").mkdir(parents=True)
    return tmp_path


def _assert_contained(arena: Path) -> None:
    assert sorted(os.listdir(arena / "victim")) == ["hello"]
    hello = arena / "victim/hello"
    assert hello.read_bytes() == HELLO and stat.S_IMODE(hello.stat().st_mode) == 0o644
    assert not (arena / "dest/grab").exists()
    assert sorted(os.listdir(arena)) == ["dest", "dest-evil", "victim"]
    for dirpath, _, files in os.walk(arena / "dest"):
        for name in files:
            p = Path(dirpath, name)
            if p.is_file() and not p.is_symlink():
                assert p.read_bytes() != HELLO, p


@pytest.mark.parametrize("fmt", [OCIWhiteouts(), LiteralWhiteouts()], ids=["apply-layer", "untar"])
@pytest.mark.parametrize("case", BREAKOUTS)
def test_moby_breakout_is_refused_or_contained(arena, apply_tar, case, fmt):
    try:
        apply_tar(layer_tar(BREAKOUTS[case]), arena / "dest", fmt)
    except InvalidLayer as err:
        assert err.entry is not None
    _assert_contained(arena)


@pytest.mark.parametrize("name", ["..", "../pwned", "../../pwned"])
def test_moby_dotdot_names_are_errors(arena, apply_tar, name):
    with pytest.raises(InvalidLayer) as err:
        apply_tar(layer_tar([(name, File(b"pwn"))]), arena / "dest")
    assert err.value.entry == name
    _assert_contained(arena)


def test_moby_escape_then_absolute_link_is_an_error(tmp_path, apply_tar):
    r = build_tree(tmp_path / "r", {"escape": Symlink(".."), "absolute": Symlink("/target"), "target": Dir()})
    with pytest.raises(InvalidLayer) as err:
        apply_tar(layer_tar({"escape/absolute/file": File(b"x")}), r)
    assert err.value.entry == "escape/absolute/file"
    assert not (r / "target/file").exists()


# ---------------------------------------------------------------- moby: legitimate absolute targets
def test_absolute_hardlink_target_is_root_relative(tmp_path, apply_tar):
    apply_tar(layer_tar({"usr/bin/perlbug": File(b"perl"), "usr/bin/perlthanks": Hardlink("/usr/bin/perlbug")}),
              tmp_path / "r")
    assert os.path.samefile(tmp_path / "r/usr/bin/perlbug", tmp_path / "r/usr/bin/perlthanks")


def test_absolute_symlink_parent_resolves_inside_root(tmp_path, apply_tar):
    r = build_tree(tmp_path / "r", {"var/run": Symlink("/run"), "run/existing": Dir()})
    apply_tar(layer_tar({"var/run/existing/non-existing/file": File(b"x")}), r)
    assert (r / "run/existing/non-existing/file").read_bytes() == b"x"
    assert os.path.islink(r / "var/run")


def test_file_and_hardlink_through_absolute_symlink(tmp_path, apply_tar):
    r = build_tree(tmp_path / "r", {"var/run": Symlink("/run")})
    apply_tar(layer_tar({"var/run/source": File(b"s"), "var/run/link": Hardlink("var/run/source")}), r)
    st = (r / "run/source").stat()
    assert st.st_ino == (r / "run/link").stat().st_ino and st.st_nlink == 2


def test_relative_symlinked_lib_dir(tmp_path, apply_tar):
    r = tmp_path / "r"
    apply_tar(layer_tar({"usr": Dir(), "usr/lib": Dir(), "lib": Symlink("usr/lib")}), r)
    apply_tar(layer_tar({"lib/systemd/system/container.service": File(b"[Unit]")}), r)
    assert (r / "usr/lib/systemd/system/container.service").read_bytes() == b"[Unit]"
    assert os.readlink(r / "lib") == "usr/lib"


# ---------------------------------------------------------------- containerd pkg/archive (table §4.4)
PASSWD = [("etc", Dir()), ("etc/passwd", File(b"all users"))]


def same_inode(a, b):
    return lambda r: os.path.samefile(r / a, r / b) and not os.path.islink(r / a)


def content(path, data):
    return lambda r: (r / path).read_bytes() == data


REJECT = "reject"  # our documented, safer deviation: InvalidLayer, nothing outside written

CONTAINERD = {
    "SymlinkAbsolute": ({}, [("etc", Dir()), _sl("localetc", "/etc"), ("/localetc/unbroken", File(b"unbroken"))],
                        content("etc/unbroken", b"unbroken")),
    "SymlinkUpAndOut": ({}, [("etc", Dir()), ("dummy", Dir()), _sl("localetc", "/dummy/../etc"),
                             ("/localetc/unbroken", File(b"unbroken"))], content("etc/unbroken", b"unbroken")),
    "SymlinkMultipleAbsolute": ({}, [("etc", Dir()), ("dummy", Dir()), _sl("/dummy/etc", "/etc"),
                                     _sl("localetc", "/dummy/etc"), ("/dummy/etc/unbroken", File(b"unbroken"))],
                                content("etc/unbroken", b"unbroken")),
    "SymlinkMultipleRelative": ({}, [("etc", Dir()), ("dummy", Dir()), _sl("/dummy/etc", "/etc"),
                                     _sl("localetc", "./dummy/etc"), ("/localetc/unbroken", File(b"unbroken"))],
                                content("etc/unbroken", b"unbroken")),
    "SymlinkEmptyFile": ({}, [("etc", Dir()), ("etc/emptied", File(b"notempty")), _sl("localetc", "/etc"),
                              ("/localetc/emptied", File(b""))], content("etc/emptied", b"")),
    "HardlinkRelative": ({}, [*PASSWD, ("breakouts", Dir()), _sl("breakouts/d1", "../../etc"),
                              _hl("breakouts/mypasswd", "/breakouts/d1/passwd")], REJECT),
    "HardlinkDownAndOut": ({}, [*PASSWD, ("breakouts", Dir()), ("downandout", Dir()),
                                _sl("breakouts/d1", "../downandout/../../etc"),
                                _hl("breakouts/mypasswd", "/breakouts/d1/passwd")], REJECT),
    "HardlinkAbsolute": ({}, [*PASSWD, _sl("localetc", "/etc"), _hl("localpasswd", "/localetc/passwd")],
                         same_inode("localpasswd", "etc/passwd")),
    "HardlinkRelativeLong": ({}, [*PASSWD, _sl("localetc", "../../../../../../../etc"),
                                  _hl("localpasswd", "/localetc/passwd")], REJECT),
    "HardlinkRelativeUpAndOut": ({}, [*PASSWD, _sl("localetc", "upandout/../../../etc"),
                                      _hl("localpasswd", "/localetc/passwd")], REJECT),
    "HardlinkDirectRelative": ({}, [*PASSWD, _hl("localpasswd", "../../../../../etc/passwd")], REJECT),
    "HardlinkDirectAbsolute": ({}, [*PASSWD, _hl("localpasswd", "/etc/passwd")],
                               same_inode("localpasswd", "etc/passwd")),
    "SymlinkParentDirectory": ({}, [*PASSWD, _sl("..", "/etc/"), _hl("localpasswd", "/etc/passwd")], REJECT),
    "SymlinkEmptyFilename": ({}, [*PASSWD, _sl("", "/etc/"), _hl("localpasswd", "/etc/passwd")], REJECT),
    "SymlinkParentRelative": ({}, [*PASSWD, _sl("localetc/sub/..", "/etc/"),
                                   _hl("/localetc/localpasswd", "/etc/passwd")],
                              same_inode("etc/localpasswd", "etc/passwd")),
    "SymlinkSlashEnded": ({}, [*PASSWD, ("localetc/", Dir()), _hl("/localetc/localpasswd", "/etc/passwd")],
                          same_inode("localetc/localpasswd", "etc/passwd")),
    "SymlinkOverrideDirectory": ({"etc/passwd": File(b"all users"), "localetc": Dir()},
                                 [_sl("localetc", "/etc"), _hl("/localetc/localpasswd", "/etc/passwd")],
                                 same_inode("etc/localpasswd", "etc/passwd")),
    "SymlinkOverrideDirectoryRelative": ({"etc/passwd": File(b"all users"), "localetc": Dir()},
                                         [_sl("localetc", "../../etc"),
                                          _hl("/localetc/localpasswd", "/etc/passwd")], REJECT),
    "DirectoryOverrideSymlink": ({"etc/passwd": File(b"all users"), "localetc": Symlink("/etc")},
                                 [("/localetc/", Dir()), _hl("/localetc/localpasswd", "/etc/passwd")],
                                 same_inode("localetc/localpasswd", "etc/passwd")),
    "DirectoryOverrideSymlinkAndHardlink": (
        {"etc/passwd": File(b"all users"), "localetc": Symlink("etc"), "etc/localpasswd": Hardlink("etc/passwd")},
        [("/localetc/", Dir()), ("/localetc/localpasswd", File(b"different"))],
        lambda r: (not os.path.samefile(r / "localetc/localpasswd", r / "etc/passwd")
                   and (r / "etc/passwd").read_bytes() == b"all users"
                   and (r / "localetc/localpasswd").read_bytes() == b"different")),
    "WhiteoutRootParent": ({"etc/passwd": File(b"all users")}, [(".wh...", File(b""))], REJECT),
    "WhiteoutParent": ({"etc/passwd": File(b"all users")}, [("etc/.wh...", File(b""))], REJECT),
    "WhiteoutRoot": ({"etc/passwd": File(b"all users")}, [(".wh..", File(b""))], REJECT),
    "WhiteoutCurrentDirectory": ({"etc/passwd": File(b"all users")}, [("etc/.wh..", File(b""))], REJECT),
    "WhiteoutSymlink": ({"etc/passwd": File(b"all users"), "localetc": Symlink("/etc")},
                        [(".wh.localetc", File(b""))],
                        lambda r: not os.path.lexists(r / "localetc") and (r / "etc/passwd").exists()),
    "WhiteoutSymlinkPath": ({"etc/passwd": File(b"all users"), "etc/whitedout": File(b""),
                             "localetc": Symlink("/etc")}, [("localetc/.wh.whitedout", File(b""))],
                            lambda r: not (r / "etc/whitedout").exists() and (r / "etc/passwd").exists()),
    "WhiteoutDirectoryName": ({"etc/passwd": File(b"all users"), "localetc": Symlink("/etc")},
                              [(".wh.etc/somefile", File(b"non-empty"))],
                              lambda r: (r / ".wh.etc/somefile").read_bytes() == b"non-empty"
                              and (r / "etc/passwd").exists()),
    "WhiteoutDeadSymlinkParent": ({"etc/passwd": File(b"all users"), "localetc": Symlink("/dne")},
                                  [("localetc/.wh.etc", File(b""))], content("etc/passwd", b"all users")),
    "WhiteoutRelativePath": ({"etc/passwd": File(b"all users"), "localetc": Symlink("/dne")},
                             [("dne/../.wh.etc", File(b""))], lambda r: not (r / "etc").exists()),
    "SymlinkOverridePath": ({}, [("foo", Dir()), ("foo/tmp", Dir()), ("foo/tmp/X", File(b"\0\1\2")),
                                 _sl("foo", "/"), ("foo/tmp/X", File(b"\3\4\5")), ("foo", Dir()),
                                 ("foo/tmp", Dir()), ("foo/tmp/X", File(b"\6\7\x08"))],
                            lambda r: (r / "foo/tmp/X").read_bytes() == b"\6\7\x08"
                            and (r / "tmp/X").read_bytes() == b"\3\4\5"),
    "HardlinkSymlinkBeforeCreateTarget": ({}, [("etc", Dir()), _sl("localpasswd", "/etc/passwd"),
                                               _hl("localpasswd-dup", "localpasswd"),
                                               ("/etc/passwd", File(b"all users"))],
                                          lambda r: os.readlink(r / "localpasswd-dup") == "/etc/passwd"
                                          and (r / "localpasswd").lstat().st_ino
                                          == (r / "localpasswd-dup").lstat().st_ino
                                          and (r / "etc/passwd").read_bytes() == b"all users"),
    "HardlinkSymlinkRelative": ({"etc/passwd": File(b"all users")},
                                [_sl("passwdlink", "../../../../../etc/passwd"), _hl("localpasswd", "/passwdlink")],
                                lambda r: os.readlink(r / "localpasswd") == "../../../../../etc/passwd"),
    "HardlinkSymlinkAbsolute": ({"etc/passwd": File(b"all users")},
                                [_sl("passwdlink", "/etc/passwd"), _hl("localpasswd", "/passwdlink")],
                                lambda r: os.readlink(r / "localpasswd") == "/etc/passwd"),
    "DirectoryCreation": ({"etc": Dir()}, [("/etc/subdir", Dir()), ("/etc/subdir2/", Dir()),
                                           ("/etc/subdir2/more", Dir()), ("/other/noparent-1/1", Dir()),
                                           ("/other/noparent-2/2/", Dir())],
                          lambda r: all((r / p).is_dir() for p in (
                              "etc/subdir", "etc/subdir2/more", "other/noparent-1/1", "other/noparent-2/2"))),
}


@pytest.mark.parametrize("case", CONTAINERD)
def test_containerd_apply_case(tmp_path, apply_tar, case):
    before, layer, check = CONTAINERD[case]
    r = build_tree(tmp_path / "root", before)
    outside = sorted(os.listdir(tmp_path))
    if check == REJECT:
        with pytest.raises(InvalidLayer) as err:
            apply_tar(layer_tar(layer), r)
        assert err.value.entry is not None
    else:
        apply_tar(layer_tar(layer), r)
        assert check(r), listing(r)
    assert sorted(os.listdir(tmp_path)) == outside


def test_containerd_hardlink_symlink_chmod_never_follows_out(tmp_path, apply_tar):
    host = tmp_path / "host"
    host.mkdir()
    p, e = host / "perm400", host / "also-exists-outside-root"
    p.write_bytes(b"secret")
    os.chmod(p, 0o400)
    e.write_bytes(b"e")
    r = tmp_path / "root"
    apply_tar(layer_tar([_sl(str(e), str(p)), _hl("sketchylink", str(e))]), r)
    assert stat.S_IMODE(p.stat().st_mode) == 0o400 and p.read_bytes() == b"secret"
    assert e.read_bytes() == b"e"
    inside = r / str(e).lstrip("/")
    assert os.readlink(inside) == str(p) and os.path.samefile(inside, r / "sketchylink")


# ---------------------------------------------------------------- umoci path sanitising
@pytest.mark.parametrize("name", ["/../file", "../file"])
def test_umoci_dotdot_names_refused_not_clamped(tmp_path, apply_tar, name):
    with pytest.raises(InvalidLayer):
        apply_tar(layer_tar([(name, File(b"x"))]), tmp_path / "rootfs")
    assert sorted(os.listdir(tmp_path)) == ["rootfs"]


@pytest.mark.parametrize("target", ["/", "/../", "/../../../../", "/./.././../.", ".."])
def test_umoci_symlink_to_root_resolves_inside(tmp_path, apply_tar, target):
    r = build_tree(tmp_path / "rootfs", {"link": Symlink(target)})
    if target == "..":  # relative escape: refused (moby), umoci would clamp
        with pytest.raises(InvalidLayer):
            apply_tar(layer_tar({"link/file": File(b"x")}), r)
    else:
        apply_tar(layer_tar({"link/file": File(b"x")}), r)
        assert (r / "file").read_bytes() == b"x"
    assert sorted(os.listdir(tmp_path)) == ["rootfs"]


def test_umoci_nondir_becomes_dir(tmp_path, apply_tar):
    apply_tar(layer_tar([("nondir", File(b"x")), ("nondir/foo/bar/baz", File(b"y"))]), tmp_path / "r")
    assert (tmp_path / "r/nondir/foo/bar/baz").read_bytes() == b"y"


def test_umoci_missing_parents_created(tmp_path, apply_tar):
    apply_tar(layer_tar({"a/b/c/file": File(b"x")}), tmp_path / "r")
    assert (tmp_path / "r/a/b/c/file").read_bytes() == b"x"


def test_umoci_hardlinks(tmp_path, apply_tar):
    apply_tar(layer_tar([("regular", File(b"r", uid=0, gid=0)), _sl("link", "../../../regular"),
                         _hl("hard link", "/regular"), _hl("hard link to symlink", "/link")]), tmp_path / "r")
    r = tmp_path / "r"
    assert os.path.samefile(r / "hard link", r / "regular")
    assert os.readlink(r / "hard link to symlink") == "../../../regular"
    assert (r / "hard link to symlink").lstat().st_ino == (r / "link").lstat().st_ino


def test_umoci_hardlink_with_dotdot_target_refused(tmp_path, apply_tar):
    with pytest.raises(InvalidLayer):
        apply_tar(layer_tar([("regular", File(b"r")), _sl("link", "../../../regular"),
                             _hl("hard link to symlink", "../../../link")]), tmp_path / "r")


def test_umoci_hardlink_header_owner_ignored(tmp_path, apply_tar):
    info = Hardlink("/regular")
    object.__setattr__(info, "uid", 1234)
    object.__setattr__(info, "gid", 1234)
    apply_tar(layer_tar([("regular", File(b"r", uid=0, gid=0)), ("hl", info)]), tmp_path / "r")
    assert (tmp_path / "r/regular").stat().st_uid == os.geteuid()


# ---------------------------------------------------------------- ggcr unsafe names
@pytest.mark.parametrize("name", ["../tmp/evil"])
def test_ggcr_unsafe_name_refused(tmp_path, apply_tar, name):
    with pytest.raises(InvalidLayer):
        apply_tar(layer_tar({name: File(b"evil")}), tmp_path / "r")


@pytest.mark.parametrize("name", ["..\\..\\tmp\\evil", "\\tmp\\evil", "C:\\tmp\\evil", "C:/tmp/evil", "C:..\\evil"])
def test_ggcr_windows_names_are_plain_linux_names(tmp_path, apply_tar, name):
    """ggcr refuses these as unsafe; on Linux they are ordinary names, kept inside the root."""
    apply_tar(layer_tar({name: File(b"evil")}), tmp_path / "r")
    assert (tmp_path / "r" / name).read_bytes() == b"evil"
    assert sorted(os.listdir(tmp_path)) == ["r"]


@pytest.mark.parametrize("name", [".", "tmp/safe"])
def test_ggcr_safe_names(tmp_path, apply_tar, name):
    node = Dir() if name == "." else File(b"ok")
    apply_tar(layer_tar({name: node}), tmp_path / "r")
    assert (tmp_path / "r" / name).exists()


def test_ggcr_symlinks_kept_verbatim(tmp_path, apply_tar):
    """ggcr's flatten drops relative links climbing above the root; apply keeps every link as data."""
    links = {"usr/local/bin/ld.so": "../lib/ld-linux.so.2", "var/lock": "../run/lock",
             "app/bin/win-rel": "..\\lib\\tool", "usr/local/bin/abs-link": "/etc/passwd",
             "etc/foo": "../../../tmp/evil", "etc/win-escape": "..\\..\\tmp\\evil"}
    apply_tar(layer_tar({k: Symlink(v) for k, v in links.items()}), tmp_path / "r")
    assert {k: os.readlink(tmp_path / "r" / k) for k in links} == links
    assert sorted(os.listdir(tmp_path)) == ["r"]
