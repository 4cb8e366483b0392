"""Dockerfile word expansion and splitting, written to BuildKit's shell-lexer semantics.

``ShellLex(escape).process_word(word, env)`` expands one word (quote removal, escapes, ``$VAR``,
``${VAR}``, ``${VAR:-x}`` ``${VAR-x}`` ``${VAR:+x}`` ``${VAR+x}`` ``${VAR:?msg}`` ``${VAR?msg}``,
``${VAR#pat}`` ``${VAR##pat}`` ``${VAR%pat}`` ``${VAR%%pat}``, ``${VAR/pat/repl}``
``${VAR//pat/repl}``); ``process_words`` also splits unquoted expansions into words, as the
instructions docker expands with splitting do (EXPOSE).  Positional and special parameters
(``$1``, ``$@``, ``$#`` ...) are always unset.  Variable names are case-sensitive (Unix rules).

Must not: touch the filesystem or the process environment (the caller passes ``env``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

from lamina.errors import DockerfileError

if TYPE_CHECKING:
    from lamina.build.instructions import Instruction

_I = TypeVar("_I", bound="Instruction")

_SPECIAL_PARAMS = frozenset("@*#?-$!0")
_LATIN1_SPACE = frozenset("\t\n\v\f\r \x85\xa0")


def go_isspace(ch: str) -> bool:
    """Go's ``unicode.IsSpace`` (Python's ``str.isspace`` also accepts ``\\x1c``-``\\x1f``)."""
    if ord(ch) < 0x100:
        return ch in _LATIN1_SPACE
    return ch.isspace()


class ExpansionError(DockerfileError):
    """A word could not be expanded (bad substitution, unterminated quote, ``${X:?}``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(slots=True)
class Expansion:
    """The result of expanding one word: the joined text, the split words, and the names seen."""

    result: str
    words: list[str]
    matched: set[str] = field(default_factory=set)
    unmatched: set[str] = field(default_factory=set)


class _Words:
    """Accumulates characters into whitespace-separated words (BuildKit's ``wordsStruct``)."""

    __slots__ = ("in_word", "word", "words")

    def __init__(self) -> None:
        self.word = ""
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if go_isspace(ch):
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word = ""
                self.in_word = False
        else:
            self.add_raw_char(ch)

    def add_raw_char(self, ch: str) -> None:
        self.word += ch
        self.in_word = True

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def add_raw_string(self, text: str) -> None:
        self.word += text
        self.in_word = True

    def result(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
            self.word = ""
            self.in_word = False
        return self.words


class ShellLex:
    """BuildKit's word lexer.  ``escape`` is the Dockerfile escape token (``\\`` or a backtick)."""

    def __init__(self, escape: str = "\\", *, raw_quotes: bool = False, raw_escapes: bool = False,
                 skip_unset: bool = False) -> None:
        if len(escape) != 1:
            raise ValueError(f"escape token must be one character, got {escape!r}")
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset = skip_unset

    def process_word(self, word: str, env: Mapping[str, str]) -> str:
        """Expand ``word`` as one word (no field splitting)."""
        return self.expand(word, env).result

    def process_words(self, word: str, env: Mapping[str, str]) -> list[str]:
        """Expand ``word`` and split unquoted whitespace into separate words."""
        return self.expand(word, env).words

    def expand(self, word: str, env: Mapping[str, str]) -> Expansion:
        """Expand ``word``; the result also names the variables found and not found."""
        scan = _Scanner(self, word, env)
        result, words = scan.process_until("", self.raw_escapes)
        return Expansion(result, words, scan.matched, scan.unmatched)


class _Scanner:
    """One expansion run over one word."""

    def __init__(self, lex: ShellLex, text: str, env: Mapping[str, str]) -> None:
        self.lex = lex
        self.text = text
        self.pos = 0
        self.env = env
        self.matched: set[str] = set()
        self.unmatched: set[str] = set()

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        ch = self.peek()
        if ch:
            self.pos += 1
        return ch

    def getenv(self, name: str) -> str | None:
        value = self.env.get(name)
        (self.unmatched if value is None else self.matched).add(name)
        return value

    # ------------------------------------------------------------------ words
    def process_until(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        """Read until ``stop`` (consumed) or the end (``stop == ""``); errors if ``stop`` is missing."""
        out: list[str] = []
        words = _Words()
        while (ch := self.peek()) != "":
            if stop and ch == stop:
                self.next()
                return "".join(out), words.result()
            if ch in "'\"$":
                text = self._single_quote() if ch == "'" else (
                    self._double_quote() if ch == '"' else self._dollar())
                out.append(text)
                (words.add_string if ch == "$" else words.add_raw_string)(text)
                continue
            ch = self.next()
            if ch == self.lex.escape:
                if raw_escapes:
                    words.add_raw_char(ch)
                    out.append(ch)
                ch = self.next()
                if ch == "":
                    break
                words.add_raw_char(ch)
            else:
                words.add_char(ch)
            out.append(ch)
        if stop:
            raise ExpansionError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(out), words.result()

    def _single_quote(self) -> str:
        opening = self.next()
        out = [opening] if self.lex.raw_quotes else []
        while True:
            ch = self.next()
            if ch == "":
                raise ExpansionError("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def _double_quote(self) -> str:
        opening = self.next()
        out = [opening] if self.lex.raw_quotes else []
        while True:
            ch = self.peek()
            if ch == "":
                raise ExpansionError("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.next()
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                out.append(self._dollar())
                continue
            out.append(self._double_quoted_char())

    def _double_quoted_char(self) -> str:
        ch = self.next()
        if ch != self.lex.escape:
            return ch
        prefix = ch if self.lex.raw_escapes else ""
        following = self.peek()
        if following == "":
            return prefix
        if following in ('"', "$", self.lex.escape):
            return prefix + self.next()
        return prefix + ch

    # ------------------------------------------------------------------ $
    def _name(self) -> str:
        ch = self.peek()
        if ch.isdecimal():
            start = self.pos
            while self.peek().isdecimal():
                self.next()
            return self.text[start:self.pos]
        if ch in _SPECIAL_PARAMS and ch:
            return self.next()
        start = self.pos
        while (ch := self.peek()) and (ch.isalpha() or ch.isdecimal() or ch == "_"):
            self.next()
        return self.text[start:self.pos]

    def _dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self._name()
            if not name:
                return "$"
            value = self.getenv(name)
            if value is None and self.lex.skip_unset:
                return "$" + name
            return value or ""
        self.next()
        first = self.peek()
        if first == "":
            raise ExpansionError("syntax error: missing '}'")
        if first in "{}:":
            raise ExpansionError("syntax error: bad substitution")
        name = self._name()
        ch = self.next()
        if ch == "}":
            value = self.getenv(name)
            if value is None and self.lex.skip_unset:
                return "${" + name + "}"
            return value or ""
        if ch == "/":
            return self._replace(name)
        if ch == "":
            raise ExpansionError("syntax error: missing '}'")
        return self._modifier(name, ch)

    def _modifier(self, name: str, ch: str) -> str:
        chs = ch
        null_is_unset = ch == ":"
        if null_is_unset:
            ch = self.next()
            chs += ch
        if ch not in "+-?#%" or ch == "":
            raise ExpansionError(f"unsupported modifier ({chs}) in substitution")
        raw_escapes = ch in "#%"
        if null_is_unset and raw_escapes:
            raise ExpansionError(f"unsupported modifier ({chs}) in substitution")
        word = self._until_brace(raw_escapes)
        value = self.getenv(name)
        if value is None and self.lex.skip_unset:
            return "${" + name + chs + word + "}"
        empty = value is None or (null_is_unset and value == "")
        if ch == "-":
            return word if empty else (value or "")
        if ch == "+":
            return "" if empty else word
        if ch == "?":
            return _require(name, value, word, null_is_unset)
        greedy = word.startswith(ch)
        pattern = word[1:] if greedy else word
        if ch == "%":
            return trim_suffix(pattern, value or "", greedy)
        return trim_prefix(pattern, value or "", greedy)

    def _until_brace(self, raw_escapes: bool) -> str:
        try:
            return self.process_until("}", raw_escapes)[0]
        except ExpansionError:
            if self.peek() == "":
                raise ExpansionError("syntax error: missing '}'") from None
            raise

    def _replace(self, name: str) -> str:
        replace_all = self.peek() == "/"
        if replace_all:
            self.next()
        try:
            pattern = self.process_until("/", True)[0]
        except ExpansionError:
            if self.peek() == "":
                raise ExpansionError("syntax error: missing '/' in ${}") from None
            raise
        replacement = self._until_brace(True)
        value = self.getenv(name) or ""
        regex = _pattern_regex(pattern, greedy=True, anchored=False)
        if replace_all:
            return regex.sub(lambda _m: replacement, value)
        return regex.sub(lambda _m: replacement, value, count=1)


def _require(name: str, value: str | None, word: str, null_is_unset: bool) -> str:
    if value is None:
        raise ExpansionError(f"{name}: {word or 'is not allowed to be unset'}")
    if null_is_unset and value == "":
        raise ExpansionError(f"{name}: {word or 'is not allowed to be empty'}")
    return value


# ---------------------------------------------------------------------- patterns
def _pattern_regex(pattern: str, *, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """A shell wildcard pattern (``*`` any run, ``?`` one char, ``\\`` escapes) as a regex."""
    out = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(star)
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            following = pattern[i] if i < len(pattern) else ""
            if following in ("}", "/"):
                continue  # the escape belonged to the ${} syntax, not to the pattern
            if following not in ("*", "?", "\\"):
                raise ExpansionError(
                    f"invalid pattern ({pattern}) in substitution: invalid escape '\\{following}'")
            out.append(re.escape(following))
            i += 1
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out))


def trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    """``${VAR#pattern}`` (shortest) or ``${VAR##pattern}`` (longest, ``greedy``)."""
    match = _pattern_regex(pattern, greedy=greedy, anchored=True).match(value)
    return value[match.end():] if match else value


def _reverse_pattern(pattern: str) -> str:
    """Reverse a pattern but keep each escape in front of the character it escapes."""
    tokens: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            tokens.append(pattern[i:i + 2])
            i += 2
        else:
            tokens.append(pattern[i])
            i += 1
    return "".join(reversed(tokens))


def trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    """``${VAR%pattern}`` / ``${VAR%%pattern}``: a prefix trim of the reversed value."""
    return trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]


# ---------------------------------------------------------------------- instruction expansion
def expand_instruction(instr: _I, env: Mapping[str, str], escape: str = "\\", file: str = "Dockerfile") -> _I:
    """Expand variables in the fields docker expands (ADD COPY ENV EXPOSE FROM LABEL STOPSIGNAL USER
    VOLUME WORKDIR, ARG defaults, RUN ``--mount`` values).  RUN/CMD/ENTRYPOINT/SHELL/HEALTHCHECK
    command text and ONBUILD triggers are left alone.  Errors carry the instruction's location."""
    from lamina.build import instructions as ins

    lex = ShellLex(escape)

    def word(text: str) -> str:
        return lex.process_word(text, env)

    expander = _EXPANDERS.get(type(instr).__name__)
    if expander is None:
        return instr
    try:
        return expander(instr, word, lex, env, ins)  # type: ignore[no-any-return]
    except ExpansionError as exc:
        raise DockerfileError(exc.message, file=file, location=instr.location,
                              instruction=instr.original.split("\n", 1)[0]) from None
    except ValueError as exc:
        raise DockerfileError(str(exc), file=file, location=instr.location,
                              instruction=instr.original.split("\n", 1)[0]) from None


_Word = Callable[[str], str]


def _opt(word: _Word, value: str | None) -> str | None:
    return None if value is None else word(value)


def _expand_from(i: Any, word: _Word, *_: Any) -> Any:
    return replace(i, image=word(i.image), platform=_opt(word, i.platform))


def _expand_sources(i: Any, word: _Word, lex: ShellLex, env: Mapping[str, str]) -> dict[str, Any]:
    content_lex = ShellLex(lex.escape, raw_quotes=True, raw_escapes=True)
    docs = tuple(replace(d, content=content_lex.process_word(d.content, env)) if d.expand else d
                 for d in i.heredocs)
    return {"sources": tuple(word(s) for s in i.sources), "dest": word(i.dest), "heredocs": docs,
            "chown": _opt(word, i.chown), "chmod": _opt(word, i.chmod)}


def _expand_copy(i: Any, word: _Word, lex: ShellLex, env: Mapping[str, str], _ins: Any) -> Any:
    return replace(i, from_=_opt(word, i.from_), **_expand_sources(i, word, lex, env))


def _expand_add(i: Any, word: _Word, lex: ShellLex, env: Mapping[str, str], _ins: Any) -> Any:
    return replace(i, checksum=_opt(word, i.checksum), **_expand_sources(i, word, lex, env))


def _expand_pairs(i: Any, word: _Word, *_: Any) -> Any:
    return replace(i, pairs=tuple((word(k), word(v)) for k, v in i.pairs))


def _expand_expose(i: Any, word: _Word, lex: ShellLex, env: Mapping[str, str], _ins: Any) -> Any:
    return replace(i, ports=tuple(p for port in i.ports for p in lex.process_words(port, env)))


def _expand_run(i: Any, word: _Word, lex: ShellLex, env: Mapping[str, str], ins: Any) -> Any:
    if not i.mounts:
        return i
    return replace(i, mounts=tuple(ins.parse_mount(m.spec, word) for m in i.mounts))


_EXPANDERS: dict[str, Callable[..., Any]] = {
    "From": _expand_from,
    "Copy": _expand_copy,
    "Add": _expand_add,
    "Env": _expand_pairs,
    "Label": _expand_pairs,
    "Expose": _expand_expose,
    "Volume": lambda i, word, *_: replace(i, paths=tuple(word(p) for p in i.paths)),
    "Workdir": lambda i, word, *_: replace(i, path=word(i.path)),
    "User": lambda i, word, *_: replace(i, user=word(i.user)),
    "Stopsignal": lambda i, word, *_: replace(i, signal=word(i.signal)),
    "Arg": lambda i, word, *_: replace(i, default=_opt(word, i.default)),
    "Run": _expand_run,
}


# ---------------------------------------------------------------------- build arguments
PROXY_ARGS = frozenset({
    "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
    "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
})
PLATFORM_ARGS = (
    "TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT",
    "BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT",
)
_BUILTIN_ARGS = PROXY_ARGS | frozenset(PLATFORM_ARGS) | frozenset({"SOURCE_DATE_EPOCH"})


def platform_args(target: str, build: str | None = None) -> dict[str, str]:
    """The automatic ``TARGET*``/``BUILD*`` args for platforms written ``os/arch[/variant]``."""
    out: dict[str, str] = {}
    for prefix, text in (("TARGET", target), ("BUILD", build or target)):
        parts = text.split("/")
        os_name = parts[0]
        arch = parts[1] if len(parts) > 1 else ""
        variant = parts[2] if len(parts) > 2 else ""
        out[prefix + "PLATFORM"] = "/".join(p for p in (os_name, arch, variant) if p)
        out[prefix + "OS"], out[prefix + "ARCH"], out[prefix + "VARIANT"] = os_name, arch, variant
    return out


class BuildArgs:
    """Docker's ARG scoping for one build.

    * ``--build-arg`` values (``options``; ``None`` = "take from the caller's environment", already
      resolved by the caller or treated as unset) override every default.
    * Meta ARGs (declared before the first FROM) and the automatic platform args are visible to FROM
      lines only (``meta_env``); a stage sees them only after ``ARG NAME`` re-declares them, in which
      case the global value is imported.
    * Proxy args (``HTTP_PROXY`` ...) given with ``--build-arg`` are visible in every stage without an
      ARG, but stay out of history and cache keys unless declared.
    * ``unused_warnings()`` lists the ``--build-arg`` names no ARG consumed.
    """

    def __init__(self, options: Mapping[str, str | None] | None = None, *,
                 target_platform: str = "linux/amd64", build_platform: str | None = None) -> None:
        self.options = dict(options or {})
        self._meta: dict[str, str | None] = dict(platform_args(target_platform, build_platform))
        self._declared: dict[str, str | None] = {}
        self._referenced: set[str] = set()

    # meta scope -------------------------------------------------------------------
    def add_meta(self, name: str, default: str | None) -> None:
        """Record a global ARG; ``default`` must already be expanded against ``meta_env()``."""
        self._meta[name] = default
        self._referenced.add(name)

    def meta_env(self) -> dict[str, str]:
        """What FROM lines (and meta ARG defaults) may expand."""
        env = {k: v for k, v in self._meta.items() if v is not None}
        env.update({k: v for k, v in self.options.items() if v is not None and k in self._meta})
        env.update(self._builtin_options())
        return env

    # stage scope ------------------------------------------------------------------
    def enter_stage(self) -> None:
        """Start a new stage: nothing but built-in proxy args is visible until re-declared."""
        self._declared = {}

    def declare(self, name: str, default: str | None) -> str | None:
        """A stage ``ARG``; returns its effective value (``--build-arg`` > default > global default)."""
        if default is None and name in self._meta:
            default = self._meta[name]
        self._declared[name] = default
        self._referenced.add(name)
        return self.value(name)

    def value(self, name: str) -> str | None:
        if name not in self._declared and name not in PROXY_ARGS:
            return None
        option = self.options.get(name)
        if option is not None:
            return option
        return self._declared.get(name)

    def stage_env(self) -> dict[str, str]:
        """Every declared ARG with a value, plus proxy args given on the command line."""
        env = self._builtin_options()
        for name in self._declared:
            value = self.value(name)
            if value is not None:
                env[name] = value
        return env

    def run_env(self, config_env: Mapping[str, str]) -> dict[str, str]:
        """The ARG values a RUN sees: those not overridden by an ENV of the same name."""
        return {k: v for k, v in self.stage_env().items() if k not in config_env}

    def expansion_env(self, config_env: Mapping[str, str]) -> dict[str, str]:
        """Environment for word expansion in a stage: ARGs, with ENV taking precedence."""
        return {**self.stage_env(), **config_env}

    def history_env(self, config_env: Mapping[str, str]) -> list[str]:
        """Sorted ``K=V`` ARG values recorded in history and cache keys (undeclared proxies left out)."""
        return sorted(f"{k}={v}" for k, v in self.run_env(config_env).items()
                      if k in self._referenced or k not in _BUILTIN_ARGS)

    # reporting --------------------------------------------------------------------
    def unused(self) -> list[str]:
        return sorted(k for k in self.options if k not in self._referenced and k not in _BUILTIN_ARGS)

    def unused_warnings(self) -> list[str]:
        names = self.unused()
        if not names:
            return []
        return [f"[Warning] One or more build-args [{' '.join(names)}] were not consumed"]

    def _builtin_options(self) -> dict[str, str]:
        return {k: v for k, v in self.options.items() if k in PROXY_ARGS and v is not None}
