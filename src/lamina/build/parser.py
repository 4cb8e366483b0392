"""Dockerfile line syntax through BuildKit's own parser (the ``dockerfile`` wheel), plus a thin layer.

The wheel wraps BuildKit's Go parser and returns one ``Command`` per instruction (keyword, flags,
JSON-ness, argument values, line span, heredoc names and bodies).  It does not expose everything
BuildKit's parser knows, so this module adds, on top of it and without re-parsing instructions:

* parser directives (``syntax``, ``escape``, ``check``) with their locations;
* heredoc ``expand``/``chomp`` (the wheel gives name, fd and body only);
* the ENV/LABEL separator (``""`` old form, ``"="`` new form) that ``Node.Dump()`` prints;
* the nested instruction of ``ONBUILD`` with its own flags, JSON form and heredocs;
* NUL characters (the wheel's C boundary truncates strings at NUL; we substitute and restore);
* "empty continuation line" warnings, the 65535-byte line limit, and error locations.

``dump(result)`` renders BuildKit's ``Node.Dump()`` format.  Everything else in lamina works on the
typed instructions of ``lamina.build.instructions``; ``Node`` stays a parser detail.

Must not: read files other than the one it is given, expand variables, or know instruction semantics
beyond what BuildKit's parser itself checks.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

from lamina.errors import DockerfileError

MAX_LINE_BYTES = 65535
KNOWN_DIRECTIVES = ("syntax", "escape", "check")
_DIRECTIVE_RE = re.compile(r"^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$")
_HEREDOC_WORD_RE = re.compile(r"^(\d*)<<(-?)(.*)$", re.DOTALL)
_HEREDOC_COMMANDS = frozenset({"RUN", "COPY", "ADD"})
_NUL_STANDIN = "\ufdd0"  # a Unicode noncharacter: never meaningful in a Dockerfile


# ---------------------------------------------------------------------- typed surface over the wheel
class _WheelHeredoc(Protocol):
    name: str
    file_descriptor: int
    content: str


class _WheelCommand(Protocol):
    cmd: str
    sub_cmd: str | None
    json: bool
    original: str
    start_line: int
    end_line: int
    flags: tuple[str, ...]
    value: tuple[str, ...]
    heredocs: tuple[_WheelHeredoc, ...]


def _wheel_parse(text: str) -> list[_WheelCommand]:
    """Call BuildKit's parser; raises ``ValueError`` with BuildKit's message on a parse error."""
    import dockerfile

    try:
        commands = dockerfile.parse_string(text)
    except dockerfile.GoParseError as exc:
        raise ValueError(str(exc)) from None
    return cast(list[_WheelCommand], list(commands))


# ---------------------------------------------------------------------- values
@dataclass(frozen=True, slots=True)
class Heredoc:
    """One heredoc: ``content`` is the raw body (each line with its ``\\n``)."""

    name: str
    content: str
    fd: int = 0
    expand: bool = True
    chomp: bool = False

    @property
    def text(self) -> str:
        """The body as the command sees it: leading tabs removed from every line for ``<<-``."""
        if not self.chomp:
            return self.content
        return "".join(line.lstrip("\t") for line in self.content.splitlines(keepends=True))


@dataclass(frozen=True, slots=True)
class Node:
    """One instruction as BuildKit's parser sees it.  ``args`` is the dump's ``next`` chain."""

    keyword: str  # as written (``from``, ``cOpY``); ``command`` is the upper-case form
    args: tuple[str, ...]
    flags: tuple[str, ...]
    original: str
    start_line: int
    end_line: int
    json: bool = False
    heredocs: tuple[Heredoc, ...] = ()
    child: Node | None = None  # the nested instruction of ONBUILD

    @property
    def command(self) -> str:
        return self.keyword.upper()

    @property
    def location(self) -> tuple[int, int]:
        return (self.start_line, self.end_line)


@dataclass(frozen=True, slots=True)
class Directive:
    name: str
    value: str
    line: int


@dataclass(frozen=True, slots=True)
class ParseWarning:
    message: str
    location: tuple[int, int]


@dataclass(frozen=True, slots=True)
class ParseResult:
    nodes: tuple[Node, ...]
    directives: tuple[Directive, ...] = ()
    warnings: tuple[ParseWarning, ...] = ()
    escape: str = "\\"
    file: str = "Dockerfile"

    @property
    def start_line(self) -> int:
        return self.nodes[0].start_line if self.nodes else 0

    @property
    def end_line(self) -> int:
        return self.nodes[-1].end_line if self.nodes else 0

    def directive(self, name: str) -> str | None:
        return {d.name: d.value for d in self.directives}.get(name)


# ---------------------------------------------------------------------- entry points
def parse_file(path: str | Path, name: str | None = None) -> ParseResult:
    """Parse the Dockerfile at ``path``; errors name ``name`` (default: the path as given)."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DockerfileError(f"read dockerfile: invalid utf-8 at byte {exc.start}",
                              file=name or str(path)) from None
    return parse(text, name or str(path))


