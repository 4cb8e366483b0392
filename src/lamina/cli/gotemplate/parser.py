"""Parser for the Go text/template language: tokens → a tree of frozen nodes.

Follows the structure of Go's text/template/parse (pipeline, command, operand, term) so the same
templates are accepted and rejected, with Go-like messages ("template: :1: unexpected ..."). Must
not evaluate anything; function names are checked against the set it is given.
"""

from __future__ import annotations

import re
from typing import Any, Final, NamedTuple, NoReturn

from lamina.cli.gotemplate import lexer as lx
from lamina.cli.gotemplate.gofmt import go_quote
from lamina.errors import InvalidTemplate


# ---------------------------------------------------------------- nodes
class Text(NamedTuple):
    text: str


class Field(NamedTuple):
    names: tuple[str, ...]
    pos: int


class Variable(NamedTuple):
    name: str
    names: tuple[str, ...]
    pos: int


class Dot(NamedTuple):
    pos: int


class Nil(NamedTuple):
    pos: int


class Literal(NamedTuple):
    value: Any
    pos: int


class Identifier(NamedTuple):
    name: str
    pos: int


class Chain(NamedTuple):
    node: Any  # a parenthesized Pipe
    names: tuple[str, ...]
    pos: int


class Command(NamedTuple):
    args: tuple[Any, ...]
    pos: int
    source: str


class Pipe(NamedTuple):
    decl: tuple[str, ...]
    is_assign: bool
    cmds: tuple[Command, ...]
    pos: int


class Action(NamedTuple):
    pipe: Pipe
    pos: int


class Branch(NamedTuple):
    kind: str  # "if", "range" or "with"
    pipe: Pipe
    body: tuple[Any, ...]
    else_body: tuple[Any, ...] | None
    pos: int


class LoopControl(NamedTuple):
    kind: str  # "break" or "continue"
    pos: int


class _Stop(NamedTuple):
    """The {{end}} or {{else}} that ended an item list."""

    kind: str
    chain: str | None
    pos: int


_OPERAND_START: Final = frozenset(
    {lx.BOOL, lx.CHAR, lx.DOT, lx.FIELD, lx.IDENT, lx.NUMBER, lx.NIL, lx.RAW, lx.STRING, lx.VAR, lx.LPAREN}
)
_NOT_EXECUTABLE: Final = (Literal, Dot, Nil)
_ESCAPE_RE: Final = re.compile(
    r"\\(?:([abfnrtv\\'\"])|x([0-9a-fA-F]{2})|([0-7]{3})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|(.?))", re.DOTALL
)
_SIMPLE_ESCAPES: Final = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def describe(tok: lx.Token) -> str:
    """How Go's parser names a token in "unexpected X" messages."""
    if tok.kind == lx.EOF:
        return "EOF"
    if tok.kind == lx.ERROR:
        return tok.value
    if tok.kind == lx.KEYWORD:
        return f"<{tok.value}>"
    if len(tok.value) > 10:
        return go_quote(tok.value[:10]) + "..."
    return go_quote(tok.value)


def template_error(text: str, pos: int, message: str) -> InvalidTemplate:
    line = text.count("\n", 0, pos) + 1
    return InvalidTemplate(text, f"template: :{line}: {message}")


