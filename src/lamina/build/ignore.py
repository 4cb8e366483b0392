""".dockerignore matching with docker's rules (moby/patternmatcher semantics) and a pruning walk.

Rules: lines starting with ``#`` are comments; surrounding whitespace is trimmed; ``!`` marks an
exception (re-include); a leading ``/`` is dropped and every pattern is cleaned like Go's
``filepath.Clean`` (so ``./a//b/`` is ``a/b``).  ``*`` matches within one path component, ``?`` one
character (not ``/``), ``[...]`` a character class, ``**`` any number of components, ``\\`` escapes.
Patterns are evaluated in order and the last one that matches a path *or one of its parent
directories* wins, so excluding a directory excludes its contents.

``walk_context(root, patterns)`` lists the included paths, skipping an excluded directory entirely
unless some exception pattern could re-include something below it.

Must not: follow symlinks, read file contents, or write anything.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lamina.errors import InvalidArgument

__all__ = ["PatternMatcher", "go_clean", "keep_build_files", "load_ignore_patterns", "read_dockerignore",
           "walk_context"]


def go_clean(path: str) -> str:
    """Go's ``path.Clean``: drop empty and ``.`` components, resolve ``..`` lexically."""
    if not path:
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for comp in path.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(comp)
    joined = "/".join(parts)
    return "/" + joined if rooted else (joined or ".")


def read_dockerignore(text: str) -> list[str]:
    """Patterns from ``.dockerignore`` text, normalised the way the docker CLI does."""
    patterns: list[str] = []
    for number, raw in enumerate(text.split("\n")):
        line = raw.removeprefix("\ufeff") if number == 0 else raw
        if line.startswith("#"):
            continue
        line = line.strip()
        if not line:
            continue
        invert = line.startswith("!")
        if invert:
            line = line[1:].strip()
        if line:
            line = go_clean(line)
            if len(line) > 1 and line.startswith("/"):
                line = line[1:]
        patterns.append("!" + line if invert else line)
    return patterns


@dataclass(frozen=True, slots=True)
class _Pattern:
    text: str
    exclusion: bool
    regex: re.Pattern[str]
    dirs: tuple[str, ...]


def _translate(pattern: str) -> str:
    """patternmatcher's pattern -> regex conversion (``**`` spans components, ``*`` does not)."""
    out = ["^"]
    i, n, in_class = 0, len(pattern), False
    while i < n:
        ch = pattern[i]
        i += 1
        if in_class:
            in_class = ch != "]"
            if ch == "\\" and i < n:
                out.append("\\" + pattern[i])
                i += 1
            else:
                out.append(ch if ch not in "[" else "\\[")
        elif ch == "*":
            i = _translate_star(pattern, i, out)
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            in_class = True
            out.append("[")
            if pattern.startswith("^", i) or pattern.startswith("!", i):
                out.append("^")
                i += 1
        elif ch == "\\":
            out.append(re.escape(pattern[i]) if i < n else "\\\\")
            i += 1
        else:
            out.append(re.escape(ch))
    if in_class:
        raise ValueError("syntax error in pattern")
    return "".join(out) + "$"


def _translate_star(pattern: str, i: int, out: list[str]) -> int:
    if not pattern.startswith("*", i):
        out.append("[^/]*")
        return i
    i += 1
    if pattern.startswith("/", i):
        i += 1
    out.append(".*" if i >= len(pattern) else "(.*/)?")
    return i


def _compile(text: str) -> _Pattern:
    cleaned = go_clean(text.strip())
    exclusion = cleaned.startswith("!")
    if exclusion:
        if len(cleaned) == 1:
            raise InvalidArgument('illegal exclusion pattern: "!"', pattern=text)
        cleaned = cleaned[1:]
    if cleaned.endswith("\\") and not cleaned.endswith("\\\\"):
        raise InvalidArgument(f"invalid .dockerignore pattern {text!r}: syntax error in pattern",
                              pattern=text)
    try:
        regex = re.compile(_translate(cleaned))
    except (ValueError, re.error):
        raise InvalidArgument(f"invalid .dockerignore pattern {text!r}: syntax error in pattern",
                              pattern=text) from None
    return _Pattern(cleaned, exclusion, regex, tuple(cleaned.split("/")))