def parse(text: str, file: str = "Dockerfile") -> ParseResult:
    """Parse Dockerfile ``text`` into nodes, directives and warnings (``DockerfileError`` on failure)."""
    text = text.removeprefix("\ufeff")
    lines = _physical_lines(text)
    _check_line_lengths(lines, file)
    directives = _scan_directives(lines, file)
    escape = next((d.value for d in directives if d.name == "escape"), "\\")
    source, restore = _hide_nuls(text, file)
    source, spaced = _compact_heredoc_markers(source)
    try:
        commands = _wheel_parse(source)
    except ValueError as exc:
        raise _locate_error(str(exc), source, file, escape) from None
    nodes = tuple(_respace(_node(c, lines, escape, restore, file), spaced) for c in commands)
    warnings = tuple(_continuation_warnings(nodes, lines, escape))
    return ParseResult(nodes, tuple(directives), warnings, escape, file)


# ---------------------------------------------------------------------- lines and directives
def _physical_lines(text: str) -> list[str]:
    return [line.removesuffix("\r") for line in text.split("\n")]


def _check_line_lengths(lines: Sequence[str], file: str) -> None:
    for number, line in enumerate(lines, 1):
        if len(line) > MAX_LINE_BYTES // 4 and len(line.encode("utf-8", "surrogatepass")) > MAX_LINE_BYTES:
            raise DockerfileError(f"dockerfile line greater than max allowed size of {MAX_LINE_BYTES}",
                                  file=file, location=(number, number))


def _scan_directives(lines: Sequence[str], file: str) -> list[Directive]:
    """BuildKit's directive scan: only the leading run of ``# key=value`` lines with known keys."""
    found: list[Directive] = []
    for number, line in enumerate(lines, 1):
        match = _DIRECTIVE_RE.match(line.lstrip(" \t"))
        if not match or match.group(1).lower() not in KNOWN_DIRECTIVES:
            break
        name, value = match.group(1).lower(), match.group(2)
        where = (number, number)
        if any(d.name == name for d in found):
            raise DockerfileError(f"only one {name} parser directive can be used", file=file, location=where)
        if name == "escape" and value not in ("`", "\\"):
            raise DockerfileError(f"invalid escape token {value!r} does not match ` or \\",
                                  file=file, location=where)
        found.append(Directive(name, value, number))
    return found


def continues(line: str, escape: str) -> bool:
    """True if ``line`` ends with the escape token used as a line continuation."""
    stripped = line.rstrip(" \t")
    if not stripped.endswith(escape):
        return False
    return len(stripped) == 1 or stripped[-2] != escape


def _is_comment(line: str) -> bool:
    return line.lstrip(" \t").startswith("#")


def _instruction_line_end(lines: Sequence[str], start: int, escape: str) -> tuple[int, bool]:
    """Last physical line (1-based) of the logical line starting at ``start``; and whether an empty
    continuation line was crossed."""
    number, empty_seen = start, False
    if not continues(lines[start - 1], escape):
        return start, False
    while number < len(lines):
        number += 1
        line = lines[number - 1]
        if not line.strip(" \t"):
            empty_seen = True
            continue
        if _is_comment(line) or continues(line, escape):
            continue
        return number, empty_seen
    return number, empty_seen


def _continuation_warnings(nodes: Iterable[Node], lines: Sequence[str],
                           escape: str) -> Iterable[ParseWarning]:
    for node in nodes:
        _end, empty_seen = _instruction_line_end(lines, node.start_line, escape)
        if empty_seen:
            first_line = node.original.split("\n", 1)[0]
            yield ParseWarning(f"Empty continuation line found in: {first_line}", node.location)


# ---------------------------------------------------------------------- "<< EOF" (newer BuildKit)
_SPACED_MARKER = re.compile(r"(?<![<\w])(\d*<<)(-?)[ \t]+([^\s<'\"-][^\s<'\"]*|-[^\s<'\"]+)")
_HEREDOC_LINE = re.compile(r"(?i)^[ \t]*(run|copy|add|onbuild)[ \t]")