class Parser:
    """Recursive descent over the token list; parse() returns the top-level node list."""

    def __init__(self, text: str, functions: frozenset[str]) -> None:
        self.text = text
        self.functions = functions
        self.tokens = lx.lex(text)
        self.i = 0
        self.vars: list[str] = ["$"]
        self.range_depth = 0

    # ------------------------------------------------------------ token stream
    def next(self) -> lx.Token:
        tok = self.tokens[self.i]
        if tok.kind == lx.ERROR:
            self.fail(tok.pos, tok.value)
        self.i += 1
        return tok

    def peek(self) -> lx.Token:
        tok = self.tokens[self.i]
        if tok.kind == lx.ERROR:
            self.fail(tok.pos, tok.value)
        return tok

    def skip_space(self) -> None:
        while self.peek().kind == lx.SPACE:
            self.i += 1

    def next_non_space(self) -> lx.Token:
        self.skip_space()
        return self.next()

    def peek_non_space(self) -> lx.Token:
        self.skip_space()
        return self.peek()

    def fail(self, pos: int, message: str) -> NoReturn:
        raise template_error(self.text, pos, message)

    def unexpected(self, tok: lx.Token, context: str) -> NoReturn:
        self.fail(tok.pos, f"unexpected {describe(tok)} in {context}")

    # ------------------------------------------------------------ lists and actions
    def parse(self) -> tuple[Any, ...]:
        body, stop = self.item_list()
        if stop is not None:
            self.fail(stop.pos, f"unexpected {{{{{stop.kind}}}}}")
        return body

    def item_list(self) -> tuple[tuple[Any, ...], _Stop | None]:
        nodes: list[Any] = []
        while True:
            tok = self.next()
            if tok.kind == lx.TEXT:
                nodes.append(Text(tok.value))
            elif tok.kind == lx.EOF:
                return tuple(nodes), None
            else:
                node = self.action()
                if isinstance(node, _Stop):
                    return tuple(nodes), node
                nodes.append(node)

    def action(self) -> Any:
        tok = self.peek_non_space()
        if tok.kind != lx.KEYWORD:
            return Action(self.pipeline("command", lx.RIGHT), tok.pos)
        self.next()
        if tok.value in ("if", "range", "with"):
            return self.control(tok.value, tok.pos)
        if tok.value == "end":
            self.expect_right("end")
            return _Stop("end", None, tok.pos)
        if tok.value == "else":
            return self.else_stop(tok.pos)
        if tok.value in ("break", "continue"):
            if not self.range_depth:
                self.fail(tok.pos, f"{{{{{tok.value}}}}} outside {{{{range}}}}")
            self.expect_right(tok.value)
            return LoopControl(tok.value, tok.pos)
        self.fail(tok.pos, f"{{{{{tok.value}}}}} is not supported")

    def expect_right(self, context: str) -> None:
        tok = self.next_non_space()
        if tok.kind != lx.RIGHT:
            self.unexpected(tok, context)

    def else_stop(self, pos: int) -> _Stop:
        tok = self.peek_non_space()
        if tok.kind == lx.KEYWORD and tok.value in ("if", "with"):
            self.next()
            return _Stop("else", tok.value, pos)
        self.expect_right("else")
        return _Stop("else", None, pos)

    def control(self, kind: str, pos: int) -> Branch:
        mark = len(self.vars)
        pipe = self.pipeline(kind, lx.RIGHT)
        self.range_depth += kind == "range"
        body, stop = self.item_list()
        self.range_depth -= kind == "range"
        else_body: tuple[Any, ...] | None = None
        if stop is None:
            self.fail(len(self.text), "unexpected EOF")
        if stop.kind == "else":
            else_body = self.else_branch(kind, stop)
        del self.vars[mark:]
        return Branch(kind, pipe, body, else_body, pos)

    def else_branch(self, kind: str, stop: _Stop) -> tuple[Any, ...]:
        if stop.chain is not None:
            if stop.chain != kind:
                self.fail(stop.pos, f"unexpected <{stop.chain}> in else")
            return (self.control(stop.chain, stop.pos),)
        body, end = self.item_list()
        if end is None:
            self.fail(len(self.text), "unexpected EOF")
        if end.kind != "end":
            self.fail(end.pos, "expected end; found {{else}}")
        return body

    # ------------------------------------------------------------ pipelines
    def pipeline(self, context: str, end: str) -> Pipe:
        pos = self.peek_non_space().pos
        decl, is_assign = self.declarations(context)
        cmds: list[Command] = []
        while True:
            tok = self.next_non_space()
            if tok.kind == end:
                self.check_pipeline(cmds, context, pos)
                return Pipe(tuple(decl), is_assign, tuple(cmds), pos)
            if tok.kind not in _OPERAND_START:
                self.unexpected(tok, context)
            self.i -= 1
            cmds.append(self.command())

    def declarations(self, context: str) -> tuple[list[str], bool]:
        decl: list[str] = []
        while (tok := self.peek_non_space()).kind == lx.VAR:
            save = self.i
            self.next()
            after = self.peek_non_space()
            if after.kind in (lx.DECLARE, lx.ASSIGN):
                self.next()
                if after.kind == lx.ASSIGN and tok.value not in self.vars:
                    self.fail(tok.pos, f"undefined variable {go_quote(tok.value)}")
                decl.append(tok.value)
                self.vars.extend(decl)
                return decl, after.kind == lx.ASSIGN
            if after.kind != lx.COMMA:
                self.i = save
                break
            self.next()
            decl.append(tok.value)
            if context != "range" or len(decl) >= 2:
                self.fail(after.pos, f"too many declarations in {context}")
            if self.peek_non_space().kind != lx.VAR:
                self.fail(after.pos, "range can only initialize variables")
        if decl:
            self.fail(self.peek().pos, f"missing := after variable in {context}")
        return decl, False

    def check_pipeline(self, cmds: list[Command], context: str, pos: int) -> None:
        if not cmds:
            self.fail(pos, f"missing value for {context}")
        for n, cmd in enumerate(cmds[1:], start=2):
            if isinstance(cmd.args[0], _NOT_EXECUTABLE):
                self.fail(cmd.pos, f"non executable command in pipeline stage {n}")

    def command(self) -> Command:
        start = self.peek_non_space().pos
        args: list[Any] = []
        while True:
            self.skip_space()
            operand = self.operand()
            if operand is not None:
                args.append(operand)
            tok = self.next()
            if tok.kind == lx.SPACE:
                continue
            if tok.kind in (lx.RIGHT, lx.RPAREN):
                self.i -= 1
            elif tok.kind != lx.PIPE:
                self.unexpected(tok, "operand")
            break
        if not args:
            self.fail(start, "empty command")
        end = self.tokens[self.i - 1].pos if self.tokens[self.i - 1].kind == lx.PIPE else self.peek().pos
        return Command(tuple(args), start, self.text[start:end].strip())

    def operand(self) -> Any:
        node = self.term()
        if node is None or self.peek().kind != lx.FIELD:
            return node
        names: list[str] = []
        while self.peek().kind == lx.FIELD:
            names.append(self.next().value[1:])
        if isinstance(node, Field):
            return Field(node.names + tuple(names), node.pos)
        if isinstance(node, Variable):
            return Variable(node.name, node.names + tuple(names), node.pos)
        if isinstance(node, Pipe):
            return Chain(node, tuple(names), node.pos)
        self.fail(node.pos, "unexpected . after term")

    def term(self) -> Any:
        tok = self.next_non_space()
        kind = tok.kind
        if kind == lx.IDENT:
            if tok.value not in self.functions:
                self.fail(tok.pos, f"function {go_quote(tok.value)} not defined")
            return Identifier(tok.value, tok.pos)
        if kind == lx.DOT:
            return Dot(tok.pos)
        if kind == lx.NIL:
            return Nil(tok.pos)
        if kind == lx.VAR:
            if tok.value not in self.vars:
                self.fail(tok.pos, f"undefined variable {go_quote(tok.value)}")
            return Variable(tok.value, (), tok.pos)
        if kind == lx.FIELD:
            return Field((tok.value[1:],), tok.pos)
        if kind == lx.LPAREN:
            return self.pipeline("parenthesized pipeline", lx.RPAREN)
        if kind in (lx.BOOL, lx.NUMBER, lx.CHAR, lx.STRING, lx.RAW):
            return Literal(self.literal(tok), tok.pos)
        self.i -= 1
        return None

    # ------------------------------------------------------------ literals
    def literal(self, tok: lx.Token) -> Any:
        if tok.kind == lx.BOOL:
            return tok.value == "true"
        if tok.kind == lx.RAW:
            return tok.value[1:-1].replace("\r", "")
        if tok.kind == lx.STRING:
            return self.unquote(tok.value[1:-1], tok.pos)
        if tok.kind == lx.CHAR:
            text = self.unquote(tok.value[1:-1], tok.pos)
            if len(text) != 1:
                self.fail(tok.pos, f"malformed character constant: {tok.value}")
            return ord(text)
        return self.number(tok)

    def number(self, tok: lx.Token) -> int | float:
        text = tok.value.replace("_", "")
        if text.endswith("i"):
            self.fail(tok.pos, f"complex number not supported: {tok.value}")
        try:
            if re.fullmatch(r"[+-]?0[xXbBoO].*", text):
                return int(text, 0)
            if re.fullmatch(r"[+-]?0[0-7]+", text):
                return int(text, 8)
            if any(c in text for c in ".eE"):
                return float(text)
            return int(text, 10)
        except ValueError:
            self.fail(tok.pos, f"illegal number syntax: {go_quote(tok.value)}")

    def unquote(self, body: str, pos: int) -> str:
        def replace(m: re.Match[str]) -> str:
            simple, hex2, octal, u4, u8, bad = m.groups()
            if bad is not None:
                self.fail(pos, "invalid syntax")
            if simple is not None:
                return _SIMPLE_ESCAPES.get(simple, simple)
            if octal is not None:
                return chr(int(octal, 8))
            return chr(int(hex2 or u4 or u8, 16))

        return _ESCAPE_RE.sub(replace, body) if "\\" in body else body


def parse(text: str, functions: frozenset[str]) -> tuple[Any, ...]:
    """Parse template text into its top-level node list; raises InvalidTemplate."""
    return Parser(text, functions).parse()