class PatternMatcher:
    """An ordered list of .dockerignore patterns; ``matches(path)`` is docker's
    ``MatchesOrParentMatches`` (True = excluded from the context)."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(_compile(p) for p in patterns if p.strip())
        self.exclusions = any(p.exclusion for p in self.patterns)
        self._component_cache: dict[str, re.Pattern[str]] = {}

    def matches(self, path: str) -> bool:
        path = go_clean(path.replace(os.sep, "/")).lstrip("/")
        parents = path.split("/")[:-1]
        parent_paths = ["/".join(parents[:i + 1]) for i in range(len(parents))]
        matched = False
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue
            hit = pattern.regex.match(path) is not None or any(
                pattern.regex.match(parent) for parent in parent_paths)
            if hit:
                matched = not pattern.exclusion
        return matched

    def could_include_below(self, directory: str) -> bool:
        """Conservatively: might an exception pattern re-include something under ``directory``?"""
        comps = directory.strip("/").split("/")
        return any(self._exception_reaches(p, comps) for p in self.patterns if p.exclusion)

    def _exception_reaches(self, pattern: _Pattern, comps: list[str]) -> bool:
        for i, comp in enumerate(comps):
            if i >= len(pattern.dirs) or "**" in pattern.dirs[i]:
                return True
            if not self._component(pattern.dirs[i]).match(comp):
                return False
        return True

    def _component(self, piece: str) -> re.Pattern[str]:
        regex = self._component_cache.get(piece)
        if regex is None:
            try:
                regex = re.compile(_translate(piece))
            except (ValueError, re.error):
                regex = re.compile(".*")
            self._component_cache[piece] = regex
        return regex


def walk_context(root: str | Path, patterns: Iterable[str] | PatternMatcher) -> Iterator[str]:
    """Relative ``/``-separated paths of everything in ``root`` the patterns keep, sorted, parents first.

    An excluded directory is not listed; its contents are skipped without being read unless an
    exception pattern could re-include something below it (then each entry is matched on its own).
    """
    matcher = patterns if isinstance(patterns, PatternMatcher) else PatternMatcher(patterns)
    yield from _walk(os.fspath(root), "", matcher)


def _walk(top: str, prefix: str, matcher: PatternMatcher) -> Iterator[str]:
    try:
        entries = sorted(os.scandir(os.path.join(top, prefix[:-1]) if prefix else top), key=lambda e: e.name)
    except NotADirectoryError:
        return
    for entry in entries:
        rel = prefix + entry.name
        is_dir = entry.is_dir(follow_symlinks=False)
        if not matcher.patterns or not matcher.matches(rel):
            yield rel
            if is_dir:
                yield from _walk(top, rel + "/", matcher)
        elif is_dir and matcher.exclusions and matcher.could_include_below(rel):
            yield from _walk(top, rel + "/", matcher)


def keep_build_files(patterns: list[str], dockerfile: str = "Dockerfile") -> list[str]:
    """Like the docker CLI: the Dockerfile and ``.dockerignore`` are always sent, even if ignored."""
    matcher = PatternMatcher(patterns)
    out = list(patterns)
    if matcher.matches(".dockerignore"):
        out.append("!.dockerignore")
    name = dockerfile.replace(os.sep, "/")
    if matcher.matches(name):
        out.append("!" + name)
    return out


def load_ignore_patterns(context: str | Path, dockerfile: str | Path | None = None) -> list[str]:
    """Patterns for a build: ``<Dockerfile>.dockerignore`` beside the Dockerfile wins over
    ``<context>/.dockerignore``; no file means no patterns."""
    candidates = []
    if dockerfile is not None:
        candidates.append(Path(str(dockerfile) + ".dockerignore"))
    candidates.append(Path(context) / ".dockerignore")
    for path in candidates:
        try:
            return read_dockerignore(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            continue
    return []


def context_patterns(root: Path, dockerfile: Path | None = None) -> list[str]:
    """The context's ignore patterns, with the Dockerfile (named relative to *root*) kept as docker does."""
    name = "Dockerfile"
    if dockerfile is not None:
        try:
            name = dockerfile.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            name = dockerfile.name
    return keep_build_files(load_ignore_patterns(root, dockerfile), name)