def _compact_heredoc_markers(source: str) -> tuple[str, dict[int, list[tuple[str, str]]]]:
    """Newer BuildKit allows blanks after ``<<`` (``RUN <<  EOF``, ``RUN << -EOF``); the wheel's parser
    does not.  Rewrite such markers compactly for the wheel and remember how to restore the text."""
    if "<<" not in source:
        return source, {}
    lines = source.split("\n")
    spaced: dict[int, list[tuple[str, str]]] = {}
    for number, line in enumerate(lines, 1):
        if "<<" not in line or not _HEREDOC_LINE.match(line):
            continue
        pairs: list[tuple[str, str]] = []

        def compact(match: re.Match[str], pairs: list[tuple[str, str]] = pairs) -> str:
            prefix, chomp, word = match.groups()
            short = f'{prefix}{chomp}"{word}"' if word.startswith("-") else f"{prefix}{chomp}{word}"
            pairs.append((short, match.group(0)))
            return short

        lines[number - 1] = _SPACED_MARKER.sub(compact, line)
        if pairs:
            spaced[number] = pairs
    return "\n".join(lines), spaced


def _respace(node: Node, spaced: dict[int, list[tuple[str, str]]]) -> Node:
    pairs = [p for n in range(node.start_line, node.end_line + 1) for p in spaced.get(n, ())]
    if not pairs:
        return node

    def restore(text: str) -> str:
        for short, original in pairs:
            text = text.replace(short, original, 1)
        return text

    child = _respace(node.child, spaced) if node.child else None
    heredocs = tuple(_respaced_heredoc(d, node, pairs) for d in node.heredocs)
    return Node(node.keyword, tuple(restore(a) for a in node.args), node.flags, restore(node.original),
                node.start_line, node.end_line, node.json, heredocs, child)


def _respaced_heredoc(doc: Heredoc, node: Node, pairs: list[tuple[str, str]]) -> Heredoc:
    line = node.original.split("\n", 1)[0]
    for short, original in pairs:
        line = line.replace(short, original, 1)
    word = next((w for w in heredoc_words(line) if w.name == doc.name), None)
    if word is None:
        return doc
    return Heredoc(doc.name, doc.content, doc.fd, word.expand, word.chomp)


# ---------------------------------------------------------------------- NUL handling
def _hide_nuls(text: str, file: str) -> tuple[str, Any]:
    """Replace NULs (raw, or ``\\u0000`` inside JSON) the wheel would truncate at; return a restorer."""
    if "\x00" not in text and "\\u0000" not in text:
        return text, None
    if _NUL_STANDIN in text:
        raise DockerfileError("parse dockerfile: NUL characters are not supported here", file=file)
    return text.replace("\x00", _NUL_STANDIN), _NUL_STANDIN


def _restore(value: str, standin: Any) -> str:
    return value.replace(_NUL_STANDIN, "\x00") if standin else value


# ---------------------------------------------------------------------- wheel command -> Node
def _node(cmd: _WheelCommand, lines: Sequence[str], escape: str, standin: Any, file: str) -> Node:
    original = _restore(cmd.original, standin)
    keyword = original.split(None, 1)[0] if original.strip() else cmd.cmd
    if cmd.cmd.upper() == "ONBUILD":
        return _onbuild_node(cmd, keyword, original, lines, escape, standin, file)
    args = tuple(_restore(v, standin) for v in cmd.value)
    if cmd.json and standin:
        args = _json_args(original, cmd.cmd.upper(), escape) or args
    if cmd.cmd.upper() in ("ENV", "LABEL"):
        args = _name_value_triples(original, args, escape)
    heredocs = _heredocs(cmd, original, escape, standin)
    return Node(keyword, args, tuple(_restore(f, standin) for f in cmd.flags), original,
                cmd.start_line, cmd.end_line, cmd.json, heredocs)


def _onbuild_node(cmd: _WheelCommand, keyword: str, original: str, lines: Sequence[str], escape: str,
                  standin: Any, file: str) -> Node:
    """Re-parse the trigger instruction on its own, so that it keeps its flags, JSON form and heredocs."""
    flags = tuple(_restore(f, standin) for f in cmd.flags)
    rest, _ = extract_flags(original.split(None, 1)[1] if len(original.split(None, 1)) > 1 else "")
    if not rest.strip():
        return Node(keyword, (), flags, original, cmd.start_line, cmd.end_line)
    line_end, _empty = _instruction_line_end(lines, cmd.start_line, escape)
    body = "\n".join(lines[line_end:cmd.end_line])
    inner_text = f"# escape={escape}\n\n{rest}\n{body}\n".replace("\x00", _NUL_STANDIN)
    try:
        (inner,) = _wheel_parse(inner_text)
    except ValueError as exc:
        raise DockerfileError(str(exc), file=file, location=(cmd.start_line, cmd.end_line),
                              instruction=original) from None
    child = _node(inner, _physical_lines(inner_text), escape, standin, file)
    child = Node(child.keyword, child.args, child.flags, child.original, cmd.start_line, cmd.end_line,
                 child.json, child.heredocs)
    return Node(keyword, (), flags, original, cmd.start_line, cmd.end_line, False, (), child)


