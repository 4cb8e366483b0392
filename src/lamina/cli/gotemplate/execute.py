"""Executor for parsed Go templates: compiles the node tree into closures, once, then runs them per row.

Field lookup works on Mappings by key (docker's JSON-shaped data) and on objects by attribute (a
callable attribute or callable Mapping value is called, like a Go method, with the command's
arguments). Errors raise InvalidTemplate with Go's "executing ... at <node>" wording. Must not print.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, NoReturn

from lamina.cli.gotemplate import parser as p
from lamina.cli.gotemplate.funcs import Func, FuncError, check_arg, is_true
from lamina.cli.gotemplate.gofmt import MISSING, go_quote, go_str, go_type
from lamina.errors import InvalidTemplate


class _NoFinal:
    """No previous pipeline stage: nothing to append as the last argument."""

    __slots__ = ()


NO_FINAL: Final = _NoFinal()
_NO_ATTR: Final = object()
_PLAIN_TYPES: Final = (str, bytes, int, float, list, tuple, set, frozenset)


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class State:
    """Per-render state: output parts, the variable stack, functions and the missing-key policy."""

    __slots__ = ("funcs", "out", "strict", "text", "vars")

    def __init__(self, text: str, data: Any, funcs: Mapping[str, Func], strict: bool) -> None:
        self.text = text
        self.out: list[str] = []
        self.vars: list[list[Any]] = [["$", data]]
        self.funcs = funcs
        self.strict = strict

    def fail(self, pos: int, context: str, message: str) -> NoReturn:
        line_start = self.text.rfind("\n", 0, pos) + 1
        line = self.text.count("\n", 0, pos) + 1
        where = f"template: :{line}:{pos - line_start}"
        raise InvalidTemplate(self.text, f'{where}: executing "" at <{context}>: {message}')

    def lookup(self, name: str, pos: int) -> Any:
        for entry in reversed(self.vars):
            if entry[0] == name:
                return entry[1]
        self.fail(pos, name, f"undefined variable: {name}")

    def assign(self, name: str, value: Any, pos: int) -> None:
        for entry in reversed(self.vars):
            if entry[0] == name:
                entry[1] = value
                return
        self.fail(pos, name, f"undefined variable: {name}")


Emit = Callable[[State, Any], None]
Eval = Callable[[State, Any], Any]
CommandEval = Callable[[State, Any, Any], Any]


def node_text(node: Any) -> str:
    """Go's String() of an argument node, for error contexts."""
    if isinstance(node, p.Field):
        return "." + ".".join(node.names)
    if isinstance(node, p.Variable):
        return node.name + "".join("." + n for n in node.names)
    if isinstance(node, p.Literal):
        return go_quote(node.value) if isinstance(node.value, str) else go_str(node.value)
    if isinstance(node, p.Identifier):
        return node.name
    if isinstance(node, p.Chain):
        return node_text(node.node) + "".join("." + n for n in node.names)
    if isinstance(node, p.Pipe):
        return "(" + " | ".join(c.source for c in node.cmds) + ")"
    return "nil" if isinstance(node, p.Nil) else "."


# ---------------------------------------------------------------- lists and control structures
def compile_list(nodes: Sequence[Any]) -> Emit:
    emits = [compile_node(node) for node in nodes]
    if len(emits) == 1:
        return emits[0]

    def run(st: State, dot: Any) -> None:
        for emit in emits:
            emit(st, dot)

    return run


def compile_node(node: Any) -> Emit:
    if isinstance(node, p.Text):
        text = node.text
        return lambda st, dot: st.out.append(text)
    if isinstance(node, p.Action):
        return _compile_action(node)
    if isinstance(node, p.Branch):
        return _compile_range(node) if node.kind == "range" else _compile_if_with(node)
    assert isinstance(node, p.LoopControl)
    signal = _Break if node.kind == "break" else _Continue

    def loop_control(st: State, dot: Any) -> None:
        raise signal

    return loop_control


def _compile_action(node: p.Action) -> Emit:
    pipe = compile_pipe(node.pipe)
    if node.pipe.decl:

        def declare(st: State, dot: Any) -> None:
            pipe(st, dot)

        return declare
    cmds = node.pipe.cmds
    if len(cmds) == 1 and len(cmds[0].args) == 1 and isinstance(cmds[0].args[0], p.Field):
        return _compile_field_action(cmds[0].args[0], pipe)

    def emit(st: State, dot: Any) -> None:
        value = pipe(st, dot)
        st.out.append(value if type(value) is str else go_str(value))

    return emit


