"""A Go text/template subset for docker-compatible ``--format`` strings.

Covers actions, field chains, variables, pipelines, if/else if/with/range (with break/continue),
comparisons, and/or/not, Go's builtins (len, index, slice, print, printf, println, html, urlquery)
and docker's extras (json, split, join, title, lower, upper, pad, truncate). Values print the way
Go's fmt prints them (``map[a:1 b:2]``, ``[x y]``, ``<no value>`` for a missing key).

Compile once with ``Template(text)``, render many times with ``.render(data)``. Errors raise
lamina.errors.InvalidTemplate with Go-like messages. Must not print, read files, or import rich.
"""

from __future__ import annotations

from typing import Any, Literal

from lamina.cli.gotemplate.execute import State, compile_list
from lamina.cli.gotemplate.funcs import FUNCTION_NAMES, FUNCTIONS, HEADER_FUNCTIONS
from lamina.cli.gotemplate.gofmt import MISSING, go_json, go_str, sprintf
from lamina.cli.gotemplate.parser import parse
from lamina.errors import InvalidTemplate

__all__ = ["MISSING", "Template", "go_json", "go_str", "sprintf"]


class Template:
    """A parsed template. ``missing_key="error"`` makes a missing map key an error (Go's missingkey=error)."""

    __slots__ = ("_root", "_strict", "text")

    def __init__(self, text: str, *, missing_key: Literal["default", "error"] = "default") -> None:
        self.text = text
        self._strict = missing_key == "error"
        self._root = compile_list(parse(text, FUNCTION_NAMES))

    def render(self, data: Any) -> str:
        """Execute against ``data`` (Mappings by key, objects by attribute); raises InvalidTemplate."""
        state = State(self.text, data, FUNCTIONS, self._strict)
        self._root(state, data)
        return "".join(state.out)

    def render_header(self, headers: Any) -> str:
        """Execute against a table-header mapping with docker's header functions.

        Like docker, an execution error is ignored and whatever was written before it is kept.
        """
        state = State(self.text, headers, HEADER_FUNCTIONS, False)
        try:
            self._root(state, headers)
        except InvalidTemplate:
            pass
        return "".join(state.out)

    def __repr__(self) -> str:
        return f"Template({self.text!r})"