def _json_args(original: str, command: str, escape: str) -> tuple[str, ...] | None:
    """Decode the JSON array of ``original`` ourselves (used when the wheel truncated at a NUL)."""
    parts = original.split(None, 1)
    import json

    rest, _ = extract_flags(parts[1] if len(parts) > 1 else "")
    prefix: tuple[str, ...] = ()
    if command == "HEALTHCHECK":
        head = rest.split(None, 1)
        prefix, rest = tuple(head[:1]), (head[1] if len(head) > 1 else "")
    try:
        decoded = json.loads(rest.strip().replace(_NUL_STANDIN, "\x00"))
    except ValueError:
        return None
    if not isinstance(decoded, list) or not all(isinstance(v, str) for v in decoded):
        return None
    return prefix + tuple(decoded)


def _name_value_triples(original: str, values: tuple[str, ...], escape: str) -> tuple[str, ...]:
    """ENV/LABEL nodes are (key, value, sep) triples; sep is ``=`` for the ``k=v`` form, else empty."""
    parts = original.split(None, 1)
    rest, _ = extract_flags(parts[1] if len(parts) > 1 else "")
    words = parse_words(rest, escape)
    sep = "=" if words and "=" in words[0] else ""
    out: list[str] = []
    for i in range(0, len(values) - 1, 2):
        out += [values[i], values[i + 1], sep]
    return tuple(out)


# ---------------------------------------------------------------------- heredocs
def _heredocs(cmd: _WheelCommand, original: str, escape: str, standin: Any) -> tuple[Heredoc, ...]:
    if not cmd.heredocs:
        return ()
    words = heredoc_words(original.split("\n", 1)[0], escape)
    by_name = {w.name: w for w in words}
    out = []
    for doc in cmd.heredocs:
        name = _restore(doc.name, standin)
        word = by_name.get(name)
        out.append(Heredoc(name, _restore(doc.content, standin), int(doc.file_descriptor),
                           word.expand if word else True, word.chomp if word else False))
    return tuple(out)


def heredoc_words(line: str, escape: str = "\\") -> list[Heredoc]:
    """The heredoc markers (``<<EOF``, ``3<<-'EOF'``, ``<< EOF`` ...) in an instruction line, bodies empty."""
    words = parse_words(line, escape)
    found: list[Heredoc] = []
    i = 0
    while i < len(words):
        match = _HEREDOC_WORD_RE.match(words[i])
        i += 1
        if not match:
            continue
        fd, chomp, rest = match.groups()
        if not rest and i < len(words) and "<" not in words[i]:
            rest = words[i]
            i += 1
        doc = _heredoc_from_word(rest, int(fd or 0), chomp == "-", escape)
        if doc:
            found.append(doc)
    return found


def _heredoc_from_word(rest: str, fd: int, chomp: bool, escape: str) -> Heredoc | None:
    if not rest or "<" in rest:
        return None
    name: list[str] = []
    quoted = False
    quote = ""
    i = 0
    while i < len(rest):
        ch = rest[i]
        i += 1
        if quote:
            if ch == quote:
                quote = ""
            else:
                name.append(ch)
        elif ch in "'\"":
            quote, quoted = ch, True
        elif ch == escape and i < len(rest):
            name.append(rest[i])
            i += 1
        else:
            name.append(ch)
    if quote:
        return None
    return Heredoc("".join(name), "", fd, expand=not quoted, chomp=chomp)


# ---------------------------------------------------------------------- BuildKit word helpers
def parse_words(rest: str, escape: str = "\\") -> list[str]:
    """BuildKit's ``parseWords``: split on whitespace outside quotes; quotes and escapes are kept."""
    words: list[str] = []
    word: list[str] = []
    quote = ""
    blank_ok = False
    i = 0
    while i < len(rest):
        ch = rest[i]
        i += 1
        if quote:
            if ch == quote:
                quote = ""
            elif ch == escape and quote != "'":
                if i == len(rest):
                    continue
                word.append(ch)
                ch = rest[i]
                i += 1
            word.append(ch)
        elif _is_space(ch):
            if blank_ok or word:
                words.append("".join(word))
            word, blank_ok = [], False
        elif ch == escape:
            if i == len(rest):
                continue
            word += [ch, rest[i]]
            i += 1
        else:
            if ch in "'\"":
                quote, blank_ok = ch, True
            word.append(ch)
    if blank_ok or word:
        words.append("".join(word))
    return words


