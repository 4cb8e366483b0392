"""docker-compatible rendering of command output: aligned tables, ``--format`` handling, inspect JSON.

Tables go through a port of Go's text/tabwriter configured as docker/cli's formatter does
(minwidth 10, tabwidth 1, padding 3, padchar ' ', no flags; cell widths count East Asian wide
characters as 2, like docker's go-runewidth fork). ``--format`` follows docker/cli's formatter
Context: "table" / "table TEMPLATE" / "json" / TEMPLATE, with ``\\t`` and ``\\n`` escapes expanded.

Must not print, prompt or exit (the caller writes the returned string), and must not import rich.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

TABLE_MINWIDTH: Final = 10
TABLE_PADDING: Final = 3
INSPECT_INDENT: Final = "    "

Row = Mapping[str, Any]
Columns = Sequence[tuple[str, str]]  # (HEADER, row key)


# ---------------------------------------------------------------- tabwriter
def _char_width(ch: str) -> int:
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf", "Cc"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def text_width(text: str) -> int:
    """Display width of a cell (go-runewidth's StringWidth, East Asian ambiguous = 1)."""
    return len(text) if text.isascii() else sum(_char_width(ch) for ch in text)


def _column_widths(sizes: list[list[int]], minwidth: int, padding: int) -> list[tuple[int, ...]]:
    """Go tabwriter's format(): the column widths in force for each line (elastic tabstops).

    ``sizes`` holds the display width of every cell; a line's last cell is not in any column.
    """
    result: list[tuple[int, ...]] = [()] * len(sizes)

    def block(line0: int, line1: int, widths: tuple[int, ...]) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(sizes[this]) - 1:
                this += 1
                continue
            result[line0:this] = [widths] * (this - line0)
            line0 = this
            width = minwidth - padding
            while this < line1 and column < len(sizes[this]) - 1:
                if sizes[this][column] > width:
                    width = sizes[this][column]
                this += 1
            block(line0, this, (*widths, width + padding))
            line0 = this
            this += 1
        result[line0:line1] = [widths] * (line1 - line0)

    block(0, len(sizes), ())
    return result


def align(cells: list[list[str]], *, minwidth: int = TABLE_MINWIDTH, padding: int = TABLE_PADDING) -> str:
    """Lay out lines of cells (each line's cells were separated by tabs) as the tabwriter would."""
    is_ascii = "".join(["".join(row) for row in cells]).isascii()
    measure = len if is_ascii else text_width
    sizes = [[measure(cell) for cell in row] for row in cells]
    out: list[str] = []
    for row, row_sizes, widths in zip(cells, sizes, _column_widths(sizes, minwidth, padding), strict=True):
        n = len(widths)
        if is_ascii:
            padded = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        else:
            padded = [cell + " " * (w - size) for cell, size, w in zip(row, row_sizes, widths, strict=False)]
        out.append("".join(padded) + "".join(row[n:]))
    return "\n".join(out)


def tabwrite(text: str, *, minwidth: int = TABLE_MINWIDTH, padding: int = TABLE_PADDING) -> str:
    """Align tab-terminated cells like Go's tabwriter.NewWriter(out, minwidth, 1, padding, ' ', 0)."""
    return align([line.split("\t") for line in text.split("\n")], minwidth=minwidth, padding=padding)


# ---------------------------------------------------------------- tables and --format
def _cell(value: Any) -> str:
    if type(value) is str:
        return value
    from lamina.cli.gotemplate import MISSING, go_str  # the template engine loads only when needed

    if value is None or value is MISSING:
        return ""
    return go_str(value)


def render_table(rows: Sequence[Row], columns: Columns) -> str:
    """The default docker table: a header line then one line per row, aligned; ends with a newline."""
    keys = [key for _, key in columns]
    cells = [[header for header, _ in columns]]
    cells.extend([_cell(row.get(key)) for key in keys] for row in rows)
    cells.append([""])
    return align(cells)


class _Headers(Mapping[str, str]):
    """Header lookup for "table TEMPLATE": known keys map to docker's headers, others to KEY.upper()."""

    def __init__(self, known: Mapping[str, str]) -> None:
        self._known = known

    def __getitem__(self, key: str) -> str:
        return self._known.get(key, key.upper())

    def __iter__(self) -> Iterator[str]:
        return iter(self._known)

    def __len__(self) -> int:
        return len(self._known)


def _template_text(fmt: str) -> tuple[bool, str]:
    """docker's Context.preFormat: strip the "table" prefix and spaces, expand \\t and \\n."""
    is_table = fmt.startswith("table")
    body = fmt[len("table") :] if is_table else fmt
    return is_table, body.strip(" ").replace("\\t", "\t").replace("\\n", "\n")


def _sorted_row(row: Row) -> dict[str, Any]:
    return dict(sorted(row.items()))


def format_rows(
    rows: Sequence[Row],
    fmt: str | None,
    default_columns: Columns,
    *,
    quiet_key: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> str:
    """Render rows for a listing command's ``--format`` the way docker does.

    - None, "" or "table": the default table; with ``quiet_key`` (``-q``), only that field per line.
    - "json": one JSON object per row and line (keys sorted, as docker marshals its row contexts).
    - "table TEMPLATE": a header from the template run against the header names (``headers`` maps
      a row key to its header, e.g. {"ID": "IMAGE ID"}; default_columns are included; other keys
      are upper-cased), then one line per row, all aligned by the tabwriter.
    - TEMPLATE: one line per row, no header.
    The result ends with a newline unless there is nothing to print. Raises InvalidTemplate.
    """
    from lamina.cli.gotemplate import Template, go_json

    if not fmt or fmt == "table":
        if quiet_key is not None:
            return "".join(_cell(row.get(quiet_key)) + "\n" for row in rows)
        return render_table(rows, default_columns)
    if fmt == "json":
        return "".join(go_json(_sorted_row(row), escape_html=False) + "\n" for row in rows)
    is_table, text = _template_text(fmt)
    template = Template(text)
    prepare = _sorted_row if "json" in text else dict
    body = "".join(template.render(prepare(row)) + "\n" for row in rows)
    if not is_table:
        return body
    known = {key: header for header, key in default_columns} | dict(headers or {})
    return tabwrite(template.render_header(_Headers(known)) + "\n" + body)


# ---------------------------------------------------------------- inspect
def render_json(items: Sequence[Any], *, compact: bool = False) -> str:
    """docker inspect's output: a JSON array indented by 4 spaces (or compact), newline-terminated.

    Strings are HTML-escaped (<, >, & as \\u003c …) because docker indents the daemon's
    json.Marshal output, which escapes them.
    """
    from lamina.cli.gotemplate import go_json

    if not items:
        return "[]\n"
    return go_json(list(items), escape_html=True, indent=None if compact else INSPECT_INDENT) + "\n"


def render_inspect(items: Sequence[Any], fmt: str | None) -> str:
    """docker inspect ``--format``: none → indented JSON, "json" → compact JSON, else the template
    per item (a missing key is an error, as in docker's raw-map fallback) each followed by a newline.
    """
    if not fmt:
        return render_json(items)
    if fmt == "json":
        return render_json(items, compact=True)
    from lamina.cli.gotemplate import Template

    template = Template(fmt, missing_key="error")
    return "".join(template.render(item) + "\n" for item in items) or "\n"
