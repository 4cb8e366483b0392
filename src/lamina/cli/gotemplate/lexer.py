"""Lexer for the Go text/template language: template text → a flat list of tokens.

Handles "{{- " / " -}}" whitespace trimming and "{{/* */}}" comments here, so the parser sees
already-trimmed text. A lexing problem becomes an ERROR token at the place it happened, so the
parser reports errors in source order as Go does. Must not evaluate anything.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

TEXT, LEFT, RIGHT, SPACE, EOF, ERROR = "text", "{{", "}}", "space", "eof", "error"
FIELD, DOT, VAR, IDENT, KEYWORD, PUNCT = "field", ".", "var", "ident", "kw", "punct"
STRING, RAW, CHAR, NUMBER, BOOL, NIL = "string", "raw", "char", "number", "bool", "nil"
PIPE, LPAREN, RPAREN, DECLARE, ASSIGN, COMMA = "|", "(", ")", ":=", "=", ","

KEYWORDS: Final = frozenset(
    {"block", "break", "continue", "define", "else", "end", "if", "range", "template", "with"}
)
_WS: Final = " \t\r\n"
_WS_CHARS: Final = tuple(_WS)


class Token(NamedTuple):
    kind: str
    value: str
    pos: int


_ACTION_RE: Final = re.compile(
    r"""(?P<rtrim>[ \t\r\n]+-}})
    |(?P<space>[ \t\r\n]+)
    |(?P<right>}})
    |(?P<declare>:=)|(?P<assign>=)|(?P<pipe>\|)|(?P<lparen>\()|(?P<rparen>\))|(?P<comma>,)
    |(?P<string>"(?:[^"\\\n]|\\.)*")
    |(?P<raw>`[^`]*`)
    |(?P<char>'(?:[^'\\\n]|\\.[^'\n]*)')
    |(?P<number>[+-]?(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|(?:[0-9][0-9_]*\.?[0-9_]*|\.[0-9]+)
        (?:[eE][+-]?[0-9]+)?)i?)
    |(?P<field>\.[^\W\d]\w*)
    |(?P<dot>\.)
    |(?P<var>\$\w*)
    |(?P<ident>[^\W\d]\w*)
    """,
    re.VERBOSE,
)
_KINDS: Final = {
    "space": SPACE, "declare": DECLARE, "assign": ASSIGN, "pipe": PIPE, "lparen": LPAREN,
    "rparen": RPAREN, "comma": COMMA, "string": STRING, "raw": RAW, "char": CHAR, "number": NUMBER,
    "field": FIELD, "dot": DOT, "var": VAR,
}  # fmt: skip
_UNTERMINATED: Final = {
    '"': "unterminated quoted string",
    "`": "unterminated raw quoted string",
    "'": "unterminated character constant",
}


class _Lexer:
    """One pass over the template text; tokens accumulate in self.tokens."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[Token] = []
        self.trim_next = False

    def run(self) -> list[Token]:
        pos = 0
        while pos >= 0:
            pos = self._text(pos)
        self.tokens.append(Token(EOF, "", len(self.text)))
        return self.tokens

    def _text(self, pos: int) -> int:
        """Emit the text before the next "{{"; return where lexing continues (-1 at the end)."""
        text = self.text
        start = text.find("{{", pos)
        chunk = text[pos:] if start < 0 else text[pos:start]
        if self.trim_next:
            chunk = chunk.lstrip(_WS)
        ltrim = start >= 0 and text.startswith("-", start + 2) and text[start + 3 : start + 4] in _WS_CHARS
        if ltrim:
            chunk = chunk.rstrip(_WS)
        if chunk:
            self.tokens.append(Token(TEXT, chunk, pos))
        if start < 0:
            return -1
        inner = start + (4 if ltrim else 2)
        if text.startswith("/*", inner):
            return self._comment(inner)
        self.tokens.append(Token(LEFT, "{{", start))
        return self._action(inner)

    def _comment(self, pos: int) -> int:
        end = self.text.find("*/", pos + 2)
        if end < 0:
            return self._error("unclosed comment", pos)
        after = end + 2
        if self.text.startswith("}}", after):
            self.trim_next = False
            return after + 2
        if self.text[after : after + 1] in _WS_CHARS and self.text.startswith("-}}", after + 1):
            self.trim_next = True
            return after + 4
        return self._error("comment ends before closing delimiter", pos)

    def _action(self, pos: int) -> int:
        text, tokens = self.text, self.tokens
        while True:
            m = _ACTION_RE.match(text, pos)
            if m is None:
                return self._bad_char(pos)
            kind, value = m.lastgroup, m.group()
            if kind in ("right", "rtrim"):
                tokens.append(Token(RIGHT, "}}", m.end() - 2))
                self.trim_next = kind == "rtrim"
                return m.end()
            assert kind is not None
            if kind == "number" and re.match(r"[\w.]", text[m.end() : m.end() + 1]):
                bad = re.match(r"[\w.+-]*", text[pos:])
                return self._error(f'bad number syntax: "{bad.group() if bad else value}"', pos)
            tokens.append(Token(self._kind(kind, value), value, pos))
            pos = m.end()

    @staticmethod
    def _kind(kind: str, value: str) -> str:
        if kind != "ident":
            return _KINDS[kind]
        if value in ("true", "false"):
            return BOOL
        if value == "nil":
            return NIL
        return KEYWORD if value in KEYWORDS else IDENT

    def _bad_char(self, pos: int) -> int:
        if pos >= len(self.text):
            return self._error("unclosed action", pos)
        ch = self.text[pos]
        if ch in _UNTERMINATED:
            return self._error(_UNTERMINATED[ch], pos)
        if ch.isascii() and ch.isprintable():
            self.tokens.append(Token(PUNCT, ch, pos))
            return self._error("", pos)  # the parser reports the unexpected character first
        return self._error(f"unrecognized character in action: U+{ord(ch):04X} {ch!r}", pos)

    def _error(self, message: str, pos: int) -> int:
        self.tokens.append(Token(ERROR, message, pos))
        return -1


def lex(text: str) -> list[Token]:
    """Tokenize a whole template; the list always ends with EOF (after an ERROR if lexing failed)."""
    return _Lexer(text).run()