def _compile_field_action(field: p.Field, pipe: Eval) -> Emit:
    """Fast path for the common {{.Name}} / {{.A.B}} on dicts; anything unusual takes the full path."""
    names = field.names

    def emit(st: State, dot: Any) -> None:
        value = dot
        for name in names:
            if type(value) is not dict or name not in value:
                value = pipe(st, dot)
                break
            value = value[name]
            if callable(value):
                value = pipe(st, dot)
                break
        st.out.append(value if type(value) is str else go_str(value))

    return emit


def _compile_if_with(node: p.Branch) -> Emit:
    pipe = compile_pipe(node.pipe)
    body = compile_list(node.body)
    else_body = compile_list(node.else_body) if node.else_body is not None else None
    is_with = node.kind == "with"

    def emit(st: State, dot: Any) -> None:
        mark = len(st.vars)
        value = pipe(st, dot)
        if is_true(value):
            body(st, value if is_with else dot)
        elif else_body is not None:
            else_body(st, dot)
        del st.vars[mark:]

    return emit


def _iteration(st: State, value: Any, pos: int) -> list[tuple[Any, Any]]:
    if isinstance(value, list | tuple):
        return list(enumerate(value))
    if isinstance(value, Mapping):
        keys = sorted(value, key=lambda k: (type(k).__name__, k) if not isinstance(k, str) else ("", k))
        return [(k, value[k]) for k in keys]
    if value is None or value is MISSING:
        return []
    if isinstance(value, int) and not isinstance(value, bool):
        return [(i, i) for i in range(value)]
    st.fail(pos, "range", f"range can't iterate over {go_str(value)}")


def _compile_range(node: p.Branch) -> Emit:
    pipe = compile_pipe(node.pipe)
    body = compile_list(node.body)
    else_body = compile_list(node.else_body) if node.else_body is not None else None
    ndecl = len(node.pipe.decl)

    def emit(st: State, dot: Any) -> None:
        mark = len(st.vars)
        items = _iteration(st, pipe(st, dot), node.pos)
        if not items and else_body is not None:
            else_body(st, dot)
        top = len(st.vars)
        for key, elem in items:
            if ndecl:
                st.vars[top - 1][1] = elem
            if ndecl == 2:
                st.vars[top - 2][1] = key
            try:
                body(st, elem)
            except _Break:
                break
            except _Continue:
                pass
            finally:
                del st.vars[top:]
        del st.vars[mark:]

    return emit


# ---------------------------------------------------------------- pipelines and commands
def compile_pipe(pipe: p.Pipe) -> Eval:
    cmds = [compile_command(cmd) for cmd in pipe.cmds]
    decl, is_assign, pos = pipe.decl, pipe.is_assign, pipe.pos
    if len(cmds) == 1 and not decl:
        only = cmds[0]
        return lambda st, dot: only(st, dot, NO_FINAL)

    def run(st: State, dot: Any) -> Any:
        value: Any = NO_FINAL
        for cmd in cmds:
            value = cmd(st, dot, value)
        for name in decl:
            if is_assign:
                st.assign(name, value, pos)
            else:
                st.vars.append([name, value])
        return value

    return run


def compile_command(cmd: p.Command) -> CommandEval:
    first, rest = cmd.args[0], cmd.args[1:]
    if isinstance(first, p.Identifier):
        return _compile_call(first.name, rest, cmd)
    if isinstance(first, p.Field | p.Variable | p.Chain):
        return _compile_field_command(first, rest)
    if isinstance(first, p.Nil):
        return lambda st, dot, final: st.fail(cmd.pos, cmd.source, "nil is not a command")
    value = compile_arg(first)
    has_args = bool(rest)

    def operand(st: State, dot: Any, final: Any) -> Any:
        if has_args or final is not NO_FINAL:
            st.fail(cmd.pos, cmd.source, f"can't give argument to non-function {node_text(first)}")
        return value(st, dot)

    return operand


def compile_arg(node: Any) -> Eval:
    if isinstance(node, p.Literal):
        constant = node.value
        return lambda st, dot: constant
    if isinstance(node, p.Dot):
        return lambda st, dot: dot
    if isinstance(node, p.Nil):
        return lambda st, dot: None
    if isinstance(node, p.Pipe):
        return compile_pipe(node)
    if isinstance(node, p.Identifier):
        call = _compile_call(node.name, (), p.Command((node,), node.pos, node.name))
        return lambda st, dot: call(st, dot, NO_FINAL)
    field = _compile_field_command(node, ())
    return lambda st, dot: field(st, dot, NO_FINAL)