def extract_flags(line: str) -> tuple[str, list[str]]:
    """BuildKit's ``extractBuilderFlags``: leading ``--flag`` words (quotes removed) and the rest.

    A bare ``--`` ends the flags and is dropped.
    """
    words: list[str] = []
    i = 0
    while i < len(line):
        while i < len(line) and _is_space(line[i]):
            i += 1
        if not line.startswith("--", i):
            return line[i:], words
        word, i = _flag_word(line, i)
        if word == "--":
            return line[i:], words
        if word is not None:
            words.append(word)
    return "", words


def _flag_word(line: str, i: int) -> tuple[str | None, int]:
    word: list[str] = []
    quote = ""
    blank_ok = False
    while i < len(line):
        ch = line[i]
        i += 1
        if not quote and _is_space(ch):
            return ("".join(word) if blank_ok or word else None), i - 1
        if not quote and ch in "'\"":
            quote, blank_ok = ch, True
            continue
        if quote and ch == quote:
            quote = ""
            continue
        if ch == "\\":
            if i == len(line):
                continue
            ch = line[i]
            i += 1
        word.append(ch)
    text = "".join(word)
    if text == "--":
        return text, i
    return (text if blank_ok or word else None), i


def _is_space(ch: str) -> bool:
    return ch in "\t\n\v\f\r \x85\xa0" if ord(ch) < 0x100 else ch.isspace()


# ---------------------------------------------------------------------- error location
def _locate_error(message: str, source: str, file: str, escape: str) -> DockerfileError:
    """Find where the wheel's (location-less) error happened by parsing growing prefixes."""
    if message == "file with no instructions":
        return DockerfileError(message, file=file)
    lines = source.split("\n")
    if message == "unterminated heredoc":
        start = _after_last_good_prefix(lines)
        return DockerfileError(message, file=file, location=(start, len(lines)))
    for k in range(1, len(lines) + 1):
        try:
            _wheel_parse("\n".join(lines[:k]))
        except ValueError as exc:
            if str(exc) == message:
                start = _logical_start(lines, k, escape)
                return DockerfileError(message, file=file, location=(start, k),
                                       instruction=lines[start - 1].strip())
    return DockerfileError(message, file=file)


def _logical_start(lines: Sequence[str], k: int, escape: str) -> int:
    """The first physical line of the instruction that physical line ``k`` belongs to."""
    start, probe = k, k - 1
    while probe >= 1:
        line = lines[probe - 1]
        if not line.strip(" \t") or _is_comment(line):
            probe -= 1
            continue
        if not continues(line, escape):
            break
        start = probe
        probe -= 1
    return start


def _after_last_good_prefix(lines: list[str]) -> int:
    for k in range(len(lines), 0, -1):
        try:
            commands = _wheel_parse("\n".join(lines[:k]))
        except ValueError:
            continue
        return commands[-1].end_line + 1 if commands else 1
    return 1


# ---------------------------------------------------------------------- Node.Dump()
_GO_CONTROL = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def go_quote(text: str) -> str:
    """Go's ``strconv.Quote`` for valid UTF-8 text."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == " " or (0x20 <= code != 0x7F and unicodedata.category(ch)[0] in "LMNPS"):
            out.append(ch)
        elif ch in _GO_CONTROL:
            out.append(_GO_CONTROL[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def dump_node(node: Node) -> str:
    """One instruction in ``Node.Dump()`` form, e.g. ``(copy ["--from=a"] "x" "/y")``."""
    text = node.keyword.lower()
    if node.flags:
        text += " [" + " ".join(go_quote(f) for f in node.flags) + "]"
    if node.child is not None:
        text += " " + dump_node(node.child)
    for arg in node.args:
        text += " " + go_quote(arg)
    return "(" + text.strip() + ")"


def dump(result: ParseResult | Sequence[Node]) -> str:
    """BuildKit's ``root.Dump()``: one line per instruction, no trailing newline."""
    nodes = result.nodes if isinstance(result, ParseResult) else result
    return "\n".join(dump_node(n) for n in nodes)
