"""BuildKit parser conformance: every testfiles case dumps to its result, negatives fail, plus the
behaviours BuildKit tests only in Go code (described in shared/conformance/README.md §1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lamina.build.parser import (
    continues,
    dump,
    extract_flags,
    go_quote,
    heredoc_words,
    parse,
    parse_file,
    parse_words,
)
from lamina.errors import DockerfileError

_HERE = Path(__file__).resolve()
_CORPUS = next(
    (
        p / "shared" / "conformance" / "dockerfile-parser"
        for p in _HERE.parents
        if (p / "shared" / "conformance").is_dir()
    ),
    Path("/nonexistent"),
)


def _cases(kind: str) -> list[str]:
    folder = _CORPUS / kind
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else ["<corpus missing>"]


@pytest.mark.parametrize("case", _cases("testfiles"))
def test_positive_case_dump_equals_result(conformance: Path, case: str) -> None:
    folder = conformance / "dockerfile-parser" / "testfiles" / case
    result = parse_file(folder / "Dockerfile")
    assert dump(result) + "\n" == (folder / "result").read_text(encoding="utf-8")


@pytest.mark.parametrize("case", _cases("testfiles-negative"))
def test_negative_case_raises(conformance: Path, case: str) -> None:
    with pytest.raises(DockerfileError):
        parse_file(conformance / "dockerfile-parser" / "testfiles-negative" / case / "Dockerfile")


def test_line_numbers(conformance: Path) -> None:
    result = parse_file(conformance / "dockerfile-parser" / "testfile-line" / "Dockerfile")
    assert (result.start_line, result.end_line) == (5, 31)
    assert [n.location for n in result.nodes] == [(5, 5), (11, 12), (17, 31)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "file with no instructions"),
        ("# only\n\n# comments\n", "file with no instructions"),
        ("FROM a\nENV PATH\n", "ENV must have two arguments"),
        ('CMD [ "echo", [ "nested json" ] ]', "arrays must be comprised of strings only"),
    ],
)
def test_negative_messages(text: str, message: str) -> None:
    with pytest.raises(DockerfileError, match=message):
        parse(text)


def test_error_names_file_line_and_instruction() -> None:
    with pytest.raises(DockerfileError) as info:
        parse("FROM a\nRUN x\nENV PATH\n", "ctx/Dockerfile.dev")
    err = info.value
    assert (err.file, err.location, err.instruction) == ("ctx/Dockerfile.dev", (3, 3), "ENV PATH")
    assert str(err).startswith("ctx/Dockerfile.dev:3: ")


def test_error_location_spans_continuation() -> None:
    with pytest.raises(DockerfileError) as info:
        parse('FROM a\nCMD ["a", \\\n  [1]]\n')
    assert info.value.location == (2, 3)


def test_unterminated_heredoc_is_located_at_its_instruction() -> None:
    with pytest.raises(DockerfileError, match="unterminated heredoc") as info:
        parse("FROM a\nRUN <<A\nx\nA\nRUN <<B\nnever closed\n")
    assert info.value.location is not None and info.value.location[0] == 5


def test_empty_continuation_lines_warn_once_per_instruction() -> None:
    text = (
        "FROM a\nRUN something \\\n\n    following \\\n\n    more\n"
        "RUN another \\\n\n    thing\nRUN x \\\n# comment\n  y\nRUN z \\\n    # indented comment\n  w\n"
    )
    warnings = parse(text).warnings
    assert [w.message for w in warnings] == [
        "Empty continuation line found in: RUN something     following     more",
        "Empty continuation line found in: RUN another     thing",
    ]


def test_line_too_long() -> None:
    with pytest.raises(DockerfileError, match=r"dockerfile line greater than max allowed size of 65535$"):
        parse("FROM a\nRUN " + "x" * 65536)
    parse("FROM a\nRUN " + "x" * 1000)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("foo", ["foo"]),
        ("foo bar", ["foo", "bar"]),
        ("foo\\ bar", ["foo\\ bar"]),
        ("foo=bar", ["foo=bar"]),
        ("foo bar 'abc xyz'", ["foo", "bar", "'abc xyz'"]),
        ('foo bar "abc xyz"', ["foo", "bar", '"abc xyz"']),
        ("àöû", ["àöû"]),
        ('föo bàr "âbc xÿz"', ["föo", "bàr", '"âbc xÿz"']),
    ],
)
def test_parse_words(text: str, words: list[str]) -> None:
    assert parse_words(text) == words


@pytest.mark.parametrize(
    "array",
    [
        "[]",
        '[""]',
        '["a"]',
        '["a","b"]',
        '[ "a", "b" ]',
        '[\t"a",\t"b"\t]',
        '  ["a", "b"]  ',
        r'["\" \\ \/ \b \f \n \r \t \u0000"]',
        '["♥", "☃"]',
    ],
)
def test_valid_json_arrays_are_exec_form(array: str) -> None:
    node = parse(f"CMD {array}").nodes[0]
    assert node.json


def test_json_escapes_decode_including_nul() -> None:
    node = parse(r'CMD ["\" \\ \/ \b \f \n \r \t \u0000", "x"]').nodes[0]
    assert node.args == ('" \\ / \b \f \n \r \t \x00', "x")


@pytest.mark.parametrize(
    "array", ["[1]", "[1.5]", '[{"a": 1}]', '[["a"]]', "[true]", "[false]", "[null]", '["a", 1]']
)
def test_json_arrays_of_non_strings_are_errors(array: str) -> None:
    with pytest.raises(DockerfileError, match="strings only"):
        parse(f"CMD {array}")


@pytest.mark.parametrize("text", ["CMD ['single', 'quotes']", 'CMD ["unterminated', 'CMD [ "a"'])
def test_unparsable_json_falls_back_to_shell_form(text: str) -> None:
    node = parse(text).nodes[0]
    assert not node.json and node.args == (text[4:],)


@pytest.mark.parametrize(
    ("line", "args"),
    [
        ("ENV foo bar", ("foo", "bar", "")),
        ("ENV foo=bar thing=star", ("foo", "bar", "=", "thing", "star", "=")),
        ('LABEL name="a b" x=y', ("name", '"a b"', "=", "x", "y", "=")),
        ("ENV k v w", ("k", "v w", "")),
    ],
)
def test_env_label_node_shapes(line: str, args: tuple[str, ...]) -> None:
    assert parse(line).nodes[0].args == args


def test_flags_and_double_dash() -> None:
    assert dump(parse("COPY -- foo /tmp/")) == '(copy "foo" "/tmp/")'
    assert dump(parse("CMD --doit -- [ ]")) == '(cmd ["--doit"])'
    assert extract_flags('--a=1 --b="x y" rest --c') == ("rest --c", ["--a=1", "--b=x y"])


def test_keyword_case_kept_and_lowercased_in_dump() -> None:
    result = parse("fRoM alpine\ncOpY a b\n")
    assert [n.keyword for n in result.nodes] == ["fRoM", "cOpY"]
    assert [n.command for n in result.nodes] == ["FROM", "COPY"]
    assert dump(result) == '(from "alpine")\n(copy "a" "b")'


def test_unknown_keyword_dumps_with_empty_arg() -> None:
    assert dump(parse("FOO bar")) == '(foo "")'


def test_bom_and_crlf() -> None:
    result = parse("\ufeffFROM a\r\nRUN b \\\r\n c\r\n")
    assert dump(result) == '(from "a")\n(run "b  c")'


def test_raw_nul_survives_the_wheel() -> None:
    assert parse("FROM a\nRUN a\x00b\n").nodes[1].args == ("a\x00b",)


def test_go_quote() -> None:
    assert go_quote('"\\\x00\x7f\u00a0\u200b♥\U0001f600\U000e0001') == (
        '"\\"\\\\\\x00\\x7f\\u00a0\\u200b♥\U0001f600\\U000e0001"'
    )


def test_onbuild_keeps_trigger_flags_json_and_heredocs() -> None:
    result = parse('FROM a\nONBUILD COPY --from=x ["a","b"]\nONBUILD RUN <<EOF\nhi\nEOF\nonbuild run echo\n')
    copy, run, plain = result.nodes[1:]
    assert copy.child is not None and copy.child.flags == ("--from=x",) and copy.child.json
    assert run.child is not None and run.child.heredocs[0].content == "hi\n"
    assert dump(result).splitlines()[1:] == [
        '(onbuild (copy ["--from=x"] "a" "b"))',
        '(onbuild (run "<<EOF"))',
        '(onbuild (run "echo"))',
    ]
    assert plain.location == (6, 6)


def test_continues() -> None:
    assert continues("RUN a \\", "\\") and continues("\\", "\\") and continues("a `  ", "`")
    assert not continues("ENV C trailing\\\\", "\\") and not continues("a", "\\")


# ---------------------------------------------------------------------- directives
def test_directives_are_read_from_the_leading_comments() -> None:
    result = parse("# syntax=docker/dockerfile:1\n# EScape=`\n# check=skip=all\nFROM a `\n  b\n")
    assert result.directive("syntax") == "docker/dockerfile:1"
    assert result.directive("check") == "skip=all"
    assert result.escape == "`"
    assert dump(result) == '(from "a" "b")'


def test_unknown_directive_ends_scanning() -> None:
    result = parse("# key = FOO bar\n# escape=`\nFROM a\n")
    assert result.directives == () and result.escape == "\\"


@pytest.mark.parametrize("text", ["# escape=\\\n\n# escape=`\nFROM a", "# foo\n# escape=`\nFROM a"])
def test_directive_after_blank_or_comment_is_a_comment(text: str) -> None:
    assert parse(text).escape == "\\"


def test_repeated_directive_is_an_error() -> None:
    with pytest.raises(DockerfileError, match="only one syntax parser directive can be used") as info:
        parse("# syntax=a\n# syntax=b\nFROM a\n")
    assert info.value.location == (2, 2)


def test_escape_after_comment_case(conformance: Path) -> None:
    folder = conformance / "dockerfile-parser" / "testfiles" / "escape-after-comment"
    assert parse_file(folder / "Dockerfile").escape == "\\"


# ---------------------------------------------------------------------- heredocs
def _docs(text: str) -> list[tuple[str, str, int, bool, bool]]:
    nodes = parse("FROM a\n" + text).nodes[1:]
    return [(d.name, d.content, d.fd, d.expand, d.chomp) for n in nodes for d in n.heredocs]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("USER <<INVALID\nINVALID\n", []),
        ("RUN <<EMPTY\nEMPTY\n", [("EMPTY", "", 0, True, False)]),
        ("RUN 3<<EMPTY2\nEMPTY2\n", [("EMPTY2", "", 3, True, False)]),
        ('RUN "<<NOHEREDOC"\n', []),
        ("RUN <<INDENT\n\tfoo\n\tbar\nINDENT\n", [("INDENT", "\tfoo\n\tbar\n", 0, True, False)]),
        ("RUN <<-UNINDENT\n\tbaz\n\tquux\nUNINDENT\n", [("UNINDENT", "\tbaz\n\tquux\n", 0, True, True)]),
        ("RUN <<-UNINDENT2\n\tbaz\n\tquux\n\tUNINDENT2\n", [("UNINDENT2", "\tbaz\n\tquux\n", 0, True, True)]),
        ("RUN <<-EXPAND\n\texpand $NAME\nEXPAND\n", [("EXPAND", "\texpand $NAME\n", 0, True, True)]),
        (
            "RUN <<-'NOEXPAND'\n\tdon't expand $NAME\nNOEXPAND\n",
            [("NOEXPAND", "\tdon't expand $NAME\n", 0, False, True)],
        ),
        ("RUN <<COPY\na\nb\nCOPY\n", [("COPY", "a\nb\n", 0, True, False)]),
        (
            "RUN <<COMMENT\n# internal comment\nx\n# trailing comment\nCOMMENT\n",
            [("COMMENT", "# internal comment\nx\n# trailing comment\n", 0, True, False)],
        ),
        (
            "RUN --mount=type=cache,target=/foo <<MOUNT\necho hello\nMOUNT\n",
            [("MOUNT", "echo hello\n", 0, True, False)],
        ),
        (
            "COPY <<FILE1 <<FILE2 /dest\ncontent 1\nFILE1\ncontent 2\nFILE2\n",
            [("FILE1", "content 1\n", 0, True, False), ("FILE2", "content 2\n", 0, True, False)],
        ),
        ("COPY <<EOF /quotes\n\"foo\"\n'bar'\nEOF\n", [("EOF", "\"foo\"\n'bar'\n", 0, True, False)]),
        ("COPY <<X <<Y /dest\nY\nX\nX\nY\n", [("X", "Y\n", 0, True, False), ("Y", "X\n", 0, True, False)]),
        ("RUN <<COMPLEX python3\nprint(1)\nCOMPLEX\n", [("COMPLEX", "print(1)\n", 0, True, False)]),
        ("COPY <<file.txt /dest\nx\nfile.txt\n", [("file.txt", "x\n", 0, True, False)]),
        ("RUN <<eo'f'\nx\neof\n", [("eof", "x\n", 0, False, False)]),
        ("RUN <<eo\\'f\nx\neo'f\n", [("eo'f", "x\n", 0, True, False)]),
        ("RUN <<'e'o\\'f\nx\neo'f\n", [("eo'f", "x\n", 0, False, False)]),
        ("RUN <<'one two'\nx\none two\n", [("one two", "x\n", 0, False, False)]),
        ("RUN <<$EOF\nx\n$EOF\n", [("$EOF", "x\n", 0, True, False)]),
        ("RUN <<  EOF\nx\nEOF\n", [("EOF", "x\n", 0, True, False)]),
        ("RUN <<  EOF  > foo\nx\nEOF\n", [("EOF", "x\n", 0, True, False)]),
        ("RUN << -EOF\nx\n-EOF\n", [("-EOF", "x\n", 0, True, False)]),
        ("RUN 4<<EOF\nx\nEOF\n", [("EOF", "x\n", 4, True, False)]),
        (
            "RUN <<EOF <<EOF2\na\nEOF\nb\nEOF2\n",
            [("EOF", "a\n", 0, True, False), ("EOF2", "b\n", 0, True, False)],
        ),
        ('RUN ["<<EOF"]\n', []),
        ("RUN [\"<<'EOF'\"]\n", []),
        ("RUN '<<EOF'\n", []),
    ],
)
def test_heredoc_table(text: str, expected: list[tuple[str, str, int, bool, bool]]) -> None:
    assert _docs(text) == expected


def test_spaced_heredoc_marker_keeps_original_text() -> None:
    node = parse("FROM a\nRUN <<  EOF  > foo\nx\nEOF\n").nodes[1]
    assert node.args == ("<<  EOF  > foo",)


def test_unterminated_heredoc() -> None:
    with pytest.raises(DockerfileError, match="unterminated heredoc"):
        parse("FROM a\nRUN <<EOF\nno end\n")


@pytest.mark.parametrize(
    ("word", "name", "chomp"),
    [
        ("<<EOF", "EOF", False),
        ("<<'EOF'", "EOF", False),
        ('<<"EOF"', "EOF", False),
        ("<<-EOF", "EOF", True),
        ("<<-'EOF'", "EOF", True),
        ('<<-"EOF"', "EOF", True),
        ('<<EO"F"', "EOF", False),
        ("<< EOF", "EOF", False),
        ("<<- EOF", "EOF", True),
    ],
)
def test_heredoc_word_syntax(word: str, name: str, chomp: bool) -> None:
    (doc,) = heredoc_words(word)
    assert (doc.name, doc.chomp) == (name, chomp)


@pytest.mark.parametrize(
    "word", ["<<'EOF", '<<"EOF', "<<EOF'", '<<EOF"', "", "EOF", "<<", "<<-", "<EOF", "<<<EOF"]
)
def test_not_heredoc_words(word: str) -> None:
    assert heredoc_words(word) == []


def test_chomp_removes_leading_tabs() -> None:
    (doc,) = [d for n in parse("FROM a\nRUN <<-E\n\thello\n\tworld\nE\n").nodes for d in n.heredocs]
    assert doc.text == "hello\nworld\n" and doc.content == "\thello\n\tworld\n"