def _compile_call(name: str, arg_nodes: Sequence[Any], cmd: p.Command) -> CommandEval:
    evals = [compile_arg(a) for a in arg_nodes]
    if name in ("and", "or"):
        return _compile_and_or(name == "and", evals, cmd)

    def call(st: State, dot: Any, final: Any) -> Any:
        func = st.funcs[name]
        args = [e(st, dot) for e in evals]
        if final is not NO_FINAL:
            args.append(final)
        args = _check_args(st, func, name, args, cmd, arg_nodes)
        try:
            return func.fn(*args)
        except FuncError as exc:
            st.fail(cmd.pos, cmd.source, f"error calling {name}: {exc}")

    return call


def _check_args(
    st: State, func: Func, name: str, args: list[Any], cmd: p.Command, nodes: Sequence[Any]
) -> list[Any]:
    fixed = len(func.params)
    if func.variadic is None and len(args) != fixed:
        st.fail(cmd.pos, cmd.source, f"wrong number of args for {name}: want {fixed} got {len(args)}")
    if len(args) < fixed:
        st.fail(
            cmd.pos, cmd.source, f"wrong number of args for {name}: want at least {fixed} got {len(args)}"
        )
    checked = []
    for i, arg in enumerate(args):
        try:
            checked.append(check_arg(arg, func.params[i] if i < fixed else func.variadic or "any"))
        except TypeError as exc:
            where = nodes[i] if i < len(nodes) else cmd
            context = cmd.source if where is cmd else node_text(where)
            st.fail(getattr(where, "pos", cmd.pos), context, str(exc))
    return checked


def _compile_and_or(is_and: bool, evals: list[Eval], cmd: p.Command) -> CommandEval:
    name = "and" if is_and else "or"

    def call(st: State, dot: Any, final: Any) -> Any:
        if not evals and final is NO_FINAL:
            st.fail(cmd.pos, cmd.source, f"wrong number of args for {name}: want at least 1 got 0")
        value: Any = None
        for e in evals:
            value = e(st, dot)
            if is_true(value) != is_and:
                return value
        return value if final is NO_FINAL else final

    return call


# ---------------------------------------------------------------- fields
def _compile_field_command(node: Any, arg_nodes: Sequence[Any]) -> CommandEval:
    names, pos, context = node.names, node.pos, node_text(node)
    evals = [compile_arg(a) for a in arg_nodes]
    if isinstance(node, p.Field):
        receiver: Eval = lambda st, dot: dot  # noqa: E731
    elif isinstance(node, p.Variable):
        name = node.name
        receiver = lambda st, dot: st.lookup(name, pos)  # noqa: E731
    else:
        receiver = compile_pipe(node.node)
    if not names:
        return _compile_bare(receiver, evals, context, pos)
    last = len(names) - 1

    def field(st: State, dot: Any, final: Any) -> Any:
        value = receiver(st, dot)
        for i, name in enumerate(names):
            if i < last:
                value = _lookup(st, value, name, None, pos, context)
            else:
                args = [e(st, dot) for e in evals]
                if final is not NO_FINAL:
                    args.append(final)
                value = _lookup(st, value, name, args, pos, context)
        return value

    return field


def _compile_bare(receiver: Eval, evals: list[Eval], context: str, pos: int) -> CommandEval:
    def bare(st: State, dot: Any, final: Any) -> Any:
        if evals or final is not NO_FINAL:
            st.fail(pos, context, f"can't give argument to non-function {context}")
        return receiver(st, dot)

    return bare


def _lookup(st: State, recv: Any, name: str, args: list[Any] | None, pos: int, context: str) -> Any:
    """One step of a field chain: map key, attribute, or method call."""
    if type(recv) is dict or isinstance(recv, Mapping):
        try:
            value = recv[name]
        except KeyError:
            if st.strict:
                st.fail(pos, context, f"map has no entry for key {go_quote(name)}")
            return MISSING
        if callable(value) and not isinstance(value, type):
            return value(*(args or ()))
        if args:
            st.fail(pos, context, f"{name} is not a method but has arguments")
        return value
    if recv is MISSING:
        if st.strict:
            st.fail(pos, context, f"nil data; no entry for key {go_quote(name)}")
        return MISSING
    if recv is None:
        st.fail(pos, context, f"nil pointer evaluating interface {{}}.{name}")
    return _attribute(st, recv, name, args, pos, context)


def _attribute(st: State, recv: Any, name: str, args: list[Any] | None, pos: int, context: str) -> Any:
    attr = _NO_ATTR
    if not isinstance(recv, _PLAIN_TYPES) and not name.startswith("_"):
        attr = getattr(recv, name, _NO_ATTR)
    if attr is _NO_ATTR:
        st.fail(pos, context, f"can't evaluate field {name} in type {go_type(recv)}")
    if callable(attr) and not isinstance(attr, type):
        return attr(*(args or ()))
    if args:
        st.fail(pos, context, f"{name} has arguments but cannot be invoked as function")
    return attr
