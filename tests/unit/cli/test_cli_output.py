"""docker-style tables, --format handling and inspect JSON (layouts from docker/cli formatter tests)."""

from __future__ import annotations

import pytest

from lamina.cli.output import (
    align,
    format_rows,
    render_inspect,
    render_json,
    render_table,
    tabwrite,
    text_width,
)
from lamina.errors import InvalidTemplate

IMAGES = [
    {
        "Repository": "alpine",
        "Tag": "latest",
        "ID": "c1aabb73d233",
        "CreatedSince": "2 weeks ago",
        "Size": "7.38MB",
    },
    {
        "Repository": "<none>",
        "Tag": "<none>",
        "ID": "77af4d6b9913",
        "CreatedSince": "19 hours ago",
        "Size": "1.09GB",
    },
]
COLUMNS = [
    ("REPOSITORY", "Repository"),
    ("TAG", "Tag"),
    ("IMAGE ID", "ID"),
    ("CREATED", "CreatedSince"),
    ("SIZE", "Size"),
]


def test_default_table_matches_docker_images_layout() -> None:
    assert format_rows(IMAGES, None, COLUMNS) == (
        "REPOSITORY   TAG       IMAGE ID       CREATED        SIZE\n"
        "alpine       latest    c1aabb73d233   2 weeks ago    7.38MB\n"
        "<none>       <none>    77af4d6b9913   19 hours ago   1.09GB\n"
    )
    assert format_rows(IMAGES, "table", COLUMNS) == render_table(IMAGES, COLUMNS)
    assert format_rows(IMAGES, "", COLUMNS) == render_table(IMAGES, COLUMNS)


def test_empty_table_still_prints_the_header() -> None:
    assert render_table([], COLUMNS) == "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n"
    assert format_rows([], "table {{.Repository}}", COLUMNS) == "REPOSITORY\n"
    assert format_rows([], "{{.Repository}}", COLUMNS) == ""
    assert format_rows([], "json", COLUMNS) == ""


def test_table_cells_render_missing_and_non_strings() -> None:
    rows: list[dict[str, object]] = [{"A": None, "B": 3, "C": ["x", "y"]}, {"A": "a"}]
    assert render_table(rows, [("A", "A"), ("B", "B"), ("C", "C")]) == (
        "A         B         C\n          3         [x y]\na" + " " * 19 + "\n"
    )


def test_custom_table_headers_and_alignment() -> None:
    out = format_rows(IMAGES, "table {{.ID}}\\t{{.Repository}}:{{.Tag}}\t{{.Size}}", COLUMNS)
    assert out == (
        "IMAGE ID       REPOSITORY:TAG   SIZE\n"
        "c1aabb73d233   alpine:latest    7.38MB\n"
        "77af4d6b9913   <none>:<none>    1.09GB\n"
    )


def test_custom_table_header_map_and_unknown_keys() -> None:
    rows = [{"ID": "abc", "Custom": "v", "Labels": "a=b"}]
    out = format_rows(
        rows, "table {{.ID}}\t{{.Custom}}\t{{upper .Labels}}", [], headers={"ID": "CONTAINER ID"}
    )
    assert out.splitlines() == ["CONTAINER ID   CUSTOM    LABELS", "abc            v         A=B"]


def test_plain_template_and_escapes() -> None:
    assert (
        format_rows(IMAGES, "{{.ID}}: {{.Repository}}", COLUMNS)
        == "c1aabb73d233: alpine\n77af4d6b9913: <none>\n"
    )
    assert format_rows(IMAGES[:1], "{{.ID}}\\n{{.Tag}}", COLUMNS) == "c1aabb73d233\nlatest\n"
    assert format_rows(IMAGES[:1], "  {{.Tag}}  ", COLUMNS) == "latest\n"


def test_quiet_applies_to_default_format_only() -> None:
    assert format_rows(IMAGES, None, COLUMNS, quiet_key="ID") == "c1aabb73d233\n77af4d6b9913\n"
    assert format_rows(IMAGES, "table", COLUMNS, quiet_key="ID") == "c1aabb73d233\n77af4d6b9913\n"
    assert format_rows(IMAGES, "{{.Tag}}", COLUMNS, quiet_key="ID") == "latest\n<none>\n"


def test_json_format_one_object_per_line_sorted_keys() -> None:
    out = format_rows([{"b": "<x>", "a": "1"}], "json", [])
    assert out == '{"a":"1","b":"<x>"}\n'
    assert format_rows([{"b": "<x>", "a": "1"}], "{{json .}}", []) == out


def test_bad_format_raises() -> None:
    with pytest.raises(InvalidTemplate):
        format_rows(IMAGES, "{{.ID", COLUMNS)


def test_tabwriter_semantics() -> None:
    # cells are tab-terminated: trailing text is not part of a column and is not padded
    assert tabwrite("a\tb\naaaa\tbb\n") == "a         b\naaaa      bb\n"
    # a line without tabs breaks the column block (elastic tabstops)
    assert tabwrite("aaaaaaaaaaaaaaa\tx\nno tabs\nb\ty\n") == "aaaaaaaaaaaaaaa   x\nno tabs\nb         y\n"
    # minwidth 10 and padding 3 by default; both adjustable
    assert tabwrite("ab\tc", minwidth=0, padding=1) == "ab c"
    # empty cells are padded too
    assert tabwrite("\tx\nlonger-cell\ty") == " " * 14 + "x\nlonger-cell   y"


def test_wide_characters_count_double() -> None:
    assert text_width("日本") == 4
    assert text_width("e\u0301") == 1
    assert align([["日本", "x"], ["abcdefghijkl", "y"]]) == "日本           x\nabcdefghijkl   y"


def test_render_json_like_docker_inspect() -> None:
    assert render_json([]) == "[]\n"
    assert render_json([{"Id": "a<b", "Tags": [], "Config": {"Env": ["A=1"]}}]) == (
        "[\n"
        "    {\n"
        '        "Id": "a\\u003cb",\n'
        '        "Tags": [],\n'
        '        "Config": {\n'
        '            "Env": [\n'
        '                "A=1"\n'
        "            ]\n"
        "        }\n"
        "    }\n"
        "]\n"
    )
    assert render_json([{"a": 1}, {"b": None}], compact=True) == '[{"a":1},{"b":null}]\n'


def test_render_inspect_formats() -> None:
    items = [{"Id": "x", "State": {"Status": "running"}}]
    assert render_inspect(items, None) == render_json(items)
    assert render_inspect(items, "json") == render_json(items, compact=True)
    assert render_inspect(items, "{{.State.Status}}") == "running\n"
    assert render_inspect([], "{{.Id}}") == "\n"
    with pytest.raises(InvalidTemplate, match='map has no entry for key "Nope"'):
        render_inspect(items, "{{.Nope}}")
