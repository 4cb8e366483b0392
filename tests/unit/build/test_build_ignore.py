""".dockerignore rules (moby/patternmatcher semantics) and the pruning context walk."""

from __future__ import annotations

from pathlib import Path

import pytest

from lamina.build import ignore
from lamina.build.ignore import PatternMatcher, go_clean, keep_build_files, read_dockerignore, walk_context
from lamina.errors import InvalidArgument


def test_read_dockerignore_normalises() -> None:
    text = "\ufeff# comment\n  *.md  \n\n/abs/path\n./rel//x/\n!  keep.md\n ! ./a/../b\n#x\n  # not comment\n"
    assert read_dockerignore(text) == ["*.md", "abs/path", "rel/x", "!keep.md", "!b", "# not comment"]


@pytest.mark.parametrize(
    ("path", "cleaned"),
    [
        ("", "."),
        ("a//b/", "a/b"),
        ("./a", "a"),
        ("a/../..", ".."),
        ("/../a", "/a"),
        ("/", "/"),
        ("a/./b/..", "a"),
    ],
)
def test_go_clean(path: str, cleaned: str) -> None:
    assert go_clean(path) == cleaned


@pytest.mark.parametrize(
    ("pattern", "path", "excluded"),
    [
        ("fileutils.go", "fileutils.go", True),
        ("*.go", "fileutils.go", True),
        ("*.go", "dir/fileutils.go", False),
        ("**/*.go", "dir/fileutils.go", True),
        ("**/*.go", "fileutils.go", True),
        ("**", "anything/at/all", True),
        ("**/", "file", True),
        ("dir/**", "dir/a/b", True),
        ("dir/**", "dir", False),
        ("**/foo/bar", "foo/bar", True),
        ("**/foo/bar", "a/b/foo/bar", True),
        ("**/foo/bar", "foo/barx", False),
        ("abc/**/def", "abc/def", True),
        ("abc/**/def", "abc/x/y/def", True),
        ("a*b", "acb", True),
        ("a*b", "a/b", False),
        ("a?b", "acb", True),
        ("a?b", "a/b", False),
        ("a[bc]d", "acd", True),
        ("a[^bc]d", "aed", True),
        ("a[^bc]d", "abd", False),
        ("a[b-d]e", "ace", True),
        ("a\\*b", "a*b", True),
        ("a\\*b", "axb", False),
        ("dir", "dir/sub/file", True),
        ("dir/sub", "dir/sub/file", True),
        ("dir/sub", "dir/other", False),
        ("*", "top", True),
        ("*", "dir/file", True),
        ("foo.(bar)+$|x", "foo.(bar)+$|x", True),
        ("a^b", "a^b", True),
        ("/abs", "abs", True),
        ("./rel", "rel", True),
        ("docs/", "docs/readme", True),
        ("*/*.txt", "a/b.txt", True),
        ("*/*.txt", "a/b/c.txt", False),
        ("?", "x", True),
        ("?", "xy", False),
    ],
)
def test_single_pattern(pattern: str, path: str, excluded: bool) -> None:
    matcher = PatternMatcher(read_dockerignore(pattern))
    assert matcher.matches(path) is excluded


@pytest.mark.parametrize(
    ("patterns", "path", "excluded"),
    [
        (["*.md", "!README.md"], "README.md", False),
        (["*.md", "!README.md"], "CHANGES.md", True),
        (["!README.md", "*.md"], "README.md", True),
        (["docs", "!docs/keep"], "docs/keep", False),
        (["docs", "!docs/keep"], "docs/keep/inner", False),
        (["docs", "!docs/keep"], "docs/drop", True),
        (["docs", "!docs/keep", "docs/keep/secret"], "docs/keep/secret", True),
        (["**", "!src/**/*.py"], "src/a/b.py", False),
        (["**", "!src/**/*.py"], "src/a/b.txt", True),
        (["a", "!a/b", "a/b/c"], "a/b/c/d", True),
        (["a", "!a/b", "a/b/c"], "a/b/x", False),
        (["*", "!Dockerfile"], "Dockerfile", False),
        ([], "anything", False),
    ],
)
def test_pattern_order_last_match_wins(patterns: list[str], path: str, excluded: bool) -> None:
    assert PatternMatcher(patterns).matches(path) is excluded


@pytest.mark.parametrize("pattern", ["!", "[", "a[b", "abc\\"])
def test_bad_patterns(pattern: str) -> None:
    with pytest.raises(InvalidArgument):
        PatternMatcher([pattern])


def _tree(root: Path, files: list[str]) -> None:
    for rel in files:
        path = root / rel
        if rel.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(rel)


def test_walk_context_excludes_and_reincludes(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        [
            "Dockerfile",
            "README.md",
            "notes.md",
            "src/app.py",
            "src/app.pyc",
            "node_modules/x/y.js",
            "docs/a.txt",
            "docs/keep/b.txt",
            "empty/",
        ],
    )
    (tmp_path / "link").symlink_to("src")
    patterns = ["*.md", "!README.md", "**/*.pyc", "node_modules", "docs", "!docs/keep"]
    assert list(walk_context(tmp_path, patterns)) == [
        "Dockerfile",
        "README.md",
        "docs/keep",
        "docs/keep/b.txt",
        "empty",
        "link",
        "src",
        "src/app.py",
    ]


def test_walk_prunes_excluded_dirs_without_exceptions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tree(tmp_path, ["keep.txt", "big/a/b/c.txt", "big/d.txt"])
    opened: list[str] = []
    real_scandir = ignore.os.scandir

    def spy(path: str) -> object:
        opened.append(path)
        return real_scandir(path)

    monkeypatch.setattr(ignore.os, "scandir", spy)
    assert list(walk_context(tmp_path, ["big"])) == ["keep.txt"]
    assert opened == [str(tmp_path)]
    opened.clear()
    assert list(walk_context(tmp_path, ["big", "!other/x"])) == ["keep.txt"]
    assert opened == [str(tmp_path)]
    opened.clear()
    assert list(walk_context(tmp_path, ["big", "!big/a/b"])) == ["big/a/b", "big/a/b/c.txt", "keep.txt"]
    assert str(tmp_path / "big/a") in opened


def test_walk_with_wildcard_exception_descends(tmp_path: Path) -> None:
    _tree(tmp_path, ["x/y/z.go", "x/y/z.txt"])
    assert list(walk_context(tmp_path, ["x", "!**/*.go"])) == ["x/y/z.go"]


def test_could_include_below() -> None:
    matcher = PatternMatcher(["*", "!src/*/keep", "!a"])
    assert matcher.could_include_below("src")
    assert matcher.could_include_below("src/lib")
    assert not matcher.could_include_below("other")
    assert matcher.could_include_below("a/b")


def test_keep_build_files() -> None:
    assert keep_build_files(["*"], "sub/Dockerfile") == ["*", "!.dockerignore", "!sub/Dockerfile"]
    assert keep_build_files(["*.md"]) == ["*.md"]


def test_load_ignore_patterns(tmp_path: Path) -> None:
    assert ignore.load_ignore_patterns(tmp_path) == []
    (tmp_path / ".dockerignore").write_text("a\n")
    assert ignore.load_ignore_patterns(tmp_path, tmp_path / "Dockerfile") == ["a"]
    (tmp_path / "Dockerfile.dockerignore").write_text("b\n")
    assert ignore.load_ignore_patterns(tmp_path, tmp_path / "Dockerfile") == ["b"]
